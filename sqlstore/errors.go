package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-money/coffer"
)

// MapErr translates a driver error into a domain error at the storage
// boundary, by what d says it means; application errors pass unchanged and
// anything unknown stays an internal error with its cause.
func MapErr(d Dialect, op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *coffer.Error
	if errors.As(err, &ce) {
		return err
	}
	op = d.Name() + "." + op
	if errors.Is(err, sql.ErrNoRows) {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "Not found.", Op: op}
	}
	if errors.Is(err, context.DeadlineExceeded) && errors.As(err, new(commitError)) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: UnconfirmedMessage, Op: op, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database did not answer in time; try again.", Op: op, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request was cancelled.", Op: op, Err: err}
	}
	if isClosed(err) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server is shutting down; try again.", Op: op, Err: err}
	}
	switch d.Classify(err) {
	case FaultUnique:
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "Already exists.", Op: op, Err: err}
	case FaultForeignKey:
		// A row names another (a member, a currency, a certificate) that
		// does not exist; which one, the caller knows.
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "Not found.", Op: op, Err: err}
	case FaultRetry, FaultBusy:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database is busy; try again.", Op: op, Err: err}
	case FaultCorrupt:
		// Permanent: answered as an internal error, never as "try again".
		return &coffer.Error{Code: coffer.EINTERNAL, Message: DamagedMessage, Op: op, Err: fmt.Errorf("%w: %w", coffer.ErrDamaged, err)}
	case FaultConnLost:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The database cannot be reached; try again.", Op: op, Err: err}
	case FaultNoSpace:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server's disk is full; try again later.", Op: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// UnconfirmedMessage answers a write whose commit the database did not
// confirm in time.
const UnconfirmedMessage = "The database did not confirm the change in time; it may still be made. Retry shortly."

// commitError is an error met while committing (or running a statement
// that commits by itself): the change may have been made.
type commitError struct{ err error }

func (e commitError) Error() string { return "commit: " + e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// inDoubt marks err, met while committing under ctx, as a commit whose
// outcome is unknown when ctx ended and the database can leave one so.
func (s *Store) inDoubt(ctx context.Context, err error) error {
	if ctx.Err() != nil && s.d.CommitInDoubt() {
		return commitError{err}
	}
	return err
}

// isClosed reports whether err is database/sql's answer for a handle used
// after Close (the store is being shut down), which it exports no value of.
func isClosed(err error) bool {
	return err != nil && strings.HasSuffix(err.Error(), "sql: database is closed")
}

// DamagedMessage is what a permanent fault of the database says: what to do
// about it.
const DamagedMessage = "The database is damaged. Stop the server, run `cofferd check --full` to name the damage, and restore from a backup."

// IsDamaged reports whether err is a permanent fault of the database, as
// MapErr reports one.
func IsDamaged(err error) bool { return errors.Is(err, coffer.ErrDamaged) }

func (s *Store) mapErr(op string, err error) error {
	err = MapErr(s.d, op, err)
	s.NoteDamage(err)
	return err
}

// is reports whether err is a driver error of kind f.
func (s *Store) is(err error, f Fault) bool { return err != nil && s.d.Classify(err) == f }
