package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

const certCols = `id, member_id, serial, fingerprint, key_type, der, created_at, not_before, not_after, revoked_at`

func scanCert(row Scanner) (*coffer.Certificate, error) {
	var c coffer.Certificate
	var created, nb, na int64
	var revoked sql.NullInt64
	if err := row.Scan(&c.ID, &c.MemberID, &c.Serial, &c.Fingerprint, &c.KeyType, &c.DER, &created, &nb, &na, &revoked); err != nil {
		return nil, err
	}
	c.CreatedAt, c.NotBefore, c.NotAfter, c.RevokedAt = fromMs(created), fromMs(nb), fromMs(na), fromNullMs(revoked)
	return &c, nil
}

// CreateCertificate implements coffer.CertStore. The count of active
// certificates and the insert run with the member serialized, so
// concurrent requests cannot together exceed maxActive.
// Errors: coffer.ErrTooManyCertificates.
func (s *Store) CreateCertificate(ctx context.Context, c *coffer.Certificate, maxActive int, audit *coffer.AuditEvent) error {
	return s.write(ctx, "CreateCertificate", lockNone, func(tx *Tx) error {
		if err := s.serializeMember(ctx, tx, c.MemberID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM certificates WHERE member_id = ? AND revoked_at IS NULL AND not_after > ?`,
			c.MemberID, ms(c.CreatedAt)).Scan(&n); err != nil {
			return err
		}
		if n >= maxActive {
			return coffer.ErrTooManyCertificates
		}
		if _, err := tx.Exec(ctx, `INSERT INTO certificates (`+certCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
			c.ID, c.MemberID, c.Serial, c.Fingerprint, c.KeyType, c.DER, ms(c.CreatedAt), ms(c.NotBefore), ms(c.NotAfter)); err != nil {
			return err
		}
		return tx.Audit(ctx, audit)
	})
}

// CertificateBySerial implements coffer.CertStore.
func (s *Store) CertificateBySerial(ctx context.Context, serial string) (*coffer.Certificate, error) {
	return one(s, "CertificateBySerial", s.rd.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE serial = ?`, serial), scanCert)
}

// Certificates implements coffer.CertStore.
func (s *Store) Certificates(ctx context.Context, memberID string) ([]*coffer.Certificate, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = ? ORDER BY created_at DESC, id`, memberID)
	return collect(s, "Certificates", rows, err, scanCert)
}

// RevokeCertificate implements coffer.CertStore. The conditional UPDATE
// decides: of two concurrent revocations exactly one changes the row and
// records audit; the other returns the certificate as the first revoked it.
func (s *Store) RevokeCertificate(ctx context.Context, memberID, id string, at time.Time, audit *coffer.AuditEvent) (*coffer.Certificate, error) {
	var c *coffer.Certificate
	err := s.write(ctx, "RevokeCertificate", lockAudit, func(tx *Tx) error {
		var err error
		c, err = scanCert(tx.QueryRow(ctx, `UPDATE certificates SET revoked_at = ? WHERE member_id = ? AND id = ? AND revoked_at IS NULL
			RETURNING `+certCols, ms(at), memberID, id))
		if err == nil {
			return tx.Audit(ctx, audit)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Revoked already: no change, no event.
		c, err = scanCert(tx.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE member_id = ? AND id = ?`, memberID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(s.d.Name()+".RevokeCertificate", "certificate")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NoteCertificateIP implements coffer.CertStore.
func (s *Store) NoteCertificateIP(ctx context.Context, certID, ip string, at time.Time, audit *coffer.AuditEvent) (bool, error) {
	first := false
	err := s.write(ctx, "NoteCertificateIP", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO certificate_ips (certificate_id, ip, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, certID, ip, ms(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if first = n > 0; err != nil || !first {
			return err
		}
		return tx.Audit(ctx, audit)
	})
	return first && err == nil, err
}
