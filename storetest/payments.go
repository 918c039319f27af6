package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// base is a fixed instant the payment tests count from (whole
// milliseconds, as the stores keep them).
var base = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func invoiceString(i *coffer.Invoice) string {
	return fmt.Sprintf("%s %s→%s %s %s %d %q #%s %s seq=%d c=%s e=%s u=%s", i.ID, i.Payer, i.Merchant, i.Purse, i.Currency, i.Amount,
		i.Description, i.OrderNumber, i.State, i.TransferSeq, i.CreatedAt.Format(time.RFC3339Nano), i.ExpiresAt.Format(time.RFC3339Nano), i.UpdatedAt.Format(time.RFC3339Nano))
}

func invoiceIDs(list []*coffer.Invoice) []string {
	var ids []string
	for _, i := range list {
		ids = append(ids, i.ID)
	}
	return ids
}

func testInvoices(t *testing.T, s coffer.Store) {
	m := member(t, s, "", "")
	m2 := member(t, s, "", "")
	p := member(t, s, "", "")
	pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
	pm2 := purse(t, s, m2.ID, 'Z', "USD", false, 0)
	inv := func(id string, merchant *coffer.Member, pur *coffer.Purse, order string, at time.Time) *coffer.Invoice {
		return &coffer.Invoice{ID: id, Merchant: merchant.ID, Payer: p.ID, Purse: pur.Number, Currency: "USD", Amount: 1250,
			Description: "order " + order, OrderNumber: order, State: coffer.InvoicePending,
			CreatedAt: at, ExpiresAt: at.Add(72 * time.Hour), UpdatedAt: at}
	}
	i1 := inv("inv1", m, pm, "A-1", base)
	i2 := inv("inv2", m, pm, "A-2", base.Add(time.Minute))
	i3 := inv("inv3", m2, pm2, "A-1", base.Add(2*time.Minute)) // another merchant may use the same order number
	for _, i := range []*coffer.Invoice{i1, i2, i3} {
		if err := s.CreateInvoice(ctx, i); err != nil {
			t.Fatalf("CreateInvoice(%s): %v", i.ID, err)
		}
	}
	wantCode(t, s.CreateInvoice(ctx, inv("inv4", m, pm, "A-1", base.Add(3*time.Minute))), coffer.ECONFLICT)
	if _, err := s.Invoice(ctx, "inv4"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the refused invoice exists: %v", err)
	}

	got, err := s.Invoice(ctx, "inv2")
	if err != nil || invoiceString(got) != invoiceString(i2) {
		t.Fatalf("Invoice = %v, %v;\nwant %s", got, err, invoiceString(i2))
	}
	_, err = s.Invoice(ctx, "nope")
	wantCode(t, err, coffer.ENOTFOUND)

	list := func(f coffer.InvoiceFilter) []string {
		t.Helper()
		l, err := s.Invoices(ctx, f)
		if err != nil {
			t.Fatalf("Invoices(%+v): %v", f, err)
		}
		return invoiceIDs(l)
	}
	for _, c := range []struct {
		f    coffer.InvoiceFilter
		want []string
	}{
		{coffer.InvoiceFilter{Payer: p.ID, Limit: 10}, []string{"inv3", "inv2", "inv1"}},
		{coffer.InvoiceFilter{Merchant: m.ID, Limit: 10}, []string{"inv2", "inv1"}},
		{coffer.InvoiceFilter{Merchant: m2.ID, Limit: 10}, []string{"inv3"}},
		{coffer.InvoiceFilter{Merchant: p.ID, Limit: 10}, nil},
		{coffer.InvoiceFilter{Payer: p.ID, Limit: 2}, []string{"inv3", "inv2"}},
		{coffer.InvoiceFilter{Payer: p.ID, Limit: 2, Before: i2.CreatedAt}, []string{"inv1"}},
		{coffer.InvoiceFilter{Payer: p.ID, State: coffer.InvoicePaid, Limit: 10}, nil},
		{coffer.InvoiceFilter{Payer: p.ID}, []string{"inv3", "inv2", "inv1"}}, // no limit
	} {
		if got := list(c.f); !slices.Equal(got, c.want) {
			t.Fatalf("Invoices(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	_, err = s.Invoices(ctx, coffer.InvoiceFilter{State: coffer.InvoicePending, Limit: 10})
	wantCode(t, err, coffer.EINVALID)
	if !errors.Is(err, coffer.ErrNoInvoiceParty) {
		t.Fatalf("Invoices without a merchant or payer: got %v, want ErrNoInvoiceParty", err)
	}

	// EndInvoice moves only a pending invoice, and records its event only then.
	at := base.Add(time.Hour)
	ev := func() *coffer.AuditEvent {
		return coffer.NewAuditEvent(at, "invoice.cancelled", m.ID, map[string]any{"invoice_id": "inv1"})
	}
	if ok, err := s.EndInvoice(ctx, "inv1", coffer.InvoiceCancelled, at, ev()); err != nil || !ok {
		t.Fatalf("EndInvoice(pending) = %v, %v; want true", ok, err)
	}
	if ok, err := s.EndInvoice(ctx, "inv1", coffer.InvoiceRefused, at.Add(time.Minute), ev()); err != nil || ok {
		t.Fatalf("EndInvoice(cancelled) = %v, %v; want false", ok, err)
	}
	if ok, err := s.EndInvoice(ctx, "nope", coffer.InvoiceCancelled, at, nil); err != nil || ok {
		t.Fatalf("EndInvoice(unknown) = %v, %v; want false", ok, err)
	}
	if evs, err := s.AuditEvents(ctx, m.ID, 0, 10); err != nil || len(evs) != 1 || evs[0].Kind != "invoice.cancelled" {
		t.Fatalf("AuditEvents(merchant) = %d events, %v; want the one cancellation", len(evs), err)
	}
	got, err = s.Invoice(ctx, "inv1")
	if err != nil || got.State != coffer.InvoiceCancelled || !got.UpdatedAt.Equal(at) || got.TransferSeq != 0 {
		t.Fatalf("after EndInvoice: %+v, %v; want cancelled at %v", got, err, at)
	}
	if got := list(coffer.InvoiceFilter{Merchant: m.ID, State: coffer.InvoicePending, Limit: 10}); !slices.Equal(got, []string{"inv2"}) {
		t.Fatalf("pending invoices of the merchant = %q, want inv2", got)
	}
	if got := list(coffer.InvoiceFilter{Payer: p.ID, State: coffer.InvoiceCancelled, Limit: 10}); !slices.Equal(got, []string{"inv1"}) {
		t.Fatalf("cancelled invoices of the payer = %q, want inv1", got)
	}
	if _, err := s.EndInvoice(ctx, "inv2", coffer.InvoiceExpired, at, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Invoice(ctx, "inv2"); got.State != coffer.InvoiceExpired {
		t.Fatalf("inv2 state = %q, want expired", got.State)
	}

	// The ledger sees invoices too.
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		got, err := tx.Invoice(ctx, "inv3")
		if err != nil || got == nil || invoiceString(got) != invoiceString(i3) {
			return fmt.Errorf("LedgerTx.Invoice = %v, %v; want inv3", got, err)
		}
		if none, err := tx.Invoice(ctx, "nope"); none != nil || err != nil {
			return fmt.Errorf("LedgerTx.Invoice(unknown) = %v, %v; want nil", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
}

func trustString(x *coffer.Trust) string {
	return fmt.Sprintf("%s %s→%s %s %d/%d/%d c=%s r=%s", x.ID, x.Owner, x.Merchant, x.Purse, x.PerTransfer, x.PerDay, x.PerMonth,
		x.CreatedAt.Format(time.RFC3339Nano), x.RevokedAt.Format(time.RFC3339Nano))
}

func trustIDs(list []*coffer.Trust) []string {
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids
}

func testTrusts(t *testing.T, s coffer.Store) {
	o := member(t, s, "", "")
	mm := member(t, s, "", "")
	mm2 := member(t, s, "", "")
	po := purse(t, s, o.ID, 'Z', "USD", false, 0)
	t1 := &coffer.Trust{ID: "tr1", Owner: o.ID, Merchant: mm.ID, Purse: po.Number, PerTransfer: 5000, PerDay: 10000, PerMonth: 0, CreatedAt: base}
	t2 := &coffer.Trust{ID: "tr2", Owner: o.ID, Merchant: mm2.ID, Purse: po.Number, PerDay: 700, CreatedAt: base.Add(time.Minute)}
	// The merchant mm2 also trusts mm with a purse of its own.
	pm2 := purse(t, s, mm2.ID, 'Z', "USD", false, 0)
	t3 := &coffer.Trust{ID: "tr3", Owner: mm2.ID, Merchant: mm.ID, Purse: pm2.Number, PerMonth: 100, CreatedAt: base.Add(2 * time.Minute)}
	for _, x := range []*coffer.Trust{t1, t2, t3} {
		if err := s.CreateTrust(ctx, x, coffer.NewAuditEvent(x.CreatedAt, "trust.created", x.Owner, map[string]any{"trust_id": x.ID})); err != nil {
			t.Fatalf("CreateTrust(%s): %v", x.ID, err)
		}
	}
	if evs, err := s.AuditEvents(ctx, o.ID, 0, 10); err != nil || len(evs) != 2 || evs[0].Kind != "trust.created" {
		t.Fatalf("AuditEvents(owner) = %d, %v; want 2 trust.created", len(evs), err)
	}
	wantCode(t, s.CreateTrust(ctx, t1, nil), coffer.ECONFLICT)
	got, err := s.Trust(ctx, "tr1")
	if err != nil || trustString(got) != trustString(t1) || !got.Active() {
		t.Fatalf("Trust = %v, %v; want %s", got, err, trustString(t1))
	}
	_, err = s.Trust(ctx, "nope")
	wantCode(t, err, coffer.ENOTFOUND)
	for _, c := range []struct {
		member string
		want   []string
	}{
		{o.ID, []string{"tr2", "tr1"}},
		{mm.ID, []string{"tr3", "tr1"}},
		{mm2.ID, []string{"tr3", "tr2"}}, // as owner of one, merchant of the other
	} {
		l, err := s.Trusts(ctx, c.member)
		if err != nil || !slices.Equal(trustIDs(l), c.want) {
			t.Fatalf("Trusts = %q, %v; want %q", trustIDs(l), err, c.want)
		}
	}

	// Spend counters under the trust's key, apart from the purse's own.
	day, month := coffer.DayKey(base), coffer.MonthKey(base)
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		if got, err := tx.Trust(ctx, "tr1"); err != nil || got == nil || trustString(got) != trustString(t1) {
			return fmt.Errorf("LedgerTx.Trust = %v, %v; want tr1", got, err)
		}
		if none, err := tx.Trust(ctx, "nope"); none != nil || err != nil {
			return fmt.Errorf("LedgerTx.Trust(unknown) = %v, %v; want nil", none, err)
		}
		if err := tx.AddSpend(ctx, t1.SpendKey(), day, month, 300); err != nil {
			return err
		}
		if err := tx.AddSpend(ctx, t1.SpendKey(), day, month, 450); err != nil {
			return err
		}
		if d, mo, err := tx.PurseSpend(ctx, t1.SpendKey(), day, month); err != nil || d != 750 || mo != 750 {
			return fmt.Errorf("PurseSpend(trust key) = %d, %d, %v; want 750, 750", d, mo, err)
		}
		if d, mo, err := tx.PurseSpend(ctx, po.Number, day, month); err != nil || d != 0 || mo != 0 {
			return fmt.Errorf("PurseSpend(purse) = %d, %d, %v; want 0, 0", d, mo, err)
		}
		next := base.Add(24 * time.Hour)
		return tx.AddSpend(ctx, t1.SpendKey(), coffer.DayKey(next), coffer.MonthKey(next), 50)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at         time.Time
		day, month int64
	}{
		{base, 750, 800},
		{base.Add(24 * time.Hour), 50, 800},
		{base.AddDate(0, 1, 0), 0, 0},
	} {
		if d, mo, err := s.TrustSpend(ctx, t1, c.at); err != nil || d != c.day || mo != c.month {
			t.Fatalf("TrustSpend(%v) = %d, %d, %v; want %d, %d", c.at, d, mo, err, c.day, c.month)
		}
	}
	if d, mo, err := s.TrustSpend(ctx, t2, base); err != nil || d != 0 || mo != 0 {
		t.Fatalf("TrustSpend(unused trust) = %d, %d, %v; want 0, 0", d, mo, err)
	}

	// A trust is revoked once.
	at := base.Add(time.Hour)
	if ok, err := s.RevokeTrust(ctx, "tr1", at, coffer.NewAuditEvent(at, "trust.revoked", o.ID, nil)); err != nil || !ok {
		t.Fatalf("RevokeTrust = %v, %v; want true", ok, err)
	}
	if ok, err := s.RevokeTrust(ctx, "tr1", at.Add(time.Minute), coffer.NewAuditEvent(at, "trust.revoked", o.ID, nil)); err != nil || ok {
		t.Fatalf("RevokeTrust again = %v, %v; want false", ok, err)
	}
	if ok, err := s.RevokeTrust(ctx, "nope", at, nil); err != nil || ok {
		t.Fatalf("RevokeTrust(unknown) = %v, %v; want false", ok, err)
	}
	got, err = s.Trust(ctx, "tr1")
	if err != nil || got.Active() || !got.RevokedAt.Equal(at) {
		t.Fatalf("after RevokeTrust: %+v, %v; want revoked at %v", got, err, at)
	}
	if other, _ := s.Trust(ctx, "tr2"); !other.Active() {
		t.Fatal("revoking tr1 revoked tr2")
	}
	if l, err := s.Trusts(ctx, o.ID); err != nil || len(l) != 2 || l[1].RevokedAt.IsZero() {
		t.Fatalf("Trusts after revoking = %v, %v; want both, tr1 revoked", trustIDs(l), err)
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
}

func feeString(f *coffer.FeeRule) string {
	if f == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %d ppm min %d max %d → %s at %s", f.Currency, f.PPM, f.Min, f.Max, f.Purse, f.UpdatedAt.Format(time.RFC3339Nano))
}

func testFeeRules(t *testing.T, s coffer.Store) {
	op := member(t, s, "", "")
	fu := purse(t, s, op.ID, 'Z', "USD", false, 0)
	fe := purse(t, s, op.ID, 'E', "EUR", false, 0)
	rules := func() string {
		t.Helper()
		l, err := s.FeeRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range l {
			out = append(out, feeString(f))
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	ledgerRule := func(cur string) string {
		t.Helper()
		var f *coffer.FeeRule
		if err := s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
			var err error
			f, err = tx.FeeRule(ctx, cur)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return feeString(f)
	}
	if got := rules(); got != "[]" {
		t.Fatalf("FeeRules on a new store = %s, want none", got)
	}
	if got := ledgerRule("USD"); got != "<nil>" {
		t.Fatalf("LedgerTx.FeeRule before any rule = %s", got)
	}
	usd := &coffer.FeeRule{Currency: "USD", PPM: 8000, Min: 10, Max: 500, Purse: fu.Number, UpdatedAt: base}
	eur := &coffer.FeeRule{Currency: "EUR", PPM: 2500, Purse: fe.Number, UpdatedAt: base}
	for _, f := range []*coffer.FeeRule{usd, eur} {
		if err := s.SetFeeRule(ctx, f, coffer.NewAuditEvent(base, "admin.fee_set", "", map[string]any{"currency": f.Currency})); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := rules(), fmt.Sprint([]string{feeString(eur), feeString(usd)}); got != want {
		t.Fatalf("FeeRules = %s, want %s", got, want)
	}
	// A rule out of the table's range is refused as a fact, and changes nothing.
	bad := &coffer.FeeRule{Currency: "USD", PPM: 2_000_000, Purse: fu.Number, UpdatedAt: base}
	err := s.SetFeeRule(ctx, bad, coffer.NewAuditEvent(base, "admin.fee_set", "", nil))
	wantCode(t, err, coffer.EINVALID)
	if !errors.Is(err, coffer.ErrFeeRuleRange) {
		t.Fatalf("SetFeeRule out of range: got %v, want ErrFeeRuleRange", err)
	}
	if got, want := rules(), fmt.Sprint([]string{feeString(eur), feeString(usd)}); got != want {
		t.Fatalf("FeeRules after a refused rule = %s, want %s", got, want)
	}
	if got := ledgerRule("USD"); got != feeString(usd) {
		t.Fatalf("LedgerTx.FeeRule(USD) = %s, want %s", got, feeString(usd))
	}
	// Replacing a rule reaches the ledger from the next batch on.
	usd2 := &coffer.FeeRule{Currency: "USD", PPM: 5000, Min: 0, Max: 0, Purse: fu.Number, UpdatedAt: base.Add(time.Hour)}
	if err := s.SetFeeRule(ctx, usd2, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := rules(), fmt.Sprint([]string{feeString(eur), feeString(usd2)}); got != want {
		t.Fatalf("FeeRules after replacing = %s, want %s", got, want)
	}
	if got := ledgerRule("USD"); got != feeString(usd2) {
		t.Fatalf("LedgerTx.FeeRule(USD) after replacing = %s, want %s", got, feeString(usd2))
	}
	if ok, err := s.DeleteFeeRule(ctx, "USD", coffer.NewAuditEvent(base, "admin.fee_deleted", "", nil)); err != nil || !ok {
		t.Fatalf("DeleteFeeRule = %v, %v; want true", ok, err)
	}
	if ok, err := s.DeleteFeeRule(ctx, "USD", nil); err != nil || ok {
		t.Fatalf("DeleteFeeRule again = %v, %v; want false", ok, err)
	}
	if got, want := rules(), fmt.Sprint([]string{feeString(eur)}); got != want {
		t.Fatalf("FeeRules after deleting = %s, want %s", got, want)
	}
	if got := ledgerRule("USD"); got != "<nil>" {
		t.Fatalf("LedgerTx.FeeRule(USD) after deleting = %s, want none", got)
	}
	if got := ledgerRule("EUR"); got != feeString(eur) {
		t.Fatalf("LedgerTx.FeeRule(EUR) = %s, want %s", got, feeString(eur))
	}
	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() || rep.AuditEvents != 3 {
		t.Fatalf("Check = %+v, %v; want OK with 3 audit events", rep, err)
	}
}

// book builds ledger batches the way the engine does: it keeps each
// purse's available and held money and writes entries with their
// balances after.
type book struct {
	t         *testing.T
	s         coffer.Store
	bal, held map[string]int64
	w         *coffer.BatchWrites
}

func newBook(t *testing.T, s coffer.Store) *book {
	b := &book{t: t, s: s, bal: map[string]int64{}, held: map[string]int64{}}
	b.reset()
	return b
}

func (b *book) reset() {
	b.w = &coffer.BatchWrites{Balances: map[string]int64{}, Held: map[string]int64{}}
}

func (b *book) entry(tr *coffer.Transfer, purse, kind string, held bool, amount int64, counterparty string, at time.Time) {
	m, out := b.bal, b.w.Balances
	if held {
		m, out = b.held, b.w.Held
	}
	m[purse] += amount
	out[purse] = m[purse]
	b.w.Entries = append(b.w.Entries, &coffer.Entry{Purse: purse, Transfer: tr, Kind: kind, Held: held, Amount: amount,
		BalanceAfter: m[purse], Counterparty: counterparty, CreatedAt: at})
}

// send adds a new transfer with its entries: a plain or refund transfer
// arrives in the payee's available money, a protected one in its held
// money; a fee goes from the sender to the fee purse (held there with a
// protected transfer).
func (b *book) send(tr *coffer.Transfer) *coffer.Transfer {
	b.w.Transfers = append(b.w.Transfers, tr)
	b.entry(tr, tr.From, coffer.EntryTransfer, false, -tr.Amount, tr.To, tr.CreatedAt)
	if tr.Kind == coffer.KindProtected {
		b.entry(tr, tr.To, coffer.EntryHold, true, tr.Amount, tr.From, tr.CreatedAt)
	} else {
		b.entry(tr, tr.To, coffer.EntryTransfer, false, tr.Amount, tr.From, tr.CreatedAt)
	}
	if tr.Fee > 0 {
		b.entry(tr, tr.From, coffer.EntryFee, false, -tr.Fee, tr.FeePurse, tr.CreatedAt)
		// A protected transfer's fee is held too, so it can go back whole.
		b.entry(tr, tr.FeePurse, coffer.EntryFee, tr.Kind == coffer.KindProtected, tr.Fee, tr.From, tr.CreatedAt)
	}
	return tr
}

func (b *book) commit() {
	b.t.Helper()
	write(b.t, b.s, b.w)
	b.reset()
}

// ledgerPurse reads a purse through the ledger (and, in a store with a
// purse cache, from its cache).
func ledgerPurse(t *testing.T, s coffer.Store, number string) *coffer.Purse {
	t.Helper()
	var p *coffer.Purse
	if err := s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		var err error
		p, err = tx.Purse(ctx, number)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func transferString(x *coffer.Transfer) string {
	if x == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("#%d %s/%s %s→%s %d %s %q payee=%s at=%s kind=%s status=%s fee=%d→%q invoice=%q trust=%q refund_of=%d refunded=%d",
		x.Seq, x.Sender, x.TransferID, x.From, x.To, x.Amount, x.Currency, x.Description, x.Payee, x.CreatedAt.Format(time.RFC3339Nano),
		x.Kind, x.Status, x.Fee, x.FeePurse, x.InvoiceID, x.TrustID, x.RefundOf, x.Refunded)
	if p := x.Protection; p != nil {
		s += fmt.Sprintf(" protect code=%v salt=%x hash=%x until=%s attempts=%d", p.ByCode, p.CodeSalt, p.CodeHash, p.Until.Format(time.RFC3339Nano), p.Attempts)
	}
	return s
}

func seqs(list []*coffer.Transfer) []int64 {
	var out []int64
	for _, x := range list {
		out = append(out, x.Seq)
	}
	return out
}

func testPaymentLedger(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")  // issuer
	pa := member(t, s, "", "") // payer
	c := member(t, s, "", "")  // payee and merchant
	op := member(t, s, "", "") // operator, collects fees
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_000)
	pb := purse(t, s, pa.ID, 'Z', "USD", false, 0)
	pc := purse(t, s, c.ID, 'Z', "USD", false, 0)
	fp := purse(t, s, op.ID, 'Z', "USD", false, 0)
	b := newBook(t, s)
	at1, at2, at3, at4, at5 := base, base.Add(time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour), base.Add(4*time.Hour)
	tr := func(id string, from, to *coffer.Purse, sender, payee *coffer.Member, amount int64, at time.Time) *coffer.Transfer {
		return &coffer.Transfer{Sender: sender.ID, TransferID: id, From: from.Number, To: to.Number, Currency: "USD", Amount: amount,
			Description: "for " + id, Payee: payee.ID, CreatedAt: at, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted}
	}

	// Batch 1: money for the payer. The payee's purse enters the ledger's
	// cache (where a store has one) before it holds money.
	b.send(tr("fund", iss, pb, a, pa, 10_000, at1))
	b.commit()
	if p := ledgerPurse(t, s, pc.Number); p.Balance != 0 || p.Held != 0 {
		t.Fatalf("fresh payee purse: %+v", p)
	}

	// Batch 2: three protected transfers (one by code, with a fee; two by
	// time alone) and an invoice paid.
	salt, hash := coffer.HashProtectionCode("1234")
	tp := tr("p-code", pb, pc, pa, c, 1000, at2)
	tp.Kind, tp.Status, tp.Fee, tp.FeePurse = coffer.KindProtected, coffer.StatusHeld, 10, fp.Number
	tp.Protection = &coffer.Protection{ByCode: true, CodeSalt: salt, CodeHash: hash, Until: at2.Add(3 * 24 * time.Hour)}
	tp2 := tr("p-time-1", pb, pc, pa, c, 500, at2)
	tp2.Kind, tp2.Status, tp2.Fee, tp2.FeePurse = coffer.KindProtected, coffer.StatusHeld, 5, fp.Number
	tp2.Protection = &coffer.Protection{Until: at2.Add(24 * time.Hour)}
	tp3 := tr("p-time-2", pb, pc, pa, c, 300, at2)
	tp3.Kind, tp3.Status = coffer.KindProtected, coffer.StatusHeld
	tp3.Protection = &coffer.Protection{Until: at2.Add(2 * 24 * time.Hour)}
	inv := &coffer.Invoice{ID: "inv-paid", Merchant: c.ID, Payer: pa.ID, Purse: pc.Number, Currency: "USD", Amount: 200,
		Description: "goods", OrderNumber: "42", State: coffer.InvoicePending, CreatedAt: at1, ExpiresAt: at1.Add(72 * time.Hour), UpdatedAt: at1}
	if err := s.CreateInvoice(ctx, inv); err != nil {
		t.Fatal(err)
	}
	ti := tr("pay-invoice", pb, pc, pa, c, 200, at2)
	ti.InvoiceID = inv.ID
	for _, x := range []*coffer.Transfer{tp, tp2, tp3, ti} {
		b.send(x)
	}
	// The store sets the paid invoice's TransferSeq from the batch's
	// transfer for it, whose Seq is known only once written.
	b.w.Invoices = []*coffer.Invoice{{ID: inv.ID, State: coffer.InvoicePaid, UpdatedAt: at2}}
	b.commit()
	snap2bal, snap2held := b.bal[pc.Number], b.held[pc.Number]

	if got, err := s.Invoice(ctx, inv.ID); err != nil || got.State != coffer.InvoicePaid || got.TransferSeq != ti.Seq || !got.UpdatedAt.Equal(at2) {
		t.Fatalf("paid invoice = %+v, %v; want paid by #%d", got, err, ti.Seq)
	}
	if p := ledgerPurse(t, s, pc.Number); p.Balance != 200 || p.Held != 1800 {
		t.Fatalf("ledger's payee purse = balance %d held %d; want 200, 1800", p.Balance, p.Held)
	}
	if p, err := s.Purse(ctx, pc.Number); err != nil || p.Balance != 200 || p.Held != 1800 {
		t.Fatalf("payee purse = %+v, %v; want balance 200 held 1800", p, err)
	}
	if p, err := s.Purse(ctx, pb.Number); err != nil || p.Balance != 10_000-1000-10-500-5-300-200 || p.Held != 0 {
		t.Fatalf("payer purse = %+v, %v", p, err)
	}
	if p, err := s.Purse(ctx, fp.Number); err != nil || p.Balance != 0 || p.Held != 15 {
		t.Fatalf("fee purse = %+v, %v; want the two fees held", p, err)
	}
	if l, err := s.Purses(ctx, c.ID); err != nil || len(l) != 1 || l[0].Held != 1800 {
		t.Fatalf("Purses(payee) = %v, %v; want held 1800", l, err)
	}

	// The protection round-trips.
	got, err := s.TransferBySeq(ctx, tp.Seq)
	if err != nil || transferString(got) != transferString(tp) {
		t.Fatalf("TransferBySeq =\n%s, %v; want\n%s", transferString(got), err, transferString(tp))
	}
	if !got.Protection.CheckCode("1234") || got.Protection.CheckCode("1235") {
		t.Fatal("the stored protection does not check its code")
	}
	got, err = s.TransferBySeq(ctx, tp2.Seq)
	if err != nil || got.Protection == nil || got.Protection.ByCode || len(got.Protection.CodeSalt) != 0 || len(got.Protection.CodeHash) != 0 ||
		!got.Protection.Until.Equal(tp2.Protection.Until) {
		t.Fatalf("TransferBySeq(protected by time) = %s, %v", transferString(got), err)
	}
	if got, err := s.TransferBySeq(ctx, ti.Seq); err != nil || transferString(got) != transferString(ti) || got.Protection != nil {
		t.Fatalf("TransferBySeq(invoice payment) = %s, %v; want %s", transferString(got), err, transferString(ti))
	}
	_, err = s.TransferBySeq(ctx, 1_000_000)
	wantCode(t, err, coffer.ENOTFOUND)
	err = s.ApplyBatch(ctx, func(tx coffer.LedgerTx) error {
		got, err := tx.TransferBySeq(ctx, tp.Seq)
		if err != nil || transferString(got) != transferString(tp) {
			return fmt.Errorf("LedgerTx.TransferBySeq = %s, %v", transferString(got), err)
		}
		if got, err := tx.FindTransfer(ctx, pa.ID, "p-code"); err != nil || transferString(got) != transferString(tp) {
			return fmt.Errorf("LedgerTx.FindTransfer = %s, %v", transferString(got), err)
		}
		if none, err := tx.TransferBySeq(ctx, 1_000_000); none != nil || err != nil {
			return fmt.Errorf("LedgerTx.TransferBySeq(unknown) = %v, %v; want nil", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Transfer(ctx, c.ID, "p-code", ""); err != nil || transferString(got) != transferString(tp) {
		t.Fatalf("Transfer(payee) = %s, %v", transferString(got), err)
	}

	held := func(member *coffer.Member, want ...*coffer.Transfer) {
		t.Helper()
		l, err := s.HeldTransfers(ctx, member.ID)
		if err != nil || !slices.Equal(seqs(l), seqs(want)) {
			t.Fatalf("HeldTransfers = %v, %v; want %v", seqs(l), err, seqs(want))
		}
		for i := range l {
			if transferString(l[i]) != transferString(want[i]) {
				t.Fatalf("HeldTransfers[%d] = %s, want %s", i, transferString(l[i]), transferString(want[i]))
			}
		}
	}
	held(pa, tp3, tp2, tp)
	held(c, tp3, tp2, tp)
	held(a)
	due := func(now time.Time, limit int, want ...*coffer.Transfer) {
		t.Helper()
		got, err := s.HeldDue(ctx, now, limit)
		if err != nil || !slices.Equal(got, seqs(want)) {
			t.Fatalf("HeldDue(%v, %d) = %v, %v; want %v", now, limit, got, err, seqs(want))
		}
	}
	due(at2, 10)
	due(tp2.Protection.Until.Add(-time.Millisecond), 10)
	due(tp2.Protection.Until, 10, tp2) // due at the end of the period
	due(at2.AddDate(0, 0, 10), 10, tp2, tp3, tp)
	due(at2.AddDate(0, 0, 10), 2, tp2, tp3)

	// Batch 3: a wrong code.
	tp.Protection.Attempts = 1
	b.w.Updates = []*coffer.Transfer{tp}
	b.commit()
	if got, err := s.TransferBySeq(ctx, tp.Seq); err != nil || got.Status != coffer.StatusHeld || got.Protection.Attempts != 1 {
		t.Fatalf("after a wrong code: %s, %v; want held, 1 attempt", transferString(got), err)
	}

	// Batch 4: tp2 released to the payee, tp returned to the payer with its fee.
	b.entry(tp2, pc.Number, coffer.EntryRelease, true, -tp2.Amount, pb.Number, at3)
	b.entry(tp2, pc.Number, coffer.EntryRelease, false, tp2.Amount, pb.Number, at3)
	b.entry(tp2, fp.Number, coffer.EntryRelease, true, -tp2.Fee, pb.Number, at3)
	b.entry(tp2, fp.Number, coffer.EntryRelease, false, tp2.Fee, pb.Number, at3)
	tp2.Status = coffer.StatusReleased
	b.entry(tp, pc.Number, coffer.EntryReturn, true, -tp.Amount, pb.Number, at3)
	b.entry(tp, pb.Number, coffer.EntryReturn, false, tp.Amount, pc.Number, at3)
	b.entry(tp, fp.Number, coffer.EntryReturn, true, -tp.Fee, pb.Number, at3)
	b.entry(tp, pb.Number, coffer.EntryReturn, false, tp.Fee, fp.Number, at3)
	tp.Status = coffer.StatusReturned
	b.w.Updates = []*coffer.Transfer{tp2, tp}
	b.w.Events = []*coffer.AuditEvent{coffer.NewAuditEvent(at3, "transfer.released", c.ID, map[string]any{"transfer_seq": tp2.Seq})}
	b.commit()
	snap4bal, snap4held := b.bal[pc.Number], b.held[pc.Number]
	held(pa, tp3)
	held(c, tp3)
	due(at2.AddDate(0, 0, 10), 10, tp3)
	if got, err := s.TransferBySeq(ctx, tp2.Seq); err != nil || transferString(got) != transferString(tp2) {
		t.Fatalf("released = %s, %v; want %s", transferString(got), err, transferString(tp2))
	}
	if got, err := s.TransferBySeq(ctx, tp.Seq); err != nil || got.Status != coffer.StatusReturned || got.Protection.Attempts != 1 {
		t.Fatalf("returned = %s, %v", transferString(got), err)
	}
	if evs, err := s.AuditEvents(ctx, c.ID, 0, 10); err != nil || len(evs) != 1 || evs[0].Kind != "transfer.released" {
		t.Fatalf("AuditEvents(payee) = %d, %v; want the batch's event", len(evs), err)
	}
	if p := ledgerPurse(t, s, pc.Number); p.Balance != 700 || p.Held != 300 {
		t.Fatalf("ledger's payee purse after release and return = balance %d held %d; want 700, 300", p.Balance, p.Held)
	}

	// Batch 5: two refunds of the invoice payment, and a plain transfer
	// with a fee.
	r1 := tr("refund-1", pc, pb, c, pa, 50, at4)
	r1.Kind, r1.RefundOf = coffer.KindRefund, ti.Seq
	ti.Refunded = 50
	b.send(r1)
	tf := tr("with-fee", pb, pc, pa, c, 1000, at4)
	tf.Fee, tf.FeePurse = 8, fp.Number
	b.send(tf)
	b.w.Updates = []*coffer.Transfer{ti}
	b.commit()
	r2 := tr("refund-2", pc, pb, c, pa, 30, at5)
	r2.Kind, r2.RefundOf = coffer.KindRefund, ti.Seq
	ti.Refunded = 80
	b.send(r2)
	b.w.Updates = []*coffer.Transfer{ti}
	b.commit()
	refunds, err := s.Refunds(ctx, ti.Seq)
	if err != nil || len(refunds) != 2 || transferString(refunds[0]) != transferString(r1) || transferString(refunds[1]) != transferString(r2) {
		t.Fatalf("Refunds = %v, %v; want %v", seqs(refunds), err, []int64{r1.Seq, r2.Seq})
	}
	if l, err := s.Refunds(ctx, tp.Seq); err != nil || len(l) != 0 {
		t.Fatalf("Refunds(not refunded) = %v, %v; want none", seqs(l), err)
	}
	if got, err := s.TransferBySeq(ctx, ti.Seq); err != nil || got.Refunded != 80 || got.Status != coffer.StatusCompleted {
		t.Fatalf("refunded transfer = %s, %v; want refunded 80", transferString(got), err)
	}

	// Balances from the history, just before an instant.
	for _, c := range []struct {
		at              time.Time
		avail, heldWant int64
	}{
		{at1, 0, 0},
		{at2, 0, 0},
		{at2.Add(time.Millisecond), snap2bal, snap2held},
		{at3, snap2bal, snap2held},
		{at3.Add(time.Millisecond), snap4bal, snap4held},
		{at5.Add(time.Hour), b.bal[pc.Number], b.held[pc.Number]},
	} {
		if av, h, err := s.BalanceAt(ctx, pc.Number, c.at); err != nil || av != c.avail || h != c.heldWant {
			t.Fatalf("BalanceAt(%v) = %d, %d, %v; want %d, %d", c.at, av, h, err, c.avail, c.heldWant)
		}
	}
	if av, h, err := s.BalanceAt(ctx, pb.Number, at1.Add(time.Millisecond)); err != nil || av != 10_000 || h != 0 {
		t.Fatalf("BalanceAt(payer after funding) = %d, %d, %v; want 10000, 0", av, h, err)
	}

	// History lists held and available entries with their kind and
	// counterparty.
	hist, err := s.History(ctx, pc.Number, coffer.HistoryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range hist {
		lines = append(lines, fmt.Sprintf("%s %s held=%v %d after %d with %s", e.TransferID, e.Kind, e.Held, e.Amount, e.BalanceAfter, e.Counterparty))
	}
	slices.Reverse(lines)
	want := []string{
		fmt.Sprintf("p-code hold held=true 1000 after 1000 with %s", pb.Number),
		fmt.Sprintf("p-time-1 hold held=true 500 after 1500 with %s", pb.Number),
		fmt.Sprintf("p-time-2 hold held=true 300 after 1800 with %s", pb.Number),
		fmt.Sprintf("pay-invoice transfer held=false 200 after 200 with %s", pb.Number),
		fmt.Sprintf("p-time-1 release held=true -500 after 1300 with %s", pb.Number),
		fmt.Sprintf("p-time-1 release held=false 500 after 700 with %s", pb.Number),
		fmt.Sprintf("p-code return held=true -1000 after 300 with %s", pb.Number),
		fmt.Sprintf("refund-1 transfer held=false -50 after 650 with %s", pb.Number),
		fmt.Sprintf("with-fee transfer held=false 1000 after 1650 with %s", pb.Number),
		fmt.Sprintf("refund-2 transfer held=false -30 after 1620 with %s", pb.Number),
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("History(payee), oldest first:\n%s\nwant\n%s", fmt.Sprint(lines), fmt.Sprint(want))
	}
	feeHist, err := s.History(ctx, fp.Number, coffer.HistoryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	for _, e := range feeHist {
		lines = append(lines, fmt.Sprintf("%s %s held=%v %d after %d with %s", e.TransferID, e.Kind, e.Held, e.Amount, e.BalanceAfter, e.Counterparty))
	}
	slices.Reverse(lines)
	want = []string{
		fmt.Sprintf("p-code fee held=true 10 after 10 with %s", pb.Number),
		fmt.Sprintf("p-time-1 fee held=true 5 after 15 with %s", pb.Number),
		fmt.Sprintf("p-time-1 release held=true -5 after 10 with %s", pb.Number),
		fmt.Sprintf("p-time-1 release held=false 5 after 5 with %s", pb.Number),
		fmt.Sprintf("p-code return held=true -10 after 0 with %s", pb.Number),
		fmt.Sprintf("with-fee fee held=false 8 after 13 with %s", pb.Number),
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("History(fee purse), oldest first:\n%s\nwant\n%s", fmt.Sprint(lines), fmt.Sprint(want))
	}
	// The sender's fee entry names the fee purse, not the payee.
	payerHist, err := s.History(ctx, pb.Number, coffer.HistoryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	fees := 0
	for _, e := range payerHist {
		if e.Kind == coffer.EntryFee {
			fees++
			if e.Counterparty != fp.Number || e.Held || e.Amount >= 0 {
				t.Fatalf("payer's fee entry = %+v; want a debit to %s", e, fp.Number)
			}
		}
	}
	if fees != 3 {
		t.Fatalf("payer's history has %d fee entries, want 3", fees)
	}
	for _, p := range []*coffer.Purse{iss, pb, pc, fp} {
		got, err := s.Purse(ctx, p.Number)
		if err != nil || got.Balance != b.bal[p.Number] || got.Held != b.held[p.Number] {
			t.Fatalf("purse %s = %+v, %v; want balance %d held %d", p.Number, got, err, b.bal[p.Number], b.held[p.Number])
		}
	}

	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v; want all invariants to hold", rep, err)
	}
	if rep.Transfers != 8 || rep.Entries != int64(countEntries(t, s, iss, pb, pc, fp)) {
		t.Fatalf("Check counted %d transfers, %d entries", rep.Transfers, rep.Entries)
	}
}

func countEntries(t *testing.T, s coffer.Store, ps ...*coffer.Purse) int {
	t.Helper()
	n := 0
	for _, p := range ps {
		h, err := s.History(ctx, p.Number, coffer.HistoryFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n += len(h)
	}
	return n
}

// testLargeBatch writes more transfers and entries in one batch than one
// statement of most stores takes, plain ones mixed with payment forms.
func testLargeBatch(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	c := member(t, s, "", "")
	op := member(t, s, "", "")
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_000)
	fp := purse(t, s, op.ID, 'Z', "USD", false, 0)
	var to []*coffer.Purse
	for i := 0; i < 7; i++ {
		to = append(to, purse(t, s, c.ID, 'Z', "USD", false, 0))
	}
	b := newBook(t, s)
	var ts []*coffer.Transfer
	for i := 0; i < 301; i++ {
		x := &coffer.Transfer{Sender: a.ID, TransferID: fmt.Sprintf("l%d", i), From: iss.Number, To: to[i%7].Number, Currency: "USD",
			Amount: int64(1 + i), Payee: c.ID, CreatedAt: base, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted}
		switch i {
		case 150:
			x.Kind, x.Status = coffer.KindProtected, coffer.StatusHeld
			x.Protection = &coffer.Protection{Until: base.Add(24 * time.Hour)}
		case 290:
			x.Fee, x.FeePurse = 3, fp.Number
		}
		ts = append(ts, b.send(x))
	}
	b.commit()
	for i, x := range ts {
		if x.Seq != ts[0].Seq+int64(i) {
			t.Fatalf("transfer %d has seq %d; want %d", i, x.Seq, ts[0].Seq+int64(i))
		}
	}
	for _, i := range []int{0, 150, 255, 256, 290, 300} {
		got, err := s.TransferBySeq(ctx, ts[i].Seq)
		if err != nil || transferString(got) != transferString(ts[i]) {
			t.Fatalf("transfer %d = %s, %v; want %s", i, transferString(got), err, transferString(ts[i]))
		}
	}
	for _, p := range append([]*coffer.Purse{iss, fp}, to...) {
		got, err := s.Purse(ctx, p.Number)
		if err != nil || got.Balance != b.bal[p.Number] || got.Held != b.held[p.Number] {
			t.Fatalf("purse %s = %+v, %v; want balance %d held %d", p.Number, got, err, b.bal[p.Number], b.held[p.Number])
		}
	}
	if h, err := s.History(ctx, to[150%7].Number, coffer.HistoryFilter{Limit: 1000}); err != nil || len(h) != 43 {
		t.Fatalf("History = %d entries, %v; want 43", len(h), err)
	}
	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() || rep.Transfers != 301 || rep.Entries != 2*301+2 {
		t.Fatalf("Check = %+v, %v; want OK with 301 transfers and 604 entries", rep, err)
	}
}

// testExpiredInvoices: pending invoices past their expiry, oldest first,
// bounded; paid or ended ones never.
func testExpiredInvoices(t *testing.T, s coffer.Store) {
	m := member(t, s, "", "")
	p := member(t, s, "", "")
	pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
	mk := func(id string, expires time.Time) {
		t.Helper()
		if err := s.CreateInvoice(ctx, &coffer.Invoice{ID: id, Merchant: m.ID, Payer: p.ID, Purse: pm.Number, Currency: "USD", Amount: 5,
			OrderNumber: id, State: coffer.InvoicePending, CreatedAt: base, ExpiresAt: expires, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	mk("e1", base.Add(2*time.Hour))
	mk("e2", base.Add(time.Hour))
	mk("e3", base.Add(5*time.Hour)) // not yet
	mk("e4", base.Add(time.Hour))
	if ok, err := s.EndInvoice(ctx, "e4", coffer.InvoiceCancelled, base, nil); !ok || err != nil {
		t.Fatalf("EndInvoice = %v, %v", ok, err)
	}
	got, err := s.ExpiredInvoices(ctx, base.Add(3*time.Hour), 10)
	if err != nil || len(got) != 2 || got[0] != "e2" || got[1] != "e1" {
		t.Fatalf("ExpiredInvoices = %v, %v; want [e2 e1]", got, err)
	}
	if got, err := s.ExpiredInvoices(ctx, base.Add(3*time.Hour), 1); err != nil || len(got) != 1 || got[0] != "e2" {
		t.Fatalf("ExpiredInvoices(limit 1) = %v, %v; want [e2]", got, err)
	}
}

// testInvoiceByOrder: a merchant's invoice found by its order number (the
// hosted checkout's "already paid" lookup).
func testInvoiceByOrder(t *testing.T, s coffer.Store) {
	m := member(t, s, "", "")
	other := member(t, s, "", "")
	p := member(t, s, "", "")
	pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
	inv := &coffer.Invoice{ID: "ibo1", Merchant: m.ID, Payer: p.ID, Purse: pm.Number, Currency: "USD", Amount: 5,
		OrderNumber: "shop-7", State: coffer.InvoicePending, CreatedAt: base, ExpiresAt: base.Add(time.Hour), UpdatedAt: base}
	if err := s.CreateInvoice(ctx, inv); err != nil {
		t.Fatal(err)
	}
	got, err := s.InvoiceByOrder(ctx, m.ID, "shop-7")
	if err != nil || got.ID != "ibo1" {
		t.Fatalf("InvoiceByOrder = %+v, %v; want ibo1", got, err)
	}
	_, err = s.InvoiceByOrder(ctx, other.ID, "shop-7") // another merchant's order space
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.InvoiceByOrder(ctx, m.ID, "shop-8")
	wantCode(t, err, coffer.ENOTFOUND)
}
