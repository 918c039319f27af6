-- security settings: allowed IP ranges, notifications, purse limits with
-- their spend counters, unblock codes, addresses seen per member

CREATE TABLE member_settings (
	member_id       TEXT PRIMARY KEY REFERENCES members(id),
	ip_ranges       TEXT NOT NULL DEFAULT '',   -- normalised prefixes, space separated
	new_device      BOOLEAN NOT NULL DEFAULT false,
	notify_login    BOOLEAN NOT NULL DEFAULT true,
	notify_incoming BOOLEAN NOT NULL DEFAULT false,
	notify_security BOOLEAN NOT NULL DEFAULT true,
	updated_at      BIGINT NOT NULL
);

CREATE TABLE purse_limits (
	purse        TEXT PRIMARY KEY REFERENCES purses(number),
	per_transfer BIGINT CHECK (per_transfer >= 0),
	per_day      BIGINT CHECK (per_day >= 0),
	per_month    BIGINT CHECK (per_month >= 0),
	updated_at   BIGINT NOT NULL
);

-- What left a purse with limits per UTC day ('2026-11-25') and month
-- ('2026-11'); written by the ledger in the batch that moves the money.
CREATE TABLE purse_spend (
	purse  TEXT NOT NULL,
	period TEXT NOT NULL,
	amount BIGINT NOT NULL,
	PRIMARY KEY (purse, period)
);

CREATE TABLE unblock_codes (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES members(id),
	ip         TEXT NOT NULL,
	code_hash  BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	used_at    BIGINT
);
CREATE INDEX unblock_codes_member ON unblock_codes(member_id, ip);

CREATE TABLE member_ips (
	member_id  TEXT NOT NULL,
	ip         TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	PRIMARY KEY (member_id, ip)
);
