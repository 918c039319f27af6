package postgres

import (
	"context"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// lockMember locks a member's row for the rest of tx, so that count-then-
// insert sequences on the member's rows run one at a time. FOR NO KEY UPDATE does not conflict with the KEY SHARE
// locks that foreign-key checks take, so inserts of the member's sessions,
// purses and the like are not held up. A missing member locks nothing; the
// insert that follows then fails on its foreign key, as it would in SQLite.
func lockMember(ctx context.Context, tx pgx.Tx, memberID string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE`, memberID)
	return err
}

// errNothing rolls back a transaction that found nothing to change (and so
// appends no audit event); the method then reports false.
var errNothing = &coffer.Error{Code: coffer.ENOTFOUND, Message: "nothing to change"}
