-- Request-signature nonces, shared by every process on the database, kept
-- until the signature could no longer be accepted anyway.
CREATE TABLE signature_nonces (
	key_id     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (key_id, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces(expires_at);
