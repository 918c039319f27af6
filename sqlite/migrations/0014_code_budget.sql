-- The failure budget of one-time codes: every wrong code a member types
-- (login, step-up, transfer, enrolment, release, recovery) is a row here;
-- too many within a window set a lock on code entry for the member.
CREATE TABLE code_failures (
	member_id TEXT NOT NULL,
	at        INTEGER NOT NULL
) STRICT;
CREATE INDEX code_failures_member ON code_failures(member_id, at);

CREATE TABLE code_locks (
	member_id TEXT PRIMARY KEY,
	until     INTEGER NOT NULL,
	strikes   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Confirmations a member was given lately are counted to rate-limit them.
CREATE INDEX confirmations_member_created ON confirmations(member_id, created_at);
