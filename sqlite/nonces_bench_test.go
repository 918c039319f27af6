package sqlite_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer/sqlite"
)

// BenchmarkDB_UseNonce measures remembering signature nonces with many
// signed requests at once: concurrent nonces commit together.
//
//	go test -run '^$' -bench UseNonce -cpu 2 ./sqlite
func BenchmarkDB_UseNonce(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	var n atomic.Int64
	b.SetParallelism(32) // 64 callers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			nonce := strconv.FormatInt(n.Add(1), 36)
			if ok, err := db.UseNonce(ctx, "key_bench", nonce, now, now.Add(6*time.Minute)); err != nil || !ok {
				b.Fatalf("UseNonce: %v, %v", ok, err)
			}
		}
	})
}
