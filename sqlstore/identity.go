package sqlstore

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
)

// fact reports one of the root package's identity facts from op.
// writeMember is write for the identity rows, which all name members: a
// row naming a member that does not exist is answered "No such member.".
func (s *Store) writeMember(ctx context.Context, op string, l lock, fn func(*Tx) error, evs ...*coffer.AuditEvent) error {
	err := s.write(ctx, op, l, fn, evs...)
	var ce *coffer.Error
	if errors.As(err, &ce) && s.is(ce.Err, FaultForeignKey) {
		return &coffer.Error{Code: coffer.ENOTFOUND, Message: "No such member.", Op: ce.Op, Err: ce.Err}
	}
	return err
}

func (s *Store) fact(op string, err error) error {
	return fmt.Errorf("%s.%s: %w", s.d.Name(), op, err)
}

// errNotDecided rolls back a decision the request's state did not allow;
// the method then reports false.
var errNotDecided = errors.New("sqlstore: not decided")

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

// nonNil makes an empty list non-nil, for the lists the contract promises
// as such.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
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

// queryStrings reads a one-column query's values (an empty list when none).
func (s *Store) queryStrings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := s.rd.Query(ctx, q, args...)
	out, err := collect(s, op, rows, err, func(r Scanner) (*string, error) {
		var v string
		return &v, r.Scan(&v)
	})
	if err != nil {
		return nil, err
	}
	list := make([]string, len(out))
	for i, v := range out {
		list[i] = *v
	}
	return list, nil
}

// lockMembers locks the members' rows in ID order, so that transactions
// locking overlapping sets cannot deadlock, and reports ENOTFOUND when one
// does not exist. ids must be sorted and distinct. The lock orders the
// writes about these members (their disclosure counts, their persons, the
// closing of the account) from any process.
func (s *Store) lockMembers(ctx context.Context, tx *Tx, op string, ids []string) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT id FROM members WHERE id IN (`+placeholders(len(ids))+`) ORDER BY id`+s.d.ForNoKeyUpdate()+`) m`,
		args...).Scan(&n)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return notFound(s.d.Name()+"."+op, "member")
	}
	return nil
}

// MemberStatus implements coffer.IdentityStore. One statement, roles
// included: the app reads this on every transfer.
func (s *Store) MemberStatus(ctx context.Context, memberID string) (*coffer.MemberStatus, error) {
	const op = "MemberStatus"
	rows, err := s.rd.Query(ctx, `SELECT m.level, m.level_changed_at, m.only_contacts, m.closed_at, m.created_at, r.role
		FROM members m LEFT JOIN member_roles r ON r.member_id = m.id WHERE m.id = ? ORDER BY r.role`, memberID)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var st *coffer.MemberStatus
	for rows.Next() {
		var level string
		var changed, closed sql.NullInt64
		var only bool
		var created int64
		var role sql.NullString
		if err := rows.Scan(&level, &changed, &only, &closed, &created, &role); err != nil {
			return nil, s.mapErr(op, err)
		}
		if st == nil {
			st = &coffer.MemberStatus{MemberID: memberID, Level: level, LevelChangedAt: fromNullMs(changed), Roles: []string{},
				OnlyContacts: only, ClosedAt: fromNullMs(closed), CreatedAt: fromMs(created)}
		}
		if role.Valid {
			st.Roles = append(st.Roles, role.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(op, err)
	}
	if st == nil {
		return nil, notFound(s.d.Name()+"."+op, "member")
	}
	if st.Level == "" {
		st.Level = coffer.LevelPseudonymous
	}
	return st, nil
}

// SetLevel implements coffer.IdentityStore. It holds off ledger batches,
// which decide on the owners' levels.
func (s *Store) SetLevel(ctx context.Context, memberID, level string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "SetLevel"
	return s.writeMember(ctx, op, lockLedger, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE members SET level = ?, level_changed_at = ? WHERE id = ?`, level, ms(at), memberID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(s.d.Name()+"."+op, "member")
		}
		return nil
	}, ev)
}

// SetRole implements coffer.IdentityStore.
func (s *Store) SetRole(ctx context.Context, memberID, role string, on bool, ev *coffer.AuditEvent) error {
	return s.writeMember(ctx, "SetRole", lockNone, func(tx *Tx) error {
		var err error
		if on {
			_, err = tx.Exec(ctx, `INSERT INTO member_roles (member_id, role) VALUES (?, ?) ON CONFLICT DO NOTHING`, memberID, role)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM member_roles WHERE member_id = ? AND role = ?`, memberID, role)
		}
		return err
	}, ev)
}

// MembersWithRole implements coffer.IdentityStore.
func (s *Store) MembersWithRole(ctx context.Context, role string) ([]string, error) {
	return s.queryStrings(ctx, "MembersWithRole", `SELECT member_id FROM member_roles WHERE role = ? ORDER BY member_id`, role)
}

// SetOnlyContacts implements coffer.IdentityStore.
func (s *Store) SetOnlyContacts(ctx context.Context, memberID string, on bool, ev *coffer.AuditEvent) error {
	const op = "SetOnlyContacts"
	return s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE members SET only_contacts = ? WHERE id = ?`, on, memberID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(s.d.Name()+"."+op, "member")
		}
		return nil
	}, ev)
}

// Profile implements coffer.IdentityStore: one statement, so values and
// visibility come from one snapshot.
func (s *Store) Profile(ctx context.Context, memberID string) (*coffer.Profile, error) {
	const op = "Profile"
	rows, err := s.rd.Query(ctx, `SELECT 'm', '', '', CAST(0 AS BIGINT) FROM members WHERE id = ?1
		UNION ALL SELECT 'v', field, value, updated_at FROM profile_values WHERE member_id = ?1
		UNION ALL SELECT 's', field, visibility, updated_at FROM profile_visibility WHERE member_id = ?1`, memberID)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	p := &coffer.Profile{MemberID: memberID, Values: map[string]string{}, Visibility: map[string]string{}}
	found := false
	var updated int64
	for rows.Next() {
		var kind, f, v string
		var u int64
		if err := rows.Scan(&kind, &f, &v, &u); err != nil {
			return nil, s.mapErr(op, err)
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
		return nil, s.mapErr(op, err)
	}
	if !found {
		return nil, notFound(s.d.Name()+"."+op, "member")
	}
	if updated > 0 {
		p.UpdatedAt = fromMs(updated)
	}
	return p, nil
}

// memberExists reports ENOTFOUND when there is no such member.
func (s *Store) memberExists(ctx context.Context, tx *Tx, op, memberID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM members WHERE id = ?`, memberID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(s.d.Name()+"."+op, "member")
	}
	return err
}

// SetProfileValues implements coffer.IdentityStore.
func (s *Store) SetProfileValues(ctx context.Context, memberID string, values map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "SetProfileValues"
	return s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		if err := s.memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		for _, f := range sortedKeys(values) {
			var err error
			if v := values[f]; v == "" {
				_, err = tx.Exec(ctx, `DELETE FROM profile_values WHERE member_id = ? AND field = ?`, memberID, f)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO profile_values (member_id, field, value, updated_at) VALUES (?, ?, ?, ?)
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
func (s *Store) SetVisibility(ctx context.Context, memberID string, vis map[string]string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "SetVisibility"
	return s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		if err := s.memberExists(ctx, tx, op, memberID); err != nil {
			return err
		}
		for _, f := range sortedKeys(vis) {
			var err error
			if v := vis[f]; v == "" || v == coffer.VisibleNobody {
				_, err = tx.Exec(ctx, `DELETE FROM profile_visibility WHERE member_id = ? AND field = ?`, memberID, f)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO profile_visibility (member_id, field, visibility, updated_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (member_id, field) DO UPDATE SET visibility = excluded.visibility, updated_at = excluded.updated_at`, memberID, f, v, ms(at))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// Counterparties implements coffer.IdentityStore. Each half is answered by
// an index the ledger already keeps (sender, or payee).
func (s *Store) Counterparties(ctx context.Context, a, b string) (bool, error) {
	var yes bool
	err := s.rd.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE sender = ?1 AND payee = ?2)
		OR EXISTS (SELECT 1 FROM transfers WHERE sender = ?2 AND payee = ?1)`, a, b).Scan(&yes)
	return yes, s.mapErr("Counterparties", err)
}

const verificationCols = `id, member_id, values_json, state, level, reviewer, reason, created_at, decided_at`

func scanVerification(row Scanner) (*coffer.VerificationRequest, error) {
	var r coffer.VerificationRequest
	var values string
	var created int64
	var decided sql.NullInt64
	if err := row.Scan(&r.ID, &r.MemberID, &values, &r.State, &r.Level, &r.Reviewer, &r.Reason, &created, &decided); err != nil {
		return nil, err
	}
	r.Values, r.CreatedAt, r.DecidedAt = valueMap(values), fromMs(created), fromNullMs(decided)
	r.Documents = []*coffer.Document{}
	return &r, nil
}

const documentMetaCols = `id, member_id, request_id, content_type, size, sha256, created_at`

func scanDocumentMeta(row Scanner) (*coffer.Document, error) {
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
func (s *Store) CreateVerificationRequest(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) error {
	const op = "CreateVerificationRequest"
	if r.State == "" {
		r.State = coffer.VerificationPending
	}
	if r.Values == nil {
		r.Values = map[string]string{}
	}
	return s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO verification_requests (`+verificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.MemberID, toJSON(r.Values), r.State, r.Level, r.Reviewer, r.Reason, ms(r.CreatedAt), nullMs(r.DecidedAt))
		if s.is(err, FaultUnique) {
			// The pending index (verification_requests_pending, on
			// member_id) or the request's ID.
			if c := s.d.Constraint(err); strings.Contains(c, "pending") || strings.Contains(c, "member_id") {
				return s.fact(op, coffer.ErrVerificationPending)
			}
			return s.fact(op, coffer.ErrRequestIDTaken)
		}
		if err != nil {
			return err
		}
		for _, d := range r.Documents {
			d.MemberID, d.RequestID = r.MemberID, r.ID
			if d.CreatedAt.IsZero() {
				d.CreatedAt = r.CreatedAt
			}
			if _, err := tx.Exec(ctx, `INSERT INTO documents (`+documentMetaCols+`, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, d.MemberID, d.RequestID, d.ContentType, d.Size, d.SHA256, ms(d.CreatedAt), d.Sealed); err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// VerificationRequest implements coffer.IdentityStore.
func (s *Store) VerificationRequest(ctx context.Context, id string) (*coffer.VerificationRequest, error) {
	const op = "VerificationRequest"
	r, err := scanVerification(s.rd.QueryRow(ctx, `SELECT `+verificationCols+` FROM verification_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(s.d.Name()+"."+op, "verification request")
	}
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	if err := s.attachDocuments(ctx, op, []*coffer.VerificationRequest{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// documentsPerQuery bounds the request IDs one query of attachDocuments
// names, well below either database's limit on parameters.
const documentsPerQuery = 500

// attachDocuments loads the metadata of the requests' documents, in one
// query per documentsPerQuery requests.
func (s *Store) attachDocuments(ctx context.Context, op string, list []*coffer.VerificationRequest) error {
	byID := make(map[string]*coffer.VerificationRequest, len(list))
	for _, r := range list {
		byID[r.ID] = r
	}
	for chunk := range slices.Chunk(list, documentsPerQuery) {
		args := make([]any, len(chunk))
		for i, r := range chunk {
			args[i] = r.ID
		}
		rows, err := s.rd.Query(ctx, `SELECT `+documentMetaCols+` FROM documents WHERE request_id IN (`+placeholders(len(args))+`) ORDER BY created_at, id`, args...)
		docs, err := collect(s, op, rows, err, scanDocumentMeta)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if r := byID[d.RequestID]; r != nil {
				r.Documents = append(r.Documents, d)
			}
		}
	}
	return nil
}

// VerificationRequests implements coffer.IdentityStore.
func (s *Store) VerificationRequests(ctx context.Context, state, memberID string, limit int) ([]*coffer.VerificationRequest, error) {
	const op = "VerificationRequests"
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
	rows, err := s.rd.Query(ctx, q, args...)
	out, err := collect(s, op, rows, err, scanVerification)
	if err != nil {
		return nil, err
	}
	if err := s.attachDocuments(ctx, op, out); err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

// DecideVerification implements coffer.IdentityStore. The conditional
// UPDATE decides: of two concurrent decisions exactly one finds the request
// pending. It holds off ledger batches, as an approval changes a level.
func (s *Store) DecideVerification(ctx context.Context, r *coffer.VerificationRequest, ev *coffer.AuditEvent) (bool, error) {
	const op = "DecideVerification"
	if err := r.CheckDecision(); err != nil {
		return false, s.fact(op, err)
	}
	err := s.writeMember(ctx, op, lockLedger, func(tx *Tx) error {
		var memberID string
		err := tx.QueryRow(ctx, `UPDATE verification_requests SET state = ?, level = ?, reviewer = ?, reason = ?, decided_at = ?
			WHERE id = ? AND state = 'pending' RETURNING member_id`,
			r.State, r.Level, r.Reviewer, r.Reason, ms(r.DecidedAt), r.ID).Scan(&memberID)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM verification_requests WHERE id = ?`, r.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return notFound(s.d.Name()+"."+op, "verification request")
			} else if err != nil {
				return err
			}
			return errNotDecided
		}
		if err != nil {
			return err
		}
		r.MemberID = memberID
		if r.State == coffer.VerificationApproved {
			_, err = tx.Exec(ctx, `UPDATE members SET level = ?, level_changed_at = ? WHERE id = ?`, r.Level, ms(r.DecidedAt), memberID)
		}
		return err
	}, ev)
	if errors.Is(err, errNotDecided) {
		return false, nil
	}
	return err == nil, err
}

// Document implements coffer.IdentityStore.
func (s *Store) Document(ctx context.Context, id string) (*coffer.Document, error) {
	const op = "Document"
	var d coffer.Document
	var created int64
	err := s.rd.QueryRow(ctx, `SELECT `+documentMetaCols+`, sealed FROM documents WHERE id = ?`, id).
		Scan(&d.ID, &d.MemberID, &d.RequestID, &d.ContentType, &d.Size, &d.SHA256, &created, &d.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(s.d.Name()+"."+op, "document")
	}
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	d.CreatedAt = fromMs(created)
	return &d, nil
}

func newPersonID() string { return "per_" + strings.ToLower(rand.Text()) }

// LinkMembers implements coffer.IdentityStore. The members' rows are
// locked first, in ID order, so concurrent links of overlapping sets run
// one after the other and see each other's persons.
func (s *Store) LinkMembers(ctx context.Context, memberIDs []string, at time.Time, ev *coffer.AuditEvent) (string, error) {
	const op = "LinkMembers"
	ids := slices.Compact(slices.Sorted(slices.Values(memberIDs)))
	if len(ids) == 0 {
		return "", s.fact(op, coffer.ErrNoMemberIDs)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var person string
	err := s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		person = ""
		if err := s.lockMembers(ctx, tx, op, ids); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT person_id FROM person_members WHERE member_id IN (`+placeholders(len(ids))+`)`, args...)
		persons, err := collect(s, op, rows, err, func(r Scanner) (*string, error) {
			var p string
			return &p, r.Scan(&p)
		})
		if err != nil {
			return err
		}
		switch len(persons) {
		case 0:
			person = newPersonID()
			if _, err := tx.Exec(ctx, `INSERT INTO persons (id, created_at) VALUES (?, ?)`, person, ms(at)); err != nil {
				return err
			}
		case 1:
			person = *persons[0]
		default:
			return s.fact(op, coffer.ErrDifferentPersons)
		}
		vals := make([]any, 0, 2*len(ids))
		for _, id := range ids {
			vals = append(vals, id, person)
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_members (member_id, person_id) VALUES `+Rows(`(?, ?)`, len(ids))+`
			ON CONFLICT (member_id) DO NOTHING`, vals...)
		return err
	}, ev)
	if err != nil {
		return "", err
	}
	return person, nil
}

// LinkedMembers implements coffer.IdentityStore.
func (s *Store) LinkedMembers(ctx context.Context, memberID string) ([]string, error) {
	return s.queryStrings(ctx, "LinkedMembers", `SELECT o.member_id FROM person_members m
		JOIN person_members o ON o.person_id = m.person_id AND o.member_id <> m.member_id
		WHERE m.member_id = ? ORDER BY o.member_id`, memberID)
}

const disclosureCols = `id, requester, subject, fields, reason, state, granted, until, created_at, decided_at`

func scanDisclosure(row Scanner) (*coffer.DisclosureRequest, error) {
	var d coffer.DisclosureRequest
	var fields, granted string
	var until, decided sql.NullInt64
	var created int64
	if err := row.Scan(&d.ID, &d.Requester, &d.Subject, &fields, &d.Reason, &d.State, &granted, &until, &created, &decided); err != nil {
		return nil, err
	}
	d.Fields, d.Granted = fieldList(fields), fieldList(granted)
	d.Until, d.CreatedAt, d.DecidedAt = fromNullMs(until), fromMs(created), fromNullMs(decided)
	return &d, nil
}

func (s *Store) disclosures(ctx context.Context, op, q string, args ...any) ([]*coffer.DisclosureRequest, error) {
	rows, err := s.rd.Query(ctx, q, args...)
	out, err := collect(s, op, rows, err, scanDisclosure)
	if err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

// CreateDisclosureRequest implements coffer.IdentityStore. The
// requester's and the subject's rows are locked (in member-ID order) before
// the counts, so concurrent requests, from any process, cannot together
// exceed the limits.
func (s *Store) CreateDisclosureRequest(ctx context.Context, r *coffer.DisclosureRequest, maxPerDay, maxPerSubjectDay int, ev *coffer.AuditEvent) error {
	const op = "CreateDisclosureRequest"
	if r.State == "" {
		r.State = coffer.DisclosurePending
	}
	r.Fields, r.Granted = nonNil(r.Fields), nonNil(r.Granted)
	ids := slices.Compact(slices.Sorted(slices.Values([]string{r.Requester, r.Subject})))
	return s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		if err := s.lockMembers(ctx, tx, op, ids); err != nil {
			return err
		}
		var byRequester, toSubject int
		// Requests stamped later than r (by a process whose clock runs
		// ahead) count too.
		since := ms(r.CreatedAt.Add(-24 * time.Hour))
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM disclosure_requests WHERE requester = ?1 AND created_at > ?3),
			(SELECT COUNT(*) FROM disclosure_requests WHERE subject = ?2 AND created_at > ?3)`,
			r.Requester, r.Subject, since).Scan(&byRequester, &toSubject); err != nil {
			return err
		}
		if maxPerDay > 0 && byRequester >= maxPerDay {
			return s.fact(op, coffer.ErrRequesterDisclosureLimit)
		}
		if maxPerSubjectDay > 0 && toSubject >= maxPerSubjectDay {
			return s.fact(op, coffer.ErrSubjectDisclosureLimit)
		}
		_, err := tx.Exec(ctx, `INSERT INTO disclosure_requests (`+disclosureCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Requester, r.Subject, toJSON(r.Fields), r.Reason, r.State, toJSON(r.Granted), nullMs(r.Until), ms(r.CreatedAt), nullMs(r.DecidedAt))
		return err
	}, ev)
}

// DisclosureRequest implements coffer.IdentityStore.
func (s *Store) DisclosureRequest(ctx context.Context, id string) (*coffer.DisclosureRequest, error) {
	const op = "DisclosureRequest"
	d, err := scanDisclosure(s.rd.QueryRow(ctx, `SELECT `+disclosureCols+` FROM disclosure_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(s.d.Name()+"."+op, "disclosure request")
	}
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return d, nil
}

// DisclosureRequests implements coffer.IdentityStore.
func (s *Store) DisclosureRequests(ctx context.Context, memberID string, asRequester bool) ([]*coffer.DisclosureRequest, error) {
	col := "subject"
	if asRequester {
		col = "requester"
	}
	return s.disclosures(ctx, "DisclosureRequests", `SELECT `+disclosureCols+` FROM disclosure_requests WHERE `+col+` = ? ORDER BY created_at DESC, id DESC`, memberID)
}

// DecideDisclosure implements coffer.IdentityStore. A grant without
// Granted grants every field asked for; a refusal grants none; a
// revocation keeps what had been granted, for the record. The conditional
// UPDATE decides between concurrent decisions.
func (s *Store) DecideDisclosure(ctx context.Context, r *coffer.DisclosureRequest, from string, ev *coffer.AuditEvent) (bool, error) {
	const op = "DecideDisclosure"
	if !coffer.DisclosureMove(from, r.State) {
		return false, nil
	}
	err := s.writeMember(ctx, op, lockNone, func(tx *Tx) error {
		var row *sql.Row
		switch r.State {
		case coffer.DisclosureGranted:
			g := "[]"
			if len(r.Granted) > 0 {
				g = toJSON(r.Granted)
			}
			row = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = ?1, granted = CASE WHEN ?2 = '[]' THEN fields ELSE ?2 END,
				until = ?3, decided_at = ?4 WHERE id = ?5 AND state = ?6 RETURNING granted`,
				r.State, g, nullMs(r.Until), ms(r.DecidedAt), r.ID, from)
		case coffer.DisclosureRefused:
			row = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = ?, granted = '[]', decided_at = ? WHERE id = ? AND state = ? RETURNING granted`,
				r.State, ms(r.DecidedAt), r.ID, from)
		default:
			row = tx.QueryRow(ctx, `UPDATE disclosure_requests SET state = ?, decided_at = ? WHERE id = ? AND state = ? RETURNING granted`,
				r.State, ms(r.DecidedAt), r.ID, from)
		}
		var granted string
		err := row.Scan(&granted)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotDecided
		}
		if err == nil {
			r.Granted = fieldList(granted)
		}
		return err
	}, ev)
	if errors.Is(err, errNotDecided) {
		return false, nil
	}
	return err == nil, err
}

// ActiveGrants implements coffer.IdentityStore.
func (s *Store) ActiveGrants(ctx context.Context, subject, requester string, now time.Time) ([]*coffer.DisclosureRequest, error) {
	return s.disclosures(ctx, "ActiveGrants", `SELECT `+disclosureCols+` FROM disclosure_requests
		WHERE subject = ? AND requester = ? AND state = 'granted' AND (until IS NULL OR until > ?) ORDER BY created_at, id`,
		subject, requester, ms(now))
}

// AddContact implements coffer.IdentityStore. Adding a contact again
// replaces its note.
func (s *Store) AddContact(ctx context.Context, c *coffer.Contact) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO contacts (member_id, contact_id, note, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (member_id, contact_id) DO UPDATE SET note = excluded.note`, c.MemberID, c.ContactID, c.Note, ms(c.CreatedAt))
	if s.is(err, FaultForeignKey) {
		return notFound(s.d.Name()+".AddContact", "member")
	}
	return s.mapErr("AddContact", err)
}

// RemoveContact implements coffer.IdentityStore.
func (s *Store) RemoveContact(ctx context.Context, memberID, contactID string) (bool, error) {
	res, err := s.wr.Exec(ctx, `DELETE FROM contacts WHERE member_id = ? AND contact_id = ?`, memberID, contactID)
	if err != nil {
		return false, s.mapErr("RemoveContact", err)
	}
	n, err := res.RowsAffected()
	return n > 0, s.mapErr("RemoveContact", err)
}

// Contacts implements coffer.IdentityStore.
func (s *Store) Contacts(ctx context.Context, memberID string) ([]*coffer.Contact, error) {
	rows, err := s.rd.Query(ctx, `SELECT member_id, contact_id, note, created_at FROM contacts WHERE member_id = ? ORDER BY created_at, contact_id`, memberID)
	out, err := collect(s, "Contacts", rows, err, func(r Scanner) (*coffer.Contact, error) {
		var c coffer.Contact
		var created int64
		if err := r.Scan(&c.MemberID, &c.ContactID, &c.Note, &created); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMs(created)
		return &c, nil
	})
	if err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

// IsContact implements coffer.IdentityStore.
func (s *Store) IsContact(ctx context.Context, memberID, contactID string) (bool, error) {
	var yes bool
	err := s.rd.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE member_id = ? AND contact_id = ?)`, memberID, contactID).Scan(&yes)
	return yes, s.mapErr("IsContact", err)
}

// closedPasswordHash replaces the password hash of a closed account: no
// password verifies against it.
const closedPasswordHash = "!closed"

// CloseMember implements coffer.IdentityStore. It holds off ledger batches
// first, like any change the ledger decides on, so no batch moves money
// into or out of the member's purses between the check and the close.
func (s *Store) CloseMember(ctx context.Context, memberID string, at time.Time, ev *coffer.AuditEvent) error {
	const op = "CloseMember"
	return s.writeMember(ctx, op, lockLedger, func(tx *Tx) error {
		var closed sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT closed_at FROM members WHERE id = ?`+s.d.ForNoKeyUpdate(), memberID).Scan(&closed)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(s.d.Name()+"."+op, "member")
		}
		if err != nil {
			return err
		}
		if closed.Valid {
			return s.fact(op, coffer.ErrAccountClosed)
		}
		var money, held bool
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM purses WHERE owner = ?1 AND (balance <> 0 OR held <> 0)),
			EXISTS (SELECT 1 FROM transfers WHERE status = 'held' AND sender = ?1)`, memberID).Scan(&money, &held); err != nil {
			return err
		}
		if money {
			return s.fact(op, coffer.ErrPursesNotEmpty)
		}
		if held {
			return s.fact(op, coffer.ErrSentTransferHeld)
		}
		for _, q := range closeStatements {
			args := []any{memberID}
			if strings.Contains(q, "?2") {
				args = append(args, ms(at))
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	}, ev)
}

// closeStatements erase what identifies a member (?1) at ?2, keeping the
// ledger and the audit log.
var closeStatements = []string{
	`UPDATE members SET email = NULL, phone = NULL, password_hash = '` + closedPasswordHash + `', only_contacts = false, closed_at = ?2 WHERE id = ?1`,
	`UPDATE purses SET closed = true WHERE owner = ?1`,
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
