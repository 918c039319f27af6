package app

import (
	"context"
	"time"

	"github.com/coffer-money/coffer"
)

// InvoiceSweeper is offered by a store that can list pending invoices past
// their expiry, so that the scheduler records their expiry. Without it an
// invoice's expiry is recorded when it is next read; it is never payable
// after its time either way.
type InvoiceSweeper interface {
	ExpiredInvoices(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// heldDuePage is how many due transfers one store read returns.
const heldDuePage = 100

// RunScheduler ends protection periods until ctx ends, checking every
// interval: a transfer protected by time reaches its payee, one protected
// by a code goes back to its sender. It reads what is due from the store,
// so it catches up after downtime; the ledger re-checks each transfer's
// state in its batch, so a second scheduler (another process on the same
// database) or a repeated tick does no harm.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.SchedulerTick(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler", "err", err)
		}
		if s.cfg.SchedulerObserver != nil && ctx.Err() == nil {
			s.cfg.SchedulerObserver(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SchedulerTick does one round of RunScheduler and returns how many held
// transfers it settled.
func (s *Service) SchedulerTick(ctx context.Context) (int, error) {
	start := s.now()
	done, caughtUp := 0, false
	for round := 0; round < 100; round++ {
		seqs, err := s.store.HeldDue(ctx, s.now(), heldDuePage)
		if err != nil {
			return done, err
		}
		progress, failed := 0, false
		for _, seq := range seqs {
			res := s.engine.Act(ctx, &coffer.HoldAction{Seq: seq, Action: coffer.HoldExpire})
			switch coffer.ErrorCode(res.Err) {
			case "":
				done++
				progress++
			case coffer.ENOTHELD:
				progress++ // settled by someone else meanwhile
			default:
				if ctx.Err() != nil {
					return done, ctx.Err()
				}
				s.log.Warn("scheduler: end protection", "transfer_seq", seq, "err", res.Err)
				failed = true
			}
		}
		// A short page is the last; no progress means the rest fail.
		if len(seqs) < heldDuePage || progress == 0 {
			caughtUp = len(seqs) < heldDuePage && !failed
			break
		}
	}
	if caughtUp {
		s.schedCaughtUp.Store(start.UnixNano())
	}
	s.sweepInvoices(ctx)
	s.SweepUploads()
	return done, nil
}

// sweepInvoices records the expiry of invoices past their time, about
// once a minute, when the store can list them.
func (s *Service) sweepInvoices(ctx context.Context) {
	sw, ok := s.store.(InvoiceSweeper)
	now := s.now()
	last := s.lastInvSweep.Load()
	// A last sweep later than now means the clock went back: sweep.
	if since := now.Sub(time.Unix(0, last)); !ok || (since >= 0 && since < time.Minute) || !s.lastInvSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	ids, err := sw.ExpiredInvoices(ctx, now, 1000)
	if err != nil {
		s.log.Warn("scheduler: expired invoices", "err", err)
		return
	}
	for _, id := range ids {
		ev := coffer.NewAuditEvent(now, coffer.AuditInvoiceEnded, "", map[string]any{"invoice_id": id, "state": coffer.InvoiceExpired})
		if _, err := s.store.EndInvoice(ctx, id, coffer.InvoiceExpired, now, ev); err != nil {
			s.log.Warn("scheduler: expire invoice", "invoice", id, "err", err)
		}
	}
}

// SchedulerLag is how far behind the scheduler is: the time since the
// start of its last pass that settled everything then due (every pass
// reads what is due at its start). It stays near the scheduler's interval
// while the scheduler keeps up; it grows when passes fail (the store is
// unreachable, a transfer cannot be settled) or when more is due than a
// pass settles. It counts from the service's start until the first such
// pass.
func (s *Service) SchedulerLag() time.Duration {
	return max(0, s.now().Sub(time.Unix(0, s.schedCaughtUp.Load())))
}
