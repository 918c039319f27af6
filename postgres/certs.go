package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

const certCols = `id, member_id, serial, fingerprint, key_type, der, created_at, not_before, not_after, revoked_at`

func scanCert(row rowScanner) (*coffer.Certificate, error) {
	var c coffer.Certificate
	var created, nb, na int64
	var revoked *int64
	if err := row.Scan(&c.ID, &c.MemberID, &c.Serial, &c.Fingerprint, &c.KeyType, &c.DER, &created, &nb, &na, &revoked); err != nil {
		return nil, err
	}
	c.CreatedAt, c.NotBefore, c.NotAfter, c.RevokedAt = fromMs(created), fromMs(nb), fromMs(na), fromNullMs(revoked)
	return &c, nil
}

// CreateCertificate implements coffer.CertStore. The member's row is locked
// before the count of active certificates, so concurrent requests, from any
// process, cannot together exceed maxActive.
func (db *DB) CreateCertificate(ctx context.Context, c *coffer.Certificate, maxActive int, audit *coffer.AuditEvent) error {
	const op = "postgres.CreateCertificate"
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := lockMember(ctx, tx, c.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM certificates WHERE member_id = $1 AND revoked_at IS NULL AND not_after > $2`,
			c.MemberID, ms(c.CreatedAt)).Scan(&n); err != nil {
			return err
		}
		if n >= maxActive {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "active certificate limit reached", Op: op}
		}
		_, err := tx.Exec(ctx, `INSERT INTO certificates (`+certCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
			c.ID, c.MemberID, c.Serial, c.Fingerprint, c.KeyType, c.DER, ms(c.CreatedAt), ms(c.NotBefore), ms(c.NotAfter))
		return err
	}, audit)
}

// CertificateBySerial implements coffer.CertStore.
func (db *DB) CertificateBySerial(ctx context.Context, serial string) (*coffer.Certificate, error) {
	c, err := scanCert(db.pool.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE serial = $1`, serial))
	if err != nil {
		return nil, mapErr("postgres.CertificateBySerial", err)
	}
	return c, nil
}

// Certificates implements coffer.CertStore.
func (db *DB) Certificates(ctx context.Context, memberID string) ([]*coffer.Certificate, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = $1 ORDER BY created_at DESC, id`, memberID)
	return collect(rows, err, "postgres.Certificates", scanCert)
}

// RevokeCertificate implements coffer.CertStore. The conditional UPDATE
// decides: of two concurrent revocations exactly one changes the row and
// records audit; the other returns the certificate as the first revoked it.
func (db *DB) RevokeCertificate(ctx context.Context, memberID, id string, at time.Time, audit *coffer.AuditEvent) (*coffer.Certificate, error) {
	const op = "postgres.RevokeCertificate"
	var c *coffer.Certificate
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		var err error
		c, err = scanCert(tx.QueryRow(ctx, `UPDATE certificates SET revoked_at = $1 WHERE member_id = $2 AND id = $3 AND revoked_at IS NULL
			RETURNING `+certCols, ms(at), memberID, id))
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		c, err = scanCert(tx.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = $1 AND id = $2`, memberID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such certificate.", Op: op}
		}
		if err != nil {
			return err
		}
		return errNothing // revoked already: no change, no event
	}, audit)
	if err == errNothing {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NoteCertificateIP implements coffer.CertStore.
func (db *DB) NoteCertificateIP(ctx context.Context, certID, ip string, at time.Time, audit *coffer.AuditEvent) (bool, error) {
	const op = "postgres.NoteCertificateIP"
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO certificate_ips (certificate_id, ip, first_seen) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, certID, ip, ms(at))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNothing
		}
		return nil
	}, audit)
	if err == errNothing {
		return false, nil
	}
	return err == nil, err
}
