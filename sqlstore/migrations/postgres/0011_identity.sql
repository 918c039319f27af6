-- Verification levels, roles, profiles with visibility, verification
-- requests with their sealed documents, persons, disclosure requests and
-- contacts (issue 7). Nothing here is read or written by the ledger.

ALTER TABLE members ADD COLUMN level TEXT NOT NULL DEFAULT 'pseudonymous';
ALTER TABLE members ADD COLUMN level_changed_at BIGINT; -- ms; NULL: never changed
ALTER TABLE members ADD COLUMN only_contacts BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE members ADD COLUMN closed_at BIGINT; -- ms; NULL: open

CREATE TABLE member_roles (
	member_id TEXT NOT NULL REFERENCES members(id),
	role      TEXT NOT NULL,
	PRIMARY KEY (member_id, role)
);
CREATE INDEX member_roles_role ON member_roles(role, member_id);

CREATE TABLE profile_values (
	member_id  TEXT NOT NULL REFERENCES members(id),
	field      TEXT NOT NULL,
	value      TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (member_id, field)
);

CREATE TABLE profile_visibility (
	member_id  TEXT NOT NULL REFERENCES members(id),
	field      TEXT NOT NULL,
	visibility TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (member_id, field)
);

CREATE TABLE verification_requests (
	id          TEXT PRIMARY KEY,
	member_id   TEXT NOT NULL REFERENCES members(id),
	values_json TEXT NOT NULL,
	state       TEXT NOT NULL,
	level       TEXT NOT NULL DEFAULT '',
	reviewer    TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	decided_at  BIGINT
);
-- At most one pending request per member.
CREATE UNIQUE INDEX verification_requests_pending ON verification_requests(member_id) WHERE state = 'pending';
CREATE INDEX verification_requests_member ON verification_requests(member_id, created_at);
CREATE INDEX verification_requests_state ON verification_requests(state, created_at);

-- Uploaded scans, sealed (AES-GCM) by the application: never in the clear.
CREATE TABLE documents (
	id           TEXT PRIMARY KEY,
	member_id    TEXT NOT NULL REFERENCES members(id),
	request_id   TEXT NOT NULL REFERENCES verification_requests(id),
	content_type TEXT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       BYTEA NOT NULL,
	sealed       BYTEA NOT NULL,
	created_at   BIGINT NOT NULL
);
CREATE INDEX documents_request ON documents(request_id);
CREATE INDEX documents_member ON documents(member_id);

-- A verified person and the member IDs that belong to them.
CREATE TABLE persons (
	id         TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL
);
CREATE TABLE person_members (
	member_id TEXT PRIMARY KEY REFERENCES members(id),
	person_id TEXT NOT NULL REFERENCES persons(id)
);
CREATE INDEX person_members_person ON person_members(person_id);

CREATE TABLE disclosure_requests (
	id         TEXT PRIMARY KEY,
	requester  TEXT NOT NULL REFERENCES members(id),
	subject    TEXT NOT NULL REFERENCES members(id),
	fields     TEXT NOT NULL, -- JSON array
	reason     TEXT NOT NULL,
	state      TEXT NOT NULL,
	granted    TEXT NOT NULL DEFAULT '[]', -- JSON array
	until      BIGINT, -- ms; NULL: no end
	created_at BIGINT NOT NULL,
	decided_at BIGINT
);
CREATE INDEX disclosure_requests_subject ON disclosure_requests(subject, created_at);
CREATE INDEX disclosure_requests_requester ON disclosure_requests(requester, created_at);

CREATE TABLE contacts (
	member_id  TEXT NOT NULL REFERENCES members(id),
	contact_id TEXT NOT NULL REFERENCES members(id),
	note       TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	PRIMARY KEY (member_id, contact_id)
);
CREATE INDEX contacts_contact ON contacts(contact_id);
