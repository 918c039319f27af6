package app_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sms"
	"github.com/coffer-money/coffer/sqlite"
)

// TestService_RegisterTakenPhone checks that a member who has only a phone
// is told by SMS when someone registers with it, and that the new account
// does not get the phone.
func TestService_RegisterTakenPhone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	outbox := filepath.Join(dir, sms.OutboxFile)
	s := app.New(db, nil, slog.New(slog.DiscardHandler), app.Config{Hasher: password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
		Factors: app.FactorConfig{SMS: &sms.Outbox{Path: outbox}}})
	owner, err := s.Register(ctx, app.RegisterInput{Password: "a long enough secret", Phone: "+14155550177"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Register(ctx, app.RegisterInput{Password: "another long secret", Phone: "+1 415 555 0177"})
	if err != nil {
		t.Fatalf("Register with a taken phone: got %v, want a new member", err)
	}
	if m.ID == owner.ID || m.Phone != "" {
		t.Errorf("got member %s with phone %q, want a new member without the phone", m.ID, m.Phone)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg, err := sms.Last(outbox, "+14155550177")
		if err == nil && strings.Contains(msg.Text, "someone tried to open an account with your phone number") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS to the owner: last %v, %v", msg, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
