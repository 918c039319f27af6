package postgres_test

import (
	"crypto/ed25519"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestStore_AuditHeadBeforeRows checks the lock order of writes whose audit
// event depends on what they change. CloseMember takes the ledger head, the
// audit head, then the member's key and certificate rows; a write that
// changed such a row first and took the audit head after it would close a
// cycle with it (PostgreSQL breaks it only after deadlock_timeout). So while
// another transaction holds the audit head, each of these writes must wait
// for it without holding the row: a NOWAIT lock of the row as CloseMember
// takes it (an UPDATE of no key column) succeeds.
func TestStore_AuditHeadBeforeRows(t *testing.T) {
	type fixture struct {
		db     *postgres.DB
		member string
		key    *coffer.SigningKey
		cert   *coffer.Certificate
	}
	ops := []struct {
		name string
		row  string // the row the write changes: table and id column
		id   func(f fixture) string
		run  func(t *testing.T, f fixture) error
	}{
		{"RevokeKey", "signing_keys", func(f fixture) string { return f.key.ID }, func(t *testing.T, f fixture) error {
			now := time.Now().UTC()
			_, err := f.db.RevokeKey(t.Context(), f.member, f.key.ID, now, coffer.NewAuditEvent(now, "key.revoked", f.member, nil))
			return err
		}},
		{"RenameKey", "signing_keys", func(f fixture) string { return f.key.ID }, func(t *testing.T, f fixture) error {
			now := time.Now().UTC()
			return f.db.RenameKey(t.Context(), f.member, f.key.ID, "renamed", coffer.NewAuditEvent(now, "key.renamed", f.member, nil))
		}},
		{"NoteKeyUse", "signing_keys", func(f fixture) string { return f.key.ID }, func(t *testing.T, f fixture) error {
			now := time.Now().UTC()
			_, err := f.db.NoteKeyUse(t.Context(), f.key.ID, "192.0.2.7", now, coffer.NewAuditEvent(now, "key.new_ip", f.member, nil))
			return err
		}},
		{"RevokeCertificate", "certificates", func(f fixture) string { return f.cert.ID }, func(t *testing.T, f fixture) error {
			now := time.Now().UTC()
			_, err := f.db.RevokeCertificate(t.Context(), f.member, f.cert.ID, now, coffer.NewAuditEvent(now, "certificate.revoked", f.member, nil))
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			ctx := t.Context()
			u := pgtest.URL(t)
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			app := pu.Query().Get("application_name")
			f := fixture{db: openURL(t, u, postgres.Options{})}
			f.member = newMember(t, f.db)
			pub, _, _ := ed25519.GenerateKey(nil)
			now := time.Now().UTC().Truncate(time.Millisecond)
			f.key = &coffer.SigningKey{ID: coffer.NewKeyID(), MemberID: f.member, Name: "k", PublicKey: pub, CreatedAt: now}
			if err := f.db.CreateKey(ctx, f.key, 10, nil); err != nil {
				t.Fatal(err)
			}
			f.cert = &coffer.Certificate{ID: "cert-" + f.key.ID, MemberID: f.member, Serial: "8" + f.key.ID, Fingerprint: "f" + f.key.ID, KeyType: "ECDSA P-256",
				DER: []byte{0x30, 1}, CreatedAt: now, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)}
			if err := f.db.CreateCertificate(ctx, f.cert, 10, nil); err != nil {
				t.Fatal(err)
			}
			head, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer head.Close(ctx)
			mon, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer mon.Close(ctx)
			htx, err := head.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := htx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var opErr error
			wg.Go(func() { opErr = op.run(t, f) })
			// Wait until the write waits for a lock (the audit head).
			for deadline := time.Now().Add(10 * time.Second); ; {
				var n int
				if err := mon.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					htx.Rollback(ctx)
					wg.Wait()
					t.Fatalf("%s never waited for the audit head (err %v)", op.name, opErr)
				}
				time.Sleep(5 * time.Millisecond)
			}
			mtx, err := mon.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, rowErr := mtx.Exec(ctx, `SELECT 1 FROM `+op.row+` WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, op.id(f))
			mtx.Rollback(ctx)
			htx.Rollback(ctx)
			wg.Wait()
			if rowErr != nil {
				t.Errorf("%s holds its %s row while it waits for the audit head: %v", op.name, op.row, rowErr)
			}
			if opErr != nil {
				t.Errorf("%s: %v", op.name, opErr)
			}
		})
	}
}
