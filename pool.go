package coffer

import "time"

// PoolStat is the state of one of a store's database connection pools,
// for the operator's metrics. SQLite has a writer and a reader pool;
// PostgreSQL has one.
type PoolStat struct {
	Pool  string // "writer", "reader" (SQLite) or "main" (PostgreSQL)
	Max   int64  // the most connections the pool opens
	Open  int64  // connections open now, in use or idle
	InUse int64  // connections lent out now
	Idle  int64  // connections open and unused now
	// Waits counts the borrowers that found no free connection and
	// waited (PostgreSQL: acquires from an empty pool), since the start;
	// WaitTime is the total time they waited.
	Waits    int64
	WaitTime time.Duration
}
