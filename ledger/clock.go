package ledger

import (
	"context"
	"time"

	"github.com/coffer-money/coffer"
)

// learnLastStamp reads the ledger's last stamp from the store, as the
// clock's previous reading: a clock that went back while the engine was
// stopped is noticed at once. Each batch reads the stamp again (another
// process may have written since), so a failure here only delays the
// notice.
func (e *Engine) learnLastStamp() {
	var last time.Time
	err := e.store.ApplyBatch(context.Background(), func(tx coffer.LedgerTx) error {
		var err error
		last, err = tx.LastStamp(context.Background())
		return err
	})
	if err != nil {
		e.log.Warn("ledger could not read its last stamp at start", "err", err)
		return
	}
	e.last, e.lastRead = last, last
	e.read()
}

// read reads the clock (in UTC, to the millisecond, as stored), noticing
// when it reads earlier than its previous reading: each backward jump is
// logged and observed once, with its size.
func (e *Engine) read() time.Time {
	now := e.now().UTC().Truncate(time.Millisecond)
	if by := e.lastRead.Sub(now); by > 0 {
		e.log.Warn("ledger clock went back: transfers keep the ledger's last stamp until the clock catches up",
			"by", by, "clock", now, "last_stamp", e.last)
		if e.obs.ClockBack != nil {
			e.obs.ClockBack(by)
		}
	}
	e.lastRead = now
	return now
}

// stamp returns the time a batch is stamped with: the clock, but never
// earlier than the last stamp the engine knows. Stamps may repeat (the
// history orders by sequence number; equal times keep it in order)
// rather than run ahead of the clock.
func (e *Engine) stamp() time.Time {
	now := e.read()
	if now.Before(e.last) {
		return e.last
	}
	return now
}
