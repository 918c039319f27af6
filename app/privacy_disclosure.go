package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
)

// errNoDisclosure is the one answer for a disclosure request that does not
// exist and for one the member may not act on.
var errNoDisclosure = coffer.Errorf(coffer.ENOTFOUND, "There is no such disclosure request.")

// RequestDisclosure asks subject to let requester see fields, for reason.
// Only a counterparty may ask; a subject who accepts only contacts refuses
// others with ENOTACONTACT. Each requester may ask DisclosuresPerDay times
// a day, and each subject receives at most DisclosuresPerSubjectDay a day.
// An unknown or closed subject is answered as a member who is no
// counterparty, and every request spends one of the requester's lookups
// (see lookup). Errors: EINVALID, EFORBIDDEN, ENOTACONTACT, ERATELIMITED.
func (s *Service) RequestDisclosure(ctx context.Context, requester, subject string, fields []string, reason string) (*coffer.DisclosureRequest, error) {
	fields, err := validFieldList(fields)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > MaxDisclosureReason || !utf8.ValidString(reason) {
		return nil, coffer.Errorf(coffer.EINVALID, "reason must be 1 to %d characters.", MaxDisclosureReason)
	}
	for _, r := range reason {
		if !unicode.IsPrint(r) && r != '\n' {
			return nil, coffer.Errorf(coffer.EINVALID, "reason must contain printable characters only.")
		}
	}
	if subject == requester {
		return nil, coffer.Errorf(coffer.EINVALID, "You see all of your own data.")
	}
	if err := s.lookup(requester); err != nil {
		return nil, err
	}
	// An unknown or closed member answers as one the requester has not
	// exchanged money with, so that requests cannot probe member IDs.
	notCounterparty := coffer.Errorf(coffer.EFORBIDDEN, "You may ask only a member you have exchanged money with.")
	st, err := s.liveMember(ctx, subject)
	if err == errNoMember {
		return nil, notCounterparty
	} else if err != nil {
		return nil, err
	}
	if ok, err := s.store.Counterparties(ctx, requester, subject); err != nil {
		return nil, err
	} else if !ok {
		return nil, notCounterparty
	}
	if st.OnlyContacts {
		if ok, err := s.store.IsContact(ctx, subject, requester); err != nil {
			return nil, err
		} else if !ok {
			return nil, errNotAContact
		}
	}
	now := s.now().Truncate(time.Millisecond)
	d := &coffer.DisclosureRequest{ID: newPaymentID(disclosurePrefix), Requester: requester, Subject: subject,
		Fields: fields, Reason: reason, State: coffer.DisclosurePending, CreatedAt: now}
	ev := coffer.NewAuditEvent(now, coffer.AuditDisclosureRequested, subject, map[string]any{
		"request_id": d.ID, "requester": requester, "fields": fields})
	err = s.store.CreateDisclosureRequest(ctx, d, DisclosuresPerDay, DisclosuresPerSubjectDay, ev)
	if errors.Is(err, coffer.ErrRequesterDisclosureLimit) || errors.Is(err, coffer.ErrSubjectDisclosureLimit) {
		return nil, &coffer.Error{Code: coffer.ERATELIMITED, Message: "Too many disclosure requests in the last 24 hours; try again later.",
			Err: &RateLimitError{RetryAfter: time.Hour}}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// validFieldList checks a list of profile fields and returns it without
// duplicates, in display order.
func validFieldList(fields []string) ([]string, error) {
	if len(fields) == 0 || len(fields) > 4*len(coffer.ProfileFields) {
		return nil, coffer.Errorf(coffer.EINVALID, "fields must name at least one profile field.")
	}
	for _, f := range fields {
		if !knownField(f) {
			return nil, coffer.Errorf(coffer.EINVALID, "Unknown profile field %q.", trimmed(f))
		}
	}
	out := make([]string, 0, len(fields))
	for _, f := range coffer.ProfileFields {
		if slices.Contains(fields, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// DisclosureRequests lists the requests the member made (role
// "requester") or received (role "subject", the default), newest first.
// Errors: EINVALID.
func (s *Service) DisclosureRequests(ctx context.Context, memberID, role string) ([]*coffer.DisclosureRequest, error) {
	switch role {
	case "", "subject":
		return s.store.DisclosureRequests(ctx, memberID, false)
	case "requester":
		return s.store.DisclosureRequests(ctx, memberID, true)
	}
	return nil, coffer.Errorf(coffer.EINVALID, "role must be subject or requester.")
}

// subjectRequest returns a disclosure request about memberID.
func (s *Service) subjectRequest(ctx context.Context, memberID, id string) (*coffer.DisclosureRequest, error) {
	if !validPaymentID(disclosurePrefix, id) {
		return nil, errNoDisclosure
	}
	d, err := s.store.DisclosureRequest(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && d.Subject != memberID) {
		return nil, errNoDisclosure
	}
	return d, err
}

// GrantDisclosure lets the requester see fields (a subset of those asked
// for; all when empty) until until (zero: until revoked). Only the subject
// decides. Errors: ENOTFOUND, EINVALID, ECONFLICT (no longer pending).
func (s *Service) GrantDisclosure(ctx context.Context, memberID, id string, fields []string, until time.Time) (*coffer.DisclosureRequest, error) {
	d, err := s.subjectRequest(ctx, memberID, id)
	if err != nil {
		return nil, err
	}
	granted := d.Fields
	if len(fields) > 0 {
		if granted, err = validFieldList(fields); err != nil {
			return nil, err
		}
		for _, f := range granted {
			if !slices.Contains(d.Fields, f) {
				return nil, coffer.Errorf(coffer.EINVALID, "%s was not asked for; grant a subset of %s.", f, strings.Join(d.Fields, ", "))
			}
		}
	}
	now := s.now().Truncate(time.Millisecond)
	if !until.IsZero() {
		if !until.After(now) {
			return nil, coffer.Errorf(coffer.EINVALID, "until must lie in the future.")
		}
		if until.Sub(now) > MaxDisclosureGrant {
			return nil, coffer.Errorf(coffer.EINVALID, "A grant may last at most five years.")
		}
		until = until.UTC().Truncate(time.Millisecond)
	}
	return s.decideDisclosure(ctx, d, coffer.DisclosurePending, coffer.DisclosureGranted, granted, until, now)
}

// RefuseDisclosure refuses a pending request. Errors: ENOTFOUND,
// ECONFLICT.
func (s *Service) RefuseDisclosure(ctx context.Context, memberID, id string) (*coffer.DisclosureRequest, error) {
	d, err := s.subjectRequest(ctx, memberID, id)
	if err != nil {
		return nil, err
	}
	return s.decideDisclosure(ctx, d, coffer.DisclosurePending, coffer.DisclosureRefused, nil, time.Time{}, s.now().Truncate(time.Millisecond))
}

// RevokeDisclosure ends a grant at once. Errors: ENOTFOUND, ECONFLICT.
func (s *Service) RevokeDisclosure(ctx context.Context, memberID, id string) (*coffer.DisclosureRequest, error) {
	d, err := s.subjectRequest(ctx, memberID, id)
	if err != nil {
		return nil, err
	}
	return s.decideDisclosure(ctx, d, coffer.DisclosureGranted, coffer.DisclosureRevoked, d.Granted, d.Until, s.now().Truncate(time.Millisecond))
}

func (s *Service) decideDisclosure(ctx context.Context, d *coffer.DisclosureRequest, from, to string, granted []string, until, now time.Time) (*coffer.DisclosureRequest, error) {
	if d.State != from {
		return nil, coffer.Errorf(coffer.ECONFLICT, "The request is %s; it cannot be %s.", d.State, to)
	}
	nd := *d
	nd.State, nd.Granted, nd.Until, nd.DecidedAt = to, granted, until, now
	detail := map[string]any{"request_id": d.ID, "requester": d.Requester, "state": to}
	if to == coffer.DisclosureGranted {
		detail["fields"] = granted
		if !until.IsZero() {
			detail["until"] = until.Format(time.RFC3339)
		}
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditDisclosureDecided, d.Subject, detail)
	ok, err := s.store.DecideDisclosure(ctx, &nd, from, ev)
	if err != nil {
		return nil, err
	}
	if !ok {
		cur, err := s.store.DisclosureRequest(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		return nil, coffer.Errorf(coffer.ECONFLICT, "The request is %s; it cannot be %s.", cur.State, to)
	}
	return &nd, nil
}
