package app

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// Levels returns the level table, nil when there are no level rules.
func (s *Service) Levels() *coffer.Levels { return s.cfg.Levels }

// MemberLevel returns the member's level as configured (nil when there are
// no level rules) and their status, read fresh from the store so that a
// lowered level holds at once. Errors: ENOTFOUND.
func (s *Service) MemberLevel(ctx context.Context, memberID string) (*coffer.Level, *coffer.MemberStatus, error) {
	st, err := s.store.MemberStatus(ctx, memberID)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.Levels == nil {
		return nil, st, nil
	}
	return s.cfg.Levels.Resolve(st.Level), st, nil
}

// requireMerchant refuses with ELEVELTOOLOW when the member's level does
// not allow acting as a merchant; what names the action in the message.
func (s *Service) requireMerchant(ctx context.Context, memberID, what string) error {
	l, ok, err := s.isMerchant(ctx, memberID)
	if err != nil || ok {
		return err
	}
	return coffer.Errorf(coffer.ELEVELTOOLOW, "Your verification level (%s) does not allow %s; have your identity verified to a merchant level.", l.Name, what)
}

// isMerchant reports whether the member's level allows acting as a
// merchant (always, without level rules).
func (s *Service) isMerchant(ctx context.Context, memberID string) (*coffer.Level, bool, error) {
	if s.cfg.Levels == nil {
		return nil, true, nil
	}
	l, _, err := s.MemberLevel(ctx, memberID)
	if err != nil {
		return nil, false, err
	}
	return l, l.Merchant, nil
}

// applyLevel refuses a trust debit by a merchant whose level no longer
// allows it. The daily limit of the owner's level is not set here: the
// ledger applies it in its batch, from the level it reads there (see
// ledger.Config.Levels), so a lowered level holds for
// the next transfer without a read per request. Errors: ELEVELTOOLOW.
func (s *Service) applyLevel(ctx context.Context, req *coffer.TransferRequest) error {
	if s.cfg.Levels == nil || req.TrustID == "" {
		return nil
	}
	return s.requireMerchant(ctx, req.Sender, "debits under a trust")
}

// ApplyLevel is applyLevel for a request built elsewhere (a confirmed
// transfer read back from its confirmation).
func (s *Service) ApplyLevel(ctx context.Context, req *coffer.TransferRequest) error {
	return s.applyLevel(ctx, req)
}

// CanIssue reports whether a member's level allows being an issuer.
// Without level rules everyone may. Errors: ENOTFOUND.
func CanIssue(ctx context.Context, store coffer.IdentityStore, levels *coffer.Levels, memberID string) (*coffer.Level, bool, error) {
	if levels == nil {
		return nil, true, nil
	}
	st, err := store.MemberStatus(ctx, memberID)
	if err != nil {
		return nil, false, err
	}
	l := levels.Resolve(st.Level)
	return l, l.Issuer, nil
}

// SetLevelInput is a change of a member's level by a registrar or the
// operator.
type SetLevelInput struct {
	MemberID string
	Level    string // a configured level name
	Reason   string
	By       string // registrar member ID; "" for the operator
	Request  string // the verification request this decides, if any
}

// ValidateLevel checks that name is a configured level and returns its
// canonical name. Errors: EINVALID.
func ValidateLevel(levels *coffer.Levels, name string) (string, error) {
	if levels == nil {
		levels = coffer.DefaultLevels()
	}
	if l := levels.Named(strings.TrimSpace(name)); l != nil {
		return l.Name, nil
	}
	var names []string
	for _, l := range levels.List() {
		names = append(names, l.Name)
	}
	return "", coffer.Errorf(coffer.EINVALID, "level must be one of %s.", strings.Join(names, ", "))
}

// SetMemberLevel sets a member's level at once (raise or lower), with an
// AuditLevelChanged event on the member naming who did it and why. It is
// what `cofferd admin member level` does; registrars go through
// RegistrarSetLevel, which checks who they may act on.
// Errors: EINVALID, ENOTFOUND.
func SetMemberLevel(ctx context.Context, store coffer.IdentityStore, levels *coffer.Levels, in SetLevelInput, now time.Time) (from string, err error) {
	name, err := ValidateLevel(levels, in.Level)
	if err != nil {
		return "", err
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || len(reason) > 500 {
		return "", coffer.Errorf(coffer.EINVALID, "reason is required (at most 500 characters).")
	}
	st, err := store.MemberStatus(ctx, in.MemberID)
	if err != nil {
		return "", err
	}
	by := in.By
	if by == "" {
		by = "operator"
	}
	ev := coffer.NewAuditEvent(now, coffer.AuditLevelChanged, in.MemberID, map[string]any{"from": st.Level, "to": name,
		"by": by, "reason": reason})
	if err := store.SetLevel(ctx, in.MemberID, name, now, ev); err != nil {
		return "", err
	}
	return st.Level, nil
}
