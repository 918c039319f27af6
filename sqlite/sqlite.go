// Package sqlite is coffer's embedded store: one SQLite file in WAL mode with
// synchronous=FULL, one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
)

// DB is the SQLite store. It implements coffer.Store.
type DB struct {
	*sqlstore.Store // the ordinary reads and writes

	w      *sql.DB // the single writer connection
	r      *sql.DB // read-only pool
	Path   string
	ls     *ledgerStmts
	stmtMu sync.Mutex
	nonces nonceGroup // see nonces.go

	// The ledger's cache of purses (owner, currency, limit, balance, held)
	// as last committed, valid while data_version is pcVer.
	pcMu  sync.Mutex
	pc    map[string]coffer.Purse
	pcVer int64
	// Outgoing limits by purse (nil: none), reset with pc and by
	// SetPurseLimits.
	lc map[string]*coffer.PurseLimits
	// Fee rules by currency (nil: not loaded), reset with pc and by
	// SetFeeRule and DeleteFeeRule.
	fc map[string]*coffer.FeeRule

	ck        *sql.DB // checkpointer connection
	stopCk    chan struct{}
	ckDone    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var (
	_ coffer.Store     = (*DB)(nil)
	_ coffer.KeyPinner = (*DB)(nil)
)

// FileName is the database file inside a data directory.
const FileName = "coffer.db"

type connRole int

const (
	roleWriter connRole = iota
	roleReader
	roleCheckpointer
	roleBackup // reads only, but VACUUM INTO is refused under query_only
)

func dsn(path string, role connRole) string {
	q := url.Values{}
	// Pragmas live in the DSN so every pooled connection gets them.
	if role == roleCheckpointer {
		// The idle checkpoint that truncates the WAL holds off writers
		// while it waits for readers: it gives up soon and tries again
		// at the next idle moment instead.
		q.Add("_pragma", "busy_timeout(100)")
	} else {
		q.Add("_pragma", "busy_timeout(10000)")
	}
	q.Add("_pragma", "journal_mode(WAL)")
	// A checkpoint that resets the WAL cuts the file back to this size, so
	// a burst of writes does not leave a WAL many times the database's
	// size on disk.
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	switch role {
	case roleReader:
		q.Add("_pragma", "query_only(1)")
	case roleWriter:
		q.Set("_txlock", "immediate")
		// A large page cache keeps the indexes the ledger touches in
		// memory. Checkpoints run on their own connection (checkpointLoop)
		// so commits do not pay for them; the automatic one is only a
		// backstop should that loop fall behind.
		q.Add("_pragma", "cache_size(-65536)")
		// Statement journals (kept for multi-row INSERTs so that one failing
		// row can be undone) live in memory, not in a temp file written
		// page by page; the WAL still makes every commit durable.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "wal_autocheckpoint(20000)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating when needed) the store in dir and migrates it.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// OpenFile opens the store at an explicit file path.
func OpenFile(ctx context.Context, path string) (*DB, error) {
	// The file holds password and token hashes: readable by its owner only.
	// SQLite gives the -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	} else {
		f.Close()
	}
	w, err := sql.Open("sqlite", dsn(path, roleWriter))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{w: w, Path: path}
	if err := sqlstore.Migrate(ctx, w, "sqlite"); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, roleReader))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	db.Store = sqlstore.New(dialect{db}, w, r)
	ck, err := sql.Open("sqlite", dsn(path, roleCheckpointer))
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	db.ck, db.stopCk, db.ckDone = ck, make(chan struct{}), make(chan struct{})
	go db.checkpointLoop()
	return db, nil
}

// walSizeLimit is the journal_size_limit, in bytes, the WAL is cut back to
// when a checkpoint resets it.
const walSizeLimit = 8 << 20

// idleTicks is how many checkpointer ticks (250 ms each) make the quiet
// spell after which the WAL file is emptied: at most one of them may have
// seen a commit (a lone one, such as the readiness probe's, is not
// activity).
const idleTicks = 4

// idleWALBytes is the WAL file size above which a quiet spell empties it.
const idleWALBytes = 256 << 10

// checkpointLoop copies the WAL into the database file in the background,
// off the ledger's commit path. PASSIVE never blocks writers or readers.
// After a quiet spell with the WAL file still large, a TRUNCATE checkpoint
// empties it, so a burst of writes does not leave it large; that holds off
// writers only while it waits for readers, for at most the checkpointer's
// short busy timeout, and a failed try waits for the next quiet spell.
func (db *DB) checkpointLoop() {
	defer close(db.ckDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var ver int64 = -1
	var recent uint32 = 1<<idleTicks - 1 // a bit per tick, set when it saw a commit
	for {
		select {
		case <-db.stopCk:
			return
		case <-t.C:
		}
		// Best effort throughout: the autocheckpoint is the backstop.
		var busy, frames, done int64
		if err := db.ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
			continue
		}
		// data_version changes whenever another connection has committed.
		var v int64
		if err := db.ck.QueryRow(`PRAGMA data_version`).Scan(&v); err != nil {
			continue
		}
		recent <<= 1
		if v != ver {
			ver, recent = v, recent|1
		}
		recent &= 1<<idleTicks - 1
		if bits.OnesCount32(recent) > 1 {
			continue
		}
		if fi, err := os.Stat(db.Path + "-wal"); err != nil || fi.Size() <= idleWALBytes {
			continue
		}
		err := db.ck.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
		if err != nil || busy != 0 {
			recent = 1<<idleTicks - 1 // readers were in the way: wait for another quiet spell
		}
	}
}

// Close stops the checkpointer and closes every pool. Calls after it
// answer EUNAVAILABLE; closing again does nothing and returns what the first
// Close did.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stopCk)
		<-db.ckDone
		db.closeErr = errors.Join(db.ck.Close(), db.r.Close(), db.w.Close())
	})
	return db.closeErr
}

// mapErr translates driver errors into domain errors at the storage
// boundary, as the shared layer does for the rest of the store.
func mapErr(op string, err error) error { return sqlstore.MapErr(dialect{}, op, err) }

func ms(t time.Time) int64 { return t.UnixMilli() }
func fromMs(v int64) time.Time {
	return time.UnixMilli(v).UTC()
}

// PoolStats returns the state of the writer and reader pools.
func (db *DB) PoolStats() []coffer.PoolStat {
	return []coffer.PoolStat{poolStat("writer", db.w.Stats()), poolStat("reader", db.r.Stats())}
}

func poolStat(name string, s sql.DBStats) coffer.PoolStat {
	return coffer.PoolStat{Pool: name, Max: int64(s.MaxOpenConnections), Open: int64(s.OpenConnections),
		InUse: int64(s.InUse), Idle: int64(s.Idle), Waits: s.WaitCount, WaitTime: s.WaitDuration}
}

// WALFile names the database's write-ahead log file, whose size the
// operator's metrics report.
func (db *DB) WALFile() string { return db.Path + "-wal" }
