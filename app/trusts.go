package app

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
)

// ActionGrantTrust is the step-up action of granting a trust.
const ActionGrantTrust = "grant_trust"

var errNoTrust = coffer.Errorf(coffer.ENOTFOUND, "There is no such trust.")

// TrustInput is a trust as its owner grants it. Empty limits mean none of
// that kind.
type TrustInput struct {
	Merchant                      string // member ID
	Purse                         string // the owner's purse the merchant may debit
	PerTransfer, PerDay, PerMonth string
	IP                            string // for the audit event
	Proof                         string // step-up proof (Coffer-Confirmation)
}

// GrantTrust lets a merchant debit one of the member's purses within the
// limits. It is a sensitive action: once the member has a second factor it
// needs a step-up confirmation, like adding a key.
// Errors: EINVALID, EINVALIDAMOUNT, EPURSENOTFOUND, ELEVELTOOLOW (no such
// merchant, or one whose level does not allow trusts), ERATELIMITED,
// ECONFIRMATIONREQUIRED, ECONFIRMATIONFAILED, ECONFIRMATIONVOID.
func (s *Service) GrantTrust(ctx context.Context, owner string, in TrustInput) (*coffer.Trust, error) {
	if !coffer.ValidMemberID(in.Merchant) {
		return nil, coffer.Errorf(coffer.EINVALID, "merchant must be a 12-digit member ID.")
	}
	if in.Merchant == owner {
		return nil, coffer.Errorf(coffer.EINVALID, "You cannot trust yourself.")
	}
	p, err := s.Purse(ctx, owner, in.Purse)
	if err != nil {
		return nil, err
	}
	cur, err := s.Currency(ctx, p.Currency)
	if err != nil {
		return nil, err
	}
	t := &coffer.Trust{Owner: owner, Merchant: in.Merchant, Purse: p.Number}
	for _, l := range []struct {
		name, text string
		dst        *int64
	}{{"per_transfer", in.PerTransfer, &t.PerTransfer}, {"per_day", in.PerDay, &t.PerDay}, {"per_month", in.PerMonth, &t.PerMonth}} {
		if l.text == "" {
			continue
		}
		v, err := coffer.ParseAmount(l.text, cur.Decimals)
		if err != nil {
			return nil, &coffer.Error{Code: coffer.EINVALIDAMOUNT, Message: l.name + ": " + coffer.ErrorMessage(err)}
		}
		*l.dst = v
	}
	if err := s.lookup(owner); err != nil {
		return nil, err
	}
	// An unknown or closed member answers as one whose level does not
	// allow trusts, so that granting cannot probe member IDs.
	noMerchant := coffer.Errorf(coffer.ELEVELTOOLOW, "Member %s cannot hold trusts: there is no such member, or their verification level does not allow acting as a merchant.", in.Merchant)
	if _, err := s.liveMember(ctx, in.Merchant); err == errNoMember {
		return nil, noMerchant
	} else if err != nil {
		return nil, err
	}
	if _, ok, err := s.isMerchant(ctx, in.Merchant); err != nil {
		return nil, err
	} else if !ok {
		return nil, noMerchant
	}
	if err := s.RequireConfirmation(ctx, owner, Change{Action: ActionGrantTrust, Summary: fmt.Sprintf("let member %s take money from purse %s", t.Merchant, t.Purse), Values: t}, in.Proof); err != nil {
		return nil, err
	}
	t.CreatedAt = s.now().Truncate(time.Millisecond)
	for attempt := 0; ; attempt++ {
		t.ID = newPaymentID(trustPrefix)
		ev := coffer.NewAuditEvent(t.CreatedAt, coffer.AuditTrustCreated, owner, map[string]any{"trust_id": t.ID,
			"merchant": t.Merchant, "purse": t.Purse, "per_transfer": t.PerTransfer, "per_day": t.PerDay, "per_month": t.PerMonth, "ip": in.IP})
		err := s.store.CreateTrust(ctx, t, ev)
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

// Trusts returns the trusts the member gave (as owner) and holds (as
// merchant), newest first.
func (s *Service) Trusts(ctx context.Context, memberID string) (given, held []*coffer.Trust, err error) {
	list, err := s.store.Trusts(ctx, memberID)
	if err != nil {
		return nil, nil, err
	}
	given, held = []*coffer.Trust{}, []*coffer.Trust{}
	for _, t := range list {
		if t.Owner == memberID {
			given = append(given, t)
		}
		if t.Merchant == memberID {
			held = append(held, t)
		}
	}
	return given, held, nil
}

// TrustSpend returns what a trust has been used for today and this month
// (UTC), for its owner or merchant. Errors: ENOTFOUND.
func (s *Service) TrustSpend(ctx context.Context, memberID string, t *coffer.Trust) (day, month int64, err error) {
	if t.Owner != memberID && t.Merchant != memberID {
		return 0, 0, errNoTrust
	}
	return s.store.TrustSpend(ctx, t, s.now())
}

// RevokeTrust ends a trust at once; its owner or its merchant may do it.
// Revoking a revoked trust changes nothing. Errors: ENOTFOUND.
func (s *Service) RevokeTrust(ctx context.Context, memberID, id, ip string) error {
	if !validPaymentID(trustPrefix, id) {
		return errNoTrust
	}
	t, err := s.store.Trust(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && t.Owner != memberID && t.Merchant != memberID) {
		return errNoTrust
	}
	if err != nil {
		return err
	}
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditTrustRevoked, memberID, map[string]any{"trust_id": t.ID,
		"owner": t.Owner, "merchant": t.Merchant, "purse": t.Purse, "ip": ip})
	_, err = s.store.RevokeTrust(ctx, id, now, ev)
	return err
}
