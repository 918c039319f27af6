package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
)

// Readier is what GET /readyz asks of the store: whether it takes writes
// now (a small write probe). Errors say why not.
type Readier interface {
	Ready(ctx context.Context) error
}

const (
	// readyFor is how long one probe's answer serves /readyz, so that the
	// endpoint cannot be used to load the store.
	readyFor = time.Second
	// readyTimeout bounds one probe: a store that cannot commit within it
	// is not ready.
	readyTimeout = 5 * time.Second
)

// readiness answers GET /readyz from the last probe, running a new one when
// that is older than readyFor. Requests that arrive while a probe runs wait
// for it.
type readiness struct {
	store Readier
	now   func() time.Time

	mu  sync.Mutex
	at  time.Time // of the last probe
	err error     // its outcome
}

// check returns the outcome of a probe at most readyFor old.
func (rd *readiness) check(ctx context.Context) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && rd.now().Sub(rd.at) < readyFor {
		return rd.err
	}
	// The probe is the server's, not the request's: a client that hangs
	// up does not make the store look unready to the next one.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	err := rd.store.Ready(pctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database did not take a write within " + readyTimeout.String() + ".", Err: err}
	}
	rd.at, rd.err = rd.now(), err
	return err
}

// serveReady is GET /readyz: 200 {"status":"ok"} while the store takes
// writes, else 503 {"status":"unavailable","reason":…} with Retry-After.
// GET /healthz stays a liveness check that touches nothing.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.ready == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if err := s.ready.check(r.Context()); err != nil {
		s.log.Warn("not ready", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(coffer.UnavailableRetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": coffer.ErrorMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
