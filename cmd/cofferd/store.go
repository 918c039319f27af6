package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/sqlite"
)

// store is what cofferd's commands need of either store.
type store interface {
	coffer.Store
	coffer.KeyPinner
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
	// Ready is the write probe behind GET /readyz.
	Ready(ctx context.Context) error
	CheckFull(ctx context.Context) (*coffer.CheckReport, error)
	Integrity(ctx context.Context, full bool) ([]coffer.IntegrityResult, error)
	OnDamage(fn func(err error))
	// SetTimeout bounds every write (see sqlstore.Store.SetTimeout).
	SetTimeout(d time.Duration)
	// PoolStats and WALFile (SQLite's write-ahead log; "" for
	// PostgreSQL) feed the operator's metrics.
	PoolStats() []coffer.PoolStat
	WALFile() string
	Close() error
}

// dbFlagHelp describes the --db flag of every command that opens the store.
const dbFlagHelp = "PostgreSQL URL (postgres://user@host:port/db); default: $COFFER_DB, else the embedded SQLite store in --data"

// openStore opens the PostgreSQL store when dbURL (or $COFFER_DB) names
// one, else the SQLite store in the data directory. A URL in the
// environment keeps a password out of the process list.
func openStore(ctx context.Context, data, dbURL string) (store, error) {
	return openStoreWith(ctx, data, dbURL, postgres.Options{})
}

func openStoreWith(ctx context.Context, data, dbURL string, opt postgres.Options) (store, error) {
	if dbURL == "" {
		dbURL = os.Getenv("COFFER_DB")
	}
	if dbURL == "" {
		return sqlite.Open(ctx, data)
	}
	if !postgres.IsURL(dbURL) {
		return nil, errors.New("--db must be a postgres:// or postgresql:// URL")
	}
	return postgres.Open(ctx, dbURL, opt)
}
