package sqlite_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlite"
	"github.com/coffer-money/coffer/storetest"
)

func open(t *testing.T) coffer.Store {
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDB_Contract(t *testing.T) { storetest.Run(t, open) }

func TestDB_RefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+dir+"/"+sqlite.FileName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "newer") && !strings.Contains(err.Error(), "knows only") {
		t.Fatalf("Open on a newer schema: got %v, want a refusal naming the versions", err)
	}
}

func TestDB_ReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.MemberByLogin(ctx, m.ID); err != nil {
		t.Fatalf("member lost across reopen: %v", err)
	}
}
