package sqlstore

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"time"

	"github.com/coffer-money/coffer"
)

// Tx is a write transaction of the store.
type Tx struct {
	conn
	tx     *sql.Tx
	events []*coffer.AuditEvent
	head   bool // the audit head is locked and read
	seq    int64
	hash   []byte
}

// Audit appends events to the hash-chained audit log when the transaction
// commits. It locks the head of the chain now: call it before changing rows
// that ledger batches also lock, so locks are taken in the ledger's order
// (ledger head, audit head, rows) and cannot deadlock.
func (t *Tx) Audit(ctx context.Context, events ...*coffer.AuditEvent) error {
	for _, e := range events {
		if e == nil {
			continue
		}
		if err := t.lockHead(ctx); err != nil {
			return err
		}
		t.events = append(t.events, e)
	}
	return nil
}

func (t *Tx) lockHead(ctx context.Context) error {
	if t.head {
		return nil
	}
	seq, hash, err := t.d.AuditHead(ctx, t.tx)
	if err != nil {
		return err
	}
	if hash == nil {
		hash = []byte{}
	}
	t.head, t.seq, t.hash = true, seq, hash
	return nil
}

// auditRows is how many events one INSERT carries.
const auditRows = 64

// flush chains and inserts the events collected, under the head's lock.
func (t *Tx) flush(ctx context.Context) error {
	if len(t.events) == 0 {
		return nil
	}
	events := t.events
	for len(events) > 0 {
		n := min(len(events), auditRows)
		args := make([]any, 0, n*7)
		for _, e := range events[:n] {
			t.seq++
			e.Seq, e.PrevHash = t.seq, t.hash
			e.Hash = e.ChainHash(t.hash)
			t.hash = e.Hash
			args = append(args, e.Seq, ms(e.At), e.Kind, e.MemberID, e.Detail, e.PrevHash, e.Hash)
		}
		if _, err := t.Exec(ctx, `INSERT INTO audit_events (seq, at, kind, member_id, detail, prev_hash, hash) VALUES `+Rows(`(?,?,?,?,?,?,?)`, n), args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return t.d.SetAuditHead(ctx, t.tx, t.seq, t.hash)
}

// lock says what a write transaction takes before it runs.
type lock int

const (
	lockNone   lock = 0
	lockLedger lock = 1 << iota // the write changes what ledger batches decide on
	// lockAudit takes the head of the audit chain before fn runs, for a
	// write whose event depends on what it changes (so it cannot pass the
	// event to write) and that changes rows a transaction holding the head
	// may also change (CloseMember revokes keys and certificates): taken
	// after the rows, the head would close a cycle with such a transaction.
	lockAudit
)

// MaxAttempts bounds how often a transaction that lost a race is run again.
const MaxAttempts = 10

// write runs fn in one write transaction, appends the non-nil events (and
// those fn adds with Tx.Audit) to the audit chain in it, and commits. A
// transaction that loses a serialization conflict or a deadlock is run
// again from the start, fn included, with backoff; fn must therefore only
// touch the database and its own results.
//
// The whole of it, retries included, is bounded by the store's timeout
// (SetTimeout). A commit cut off by it is answered as unavailable with a
// message that says the change may still be made: on PostgreSQL the
// server may have committed locally and be waiting for a synchronous
// standby, and the transaction becomes visible once one confirms it.
func (s *Store) write(ctx context.Context, op string, l lock, fn func(*Tx) error, evs ...*coffer.AuditEvent) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := s.tryWrite(ctx, l, fn, evs)
		if err == nil {
			return nil
		}
		if s.is(err, FaultRetry) && attempt+1 < MaxAttempts {
			if berr := Backoff(ctx, attempt); berr == nil {
				continue
			}
		}
		return s.mapErr(op, err)
	}
}

func (s *Store) tryWrite(ctx context.Context, l lock, fn func(*Tx) error, evs []*coffer.AuditEvent) (err error) {
	stx, err := s.w.BeginTx(ctx, s.d.WriteTx())
	if err != nil {
		return err
	}
	tx := &Tx{conn: conn{q: stx, d: s.d}, tx: stx}
	defer func() {
		if err != nil {
			stx.Rollback()
		}
	}()
	if l&lockLedger != 0 {
		after, err := s.d.LockLedger(ctx, stx)
		if err != nil {
			return err
		}
		defer after()
	}
	if l&lockAudit != 0 {
		if err := tx.lockHead(ctx); err != nil {
			return err
		}
	}
	if err := tx.Audit(ctx, evs...); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.flush(ctx); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return s.inDoubt(ctx, err)
	}
	return nil
}

// Backoff waits before retry attempt n (0-based): 2, 4, 8 … ms up to 250 ms,
// with jitter so that two losers do not collide again.
func Backoff(ctx context.Context, n int) error {
	d := time.Duration(2<<min(n, 7)) * time.Millisecond
	d = min(d, 250*time.Millisecond)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
