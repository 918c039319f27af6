package client

import (
	"context"
	"fmt"
	"net/http"
)

type confirmationKey struct{}

// WithConfirmation returns a context whose requests carry a step-up proof
// for a sensitive change: "CONFIRMATION_ID:CODE", as the server's
// confirmation_required answer asked for.
func WithConfirmation(ctx context.Context, confirmationID, code string) context.Context {
	return context.WithValue(ctx, confirmationKey{}, confirmationID+":"+code)
}

// TOTPEnrolment is the server's answer to starting a generator enrolment.
type TOTPEnrolment struct {
	Secret    string `json:"secret"` // base32 seed
	URI       string `json:"otpauth_uri"`
	QRPNG     string `json:"qr_png"` // base64 PNG of URI
	OCRASuite string `json:"ocra_suite"`
}

// EnrolTOTP starts enrolling a code generator. A member who already has a
// factor needs WithConfirmation. Codes: confirmation_required, unauthorized.
func (c *Client) EnrolTOTP(ctx context.Context) (*TOTPEnrolment, error) {
	var e TOTPEnrolment
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/totp", nil, nil, &e); err != nil {
		return nil, fmt.Errorf("enrol generator: %w", err)
	}
	return &e, nil
}

// VerifyTOTP activates the generator being enrolled with a current code.
// On a first factor it returns recovery codes, shown once.
// Codes: confirmation_failed, confirmation_void, not_found.
func (c *Client) VerifyTOTP(ctx context.Context, code string) ([]string, error) {
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	body := struct {
		Code string `json:"code"`
	}{code}
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/totp/verify", nil, body, &out); err != nil {
		return nil, fmt.Errorf("verify generator: %w", err)
	}
	return out.Codes, nil
}
