package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-money/coffer/sqlite"
)

// dataKeyFiles are the files of a data directory, beside the database, that
// a copy of it needs: the keys sealing generator seeds and documents. The
// operator CA (ca/) goes with them.
var dataKeyFiles = []string{secretsKeyFile, documentsKeyFile}

// postgresBackupAdvice is the answer of backup and restore on PostgreSQL.
const postgresBackupAdvice = "this store is PostgreSQL: back it up with PostgreSQL's tools (pg_basebackup with WAL archiving for point-in-time recovery, or pg_dump), " +
	"and keep DATA/" + secretsKeyFile + ", DATA/" + documentsKeyFile + " and DATA/ca/ with it; cofferd backup and restore copy the embedded SQLite store only"

// onPostgres reports whether dbURL, or $COFFER_DB without it, names a
// PostgreSQL store.
func onPostgres(dbURL string) bool {
	return dbURL != "" || os.Getenv("COFFER_DB") != ""
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./coffer-data", "data directory of the store to copy (a server may be running on it)")
	to := fs.String("to", "", "directory to write the copy into (made 0700; refused if it holds a copy already)")
	dbURL := fs.String("db", "", dbFlagHelp)
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))
	}
	if onPostgres(*dbURL) {
		return errors.New("backup: " + postgresBackupAdvice)
	}
	if *to == "" {
		return errors.New("backup: --to DIR is required")
	}
	src := filepath.Join(*data, sqlite.FileName)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no store in %s: %w", *data, err)
	}
	info, copied, err := copyStore(ctx, *data, *to, stderr)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "copied %s to %s:\n", *data, *to)
	last := "none"
	if !info.LastTransfer.IsZero() {
		last = "the last applied " + info.LastTransfer.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(stdout, "  %s  %d bytes, %d transfers, %s\n", sqlite.FileName, info.Size, info.Transfers, last)
	for _, f := range copied {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return checkCopy(ctx, *to, stdout, stderr)
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "directory written by cofferd backup")
	data := fs.String("data", "./coffer-data", "data directory to restore into: absent or empty, unless --force")
	force := fs.Bool("force", false, "move a data directory that is not empty aside (to DIR.before-restore-TIME) and restore in its place; stop its server first")
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("restore: unexpected argument %q", fs.Arg(0))
	}
	if onPostgres("") {
		return errors.New("restore: $COFFER_DB is set: " + postgresBackupAdvice)
	}
	if *from == "" {
		return errors.New("restore: --from DIR is required")
	}
	if _, err := os.Stat(filepath.Join(*from, sqlite.FileName)); err != nil {
		return fmt.Errorf("restore: %s holds no copy: %w", *from, err)
	}
	if a, b := absPath(*from), absPath(*data); a == b || strings.HasPrefix(a, b+string(filepath.Separator)) {
		return fmt.Errorf("restore: the backup %s is inside the data directory %s; copy it elsewhere first", *from, *data)
	}
	ents, err := os.ReadDir(*data)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	case len(ents) > 0 && !*force:
		return fmt.Errorf("restore: %s is not empty; restore into a new directory, or stop its server and pass --force to move it aside", *data)
	case len(ents) > 0:
		aside := filepath.Clean(*data) + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(*data, aside); err != nil {
			return fmt.Errorf("restore: move %s aside: %w", *data, err)
		}
		fmt.Fprintf(stdout, "moved %s aside to %s\n", *data, aside)
	}
	info, copied, err := copyStore(ctx, *from, *data, stderr)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d transfers", *from, *data, info.Transfers)
	for _, f := range copied {
		fmt.Fprintf(stdout, ", %s", f)
	}
	fmt.Fprintln(stdout)
	return checkCopy(ctx, *data, stdout, stderr)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// checkCopy runs cofferd check on the copy in dir.
func checkCopy(ctx context.Context, dir string, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "checking %s:\n", dir)
	return runCheck(ctx, []string{"--data", dir}, stdout, stderr)
}

// copyStore copies the SQLite store in the data directory src (live or
// not) and the files it needs into dst, which it creates 0700 when absent
// and which must not hold any of them yet. Files are 0600 and synced with
// their directories; the database is renamed into place last, so a dst
// holding coffer.db holds a whole copy. On failure what it wrote is
// removed. It returns what the copy holds and the other files it copied.
func copyStore(ctx context.Context, src, dst string, stderr io.Writer) (info *sqlite.BackupInfo, copied []string, err error) {
	for _, f := range append([]string{sqlite.FileName, caDirName}, dataKeyFiles...) {
		if _, err := os.Lstat(filepath.Join(dst, f)); err == nil {
			return nil, nil, fmt.Errorf("%s already holds %s; refusing to overwrite it (choose a new directory)", dst, f)
		}
	}
	var made []string // what to remove on failure, last made first
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				os.Remove(made[i])
			}
		}
	}()
	if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return nil, nil, err
		}
		made = append(made, dst)
	}
	for _, f := range dataKeyFiles {
		switch err := copyFile(filepath.Join(src, f), filepath.Join(dst, f)); {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(stderr, "warning: %s has no %s to copy\n", src, f)
		case err != nil:
			return nil, nil, err
		default:
			made = append(made, filepath.Join(dst, f))
			copied = append(copied, f)
		}
	}
	ents, err := os.ReadDir(caDir(src))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	if len(ents) > 0 {
		if err := os.Mkdir(caDir(dst), 0o700); err != nil {
			return nil, nil, err
		}
		made = append(made, caDir(dst))
		for _, e := range ents {
			if !e.Type().IsRegular() {
				return nil, nil, fmt.Errorf("%s: not a regular file", filepath.Join(caDir(src), e.Name()))
			}
			rel := filepath.Join(caDirName, e.Name())
			if err := copyFile(filepath.Join(src, rel), filepath.Join(dst, rel)); err != nil {
				return nil, nil, err
			}
			made = append(made, filepath.Join(dst, rel))
			copied = append(copied, rel)
		}
		if err := syncDir(caDir(dst)); err != nil {
			return nil, nil, err
		}
	}
	partial := filepath.Join(dst, "."+sqlite.FileName+".partial")
	made = append(made, partial)
	if info, err = sqlite.Backup(ctx, filepath.Join(src, sqlite.FileName), partial); err != nil {
		return nil, nil, err
	}
	if err := os.Rename(partial, filepath.Join(dst, sqlite.FileName)); err != nil {
		return nil, nil, err
	}
	made[len(made)-1] = filepath.Join(dst, sqlite.FileName)
	if err := syncDir(dst); err != nil {
		return nil, nil, err
	}
	return info, copied, syncDir(filepath.Dir(filepath.Clean(dst)))
}

// copyFile copies a small file to a new file of mode 0600 and syncs it.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(dst)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(dst)
		return err
	}
	return f.Close()
}

// syncDir makes the names created in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
