package sqlite

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Signature nonces are written on every signed request. One transaction
// each would cost every request an fsync on the one writer connection that
// the ledger's batches need too; so, as the ledger does with transfers,
// the requests that arrive while a commit is under way are gathered and
// committed together in the next one (group commit).

// maxNonceBatch bounds one transaction's nonces.
const maxNonceBatch = 512

// nonceGroup gathers UseNonce calls. The first caller to find no commit
// under way leads: it commits what is pending, its own nonce included,
// then hands the lead to the first caller still waiting, so that no
// caller works for others for long.
type nonceGroup struct {
	mu      sync.Mutex
	pending []*nonceReq
	leading bool
}

type nonceReq struct {
	keyID, nonce string
	now, expires int64 // ms
	fresh        bool
	err          error
	lead         bool          // set before done is closed: the receiver commits the next batch
	done         chan struct{} // closed when fresh and err are set, or lead
}

// UseNonce implements coffer.NonceStore, so that a signed request is not
// accepted again after a restart, when the service's memory of nonces is
// gone. A nonce whose earlier use has expired counts as new (its old
// signature is too old to be accepted). The answer comes once the nonce
// is committed.
func (db *DB) UseNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (bool, error) {
	r := &nonceReq{keyID: keyID, nonce: nonce, now: ms(now), expires: ms(expires), done: make(chan struct{})}
	g := &db.nonces
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.leading {
		g.mu.Unlock()
		<-r.done
		if !r.lead {
			return r.fresh, r.err
		}
		g.mu.Lock()
	}
	g.leading = true
	// Lead: commit batches until this caller's own nonce is committed.
	// Another caller's context must not end a commit it waits for.
	ctx = context.WithoutCancel(ctx)
	for {
		n := min(len(g.pending), maxNonceBatch)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		db.commitNonces(ctx, batch)
		mine := false
		for _, b := range batch {
			if b == r {
				mine = true
			} else {
				close(b.done)
			}
		}
		g.mu.Lock()
		if !mine {
			continue // this caller's nonce is in a later batch
		}
		if len(g.pending) == 0 {
			g.leading = false
		} else {
			// The first waiter leads next; its nonce stays pending and
			// goes into the first batch it commits.
			next := g.pending[0]
			next.lead = true
			close(next.done)
		}
		g.mu.Unlock()
		return r.fresh, r.err
	}
}

// commitNonces writes a batch in one transaction and sets each request's
// answer. A nonce twice in one batch is fresh only the first time, as
// the upsert finds the row the first one wrote. Now and then a bounded
// number of expired nonces are removed, more than were written meanwhile,
// so the table holds about one window of them.
func (db *DB) commitNonces(ctx context.Context, batch []*nonceReq) {
	const op = "UseNonce"
	fail := func(err error) {
		err = mapErr(op, err)
		db.NoteDamage(err)
		for _, r := range batch {
			r.fresh, r.err = false, err
		}
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO signature_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE signature_nonces.expires_at <= ?`)
	if err != nil {
		fail(err)
		return
	}
	defer st.Close()
	for _, r := range batch {
		res, err := st.ExecContext(ctx, r.keyID, r.nonce, r.expires, r.now)
		if err != nil {
			fail(err)
			return
		}
		n, err := res.RowsAffected()
		if err != nil {
			fail(err)
			return
		}
		r.fresh = n == 1
	}
	if rand.IntN(256) < len(batch) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signature_nonces WHERE (key_id, nonce) IN
			(SELECT key_id, nonce FROM signature_nonces WHERE expires_at <= ? LIMIT 1024)`, batch[0].now); err != nil {
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
	}
}
