package postgres

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/postgres/pgtest"
)

// TestDialect_TableScans checks that a check transaction reads the table
// itself: the lookup by (sender, transfer ID) that the unique index answers
// everywhere else is planned as a sequential scan once TableScans ran.
func TestDialect_TableScans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := dialect{db.iso}
	plan := func(scans bool) string {
		tx, err := db.sql.BeginTx(ctx, d.ReadTx())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if scans {
			if err := d.TableScans(ctx, tx); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.QueryContext(ctx, `EXPLAIN SELECT seq FROM transfers WHERE sender = 'm' AND transfer_id = 't'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		return b.String()
	}
	if p := plan(false); !strings.Contains(p, "Index") {
		t.Fatalf("without TableScans the plan is\n%s\nwant it to use the unique index (else this test proves nothing)", p)
	}
	if p := plan(true); strings.Contains(p, "Index") || !strings.Contains(p, "Seq Scan on transfers") {
		t.Fatalf("with TableScans the plan is\n%s\nwant a sequential scan of transfers", p)
	}
}

// TestDB_CheckRunsAmcheck checks that Check runs amcheck on the store's
// indexes where the role may, and reports it skipped, not failed, where
// the role may not create or run it.
func TestDB_CheckRunsAmcheck(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	db, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var super bool
	if err := db.sql.QueryRowContext(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Integrity) != 1 || rep.Integrity[0].Name != amcheckName || !rep.OK() {
		t.Fatalf("Check integrity = %+v, want amcheck, passing", rep.Integrity)
	}
	if got := rep.Integrity[0].Skipped; super && got != "" {
		t.Fatalf("as a superuser, amcheck was skipped: %s", got)
	} else if !super && got == "" {
		t.Logf("amcheck ran without superuser rights (installed and granted)")
	}

	t.Run("RoleWithoutRights", func(t *testing.T) {
		if !super {
			t.Skip("needs a superuser to create the role")
		}
		// A role that owns nothing may read the store but neither create
		// amcheck nor run its functions.
		role := "coffer_nocheck_" + strings.TrimPrefix(schemaOf(t, db.sql), "t_")
		for _, q := range []string{
			`CREATE ROLE ` + role + ` LOGIN`,
			`GRANT USAGE ON SCHEMA ` + schemaOf(t, db.sql) + ` TO ` + role,
			`GRANT SELECT ON ALL TABLES IN SCHEMA ` + schemaOf(t, db.sql) + ` TO ` + role,
		} {
			if _, err := db.sql.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			db.sql.ExecContext(ctx, `DROP OWNED BY `+role)
			db.sql.ExecContext(ctx, `DROP ROLE `+role)
		})
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SET ROLE `+role); err != nil {
			t.Fatal(err)
		}
		tx, err := conn.BeginTx(ctx, dialect{}.ReadTx())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// db for the creation: the same role, through a pool of one.
		res, err := dialect{}.IntegrityCheck(ctx, roleDB(t, role), tx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].Skipped == "" || !res[0].OK() {
			t.Fatalf("IntegrityCheck as %s = %+v, want skipped, not failed", role, res)
		}
		t.Logf("skipped: %s", res[0].Skipped)
	})
}

func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// roleDB is a handle whose connections act as role.
func roleDB(t *testing.T, role string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgtest.WithParam(pgtest.ServerURL(t), "options", "-c role="+role))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
