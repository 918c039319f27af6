package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

// damageLedger builds a small ledger using every payment form: a payment
// with a fee into the fee purse, a protected transfer still held, and a
// partial refund of the payment.
func damageLedger(t *testing.T) (*postgres.DB, *coffer.Transfer) {
	t.Helper()
	ctx := context.Background()
	db := openURL(t, pgtest.URL(t), postgres.Options{})
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ms []*coffer.Member
	var ps []*coffer.Purse
	for i := 0; i < 3; i++ {
		m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: now}
		p := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: m.ID, Issuer: i == 0, Limit: 1_000_000, CreatedAt: now}
		if i != 0 {
			p.Limit = 0
		}
		if err := db.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := db.CreatePurse(ctx, p); err != nil {
			t.Fatal(err)
		}
		ms, ps = append(ms, m), append(ps, p)
	}
	iss, to, fees := ps[0].Number, ps[1].Number, ps[2].Number
	pay := &coffer.Transfer{Sender: ms[0].ID, TransferID: "pay", From: iss, To: to, Currency: "USD", Amount: 100, Payee: ms[1].ID, CreatedAt: now, Fee: 1, FeePurse: fees, Refunded: 30}
	held := &coffer.Transfer{Sender: ms[0].ID, TransferID: "held", From: iss, To: to, Currency: "USD", Amount: 50, Payee: ms[1].ID, CreatedAt: now,
		Kind: coffer.KindProtected, Status: coffer.StatusHeld, Protection: &coffer.Protection{Until: now.Add(time.Hour)}}
	refund := &coffer.Transfer{Sender: ms[1].ID, TransferID: "refund", From: to, To: iss, Currency: "USD", Amount: 30, Payee: ms[0].ID, CreatedAt: now, Kind: coffer.KindRefund}
	err := db.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		if err := tx.Write(ctx, &coffer.BatchWrites{Transfers: []*coffer.Transfer{pay, held}}); err != nil {
			return err
		}
		refund.RefundOf = pay.Seq
		e := func(p string, tr *coffer.Transfer, kind string, h bool, amount, after int64) *coffer.Entry {
			return &coffer.Entry{Purse: p, Transfer: tr, Kind: kind, Held: h, Amount: amount, BalanceAfter: after, CreatedAt: now}
		}
		return tx.Write(ctx, &coffer.BatchWrites{
			Transfers: []*coffer.Transfer{refund},
			Entries: []*coffer.Entry{
				e(iss, pay, coffer.EntryTransfer, false, -100, -100), e(to, pay, coffer.EntryTransfer, false, 100, 100),
				e(iss, pay, coffer.EntryFee, false, -1, -101), e(fees, pay, coffer.EntryFee, false, 1, 1),
				e(iss, held, coffer.EntryTransfer, false, -50, -151), e(to, held, coffer.EntryHold, true, 50, 50),
				e(to, refund, coffer.EntryTransfer, false, -30, 70), e(iss, refund, coffer.EntryTransfer, false, 30, -121),
			},
			Balances: map[string]int64{iss: -121, to: 70, fees: 1},
			Held:     map[string]int64{to: 50},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, pay
}

// TestDB_CheckDetectsDamage damages a ledger that uses the payment forms in
// each way an invariant forbids and expects Check to name that invariant.
func TestDB_CheckDetectsDamage(t *testing.T) {
	ctx := context.Background()
	db, _ := damageLedger(t)
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("undamaged ledger: %+v, %v", rep, err)
	}
	for _, c := range []struct {
		name, sql string
		inv       int
	}{
		{"held money changed", `UPDATE purses SET held = held + 1 WHERE held > 0`, 6},
		{"held money created", `UPDATE purses SET held = held + 1 WHERE held > 0`, 1},
		{"hold entry as available money", `UPDATE entries SET held = false WHERE kind = 'hold'`, 6},
		{"hold entry of another kind", `UPDATE entries SET kind = 'transfer', held = false WHERE kind = 'hold'`, 3},
		{"entry of unknown kind", `UPDATE entries SET kind = 'gift' WHERE kind = 'fee' AND amount > 0`, 3},
		{"fee without its entries", `UPDATE transfers SET fee = 2 WHERE transfer_id = 'pay'`, 3},
		{"refunded beyond its refunds", `UPDATE transfers SET refunded = 40 WHERE transfer_id = 'pay'`, 3},
		{"refunded beyond the amount", `UPDATE transfers SET refunded = 101 WHERE transfer_id = 'pay'`, 3},
		{"protected transfer completed", `UPDATE transfers SET status = 'completed' WHERE kind = 'protected'`, 3},
		{"entries not adding up", `UPDATE entries SET amount = amount + 1, balance_after = balance_after + 1 WHERE kind = 'fee' AND amount > 0`, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, _ := damageLedger(t)
			if _, err := db.Pool().Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			rep, err := db.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results {
				if r.Number == c.inv {
					if r.Violations == 0 {
						t.Fatalf("invariant %d not violated; report %+v", c.inv, rep.Results)
					}
					t.Logf("invariant %d: %s", c.inv, r.Example)
					return
				}
			}
			t.Fatalf("no invariant %d in the report", c.inv)
		})
	}
}
