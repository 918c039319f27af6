-- The payment forms: protected transfers (held money), invoices, trusts,
-- refunds and fees. Every new column has a constant default, so adding it
-- does not rewrite the table and older rows read as plain completed
-- transfers and available-money entries.

ALTER TABLE purses ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CONSTRAINT purses_held_check CHECK (held >= 0);

ALTER TABLE transfers
	ADD COLUMN kind             TEXT NOT NULL DEFAULT 'transfer',
	ADD COLUMN status           TEXT NOT NULL DEFAULT 'completed',
	ADD COLUMN fee              BIGINT NOT NULL DEFAULT 0 CONSTRAINT transfers_fee_check CHECK (fee >= 0),
	ADD COLUMN fee_purse        TEXT NOT NULL DEFAULT '',
	ADD COLUMN invoice_id       TEXT NOT NULL DEFAULT '',
	ADD COLUMN trust_id         TEXT NOT NULL DEFAULT '',
	ADD COLUMN refund_of        BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN refunded         BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN protect_by_code  BOOLEAN NOT NULL DEFAULT false,
	ADD COLUMN protect_salt     BYTEA,
	ADD COLUMN protect_hash     BYTEA,
	ADD COLUMN protect_until    BIGINT,      -- ms
	ADD COLUMN protect_attempts INTEGER NOT NULL DEFAULT 0;

-- Partial indexes: a plain transfer matches none of their predicates, so
-- they cost the hot insert path nothing but the predicate test.
CREATE INDEX transfers_held_due ON transfers(protect_until) WHERE status = 'held';
CREATE INDEX transfers_held_sender ON transfers(sender) WHERE status = 'held';
CREATE INDEX transfers_held_payee ON transfers(payee) WHERE status = 'held';
CREATE INDEX transfers_refunds ON transfers(refund_of) WHERE refund_of <> 0;

ALTER TABLE entries
	ADD COLUMN kind         TEXT NOT NULL DEFAULT 'transfer',
	ADD COLUMN held         BOOLEAN NOT NULL DEFAULT false,
	ADD COLUMN counterparty TEXT NOT NULL DEFAULT '';

CREATE TABLE invoices (
	id           TEXT PRIMARY KEY,
	merchant     TEXT NOT NULL,
	payer        TEXT NOT NULL,
	purse        TEXT NOT NULL,
	currency     TEXT NOT NULL,
	amount       BIGINT NOT NULL,
	description  TEXT NOT NULL,
	order_number TEXT NOT NULL,
	state        TEXT NOT NULL,
	transfer_seq BIGINT NOT NULL DEFAULT 0, -- 0 while unpaid
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	CONSTRAINT invoices_order_number UNIQUE (merchant, order_number)
);
CREATE INDEX invoices_payer ON invoices(payer, created_at);
CREATE INDEX invoices_merchant ON invoices(merchant, created_at);

CREATE TABLE trusts (
	id           TEXT PRIMARY KEY,
	owner        TEXT NOT NULL,
	merchant     TEXT NOT NULL,
	purse        TEXT NOT NULL,
	per_transfer BIGINT NOT NULL DEFAULT 0, -- 0: no limit of this kind
	per_day      BIGINT NOT NULL DEFAULT 0,
	per_month    BIGINT NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	revoked_at   BIGINT
);
CREATE INDEX trusts_owner ON trusts(owner);
CREATE INDEX trusts_merchant ON trusts(merchant);

-- The operator's fee per currency; tiny, read whole by every ledger batch.
CREATE TABLE fee_rules (
	currency   TEXT PRIMARY KEY,
	ppm        BIGINT NOT NULL CHECK (ppm BETWEEN 0 AND 1000000),
	min        BIGINT NOT NULL CHECK (min >= 0),
	max        BIGINT NOT NULL CHECK (max >= 0),
	purse      TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
