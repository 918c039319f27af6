package sqlite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// TestDialect_Classify provokes each constraint failure on a real database
// file and checks what the dialect makes of it, and that the shared mapping
// turns it into the right domain code. An error it does not know stays an
// internal error.
func TestDialect_Classify(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x", CreatedAt: now}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	d := dialect{db}
	exec := func(q string, args ...any) error { _, err := db.w.ExecContext(ctx, q, args...); return err }
	cases := []struct {
		name  string
		err   error
		fault sqlstore.Fault
		code  string
	}{
		{"unique", exec(`INSERT INTO members (id, password_hash, created_at) VALUES (?, 'x', 0)`, m.ID), sqlstore.FaultUnique, coffer.ECONFLICT},
		{"foreign key", exec(`INSERT INTO sessions (id, member_id, token_hash, ip, user_agent, created_at, last_used_at, expires_at) VALUES ('s', 'nobody', x'00', '', '', 0, 0, 0)`), sqlstore.FaultForeignKey, coffer.ENOTFOUND},
		{"check", exec(`INSERT INTO purses (number, currency, owner, balance, issuer, lim, created_at) VALUES ('Z1', 'USD', ?, -5, 0, 0, 0)`, m.ID), sqlstore.FaultCheck, coffer.EINTERNAL},
		{"syntax", exec(`SELEKT 1`), sqlstore.FaultOther, coffer.EINTERNAL},
		{"full", full(t, db), sqlstore.FaultNoSpace, coffer.EUNAVAILABLE},
	}
	if got := coffer.ErrorMessage(mapErr("Op", cases[len(cases)-1].err)); got != "The server's disk is full; try again later." {
		t.Errorf("a full disk is told as %q", got)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("the statement did not fail")
			}
			if got := d.Classify(c.err); got != c.fault {
				t.Errorf("Classify(%v) = %d, want %d", c.err, got, c.fault)
			}
			mapped := mapErr("Op", c.err)
			if code := coffer.ErrorCode(mapped); code != c.code {
				t.Errorf("mapErr(%v) has code %q, want %q", c.err, code, c.code)
			}
			if !errors.Is(mapped, c.err) {
				t.Errorf("mapErr(%v) = %v lost its cause", c.err, mapped)
			}
		})
	}
}

// full makes the writer's next write fail as on a full disk: SQLite answers
// a database grown to max_page_count with the SQLITE_FULL it gives for
// ENOSPC. The limit is lifted again before full returns the error.
func full(t *testing.T, db *DB) error {
	t.Helper()
	ctx := context.Background()
	exec := func(q string) error { _, err := db.w.ExecContext(ctx, q); return err }
	var pages int64
	if err := db.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := exec(`PRAGMA max_page_count = 4294967294`); err != nil {
			t.Fatal(err)
		}
	}()
	return exec(`CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10000) SELECT randomblob(1000) AS b FROM n`)
}
