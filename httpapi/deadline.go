package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/coffer-money/coffer"
)

// WithDeadline gives every request's context a deadline d from its start
// (none when d is 0), so that no database read or write of a request waits
// longer: work cut off by it is answered 503 with Retry-After (see
// writeError). It does not stop a handler that ignores its context, and it
// writes nothing itself: a handler that finished its work answers as usual.
func WithDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// timedOut turns an error that is only a context's deadline (no
// application error in its chain) into an unavailable answer.
func timedOut(err error) error {
	var ce *coffer.Error
	if !errors.As(err, &ce) && errors.Is(err, context.DeadlineExceeded) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server could not finish the request in time; try again shortly.", Err: err}
	}
	return err
}
