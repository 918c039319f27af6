package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// isForeignKey reports whether err is a FOREIGN KEY violation: a row names
// a member (or request) that does not exist.
func isForeignKey(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY
}

// idErr maps err as mapErr does, keeping application errors as they are and
// reporting a missing member (foreign key) as ENOTFOUND.
func idErr(op string, err error) error {
	var ce *coffer.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case isForeignKey(err):
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such member.", Op: op, Err: err}
	}
	return mapErr(op, err)
}

// writeTx runs fn in a write transaction, appends the non-nil events and
// commits.
func (db *DB) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error, evs ...*coffer.AuditEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return idErr(op, err)
	}
	var list []*coffer.AuditEvent
	for _, e := range evs {
		if e != nil {
			list = append(list, e)
		}
	}
	if err := appendAudit(ctx, tx, list); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

// ledgerWriteTx is writeTx for changes the ledger's purse cache holds
// (owner levels, closed purses): it takes the writer connection and then
// the cache lock, in the order ApplyBatch does, and drops the cache before
// the lock is released, so the next batch reads what committed.
func (db *DB) ledgerWriteTx(ctx context.Context, op string, fn func(tx *sql.Tx) error, evs ...*coffer.AuditEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	db.pcMu.Lock()
	defer db.pcMu.Unlock()
	if err := fn(tx); err != nil {
		return idErr(op, err)
	}
	var list []*coffer.AuditEvent
	for _, e := range evs {
		if e != nil {
			list = append(list, e)
		}
	}
	if err := appendAudit(ctx, tx, list); err != nil {
		return err
	}
	err = tx.Commit()
	db.pc, db.lc = nil, nil
	return mapErr(op, err)
}

func notFound(op, what string) error {
	return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such " + what + ".", Op: op}
}

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMs(v.Int64)
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and string slices always encode
	}
	return string(b)
}

func fieldList(s string) []string {
	out := []string{}
	if s != "" {
		json.Unmarshal([]byte(s), &out)
	}
	return out
}

func valueMap(s string) map[string]string {
	out := map[string]string{}
	if s != "" {
		json.Unmarshal([]byte(s), &out)
	}
	return out
}

// MemberStatus implements coffer.IdentityStore.
func (db *DB) MemberStatus(ctx context.Context, memberID string) (*coffer.MemberStatus, error) {
	const op = "sqlite.MemberStatus"
	st := &coffer.MemberStatus{MemberID: memberID, Roles: []string{}}
	var changed, closed sql.NullInt64
	var created int64
	var roles string
	// One statement, roles included: the app reads this on every transfer.
	err := db.r.QueryRowContext(ctx, `SELECT level, level_changed_at, only_contacts, closed_at, created_at,
		COALESCE((SELECT group_concat(role, ',') FROM (SELECT role FROM member_roles WHERE member_id = ?1 ORDER BY role)), '')
		FROM members WHERE id = ?1`, memberID).
		Scan(&st.Level, &changed, &st.OnlyContacts, &closed, &created, &roles)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, "member")
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	if st.Level == "" {
		st.Level = coffer.LevelPseudonymous
	}
	st.LevelChangedAt, st.ClosedAt, st.CreatedAt = fromNull(changed), fromNull(closed), fromMs(created)
	if roles != "" {
		st.Roles = strings.Split(roles, ",")
	}
	return st, nil
}

// SetLevel implements coffer.IdentityStore.
func (db *DB) SetLevel(ctx context.Context, memberID, level string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetLevel"
	return db.ledgerWriteTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE members SET level = ?, level_changed_at = ? WHERE id = ?`, level, ms(at), memberID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(op, "member")
		}
		return nil
	}, ev)
}

// SetRole implements coffer.IdentityStore.
func (db *DB) SetRole(ctx context.Context, memberID, role string, on bool, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetRole"
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		if on {
			_, err := tx.ExecContext(ctx, `INSERT INTO member_roles (member_id, role) VALUES (?, ?) ON CONFLICT DO NOTHING`, memberID, role)
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM member_roles WHERE member_id = ? AND role = ?`, memberID, role)
		return err
	}, ev)
}

// MembersWithRole implements coffer.IdentityStore.
func (db *DB) MembersWithRole(ctx context.Context, role string) ([]string, error) {
	return db.strings(ctx, "sqlite.MembersWithRole", `SELECT member_id FROM member_roles WHERE role = ? ORDER BY member_id`, role)
}

func (db *DB) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, s)
	}
	return out, mapErr(op, rows.Err())
}

// SetOnlyContacts implements coffer.IdentityStore.
func (db *DB) SetOnlyContacts(ctx context.Context, memberID string, on bool, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetOnlyContacts"
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE members SET only_contacts = ? WHERE id = ?`, on, memberID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(op, "member")
		}
		return nil
	}, ev)
}

// Profile implements coffer.IdentityStore.
func (db *DB) Profile(ctx context.Context, memberID string) (*coffer.Profile, error) {
	const op = "sqlite.Profile"
	p := &coffer.Profile{MemberID: memberID, Values: map[string]string{}, Visibility: map[string]string{}}
	// One read transaction: values and visibility from the same snapshot.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM members WHERE id = ?`, memberID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, "member")
	} else if err != nil {
		return nil, mapErr(op, err)
	}
	var updated int64
	for _, q := range []struct {
		sql string
		m   map[string]string
	}{
		{`SELECT field, value, updated_at FROM profile_values WHERE member_id = ?`, p.Values},
		{`SELECT field, visibility, updated_at FROM profile_visibility WHERE member_id = ?`, p.Visibility},
	} {
		rows, err := tx.QueryContext(ctx, q.sql, memberID)
		if err != nil {
			return nil, mapErr(op, err)
		}
		for rows.Next() {
			var f, v string
			var u int64
			if err := rows.Scan(&f, &v, &u); err != nil {
				rows.Close()
				return nil, mapErr(op, err)
			}
			q.m[f] = v
			updated = max(updated, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, mapErr(op, err)
		}
	}
	if updated > 0 {
		p.UpdatedAt = fromMs(updated)
	}
	return p, nil
}

// SetProfileValues implements coffer.IdentityStore.
func (db *DB) SetProfileValues(ctx context.Context, memberID string, values map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetProfileValues"
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		if err := memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		for _, f := range sortedKeys(values) {
			var err error
			if v := values[f]; v == "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM profile_values WHERE member_id = ? AND field = ?`, memberID, f)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO profile_values (member_id, field, value, updated_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (member_id, field) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, memberID, f, v, ms(at))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// SetVisibility implements coffer.IdentityStore. VisibleNobody (or "")
// removes the field's row: nobody is the default.
func (db *DB) SetVisibility(ctx context.Context, memberID string, vis map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "sqlite.SetVisibility"
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		if err := memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		for _, f := range sortedKeys(vis) {
			var err error
			if v := vis[f]; v == "" || v == coffer.VisibleNobody {
				_, err = tx.ExecContext(ctx, `DELETE FROM profile_visibility WHERE member_id = ? AND field = ?`, memberID, f)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO profile_visibility (member_id, field, visibility, updated_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (member_id, field) DO UPDATE SET visibility = excluded.visibility, updated_at = excluded.updated_at`, memberID, f, v, ms(at))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func memberExists(ctx context.Context, tx *sql.Tx, op, memberID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM members WHERE id = ?`, memberID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(op, "member")
	}
	return err
}

// Counterparties implements coffer.IdentityStore. Each half is answered
// by an index the ledger already keeps (sender, or payee).
func (db *DB) Counterparties(ctx context.Context, a, b string) (bool, error) {
	var yes bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE sender = ?1 AND payee = ?2)
		OR EXISTS (SELECT 1 FROM transfers WHERE sender = ?2 AND payee = ?1)`, a, b).Scan(&yes)
	return yes, mapErr("sqlite.Counterparties", err)
}

const verificationCols = `id, member_id, values_json, state, level, reviewer, reason, created_at, decided_at`

func scanVerification(row interface{ Scan(...any) error }) (*coffer.VerificationRequest, error) {
	var r coffer.VerificationRequest
	var values string
	var created int64
	var decided sql.NullInt64
	if err := row.Scan(&r.ID, &r.MemberID, &values, &r.State, &r.Level, &r.Reviewer, &r.Reason, &created, &decided); err != nil {
		return nil, err
	}
	r.Values, r.CreatedAt, r.DecidedAt = valueMap(values), fromMs(created), fromNull(decided)
	r.Documents = []*coffer.Document{}
	return &r, nil
}

const documentMetaCols = `id, member_id, request_id, content_type, size, sha256, created_at`

func scanDocumentMeta(row interface{ Scan(...any) error }, sealed *[]byte) (*coffer.Document, error) {
	var d coffer.Document
	var created int64
	dest := []any{&d.ID, &d.MemberID, &d.RequestID, &d.ContentType, &d.Size, &d.SHA256, &created}
	if sealed != nil {
		dest = append(dest, sealed)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	d.CreatedAt = fromMs(created)
	return &d, nil
}

// CreateVerificationRequest implements coffer.IdentityStore.
func (db *DB) CreateVerificationRequest(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) error {
	const op = "sqlite.CreateVerificationRequest"
	if r.State == "" {
		r.State = coffer.VerificationPending
	}
	if r.Values == nil {
		r.Values = map[string]string{}
	}
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO verification_requests (`+verificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.MemberID, toJSON(r.Values), r.State, r.Level, r.Reviewer, r.Reason, ms(r.CreatedAt), nullMs(r.DecidedAt))
		if isUnique(err) {
			if strings.Contains(err.Error(), "verification_requests.member_id") {
				return &coffer.Error{Code: coffer.ECONFLICT, Message: "A verification request is already pending.", Op: op, Err: err}
			}
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "The request ID is taken.", Op: op, Err: err}
		}
		if err != nil {
			return err
		}
		for _, d := range r.Documents {
			d.MemberID, d.RequestID = r.MemberID, r.ID
			if d.CreatedAt.IsZero() {
				d.CreatedAt = r.CreatedAt
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO documents (`+documentMetaCols+`, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, d.MemberID, d.RequestID, d.ContentType, d.Size, d.SHA256, ms(d.CreatedAt), d.Sealed); err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// VerificationRequest implements coffer.IdentityStore.
func (db *DB) VerificationRequest(ctx context.Context, id string) (*coffer.VerificationRequest, error) {
	const op = "sqlite.VerificationRequest"
	r, err := scanVerification(db.r.QueryRowContext(ctx, `SELECT `+verificationCols+` FROM verification_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, "verification request")
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	if err := db.attachDocuments(ctx, op, []*coffer.VerificationRequest{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// attachDocuments loads the metadata of the requests' documents in one
// query.
func (db *DB) attachDocuments(ctx context.Context, op string, list []*coffer.VerificationRequest) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[string]*coffer.VerificationRequest, len(list))
	args := make([]any, 0, len(list))
	for _, r := range list {
		byID[r.ID] = r
		args = append(args, r.ID)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+documentMetaCols+` FROM documents WHERE request_id IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(args)), ",")+`) ORDER BY created_at, id`, args...)
	if err != nil {
		return mapErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDocumentMeta(rows, nil)
		if err != nil {
			return mapErr(op, err)
		}
		if r := byID[d.RequestID]; r != nil {
			r.Documents = append(r.Documents, d)
		}
	}
	return mapErr(op, rows.Err())
}

// VerificationRequests implements coffer.IdentityStore.
func (db *DB) VerificationRequests(ctx context.Context, state, memberID string, limit int) ([]*coffer.VerificationRequest, error) {
	const op = "sqlite.VerificationRequests"
	q := `SELECT ` + verificationCols + ` FROM verification_requests WHERE 1 = 1`
	var args []any
	if state != "" {
		q += ` AND state = ?`
		args = append(args, state)
	}
	if memberID != "" {
		q += ` AND member_id = ?`
		args = append(args, memberID)
	}
	q += ` ORDER BY created_at, id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	out := []*coffer.VerificationRequest{}
	for rows.Next() {
		r, err := scanVerification(rows)
		if err != nil {
			rows.Close()
			return nil, mapErr(op, err)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	if err := db.attachDocuments(ctx, op, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecideVerification implements coffer.IdentityStore.
func (db *DB) DecideVerification(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.DecideVerification"
	if err := checkDecision(r); err != nil {
		return false, err
	}
	decided := false
	err := db.ledgerWriteTx(ctx, op, func(tx *sql.Tx) error {
		var memberID, state string
		err := tx.QueryRowContext(ctx, `SELECT member_id, state FROM verification_requests WHERE id = ?`, r.ID).Scan(&memberID, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(op, "verification request")
		}
		if err != nil {
			return err
		}
		if state != coffer.VerificationPending {
			return errNotDecided
		}
		r.MemberID = memberID
		if _, err := tx.ExecContext(ctx, `UPDATE verification_requests SET state = ?, level = ?, reviewer = ?, reason = ?, decided_at = ? WHERE id = ?`,
			r.State, r.Level, r.Reviewer, r.Reason, ms(r.DecidedAt), r.ID); err != nil {
			return err
		}
		if r.State == coffer.VerificationApproved {
			if _, err := tx.ExecContext(ctx, `UPDATE members SET level = ?, level_changed_at = ? WHERE id = ?`, r.Level, ms(r.DecidedAt), memberID); err != nil {
				return err
			}
		}
		decided = true
		return nil
	}, ev)
	if err == errNotDecided {
		return false, nil
	}
	return decided && err == nil, err
}

// errNotDecided rolls back a decision that the state did not allow.
var errNotDecided = &coffer.Error{Code: coffer.ECONFLICT, Message: "not decided"}

// checkDecision validates a verification decision before any store runs it.
func checkDecision(r *coffer.VerificationRequest) error {
	switch r.State {
	case coffer.VerificationApproved:
		if r.Level == "" {
			return coffer.Errorf(coffer.EINVALID, "An approval needs the level it grants.")
		}
	case coffer.VerificationRejected:
	default:
		return coffer.Errorf(coffer.EINVALID, "A decision approves or rejects.")
	}
	return nil
}

// Document implements coffer.IdentityStore.
func (db *DB) Document(ctx context.Context, id string) (*coffer.Document, error) {
	const op = "sqlite.Document"
	var sealed []byte
	d, err := scanDocumentMeta(db.r.QueryRowContext(ctx, `SELECT `+documentMetaCols+`, sealed FROM documents WHERE id = ?`, id), &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, "document")
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	d.Sealed = sealed
	return d, nil
}

// NewPersonID returns a random ID for a verified person.
func newPersonID() string { return "per_" + strings.ToLower(rand.Text()) }

// LinkMembers implements coffer.IdentityStore.
func (db *DB) LinkMembers(ctx context.Context, memberIDs []string, at time.Time, ev *coffer.AuditEvent) (string, error) {
	const op = "sqlite.LinkMembers"
	var person string
	err := db.writeTx(ctx, op, func(tx *sql.Tx) error {
		person = ""
		ids := slices.Compact(slices.Sorted(slices.Values(memberIDs)))
		if len(ids) == 0 {
			return coffer.Errorf(coffer.EINVALID, "Name the member IDs to link.")
		}
		linked := map[string]bool{}
		for _, id := range ids {
			if err := memberExists(ctx, tx, op, id); err != nil {
				return err
			}
			var p string
			err := tx.QueryRowContext(ctx, `SELECT person_id FROM person_members WHERE member_id = ?`, id).Scan(&p)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			linked[id] = true
			if person != "" && p != person {
				return &coffer.Error{Code: coffer.ECONFLICT, Message: "The member IDs already belong to different persons.", Op: op}
			}
			person = p
		}
		if person == "" {
			person = newPersonID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO persons (id, created_at) VALUES (?, ?)`, person, ms(at)); err != nil {
				return err
			}
		}
		for _, id := range ids {
			if linked[id] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO person_members (member_id, person_id) VALUES (?, ?)`, id, person); err != nil {
				return err
			}
		}
		return nil
	}, ev)
	if err != nil {
		return "", err
	}
	return person, nil
}

// LinkedMembers implements coffer.IdentityStore.
func (db *DB) LinkedMembers(ctx context.Context, memberID string) ([]string, error) {
	return db.strings(ctx, "sqlite.LinkedMembers", `SELECT o.member_id FROM person_members m
		JOIN person_members o ON o.person_id = m.person_id AND o.member_id <> m.member_id
		WHERE m.member_id = ? ORDER BY o.member_id`, memberID)
}

const disclosureCols = `id, requester, subject, fields, reason, state, granted, until, created_at, decided_at`

func scanDisclosure(row interface{ Scan(...any) error }) (*coffer.DisclosureRequest, error) {
	var d coffer.DisclosureRequest
	var fields, granted string
	var until, decided sql.NullInt64
	var created int64
	if err := row.Scan(&d.ID, &d.Requester, &d.Subject, &fields, &d.Reason, &d.State, &granted, &until, &created, &decided); err != nil {
		return nil, err
	}
	d.Fields, d.Granted = fieldList(fields), fieldList(granted)
	d.Until, d.CreatedAt, d.DecidedAt = fromNull(until), fromMs(created), fromNull(decided)
	return &d, nil
}

func (db *DB) disclosures(ctx context.Context, op, q string, args ...any) ([]*coffer.DisclosureRequest, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*coffer.DisclosureRequest{}
	for rows.Next() {
		d, err := scanDisclosure(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, d)
	}
	return out, mapErr(op, rows.Err())
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateDisclosureRequest implements coffer.IdentityStore. The counts and
// the insert share the write transaction, which holds SQLite's write lock.
func (db *DB) CreateDisclosureRequest(ctx context.Context, r *coffer.DisclosureRequest, maxPerDay, maxPerSubjectDay int, ev *coffer.AuditEvent) error {
	const op = "sqlite.CreateDisclosureRequest"
	if r.State == "" {
		r.State = coffer.DisclosurePending
	}
	r.Fields, r.Granted = orEmpty(r.Fields), orEmpty(r.Granted)
	return db.writeTx(ctx, op, func(tx *sql.Tx) error {
		since := ms(r.CreatedAt.Add(-24 * time.Hour))
		for _, c := range []struct {
			col, id string
			max     int
			msg     string
		}{
			{"requester", r.Requester, maxPerDay, "Too many disclosure requests today; try again tomorrow."},
			{"subject", r.Subject, maxPerSubjectDay, "The member has received too many disclosure requests today; try again tomorrow."},
		} {
			if c.max <= 0 {
				continue
			}
			var n int
			if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM disclosure_requests WHERE %s = ? AND created_at > ?`, c.col),
				c.id, since).Scan(&n); err != nil {
				return err
			}
			if n >= c.max {
				return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: c.msg, Op: op}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO disclosure_requests (`+disclosureCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Requester, r.Subject, toJSON(r.Fields), r.Reason, r.State, toJSON(r.Granted), nullMs(r.Until), ms(r.CreatedAt), nullMs(r.DecidedAt))
		return err
	}, ev)
}

// DisclosureRequest implements coffer.IdentityStore.
func (db *DB) DisclosureRequest(ctx context.Context, id string) (*coffer.DisclosureRequest, error) {
	const op = "sqlite.DisclosureRequest"
	d, err := scanDisclosure(db.r.QueryRowContext(ctx, `SELECT `+disclosureCols+` FROM disclosure_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, "disclosure request")
	}
	return d, mapErr(op, err)
}

// DisclosureRequests implements coffer.IdentityStore.
func (db *DB) DisclosureRequests(ctx context.Context, memberID string, asRequester bool) ([]*coffer.DisclosureRequest, error) {
	col := "subject"
	if asRequester {
		col = "requester"
	}
	return db.disclosures(ctx, "sqlite.DisclosureRequests", `SELECT `+disclosureCols+` FROM disclosure_requests WHERE `+col+` = ? ORDER BY created_at DESC, id DESC`, memberID)
}

// disclosureMove reports whether a decision may move a request from one
// state to the next.
func disclosureMove(from, to string) bool {
	switch to {
	case coffer.DisclosureGranted, coffer.DisclosureRefused:
		return from == coffer.DisclosurePending
	case coffer.DisclosureRevoked:
		return from == coffer.DisclosureGranted
	}
	return false
}

// DecideDisclosure implements coffer.IdentityStore. A grant without
// Granted grants every field asked for; a refusal grants none; a
// revocation keeps what had been granted, for the record.
func (db *DB) DecideDisclosure(ctx context.Context, r *coffer.DisclosureRequest, from string, ev *coffer.AuditEvent) (bool, error) {
	const op = "sqlite.DecideDisclosure"
	if !disclosureMove(from, r.State) {
		return false, nil
	}
	err := db.writeTx(ctx, op, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		switch r.State {
		case coffer.DisclosureGranted:
			var fields string
			if err := tx.QueryRowContext(ctx, `SELECT fields FROM disclosure_requests WHERE id = ?`, r.ID).Scan(&fields); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return errNotDecided
				}
				return err
			}
			if len(r.Granted) == 0 {
				r.Granted = fieldList(fields)
			}
			res, err = tx.ExecContext(ctx, `UPDATE disclosure_requests SET state = ?, granted = ?, until = ?, decided_at = ? WHERE id = ? AND state = ?`,
				r.State, toJSON(r.Granted), nullMs(r.Until), ms(r.DecidedAt), r.ID, from)
		case coffer.DisclosureRefused:
			r.Granted = []string{}
			res, err = tx.ExecContext(ctx, `UPDATE disclosure_requests SET state = ?, granted = '[]', decided_at = ? WHERE id = ? AND state = ?`,
				r.State, ms(r.DecidedAt), r.ID, from)
		default:
			res, err = tx.ExecContext(ctx, `UPDATE disclosure_requests SET state = ?, decided_at = ? WHERE id = ? AND state = ?`,
				r.State, ms(r.DecidedAt), r.ID, from)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotDecided
		}
		return nil
	}, ev)
	if err == errNotDecided {
		return false, nil
	}
	return err == nil, err
}

// ActiveGrants implements coffer.IdentityStore.
func (db *DB) ActiveGrants(ctx context.Context, subject, requester string, now time.Time) ([]*coffer.DisclosureRequest, error) {
	return db.disclosures(ctx, "sqlite.ActiveGrants", `SELECT `+disclosureCols+` FROM disclosure_requests
		WHERE subject = ? AND requester = ? AND state = 'granted' AND (until IS NULL OR until > ?) ORDER BY created_at, id`,
		subject, requester, ms(now))
}

// AddContact implements coffer.IdentityStore. Adding a contact again
// replaces its note.
func (db *DB) AddContact(ctx context.Context, c *coffer.Contact) error {
	const op = "sqlite.AddContact"
	_, err := db.w.ExecContext(ctx, `INSERT INTO contacts (member_id, contact_id, note, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (member_id, contact_id) DO UPDATE SET note = excluded.note`, c.MemberID, c.ContactID, c.Note, ms(c.CreatedAt))
	return idErr(op, err)
}

// RemoveContact implements coffer.IdentityStore.
func (db *DB) RemoveContact(ctx context.Context, memberID, contactID string) (bool, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM contacts WHERE member_id = ? AND contact_id = ?`, memberID, contactID)
	if err != nil {
		return false, mapErr("sqlite.RemoveContact", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Contacts implements coffer.IdentityStore.
func (db *DB) Contacts(ctx context.Context, memberID string) ([]*coffer.Contact, error) {
	const op = "sqlite.Contacts"
	rows, err := db.r.QueryContext(ctx, `SELECT member_id, contact_id, note, created_at FROM contacts WHERE member_id = ? ORDER BY created_at, contact_id`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*coffer.Contact{}
	for rows.Next() {
		var c coffer.Contact
		var created int64
		if err := rows.Scan(&c.MemberID, &c.ContactID, &c.Note, &created); err != nil {
			return nil, mapErr(op, err)
		}
		c.CreatedAt = fromMs(created)
		out = append(out, &c)
	}
	return out, mapErr(op, rows.Err())
}

// IsContact implements coffer.IdentityStore.
func (db *DB) IsContact(ctx context.Context, memberID, contactID string) (bool, error) {
	var yes bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE member_id = ? AND contact_id = ?)`, memberID, contactID).Scan(&yes)
	return yes, mapErr("sqlite.IsContact", err)
}

// ClosedPasswordHash replaces the password hash of a closed account: no
// password verifies against it.
const ClosedPasswordHash = "!closed"

// CloseMember implements coffer.IdentityStore. The write transaction holds
// SQLite's write lock, which every ledger batch needs too, so no money can
// move into the member's purses between the check and the close.
func (db *DB) CloseMember(ctx context.Context, memberID string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "sqlite.CloseMember"
	return db.ledgerWriteTx(ctx, op, func(tx *sql.Tx) error {
		var closed sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT closed_at FROM members WHERE id = ?`, memberID).Scan(&closed)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(op, "member")
		}
		if err != nil {
			return err
		}
		if closed.Valid {
			return &coffer.Error{Code: coffer.ECLOSED, Message: "The account is already closed.", Op: op}
		}
		var money, held bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM purses WHERE owner = ?1 AND (balance <> 0 OR held <> 0)),
			EXISTS (SELECT 1 FROM transfers WHERE status = 'held' AND sender = ?1)`, memberID).Scan(&money, &held); err != nil {
			return err
		}
		if money {
			return &coffer.Error{Code: coffer.EINVALID, Message: "Empty every purse (and release or return held money) before closing the account.", Op: op}
		}
		if held {
			return &coffer.Error{Code: coffer.EINVALID, Message: "A protected transfer you sent is still held; wait until it is released or returned before closing the account.", Op: op}
		}
		for _, q := range closeStatements {
			args := []any{memberID}
			if strings.Contains(q, "?2") {
				args = append(args, ms(at))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// closeStatements erase what identifies a member (?1) at ?2, keeping the
// ledger and the audit log.
var closeStatements = []string{
	`UPDATE members SET email = NULL, phone = NULL, password_hash = '` + ClosedPasswordHash + `', only_contacts = 0, closed_at = ?2 WHERE id = ?1`,
	`UPDATE purses SET closed = 1 WHERE owner = ?1`,
	`DELETE FROM profile_values WHERE member_id = ?1`,
	`DELETE FROM profile_visibility WHERE member_id = ?1`,
	`DELETE FROM documents WHERE member_id = ?1`,
	`UPDATE verification_requests SET values_json = '{}' WHERE member_id = ?1`,
	`UPDATE verification_requests SET state = 'rejected', reason = 'account closed', decided_at = ?2 WHERE member_id = ?1 AND state = 'pending'`,
	`DELETE FROM sessions WHERE member_id = ?1`,
	`DELETE FROM contacts WHERE (member_id = ?1 OR contact_id = ?1)`,
	`DELETE FROM person_members WHERE member_id = ?1`,
	`DELETE FROM member_roles WHERE member_id = ?1`,
	`UPDATE signing_keys SET revoked_at = ?2 WHERE member_id = ?1 AND revoked_at IS NULL`,
	`UPDATE certificates SET revoked_at = ?2 WHERE member_id = ?1 AND revoked_at IS NULL`,
}
