package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// TestServer_SignedNoncesPerMember: a member's signed requests, over all
// of its keys, have a bound of live nonces well below the server's whole
// cache. Past it the member is answered 429 rate_limited with Retry-After
// until its oldest nonce is forgotten; another member's signed requests go
// on meanwhile, and the refused requests leave no nonce behind.
func TestServer_SignedNoncesPerMember(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	const bound = 4
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Keys: app.KeyConfig{NoncesPerMember: bound}})
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() { srv.Close(); engine.Close(); <-engine.Done(); db.Close() })
	e := &env{t: t, srv: srv, db: db, clock: clk}

	flood, other := e.register(t, ""), e.register(t, "")
	k1, k2 := e.addKey(t, flood, "one"), e.addKey(t, flood, "two")
	ko := e.addKey(t, other, "other")
	for i := 0; i < bound; i++ {
		k := k1
		if i%2 == 1 {
			k = k2 // the member's keys share its bound
		}
		wantStatus(t, e.signedRequest(t, k, "GET", "/v1/purses", nil, signOpts{}), http.StatusOK)
		e.clock.Advance(time.Minute)
	}
	a := e.signedRequest(t, k2, "GET", "/v1/purses", nil, signOpts{})
	wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
	window := coffer.SignatureMaxAge + coffer.SignatureMaxSkew
	// The oldest nonce was made bound minutes ago and is forgotten when
	// the window ends (the test's clock runs on, hence the slack).
	ra, _ := strconv.Atoi(a.Header.Get("Retry-After"))
	if left := int((window - bound*time.Minute) / time.Second); ra < left-30 || ra > left+1 {
		t.Errorf("Retry-After %q, want about %d seconds", a.Header.Get("Retry-After"), left)
	}
	wantProblem(t, e.signedRequest(t, k1, "GET", "/v1/purses", nil, signOpts{}), http.StatusTooManyRequests, coffer.ERATELIMITED)
	// Another member is not held back by the flood.
	for i := 0; i < bound; i++ {
		wantStatus(t, e.signedRequest(t, ko, "GET", "/v1/purses", nil, signOpts{}), http.StatusOK)
	}
	// A session is not a signed request: the member can still act.
	wantStatus(t, e.request(t, "GET", "/v1/purses", flood.token, nil), http.StatusOK)
	// When the oldest nonce is forgotten, there is room for one more.
	e.clock.Advance(window - bound*time.Minute)
	wantStatus(t, e.signedRequest(t, k1, "GET", "/v1/purses", nil, signOpts{}), http.StatusOK)
	wantProblem(t, e.signedRequest(t, k1, "GET", "/v1/purses", nil, signOpts{}), http.StatusTooManyRequests, coffer.ERATELIMITED)
}
