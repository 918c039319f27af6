-- One row the readiness probe (/readyz) updates: a committed write proves
-- the store takes writes now (the disk has room, the server is a primary,
-- the writer is not stuck).
CREATE TABLE probe (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  BIGINT NOT NULL
);
INSERT INTO probe (id, n) VALUES (1, 0);
