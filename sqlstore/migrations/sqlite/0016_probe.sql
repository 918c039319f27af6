-- One row the readiness probe (/readyz) updates: a committed write proves
-- the store takes writes now (the disk has room, the database is not
-- read-only, the writer is not stuck).
CREATE TABLE probe (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
) STRICT;
INSERT INTO probe (id, n) VALUES (1, 0);
