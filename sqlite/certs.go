package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

const certCols = `id, member_id, serial, fingerprint, key_type, der, created_at, not_before, not_after, revoked_at`

func scanCert(row interface{ Scan(...any) error }) (*coffer.Certificate, error) {
	var c coffer.Certificate
	var created, nb, na int64
	var revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.MemberID, &c.Serial, &c.Fingerprint, &c.KeyType, &c.DER, &created, &nb, &na, &revoked); err != nil {
		return nil, err
	}
	c.CreatedAt, c.NotBefore, c.NotAfter = fromMs(created), fromMs(nb), fromMs(na)
	if revoked.Valid {
		c.RevokedAt = fromMs(revoked.Int64)
	}
	return &c, nil
}

// CreateCertificate implements coffer.CertStore. The count of active
// certificates and the insert share the write transaction, so concurrent
// requests cannot together exceed maxActive.
func (db *DB) CreateCertificate(ctx context.Context, c *coffer.Certificate, maxActive int, audit *coffer.AuditEvent) error {
	const op = "sqlite.CreateCertificate"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates WHERE member_id = ? AND revoked_at IS NULL AND not_after > ?`,
		c.MemberID, ms(c.CreatedAt)).Scan(&n); err != nil {
		return mapErr(op, err)
	}
	if n >= maxActive {
		return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "active certificate limit reached", Op: op}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (`+certCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.ID, c.MemberID, c.Serial, c.Fingerprint, c.KeyType, c.DER, ms(c.CreatedAt), ms(c.NotBefore), ms(c.NotAfter)); err != nil {
		return mapErr(op, err)
	}
	if audit != nil {
		if err := appendAudit(ctx, tx, []*coffer.AuditEvent{audit}); err != nil {
			return err
		}
	}
	return mapErr(op, tx.Commit())
}

// CertificateBySerial implements coffer.CertStore.
func (db *DB) CertificateBySerial(ctx context.Context, serial string) (*coffer.Certificate, error) {
	c, err := scanCert(db.r.QueryRowContext(ctx, `SELECT `+certCols+` FROM certificates WHERE serial = ?`, serial))
	if err != nil {
		return nil, mapErr("sqlite.CertificateBySerial", err)
	}
	return c, nil
}

// Certificates implements coffer.CertStore.
func (db *DB) Certificates(ctx context.Context, memberID string) ([]*coffer.Certificate, error) {
	const op = "sqlite.Certificates"
	rows, err := db.r.QueryContext(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = ? ORDER BY created_at DESC, id`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []*coffer.Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, c)
	}
	return out, mapErr(op, rows.Err())
}

// RevokeCertificate implements coffer.CertStore.
func (db *DB) RevokeCertificate(ctx context.Context, memberID, id string, at time.Time, audit *coffer.AuditEvent) (*coffer.Certificate, error) {
	const op = "sqlite.RevokeCertificate"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer tx.Rollback()
	c, err := scanCert(tx.QueryRowContext(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = ? AND id = ?`, memberID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such certificate.", Op: op}
	} else if err != nil {
		return nil, mapErr(op, err)
	}
	if c.Revoked() {
		return c, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(at), id); err != nil {
		return nil, mapErr(op, err)
	}
	if audit != nil {
		if err := appendAudit(ctx, tx, []*coffer.AuditEvent{audit}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, mapErr(op, err)
	}
	c.RevokedAt = fromMs(ms(at))
	return c, nil
}

// NoteCertificateIP implements coffer.CertStore.
func (db *DB) NoteCertificateIP(ctx context.Context, certID, ip string, at time.Time, audit *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.NoteCertificateIP"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO certificate_ips (certificate_id, ip, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, certID, ip, ms(at))
	if err != nil {
		return false, mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if audit != nil {
		if err := appendAudit(ctx, tx, []*coffer.AuditEvent{audit}); err != nil {
			return false, err
		}
	}
	return true, mapErr(op, tx.Commit())
}
