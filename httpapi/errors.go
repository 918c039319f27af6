package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	coffer.EINVALID:              http.StatusBadRequest,
	coffer.EINVALIDAMOUNT:        http.StatusBadRequest,
	coffer.EWEAKPASSWORD:         http.StatusBadRequest,
	coffer.ESAMEPURSE:            http.StatusBadRequest,
	coffer.ECURRENCYNOTFOUND:     http.StatusBadRequest,
	coffer.EUNAUTHORIZED:         http.StatusUnauthorized,
	coffer.EFORBIDDEN:            http.StatusForbidden,
	coffer.ENOTFOUND:             http.StatusNotFound,
	coffer.EPURSENOTFOUND:        http.StatusNotFound,
	coffer.ECONFLICT:             http.StatusConflict,
	coffer.EIDEMPOTENCYCONFLICT:  http.StatusConflict,
	coffer.ETOOLARGE:             http.StatusRequestEntityTooLarge,
	coffer.EINSUFFICIENTFUNDS:    http.StatusUnprocessableEntity,
	coffer.ECURRENCYMISMATCH:     http.StatusUnprocessableEntity,
	coffer.ELIMITEXCEEDED:        http.StatusUnprocessableEntity,
	coffer.EIPNOTALLOWED:         http.StatusForbidden,
	coffer.ECONFIRMATIONREQUIRED: http.StatusForbidden,
	coffer.ECONFIRMATIONFAILED:   http.StatusUnauthorized,
	coffer.ECONFIRMATIONVOID:     http.StatusGone,
	coffer.ERATELIMITED:          http.StatusTooManyRequests,
	coffer.EUNAVAILABLE:          http.StatusServiceUnavailable,
	coffer.EINTERNAL:             http.StatusInternalServerError,
	coffer.ENOTACONTACT:          http.StatusForbidden,
	coffer.ECLOSED:               http.StatusForbidden,
	coffer.EINVOICENOTPAYABLE:    http.StatusConflict,
	coffer.EREFUNDNOTALLOWED:     http.StatusUnprocessableEntity,
	coffer.ENOTHELD:              http.StatusConflict,
	coffer.EWRONGCODE:            http.StatusUnprocessableEntity,
	coffer.ETRUSTINVALID:         http.StatusForbidden,
	coffer.ELEVELTOOLOW:          http.StatusForbidden,
	coffer.ECERTREVOKED:          http.StatusUnauthorized,
	coffer.ECERTEXPIRED:          http.StatusUnauthorized,
	coffer.ECERTUNKNOWN:          http.StatusUnauthorized,
	coffer.ECERTINVALID:          http.StatusUnauthorized,
	coffer.EINVALIDCSR:           http.StatusBadRequest,
	coffer.EKEYREJECTED:          http.StatusBadRequest,
	coffer.ECERTDISABLED:         http.StatusForbidden,
	coffer.ESIGMALFORMED:         http.StatusUnauthorized,
	coffer.ESIGINVALID:           http.StatusUnauthorized,
	coffer.ESIGEXPIRED:           http.StatusUnauthorized,
	coffer.ESIGFUTURE:            http.StatusUnauthorized,
	coffer.ESIGREPLAYED:          http.StatusUnauthorized,
	coffer.EDIGESTMISMATCH:       http.StatusUnauthorized,
	coffer.EKEYUNKNOWN:           http.StatusUnauthorized,
	coffer.EKEYREVOKED:           http.StatusUnauthorized,
	"method_not_allowed":         http.StatusMethodNotAllowed,
	"unsupported_media_type":     http.StatusUnsupportedMediaType,
	coffer.EUPLOADQUOTA:          http.StatusRequestEntityTooLarge,
}

// StatusOf is the HTTP status for an error code and whether the table knows
// the code. The API answers codes it does not know with 400 Bad Request; the
// web pages answer them with 500.
func StatusOf(code string) (status int, ok bool) {
	status, ok = statusOf[code]
	return status, ok
}

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
	status, ok := StatusOf(code)
	if !ok {
		status = http.StatusBadRequest
	}
	switch {
	case errors.Is(err, coffer.ErrDamaged):
		// The store reports the damage with what to do; one line per
		// request would bury it: at most one a minute here.
		now, last := time.Now().UnixNano(), damageLogged.Load()
		if now-last >= int64(time.Minute) && damageLogged.CompareAndSwap(last, now) {
			log.Error("requests fail: the database is damaged (logged at most once a minute)", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", RequestID(r.Context()))
		} else {
			log.Debug("request failed: the database is damaged", "method", r.Method, "path", r.URL.Path, "request_id", RequestID(r.Context()))
		}
	case errors.Is(err, ledger.ErrBusy):
		// Shed under load, by design: one line each would flood the log
		// just when the server is busiest (the metrics count them).
		log.Debug("request shed", "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err, "request_id", RequestID(r.Context()))
	}
	if ra := RetryAfter(err, status); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if code == coffer.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
	}
	p := Problem{Type: "urn:coffer:problem:" + code, Title: http.StatusText(status), Status: status,
		Detail: coffer.ErrorMessage(err), Code: code, RequestID: RequestID(r.Context())}
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

// UnavailableRetryAfter is the wait, in seconds, that a 503 answer asks for
// when the error names none: the database was busy, unreachable or out of
// disk space, and the same request may succeed once that has passed.
const UnavailableRetryAfter = 2

// RetryAfter is the Retry-After header for an error answered with status:
// the wait a rate limit names, else UnavailableRetryAfter for any 503, else
// "" (no header).
func RetryAfter(err error, status int) string {
	var rl *app.RateLimitError
	if errors.As(err, &rl) {
		return strconv.Itoa(int(rl.RetryAfter.Seconds()) + 1)
	}
	if status == http.StatusServiceUnavailable {
		return strconv.Itoa(UnavailableRetryAfter)
	}
	return ""
}
