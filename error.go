// Package coffer is the domain of the coffer e-money system: members, purses,
// currencies, transfers and the rules that bind them. It imports no adapter;
// storage, HTTP and the command-line keeper live in packages of their own.
package coffer

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API contract: clients match on them, so
// they never change once published.
const (
	EINTERNAL            = "internal"
	EINVALID             = "invalid_request"
	EINVALIDAMOUNT       = "invalid_amount"
	EINSUFFICIENTFUNDS   = "insufficient_funds"
	EPURSENOTFOUND       = "purse_not_found"
	ECURRENCYMISMATCH    = "currency_mismatch"
	EIDEMPOTENCYCONFLICT = "idempotency_conflict"
	EUNAUTHORIZED        = "unauthorized"
	EFORBIDDEN           = "forbidden"
	ENOTFOUND            = "not_found"
	ECONFLICT            = "conflict"
	ERATELIMITED         = "rate_limited"
	ELIMITEXCEEDED       = "limit_exceeded"
	EWEAKPASSWORD        = "weak_password"
	ESAMEPURSE           = "same_purse"
	EUNAVAILABLE         = "unavailable"
	ECURRENCYNOTFOUND    = "currency_not_found"
	ETOOLARGE            = "request_too_large"
)

// Error is the one application error type. Code is stable and machine
// readable; Message is safe to show to the member. Op and Err are for logs
// only and never reach a client.
type Error struct {
	Code    string
	Message string
	Op      string
	Err     error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrDamaged is in the chain of every error caused by a permanent fault of
// the database (a damaged page or index): retrying cannot help, and the
// store reports it once, so callers need not log it per request.
var ErrDamaged = errors.New("coffer: the database is damaged")

// ErrorCode returns the code of the application error in err's chain,
// EINTERNAL for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the member-safe message of err. Internal errors get a
// generic text so nothing about the implementation leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}
