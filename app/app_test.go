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
// still lock the member.
func TestService_LoginThrottleIsPerMember(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	m, err := s.Register(ctx, app.RegisterInput{Password: "a long enough secret", Email: "m@example.org", Phone: "+14155550199"})
	if err != nil {
		t.Fatal(err)
	}
	aliases := []string{m.ID, "m@example.org", "+14155550199"}
	var last error
	for i := 0; i < 8; i++ {
		_, _, last = s.Login(ctx, app.LoginInput{Login: aliases[i%3], Password: "wrong password here", IP: "192.0.2.1"})
	}
	if got := coffer.ErrorCode(last); got != coffer.ERATELIMITED {
		t.Fatalf("after 8 failures over 3 aliases: got %q, want %q", got, coffer.ERATELIMITED)
	}
	_, _, err = s.Login(ctx, app.LoginInput{Login: "M@example.org", Password: "a long enough secret", IP: "192.0.2.2"})
	if got := coffer.ErrorCode(err); got != coffer.ERATELIMITED {
		t.Fatalf("right password while the member is locked: got %q, want %q", got, coffer.ERATELIMITED)
	}
}
