CREATE TABLE currencies (
	code     TEXT PRIMARY KEY,
	letter   TEXT NOT NULL UNIQUE,
	decimals INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 8)
) STRICT;

INSERT INTO currencies (code, letter, decimals) VALUES ('USD', 'Z', 2), ('EUR', 'E', 2);

CREATE TABLE members (
	id            TEXT PRIMARY KEY,
	email         TEXT UNIQUE,
	phone         TEXT UNIQUE,
	password_hash TEXT NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	member_id    TEXT NOT NULL REFERENCES members(id),
	token_hash   BLOB NOT NULL UNIQUE,
	ip           TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_member ON sessions(member_id);

CREATE TABLE purses (
	number     TEXT PRIMARY KEY,
	currency   TEXT NOT NULL REFERENCES currencies(code),
	owner      TEXT NOT NULL REFERENCES members(id),
	balance    INTEGER NOT NULL DEFAULT 0,
	issuer     INTEGER NOT NULL DEFAULT 0,
	lim        INTEGER NOT NULL DEFAULT 0 CHECK (lim >= 0),
	created_at INTEGER NOT NULL,
	CHECK (balance >= -lim)
) STRICT;
CREATE INDEX purses_owner ON purses(owner);

CREATE TABLE transfers (
	seq          INTEGER PRIMARY KEY,
	sender       TEXT NOT NULL,
	transfer_id  TEXT NOT NULL,
	from_purse   TEXT NOT NULL REFERENCES purses(number),
	to_purse     TEXT NOT NULL REFERENCES purses(number),
	currency     TEXT NOT NULL,
	amount       INTEGER NOT NULL CHECK (amount > 0),
	description  TEXT NOT NULL,
	payee        TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (sender, transfer_id)
) STRICT;
CREATE INDEX transfers_payee ON transfers(payee, transfer_id);

CREATE TABLE entries (
	seq           INTEGER PRIMARY KEY,
	purse         TEXT NOT NULL REFERENCES purses(number),
	transfer_seq  INTEGER NOT NULL REFERENCES transfers(seq),
	amount        INTEGER NOT NULL,
	balance_after INTEGER NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX entries_purse ON entries(purse, seq);
