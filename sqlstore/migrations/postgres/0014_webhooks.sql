-- Webhook endpoints, the outbox the ledger batch fills in its own
-- transaction, delivery attempts, and hosted checkout (orders, merchant
-- secrets, request nonces).
CREATE TABLE webhook_endpoints (
	id         TEXT PRIMARY KEY,
	member_id  TEXT NOT NULL REFERENCES members(id),
	url        TEXT NOT NULL,
	events     TEXT NOT NULL, -- ",transfer.incoming,invoice.paid,"
	signing    TEXT NOT NULL,
	secret     BYTEA,
	created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_member ON webhook_endpoints(member_id);

CREATE TABLE webhook_outbox (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	endpoint_id  TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	type         TEXT NOT NULL,
	member_id    TEXT NOT NULL,
	transfer_seq BIGINT NOT NULL,
	invoice_id   TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'pending',
	next_at BIGINT NOT NULL,
	UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
	outbox_id   BIGINT NOT NULL,
	at BIGINT NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_outbox ON webhook_attempts(outbox_id, at);

CREATE TABLE checkouts (
	invoice_id   TEXT PRIMARY KEY,
	merchant     TEXT NOT NULL,
	order_number TEXT NOT NULL,
	result_url   TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE checkout_secrets (
	member_id  TEXT PRIMARY KEY REFERENCES members(id),
	secret     BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE checkout_nonces (
	merchant   TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (merchant, nonce)
);
CREATE INDEX checkout_nonces_expiry ON checkout_nonces(expires_at);
