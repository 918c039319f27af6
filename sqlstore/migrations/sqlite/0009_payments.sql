-- payment forms: held money of protected transfers, transfer kinds and
-- statuses, fees, refunds, invoices, trusts and fee rules

ALTER TABLE purses ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);

ALTER TABLE transfers ADD COLUMN kind TEXT NOT NULL DEFAULT 'transfer';
ALTER TABLE transfers ADD COLUMN status TEXT NOT NULL DEFAULT 'completed';
ALTER TABLE transfers ADD COLUMN fee INTEGER NOT NULL DEFAULT 0 CHECK (fee >= 0);
ALTER TABLE transfers ADD COLUMN fee_purse TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN invoice_id TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN trust_id TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN refund_of INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN protect_by_code INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN protect_salt BLOB;
ALTER TABLE transfers ADD COLUMN protect_hash BLOB;
ALTER TABLE transfers ADD COLUMN protect_until INTEGER;
ALTER TABLE transfers ADD COLUMN protect_attempts INTEGER NOT NULL DEFAULT 0;

-- Partial indexes: a plain transfer (the hot path) writes none of them.
-- Held transfers by due time (the scheduler) and by member (their lists).
CREATE INDEX transfers_held_due ON transfers(protect_until) WHERE status = 'held';
CREATE INDEX transfers_held_sender ON transfers(sender) WHERE status = 'held';
CREATE INDEX transfers_held_payee ON transfers(payee) WHERE status = 'held';
CREATE INDEX transfers_refunds ON transfers(refund_of) WHERE refund_of <> 0;

ALTER TABLE entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'transfer';
ALTER TABLE entries ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN counterparty TEXT NOT NULL DEFAULT '';

CREATE TABLE invoices (
	id           TEXT PRIMARY KEY,
	merchant     TEXT NOT NULL REFERENCES members(id),
	payer        TEXT NOT NULL REFERENCES members(id),
	purse        TEXT NOT NULL REFERENCES purses(number),
	currency     TEXT NOT NULL REFERENCES currencies(code),
	amount       INTEGER NOT NULL CHECK (amount > 0),
	description  TEXT NOT NULL,
	order_number TEXT NOT NULL,
	state        TEXT NOT NULL,
	transfer_seq INTEGER NOT NULL DEFAULT 0, -- 0 while unpaid
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	UNIQUE (merchant, order_number)
) STRICT;
CREATE INDEX invoices_payer ON invoices(payer, created_at);
CREATE INDEX invoices_merchant ON invoices(merchant, created_at);

CREATE TABLE trusts (
	id           TEXT PRIMARY KEY,
	owner        TEXT NOT NULL REFERENCES members(id),
	merchant     TEXT NOT NULL REFERENCES members(id),
	purse        TEXT NOT NULL REFERENCES purses(number),
	per_transfer INTEGER NOT NULL DEFAULT 0 CHECK (per_transfer >= 0), -- 0: no limit
	per_day      INTEGER NOT NULL DEFAULT 0 CHECK (per_day >= 0),
	per_month    INTEGER NOT NULL DEFAULT 0 CHECK (per_month >= 0),
	created_at   INTEGER NOT NULL,
	revoked_at   INTEGER
) STRICT;
CREATE INDEX trusts_owner ON trusts(owner);
CREATE INDEX trusts_merchant ON trusts(merchant);

CREATE TABLE fee_rules (
	currency   TEXT PRIMARY KEY REFERENCES currencies(code),
	ppm        INTEGER NOT NULL CHECK (ppm BETWEEN 0 AND 1000000),
	min        INTEGER NOT NULL DEFAULT 0 CHECK (min >= 0),
	max        INTEGER NOT NULL DEFAULT 0 CHECK (max >= 0),
	purse      TEXT NOT NULL REFERENCES purses(number),
	updated_at INTEGER NOT NULL
) STRICT;
