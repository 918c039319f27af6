package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

func newService(t *testing.T) *app.Service {
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	return app.New(db, eng, log, app.Config{Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}})
}

// TestService_LoginThrottleIsPerMember checks that the member's ID, e-mail
// and phone share one guessing budget: failures spread over the aliases
// still lock the member for that address (and only for it). While locked,
// the right password under a name that is not locked itself is refused as
// a wrong one, so the lock does not tell which names belong together.
func TestService_LoginThrottleIsPerMember(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	m, err := s.Register(ctx, app.RegisterInput{Password: "a long enough secret", Email: "m@example.org", Phone: "+14155550199"})
	if err != nil {
		t.Fatal(err)
	}
	aliases := []string{m.ID, "m@example.org", "+14155550199"}
	for i := 0; i < 8; i++ {
		_, _, err := s.Login(ctx, app.LoginInput{Login: aliases[i%3], Password: "wrong password here", IP: "192.0.2.1"})
		if got := coffer.ErrorCode(err); got != coffer.EUNAUTHORIZED {
			t.Fatalf("failure %d over 3 aliases: got %q, want %q", i+1, got, coffer.EUNAUTHORIZED)
		}
	}
	_, sess, err := s.Login(ctx, app.LoginInput{Login: "M@example.org", Password: "a long enough secret", IP: "192.0.2.1"})
	if sess != nil || err != app.ErrBadCredentials {
		t.Fatalf("right password while the member is locked: got session %v, error %v; want %v", sess != nil, err, app.ErrBadCredentials)
	}
	if _, _, err = s.Login(ctx, app.LoginInput{Login: "M@example.org", Password: "a long enough secret", IP: "192.0.2.2"}); err != nil {
		t.Fatalf("right password from another address: %v", err)
	}
}

// TestService_LoginRehashesOldParameters checks that a password hashed with
// older argon2id parameters is rehashed with the current ones at the next
// successful login.
func TestService_LoginRehashesOldParameters(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := ledger.New(db, log, ledger.Config{})
	go eng.Run()
	t.Cleanup(func() { eng.Close(); <-eng.Done(); db.Close() })
	old := password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	cur := password.Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
	m, err := app.New(db, eng, log, app.Config{Hasher: password.Hasher{Params: old}}).
		Register(ctx, app.RegisterInput{Password: "a long enough secret"})
	if err != nil {
		t.Fatal(err)
	}
	svc := app.New(db, eng, log, app.Config{Hasher: password.Hasher{Params: cur}})
	if _, _, err := svc.Login(ctx, app.LoginInput{Login: m.ID, Password: "a long enough secret"}); err != nil {
		t.Fatalf("login with old-parameter hash: %v", err)
	}
	stored, err := db.MemberByLogin(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=128,t=2,p=1$"; len(stored.PasswordHash) < len(want) || stored.PasswordHash[:len(want)] != want {
		t.Fatalf("stored hash %q, want one with the current parameters (%s…)", stored.PasswordHash, want)
	}
	if _, _, err := svc.Login(ctx, app.LoginInput{Login: m.ID, Password: "a long enough secret"}); err != nil {
		t.Fatalf("login after rehash: %v", err)
	}
}
