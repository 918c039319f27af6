package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/ledger"
	"pgregory.net/rapid"
)

// payFixture is an issuer, an operator with a fee purse, and members with
// one USD purse each, over an engine on a clock the test moves.
type payFixture struct {
	t        testing.TB
	db       testStore
	eng      *ledger.Engine
	now      atomic.Int64 // unix ms
	issuer   *coffer.Purse
	fee      *coffer.Purse // the operator's fee purse
	members  []string
	purses   []*coffer.Purse // purses[i] belongs to members[i]
	second   *coffer.Purse   // a second USD purse of members[0]
	seq      atomic.Int64
	openFunc opener
	cfg      ledger.Config // the engine's, but for its clock
}

func newPayFixture(t testing.TB, open opener, n int) *payFixture {
	return newPayFixtureConfig(t, open, n, ledger.Config{})
}

// newPayFixtureConfig is newPayFixture with an engine configured by cfg.
func newPayFixtureConfig(t testing.TB, open opener, n int, cfg ledger.Config) *payFixture {
	ctx := context.Background()
	f := &payFixture{t: t, db: open(t), openFunc: open, cfg: cfg}
	// The runs of a property test share one ledger on PostgreSQL, whose
	// time never runs back: a later run starts at noon of a later day.
	noon := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for last := ledgerTime(t, f.db); noon.Before(last); {
		noon = noon.AddDate(0, 0, 1)
	}
	f.now.Store(noon.UnixMilli())
	f.start(f.db)
	start := f.clock()
	// A store may be shared by the runs of a property test: no fee rule
	// from an earlier run.
	if _, err := f.db.DeleteFeeRule(ctx, "USD", nil); err != nil {
		t.Fatal(err)
	}
	mk := func(owner string, issuer bool) *coffer.Purse {
		p := &coffer.Purse{Number: coffer.NewPurseNumber('Z'), Currency: "USD", Owner: owner, Issuer: issuer, CreatedAt: start}
		if issuer {
			p.Limit = 1 << 40
		}
		if err := f.db.CreatePurse(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	member := func() string {
		m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: start}
		if err := f.db.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	f.issuer = mk(member(), true)
	f.fee = mk(member(), false)
	for i := 0; i < n; i++ {
		f.members = append(f.members, member())
		f.purses = append(f.purses, mk(f.members[i], false))
		f.mustSend(f.issuer.Owner, f.issuer, f.purses[i], 1_000_000)
	}
	f.second = mk(f.members[0], false)
	return f
}

func (f *payFixture) start(db testStore) {
	cfg := f.cfg
	cfg.Now = f.clock
	f.eng = ledger.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	go f.eng.Run()
	eng := f.eng
	f.t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
}

func (f *payFixture) clock() time.Time        { return time.UnixMilli(f.now.Load()).UTC() }
func (f *payFixture) advance(d time.Duration) { f.now.Add(d.Milliseconds()) }
func (f *payFixture) id() string              { return fmt.Sprintf("p%d", f.seq.Add(1)) }

func (f *payFixture) submit(r *coffer.TransferRequest) ledger.Result {
	if r.TransferID == "" {
		r.TransferID = f.id()
	}
	return f.eng.Submit(context.Background(), r)
}

func (f *payFixture) mustSend(sender string, from, to *coffer.Purse, amount int64) *coffer.Transfer {
	f.t.Helper()
	res := f.submit(&coffer.TransferRequest{Sender: sender, From: from.Number, To: to.Number, Amount: amount})
	if res.Err != nil {
		f.t.Fatalf("send %d from %s to %s: %v", amount, from.Number, to.Number, res.Err)
	}
	return res.Transfer
}

// money returns a purse's available and held money as committed.
func (f *payFixture) money(p *coffer.Purse) (int64, int64) {
	f.t.Helper()
	got, err := f.db.Purse(context.Background(), p.Number)
	if err != nil {
		f.t.Fatal(err)
	}
	return got.Balance, got.Held
}

func (f *payFixture) wantMoney(p *coffer.Purse, available, held int64) {
	f.t.Helper()
	a, h := f.money(p)
	if a != available || h != held {
		f.t.Fatalf("purse %s: available %d held %d, want %d and %d", p.Number, a, h, available, held)
	}
}

func (f *payFixture) setFee(ppm, min, max int64) {
	f.t.Helper()
	if err := f.db.SetFeeRule(context.Background(), &coffer.FeeRule{Currency: "USD", PPM: ppm, Min: min, Max: max, Purse: f.fee.Number, UpdatedAt: f.clock()}, nil); err != nil {
		f.t.Fatal(err)
	}
}

func (f *payFixture) check() {
	f.t.Helper()
	rep, err := f.db.Check(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Violations > 0 {
			f.t.Fatalf("invariant %d (%s) violated: %s", r.Number, r.Name, r.Example)
		}
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := coffer.ErrorCode(err); got != code {
		t.Fatalf("got %v (code %q), want code %q", err, got, code)
	}
}

func protectByCode(code string, until time.Time) *coffer.Protection {
	salt, hash := coffer.HashProtectionCode(code)
	return &coffer.Protection{ByCode: true, CodeSalt: salt, CodeHash: hash, Until: until}
}

func TestEngine_Fees(t *testing.T) { eachStore(t, testFees) }

func testFees(t *testing.T, open opener) {
	f := newPayFixture(t, open, 2)
	f.setFee(8000, 1, 5000) // 0.8 %, at least 0.01, at most 50.00
	a, b := f.purses[0], f.purses[1]
	tr := f.mustSend(f.members[0], a, b, 1_000_00)
	if tr.Fee != 800 || tr.FeePurse != f.fee.Number {
		t.Fatalf("fee %d into %s, want 800 into %s", tr.Fee, tr.FeePurse, f.fee.Number)
	}
	f.wantMoney(a, 1_000_000-1_000_00-800, 0)
	f.wantMoney(b, 1_000_000+1_000_00, 0)
	f.wantMoney(f.fee, 800, 0)
	// Between one member's purses: free.
	if tr := f.mustSend(f.members[0], a, f.second, 100); tr.Fee != 0 {
		t.Fatalf("own purses: fee %d, want 0", tr.Fee)
	}
	// The fee counts against the funds.
	avail, _ := f.money(a)
	res := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: a.Number, To: b.Number, Amount: avail})
	wantCode(t, res.Err, coffer.EINSUFFICIENTFUNDS)
	// Refunds are free.
	ref := f.submit(&coffer.TransferRequest{Sender: f.members[1], From: b.Number, To: a.Number, Amount: 500, RefundOf: tr.Seq})
	if ref.Err != nil || ref.Transfer.Fee != 0 {
		t.Fatalf("refund: %+v, %v; want applied without a fee", ref.Transfer, ref.Err)
	}
	f.check()
}

func TestEngine_Protected(t *testing.T) { eachStore(t, testProtected) }

func testProtected(t *testing.T, open opener) {
	f := newPayFixture(t, open, 3)
	f.setFee(10000, 1, 0) // 1 %
	a, b := f.purses[0], f.purses[1]
	week := f.clock().Add(7 * 24 * time.Hour)
	send := func(p *coffer.Protection) *coffer.Transfer {
		t.Helper()
		res := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: a.Number, To: b.Number, Amount: 10_000, Protect: p})
		if res.Err != nil || res.Transfer.Status != coffer.StatusHeld {
			t.Fatalf("protected send: %+v, %v", res.Transfer, res.Err)
		}
		return res.Transfer
	}
	act := func(actor string, seq int64, action, code string) ledger.Result {
		return f.eng.Act(context.Background(), &coffer.HoldAction{Actor: actor, Seq: seq, Action: action, Code: code})
	}
	payee := f.members[1]

	// Released by the right code.
	t1 := send(protectByCode("4711", week))
	f.wantMoney(a, 1_000_000-10_100, 0)
	f.wantMoney(b, 1_000_000, 10_000)
	f.wantMoney(f.fee, 0, 100)
	wantCode(t, act(f.members[2], t1.Seq, coffer.HoldRelease, "4711").Err, coffer.ENOTFOUND) // not the payee
	wantCode(t, act(payee, t1.Seq, coffer.HoldRelease, "0000").Err, coffer.EWRONGCODE)
	if res := act(payee, t1.Seq, coffer.HoldRelease, "4711"); res.Err != nil || res.Transfer.Status != coffer.StatusReleased {
		t.Fatalf("release: %+v, %v", res.Transfer, res.Err)
	}
	f.wantMoney(b, 1_010_000, 0)
	f.wantMoney(f.fee, 100, 0)
	wantCode(t, act(payee, t1.Seq, coffer.HoldRelease, "4711").Err, coffer.ENOTHELD) // exactly once

	// Eight wrong codes send it back, fee included.
	t2 := send(protectByCode("1234", week))
	for i := 1; i <= coffer.MaxProtectAttempts; i++ {
		wantCode(t, act(payee, t2.Seq, coffer.HoldRelease, "9999").Err, coffer.EWRONGCODE)
	}
	got, err := f.db.TransferBySeq(context.Background(), t2.Seq)
	if err != nil || got.Status != coffer.StatusReturned || got.Protection.Attempts != coffer.MaxProtectAttempts {
		t.Fatalf("after 8 wrong codes: %+v, %v; want returned with 8 attempts", got, err)
	}
	f.wantMoney(a, 1_000_000-10_100, 0) // t1 cost 10,100; t2 came back whole
	f.wantMoney(f.fee, 100, 0)
	wantCode(t, act(payee, t2.Seq, coffer.HoldRelease, "1234").Err, coffer.ENOTHELD)

	// Refused by the payee.
	t3 := send(protectByCode("1", week))
	if res := act(payee, t3.Seq, coffer.HoldRefuse, ""); res.Err != nil || res.Transfer.Status != coffer.StatusReturned {
		t.Fatalf("refuse: %+v, %v", res.Transfer, res.Err)
	}
	f.wantMoney(a, 1_000_000-10_100, 0)

	// Time protection: released by expiry, not before; code protection
	// expires back to the sender; no release after the period.
	t4 := send(&coffer.Protection{Until: f.clock().Add(24 * time.Hour)})
	t5 := send(protectByCode("55", f.clock().Add(24*time.Hour)))
	wantCode(t, act(payee, t4.Seq, coffer.HoldRelease, "").Err, coffer.EINVALID)
	wantCode(t, act("", t4.Seq, coffer.HoldExpire, "").Err, coffer.ENOTHELD) // not due
	wantCode(t, act("", t4.Seq, coffer.HoldRelease, "").Err, coffer.ENOTFOUND)
	f.advance(24 * time.Hour)
	wantCode(t, act(payee, t5.Seq, coffer.HoldRelease, "55").Err, coffer.ENOTHELD) // period over
	due, err := f.db.HeldDue(context.Background(), f.clock(), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("HeldDue = %v, %v; want the two transfers", due, err)
	}
	for _, seq := range due {
		if res := act("", seq, coffer.HoldExpire, ""); res.Err != nil {
			t.Fatalf("expire %d: %v", seq, res.Err)
		}
	}
	for seq, want := range map[int64]string{t4.Seq: coffer.StatusReleased, t5.Seq: coffer.StatusReturned} {
		got, err := f.db.TransferBySeq(context.Background(), seq)
		if err != nil || got.Status != want {
			t.Fatalf("transfer %d after expiry: %+v, %v; want %s", seq, got, err, want)
		}
	}
	f.wantMoney(b, 1_020_000, 0)
	f.wantMoney(a, 1_000_000-20_200, 0)
	if due, _ := f.db.HeldDue(context.Background(), f.clock(), 10); len(due) != 0 {
		t.Fatalf("HeldDue after expiry = %v, want none", due)
	}
	f.check()
}

// TestEngine_ReleaseOnce: many parallel releases (and expiries) of one
// held transfer settle it exactly once.
func TestEngine_ReleaseOnce(t *testing.T) { eachStore(t, testReleaseOnce) }

func testReleaseOnce(t *testing.T, open opener) {
	f := newPayFixture(t, open, 2)
	a, b := f.purses[0], f.purses[1]
	res := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: a.Number, To: b.Number, Amount: 777, Protect: protectByCode("x1", f.clock().Add(time.Hour))})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	seq := res.Transfer.Seq
	var ok, notHeld atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.eng.Act(context.Background(), &coffer.HoldAction{Actor: f.members[1], Seq: seq, Action: coffer.HoldRelease, Code: "x1"})
			switch coffer.ErrorCode(r.Err) {
			case "":
				ok.Add(1)
			case coffer.ENOTHELD:
				notHeld.Add(1)
			default:
				t.Errorf("release: %v", r.Err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || notHeld.Load() != 29 {
		t.Fatalf("released %d times, %d refused as not held; want 1 and 29", ok.Load(), notHeld.Load())
	}
	f.wantMoney(b, 1_000_777, 0)
	f.check()
}

func TestEngine_InvoicePaidOnce(t *testing.T) { eachStore(t, testInvoicePaidOnce) }

func testInvoicePaidOnce(t *testing.T, open opener) {
	f := newPayFixture(t, open, 3)
	merchant, payer := f.members[1], f.members[0]
	inv := &coffer.Invoice{ID: "inv-" + f.id(), Merchant: merchant, Payer: payer, Purse: f.purses[1].Number, Currency: "USD",
		Amount: 12_345, OrderNumber: "order-1", State: coffer.InvoicePending, CreatedAt: f.clock(), ExpiresAt: f.clock().Add(time.Hour), UpdatedAt: f.clock()}
	if err := f.db.CreateInvoice(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	pay := func(sender string, from *coffer.Purse, id string) ledger.Result {
		return f.submit(&coffer.TransferRequest{Sender: sender, TransferID: id, From: from.Number, To: inv.Purse, Amount: inv.Amount, InvoiceID: inv.ID})
	}
	// Only the payer, only the exact amount and purse.
	wantCode(t, pay(f.members[2], f.purses[2], "x").Err, coffer.ENOTFOUND)
	wantCode(t, f.submit(&coffer.TransferRequest{Sender: payer, From: f.purses[0].Number, To: inv.Purse, Amount: inv.Amount - 1, InvoiceID: inv.ID}).Err, coffer.EINVALID)
	var paid, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := pay(payer, f.purses[0], fmt.Sprintf("pay-%d", i))
			switch coffer.ErrorCode(r.Err) {
			case "":
				paid.Add(1)
			case coffer.EINVOICENOTPAYABLE:
				refused.Add(1)
			default:
				t.Errorf("pay: %v", r.Err)
			}
		}()
	}
	wg.Wait()
	if paid.Load() != 1 || refused.Load() != 19 {
		t.Fatalf("paid %d times, refused %d; want 1 and 19", paid.Load(), refused.Load())
	}
	got, err := f.db.Invoice(context.Background(), inv.ID)
	if err != nil || got.State != coffer.InvoicePaid || got.TransferSeq == 0 {
		t.Fatalf("invoice after payment: %+v, %v; want paid with its transfer", got, err)
	}
	f.wantMoney(f.purses[0], 1_000_000-12_345, 0)
	// An expired invoice cannot be paid.
	inv2 := *inv
	inv2.ID, inv2.OrderNumber, inv2.State, inv2.TransferSeq = "inv-"+f.id(), "order-2", coffer.InvoicePending, 0
	if err := f.db.CreateInvoice(context.Background(), &inv2); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour)
	wantCode(t, f.submit(&coffer.TransferRequest{Sender: payer, From: f.purses[0].Number, To: inv2.Purse, Amount: inv2.Amount, InvoiceID: inv2.ID}).Err, coffer.EINVOICENOTPAYABLE)
	f.check()
}

func TestEngine_Trusts(t *testing.T) { eachStore(t, testTrusts) }

func testTrusts(t *testing.T, open opener) {
	f := newPayFixture(t, open, 3)
	owner, merchant := f.members[0], f.members[1]
	tr := &coffer.Trust{ID: "tr-" + f.id(), Owner: owner, Merchant: merchant, Purse: f.purses[0].Number, PerTransfer: 1_000, PerDay: 2_500, PerMonth: 4_000, CreatedAt: f.clock()}
	if err := f.db.CreateTrust(context.Background(), tr, nil); err != nil {
		t.Fatal(err)
	}
	debit := func(sender string, amount int64) error {
		return f.submit(&coffer.TransferRequest{Sender: sender, From: tr.Purse, To: f.purses[1].Number, Amount: amount, TrustID: tr.ID}).Err
	}
	wantCode(t, debit(f.members[2], 10), coffer.ETRUSTINVALID) // not the merchant
	wantCode(t, f.submit(&coffer.TransferRequest{Sender: merchant, From: tr.Purse, To: f.purses[1].Number, Amount: 10}).Err, coffer.EFORBIDDEN)
	wantCode(t, debit(merchant, 1_001), coffer.ELIMITEXCEEDED) // per transfer
	for _, a := range []int64{1_000, 1_000, 500} {             // exactly the daily limit
		if err := debit(merchant, a); err != nil {
			t.Fatalf("debit %d: %v", a, err)
		}
	}
	wantCode(t, debit(merchant, 1), coffer.ELIMITEXCEEDED) // day used up
	f.advance(24 * time.Hour)
	if err := debit(merchant, 1_000); err != nil {
		t.Fatal(err)
	}
	wantCode(t, debit(merchant, 501), coffer.ELIMITEXCEEDED) // month: 3,500 + 501 > 4,000
	if err := debit(merchant, 500); err != nil {
		t.Fatal(err)
	}
	day, month, err := f.db.TrustSpend(context.Background(), tr, f.clock())
	if err != nil || day != 1_500 || month != 4_000 {
		t.Fatalf("TrustSpend = %d, %d, %v; want 1500, 4000", day, month, err)
	}
	// Revocation takes effect at once.
	tr2 := &coffer.Trust{ID: "tr-" + f.id(), Owner: owner, Merchant: merchant, Purse: f.purses[0].Number, PerDay: 1_000_000, CreatedAt: f.clock()}
	if err := f.db.CreateTrust(context.Background(), tr2, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.submit(&coffer.TransferRequest{Sender: merchant, From: tr2.Purse, To: f.purses[1].Number, Amount: 5, TrustID: tr2.ID}).Err; err != nil {
		t.Fatal(err)
	}
	if ok, err := f.db.RevokeTrust(context.Background(), tr2.ID, f.clock(), nil); !ok || err != nil {
		t.Fatalf("RevokeTrust = %v, %v", ok, err)
	}
	wantCode(t, f.submit(&coffer.TransferRequest{Sender: merchant, From: tr2.Purse, To: f.purses[1].Number, Amount: 5, TrustID: tr2.ID}).Err, coffer.ETRUSTINVALID)

	// Under concurrency the daily limit holds exactly.
	tr3 := &coffer.Trust{ID: "tr-" + f.id(), Owner: f.members[2], Merchant: merchant, Purse: f.purses[2].Number, PerDay: 10_000, CreatedAt: f.clock()}
	if err := f.db.CreateTrust(context.Background(), tr3, nil); err != nil {
		t.Fatal(err)
	}
	var applied, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.submit(&coffer.TransferRequest{Sender: merchant, From: tr3.Purse, To: f.purses[1].Number, Amount: 300, TrustID: tr3.ID}).Err
			switch coffer.ErrorCode(err) {
			case "":
				applied.Add(300)
			case coffer.ELIMITEXCEEDED:
				refused.Add(1)
			default:
				t.Errorf("debit: %v", err)
			}
		}()
	}
	wg.Wait()
	if applied.Load() != 9_900 || refused.Load() != 67 {
		t.Fatalf("applied %d, refused %d; want 9900 (33 debits) and 67", applied.Load(), refused.Load())
	}
	f.check()
}

func TestEngine_Refunds(t *testing.T) { eachStore(t, testRefunds) }

func testRefunds(t *testing.T, open opener) {
	f := newPayFixture(t, open, 3)
	a, b := f.purses[0], f.purses[1]
	orig := f.mustSend(f.members[0], a, b, 1_000)
	refund := func(sender string, from, to *coffer.Purse, amount int64, of int64) error {
		return f.submit(&coffer.TransferRequest{Sender: sender, From: from.Number, To: to.Number, Amount: amount, RefundOf: of}).Err
	}
	wantCode(t, refund(f.members[2], f.purses[2], a, 10, orig.Seq), coffer.EREFUNDNOTALLOWED) // not the payee
	wantCode(t, refund(f.members[1], b, f.purses[2], 10, orig.Seq), coffer.EREFUNDNOTALLOWED) // not back to the source
	for _, amt := range []int64{400, 500} {
		if err := refund(f.members[1], b, a, amt, orig.Seq); err != nil {
			t.Fatalf("refund %d: %v", amt, err)
		}
	}
	wantCode(t, refund(f.members[1], b, a, 101, orig.Seq), coffer.EREFUNDNOTALLOWED) // only 100 left
	if err := refund(f.members[1], b, a, 100, orig.Seq); err != nil {
		t.Fatalf("refund of the rest: %v", err)
	}
	got, err := f.db.TransferBySeq(context.Background(), orig.Seq)
	if err != nil || got.Refunded != 1_000 {
		t.Fatalf("original after refunds: %+v, %v; want refunded 1000", got, err)
	}
	refunds, err := f.db.Refunds(context.Background(), orig.Seq)
	if err != nil || len(refunds) != 3 {
		t.Fatalf("Refunds = %d, %v; want 3", len(refunds), err)
	}
	// A refund cannot be refunded; after 90 days nothing can.
	wantCode(t, refund(f.members[0], a, b, 1, refunds[0].Seq), coffer.EREFUNDNOTALLOWED)
	late := f.mustSend(f.members[0], a, b, 50)
	f.advance(coffer.RefundWindow)
	if err := refund(f.members[1], b, a, 10, late.Seq); err != nil {
		t.Fatalf("refund on the 90th day: %v", err)
	}
	f.advance(time.Millisecond)
	wantCode(t, refund(f.members[1], b, a, 10, late.Seq), coffer.EREFUNDNOTALLOWED)
	f.check()
}

func TestEngine_AllOrNothing(t *testing.T) { eachStore(t, testAllOrNothing) }

func testAllOrNothing(t *testing.T, open opener) {
	f := newPayFixture(t, open, 3)
	a := f.purses[0]
	group := func(amounts ...int64) []*coffer.TransferRequest {
		var rs []*coffer.TransferRequest
		for i, amt := range amounts {
			rs = append(rs, &coffer.TransferRequest{Sender: f.members[0], TransferID: f.id(), From: a.Number, To: f.purses[1+i%2].Number, Amount: amt})
		}
		return rs
	}
	bad := group(100, 200, 2_000_000, 300) // the third overdraws
	res := f.eng.SubmitAll(context.Background(), bad, true)
	for i, r := range res {
		want := coffer.ENOTAPPLIED
		if i == 2 {
			want = coffer.EINSUFFICIENTFUNDS
		}
		wantCode(t, r.Err, want)
	}
	f.wantMoney(a, 1_000_000, 0)
	for _, r := range bad {
		if _, err := f.db.Transfer(context.Background(), f.members[0], r.TransferID, ""); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("transfer %s of the refused group: %v, want not found", r.TransferID, err)
		}
	}
	good := group(100, 200, 300)
	for _, r := range f.eng.SubmitAll(context.Background(), good, true) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	f.wantMoney(a, 1_000_000-600, 0)
	// Each on its own: the bad one is refused, the rest applied; a retry
	// replays.
	mixed := group(1, 2_000_000, 3)
	out := f.eng.SubmitAll(context.Background(), mixed, false)
	if out[0].Err != nil || coffer.ErrorCode(out[1].Err) != coffer.EINSUFFICIENTFUNDS || out[2].Err != nil {
		t.Fatalf("per-item results: %v %v %v", out[0].Err, out[1].Err, out[2].Err)
	}
	again := f.eng.SubmitAll(context.Background(), mixed, true)
	if !again[0].Replayed || coffer.ErrorCode(again[1].Err) != coffer.EINSUFFICIENTFUNDS || coffer.ErrorCode(again[2].Err) != coffer.ENOTAPPLIED {
		t.Fatalf("retry as all or nothing: %+v; want replayed, refused, not applied", again)
	}
	f.check()
}

// failingStore makes the next n batch writes fail before they reach the
// database, as a crash between deciding and committing would.
type failingStore struct {
	testStore
	fail atomic.Int64
}

type failingTx struct {
	coffer.LedgerTx
	s *failingStore
}

func (s *failingStore) ApplyBatch(ctx context.Context, fn func(coffer.LedgerTx) error) error {
	return s.testStore.ApplyBatch(ctx, func(tx coffer.LedgerTx) error { return fn(&failingTx{tx, s}) })
}

func (t *failingTx) Write(ctx context.Context, w *coffer.BatchWrites) error {
	if t.s.fail.Add(-1) >= 0 {
		return errors.New("injected failure before commit")
	}
	return t.LedgerTx.Write(ctx, w)
}

// TestEngine_ExpireAcrossFailure: an expiry whose commit fails leaves the
// transfer held; the next run settles it exactly once.
func TestEngine_ExpireAcrossFailure(t *testing.T) { eachStore(t, testExpireAcrossFailure) }

func testExpireAcrossFailure(t *testing.T, open opener) {
	var fs *failingStore
	f := newPayFixture(t, func(t testing.TB) testStore {
		fs = &failingStore{testStore: open(t)}
		return fs
	}, 2)
	res := f.submit(&coffer.TransferRequest{Sender: f.members[0], From: f.purses[0].Number, To: f.purses[1].Number, Amount: 900, Protect: &coffer.Protection{Until: f.clock().Add(time.Hour)}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	f.advance(time.Hour)
	fs.fail.Store(1)
	wantCode(t, f.eng.Act(context.Background(), &coffer.HoldAction{Seq: res.Transfer.Seq, Action: coffer.HoldExpire}).Err, coffer.EUNAVAILABLE)
	f.wantMoney(f.purses[1], 1_000_000, 900)
	var wg sync.WaitGroup
	var settled atomic.Int64
	for i := 0; i < 5; i++ { // two schedulers catching up at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.eng.Act(context.Background(), &coffer.HoldAction{Seq: res.Transfer.Seq, Action: coffer.HoldExpire}).Err == nil {
				settled.Add(1)
			}
		}()
	}
	wg.Wait()
	if settled.Load() != 1 {
		t.Fatalf("settled %d times, want 1", settled.Load())
	}
	f.wantMoney(f.purses[1], 1_000_900, 0)
	f.check()
}

// TestEngine_PaymentsModel applies random sequences of every payment form
// and checks each outcome against a model of available and held money;
// every ledger invariant holds at the end.
func TestEngine_PaymentsModel(t *testing.T) { eachStore(t, testPaymentsModel) }

func testPaymentsModel(t *testing.T, open opener) {
	rapid.Check(t, func(rt *rapid.T) {
		f := newPayFixture(t, open, 3)
		if rapid.Bool().Draw(rt, "fees") {
			f.setFee(rapid.Int64Range(0, 50_000).Draw(rt, "ppm"), rapid.Int64Range(0, 50).Draw(rt, "min"), rapid.Int64Range(0, 5_000).Draw(rt, "max"))
		}
		rule := func() *coffer.FeeRule {
			rules, _ := f.db.FeeRules(context.Background())
			if len(rules) == 0 {
				return nil
			}
			return rules[0]
		}()
		all := append([]*coffer.Purse{f.fee, f.second}, f.purses...)
		avail, held := map[string]int64{}, map[string]int64{}
		for _, p := range all {
			avail[p.Number], held[p.Number] = f.money(p)
		}
		type heldT struct {
			t        *coffer.Transfer
			code     string
			attempts int
			done     bool
		}
		var holds []*heldT
		var completed []*coffer.Transfer
		refunded := map[int64]int64{}
		n := rapid.IntRange(1, 40).Draw(rt, "ops")
		for i := 0; i < n; i++ {
			switch op := rapid.IntRange(0, 5).Draw(rt, "op"); op {
			case 0, 1: // plain or protected transfer
				fi, ti := rapid.IntRange(0, len(f.purses)-1).Draw(rt, "from"), rapid.IntRange(0, len(f.purses)-1).Draw(rt, "to")
				from, to := f.purses[fi], f.purses[ti]
				amt := rapid.Int64Range(1, 600_000).Draw(rt, "amount")
				r := &coffer.TransferRequest{Sender: from.Owner, From: from.Number, To: to.Number, Amount: amt}
				code := ""
				if op == 1 {
					code = fmt.Sprint(rapid.IntRange(1000, 9999).Draw(rt, "code"))
					if rapid.Bool().Draw(rt, "byTime") {
						code = ""
						r.Protect = &coffer.Protection{Until: f.clock().Add(time.Hour)}
					} else {
						r.Protect = protectByCode(code, f.clock().Add(time.Hour))
					}
				}
				fee := int64(0)
				if from.Owner != to.Owner && rule != nil {
					fee = rule.Fee(amt)
				}
				res := f.submit(r)
				want := ""
				switch {
				case from == to:
					want = coffer.ESAMEPURSE
				case avail[from.Number] < amt+fee:
					want = coffer.EINSUFFICIENTFUNDS
				}
				if got := coffer.ErrorCode(res.Err); got != want {
					rt.Fatalf("op %d transfer %+v fee %d: got %q (%v), want %q", i, r, fee, got, res.Err, want)
				}
				if want != "" {
					continue
				}
				if res.Transfer.Fee != fee {
					rt.Fatalf("fee %d, want %d", res.Transfer.Fee, fee)
				}
				avail[from.Number] -= amt + fee
				if op == 1 {
					held[to.Number] += amt
					held[f.fee.Number] += fee
					holds = append(holds, &heldT{t: res.Transfer, code: code})
				} else {
					avail[to.Number] += amt
					avail[f.fee.Number] += fee
					completed = append(completed, res.Transfer)
				}
			case 2, 3: // release (right or wrong code), refuse
				if len(holds) == 0 {
					continue
				}
				h := holds[rapid.IntRange(0, len(holds)-1).Draw(rt, "hold")]
				action, code := coffer.HoldRelease, h.code
				switch {
				case op == 3:
					action = coffer.HoldRefuse
				case rapid.Bool().Draw(rt, "wrong"):
					code = "wrong"
				}
				res := f.eng.Act(context.Background(), &coffer.HoldAction{Actor: h.t.Payee, Seq: h.t.Seq, Action: action, Code: code})
				t := h.t
				release := func() {
					held[t.To] -= t.Amount
					avail[t.To] += t.Amount
					held[f.fee.Number] -= t.Fee
					avail[f.fee.Number] += t.Fee
					h.done = true
				}
				giveBack := func() {
					held[t.To] -= t.Amount
					avail[t.From] += t.Amount + t.Fee
					held[f.fee.Number] -= t.Fee
					h.done = true
				}
				want := ""
				switch {
				case h.done:
					want = coffer.ENOTHELD
				case action == coffer.HoldRefuse:
					giveBack()
				case h.code == "":
					want = coffer.EINVALID
				case !f.clock().Before(t.Protection.Until):
					want = coffer.ENOTHELD // period over: the scheduler sends it back
				case code != h.code:
					want = coffer.EWRONGCODE
					if h.attempts++; h.attempts >= coffer.MaxProtectAttempts {
						giveBack()
					}
				default:
					release()
				}
				if got := coffer.ErrorCode(res.Err); got != want {
					rt.Fatalf("op %d %s on %d: got %q (%v), want %q", i, action, t.Seq, got, res.Err, want)
				}
			case 4: // refund part of a completed transfer between members
				if len(completed) == 0 {
					continue
				}
				o := completed[rapid.IntRange(0, len(completed)-1).Draw(rt, "orig")]
				amt := rapid.Int64Range(1, o.Amount).Draw(rt, "refund")
				res := f.submit(&coffer.TransferRequest{Sender: o.Payee, From: o.To, To: o.From, Amount: amt, RefundOf: o.Seq})
				want := ""
				switch {
				case refunded[o.Seq]+amt > o.Amount:
					want = coffer.EREFUNDNOTALLOWED
				case avail[o.To] < amt:
					want = coffer.EINSUFFICIENTFUNDS
				}
				if got := coffer.ErrorCode(res.Err); got != want {
					rt.Fatalf("op %d refund %d of %+v: got %q (%v), want %q", i, amt, o, got, res.Err, want)
				}
				if want == "" {
					refunded[o.Seq] += amt
					avail[o.To] -= amt
					avail[o.From] += amt
				}
			case 5: // time passes; the scheduler settles what is due
				f.advance(time.Duration(rapid.IntRange(0, 90).Draw(rt, "minutes")) * time.Minute)
				due, err := f.db.HeldDue(context.Background(), f.clock(), 100)
				if err != nil {
					rt.Fatal(err)
				}
				for _, seq := range due {
					if res := f.eng.Act(context.Background(), &coffer.HoldAction{Seq: seq, Action: coffer.HoldExpire}); res.Err != nil {
						rt.Fatalf("expire %d: %v", seq, res.Err)
					}
					for _, h := range holds {
						if h.t.Seq == seq {
							t := h.t
							held[t.To] -= t.Amount
							held[f.fee.Number] -= t.Fee
							if h.code == "" {
								avail[t.To] += t.Amount
								avail[f.fee.Number] += t.Fee
							} else {
								avail[t.From] += t.Amount + t.Fee
							}
							h.done = true
						}
					}
				}
			}
		}
		for _, p := range all {
			a, h := f.money(p)
			if a != avail[p.Number] || h != held[p.Number] {
				rt.Fatalf("purse %s: available %d held %d, model %d and %d", p.Number, a, h, avail[p.Number], held[p.Number])
			}
		}
		f.check()
	})
}

// TestEngine_LevelDailyLimit: the daily limit of the owner's level counts
// every purse of the owner in the currency, and a lower limit holds at once.
func TestEngine_LevelDailyLimit(t *testing.T) { eachStore(t, testLevelDailyLimit) }

func testLevelDailyLimit(t *testing.T, open opener) {
	f := newPayFixture(t, open, 2)
	lim := func(v int64) *int64 { return &v }
	send := func(from *coffer.Purse, amount int64, limit *int64) error {
		return f.submit(&coffer.TransferRequest{Sender: f.members[0], From: from.Number, To: f.purses[1].Number, Amount: amount, OwnerDailyLimit: limit}).Err
	}
	f.mustSend(f.members[0], f.purses[0], f.second, 10_000) // own purses: no fee, and not limited here
	if err := send(f.purses[0], 600, lim(1_000)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, send(f.second, 401, lim(1_000)), coffer.ELIMITEXCEEDED) // the other purse counts the same day
	if err := send(f.second, 400, lim(1_000)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, send(f.purses[0], 1, lim(500)), coffer.ELIMITEXCEEDED) // lowered: at once
	if err := send(f.purses[0], 1, nil); err != nil {                  // no level limit at all
		t.Fatal(err)
	}
	f.advance(24 * time.Hour)
	if err := send(f.purses[0], 1_000, lim(1_000)); err != nil { // a new day
		t.Fatal(err)
	}
	f.check()
}

// oneDecimal is a currency table in which every currency has one decimal.
type oneDecimal struct{}

func (oneDecimal) Decimals(context.Context, string) int { return 1 }

// TestEngine_ConfigLevels: without a limit in the request, the engine
// applies the daily limit of the owner's level from Config.Levels, in the
// decimals Config.Currencies gives, and sees a changed level at once.
func TestEngine_ConfigLevels(t *testing.T) { eachStore(t, testConfigLevels) }

func testConfigLevels(t *testing.T, open opener) {
	levels, err := coffer.ParseLevels([]byte(`[{"name": "pseudonymous", "rank": 0},
		{"name": "capped", "rank": 5, "daily_limit": {"USD": "10.5", "*": "1"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	f := newPayFixtureConfig(t, open, 2, ledger.Config{Levels: levels, Currencies: oneDecimal{}})
	ctx := context.Background()
	setLevel := func(level string) {
		if err := f.db.SetLevel(ctx, f.members[0], level, f.clock(), nil); err != nil {
			t.Fatal(err)
		}
	}
	send := func(amount int64) error {
		return f.submit(&coffer.TransferRequest{Sender: f.members[0], From: f.purses[0].Number, To: f.purses[1].Number, Amount: amount}).Err
	}
	if err := send(500); err != nil { // the lowest level has no limit
		t.Fatal(err)
	}
	f.advance(24 * time.Hour)
	setLevel("capped") // 10.5 USD a day: 105 minor units with one decimal
	if err := send(100); err != nil {
		t.Fatal(err)
	}
	err = send(6)
	var le *coffer.LimitError
	if !errors.As(err, &le) || le.Period != "day" || le.Remaining != 5 || le.Decimals != 1 {
		t.Fatalf("got %v, want a daily LimitError with 5 remaining in one decimal", err)
	}
	if err := send(5); err != nil { // exactly at the limit
		t.Fatal(err)
	}
	setLevel(coffer.LevelPseudonymous) // a raised level holds at once too
	if err := send(1_000); err != nil {
		t.Fatal(err)
	}
	f.check()
}
