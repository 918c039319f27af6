-- Webhook endpoints, the outbox the ledger batch fills in its own
-- transaction, delivery attempts, and hosted checkout (orders, merchant
-- secrets, request nonces).
CREATE TABLE webhook_endpoints (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES members(id),
	url        TEXT NOT NULL,
	events     TEXT NOT NULL, -- ",transfer.incoming,invoice.paid,"
	signing    TEXT NOT NULL,
	secret     BLOB,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_member ON webhook_endpoints(member_id);

CREATE TABLE webhook_outbox (
	id           INTEGER PRIMARY KEY,
	endpoint_id  TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	type         TEXT NOT NULL,
	member_id    TEXT NOT NULL,
	transfer_seq INTEGER NOT NULL,
	invoice_id   TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	state        TEXT NOT NULL DEFAULT 'pending',
	next_at      INTEGER NOT NULL,
	UNIQUE (endpoint_id, event_id)
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
	outbox_id   INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_attempts_outbox ON webhook_attempts(outbox_id, at);

CREATE TABLE checkouts (
	invoice_id   TEXT PRIMARY KEY,
	merchant     TEXT NOT NULL,
	order_number TEXT NOT NULL,
	result_url   TEXT NOT NULL,
	created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE checkout_secrets (
	member_id  TEXT PRIMARY KEY REFERENCES members(id),
	secret     BLOB NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE checkout_nonces (
	merchant   TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (merchant, nonce)
) STRICT;
CREATE INDEX checkout_nonces_expiry ON checkout_nonces(expires_at);
