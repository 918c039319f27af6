package app

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-money/coffer"
)

// AccountExport is everything stored about a member, for the member: the
// HTTP layer renders it without secrets (password hash, token hashes,
// factor secrets, sealed documents).
type AccountExport struct {
	GeneratedAt  time.Time
	Member       *coffer.Member
	Status       *coffer.MemberStatus
	Profile      *coffer.Profile
	LinkedIDs    []string
	Purses       []*coffer.Purse
	History      map[string][]*coffer.HistoryEntry // by purse number, newest first
	Limits       map[string]*coffer.PurseLimits    // by purse number, purses with limits only
	Transfers    []*coffer.Transfer                // sent or received, in history order
	Held         []*coffer.Transfer
	Invoices     []*coffer.Invoice // as payer and as merchant
	Trusts       []*coffer.Trust
	Keys         []*coffer.SigningKey
	Certificates []*coffer.Certificate
	Factors      []*coffer.Factor
	Recovery     []*coffer.RecoveryCode
	Policy       *coffer.ConfirmationPolicy
	Sessions     []*coffer.Session
	Settings     *coffer.MemberSettings
	Contacts     []*coffer.Contact
	Disclosures  []*coffer.DisclosureRequest // both ways
	Verification []*coffer.VerificationRequest
	Events       []*coffer.AuditEvent
}

// exportPage is the page size used while collecting an export.
const exportPage = 500

// ExportAccount collects everything stored about the member and records
// that it was exported.
func (s *Service) ExportAccount(ctx context.Context, memberID string) (*AccountExport, error) {
	x := &AccountExport{GeneratedAt: s.now(), History: map[string][]*coffer.HistoryEntry{}, Limits: map[string]*coffer.PurseLimits{}}
	var err error
	if x.Member, err = s.store.MemberByLogin(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Status, err = s.store.MemberStatus(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Profile, err = s.store.Profile(ctx, memberID); err != nil {
		return nil, err
	}
	if x.LinkedIDs, err = s.store.LinkedMembers(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Purses, err = s.store.Purses(ctx, memberID); err != nil {
		return nil, err
	}
	type tkey struct{ from, id string }
	seen := map[tkey]bool{}
	for _, p := range x.Purses {
		var all []*coffer.HistoryEntry
		f := coffer.HistoryFilter{Limit: exportPage}
		for {
			page, err := s.store.History(ctx, p.Number, f)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if len(page) < exportPage {
				break
			}
			f.Before = page[len(page)-1].Seq
		}
		x.History[p.Number] = all
		for _, e := range all {
			from := e.Counterparty
			if e.Amount < 0 {
				from = e.Purse
			}
			k := tkey{from, e.TransferID}
			if e.TransferID == "" || seen[k] {
				continue
			}
			seen[k] = true
			t, err := s.store.Transfer(ctx, memberID, e.TransferID, from)
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				continue // a fee entry names the fee purse, not a sender
			} else if err != nil {
				return nil, err
			}
			x.Transfers = append(x.Transfers, t)
		}
		l, err := s.store.PurseLimits(ctx, p.Number)
		if err != nil {
			return nil, err
		}
		if !l.Empty() {
			x.Limits[p.Number] = l
		}
	}
	if x.Held, err = s.store.HeldTransfers(ctx, memberID); err != nil {
		return nil, err
	}
	for _, f := range []coffer.InvoiceFilter{{Payer: memberID}, {Merchant: memberID}} {
		f.Limit = exportPage
		for {
			page, err := s.store.Invoices(ctx, f)
			if err != nil {
				return nil, err
			}
			x.Invoices = append(x.Invoices, page...)
			if len(page) < exportPage {
				break
			}
			f.Before = page[len(page)-1].CreatedAt
		}
	}
	if x.Trusts, err = s.store.Trusts(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Keys, err = s.store.Keys(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Certificates, err = s.store.Certificates(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Factors, err = s.store.Factors(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Recovery, err = s.store.RecoveryCodes(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Policy, err = s.store.Policy(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Sessions, err = s.store.Sessions(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Settings, err = s.store.Settings(ctx, memberID); err != nil {
		return nil, err
	}
	if x.Contacts, err = s.store.Contacts(ctx, memberID); err != nil {
		return nil, err
	}
	for _, asRequester := range []bool{false, true} {
		list, err := s.store.DisclosureRequests(ctx, memberID, asRequester)
		if err != nil {
			return nil, err
		}
		x.Disclosures = append(x.Disclosures, list...)
	}
	if x.Verification, err = s.store.VerificationRequests(ctx, "", memberID, 1000); err != nil {
		return nil, err
	}
	var before int64
	for {
		page, err := s.store.AuditEvents(ctx, memberID, before, exportPage)
		if err != nil {
			return nil, err
		}
		x.Events = append(x.Events, page...)
		if len(page) < exportPage {
			break
		}
		before = page[len(page)-1].Seq
	}
	s.audit(ctx, coffer.AuditAccountExported, memberID, nil)
	return x, nil
}

// CloseAccount closes the member's account for good: what identifies the
// member is erased, sessions end, keys and certificates are revoked, and
// the member ID answers as unknown from then on; the ledger stays. Only a
// password session may do it, with a step-up confirmation when the member
// has a second factor, and only when every purse is empty and no
// protected transfer of the member is held.
// Errors: EFORBIDDEN, ECONFIRMATIONREQUIRED (and the other errors of
// RequireConfirmation), EINVALID.
func (s *Service) CloseAccount(ctx context.Context, a Actor) error {
	if a.Method != "session" {
		return coffer.Errorf(coffer.EFORBIDDEN, "Closing an account needs a password session; log in with your password.")
	}
	if err := s.closable(ctx, a.MemberID); err != nil {
		return err
	}
	if err := s.RequireConfirmation(ctx, a.MemberID, Change{Action: accountCloseAction, Summary: "close your account"}, a.Proof); err != nil {
		return err
	}
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditAccountClosed, a.MemberID, map[string]any{"ip": a.IP})
	// The store checks again under the ledger's lock: money may have
	// moved since closable.
	if err := s.store.CloseMember(ctx, a.MemberID, now, ev); err != nil {
		switch {
		case errors.Is(err, coffer.ErrPursesNotEmpty):
			return coffer.Errorf(coffer.EINVALID, "Your purses must be empty before you close the account: send or withdraw what is left first.")
		case errors.Is(err, coffer.ErrSentTransferHeld):
			return errSentTransferHeld
		case errors.Is(err, coffer.ErrAccountClosed):
			return coffer.Errorf(coffer.ECLOSED, "The account is already closed.")
		}
		return err
	}
	s.sessMu.Lock()
	for k, c := range s.sessions {
		if c.s.MemberID == a.MemberID {
			delete(s.sessions, k)
		}
	}
	s.sessMu.Unlock()
	return nil
}

// closable refuses to close an account that still has money.
func (s *Service) closable(ctx context.Context, memberID string) error {
	purses, err := s.store.Purses(ctx, memberID)
	if err != nil {
		return err
	}
	for _, p := range purses {
		if p.Balance != 0 || p.Held != 0 {
			return coffer.Errorf(coffer.EINVALID, "Purse %s still holds money; empty every purse before closing the account.", p.Number)
		}
	}
	held, err := s.store.HeldTransfers(ctx, memberID)
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return errSentTransferHeld
	}
	return nil
}

var errSentTransferHeld = coffer.Errorf(coffer.EINVALID, "A protected transfer of yours is still held; wait until it is released or returned.")
