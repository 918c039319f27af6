-- Attempts counted in a window, durably, so that every process and a
-- restart share the budget: wrong one-time codes and new confirmations,
-- each under a key the application makes (a member and where from). Too
-- many within a window set a lock on the key.
CREATE TABLE attempts (
	key TEXT NOT NULL,
	at  INTEGER NOT NULL
) STRICT;
CREATE INDEX attempts_key ON attempts(key, at);

CREATE TABLE attempt_locks (
	key     TEXT PRIMARY KEY,
	until   INTEGER NOT NULL,
	strikes INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
