package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// BackupInfo describes a copy made by Backup.
type BackupInfo struct {
	Size         int64     // bytes in the copy
	Transfers    int64     // transfers in the copy
	LastTransfer time.Time // when the newest of them was applied; zero when there is none
}

// Backup writes a consistent copy of the database file src to dst with
// VACUUM INTO, while servers go on writing to src: the copy is one read
// snapshot, so it holds every transaction committed before the copy began.
// src must exist (Backup never creates a database). dst must not exist or
// be empty; it is made 0600 and synced to disk before Backup returns
// (VACUUM INTO itself does not sync). A plain file copy of a live database
// is not a backup: committed transactions may still be only in the -wal
// file, and the two files change under the copy.
func Backup(ctx context.Context, src, dst string) (*BackupInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	// SQLite would create the file 0644; an empty file of our own keeps
	// the copy of password and token hashes readable by its owner only.
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	if err := os.Chmod(dst, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(src, roleBackup))
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return nil, mapErr("Backup", err)
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := syncFile(dst); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	return describe(ctx, dst)
}

// describe reads what a copy holds.
func describe(ctx context.Context, path string) (*BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, roleReader))
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	info := &BackupInfo{Size: fi.Size()}
	var last sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(created_at) FROM transfers`).Scan(&info.Transfers, &last); err != nil {
		return nil, mapErr("Backup", err)
	}
	if last.Valid {
		info.LastTransfer = fromMs(last.Int64)
	}
	return info, errors.Join(db.Close())
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
