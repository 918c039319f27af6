-- Fingerprints of keys every cofferd process on this database must share,
-- such as the secrets key that seals generator seeds. One process owns an
-- SQLite file, so nothing needs it yet here; the table exists so that both
-- dialects have the same schema and the same history.
CREATE TABLE instance_keys (
	name        TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	created_at  INTEGER NOT NULL
) STRICT;
