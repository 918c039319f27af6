CREATE TABLE audit_events (
	seq       BIGINT PRIMARY KEY,
	at        BIGINT NOT NULL,
	kind      TEXT NOT NULL,
	member_id TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash BYTEA NOT NULL,
	hash      BYTEA NOT NULL
);
CREATE INDEX audit_member ON audit_events(member_id, seq) WHERE kind <> 'transfer.applied';

-- The head of the hash chain. Appending locks this row, so concurrent
-- appenders (from any process) cannot fork the chain. Lock order: the
-- ledger head before the audit head, never the other way round.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ''::bytea);
