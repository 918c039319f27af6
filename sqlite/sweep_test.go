package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// TestDB_SweepInChunks gives the session sweep a backlog of more than two
// chunks (each chunk a statement of its own, so a large backlog is never
// one statement cut off by the write timeout) and expects all of it gone
// and the live session kept.
func TestDB_SweepInChunks(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	m := &coffer.Member{ID: "100000000001", PasswordHash: "x", CreatedAt: now}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	const expired = 12_345
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range expired + 1 {
		until := now.Add(-time.Hour)
		if i == expired {
			until = now.Add(time.Hour) // the live one
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at) VALUES (?, ?, ?, '', '', ?, ?, ?)`,
			fmt.Sprintf("s%06d", i), m.ID, []byte(fmt.Sprint(i)), now.UnixMilli(), now.UnixMilli(), until.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	n, err := db.DeleteExpiredSessions(ctx, now)
	if err != nil || n != expired {
		t.Fatalf("DeleteExpiredSessions: got %d, %v; want %d removed", n, err, expired)
	}
	var left int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&left); err != nil || left != 1 {
		t.Errorf("sessions left: got %d (%v), want the live one", left, err)
	}
}
