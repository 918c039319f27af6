-- Request-signing keys (key files). A public key is unique for all time:
-- once revoked it can never be registered again, by anyone.
CREATE TABLE signing_keys (
	id           TEXT PRIMARY KEY,
	member_id    TEXT NOT NULL REFERENCES members(id),
	name         TEXT NOT NULL,
	public_key   BYTEA NOT NULL CONSTRAINT signing_keys_public_key_key UNIQUE CHECK (octet_length(public_key) = 32),
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX signing_keys_member ON signing_keys(member_id, created_at);

-- The addresses each key has signed from, so that the first use from a new
-- one can be recorded in the member's security log.
CREATE TABLE signing_key_ips (
	key_id   TEXT NOT NULL REFERENCES signing_keys(id),
	ip       TEXT NOT NULL,
	first_at BIGINT NOT NULL,
	PRIMARY KEY (key_id, ip)
);
