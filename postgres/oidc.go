package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
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
	_, err := db.pool.Exec(ctx, `INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, public, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ID, c.Name, c.SecretHash, jsonList(c.RedirectURIs), c.Public, ms(c.CreatedAt))
	return mapErr("postgres.CreateOIDCClient", err)
}

const oidcClientCols = `id, name, secret_hash, redirect_uris, public, created_at`

func scanOIDCClient(row rowScanner) (*coffer.OIDCClient, error) {
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
	c, err := scanOIDCClient(db.pool.QueryRow(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.OIDCClient", err)
	}
	return c, nil
}

// OIDCClients implements coffer.OIDCStore.
func (db *DB) OIDCClients(ctx context.Context) ([]*coffer.OIDCClient, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_at, id`)
	out, err := collect(rows, err, "postgres.OIDCClients", scanOIDCClient)
	if out == nil && err == nil {
		out = []*coffer.OIDCClient{}
	}
	return out, err
}

// execOne runs a statement that must touch a row; ENOTFOUND otherwise.
func (db *DB) execOne(ctx context.Context, op, q string, args ...any) error {
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(op, pgx.ErrNoRows)
	}
	return nil
}

// DeleteOIDCClient implements coffer.OIDCStore; its requests, tokens and
// consents go with it (ON DELETE CASCADE).
func (db *DB) DeleteOIDCClient(ctx context.Context, id string) error {
	return db.execOne(ctx, "postgres.DeleteOIDCClient", `DELETE FROM oidc_clients WHERE id = $1`, id)
}

// CreateOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) CreateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oidc_auth_requests (id, client_id, member_id, data, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.ClientID, r.MemberID, r.Data, r.CodeHash, ms(r.CreatedAt), ms(r.ExpiresAt))
	return mapErr("postgres.CreateOIDCAuthRequest", err)
}

const oidcRequestCols = `id, client_id, member_id, data, code_hash, created_at, expires_at`

func scanOIDCRequest(row rowScanner) (*coffer.OIDCAuthRequest, error) {
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
	r, err := scanOIDCRequest(db.pool.QueryRow(ctx, `SELECT `+oidcRequestCols+` FROM oidc_auth_requests WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("postgres.OIDCAuthRequest", err)
	}
	return r, nil
}

// UpdateOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) UpdateOIDCAuthRequest(ctx context.Context, r *coffer.OIDCAuthRequest) error {
	return db.execOne(ctx, "postgres.UpdateOIDCAuthRequest", `UPDATE oidc_auth_requests SET member_id = $1, data = $2 WHERE id = $3`, r.MemberID, r.Data, r.ID)
}

// SetOIDCAuthCode implements coffer.OIDCStore: one statement, so two
// concurrent calls cannot both set a code.
func (db *DB) SetOIDCAuthCode(ctx context.Context, id string, codeHash []byte) error {
	const op = "postgres.SetOIDCAuthCode"
	tag, err := db.pool.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = $1 WHERE id = $2 AND code_hash IS NULL`, codeHash, id)
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := db.OIDCAuthRequest(ctx, id); err != nil {
		return err
	}
	return &coffer.Error{Code: coffer.ECONFLICT, Message: "A code was issued already.", Op: op}
}

// TakeOIDCAuthCode implements coffer.OIDCStore: the delete is the claim,
// so two exchanges of one code cannot both win.
func (db *DB) TakeOIDCAuthCode(ctx context.Context, codeHash []byte) (*coffer.OIDCAuthRequest, error) {
	if codeHash == nil {
		return nil, mapErr("postgres.TakeOIDCAuthCode", pgx.ErrNoRows)
	}
	r, err := scanOIDCRequest(db.pool.QueryRow(ctx, `DELETE FROM oidc_auth_requests WHERE code_hash = $1 RETURNING `+oidcRequestCols, codeHash))
	if err != nil {
		return nil, mapErr("postgres.TakeOIDCAuthCode", err)
	}
	return r, nil
}

// DeleteOIDCAuthRequest implements coffer.OIDCStore.
func (db *DB) DeleteOIDCAuthRequest(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = $1`, id)
	return mapErr("postgres.DeleteOIDCAuthRequest", err)
}

const insertOIDCTokenSQL = `INSERT INTO oidc_tokens (id, kind, client_id, member_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`

func oidcTokenArgs(t *coffer.OIDCToken) []any {
	return []any{t.ID, t.Kind, t.ClientID, t.MemberID, t.Data, ms(t.CreatedAt), ms(t.ExpiresAt)}
}

// CreateOIDCToken implements coffer.OIDCStore.
func (db *DB) CreateOIDCToken(ctx context.Context, t *coffer.OIDCToken) error {
	_, err := db.pool.Exec(ctx, insertOIDCTokenSQL, oidcTokenArgs(t)...)
	return mapErr("postgres.CreateOIDCToken", err)
}

// OIDCToken implements coffer.OIDCStore.
func (db *DB) OIDCToken(ctx context.Context, id string) (*coffer.OIDCToken, error) {
	t := &coffer.OIDCToken{}
	var created, expires int64
	err := db.pool.QueryRow(ctx, `SELECT id, kind, client_id, member_id, data, created_at, expires_at FROM oidc_tokens WHERE id = $1`, id).
		Scan(&t.ID, &t.Kind, &t.ClientID, &t.MemberID, &t.Data, &created, &expires)
	if err != nil {
		return nil, mapErr("postgres.OIDCToken", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	return t, nil
}

// RotateOIDCToken implements coffer.OIDCStore. The delete takes the row
// lock: of two concurrent rotations of one token, the second deletes
// nothing and fails.
func (db *DB) RotateOIDCToken(ctx context.Context, oldID string, next ...*coffer.OIDCToken) error {
	return db.inTx(ctx, "postgres.RotateOIDCToken", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oidc_tokens WHERE id = $1 AND kind = $2`, oldID, coffer.OIDCRefreshToken)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		for _, t := range next {
			if _, err := tx.Exec(ctx, insertOIDCTokenSQL, oidcTokenArgs(t)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteOIDCToken implements coffer.OIDCStore.
func (db *DB) DeleteOIDCToken(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM oidc_tokens WHERE id = $1`, id)
	return mapErr("postgres.DeleteOIDCToken", err)
}

// DeleteOIDCTokens implements coffer.OIDCStore.
func (db *DB) DeleteOIDCTokens(ctx context.Context, memberID, clientID string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM oidc_tokens WHERE member_id = $1 AND client_id = $2`, memberID, clientID)
	return mapErr("postgres.DeleteOIDCTokens", err)
}

// DeleteExpiredOIDC implements coffer.OIDCStore.
func (db *DB) DeleteExpiredOIDC(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := db.inTx(ctx, "postgres.DeleteExpiredOIDC", func(tx pgx.Tx) error {
		total = 0
		for _, q := range []string{`DELETE FROM oidc_auth_requests WHERE expires_at <= $1`, `DELETE FROM oidc_tokens WHERE expires_at <= $1`,
			`DELETE FROM oidc_session_amr WHERE expires_at <= $1`} {
			tag, err := tx.Exec(ctx, q, ms(now))
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	return total, err
}

// OIDCConsent implements coffer.OIDCStore.
func (db *DB) OIDCConsent(ctx context.Context, memberID, clientID string) (*coffer.OIDCConsent, error) {
	c := &coffer.OIDCConsent{MemberID: memberID, ClientID: clientID}
	var scopes string
	var created int64
	err := db.pool.QueryRow(ctx, `SELECT scopes, created_at FROM oidc_consents WHERE member_id = $1 AND client_id = $2`, memberID, clientID).Scan(&scopes, &created)
	if err != nil {
		return nil, mapErr("postgres.OIDCConsent", err)
	}
	c.Scopes, c.CreatedAt = fromJSONList(scopes), fromMs(created)
	return c, nil
}

// OIDCConsents implements coffer.OIDCStore.
func (db *DB) OIDCConsents(ctx context.Context, memberID string) ([]*coffer.OIDCConsent, error) {
	rows, err := db.pool.Query(ctx, `SELECT client_id, scopes, created_at FROM oidc_consents WHERE member_id = $1 ORDER BY created_at, client_id`, memberID)
	out, err := collect(rows, err, "postgres.OIDCConsents", func(row rowScanner) (*coffer.OIDCConsent, error) {
		c := &coffer.OIDCConsent{MemberID: memberID}
		var scopes string
		var created int64
		if err := row.Scan(&c.ClientID, &scopes, &created); err != nil {
			return nil, err
		}
		c.Scopes, c.CreatedAt = fromJSONList(scopes), fromMs(created)
		return c, nil
	})
	if out == nil && err == nil {
		out = []*coffer.OIDCConsent{}
	}
	return out, err
}

// SetOIDCConsent implements coffer.OIDCStore.
func (db *DB) SetOIDCConsent(ctx context.Context, c *coffer.OIDCConsent) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oidc_consents (member_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (member_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		c.MemberID, c.ClientID, jsonList(c.Scopes), ms(c.CreatedAt))
	return mapErr("postgres.SetOIDCConsent", err)
}

// DeleteOIDCConsent implements coffer.OIDCStore.
func (db *DB) DeleteOIDCConsent(ctx context.Context, memberID, clientID string) error {
	return db.inTx(ctx, "postgres.DeleteOIDCConsent", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oidc_consents WHERE member_id = $1 AND client_id = $2`, memberID, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		_, err = tx.Exec(ctx, `DELETE FROM oidc_tokens WHERE member_id = $1 AND client_id = $2`, memberID, clientID)
		return err
	})
}

// AddOIDCSigningKey implements coffer.OIDCStore.
func (db *DB) AddOIDCSigningKey(ctx context.Context, k *coffer.OIDCSigningKey) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oidc_signing_keys (id, algorithm, sealed, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Algorithm, k.Sealed, ms(k.CreatedAt))
	return mapErr("postgres.AddOIDCSigningKey", err)
}

// OIDCSigningKeys implements coffer.OIDCStore.
func (db *DB) OIDCSigningKeys(ctx context.Context) ([]*coffer.OIDCSigningKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, algorithm, sealed, created_at FROM oidc_signing_keys ORDER BY created_at DESC, id DESC`)
	out, err := collect(rows, err, "postgres.OIDCSigningKeys", func(row rowScanner) (*coffer.OIDCSigningKey, error) {
		k := &coffer.OIDCSigningKey{}
		var created int64
		if err := row.Scan(&k.ID, &k.Algorithm, &k.Sealed, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMs(created)
		return k, nil
	})
	if out == nil && err == nil {
		out = []*coffer.OIDCSigningKey{}
	}
	return out, err
}

// DeleteOIDCSigningKey implements coffer.OIDCStore.
func (db *DB) DeleteOIDCSigningKey(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM oidc_signing_keys WHERE id = $1`, id)
	return mapErr("postgres.DeleteOIDCSigningKey", err)
}

// SetSessionAMR implements coffer.OIDCStore.
func (db *DB) SetSessionAMR(ctx context.Context, sessionID string, amr []string, expiresAt time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO oidc_session_amr (session_id, amr, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (session_id) DO UPDATE SET amr = excluded.amr, expires_at = excluded.expires_at`, sessionID, jsonList(amr), ms(expiresAt))
	return mapErr("postgres.SetSessionAMR", err)
}

// SessionAMR implements coffer.OIDCStore.
func (db *DB) SessionAMR(ctx context.Context, sessionID string) ([]string, error) {
	var amr string
	if err := db.pool.QueryRow(ctx, `SELECT amr FROM oidc_session_amr WHERE session_id = $1`, sessionID).Scan(&amr); err != nil {
		return nil, mapErr("postgres.SessionAMR", err)
	}
	return fromJSONList(amr), nil
}

var _ coffer.OIDCStore = (*DB)(nil)
