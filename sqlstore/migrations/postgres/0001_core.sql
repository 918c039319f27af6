-- Times are milliseconds since the Unix epoch (BIGINT), as in the SQLite
-- store, so both stores round and compare them the same way.
CREATE TABLE currencies (
	code     TEXT PRIMARY KEY,
	letter   TEXT NOT NULL UNIQUE,
	decimals INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 8)
);

INSERT INTO currencies (code, letter, decimals) VALUES ('USD', 'Z', 2), ('EUR', 'E', 2);

CREATE TABLE members (
	id            TEXT PRIMARY KEY,
	email         TEXT UNIQUE,
	phone         TEXT UNIQUE,
	password_hash TEXT NOT NULL,
	created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	member_id    TEXT NOT NULL REFERENCES members(id),
	token_hash   BYTEA NOT NULL UNIQUE,
	ip           TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_member ON sessions(member_id);

CREATE TABLE purses (
	number     TEXT PRIMARY KEY,
	currency   TEXT NOT NULL REFERENCES currencies(code),
	owner      TEXT NOT NULL REFERENCES members(id),
	balance    BIGINT NOT NULL DEFAULT 0,
	issuer     BOOLEAN NOT NULL DEFAULT false,
	lim        BIGINT NOT NULL DEFAULT 0 CHECK (lim >= 0),
	created_at BIGINT NOT NULL,
	CHECK (balance >= -lim)
);
CREATE INDEX purses_owner ON purses(owner);

CREATE TABLE transfers (
	seq          BIGINT PRIMARY KEY,
	sender       TEXT NOT NULL,
	transfer_id  TEXT NOT NULL,
	from_purse   TEXT NOT NULL REFERENCES purses(number),
	to_purse     TEXT NOT NULL REFERENCES purses(number),
	currency     TEXT NOT NULL,
	amount       BIGINT NOT NULL CHECK (amount > 0),
	description  TEXT NOT NULL,
	payee        TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	UNIQUE (sender, transfer_id)
);
CREATE INDEX transfers_payee ON transfers(payee, transfer_id);

CREATE TABLE entries (
	seq           BIGINT PRIMARY KEY,
	purse         TEXT NOT NULL REFERENCES purses(number),
	transfer_seq  BIGINT NOT NULL REFERENCES transfers(seq),
	amount        BIGINT NOT NULL,
	balance_after BIGINT NOT NULL,
	created_at    BIGINT NOT NULL
);
CREATE INDEX entries_purse ON entries(purse, seq);

-- The ledger's head: the last sequence numbers handed out. Every ledger
-- batch locks this one row first (SELECT … FOR UPDATE), so batches from any
-- number of cofferd processes apply one after another, each reading the
-- balances the previous one committed; anything else that changes what the
-- ledger decides on (issuer limits, purse limits) locks it too.
CREATE TABLE ledger_head (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	transfer_seq BIGINT NOT NULL,
	entry_seq    BIGINT NOT NULL
);
INSERT INTO ledger_head (id, transfer_seq, entry_seq) VALUES (1, 0, 0);
