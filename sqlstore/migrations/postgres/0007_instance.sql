-- Fingerprints of keys every cofferd process on this database must share,
-- such as the secrets key that seals generator seeds: a process started
-- with another key refuses to run instead of failing members' codes.
CREATE TABLE instance_keys (
	name        TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
