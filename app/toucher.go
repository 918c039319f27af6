package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// touchTimeout bounds one session touch: a store that hangs (a
// synchronous standby gone) holds the toucher, never a request.
const touchTimeout = 5 * time.Second

// maxPendingTouches bounds the sessions waiting for their touch; beyond
// it touches are dropped.
const maxPendingTouches = 4096

// toucher records session use (Store.TouchSession) off the request path.
// Each session has at most one touch pending, carrying its latest time;
// one worker goroutine writes them one at a time, and exits when none is
// left. A dropped or failed touch costs nothing unsafe: the cached session
// keeps the later time in this process, and the store's older time can
// only make the session expire sooner, never later.
type toucher struct {
	touch func(ctx context.Context, id string, at time.Time) error
	log   *slog.Logger

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc

	mu      sync.Mutex
	pending map[string]time.Time
	order   []string // pending IDs, oldest first
	running bool
	closed  bool
	dropped int
	wg      sync.WaitGroup
}

func newToucher(touch func(context.Context, string, time.Time) error, log *slog.Logger) *toucher {
	ctx, cancel := context.WithCancel(context.Background())
	return &toucher{touch: touch, log: log, ctx: ctx, cancel: cancel, pending: map[string]time.Time{}}
}

// add queues a touch of session id at time at, and never waits.
func (t *toucher) add(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if prev, ok := t.pending[id]; ok {
		if at.After(prev) {
			t.pending[id] = at
		}
		return
	}
	if len(t.pending) >= maxPendingTouches {
		if t.dropped++; t.dropped == 1 || t.dropped%1000 == 0 {
			t.log.Warn("session touches dropped: the store is not keeping up", "dropped", t.dropped)
		}
		return
	}
	t.pending[id] = at
	t.order = append(t.order, id)
	if !t.running {
		t.running = true
		t.wg.Add(1)
		go t.run()
	}
}

func (t *toucher) run() {
	defer t.wg.Done()
	for {
		t.mu.Lock()
		if len(t.order) == 0 || t.closed {
			t.running = false
			t.mu.Unlock()
			return
		}
		id := t.order[0]
		t.order = t.order[1:]
		at := t.pending[id]
		delete(t.pending, id)
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(t.ctx, touchTimeout)
		if err := t.touch(ctx, id, at); err != nil && t.ctx.Err() == nil {
			t.log.Warn("touch session", "err", err)
		}
		cancel()
	}
}

// close drops the touches not yet written, cancels the one being written
// and waits for the worker to end.
func (t *toucher) close() {
	t.mu.Lock()
	t.closed = true
	clear(t.pending)
	t.order = nil
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}
