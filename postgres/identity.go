package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

// auditedTx runs fn in a write transaction that, when there is an event,
// first locks the audit head (the store's lock order: ledger head, audit
// head, then rows), and appends the event after fn. Under SERIALIZABLE the
// audit head table is locked before the snapshot is taken, so that the
// transaction waits for the one before it instead of failing on the head
// row it changed. A missing member (foreign key) is reported as ENOTFOUND.
func (db *DB) auditedTx(ctx context.Context, op string, fn func(tx pgx.Tx) error, ev *coffer.AuditEvent) error {
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		if ev == nil {
			return fn(tx)
		}
		if db.iso == pgx.Serializable {
			if _, err := tx.Exec(ctx, `LOCK TABLE audit_head IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		seq, prev, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		args, seq, prev := chain([]*coffer.AuditEvent{ev}, seq, prev)
		if _, err := tx.Exec(ctx, insertAudit, args...); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, setAuditHead, seq, prev)
		return err
	})
	return fkNotFound(op, err)
}

// fkNotFound reports a foreign-key violation (a row naming a member that
// does not exist) as ENOTFOUND.
func fkNotFound(op string, err error) error {
	if err != nil && pgCode(err) == sqlForeignKeyViolation {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such member.", Op: op, Err: err}
	}
	return err
}

func notFound(op, what string) error {
	return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such " + what + ".", Op: op}
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

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (db *DB) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, mapErr(op, err)
}

// MemberStatus implements coffer.IdentityStore.
func (db *DB) MemberStatus(ctx context.Context, memberID string) (*coffer.MemberStatus, error) {
	const op = "postgres.MemberStatus"
	st := &coffer.MemberStatus{MemberID: memberID}
	var changed, closed *int64
	var created int64
	var roles []string
	err := db.pool.QueryRow(ctx, `SELECT level, level_changed_at, only_contacts, closed_at, created_at,
		ARRAY(SELECT role FROM member_roles WHERE member_id = m.id ORDER BY role)
		FROM members m WHERE id = $1`, memberID).Scan(&st.Level, &changed, &st.OnlyContacts, &closed, &created, &roles)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, "member")
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	if st.Level == "" {
		st.Level = coffer.LevelPseudonymous
	}
	st.Roles = orEmpty(roles)
	st.LevelChangedAt, st.ClosedAt, st.CreatedAt = fromNullMs(changed), fromNullMs(closed), fromMs(created)
	return st, nil
}

// SetLevel implements coffer.IdentityStore.
func (db *DB) SetLevel(ctx context.Context, memberID, level string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "postgres.SetLevel"
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE members SET level = $1, level_changed_at = $2 WHERE id = $3`, level, ms(at), memberID)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound(op, "member")
		}
		return err
	}, ev)
}

// SetRole implements coffer.IdentityStore.
func (db *DB) SetRole(ctx context.Context, memberID, role string, on bool, ev *coffer.AuditEvent) error {
	const op = "postgres.SetRole"
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		var err error
		if on {
			_, err = tx.Exec(ctx, `INSERT INTO member_roles (member_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING`, memberID, role)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM member_roles WHERE member_id = $1 AND role = $2`, memberID, role)
		}
		return err
	}, ev)
}

// MembersWithRole implements coffer.IdentityStore.
func (db *DB) MembersWithRole(ctx context.Context, role string) ([]string, error) {
	return db.strings(ctx, "postgres.MembersWithRole", `SELECT member_id FROM member_roles WHERE role = $1 ORDER BY member_id`, role)
}

// SetOnlyContacts implements coffer.IdentityStore.
func (db *DB) SetOnlyContacts(ctx context.Context, memberID string, on bool, ev *coffer.AuditEvent) error {
	const op = "postgres.SetOnlyContacts"
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE members SET only_contacts = $1 WHERE id = $2`, on, memberID)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound(op, "member")
		}
		return err
	}, ev)
}

// Profile implements coffer.IdentityStore: one statement, so values and
// visibility come from one snapshot.
func (db *DB) Profile(ctx context.Context, memberID string) (*coffer.Profile, error) {
	const op = "postgres.Profile"
	rows, err := db.pool.Query(ctx, `SELECT 'm', '', '', 0::bigint FROM members WHERE id = $1
		UNION ALL SELECT 'v', field, value, updated_at FROM profile_values WHERE member_id = $1
		UNION ALL SELECT 's', field, visibility, updated_at FROM profile_visibility WHERE member_id = $1`, memberID)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	p := &coffer.Profile{MemberID: memberID, Values: map[string]string{}, Visibility: map[string]string{}}
	found := false
	var updated int64
	for rows.Next() {
		var kind, f, v string
		var u int64
		if err := rows.Scan(&kind, &f, &v, &u); err != nil {
			return nil, mapErr(op, err)
		}
		switch kind {
		case "m":
			found = true
		case "v":
			p.Values[f] = v
		case "s":
			p.Visibility[f] = v
		}
		updated = max(updated, u)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	if !found {
		return nil, notFound(op, "member")
	}
	if updated > 0 {
		p.UpdatedAt = fromMs(updated)
	}
	return p, nil
}

func memberExists(ctx context.Context, tx pgx.Tx, op, memberID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM members WHERE id = $1`, memberID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op, "member")
	}
	return err
}

// SetProfileValues implements coffer.IdentityStore.
func (db *DB) SetProfileValues(ctx context.Context, memberID string, values map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "postgres.SetProfileValues"
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		if err := memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, f := range sortedKeys(values) {
			if v := values[f]; v == "" {
				b.Queue(`DELETE FROM profile_values WHERE member_id = $1 AND field = $2`, memberID, f)
			} else {
				b.Queue(`INSERT INTO profile_values (member_id, field, value, updated_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (member_id, field) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, memberID, f, v, ms(at))
			}
		}
		return tx.SendBatch(ctx, b).Close()
	}, ev)
}

// SetVisibility implements coffer.IdentityStore. VisibleNobody (or "")
// removes the field's row: nobody is the default.
func (db *DB) SetVisibility(ctx context.Context, memberID string, vis map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "postgres.SetVisibility"
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		if err := memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, f := range sortedKeys(vis) {
			if v := vis[f]; v == "" || v == coffer.VisibleNobody {
				b.Queue(`DELETE FROM profile_visibility WHERE member_id = $1 AND field = $2`, memberID, f)
			} else {
				b.Queue(`INSERT INTO profile_visibility (member_id, field, visibility, updated_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (member_id, field) DO UPDATE SET visibility = excluded.visibility, updated_at = excluded.updated_at`, memberID, f, v, ms(at))
			}
		}
		return tx.SendBatch(ctx, b).Close()
	}, ev)
}

// Counterparties implements coffer.IdentityStore. Each half is answered by
// an index the ledger already keeps (sender, or payee).
func (db *DB) Counterparties(ctx context.Context, a, b string) (bool, error) {
	var yes bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE sender = $1 AND payee = $2)
		OR EXISTS (SELECT 1 FROM transfers WHERE sender = $2 AND payee = $1)`, a, b).Scan(&yes)
	return yes, mapErr("postgres.Counterparties", err)
}

const verificationCols = `id, member_id, values_json, state, level, reviewer, reason, created_at, decided_at`

func scanVerification(row rowScanner) (*coffer.VerificationRequest, error) {
	var r coffer.VerificationRequest
	var values string
	var created int64
	var decided *int64
	if err := row.Scan(&r.ID, &r.MemberID, &values, &r.State, &r.Level, &r.Reviewer, &r.Reason, &created, &decided); err != nil {
		return nil, err
	}
	r.Values, r.CreatedAt, r.DecidedAt = valueMap(values), fromMs(created), fromNullMs(decided)
	r.Documents = []*coffer.Document{}
	return &r, nil
}

const documentMetaCols = `id, member_id, request_id, content_type, size, sha256, created_at`

func scanDocumentMeta(row rowScanner) (*coffer.Document, error) {
	var d coffer.Document
	var created int64
	if err := row.Scan(&d.ID, &d.MemberID, &d.RequestID, &d.ContentType, &d.Size, &d.SHA256, &created); err != nil {
		return nil, err
	}
	d.CreatedAt = fromMs(created)
	return &d, nil
}

// CreateVerificationRequest implements coffer.IdentityStore. The partial
// unique index on pending requests decides between concurrent ones.
func (db *DB) CreateVerificationRequest(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) error {
	const op = "postgres.CreateVerificationRequest"
	if r.State == "" {
		r.State = coffer.VerificationPending
	}
	if r.Values == nil {
		r.Values = map[string]string{}
	}
	var conflict error
	err := db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO verification_requests (`+verificationCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.MemberID, toJSON(r.Values), r.State, r.Level, r.Reviewer, r.Reason, ms(r.CreatedAt), nullMs(r.DecidedAt))
		if isUnique(err) {
			msg := "The request ID is taken."
			if pgConstraint(err) == "verification_requests_pending" {
				msg = "A verification request is already pending."
			}
			// mapErr would replace the message: it travels on the side.
			conflict = &coffer.Error{Code: coffer.ECONFLICT, Message: msg, Op: op, Err: err}
			return errNothing
		}
		if err != nil {
			return err
		}
		if len(r.Documents) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for _, d := range r.Documents {
			d.MemberID, d.RequestID = r.MemberID, r.ID
			if d.CreatedAt.IsZero() {
				d.CreatedAt = r.CreatedAt
			}
			b.Queue(`INSERT INTO documents (`+documentMetaCols+`, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				d.ID, d.MemberID, d.RequestID, d.ContentType, d.Size, d.SHA256, ms(d.CreatedAt), d.Sealed)
		}
		return tx.SendBatch(ctx, b).Close()
	}, ev)
	if err == errNothing {
		return conflict
	}
	return err
}

// VerificationRequest implements coffer.IdentityStore.
func (db *DB) VerificationRequest(ctx context.Context, id string) (*coffer.VerificationRequest, error) {
	const op = "postgres.VerificationRequest"
	r, err := scanVerification(db.pool.QueryRow(ctx, `SELECT `+verificationCols+` FROM verification_requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	ids := make([]string, 0, len(list))
	for _, r := range list {
		byID[r.ID] = r
		ids = append(ids, r.ID)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+documentMetaCols+` FROM documents WHERE request_id = ANY($1) ORDER BY created_at, id`, ids)
	docs, err := collect(rows, err, op, scanDocumentMeta)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if r := byID[d.RequestID]; r != nil {
			r.Documents = append(r.Documents, d)
		}
	}
	return nil
}

// VerificationRequests implements coffer.IdentityStore.
func (db *DB) VerificationRequests(ctx context.Context, state, memberID string, limit int) ([]*coffer.VerificationRequest, error) {
	const op = "postgres.VerificationRequests"
	var lim any
	if limit > 0 {
		lim = limit
	}
	args := []any{lim}
	where := `true`
	if state != "" {
		args = append(args, state)
		where += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	if memberID != "" {
		args = append(args, memberID)
		where += fmt.Sprintf(` AND member_id = $%d`, len(args))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+verificationCols+` FROM verification_requests WHERE `+where+` ORDER BY created_at, id LIMIT $1`, args...)
	out, err := collect(rows, err, op, scanVerification)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []*coffer.VerificationRequest{}
	}
	if err := db.attachDocuments(ctx, op, out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkDecision validates a verification decision.
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

// DecideVerification implements coffer.IdentityStore. The conditional
// UPDATE decides: of two concurrent decisions exactly one finds the request
// pending.
func (db *DB) DecideVerification(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) (bool, error) {
	const op = "postgres.DecideVerification"
	if err := checkDecision(r); err != nil {
		return false, err
	}
	err := db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		var memberID string
		err := tx.QueryRow(ctx, `UPDATE verification_requests SET state = $1, level = $2, reviewer = $3, reason = $4, decided_at = $5
			WHERE id = $6 AND state = 'pending' RETURNING member_id`,
			r.State, r.Level, r.Reviewer, r.Reason, ms(r.DecidedAt), r.ID).Scan(&memberID)
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM verification_requests WHERE id = $1`, r.ID).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return notFound(op, "verification request")
			} else if err != nil {
				return err
			}
			return errNothing
		}
		if err != nil {
			return err
		}
		r.MemberID = memberID
		if r.State == coffer.VerificationApproved {
			_, err = tx.Exec(ctx, `UPDATE members SET level = $1, level_changed_at = $2 WHERE id = $3`, r.Level, ms(r.DecidedAt), memberID)
		}
		return err
	}, ev)
	if err == errNothing {
		return false, nil
	}
	return err == nil, err
}

// Document implements coffer.IdentityStore.
func (db *DB) Document(ctx context.Context, id string) (*coffer.Document, error) {
	const op = "postgres.Document"
	var d coffer.Document
	var created int64
	err := db.pool.QueryRow(ctx, `SELECT `+documentMetaCols+`, sealed FROM documents WHERE id = $1`, id).
		Scan(&d.ID, &d.MemberID, &d.RequestID, &d.ContentType, &d.Size, &d.SHA256, &created, &d.Sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, "document")
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	d.CreatedAt = fromMs(created)
	return &d, nil
}

func newPersonID() string { return "per_" + strings.ToLower(rand.Text()) }

// lockMembers locks the members' rows in ID order (so that two
// transactions locking overlapping sets cannot deadlock) and reports
// ENOTFOUND when one does not exist. ids must be sorted and distinct.
func lockMembers(ctx context.Context, tx pgx.Tx, op string, ids []string) error {
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT id FROM members WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE) m`, ids).Scan(&n)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return notFound(op, "member")
	}
	return nil
}

// LinkMembers implements coffer.IdentityStore. The members' rows are
// locked first, so concurrent links of overlapping sets run one after the
// other and see each other's persons.
func (db *DB) LinkMembers(ctx context.Context, memberIDs []string, at time.Time, ev *coffer.AuditEvent) (string, error) {
	const op = "postgres.LinkMembers"
	ids := slices.Compact(slices.Sorted(slices.Values(memberIDs)))
	if len(ids) == 0 {
		return "", coffer.Errorf(coffer.EINVALID, "Name the member IDs to link.")
	}
	var person string
	err := db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		person = ""
		if err := lockMembers(ctx, tx, op, ids); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT person_id FROM person_members WHERE member_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		persons, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		switch len(persons) {
		case 0:
			person = newPersonID()
			if _, err := tx.Exec(ctx, `INSERT INTO persons (id, created_at) VALUES ($1, $2)`, person, ms(at)); err != nil {
				return err
			}
		case 1:
			person = persons[0]
		default:
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "The member IDs already belong to different persons.", Op: op}
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_members (member_id, person_id) SELECT unnest($1::text[]), $2 ON CONFLICT (member_id) DO NOTHING`, ids, person)
		return err
	}, ev)
	if err != nil {
		return "", err
	}
	return person, nil
}

// LinkedMembers implements coffer.IdentityStore.
func (db *DB) LinkedMembers(ctx context.Context, memberID string) ([]string, error) {
	return db.strings(ctx, "postgres.LinkedMembers", `SELECT o.member_id FROM person_members m
		JOIN person_members o ON o.person_id = m.person_id AND o.member_id <> m.member_id
		WHERE m.member_id = $1 ORDER BY o.member_id`, memberID)
}

const disclosureCols = `id, requester, subject, fields, reason, state, granted, until, created_at, decided_at`

func scanDisclosure(row rowScanner) (*coffer.DisclosureRequest, error) {
	var d coffer.DisclosureRequest
	var fields, granted string
	var until, decided *int64
	var created int64
	if err := row.Scan(&d.ID, &d.Requester, &d.Subject, &fields, &d.Reason, &d.State, &granted, &until, &created, &decided); err != nil {
		return nil, err
	}
	d.Fields, d.Granted = fieldList(fields), fieldList(granted)
	d.Until, d.CreatedAt, d.DecidedAt = fromNullMs(until), fromMs(created), fromNullMs(decided)
	return &d, nil
}

func (db *DB) disclosures(ctx context.Context, op, q string, args ...any) ([]*coffer.DisclosureRequest, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, op, scanDisclosure)
	if err == nil && out == nil {
		out = []*coffer.DisclosureRequest{}
	}
	return out, err
}

// CreateDisclosureRequest implements coffer.IdentityStore. The
// requester's and the subject's rows are locked (in member-ID order) before
// the counts, so concurrent requests, from any process, cannot together
// exceed the limits.
func (db *DB) CreateDisclosureRequest(ctx context.Context, r *coffer.DisclosureRequest, maxPerDay, maxPerSubjectDay int, ev *coffer.AuditEvent) error {
	const op = "postgres.CreateDisclosureRequest"
	if r.State == "" {
		r.State = coffer.DisclosurePending
	}
	r.Fields, r.Granted = orEmpty(r.Fields), orEmpty(r.Granted)
	ids := slices.Compact(slices.Sorted(slices.Values([]string{r.Requester, r.Subject})))
	return db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		if err := lockMembers(ctx, tx, op, ids); err != nil {
			return err
		}
		var byRequester, toSubject int
		// Requests stamped later than r (by a process whose clock runs
		// ahead) count too.
		since := ms(r.CreatedAt.Add(-24 * time.Hour))
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM disclosure_requests WHERE requester = $1 AND created_at > $3),
			(SELECT COUNT(*) FROM disclosure_requests WHERE subject = $2 AND created_at > $3)`,
			r.Requester, r.Subject, since).Scan(&byRequester, &toSubject); err != nil {
			return err
		}
		if maxPerDay > 0 && byRequester >= maxPerDay {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "Too many disclosure requests today; try again tomorrow.", Op: op}
		}
		if maxPerSubjectDay > 0 && toSubject >= maxPerSubjectDay {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "The member has received too many disclosure requests today; try again tomorrow.", Op: op}
		}
		_, err := tx.Exec(ctx, `INSERT INTO disclosure_requests (`+disclosureCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.Requester, r.Subject, toJSON(r.Fields), r.Reason, r.State, toJSON(r.Granted), nullMs(r.Until), ms(r.CreatedAt), nullMs(r.DecidedAt))
		return err
	}, ev)
}

// DisclosureRequest implements coffer.IdentityStore.
func (db *DB) DisclosureRequest(ctx context.Context, id string) (*coffer.DisclosureRequest, error) {
	const op = "postgres.DisclosureRequest"
	d, err := scanDisclosure(db.pool.QueryRow(ctx, `SELECT `+disclosureCols+` FROM disclosure_requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	return db.disclosures(ctx, "postgres.DisclosureRequests", `SELECT `+disclosureCols+` FROM disclosure_requests WHERE `+col+` = $1 ORDER BY created_at DESC, id DESC`, memberID)
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
// revocation keeps what had been granted, for the record. The conditional
// UPDATE decides between concurrent decisions.
func (db *DB) DecideDisclosure(ctx context.Context, r *coffer.DisclosureRequest, from string, ev *coffer.AuditEvent) (bool, error) {
	const op = "postgres.DecideDisclosure"
	if !disclosureMove(from, r.State) {
		return false, nil
	}
	err := db.auditedTx(ctx, op, func(tx pgx.Tx) error {
		var granted string
		var err error
		switch r.State {
		case coffer.DisclosureGranted:
			g := "[]"
			if len(r.Granted) > 0 {
				g = toJSON(r.Granted)
			}
			err = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = $1, granted = CASE WHEN $2 = '[]' THEN fields ELSE $2 END,
				until = $3, decided_at = $4 WHERE id = $5 AND state = $6 RETURNING granted`,
				r.State, g, nullMs(r.Until), ms(r.DecidedAt), r.ID, from).Scan(&granted)
		case coffer.DisclosureRefused:
			err = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = $1, granted = '[]', decided_at = $2 WHERE id = $3 AND state = $4 RETURNING granted`,
				r.State, ms(r.DecidedAt), r.ID, from).Scan(&granted)
		default:
			err = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = $1, decided_at = $2 WHERE id = $3 AND state = $4 RETURNING granted`,
				r.State, ms(r.DecidedAt), r.ID, from).Scan(&granted)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return errNothing
		}
		if err == nil {
			r.Granted = fieldList(granted)
		}
		return err
	}, ev)
	if err == errNothing {
		return false, nil
	}
	return err == nil, err
}

// ActiveGrants implements coffer.IdentityStore.
func (db *DB) ActiveGrants(ctx context.Context, subject, requester string, now time.Time) ([]*coffer.DisclosureRequest, error) {
	return db.disclosures(ctx, "postgres.ActiveGrants", `SELECT `+disclosureCols+` FROM disclosure_requests
		WHERE subject = $1 AND requester = $2 AND state = 'granted' AND (until IS NULL OR until > $3) ORDER BY created_at, id`,
		subject, requester, ms(now))
}

// AddContact implements coffer.IdentityStore. Adding a contact again
// replaces its note.
func (db *DB) AddContact(ctx context.Context, c *coffer.Contact) error {
	const op = "postgres.AddContact"
	_, err := db.pool.Exec(ctx, `INSERT INTO contacts (member_id, contact_id, note, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (member_id, contact_id) DO UPDATE SET note = excluded.note`, c.MemberID, c.ContactID, c.Note, ms(c.CreatedAt))
	return fkNotFound(op, mapErr(op, err))
}

// RemoveContact implements coffer.IdentityStore.
func (db *DB) RemoveContact(ctx context.Context, memberID, contactID string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM contacts WHERE member_id = $1 AND contact_id = $2`, memberID, contactID)
	if err != nil {
		return false, mapErr("postgres.RemoveContact", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Contacts implements coffer.IdentityStore.
func (db *DB) Contacts(ctx context.Context, memberID string) ([]*coffer.Contact, error) {
	rows, err := db.pool.Query(ctx, `SELECT member_id, contact_id, note, created_at FROM contacts WHERE member_id = $1 ORDER BY created_at, contact_id`, memberID)
	out, err := collect(rows, err, "postgres.Contacts", func(r rowScanner) (*coffer.Contact, error) {
		var c coffer.Contact
		var created int64
		if err := r.Scan(&c.MemberID, &c.ContactID, &c.Note, &created); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMs(created)
		return &c, nil
	})
	if err == nil && out == nil {
		out = []*coffer.Contact{}
	}
	return out, err
}

// IsContact implements coffer.IdentityStore.
func (db *DB) IsContact(ctx context.Context, memberID, contactID string) (bool, error) {
	var yes bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE member_id = $1 AND contact_id = $2)`, memberID, contactID).Scan(&yes)
	return yes, mapErr("postgres.IsContact", err)
}

// ClosedPasswordHash replaces the password hash of a closed account: no
// password verifies against it.
const ClosedPasswordHash = "!closed"

// CloseMember implements coffer.IdentityStore. It locks the ledger head
// first, like any change the ledger decides on, so no batch moves money
// into or out of the member's purses between the check and the close.
func (db *DB) CloseMember(ctx context.Context, memberID string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "postgres.CloseMember"
	_, err := db.ledgerChange(ctx, op, func(tx pgx.Tx) (bool, error) {
		var closed *int64
		err := tx.QueryRow(ctx, `SELECT closed_at FROM members WHERE id = $1 FOR NO KEY UPDATE`, memberID).Scan(&closed)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, notFound(op, "member")
		}
		if err != nil {
			return false, err
		}
		if closed != nil {
			return false, &coffer.Error{Code: coffer.ECLOSED, Message: "The account is already closed.", Op: op}
		}
		var money, held bool
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM purses WHERE owner = $1 AND (balance <> 0 OR held <> 0)),
			EXISTS (SELECT 1 FROM transfers WHERE status = 'held' AND sender = $1)`, memberID).Scan(&money, &held); err != nil {
			return false, err
		}
		if money {
			return false, &coffer.Error{Code: coffer.EINVALID, Message: "Empty every purse (and release or return held money) before closing the account.", Op: op}
		}
		if held {
			return false, &coffer.Error{Code: coffer.EINVALID, Message: "A protected transfer you sent is still held; wait until it is released or returned before closing the account.", Op: op}
		}
		b := &pgx.Batch{}
		for _, q := range closeStatements {
			if strings.Contains(q, "$2") {
				b.Queue(q, memberID, ms(at))
			} else {
				b.Queue(q, memberID)
			}
		}
		return true, tx.SendBatch(ctx, b).Close()
	}, ev)
	return err
}

// closeStatements erase what identifies a member ($1) at $2, keeping the
// ledger and the audit log.
var closeStatements = []string{
	`UPDATE members SET email = NULL, phone = NULL, password_hash = '` + ClosedPasswordHash + `', only_contacts = false, closed_at = $2 WHERE id = $1`,
	`UPDATE purses SET closed = true WHERE owner = $1`,
	`DELETE FROM profile_values WHERE member_id = $1`,
	`DELETE FROM profile_visibility WHERE member_id = $1`,
	`DELETE FROM documents WHERE member_id = $1`,
	`UPDATE verification_requests SET values_json = '{}' WHERE member_id = $1`,
	`UPDATE verification_requests SET state = 'rejected', reason = 'account closed', decided_at = $2 WHERE member_id = $1 AND state = 'pending'`,
	`DELETE FROM sessions WHERE member_id = $1`,
	`DELETE FROM contacts WHERE (member_id = $1 OR contact_id = $1)`,
	`DELETE FROM person_members WHERE member_id = $1`,
	`DELETE FROM member_roles WHERE member_id = $1`,
	`UPDATE signing_keys SET revoked_at = $2 WHERE member_id = $1 AND revoked_at IS NULL`,
	`UPDATE certificates SET revoked_at = $2 WHERE member_id = $1 AND revoked_at IS NULL`,
}
