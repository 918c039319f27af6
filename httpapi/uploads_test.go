package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/sqlite"
)

// newUploadEnv is newLevelEnv with the given upload settings; it returns
// the service too, for its scheduler.
func newUploadEnv(t *testing.T, uploads app.UploadConfig) (*env, *app.Service) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	levels, currencies := coffer.DefaultLevels(), app.NewCurrencies(db)
	engine := ledger.New(db, log, ledger.Config{Levels: levels, Currencies: currencies})
	go engine.Run()
	key := make([]byte, 32)
	rand.Read(key)
	clk := &clock{}
	svc := app.New(db, engine, log, app.Config{Hasher: cheapHasher, Now: clk.Now, Levels: levels, Currencies: currencies, DocumentKey: key, Uploads: uploads})
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	t.Cleanup(func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
	})
	return &env{t: t, srv: srv, db: db, clock: clk}, svc
}

// spooled lists the files waiting in the upload directory.
func spooled(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read upload directory: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestServer_UploadQuotas checks that documents waiting for their request
// are bounded per member and per client address, in documents (429 with
// Retry-After) and in bytes (413 upload_quota_exceeded); that they wait on
// disk sealed, never in plain; that submitting and expiring delete their
// files; and that a restart deletes what a former run left.
func TestServer_UploadQuotas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uploads")
	cfg := app.UploadConfig{Dir: dir, PerMember: 2, PerMemberBytes: 1500, PerAddress: 4, PerAddressBytes: 3500, TTL: time.Hour}
	e, svc := newUploadEnv(t, cfg)
	marker := []byte("PLAINTEXT-PASSPORT-NUMBER-0123456789 ")
	doc := func(size int) []byte {
		d := append([]byte(nil), pngDoc...)
		for len(d) < size {
			d = append(d, marker...)
		}
		return d[:size]
	}
	small, big := doc(100), doc(1000)
	post := func(m *member, d []byte) answer {
		return e.request(t, "POST", "/v1/verification/documents", m.token, d)
	}
	wantWait := func(a answer) {
		t.Helper()
		wantProblem(t, a, http.StatusTooManyRequests, coffer.ERATELIMITED)
		if secs, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 3601 {
			t.Errorf("got Retry-After %q, want the time until the oldest upload expires", a.Header.Get("Retry-After"))
		}
	}
	m1, m2, m3, m4, m5 := e.register(t, ""), e.register(t, ""), e.register(t, ""), e.register(t, ""), e.register(t, "")

	// Per member: documents, then bytes.
	d1 := upload(t, e, m1, small)
	d2 := upload(t, e, m1, big)
	wantWait(post(m1, small))
	upload(t, e, m2, big)
	wantProblem(t, post(m2, big), http.StatusRequestEntityTooLarge, coffer.EUPLOADQUOTA)
	// Per address: 3 waiting now; a fourth member fills the address.
	upload(t, e, m3, big)
	wantWait(post(m4, small))
	// A request takes its documents out of the spool, files and all.
	fillProfile(t, e, m1, "Lovelace")
	wantStatus(t, e.request(t, "POST", "/v1/verification", m1.token, map[string]any{"documents": []string{d1, d2}}), http.StatusCreated)
	for _, id := range []string{d1, d2} {
		if _, err := os.Stat(filepath.Join(dir, id+".sealed")); !os.IsNotExist(err) {
			t.Errorf("submitted document %s: got %v, want its file deleted", id, err)
		}
	}
	// 2 documents of 1000 bytes wait from the address; 3500 bytes are allowed.
	upload(t, e, m4, big)
	wantProblem(t, post(m5, big), http.StatusRequestEntityTooLarge, coffer.EUPLOADQUOTA)

	files := spooled(t, dir)
	if len(files) != 3 {
		t.Errorf("got files %v, want the 3 documents waiting", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, marker[:20]) || bytes.Contains(b, pngDoc[:8]) {
			t.Errorf("file %s holds the document in plain", f)
		}
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("file %s: got mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	// Waiting documents expire and their files go, without another upload.
	e.clock.Advance(cfg.TTL + time.Second)
	if _, err := svc.SchedulerTick(context.Background()); err != nil {
		t.Fatalf("SchedulerTick: %v", err)
	}
	if files := spooled(t, dir); len(files) != 0 {
		t.Errorf("after the TTL: got files %v, want none", files)
	}
	m5.token = e.login(t, m5.id, testPassword) // the session has expired meanwhile
	upload(t, e, m5, big)                      // the quotas are free again

	// A restart deletes the files a former run left, and nothing else.
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("not an upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	newUploadEnv(t, cfg)
	if files := spooled(t, dir); len(files) != 1 || files[0] != "notes.txt" {
		t.Errorf("after a restart: got files %v, want only notes.txt", files)
	}
}
