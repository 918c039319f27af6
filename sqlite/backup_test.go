package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlite"
)

// TestBackup copies a store that is open (its writer holds a member that is
// committed but not checkpointed) and reads the member back from the copy.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "x"}
	if err := db.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), sqlite.FileName)
	info, err := sqlite.Backup(ctx, filepath.Join(dir, sqlite.FileName), dst)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || info.Size != fi.Size() || info.Transfers != 0 || !info.LastTransfer.IsZero() {
		t.Errorf("got mode %v, info %+v for a copy of %d bytes, want 0600 and no transfers", fi.Mode().Perm(), info, fi.Size())
	}
	// The copy is one file: nothing of it waits in a -wal file.
	if ents, err := os.ReadDir(filepath.Dir(dst)); err != nil || len(ents) != 1 {
		t.Errorf("got %v %v beside the copy, want only %s", ents, err, sqlite.FileName)
	}
	cp, err := sqlite.Open(ctx, filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.MemberByLogin(ctx, m.ID); err != nil {
		t.Errorf("member in the copy: %v", err)
	}

	t.Run("NoSource", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), sqlite.FileName)
		if _, err := sqlite.Backup(ctx, missing, filepath.Join(t.TempDir(), sqlite.FileName)); err == nil {
			t.Error("Backup of a missing file: got no error")
		}
		if _, err := os.Stat(missing); err == nil {
			t.Error("Backup of a missing file created it")
		}
	})
	t.Run("DestinationNotEmpty", func(t *testing.T) {
		if _, err := sqlite.Backup(ctx, filepath.Join(dir, sqlite.FileName), dst); err == nil {
			t.Error("Backup over an existing copy: got no error")
		}
	})
}
