-- Members' client certificates, issued by the operator's CA (whose key is
-- kept in files in the data directory, not here).
CREATE TABLE certificates (
	id          TEXT PRIMARY KEY,
	member_id   TEXT NOT NULL REFERENCES members(id),
	serial      TEXT NOT NULL UNIQUE,
	fingerprint TEXT NOT NULL UNIQUE,
	key_type    TEXT NOT NULL,
	der         BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	not_before  INTEGER NOT NULL,
	not_after   INTEGER NOT NULL,
	revoked_at  INTEGER -- NULL while not revoked
) STRICT;
CREATE INDEX certificates_member ON certificates(member_id, created_at);

-- The addresses each certificate has been used from, so that the first use
-- from a new one can be told apart and audited.
CREATE TABLE certificate_ips (
	certificate_id TEXT NOT NULL REFERENCES certificates(id),
	ip             TEXT NOT NULL,
	first_seen     INTEGER NOT NULL,
	PRIMARY KEY (certificate_id, ip)
) STRICT;
