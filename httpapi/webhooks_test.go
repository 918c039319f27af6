package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// newWebhookEnv is newEnv with webhooks to loopback allowed and a worker
// on the test's clock.
func newWebhookEnv(t *testing.T) (*env, *app.WebhookWorker) {
	t.Helper()
	return newWebhookEnvWith(t, app.WebhookConfig{AllowLoopback: true})
}

// newWebhookEnvWith is newWebhookEnv with the given webhook settings.
func newWebhookEnvWith(t *testing.T, wc app.WebhookConfig) (*env, *app.WebhookWorker) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Webhooks: wc})
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() { srv.Close(); engine.Close(); <-engine.Done(); db.Close() })
	w := app.NewWebhookWorker(svc)
	return &env{t: t, srv: srv, db: db, clock: clk}, w
}

type receiver struct {
	mu     sync.Mutex
	status int
	key    any
	now    func() time.Time
	got    []client.Event
	errs   []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ev, err := client.VerifyWebhookAt(r, rc.key, rc.now())
	if err != nil {
		rc.errs = append(rc.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, ev)
	w.WriteHeader(rc.status)
}

type deliveriesJSON struct {
	Deliveries []struct {
		EventID  string `json:"event_id"`
		Type     string `json:"type"`
		State    string `json:"state"`
		Attempts []struct {
			StatusCode int    `json:"status_code"`
			Error      string `json:"error"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

// TestWebhooks_Delivery: an incoming transfer reaches an HMAC endpoint and
// an Ed25519 one, signed so that client.VerifyWebhook accepts it; a failing
// endpoint is retried with doubling waits and given up after a day; the
// deliveries list shows each attempt; the observer hears of each attempt.
func TestWebhooks_Delivery(t *testing.T) {
	var omu sync.Mutex
	outcomes := map[string]int{}
	e, worker := newWebhookEnvWith(t, app.WebhookConfig{AllowLoopback: true, Observer: func(o string) {
		omu.Lock()
		outcomes[o]++
		omu.Unlock()
	}})
	ctx := context.Background()
	iss, issPurse := e.issuer(t, "USD", 1_000_000_00)
	m := e.register(t, "")
	mp := e.newPurse(t, m, "USD")

	ok := &receiver{status: http.StatusNoContent, now: e.clock.Now}
	okSrv := httptest.NewServer(ok)
	defer okSrv.Close()
	bad := &receiver{status: http.StatusInternalServerError, now: e.clock.Now}
	badSrv := httptest.NewServer(bad)
	defer badSrv.Close()

	a := e.request(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": okSrv.URL + "/hook", "events": []string{"transfer.incoming"}, "signing": "hmac"})
	wantStatus(t, a, http.StatusCreated)
	var hm struct {
		WebhookID string `json:"webhook_id"`
		Secret    string `json:"secret"`
	}
	a.decode(t, &hm)
	ok.key = hm.Secret
	a = e.request(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": badSrv.URL, "events": []string{"transfer.incoming"}, "signing": "ed25519"})
	wantStatus(t, a, http.StatusCreated)
	var ed struct {
		WebhookID string `json:"webhook_id"`
		PublicKey string `json:"public_key"`
		KeyID     string `json:"key_id"`
	}
	a.decode(t, &ed)
	pub, err := base64.RawURLEncoding.DecodeString(ed.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize || ed.KeyID == "" {
		t.Fatalf("ed25519 webhook: got key %q (%v), want a public key", ed.PublicKey, err)
	}
	bad.key = ed25519.PublicKey(pub)

	for _, c := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"url": "http://example.com/hook", "events": []string{"transfer.incoming"}}, http.StatusBadRequest},
		{map[string]any{"url": "https://10.0.0.1/hook", "events": []string{"transfer.incoming"}}, http.StatusBadRequest},
		{map[string]any{"url": "https://shop.example/hook", "events": []string{"nothing.happened"}}, http.StatusBadRequest},
		{map[string]any{"url": "https://shop.example/hook", "events": []string{"invoice.paid"}, "signing": "rsa"}, http.StatusBadRequest},
	} {
		wantStatus(t, e.request(t, "POST", "/v1/webhooks", m.token, c.body), c.want)
	}

	e.send(t, iss, issPurse, mp, "12.50")
	if n, err := worker.DeliverDue(ctx); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v; want 2", n, err)
	}
	if len(ok.got) != 1 || len(ok.errs) != 0 || ok.got[0].Type != coffer.EventTransferIncoming {
		t.Fatalf("hmac receiver got %+v, errors %v", ok.got, ok.errs)
	}
	d, err := ok.got[0].Decode()
	if err != nil || d.Amount != "12.50" || d.To != mp || d.Currency != "USD" || d.Status != "completed" {
		t.Fatalf("event data = %+v, %v", d, err)
	}
	if len(bad.got) != 1 || bad.got[0].EventID != ok.got[0].EventID {
		t.Fatalf("ed25519 receiver got %+v, errors %v", bad.got, bad.errs)
	}

	// Retries: not before 10 s, then doubling; the same event ID each time.
	if n, _ := worker.DeliverDue(ctx); n != 0 {
		t.Fatalf("a retry came at once: %d", n)
	}
	e.clock.Advance(11 * time.Second)
	if n, _ := worker.DeliverDue(ctx); n != 1 {
		t.Fatalf("retry after 11 s: %d deliveries, want 1", n)
	}
	e.clock.Advance(11 * time.Second)
	if n, _ := worker.DeliverDue(ctx); n != 0 {
		t.Fatalf("second retry came 11 s after the first: want a wait of about 20 s")
	}
	e.clock.Advance(10 * time.Second)
	if n, _ := worker.DeliverDue(ctx); n != 1 {
		t.Fatalf("second retry: %d deliveries, want 1", n)
	}
	for _, ev := range bad.got {
		if ev.EventID != bad.got[0].EventID {
			t.Fatalf("retries carry event IDs %s and %s", bad.got[0].EventID, ev.EventID)
		}
	}
	var dl deliveriesJSON
	a = e.request(t, "GET", "/v1/webhooks/"+ed.WebhookID+"/deliveries", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	a.decode(t, &dl)
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].State != coffer.DeliveryPending || len(dl.Deliveries[0].Attempts) != 3 {
		t.Fatalf("deliveries of the failing endpoint = %+v", dl)
	}
	a = e.request(t, "GET", "/v1/webhooks/"+hm.WebhookID+"/deliveries", m.token, nil)
	a.decode(t, &dl)
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].State != coffer.DeliveryDelivered || len(dl.Deliveries[0].Attempts) != 1 ||
		dl.Deliveries[0].Attempts[0].StatusCode != 204 {
		t.Fatalf("deliveries of the working endpoint = %+v", dl)
	}
	// Only the owner sees and deletes an endpoint.
	wantStatus(t, e.request(t, "GET", "/v1/webhooks/"+hm.WebhookID+"/deliveries", iss.token, nil), http.StatusNotFound)
	wantStatus(t, e.request(t, "DELETE", "/v1/webhooks/"+hm.WebhookID, iss.token, nil), http.StatusNotFound)
	wantStatus(t, e.request(t, "DELETE", "/v1/webhooks/"+hm.WebhookID, m.token, nil), http.StatusNoContent)
	a = e.request(t, "GET", "/v1/webhooks", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var list struct {
		Webhooks []struct {
			WebhookID string `json:"webhook_id"`
		} `json:"webhooks"`
	}
	a.decode(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].WebhookID != ed.WebhookID {
		t.Fatalf("webhooks after delete = %+v", list)
	}
	// A day later the endpoint is given up.
	for i := 0; i < 40; i++ {
		e.clock.Advance(time.Hour)
		worker.DeliverDue(ctx)
	}
	ds, err := e.db.Deliveries(ctx, ed.WebhookID, 0, 10)
	if err != nil || len(ds) != 1 || ds[0].State != coffer.DeliveryFailed || len(ds[0].Attempts) < 5 || len(ds[0].Attempts) > 40 ||
		ds[0].Attempts[0].StatusCode != 500 || ds[0].Attempts[0].Error != "http_status_500" || ds[0].Attempts[len(ds[0].Attempts)-1].At.Sub(ds[0].CreatedAt) < 24*time.Hour {
		t.Fatalf("deliveries of the failing endpoint = %+v, %v", ds, err)
	}
	n := len(ds[0].Attempts)
	e.clock.Advance(2 * time.Hour)
	worker.DeliverDue(ctx)
	if ds, _ := e.db.Deliveries(ctx, ed.WebhookID, 0, 10); len(ds[0].Attempts) != n {
		t.Fatalf("a failed delivery was tried again")
	}
	omu.Lock()
	defer omu.Unlock()
	if want := map[string]int{app.WebhookDelivered: 1, app.WebhookRetry: n - 1, app.WebhookGaveUp: 1}; !maps.Equal(outcomes, want) {
		t.Errorf("got observed outcomes %v, want %v", outcomes, want)
	}
}

// TestWebhooks_CreateLimit: 25 parallel creations by one member end with
// exactly MaxWebhooks endpoints, the others refused with limit_exceeded.
func TestWebhooks_CreateLimit(t *testing.T) {
	e, _ := newWebhookEnv(t)
	m := e.register(t, "")
	const tries = 25
	var wg sync.WaitGroup
	answers := make([]answer, tries)
	errs := make([]error, tries)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = e.tryRequest("POST", "/v1/webhooks", m.token,
				map[string]any{"url": fmt.Sprintf("https://shop.example/hook/%d", i), "events": []string{"transfer.incoming"}})
		}()
	}
	wg.Wait()
	created, limited := 0, 0
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		switch a.Status {
		case http.StatusCreated:
			created++
		default:
			wantProblem(t, a, http.StatusUnprocessableEntity, "limit_exceeded")
			limited++
		}
	}
	var list struct {
		Webhooks []struct {
			WebhookID string `json:"webhook_id"`
		} `json:"webhooks"`
	}
	e.request(t, "GET", "/v1/webhooks", m.token, nil).decode(t, &list)
	if created != app.MaxWebhooks || limited != tries-app.MaxWebhooks || len(list.Webhooks) != app.MaxWebhooks {
		t.Fatalf("after %d parallel creations: %d created, %d refused, %d listed; want %d, %d, %d",
			tries, created, limited, len(list.Webhooks), app.MaxWebhooks, tries-app.MaxWebhooks, app.MaxWebhooks)
	}
}

// TestWebhooks_CreateNeedsStepUp: an endpoint learns of every incoming
// payment, so once the member has a second factor, registering one needs
// the step-up proof; without it (or with a wrong code) nothing is created.
func TestWebhooks_CreateNeedsStepUp(t *testing.T) {
	e := newConfirmEnv(t)
	m := e.register(t, "")
	seed, _ := e.enrolTOTP(t, m)
	body := map[string]any{"url": "https://shop.example/hook", "events": []string{"transfer.incoming"}}

	wantProblem(t, e.request(t, "POST", "/v1/webhooks", m.token, body), http.StatusForbidden, "confirmation_required")
	var pj struct {
		ConfirmationID string `json:"confirmation_id"`
	}
	e.request(t, "POST", "/v1/webhooks", m.token, body).decode(t, &pj)
	if pj.ConfirmationID == "" {
		t.Fatalf("got %+v, want a confirmation to answer", pj)
	}
	wantProblem(t, e.request(t, "POST", "/v1/webhooks", m.token, body, httpapi.ConfirmationHeader, pj.ConfirmationID+":000000"),
		http.StatusUnauthorized, "confirmation_failed")
	var list struct {
		Webhooks []struct {
			WebhookID string `json:"webhook_id"`
		} `json:"webhooks"`
	}
	e.request(t, "GET", "/v1/webhooks", m.token, nil).decode(t, &list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("got %d webhooks without a valid proof, want none", len(list.Webhooks))
	}
	wantStatus(t, e.request(t, "POST", "/v1/webhooks", m.token, body, httpapi.ConfirmationHeader, pj.ConfirmationID+":"+e.totp(seed)), http.StatusCreated)
	e.request(t, "GET", "/v1/webhooks", m.token, nil).decode(t, &list)
	if len(list.Webhooks) != 1 {
		t.Fatalf("got %d webhooks after the proof, want 1", len(list.Webhooks))
	}
}

// TestWebhooks_AttemptDurationClockBack: a delivery attempt during which
// the clock steps back two hours records how long it took, not a
// negative time.
func TestWebhooks_AttemptDurationClockBack(t *testing.T) {
	e, worker := newWebhookEnv(t)
	iss, issPurse := e.issuer(t, "USD", 1_000_000_00)
	m := e.register(t, "")
	mp := e.newPurse(t, m, "USD")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.clock.Advance(-2 * time.Hour)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	a := e.request(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": srv.URL, "events": []string{"transfer.incoming"}, "signing": "hmac"})
	wantStatus(t, a, http.StatusCreated)
	var hm struct {
		WebhookID string `json:"webhook_id"`
	}
	a.decode(t, &hm)
	e.send(t, iss, issPurse, mp, "1.00")
	if n, err := worker.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v; want 1", n, err)
	}
	var dl struct {
		Deliveries []struct {
			Attempts []struct {
				DurationMs int64 `json:"duration_ms"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	a = e.request(t, "GET", "/v1/webhooks/"+hm.WebhookID+"/deliveries", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	a.decode(t, &dl)
	if len(dl.Deliveries) != 1 || len(dl.Deliveries[0].Attempts) != 1 {
		t.Fatalf("deliveries: got %+v, want one with one attempt", dl)
	}
	if d := dl.Deliveries[0].Attempts[0].DurationMs; d < 0 || d > time.Minute.Milliseconds() {
		t.Errorf("attempt duration: got %d ms, want the few it took", d)
	}
}
