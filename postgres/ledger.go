package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A ledger batch costs two round trips to the server, whatever its size:
//
//  1. BEGIN, lock the ledger head, lock the audit head, and load every
//     earlier transfer, purse, limit and spend counter the batch's requests
//     name (Prefetch), pipelined;
//  2. every insert and update the batch decided on, as array statements
//     (unnest), and COMMIT, pipelined.
//
// The engine decides in between, in memory. Holding the ledger head row for
// the whole transaction is what makes batches from several processes apply
// one after another on the balances the previous one committed.

// batchTimeout bounds one batch: a server that stops answering fails the
// batch (clients retry with the same transfer ID) instead of hanging it.
const batchTimeout = 30 * time.Second

type spendKey struct{ purse, period string }

type ledgerTx struct {
	db    *DB
	conn  *pgxpool.Conn
	begun bool

	tseq, eseq int64  // last sequence numbers, from the ledger head
	aseq       int64  // last audit event
	ahash      []byte // and its hash

	// What Prefetch loaded; a key present with a nil value is known absent.
	transfers map[[2]string]*coffer.Transfer
	purses    map[string]*coffer.Purse
	limits    map[string]*coffer.PurseLimits
	spend     map[spendKey]int64
	spendOf   map[string]bool // purses whose counters for the batch's periods are loaded

	// What the batch decided, written by flush.
	applied  []coffer.Applied
	balances map[string]int64
	adds     map[spendKey]int64
}

func (db *DB) isoSQL() string {
	if db.iso == pgx.Serializable {
		return "BEGIN ISOLATION LEVEL SERIALIZABLE"
	}
	return "BEGIN ISOLATION LEVEL READ COMMITTED"
}

// ApplyBatch implements coffer.Store. A batch that loses a serialization
// conflict or a deadlock (possible only with other writers than coffer's
// ledger, or under SERIALIZABLE) is run again from the start, fn included.
func (db *DB) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tryBatch(ctx, fn)
		if err == nil {
			return nil
		}
		if isRetryable(err) && attempt+1 < maxAttempts {
			if berr := backoff(ctx, attempt); berr == nil {
				continue
			}
		}
		return mapErr("postgres.ApplyBatch", err)
	}
}

func (db *DB) tryBatch(ctx context.Context, fn func(coffer.LedgerTx) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection that is broken or still inside a
	// transaction, so a failed batch never leaks its transaction.
	defer conn.Release()
	l := &ledgerTx{db: db, conn: conn}
	defer func() {
		if err != nil && l.begun {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			rcancel()
		}
	}()
	if err := fn(l); err != nil {
		return err
	}
	if err := l.start(ctx, nil); err != nil {
		return err
	}
	return l.flush(ctx)
}

// start sends BEGIN and the head locks (once) together with the queries add
// queues, in one round trip.
func (l *ledgerTx) start(ctx context.Context, add func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	if !l.begun {
		l.begun = true
		b.Queue(l.db.isoSQL())
		b.Queue(`SELECT transfer_seq, entry_seq FROM ledger_head WHERE id = 1 FOR UPDATE`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&l.tseq, &l.eseq)
		})
		b.Queue(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&l.aseq, &l.ahash)
			if l.ahash == nil {
				l.ahash = []byte{}
			}
			return err
		})
	}
	if add != nil {
		add(b)
	}
	if b.Len() == 0 {
		return nil
	}
	return l.conn.SendBatch(ctx, b).Close()
}

const limitsCols = `l.purse, l.per_transfer, l.per_day, l.per_month, l.updated_at, c.decimals`
const limitsFrom = ` FROM purse_limits l JOIN purses p ON p.number = l.purse JOIN currencies c ON c.code = p.currency`

func scanLimitsRow(r rowScanner) (*coffer.PurseLimits, error) {
	var lim coffer.PurseLimits
	var updated int64
	if err := r.Scan(&lim.Purse, &lim.PerTransfer, &lim.PerDay, &lim.PerMonth, &updated, &lim.Decimals); err != nil {
		return nil, err
	}
	lim.UpdatedAt = fromMs(updated)
	return &lim, nil
}

// Prefetch implements coffer.LedgerPrefetcher.
func (l *ledgerTx) Prefetch(ctx context.Context, reqs []*coffer.TransferRequest, day, month string) error {
	var senders, ids, numbers, froms []string
	l.transfers = make(map[[2]string]*coffer.Transfer, len(reqs))
	l.purses = make(map[string]*coffer.Purse, 2*len(reqs))
	l.limits = make(map[string]*coffer.PurseLimits, len(reqs))
	l.spend, l.spendOf = map[spendKey]int64{}, map[string]bool{}
	for _, r := range reqs {
		k := [2]string{r.Sender, r.TransferID}
		if _, ok := l.transfers[k]; !ok {
			l.transfers[k] = nil
			senders, ids = append(senders, r.Sender), append(ids, r.TransferID)
		}
		for _, n := range []string{r.From, r.To} {
			if _, ok := l.purses[n]; !ok {
				l.purses[n] = nil
				numbers = append(numbers, n)
			}
		}
		if _, ok := l.limits[r.From]; !ok {
			l.limits[r.From] = nil
			l.spendOf[r.From] = true
			froms = append(froms, r.From)
		}
	}
	l.spendOf[""] = false
	return l.start(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT `+transferCols+` FROM transfers t JOIN unnest($1::text[], $2::text[]) AS k(s, i) ON t.sender = k.s AND t.transfer_id = k.i`,
			senders, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				t, err := scanTransfer(rows)
				if err != nil {
					return err
				}
				l.transfers[[2]string{t.Sender, t.TransferID}] = t
			}
			return rows.Err()
		})
		b.Queue(`SELECT `+purseCols+` FROM purses WHERE number = ANY($1)`, numbers).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				p, err := scanPurse(rows)
				if err != nil {
					return err
				}
				l.purses[p.Number] = p
			}
			return rows.Err()
		})
		b.Queue(`SELECT `+limitsCols+limitsFrom+` WHERE l.purse = ANY($1)`, froms).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				lim, err := scanLimitsRow(rows)
				if err != nil {
					return err
				}
				l.limits[lim.Purse] = lim
			}
			return rows.Err()
		})
		b.Queue(`SELECT purse, period, amount FROM purse_spend WHERE purse = ANY($1) AND period IN ($2, $3)`, froms, day, month).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k spendKey
				var v int64
				if err := rows.Scan(&k.purse, &k.period, &v); err != nil {
					return err
				}
				l.spend[k] = v
			}
			return rows.Err()
		})
	})
}

func (l *ledgerTx) FindTransfer(ctx context.Context, sender, id string) (*coffer.Transfer, error) {
	if t, ok := l.transfers[[2]string{sender, id}]; ok {
		return t, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	t, err := scanTransfer(l.conn.QueryRow(ctx, `SELECT `+transferCols+` FROM transfers WHERE sender = $1 AND transfer_id = $2`, sender, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return t, err
}

func (l *ledgerTx) Purse(ctx context.Context, number string) (*coffer.Purse, error) {
	if p, ok := l.purses[number]; ok {
		if p == nil {
			return nil, nil
		}
		c := *p // a copy: the engine changes its balance as it goes
		return &c, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	p, err := scanPurse(l.conn.QueryRow(ctx, `SELECT `+purseCols+` FROM purses WHERE number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

func (l *ledgerTx) PurseLimits(ctx context.Context, number string) (*coffer.PurseLimits, error) {
	if lim, ok := l.limits[number]; ok {
		return lim, nil
	}
	if err := l.start(ctx, nil); err != nil {
		return nil, err
	}
	lim, err := scanLimitsRow(l.conn.QueryRow(ctx, `SELECT `+limitsCols+limitsFrom+` WHERE l.purse = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return lim, err
}

func (l *ledgerTx) PurseSpend(ctx context.Context, number, day, month string) (int64, int64, error) {
	if l.spendOf[number] {
		return l.spend[spendKey{number, day}], l.spend[spendKey{number, month}], nil
	}
	if err := l.start(ctx, nil); err != nil {
		return 0, 0, err
	}
	var d, m int64
	err := l.conn.QueryRow(ctx, `SELECT COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $2), 0),
		COALESCE((SELECT amount FROM purse_spend WHERE purse = $1 AND period = $3), 0)`, number, day, month).Scan(&d, &m)
	return d, m, err
}

// Insert implements coffer.LedgerTx: it numbers the transfers and keeps them
// for flush.
func (l *ledgerTx) Insert(ctx context.Context, ts []coffer.Applied) error {
	if err := l.start(ctx, nil); err != nil {
		return err
	}
	for _, a := range ts {
		l.tseq++
		a.T.Seq = l.tseq
	}
	l.applied = append(l.applied, ts...)
	return nil
}

func (l *ledgerTx) SetBalance(ctx context.Context, number string, balance int64) error {
	if l.balances == nil {
		l.balances = map[string]int64{}
	}
	l.balances[number] = balance
	return nil
}

func (l *ledgerTx) AddSpend(ctx context.Context, number, day, month string, amount int64) error {
	if l.adds == nil {
		l.adds = map[spendKey]int64{}
	}
	l.adds[spendKey{number, day}] += amount
	l.adds[spendKey{number, month}] += amount
	return nil
}

// flush writes what the batch decided and commits, in one round trip.
func (l *ledgerTx) flush(ctx context.Context) error {
	b := &pgx.Batch{}
	if n := len(l.applied); n > 0 {
		seq, sender, tid, from, to, cur, desc, payee := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount, at := make([]int64, n), make([]int64, n)
		eseq, epurse, etseq, eamount, eafter, eat := make([]int64, 2*n), make([]string, 2*n), make([]int64, 2*n), make([]int64, 2*n), make([]int64, 2*n), make([]int64, 2*n)
		events := make([]*coffer.AuditEvent, n)
		for i, a := range l.applied {
			t := a.T
			seq[i], sender[i], tid[i], from[i], to[i], cur[i], amount[i], desc[i], payee[i], at[i] = t.Seq, t.Sender, t.TransferID, t.From, t.To, t.Currency, t.Amount, t.Description, t.Payee, ms(t.CreatedAt)
			for j, e := range [2]struct {
				purse         string
				amount, after int64
			}{{t.From, -t.Amount, a.FromAfter}, {t.To, t.Amount, a.ToAfter}} {
				l.eseq++
				k := 2*i + j
				eseq[k], epurse[k], etseq[k], eamount[k], eafter[k], eat[k] = l.eseq, e.purse, t.Seq, e.amount, e.after, at[i]
			}
			events[i] = coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTransferApplied, t.Sender, map[string]any{
				"transfer_seq": t.Seq, "transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": t.Amount, "currency": t.Currency})
		}
		b.Queue(`INSERT INTO transfers (seq, sender, transfer_id, from_purse, to_purse, currency, amount, description, payee, created_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[])`,
			seq, sender, tid, from, to, cur, amount, desc, payee, at)
		b.Queue(`INSERT INTO entries (seq, purse, transfer_seq, amount, balance_after, created_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])`,
			eseq, epurse, etseq, eamount, eafter, eat)
		args, aseq, ahash := chain(events, l.aseq, l.ahash)
		b.Queue(insertAudit, args...)
		b.Queue(setAuditHead, aseq, ahash)
		b.Queue(`UPDATE ledger_head SET transfer_seq = $1, entry_seq = $2 WHERE id = 1`, l.tseq, l.eseq)
	}
	if len(l.balances) > 0 {
		nums, bals := make([]string, 0, len(l.balances)), make([]int64, 0, len(l.balances))
		for n, v := range l.balances {
			nums, bals = append(nums, n), append(bals, v)
		}
		b.Queue(`UPDATE purses SET balance = v.b FROM unnest($1::text[], $2::bigint[]) AS v(n, b) WHERE purses.number = v.n`, nums, bals).Exec(func(tag pgconn.CommandTag) error {
			if int(tag.RowsAffected()) != len(nums) {
				return fmt.Errorf("postgres: %d of %d purse balances updated", tag.RowsAffected(), len(nums))
			}
			return nil
		})
	}
	if len(l.adds) > 0 {
		ps, pers, amts := make([]string, 0, len(l.adds)), make([]string, 0, len(l.adds)), make([]int64, 0, len(l.adds))
		for k, v := range l.adds {
			ps, pers, amts = append(ps, k.purse), append(pers, k.period), append(amts, v)
		}
		b.Queue(`INSERT INTO purse_spend (purse, period, amount) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (purse, period) DO UPDATE SET amount = purse_spend.amount + excluded.amount`, ps, pers, amts)
	}
	b.Queue("COMMIT")
	return l.conn.SendBatch(ctx, b).Close()
}
