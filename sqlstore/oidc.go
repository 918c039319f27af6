package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/coffer-money/coffer"
)

// The OpenID Connect provider's storage: coffer.OIDCStore.

var _ coffer.OIDCStore = (*Store)(nil)

// Lists (redirect URIs, scopes, authentication methods) are kept as JSON
// arrays of strings.
func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fromJSONList(s string) []string {
	var v []string
	json.Unmarshal([]byte(s), &v)
	if v == nil {
		v = []string{}
	}
	return v
}

// orEmpty makes an empty list non-nil, for the lists the contract promises
// as such.
func orEmpty[T any](v []*T, err error) ([]*T, error) {
	if v == nil && err == nil {
		v = []*T{}
	}
	return v, err
}

// execOne runs a statement that must touch a row; ENOTFOUND otherwise.
func (s *Store) execOne(ctx context.Context, op, q string, args ...any) error {
	res, err := s.wr.Exec(ctx, q, args...)
	if err != nil {
		return s.mapErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return s.mapErr(op, cmp.Or(err, sql.ErrNoRows))
	}
	return nil
}

// CreateOIDCClient implements coffer.OIDCStore.
func (s *Store) CreateOIDCClient(ctx context.Context, c *coffer.OIDCClient) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, public, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, jsonList(c.RedirectURIs), c.Public, ms(c.CreatedAt))
	return s.mapErr("CreateOIDCClient", err)
}

const oidcClientCols = `id, name, secret_hash, redirect_uris, public, created_at`

func scanOIDCClient(row Scanner) (*coffer.OIDCClient, error) {
	c := &coffer.OIDCClient{}
	var uris string
	var created int64
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &uris, &c.Public, &created); err != nil {
		return nil, err
	}
	c.RedirectURIs, c.CreatedAt = fromJSONList(uris), fromMs(created)
	return c, nil
}

// OIDCClient implements coffer.OIDCStore.
func (s *Store) OIDCClient(ctx context.Context, id string) (*coffer.OIDCClient, error) {
	return one(s, "OIDCClient", s.rd.QueryRow(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE id = ?`, id), scanOIDCClient)
}

// OIDCClients implements coffer.OIDCStore.
func (s *Store) OIDCClients(ctx context.Context) ([]*coffer.OIDCClient, error) {
	rows, err := s.rd.Query(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_at, id`)
	return orEmpty(collect(s, "OIDCClients", rows, err, scanOIDCClient))
}

// DeleteOIDCClient implements coffer.OIDCStore; its requests, tokens and
// consents go with it (ON DELETE CASCADE).
func (s *Store) DeleteOIDCClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "DeleteOIDCClient", `DELETE FROM oidc_clients WHERE id = ?`, id)
}

// CreateOIDCAuthRequest implements coffer.OIDCStore.
func (s *Store) CreateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO oidc_auth_requests (`+oidcRequestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.MemberID, r.Data, r.CodeHash, ms(r.CreatedAt), ms(r.ExpiresAt))
	return s.mapErr("CreateOIDCAuthRequest", err)
}

const oidcRequestCols = `id, client_id, member_id, data, code_hash, created_at, expires_at`

func scanOIDCRequest(row Scanner) (*coffer.OIDCAuthRequest, error) {
	r := &coffer.OIDCAuthRequest{}
	var created, expires int64
	if err := row.Scan(&r.ID, &r.ClientID, &r.MemberID, &r.Data, &r.CodeHash, &created, &expires); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt = fromMs(created), fromMs(expires)
	return r, nil
}

// OIDCAuthRequest implements coffer.OIDCStore.
func (s *Store) OIDCAuthRequest(ctx context.Context, id string) (*coffer.OIDCAuthRequest, error) {
	return one(s, "OIDCAuthRequest", s.rd.QueryRow(ctx, `SELECT `+oidcRequestCols+` FROM oidc_auth_requests WHERE id = ?`, id), scanOIDCRequest)
}

// UpdateOIDCAuthRequest implements coffer.OIDCStore.
func (s *Store) UpdateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	return s.execOne(ctx, "UpdateOIDCAuthRequest", `UPDATE oidc_auth_requests SET member_id = ?, data = ? WHERE id = ?`, r.MemberID, r.Data, r.ID)
}

// SetOIDCAuthCode implements coffer.OIDCStore: one statement, so two
// concurrent calls cannot both set a code. When it changes nothing, the
// request is either gone (ENOTFOUND) or has its code already
// (coffer.ErrOIDCCodeIssued).
func (s *Store) SetOIDCAuthCode(ctx context.Context, id string, codeHash []byte) error {
	res, err := s.wr.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = ? WHERE id = ? AND code_hash IS NULL`, codeHash, id)
	if err != nil {
		return s.mapErr("SetOIDCAuthCode", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return s.mapErr("SetOIDCAuthCode", err)
	}
	var one int
	if err := s.rd.QueryRow(ctx, `SELECT 1 FROM oidc_auth_requests WHERE id = ?`, id).Scan(&one); err != nil {
		return s.mapErr("SetOIDCAuthCode", err)
	}
	return coffer.ErrOIDCCodeIssued
}

// TakeOIDCAuthCode implements coffer.OIDCStore: the delete is the claim,
// so two exchanges of one code cannot both win.
func (s *Store) TakeOIDCAuthCode(ctx context.Context, codeHash []byte) (*coffer.OIDCAuthRequest, error) {
	if codeHash == nil {
		return nil, s.mapErr("TakeOIDCAuthCode", sql.ErrNoRows)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := scanOIDCRequest(s.wr.QueryRow(ctx, `DELETE FROM oidc_auth_requests WHERE code_hash = ? RETURNING `+oidcRequestCols, codeHash))
	if err != nil {
		return nil, s.mapErr("TakeOIDCAuthCode", s.inDoubt(ctx, err))
	}
	return r, nil
}

// DeleteOIDCAuthRequest implements coffer.OIDCStore.
func (s *Store) DeleteOIDCAuthRequest(ctx context.Context, id string) error {
	_, err := s.wr.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, id)
	return s.mapErr("DeleteOIDCAuthRequest", err)
}

const oidcTokenCols = `id, kind, client_id, member_id, data, created_at, expires_at`

func insertOIDCToken(ctx context.Context, c conn, t *coffer.OIDCToken) error {
	_, err := c.Exec(ctx, `INSERT INTO oidc_tokens (`+oidcTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Kind, t.ClientID, t.MemberID, t.Data, ms(t.CreatedAt), ms(t.ExpiresAt))
	return err
}

// CreateOIDCToken implements coffer.OIDCStore.
func (s *Store) CreateOIDCToken(ctx context.Context, t *coffer.OIDCToken) error {
	return s.mapErr("CreateOIDCToken", insertOIDCToken(ctx, s.wr, t))
}

// OIDCToken implements coffer.OIDCStore.
func (s *Store) OIDCToken(ctx context.Context, id string) (*coffer.OIDCToken, error) {
	t := &coffer.OIDCToken{}
	var created, expires int64
	err := s.rd.QueryRow(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens WHERE id = ?`, id).
		Scan(&t.ID, &t.Kind, &t.ClientID, &t.MemberID, &t.Data, &created, &expires)
	if err != nil {
		return nil, s.mapErr("OIDCToken", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	return t, nil
}

// RotateOIDCToken implements coffer.OIDCStore. The delete is the claim:
// of two concurrent rotations of one token, the second deletes nothing
// and fails.
func (s *Store) RotateOIDCToken(ctx context.Context, oldID string, next ...*coffer.OIDCToken) error {
	return s.write(ctx, "RotateOIDCToken", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM oidc_tokens WHERE id = ? AND kind = ?`, oldID, coffer.OIDCRefreshToken)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, sql.ErrNoRows)
		}
		for _, t := range next {
			if err := insertOIDCToken(ctx, tx.conn, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteOIDCToken implements coffer.OIDCStore.
func (s *Store) DeleteOIDCToken(ctx context.Context, id string) error {
	_, err := s.wr.Exec(ctx, `DELETE FROM oidc_tokens WHERE id = ?`, id)
	return s.mapErr("DeleteOIDCToken", err)
}

// DeleteOIDCTokens implements coffer.OIDCStore.
func (s *Store) DeleteOIDCTokens(ctx context.Context, memberID, clientID string) error {
	_, err := s.wr.Exec(ctx, `DELETE FROM oidc_tokens WHERE member_id = ? AND client_id = ?`, memberID, clientID)
	return s.mapErr("DeleteOIDCTokens", err)
}

// DeleteExpiredOIDC implements coffer.OIDCStore.
func (s *Store) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error) {
	return s.sweep(ctx, "DeleteExpiredOIDC", ms(now),
		`DELETE FROM oidc_auth_requests WHERE id IN (SELECT id FROM oidc_auth_requests WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM oidc_tokens WHERE id IN (SELECT id FROM oidc_tokens WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM oidc_session_amr WHERE session_id IN (SELECT session_id FROM oidc_session_amr WHERE expires_at <= ?1 LIMIT ?2)`)
}

func scanOIDCConsent(row Scanner, c *coffer.OIDCConsent) (*coffer.OIDCConsent, error) {
	var scopes string
	var created int64
	if err := row.Scan(&c.ClientID, &scopes, &created); err != nil {
		return nil, err
	}
	c.Scopes, c.CreatedAt = fromJSONList(scopes), fromMs(created)
	return c, nil
}

// OIDCConsent implements coffer.OIDCStore.
func (s *Store) OIDCConsent(ctx context.Context, memberID, clientID string) (*coffer.OIDCConsent, error) {
	c, err := scanOIDCConsent(s.rd.QueryRow(ctx, `SELECT client_id, scopes, created_at FROM oidc_consents WHERE member_id = ? AND client_id = ?`,
		memberID, clientID), &coffer.OIDCConsent{MemberID: memberID})
	if err != nil {
		return nil, s.mapErr("OIDCConsent", err)
	}
	return c, nil
}

// OIDCConsents implements coffer.OIDCStore.
func (s *Store) OIDCConsents(ctx context.Context, memberID string) ([]*coffer.OIDCConsent, error) {
	rows, err := s.rd.Query(ctx, `SELECT client_id, scopes, created_at FROM oidc_consents WHERE member_id = ? ORDER BY created_at, client_id`, memberID)
	return orEmpty(collect(s, "OIDCConsents", rows, err, func(r Scanner) (*coffer.OIDCConsent, error) {
		return scanOIDCConsent(r, &coffer.OIDCConsent{MemberID: memberID})
	}))
}

// SetOIDCConsent implements coffer.OIDCStore.
func (s *Store) SetOIDCConsent(ctx context.Context, c *coffer.OIDCConsent) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO oidc_consents (member_id, client_id, scopes, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (member_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		c.MemberID, c.ClientID, jsonList(c.Scopes), ms(c.CreatedAt))
	return s.mapErr("SetOIDCConsent", err)
}

// DeleteOIDCConsent implements coffer.OIDCStore.
func (s *Store) DeleteOIDCConsent(ctx context.Context, memberID, clientID string) error {
	return s.write(ctx, "DeleteOIDCConsent", lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM oidc_consents WHERE member_id = ? AND client_id = ?`, memberID, clientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, sql.ErrNoRows)
		}
		_, err = tx.Exec(ctx, `DELETE FROM oidc_tokens WHERE member_id = ? AND client_id = ?`, memberID, clientID)
		return err
	})
}

// AddOIDCSigningKey implements coffer.OIDCStore.
func (s *Store) AddOIDCSigningKey(ctx context.Context, k *coffer.OIDCSigningKey) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO oidc_signing_keys (id, algorithm, sealed, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Sealed, ms(k.CreatedAt))
	return s.mapErr("AddOIDCSigningKey", err)
}

// OIDCSigningKeys implements coffer.OIDCStore.
func (s *Store) OIDCSigningKeys(ctx context.Context) ([]*coffer.OIDCSigningKey, error) {
	rows, err := s.rd.Query(ctx, `SELECT id, algorithm, sealed, created_at FROM oidc_signing_keys ORDER BY created_at DESC, id DESC`)
	return orEmpty(collect(s, "OIDCSigningKeys", rows, err, func(r Scanner) (*coffer.OIDCSigningKey, error) {
		k := &coffer.OIDCSigningKey{}
		var created int64
		if err := r.Scan(&k.ID, &k.Algorithm, &k.Sealed, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMs(created)
		return k, nil
	}))
}

// DeleteOIDCSigningKey implements coffer.OIDCStore.
func (s *Store) DeleteOIDCSigningKey(ctx context.Context, id string) error {
	_, err := s.wr.Exec(ctx, `DELETE FROM oidc_signing_keys WHERE id = ?`, id)
	return s.mapErr("DeleteOIDCSigningKey", err)
}

// SetSessionAMR implements coffer.OIDCStore.
func (s *Store) SetSessionAMR(ctx context.Context, sessionID string, amr []string, expiresAt time.Time) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO oidc_session_amr (session_id, amr, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET amr = excluded.amr, expires_at = excluded.expires_at`, sessionID, jsonList(amr), ms(expiresAt))
	return s.mapErr("SetSessionAMR", err)
}

// SessionAMR implements coffer.OIDCStore.
func (s *Store) SessionAMR(ctx context.Context, sessionID string) ([]string, error) {
	var amr string
	if err := s.rd.QueryRow(ctx, `SELECT amr FROM oidc_session_amr WHERE session_id = ?`, sessionID).Scan(&amr); err != nil {
		return nil, s.mapErr("SessionAMR", err)
	}
	return fromJSONList(amr), nil
}
