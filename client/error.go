package client

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a problem answer (RFC 9457) from the server, or any other answer
// outside 2xx. Code is the stable, snake_case reason to branch on, such as
// "insufficient_funds"; it is empty when the answer was not a coffer problem
// document (a proxy's error page, for instance).
type Error struct {
	// Status is the HTTP status code of the answer.
	Status int
	// Code is the problem's stable machine-readable code.
	Code string
	// Title is a short summary of the kind of problem.
	Title string
	// Detail explains this occurrence; it is written for people.
	Detail string
	// Type is the problem type URI, if the server sent one.
	Type string
	// RetryAfter is the wait the server asked for with a Retry-After
	// header, or zero.
	RetryAfter time.Duration
}

// Error returns a readable sentence: the detail, which the server writes
// for people, or else the title, or else the HTTP status.
func (e *Error) Error() string {
	switch {
	case e.Detail != "":
		return e.Detail
	case e.Title != "":
		return e.Title
	}
	return strings.TrimSpace("the server answered " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status))
}

// Temporary reports whether the same request may succeed if sent again
// later: the server was overloaded, rate-limited the caller or failed inside.
// A 4xx problem other than 408 and 429 is final.
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// IsCode reports whether err, or any error it wraps, is a *Error with the
// given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// ErrorCode returns the code of the *Error in err's chain, or "" when there
// is none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
