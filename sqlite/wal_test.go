package sqlite

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// TestDB_WALShrinksWhenIdle writes a burst that leaves a large WAL and
// expects the file to be emptied once the database is idle but for the
// readiness probe. The deadline is
// generous: the test asserts that it happens, not how fast.
func TestDB_WALShrinksWhenIdle(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var limit int64
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_size_limit`).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != walSizeLimit {
		t.Errorf("journal_size_limit: got %d, want %d", limit, walSizeLimit)
	}

	wal := db.Path + "-wal"
	size := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// One transaction of about 4 MB: its frames pass the WAL at once,
	// whatever the checkpointer does meanwhile.
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE burst AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 4000) SELECT randomblob(1000) AS b FROM n`); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := db.CreateMember(ctx, &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	const bound = 64 << 10
	if got := size(); got < 1<<20 {
		t.Fatalf("WAL after the burst: got %d bytes, want at least 1 MiB for the test to mean anything", got)
	}
	// A load balancer asking /readyz every two seconds commits the
	// probe's write now and then; that is not activity.
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; size() > bound; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("WAL after a minute idle: got %d bytes, want at most %d", size(), bound)
		}
		if i%20 == 0 {
			if err := db.Ready(ctx); err != nil {
				t.Fatalf("Ready: %v", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
