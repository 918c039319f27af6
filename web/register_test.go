package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/web"
)

// TestServer_RegisterLimitSharedWithAPI checks that the registrations of
// one address are counted once, whether they come through the API or the
// pages: a stranger cannot get twice the bound by using both.
func TestServer_RegisterLimitSharedWithAPI(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	engine := ledger.New(db, log, ledger.Config{})
	go engine.Run()
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, RegisterPerHour: 3})
	keeper, err := web.New(svc, log, web.Config{})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	pages := httptest.NewServer(keeper)
	api := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{}))
	t.Cleanup(func() {
		pages.Close()
		api.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	e := &env{srv: pages, web: keeper, svc: svc, db: db, clock: clk}
	viaAPI := func() int {
		resp, err := http.Post(api.URL+"/v1/members", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
		if err != nil {
			t.Fatalf("POST /v1/members: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	viaPages := func() page {
		b := e.browser(t)
		b.get("/register")
		return b.post("/register", url.Values{"password": {testPassword}, "password2": {testPassword}})
	}
	for i := range 2 {
		if got := viaAPI(); got != http.StatusCreated {
			t.Fatalf("API registration %d: got %d, want 201", i+1, got)
		}
	}
	if p := viaPages(); p.Status != http.StatusSeeOther || p.Location() != "/register/done" {
		t.Fatalf("third registration, through the pages: got %d to %q, want 303 to /register/done", p.Status, p.Location())
	}
	if got := viaAPI(); got != http.StatusTooManyRequests {
		t.Errorf("fourth registration, through the API: got %d, want 429", got)
	}
	if p := viaPages(); p.Status != http.StatusTooManyRequests || !bytes.Contains([]byte(p.Body), []byte("Too many accounts")) {
		t.Errorf("fourth registration, through the pages: got %d, want 429 saying too many accounts", p.Status)
	}
	clk.Advance(time.Hour + time.Second)
	if got := viaAPI(); got != http.StatusCreated {
		t.Errorf("after an hour: got %d, want 201", got)
	}
}
