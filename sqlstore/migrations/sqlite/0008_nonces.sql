-- Request-signature nonces, kept until the signature could no longer be
-- accepted anyway, so that a signed request cannot be replayed after a
-- restart (the service's own memory of them is lost then).
CREATE TABLE signature_nonces (
	key_id     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (key_id, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX signature_nonces_expiry ON signature_nonces(expires_at);
