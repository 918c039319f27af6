package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/accesslog"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	// Remaining is what may still leave the purse, on a purse limit's
	// limit_exceeded.
	Remaining string `json:"remaining,omitempty"`
	// ConfirmationID, Methods, Challenge and ExpiresAt name the
	// confirmation to answer, on confirmation_required.
	ConfirmationID string     `json:"confirmation_id,omitempty"`
	Methods        []string   `json:"methods,omitempty"`
	Challenge      string     `json:"challenge,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	// RequestID is the request's ID, as in the Request-Id header, for
	// the operator's logs.
	RequestID string `json:"request_id,omitempty"`
}

// writeError turns any error into a problem+json answer. Internal errors are
// logged in full and answered with a generic text.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	err = timedOut(err)
	code := coffer.ErrorCode(err)
	status, ok := coffer.HTTPStatus(code)
	if !ok {
		status = http.StatusBadRequest
	}
	switch {
	case errors.Is(err, coffer.ErrDamaged):
		// The store reports the damage with what to do; one line per
		// request would bury it: at most one a minute here.
		now, last := time.Now().UnixNano(), damageLogged.Load()
		if now-last >= int64(time.Minute) && damageLogged.CompareAndSwap(last, now) {
			log.Error("requests fail: the database is damaged (logged at most once a minute)", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", accesslog.RequestID(r.Context()))
		} else {
			log.Debug("request failed: the database is damaged", "method", r.Method, "path", r.URL.Path, "request_id", accesslog.RequestID(r.Context()))
		}
	case errors.Is(err, ledger.ErrBusy):
		// Shed under load, by design: one line each would flood the log
		// just when the server is busiest (the metrics count them).
		log.Debug("request shed", "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err, "request_id", accesslog.RequestID(r.Context()))
	}
	if ra := app.RetryAfter(err, status); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if code == coffer.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
	}
	p := Problem{Type: "urn:coffer:problem:" + code, Title: http.StatusText(status), Status: status,
		Detail: coffer.ErrorMessage(err), Code: code, RequestID: accesslog.RequestID(r.Context())}
	var le *coffer.LimitError
	if errors.As(err, &le) {
		p.Remaining = coffer.FormatAmount(le.Remaining, le.Decimals)
	}
	if pe, ok := app.IsPending(err); ok {
		p.ConfirmationID, p.Methods, p.Challenge, p.ExpiresAt = pe.ID, pe.Methods, pe.Challenge, &pe.ExpiresAt
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// damageLogged is when a request last logged a damaged database (Unix ns).
var damageLogged atomic.Int64
