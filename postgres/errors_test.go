package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestMapErr checks each driver failure the store acts on against the
// domain code it must become.
func TestMapErr(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"no rows", pgx.ErrNoRows, coffer.ENOTFOUND},
		{"unique violation", pg(sqlUniqueViolation), coffer.ECONFLICT},
		{"serialization failure", pg(sqlSerializationFailure), coffer.EUNAVAILABLE},
		{"deadlock", pg(sqlDeadlockDetected), coffer.EUNAVAILABLE},
		{"admin shutdown", pg(sqlAdminShutdown), coffer.EUNAVAILABLE},
		{"crash shutdown", pg(sqlCrashShutdown), coffer.EUNAVAILABLE},
		{"starting up", pg(sqlCannotConnectNow), coffer.EUNAVAILABLE},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, coffer.EUNAVAILABLE},
		{"connection cut", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), coffer.EUNAVAILABLE},
		{"disk full", pg(sqlDiskFull), coffer.EUNAVAILABLE},
		{"syntax error", pg("42601"), coffer.EINTERNAL},
		{"data corrupted", pg(sqlDataCorrupted), coffer.EINTERNAL},
		{"index corrupted", pg(sqlIndexCorrupted), coffer.EINTERNAL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mapErr("op", c.err)
			if code := coffer.ErrorCode(got); code != c.code {
				t.Fatalf("mapErr(%v) has code %q, want %q", c.err, code, c.code)
			}
			if c.code != coffer.ENOTFOUND && !errors.Is(got, c.err) && !errors.Is(got, errors.Unwrap(c.err)) {
				t.Fatalf("mapErr(%v) = %v lost its cause", c.err, got)
			}
			// A damaged page or index is permanent: never "try again".
			if damaged := pgCode(c.err) == sqlDataCorrupted || pgCode(c.err) == sqlIndexCorrupted; damaged != sqlstore.IsDamaged(got) {
				t.Fatalf("mapErr(%v) = %v: IsDamaged %v, want %v", c.err, got, !damaged, damaged)
			}
		})
	}
	if mapErr("op", nil) != nil {
		t.Fatal("mapErr(nil) is not nil")
	}
	var ctxErr = context.Canceled
	if code := coffer.ErrorCode(mapErr("op", ctxErr)); code == coffer.ECONFLICT || code == coffer.ENOTFOUND {
		t.Fatalf("a cancelled context became %q", code)
	}
}
