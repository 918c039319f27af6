-- Second factors: a verified phone and a code generator per member. The
-- generator seed is sealed (AES-GCM) with the server's key before it gets
-- here; last_step is the last accepted TOTP time step, so a code is never
-- accepted twice.
CREATE TABLE factors (
	member_id   TEXT NOT NULL REFERENCES members(id),
	kind        TEXT NOT NULL CHECK (kind IN ('phone', 'generator')),
	phone       TEXT NOT NULL DEFAULT '',
	secret      BLOB,
	verified_at INTEGER,
	last_step   INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (member_id, kind)
) STRICT, WITHOUT ROWID;

-- Recovery codes: SHA-256 of salt and code; single use.
CREATE TABLE recovery_codes (
	id        INTEGER PRIMARY KEY,
	member_id TEXT NOT NULL REFERENCES members(id),
	salt      BLOB NOT NULL,
	hash      BLOB NOT NULL,
	used_at   INTEGER
) STRICT;
CREATE INDEX recovery_codes_member ON recovery_codes(member_id);

-- Confirmations: login challenges, pending transfers and step-ups. At most
-- one pending confirmation per (member, purpose, ref).
CREATE TABLE confirmations (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES members(id),
	purpose    TEXT NOT NULL,
	ref        TEXT NOT NULL,
	body       TEXT NOT NULL,
	method     TEXT NOT NULL,
	challenge  TEXT NOT NULL,
	salt       BLOB,
	code_hash  BLOB,
	attempts   INTEGER NOT NULL DEFAULT 0,
	state      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX confirmations_ref ON confirmations(member_id, purpose, ref, created_at);
CREATE UNIQUE INDEX confirmations_pending ON confirmations(member_id, purpose, ref) WHERE state = 'pending';

-- When a member is asked for a second factor, as JSON.
CREATE TABLE confirmation_policies (
	member_id TEXT PRIMARY KEY REFERENCES members(id),
	policy    TEXT NOT NULL
) STRICT, WITHOUT ROWID;
