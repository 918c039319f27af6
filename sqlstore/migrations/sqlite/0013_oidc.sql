-- "Sign in with coffer": the OpenID Connect provider's clients, pending
-- authorization requests, tokens, consents, signing keys, and how each web
-- session's member authenticated.
CREATE TABLE oidc_clients (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	secret_hash   BLOB,
	redirect_uris TEXT NOT NULL,
	public        INTEGER NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_auth_requests (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	member_id  TEXT NOT NULL DEFAULT '',
	data       BLOB NOT NULL,
	code_hash  BLOB UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_auth_requests_expiry ON oidc_auth_requests (expires_at);

CREATE TABLE oidc_tokens (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	member_id  TEXT NOT NULL,
	data       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_tokens_member ON oidc_tokens (member_id, client_id);
CREATE INDEX oidc_tokens_expiry ON oidc_tokens (expires_at);

CREATE TABLE oidc_consents (
	member_id  TEXT NOT NULL,
	client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	scopes     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (member_id, client_id)
) STRICT;

CREATE TABLE oidc_signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_session_amr (
	session_id TEXT PRIMARY KEY,
	amr        TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
