package app

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
)

var errNotAContact = coffer.Errorf(coffer.ENOTACONTACT, "This member accepts this only from their contacts.")

// Contacts lists the member's contacts.
func (s *Service) Contacts(ctx context.Context, memberID string) ([]*coffer.Contact, error) {
	return s.store.Contacts(ctx, memberID)
}

// AddContact adds (or renotes) a member to the member's contacts. It
// spends one of the member's lookups (see lookup), since its answer tells
// whether the contact exists. Errors: EINVALID, ENOTFOUND, ERATELIMITED.
func (s *Service) AddContact(ctx context.Context, memberID, contactID, note string) (*coffer.Contact, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxContactNote || !utf8.ValidString(note) {
		return nil, coffer.Errorf(coffer.EINVALID, "note may be at most %d characters.", maxContactNote)
	}
	for _, r := range note {
		if !unicode.IsPrint(r) {
			return nil, coffer.Errorf(coffer.EINVALID, "note must contain printable characters only.")
		}
	}
	if contactID == memberID {
		return nil, coffer.Errorf(coffer.EINVALID, "You cannot add yourself as a contact.")
	}
	if err := s.lookup(memberID); err != nil {
		return nil, err
	}
	if _, err := s.liveMember(ctx, contactID); err != nil {
		return nil, err
	}
	c := &coffer.Contact{MemberID: memberID, ContactID: contactID, Note: note, CreatedAt: s.now().Truncate(time.Millisecond)}
	if err := s.store.AddContact(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// RemoveContact removes a contact. Errors: ENOTFOUND.
func (s *Service) RemoveContact(ctx context.Context, memberID, contactID string) error {
	if !coffer.ValidMemberID(contactID) {
		return coffer.Errorf(coffer.ENOTFOUND, "You have no such contact.")
	}
	ok, err := s.store.RemoveContact(ctx, memberID, contactID)
	if err != nil {
		return err
	}
	if !ok {
		return coffer.Errorf(coffer.ENOTFOUND, "You have no such contact.")
	}
	return nil
}

// SetOnlyContacts turns the restriction to contacts on or off.
func (s *Service) SetOnlyContacts(ctx context.Context, memberID string, on bool) error {
	ev := coffer.NewAuditEvent(s.now(), coffer.AuditContactsRestricted, memberID, map[string]any{"only_contacts": on})
	err := s.store.SetOnlyContacts(ctx, memberID, on, ev)
	c := s.contacts()
	c.mu.Lock()
	delete(c.only, memberID)
	c.mu.Unlock()
	return err
}

// MemberStatus returns the member's own status (level, restriction).
func (s *Service) MemberStatus(ctx context.Context, memberID string) (*coffer.MemberStatus, error) {
	return s.store.MemberStatus(ctx, memberID)
}

// checkContact refuses a transfer the payee does not accept: any transfer
// into a closed account (ECLOSED), and, when the payee accepts money only
// from contacts, a plain, protected or batch transfer from a member not
// among them (ENOTACONTACT). Refunds, invoice payments and trust debits
// are exempt from the restriction: the payee started them. A retry of a
// transfer already applied passes, so that it answers as before.
func (s *Service) checkContact(ctx context.Context, req *coffer.TransferRequest) error {
	// The member started these; a closed account is refused by the ledger
	// itself (its purses are closed), for every kind of transfer.
	if req.InvoiceID != "" || req.TrustID != "" || req.RefundOf != 0 {
		return nil
	}
	owner, err := s.purseOwner(ctx, req.To)
	if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND {
		return nil // the engine answers for it
	} else if err != nil {
		return err
	}
	if owner == req.Sender {
		return nil
	}
	only, err := s.onlyContacts(ctx, owner)
	if err != nil || !only {
		return err
	}
	ok, err := s.store.IsContact(ctx, owner, req.Sender)
	if err != nil || ok {
		return err
	}
	// A retry of a transfer applied before the restriction keeps its answer.
	t, err := s.store.Transfer(ctx, req.Sender, req.TransferID, req.From)
	if err == nil && t.Sender == req.Sender {
		return nil
	} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return err
	}
	return coffer.Errorf(coffer.ENOTACONTACT, "The owner of purse %s accepts transfers only from their contacts.", req.To)
}

// contactCache keeps what every transfer would otherwise read again: purse
// owners (they never change) and, for onlyContactsTTL, whether a member
// accepts transfers only from contacts (a change through this process
// holds at once, one through another process within the TTL).
type contactCache struct {
	mu     sync.Mutex
	owners map[string]string
	only   map[string]onlyEntry
}

type onlyEntry struct {
	on bool
	at time.Time
}

const onlyContactsTTL = 2 * time.Second

func (s *Service) contacts() *contactCache { return &s.cont }

func (s *Service) purseOwner(ctx context.Context, purse string) (string, error) {
	c := s.contacts()
	c.mu.Lock()
	owner, ok := c.owners[purse]
	c.mu.Unlock()
	if ok {
		return owner, nil
	}
	p, err := s.store.Purse(ctx, purse)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.owners) >= 100_000 {
		clear(c.owners)
	}
	c.owners[purse] = p.Owner
	c.mu.Unlock()
	return p.Owner, nil
}

func (s *Service) onlyContacts(ctx context.Context, member string) (bool, error) {
	c := s.contacts()
	now := time.Now()
	c.mu.Lock()
	e, ok := c.only[member]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < onlyContactsTTL {
		return e.on, nil
	}
	st, err := s.store.MemberStatus(ctx, member)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if len(c.only) >= 100_000 {
		clear(c.only)
	}
	c.only[member] = onlyEntry{st.OnlyContacts, now}
	c.mu.Unlock()
	return st.OnlyContacts, nil
}

// checkInvoiceContact refuses an invoice to a payer who does not exist, has
// closed their account, or accepts invoices only from contacts when the
// merchant is not one, all with one answer: a member who keeps to their
// contacts cannot be told from one who does not exist. Each refusal spends
// one of the merchant's lookups (see lookupRefused).
// Errors: ENOTACONTACT, ERATELIMITED.
func (s *Service) checkInvoiceContact(ctx context.Context, merchant, payer string) error {
	refused, err := s.lookupRefused(merchant)
	if err != nil {
		return err
	}
	st, err := s.store.MemberStatus(ctx, payer)
	ok := err == nil && st.ClosedAt.IsZero()
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		err = nil
	} else if err != nil {
		return err
	}
	if ok && st.OnlyContacts {
		if ok, err = s.store.IsContact(ctx, payer, merchant); err != nil {
			return err
		}
	}
	if !ok {
		refused()
		return coffer.Errorf(coffer.ENOTACONTACT, "Member %s cannot be invoiced by you: there is no such member, or they accept invoices only from their contacts.", payer)
	}
	return nil
}
