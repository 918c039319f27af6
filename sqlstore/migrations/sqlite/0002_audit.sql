CREATE TABLE audit_events (
	seq       INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	member_id TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash BLOB NOT NULL,
	hash      BLOB NOT NULL
) STRICT;
-- The security log lists a member's security events; transfers have their
-- own history, and leaving them out of this index saves a random-key index
-- page write per transfer.
CREATE INDEX audit_member ON audit_events(member_id, seq) WHERE kind <> 'transfer.applied';
