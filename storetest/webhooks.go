package storetest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// testWebhooks: endpoints, the outbox the ledger batch fills in its own
// transaction (only for subscribed endpoints, checkout.paid only for a
// checkout's invoice), claims that never hand one delivery to two workers,
// attempts, checkout orders, secrets and nonces.
func testWebhooks(t *testing.T, s coffer.Store) {
	t.Run("Limit", func(t *testing.T) { testWebhookLimit(t, s) })
	a := member(t, s, "", "") // issuer
	m := member(t, s, "", "") // merchant with endpoints
	p := member(t, s, "", "") // payer without endpoints
	iss := purse(t, s, a.ID, 'Z', "USD", true, 1_000_000)
	pm := purse(t, s, m.ID, 'Z', "USD", false, 0)
	pp := purse(t, s, p.ID, 'Z', "USD", false, 0)
	at := base

	// A batch with no endpoint anywhere writes nothing to the outbox.
	b := newBook(t, s)
	tr := func(id string, from, to *coffer.Purse, sender, payee *coffer.Member, amount int64) *coffer.Transfer {
		return &coffer.Transfer{Sender: sender.ID, TransferID: id, From: from.Number, To: to.Number, Currency: "USD", Amount: amount,
			Payee: payee.ID, CreatedAt: at, Kind: coffer.KindTransfer, Status: coffer.StatusCompleted}
	}
	b.send(tr("fund-p", iss, pp, a, p, 10_000))
	b.commit()

	all := &coffer.Webhook{ID: "wh_all", MemberID: m.ID, URL: "https://shop.example/hook", Events: coffer.WebhookEventTypes,
		Signing: coffer.SigningHMAC, SealedSecret: []byte("sealed"), CreatedAt: at}
	inv := &coffer.Webhook{ID: "wh_inv", MemberID: m.ID, URL: "https://shop.example/inv", Events: []string{coffer.EventInvoicePaid},
		Signing: coffer.SigningEd25519, CreatedAt: at.Add(time.Second)}
	for _, w := range []*coffer.Webhook{all, inv} {
		if err := s.CreateWebhook(ctx, w, 10, coffer.NewAuditEvent(at, "webhook.created", m.ID, map[string]any{"webhook_id": w.ID})); err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}
	}
	if evs, err := s.AuditEvents(ctx, m.ID, 0, 10); err != nil || len(evs) != 2 || evs[0].Kind != "webhook.created" {
		t.Fatalf("audit events after CreateWebhook = %+v, %v; want 2 webhook.created", evs, err)
	}
	if err := s.CreateWebhook(ctx, all, 10, nil); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("CreateWebhook twice: got %v, want %s", err, coffer.ECONFLICT)
	}
	list, err := s.Webhooks(ctx, m.ID)
	if err != nil || len(list) != 2 || list[0].ID != all.ID || len(list[0].Events) != len(coffer.WebhookEventTypes) ||
		string(list[0].SealedSecret) != "sealed" || list[1].Signing != coffer.SigningEd25519 || !list[1].Subscribes(coffer.EventInvoicePaid) {
		t.Fatalf("Webhooks = %+v, %v", list, err)
	}
	if _, err := s.Webhook(ctx, "wh_none"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("Webhook(unknown): got %v, want %s", err, coffer.ENOTFOUND)
	}

	// Checkout invoice and a plain invoice, both paid in one batch, and a
	// plain transfer: the merchant's endpoints get their events.
	mkInv := func(id, order string) *coffer.Invoice {
		i := &coffer.Invoice{ID: id, Merchant: m.ID, Payer: p.ID, Purse: pm.Number, Currency: "USD", Amount: 100,
			OrderNumber: order, State: coffer.InvoicePending, CreatedAt: at, ExpiresAt: at.Add(time.Hour), UpdatedAt: at}
		if err := s.CreateInvoice(ctx, i); err != nil {
			t.Fatal(err)
		}
		return i
	}
	ci, pi := mkInv("inv_checkout", "c-1"), mkInv("inv_plain", "p-1")
	co := &coffer.Checkout{InvoiceID: ci.ID, Merchant: m.ID, OrderNumber: "c-1", ResultURL: "https://shop.example/done", CreatedAt: at}
	if err := s.CreateCheckout(ctx, co); err != nil {
		t.Fatalf("CreateCheckout: %v", err)
	}
	if err := s.CreateCheckout(ctx, co); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("CreateCheckout twice: got %v, want %s", err, coffer.ECONFLICT)
	}
	if got, err := s.Checkout(ctx, ci.ID); err != nil || got.ResultURL != co.ResultURL || got.OrderNumber != "c-1" {
		t.Fatalf("Checkout = %+v, %v", got, err)
	}
	if _, err := s.Checkout(ctx, pi.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("Checkout(plain invoice): got %v, want %s", err, coffer.ENOTFOUND)
	}
	t1 := tr("pay-checkout", pp, pm, p, m, 100)
	t1.InvoiceID = ci.ID
	t2 := tr("pay-plain", pp, pm, p, m, 100)
	t2.InvoiceID = pi.ID
	t3 := tr("gift", pp, pm, p, m, 50)
	for _, x := range []*coffer.Transfer{t1, t2, t3} {
		b.send(x)
	}
	b.w.Invoices = []*coffer.Invoice{{ID: ci.ID, State: coffer.InvoicePaid, UpdatedAt: at}, {ID: pi.ID, State: coffer.InvoicePaid, UpdatedAt: at}}
	b.commit()

	type key struct {
		typ string
		seq int64
	}
	events := func(id string) []key {
		t.Helper()
		ds, err := s.Deliveries(ctx, id, 0, 100)
		if err != nil {
			t.Fatalf("Deliveries: %v", err)
		}
		var out []key
		ids := map[string]bool{}
		for _, d := range ds {
			if d.State != coffer.DeliveryPending || d.MemberID != m.ID || d.EventID == "" || ids[d.EventID] || d.WebhookID != id {
				t.Fatalf("delivery %+v", d)
			}
			ids[d.EventID] = true
			out = append(out, key{d.Type, d.TransferSeq})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].seq != out[j].seq {
				return out[i].seq < out[j].seq
			}
			return out[i].typ < out[j].typ
		})
		return out
	}
	want := []key{{coffer.EventCheckoutPaid, t1.Seq}, {coffer.EventInvoicePaid, t1.Seq}, {coffer.EventTransferIncoming, t1.Seq},
		{coffer.EventInvoicePaid, t2.Seq}, {coffer.EventTransferIncoming, t2.Seq}, {coffer.EventTransferIncoming, t3.Seq}}
	if got := events(all.ID); !equalKeys(got, want) {
		t.Fatalf("outbox of %s = %v, want %v", all.ID, got, want)
	}
	if got, want := events(inv.ID), []key{{coffer.EventInvoicePaid, t1.Seq}, {coffer.EventInvoicePaid, t2.Seq}}; !equalKeys(got, want) {
		t.Fatalf("outbox of %s = %v, want %v", inv.ID, got, want)
	}

	// A protected transfer held, then returned: incoming (held) to the
	// payee, returned to both sides (the payer has no endpoint).
	tp := tr("protected", pp, pm, p, m, 70)
	tp.Kind, tp.Status = coffer.KindProtected, coffer.StatusHeld
	tp.Protection = &coffer.Protection{Until: at.Add(24 * time.Hour)}
	b.send(tp)
	b.commit()
	tp.Status = coffer.StatusReturned
	b.w.Updates = []*coffer.Transfer{tp}
	b.entry(tp, pm.Number, coffer.EntryReturn, true, -70, pp.Number, at)
	b.entry(tp, pp.Number, coffer.EntryReturn, false, 70, pm.Number, at)
	b.commit()
	ds, err := s.Deliveries(ctx, all.ID, 0, 2)
	if err != nil || len(ds) != 2 || ds[0].Type != coffer.EventTransferReturned || ds[0].Status != coffer.StatusReturned ||
		ds[1].Type != coffer.EventTransferIncoming || ds[1].Status != coffer.StatusHeld || ds[1].TransferSeq != tp.Seq {
		t.Fatalf("newest deliveries = %+v, %v", ds, err)
	}
	if older, err := s.Deliveries(ctx, all.ID, ds[1].ID, 100); err != nil || len(older) != 6 {
		t.Fatalf("older deliveries: %d, %v; want 6", len(older), err)
	}

	// The backlog the metrics report: every delivery so far is pending.
	if n, oldest, err := s.PendingDeliveries(ctx); err != nil || n != 10 || oldest.IsZero() || oldest.After(at.Add(time.Second)) {
		t.Fatalf("PendingDeliveries = %d, %v, %v; want 10, the first delivery's time (near %v)", n, oldest, err, at)
	}

	// Claims: two workers at once never share a delivery; a claimed
	// delivery is not due again before its lease ends.
	now := at.Add(time.Minute)
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimDeliveries(ctx, now, now.Add(time.Minute), 3)
			if err != nil {
				t.Errorf("ClaimDeliveries: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				claimed[d.ID]++
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 10 {
		t.Fatalf("claimed %d deliveries, want 10", len(claimed))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
	if got, err := s.ClaimDeliveries(ctx, now.Add(30*time.Second), now.Add(time.Hour), 100); err != nil || len(got) != 0 {
		t.Fatalf("claim during the lease: %d, %v; want none", len(got), err)
	}
	later := now.Add(2 * time.Minute)
	got, err := s.ClaimDeliveries(ctx, later, later.Add(time.Minute), 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim after the lease: %v, %v", got, err)
	}
	d := got[0]
	a1 := &coffer.DeliveryAttempt{At: later, StatusCode: 500, Error: "status 500", Duration: 12 * time.Millisecond}
	if err := s.RecordAttempt(ctx, d.ID, a1, coffer.DeliveryPending, later.Add(10*time.Second)); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	a2 := &coffer.DeliveryAttempt{At: later.Add(10 * time.Second), StatusCode: 204}
	if err := s.RecordAttempt(ctx, d.ID, a2, coffer.DeliveryDelivered, later.Add(10*time.Second)); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	if n, _, err := s.PendingDeliveries(ctx); err != nil || n != 9 {
		t.Fatalf("PendingDeliveries after one was delivered = %d, %v; want 9", n, err)
	}
	if err := s.RecordAttempt(ctx, 1<<40, a2, coffer.DeliveryDelivered, later); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("RecordAttempt(unknown): got %v, want %s", err, coffer.ENOTFOUND)
	}
	var found *coffer.Delivery
	for _, id := range []string{all.ID, inv.ID} {
		ds, _ := s.Deliveries(ctx, id, 0, 100)
		for _, x := range ds {
			if x.ID == d.ID {
				found = x
			}
		}
	}
	if found == nil || found.State != coffer.DeliveryDelivered || len(found.Attempts) != 2 || found.Attempts[0].StatusCode != 500 ||
		found.Attempts[0].Error != "status 500" || found.Attempts[0].Duration != 12*time.Millisecond || found.Attempts[1].StatusCode != 204 ||
		!found.Attempts[1].At.Equal(a2.At) {
		t.Fatalf("delivery after attempts = %+v", found)
	}

	// Deleting an endpoint takes its outbox with it; only the owner may.
	if err := s.DeleteWebhook(ctx, p.ID, inv.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("DeleteWebhook by another member: got %v, want %s", err, coffer.ENOTFOUND)
	}
	if err := s.DeleteWebhook(ctx, m.ID, inv.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if ds, err := s.Deliveries(ctx, inv.ID, 0, 100); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of a deleted endpoint: %d, %v", len(ds), err)
	}
	if list, _ := s.Webhooks(ctx, m.ID); len(list) != 1 {
		t.Fatalf("Webhooks after delete: %d, want 1", len(list))
	}

	// Checkout secrets and nonces.
	if _, err := s.CheckoutSecret(ctx, m.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("CheckoutSecret unset: got %v, want %s", err, coffer.ENOTFOUND)
	}
	for _, sec := range []string{"one", "two"} {
		if err := s.SetCheckoutSecret(ctx, m.ID, []byte(sec), at); err != nil {
			t.Fatal(err)
		}
	}
	if sec, err := s.CheckoutSecret(ctx, m.ID); err != nil || string(sec) != "two" {
		t.Fatalf("CheckoutSecret = %q, %v; want two", sec, err)
	}
	for i, c := range []struct {
		merchant, nonce string
		now             time.Time
		want            bool
	}{
		{m.ID, "n1", at, true},
		{m.ID, "n1", at.Add(time.Minute), false},
		{p.ID, "n1", at, true},
		{m.ID, "n1", at.Add(2 * time.Hour), true}, // its first use has expired
	} {
		got, err := s.UseCheckoutNonce(ctx, c.merchant, c.nonce, c.now, c.now.Add(time.Hour))
		if err != nil || got != c.want {
			t.Fatalf("case %d: UseCheckoutNonce = %v, %v; want %v", i, got, err, c.want)
		}
	}
}

func equalKeys[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testWebhookLimit: the count and the insert of CreateWebhook are one
// transaction, so 25 concurrent creations for one member end with exactly
// max endpoints, the rest refused with ELIMITEXCEEDED and no audit event.
func testWebhookLimit(t *testing.T, s coffer.Store) {
	m := member(t, s, "", "")
	const max, tries = 10, 25
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &coffer.Webhook{ID: fmt.Sprintf("wh_limit_%02d", i), MemberID: m.ID, URL: "https://shop.example/hook",
				Events: []string{coffer.EventInvoicePaid}, Signing: coffer.SigningEd25519, CreatedAt: base}
			errs[i] = s.CreateWebhook(ctx, w, max, coffer.NewAuditEvent(base, "webhook.created", m.ID, map[string]any{"webhook_id": w.ID}))
		}()
	}
	wg.Wait()
	var ok, limited int
	for _, err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			ok++
		case coffer.ELIMITEXCEEDED:
			limited++
		default:
			t.Fatalf("CreateWebhook: got %v, want success or %s", err, coffer.ELIMITEXCEEDED)
		}
	}
	list, err := s.Webhooks(ctx, m.ID)
	if err != nil || len(list) != max || ok != max || limited != tries-max {
		t.Fatalf("after %d concurrent creations: %d endpoints (%v), %d created, %d refused; want %d, %d, %d",
			tries, len(list), err, ok, limited, max, max, tries-max)
	}
	if evs, err := s.AuditEvents(ctx, m.ID, 0, 100); err != nil || len(evs) != max {
		t.Fatalf("audit events: got %d (%v), want %d", len(evs), err, max)
	}
}
