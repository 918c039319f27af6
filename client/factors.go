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

// Policy is the member's confirmation policy: when a second factor is
// asked for. Login is "password" or "second_factor"; Transfers is
// "always", "above" (with Threshold), "new_payee" or "never".
type Policy struct {
	Login         string   `json:"login"`
	Transfers     string   `json:"transfers"`
	Threshold     string   `json:"threshold,omitempty"`
	ExemptPayees  []string `json:"exempt_payees"`
	ConfirmSigned bool     `json:"confirm_signed"`
}

// Policy returns the confirmation policy. Codes: unauthorized.
func (c *Client) Policy(ctx context.Context) (*Policy, error) {
	var p Policy
	if _, err := c.do(ctx, http.MethodGet, "/v1/security/confirmation", nil, nil, &p); err != nil {
		return nil, fmt.Errorf("get confirmation policy: %w", err)
	}
	return &p, nil
}

// SetPolicy replaces the confirmation policy; a member with a factor needs
// WithConfirmation. Codes: invalid_request, confirmation_required.
func (c *Client) SetPolicy(ctx context.Context, p *Policy) (*Policy, error) {
	if p.ExemptPayees == nil {
		p.ExemptPayees = []string{}
	}
	var out Policy
	if _, err := c.do(ctx, http.MethodPut, "/v1/security/confirmation", nil, p, &out); err != nil {
		return nil, fmt.Errorf("set confirmation policy: %w", err)
	}
	return &out, nil
}

// AddPhone starts adding a phone for SMS codes; a code is sent to it.
// Codes: invalid_request, confirmation_required.
func (c *Client) AddPhone(ctx context.Context, phone string) error {
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/phone", nil, map[string]string{"phone": phone}, nil); err != nil {
		return fmt.Errorf("add phone: %w", err)
	}
	return nil
}

// VerifyPhone activates the phone with the code it received. On a first
// factor it returns recovery codes, shown once.
// Codes: confirmation_failed, confirmation_void, not_found.
func (c *Client) VerifyPhone(ctx context.Context, code string) ([]string, error) {
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/phone/verify", nil, map[string]string{"code": code}, &out); err != nil {
		return nil, fmt.Errorf("verify phone: %w", err)
	}
	return out.Codes, nil
}

// NewRecoveryCodes replaces the recovery codes with a new set, shown once.
// Codes: confirmation_required.
func (c *Client) NewRecoveryCodes(ctx context.Context) ([]string, error) {
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/security/recovery-codes", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("new recovery codes: %w", err)
	}
	return out.Codes, nil
}
