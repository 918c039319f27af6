package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/mail"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// mailbox keeps what the service mails.
type mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (b *mailbox) Enqueue(m mail.Message) bool {
	b.mu.Lock()
	b.sent = append(b.sent, m)
	b.mu.Unlock()
	return true
}

// TestService_ChangePassword checks the rules the HTTP tests do not see:
// only a session may change the password, the member is told by e-mail, and
// sessions cached in this process end at once.
func TestService_ChangePassword(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	box := &mailbox{}
	s := app.New(db, eng, log, app.Config{Mail: box,
		Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
	const old, next = "a long enough secret", "another long secret 7"
	m, err := s.Register(ctx, app.RegisterInput{Password: old, Email: "m@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	_, mine, err := s.Login(ctx, app.LoginInput{Login: m.ID, Password: old, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _, err := s.Login(ctx, app.LoginInput{Login: m.ID, Password: old, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, otherToken); err != nil { // now cached
		t.Fatal(err)
	}
	for _, method := range []string{"signature", "certificate"} {
		err := s.ChangePassword(ctx, app.Actor{MemberID: m.ID, IP: "192.0.2.1", Method: method}, "", old, next)
		if got := coffer.ErrorCode(err); got != coffer.EFORBIDDEN {
			t.Errorf("%s: got %q, want %q", method, got, coffer.EFORBIDDEN)
		}
	}
	box.mu.Lock()
	box.sent = nil
	box.mu.Unlock()
	if err := s.ChangePassword(ctx, app.Actor{MemberID: m.ID, IP: "192.0.2.1", Method: "session"}, mine.ID, old, next); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if _, err := s.Authenticate(ctx, otherToken); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Errorf("the other session after the change: got %v, want unauthorized at once", err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.sent) != 1 || box.sent[0].To != "m@example.org" || !strings.Contains(box.sent[0].Subject, "password was changed") ||
		!strings.Contains(box.sent[0].Body, "1 other session(s) were ended") {
		t.Errorf("got mail %+v, want one notice of the change to m@example.org", box.sent)
	}
}
