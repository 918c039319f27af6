-- security settings: allowed IP ranges, notifications, purse limits with
-- their spend counters, unblock codes, addresses seen per member

CREATE TABLE member_settings (
	member_id       TEXT PRIMARY KEY REFERENCES members(id),
	ip_ranges       TEXT NOT NULL DEFAULT '',   -- normalised prefixes, space separated
	new_device      INTEGER NOT NULL DEFAULT 0,
	notify_login    INTEGER NOT NULL DEFAULT 1,
	notify_incoming INTEGER NOT NULL DEFAULT 0,
	notify_security INTEGER NOT NULL DEFAULT 1,
	updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE purse_limits (
	purse        TEXT PRIMARY KEY REFERENCES purses(number),
	per_transfer INTEGER CHECK (per_transfer >= 0),
	per_day      INTEGER CHECK (per_day >= 0),
	per_month    INTEGER CHECK (per_month >= 0),
	updated_at   INTEGER NOT NULL
) STRICT;

-- What left a purse with limits per UTC day ('2026-11-25') and month
-- ('2026-11'); written by the ledger in the batch that moves the money.
CREATE TABLE purse_spend (
	purse  TEXT NOT NULL,
	period TEXT NOT NULL,
	amount INTEGER NOT NULL,
	PRIMARY KEY (purse, period)
) STRICT, WITHOUT ROWID;

CREATE TABLE unblock_codes (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES members(id),
	ip         TEXT NOT NULL,
	code_hash  BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	used_at    INTEGER
) STRICT;
CREATE INDEX unblock_codes_member ON unblock_codes(member_id, ip);

CREATE TABLE member_ips (
	member_id  TEXT NOT NULL,
	ip         TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	PRIMARY KEY (member_id, ip)
) STRICT, WITHOUT ROWID;
