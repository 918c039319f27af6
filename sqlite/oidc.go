package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/coffer-money/coffer"
)

// The OpenID Connect provider's storage: coffer.OIDCStore.

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

// CreateOIDCClient implements coffer.OIDCStore.
func (db *DB) CreateOIDCClient(ctx context.Context, c *coffer.OIDCClient) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, public, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, jsonList(c.RedirectURIs), c.Public, ms(c.CreatedAt))
	return mapErr("sqlite.CreateOIDCClient", err)
}

const oidcClientCols = `id, name, secret_hash, redirect_uris, public, created_at`

func scanOIDCClient(row interface{ Scan(...any) error }) (*coffer.OIDCClient, error) {
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
func (db *DB) OIDCClient(ctx context.Context, id string) (*coffer.OIDCClient, error) {
	c, err := scanOIDCClient(db.r.QueryRowContext(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.OIDCClient", err)
	}
	return c, nil
}

// OIDCClients implements coffer.OIDCStore.
func (db *DB) OIDCClients(ctx context.Context) ([]*coffer.OIDCClient, error) {
	const op = "sqlite.OIDCClients"
	rows, err := db.r.QueryContext(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*coffer.OIDCClient{}
	for rows.Next() {
		c, err := scanOIDCClient(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, c)
	}
	return out, mapErr(op, rows.Err())
}

// execOne runs a statement that must touch a row; ENOTFOUND otherwise.
func (db *DB) execOne(ctx context.Context, op, q string, args ...any) error {
	res, err := db.w.ExecContext(ctx, q, args...)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mapErr(op, sql.ErrNoRows)
	}
	return nil
}

// DeleteOIDCClient implements coffer.OIDCStore; its requests, tokens and
// consents go with it (ON DELETE CASCADE).
func (db *DB) DeleteOIDCClient(ctx context.Context, id string) error {
	return db.execOne(ctx, "sqlite.DeleteOIDCClient", `DELETE FROM oidc_clients WHERE id = ?`, id)
}

// CreateOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) CreateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO oidc_auth_requests (id, client_id, member_id, data, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.MemberID, r.Data, r.CodeHash, ms(r.CreatedAt), ms(r.ExpiresAt))
	return mapErr("sqlite.CreateOIDCAuthRequest", err)
}

const oidcRequestCols = `id, client_id, member_id, data, code_hash, created_at, expires_at`

func scanOIDCRequest(row interface{ Scan(...any) error }) (*coffer.OIDCAuthRequest, error) {
	r := &coffer.OIDCAuthRequest{}
	var created, expires int64
	if err := row.Scan(&r.ID, &r.ClientID, &r.MemberID, &r.Data, &r.CodeHash, &created, &expires); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt = fromMs(created), fromMs(expires)
	return r, nil
}

// OIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) OIDCAuthRequest(ctx context.Context, id string) (*coffer.OIDCAuthRequest, error) {
	r, err := scanOIDCRequest(db.r.QueryRowContext(ctx, `SELECT `+oidcRequestCols+` FROM oidc_auth_requests WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("sqlite.OIDCAuthRequest", err)
	}
	return r, nil
}

// UpdateOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) UpdateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	return db.execOne(ctx, "sqlite.UpdateOIDCAuthRequest", `UPDATE oidc_auth_requests SET member_id = ?, data = ? WHERE id = ?`, r.MemberID, r.Data, r.ID)
}

// SetOIDCAuthCode implements coffer.OIDCStore.
func (db *DB) SetOIDCAuthCode(ctx context.Context, id string, codeHash []byte) error {
	const op = "sqlite.SetOIDCAuthCode"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	var have []byte
	if err := tx.QueryRowContext(ctx, `SELECT code_hash FROM oidc_auth_requests WHERE id = ?`, id).Scan(&have); err != nil {
		return mapErr(op, err)
	}
	if have != nil {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "A code was issued already.", Op: op}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE oidc_auth_requests SET code_hash = ? WHERE id = ?`, codeHash, id); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

// TakeOIDCAuthCode implements coffer.OIDCStore: the delete is the claim,
// so two exchanges of one code cannot both win.
func (db *DB) TakeOIDCAuthCode(ctx context.Context, codeHash []byte) (*coffer.OIDCAuthRequest, error) {
	if codeHash == nil {
		return nil, mapErr("sqlite.TakeOIDCAuthCode", sql.ErrNoRows)
	}
	r, err := scanOIDCRequest(db.w.QueryRowContext(ctx, `DELETE FROM oidc_auth_requests WHERE code_hash = ? RETURNING `+oidcRequestCols, codeHash))
	if err != nil {
		return nil, mapErr("sqlite.TakeOIDCAuthCode", err)
	}
	return r, nil
}

// DeleteOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) DeleteOIDCAuthRequest(ctx context.Context, id string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, id)
	return mapErr("sqlite.DeleteOIDCAuthRequest", err)
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func insertOIDCToken(ctx context.Context, x execer, t *coffer.OIDCToken) error {
	_, err := x.ExecContext(ctx, `INSERT INTO oidc_tokens (id, kind, client_id, member_id, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Kind, t.ClientID, t.MemberID, t.Data, ms(t.CreatedAt), ms(t.ExpiresAt))
	return err
}

// CreateOIDCToken implements coffer.OIDCStore.
func (db *DB) CreateOIDCToken(ctx context.Context, t *coffer.OIDCToken) error {
	return mapErr("sqlite.CreateOIDCToken", insertOIDCToken(ctx, db.w, t))
}

// OIDCToken implements coffer.OIDCStore.
func (db *DB) OIDCToken(ctx context.Context, id string) (*coffer.OIDCToken, error) {
	t := &coffer.OIDCToken{}
	var created, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT id, kind, client_id, member_id, data, created_at, expires_at FROM oidc_tokens WHERE id = ?`, id).
		Scan(&t.ID, &t.Kind, &t.ClientID, &t.MemberID, &t.Data, &created, &expires)
	if err != nil {
		return nil, mapErr("sqlite.OIDCToken", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	return t, nil
}

// RotateOIDCToken implements coffer.OIDCStore.
func (db *DB) RotateOIDCToken(ctx context.Context, oldID string, next ...*coffer.OIDCToken) error {
	const op = "sqlite.RotateOIDCToken"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE id = ? AND kind = ?`, oldID, coffer.OIDCRefreshToken)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mapErr(op, sql.ErrNoRows)
	}
	for _, t := range next {
		if err := insertOIDCToken(ctx, tx, t); err != nil {
			return mapErr(op, err)
		}
	}
	return mapErr(op, tx.Commit())
}

// DeleteOIDCToken implements coffer.OIDCStore.
func (db *DB) DeleteOIDCToken(ctx context.Context, id string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE id = ?`, id)
	return mapErr("sqlite.DeleteOIDCToken", err)
}

// DeleteOIDCTokens implements coffer.OIDCStore.
func (db *DB) DeleteOIDCTokens(ctx context.Context, memberID, clientID string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE member_id = ? AND client_id = ?`, memberID, clientID)
	return mapErr("sqlite.DeleteOIDCTokens", err)
}

// DeleteExpiredOIDC implements coffer.OIDCStore.
func (db *DB) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error) {
	const op = "sqlite.DeleteExpiredOIDC"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, mapErr(op, err)
	}
	defer tx.Rollback()
	var total int64
	for _, q := range []string{`DELETE FROM oidc_auth_requests WHERE expires_at <= ?`, `DELETE FROM oidc_tokens WHERE expires_at <= ?`,
		`DELETE FROM oidc_session_amr WHERE expires_at <= ?`} {
		res, err := tx.ExecContext(ctx, q, ms(now))
		if err != nil {
			return 0, mapErr(op, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, mapErr(op, tx.Commit())
}

// OIDCConsent implements coffer.OIDCStore.
func (db *DB) OIDCConsent(ctx context.Context, memberID, clientID string) (*coffer.OIDCConsent, error) {
	c := &coffer.OIDCConsent{MemberID: memberID, ClientID: clientID}
	var scopes string
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT scopes, created_at FROM oidc_consents WHERE member_id = ? AND client_id = ?`, memberID, clientID).Scan(&scopes, &created)
	if err != nil {
		return nil, mapErr("sqlite.OIDCConsent", err)
	}
	c.Scopes, c.CreatedAt = fromJSONList(scopes), fromMs(created)
	return c, nil
}

// OIDCConsents implements coffer.OIDCStore.
func (db *DB) OIDCConsents(ctx context.Context, memberID string) ([]*coffer.OIDCConsent, error) {
	const op = "sqlite.OIDCConsents"
	rows, err := db.r.QueryContext(ctx, `SELECT client_id, scopes, created_at FROM oidc_consents WHERE member_id = ? ORDER BY created_at, client_id`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*coffer.OIDCConsent{}
	for rows.Next() {
		c := &coffer.OIDCConsent{MemberID: memberID}
		var scopes string
		var created int64
		if err := rows.Scan(&c.ClientID, &scopes, &created); err != nil {
			return nil, mapErr(op, err)
		}
		c.Scopes, c.CreatedAt = fromJSONList(scopes), fromMs(created)
		out = append(out, c)
	}
	return out, mapErr(op, rows.Err())
}

// SetOIDCConsent implements coffer.OIDCStore.
func (db *DB) SetOIDCConsent(ctx context.Context, c *coffer.OIDCConsent) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO oidc_consents (member_id, client_id, scopes, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (member_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		c.MemberID, c.ClientID, jsonList(c.Scopes), ms(c.CreatedAt))
	return mapErr("sqlite.SetOIDCConsent", err)
}

// DeleteOIDCConsent implements coffer.OIDCStore.
func (db *DB) DeleteOIDCConsent(ctx context.Context, memberID, clientID string) error {
	const op = "sqlite.DeleteOIDCConsent"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM oidc_consents WHERE member_id = ? AND client_id = ?`, memberID, clientID)
	if err != nil {
		return mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mapErr(op, sql.ErrNoRows)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_tokens WHERE member_id = ? AND client_id = ?`, memberID, clientID); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

// AddOIDCSigningKey implements coffer.OIDCStore.
func (db *DB) AddOIDCSigningKey(ctx context.Context, k *coffer.OIDCSigningKey) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO oidc_signing_keys (id, algorithm, sealed, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Sealed, ms(k.CreatedAt))
	return mapErr("sqlite.AddOIDCSigningKey", err)
}

// OIDCSigningKeys implements coffer.OIDCStore.
func (db *DB) OIDCSigningKeys(ctx context.Context) ([]*coffer.OIDCSigningKey, error) {
	const op = "sqlite.OIDCSigningKeys"
	rows, err := db.r.QueryContext(ctx, `SELECT id, algorithm, sealed, created_at FROM oidc_signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*coffer.OIDCSigningKey{}
	for rows.Next() {
		k := &coffer.OIDCSigningKey{}
		var created int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Sealed, &created); err != nil {
			return nil, mapErr(op, err)
		}
		k.CreatedAt = fromMs(created)
		out = append(out, k)
	}
	return out, mapErr(op, rows.Err())
}

// DeleteOIDCSigningKey implements coffer.OIDCStore.
func (db *DB) DeleteOIDCSigningKey(ctx context.Context, id string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM oidc_signing_keys WHERE id = ?`, id)
	return mapErr("sqlite.DeleteOIDCSigningKey", err)
}

// SetSessionAMR implements coffer.OIDCStore.
func (db *DB) SetSessionAMR(ctx context.Context, sessionID string, amr []string, expiresAt time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO oidc_session_amr (session_id, amr, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET amr = excluded.amr, expires_at = excluded.expires_at`, sessionID, jsonList(amr), ms(expiresAt))
	return mapErr("sqlite.SetSessionAMR", err)
}

// SessionAMR implements coffer.OIDCStore.
func (db *DB) SessionAMR(ctx context.Context, sessionID string) ([]string, error) {
	var amr string
	if err := db.r.QueryRowContext(ctx, `SELECT amr FROM oidc_session_amr WHERE session_id = ?`, sessionID).Scan(&amr); err != nil {
		return nil, mapErr("sqlite.SessionAMR", err)
	}
	return fromJSONList(amr), nil
}

var _ coffer.OIDCStore = (*DB)(nil)
