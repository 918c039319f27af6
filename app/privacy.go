package app

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-money/coffer"
)

// Bounds of the confidentiality endpoints, against enumeration and
// harassment.
const (
	MemberViewsPerMinute     = 60 // GET /v1/members/{id} per viewer
	DataChecksPerHour        = 30 // third-party data checks per checker
	DisclosuresPerDay        = 10 // disclosure requests per requester
	DisclosuresPerSubjectDay = 20 // disclosure requests to one subject from anyone
	MaxDisclosureReason      = 500
	MaxDisclosureGrant       = 5 * 365 * 24 * time.Hour
	maxProfileValue          = 200
	maxNameLength            = 100
	maxContactNote           = 200
	disclosurePrefix         = "disc_"
	accountCloseAction       = "account.close"
	maxCheckFields           = 10
)

// privacyState is the in-memory rate limiting of the confidentiality
// endpoints. It belongs to one Service.
type privacyState struct {
	views  slidingLimit
	checks slidingLimit
}

func (s *Service) privacy() *privacyState { return &s.priv }

// errNoMember is the one answer for a member ID that does not exist, was
// closed, or may not be looked at, so member IDs cannot be probed.
var errNoMember = coffer.Errorf(coffer.ENOTFOUND, "There is no such member.")

// editableFields are the profile fields a member sets through PUT
// /v1/profile: e-mail and phone are the login ones, linked member IDs are
// set by a registrar.
var editableFields = []string{coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldPostalAddress, coffer.FieldCity,
	coffer.FieldCountry, coffer.FieldDateOfBirth, coffer.FieldDocument}

func knownField(f string) bool { return slices.Contains(coffer.ProfileFields, f) }

// lookup spends one of viewer's MemberViewsPerMinute lookups of other
// members. Every answer that can tell whether a member ID (or a purse)
// exists shares this one budget: profiles, contacts, trusts, disclosure
// requests, invoices and purse owners. Errors: ERATELIMITED.
func (s *Service) lookup(viewer string) error {
	if ok, wait := s.privacy().views.allow(viewer, MemberViewsPerMinute, time.Minute, s.now()); !ok {
		return errLookups(wait)
	}
	return nil
}

// lookupRefused is lookup for an action whose successes are bounded by a
// budget of their own (invoices): only refusals spend a lookup, but a
// viewer who has none left is refused before the answer is looked at, so
// that a success and a refusal stay alike at every point of the budget.
// It returns a func that records one refusal.
func (s *Service) lookupRefused(viewer string) (func(), error) {
	p := s.privacy()
	if wait := p.views.wait(viewer, MemberViewsPerMinute, time.Minute, s.now()); wait > 0 {
		return nil, errLookups(wait)
	}
	return func() { p.views.allow(viewer, MemberViewsPerMinute, time.Minute, s.now()) }, nil
}

func errLookups(wait time.Duration) error {
	return &coffer.Error{Code: coffer.ERATELIMITED, Message: "You have looked up too many members; wait a minute.", Err: &RateLimitError{RetryAfter: wait}}
}

// wait reports how long key must wait before allow would let it pass (0:
// it would pass now), without spending anything.
func (l *slidingLimit) wait(key string, n int, window time.Duration, now time.Time) time.Duration {
	if n <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.m[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-window)) {
		i++
	}
	if ts = ts[i:]; len(ts) < n {
		return 0
	}
	return max(ts[0].Add(window).Sub(now), time.Nanosecond)
}

// liveMember returns the status of a member that exists and is not
// closed; errNoMember otherwise.
func (s *Service) liveMember(ctx context.Context, memberID string) (*coffer.MemberStatus, error) {
	if !coffer.ValidMemberID(memberID) {
		return nil, errNoMember
	}
	st, err := s.store.MemberStatus(ctx, memberID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && !st.ClosedAt.IsZero()) {
		return nil, errNoMember
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// OwnProfile is what a member sees of their own data: the entered values
// (with the login e-mail and phone) and each field's visibility.
type OwnProfile struct {
	Values     map[string]string
	Visibility map[string]string // every field, VisibleNobody included
	LinkedIDs  []string
	UpdatedAt  time.Time
}

// Profile returns the member's own profile.
func (s *Service) Profile(ctx context.Context, memberID string) (*OwnProfile, error) {
	p, err := s.store.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	m, err := s.store.MemberByLogin(ctx, memberID)
	if err != nil {
		return nil, err
	}
	linked, err := s.store.LinkedMembers(ctx, memberID)
	if err != nil {
		return nil, err
	}
	out := &OwnProfile{Values: map[string]string{}, Visibility: map[string]string{}, LinkedIDs: linked, UpdatedAt: p.UpdatedAt}
	for k, v := range p.Values {
		out.Values[k] = v
	}
	if m.Email != "" {
		out.Values[coffer.FieldEmail] = m.Email
	}
	if m.Phone != "" {
		out.Values[coffer.FieldPhone] = m.Phone
	}
	for _, f := range coffer.ProfileFields {
		out.Visibility[f] = visibilityOf(p, f)
	}
	return out, nil
}

func visibilityOf(p *coffer.Profile, field string) string {
	if v := p.Visibility[field]; v != "" {
		return v
	}
	return coffer.VisibleNobody
}

// SetProfile sets the given fields of the member's profile ("" deletes a
// value). Nothing is stored unless every value is valid. A pseudonymous
// member who has entered first and last name and date of birth becomes
// formal. Errors: EINVALID.
func (s *Service) SetProfile(ctx context.Context, memberID string, values map[string]string) (*OwnProfile, error) {
	if len(values) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "values must name at least one field.")
	}
	clean := make(map[string]string, len(values))
	for f, v := range values {
		nv, err := validateProfileValue(f, v, s.now())
		if err != nil {
			return nil, err
		}
		clean[f] = nv
	}
	now := s.now().Truncate(time.Millisecond)
	names := make([]string, 0, len(clean))
	for f := range clean {
		names = append(names, f)
	}
	slices.Sort(names)
	ev := coffer.NewAuditEvent(now, coffer.AuditProfileChanged, memberID, map[string]any{"fields": names})
	if err := s.store.SetProfileValues(ctx, memberID, clean, now, ev); err != nil {
		return nil, err
	}
	if _, err := s.RaiseToFormal(ctx, memberID); err != nil { // see verification.go
		s.log.Error("raise level to formal", "member", memberID, "err", err)
	}
	return s.Profile(ctx, memberID)
}

// validateProfileValue checks one value and returns it as stored.
func validateProfileValue(field, v string, now time.Time) (string, error) {
	if !knownField(field) {
		return "", coffer.Errorf(coffer.EINVALID, "Unknown profile field %q.", trimmed(field))
	}
	if !slices.Contains(editableFields, field) {
		switch field {
		case coffer.FieldEmail, coffer.FieldPhone:
			return "", coffer.Errorf(coffer.EINVALID, "%s is your login %s; it is not changed here.", field, strings.ReplaceAll(field, "_", " "))
		}
		return "", coffer.Errorf(coffer.EINVALID, "%s is set by a registrar.", field)
	}
	if !utf8.ValidString(v) {
		return "", coffer.Errorf(coffer.EINVALID, "%s must be valid text.", field)
	}
	v = strings.Join(strings.Fields(v), " ")
	if v == "" {
		return "", nil
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return "", coffer.Errorf(coffer.EINVALID, "%s must contain printable characters only.", field)
		}
	}
	n := utf8.RuneCountInString(v)
	switch field {
	case coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldCity:
		if n > maxNameLength {
			return "", coffer.Errorf(coffer.EINVALID, "%s may be at most %d characters.", field, maxNameLength)
		}
	case coffer.FieldCountry:
		c := strings.ToUpper(v)
		if len(c) != 2 || !strings.Contains(iso3166, " "+c+" ") {
			return "", coffer.Errorf(coffer.EINVALID, "country must be an ISO 3166 two-letter code such as DE or US.")
		}
		return c, nil
	case coffer.FieldDateOfBirth:
		d, err := time.Parse(time.DateOnly, v)
		if err != nil || d.Format(time.DateOnly) != v {
			return "", coffer.Errorf(coffer.EINVALID, "date_of_birth must be a date YYYY-MM-DD.")
		}
		if !d.Before(now) || d.Year() < 1900 {
			return "", coffer.Errorf(coffer.EINVALID, "date_of_birth must lie in the past (after 1900).")
		}
	default:
		if n > maxProfileValue {
			return "", coffer.Errorf(coffer.EINVALID, "%s may be at most %d characters.", field, maxProfileValue)
		}
	}
	return v, nil
}

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes.
const iso3166 = " AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ" +
	" CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR" +
	" GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP" +
	" KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT" +
	" MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW" +
	" SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG" +
	" UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "

// SetVisibility sets who may see the given fields. Errors: EINVALID.
func (s *Service) SetVisibility(ctx context.Context, memberID string, vis map[string]string) (*OwnProfile, error) {
	if len(vis) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "Name at least one field.")
	}
	names := make([]string, 0, len(vis))
	for f, v := range vis {
		if !knownField(f) {
			return nil, coffer.Errorf(coffer.EINVALID, "Unknown profile field %q.", trimmed(f))
		}
		switch v {
		case coffer.VisibleEveryone, coffer.VisibleCounterparties, coffer.VisibleOnRequest, coffer.VisibleNobody:
		default:
			return nil, coffer.Errorf(coffer.EINVALID, "The visibility of %s must be everyone, counterparties, on_request or nobody.", f)
		}
		names = append(names, f)
	}
	slices.Sort(names)
	now := s.now().Truncate(time.Millisecond)
	ev := coffer.NewAuditEvent(now, coffer.AuditVisibilityChanged, memberID, map[string]any{"visibility": vis})
	if err := s.store.SetVisibility(ctx, memberID, vis, now, ev); err != nil {
		return nil, err
	}
	return s.Profile(ctx, memberID)
}

// MemberView is what one member may see of another.
type MemberView struct {
	MemberID   string
	Level      string
	Registered time.Time
	Fields     map[string]string // only fields the viewer may see and that are set
	LinkedIDs  []string          // when linked_member_ids is visible to the viewer
}

// ViewMember returns what viewer may see of memberID: everything of
// themselves; of others, each field whose visibility lets the viewer see
// it (everyone; counterparties, to members with a transfer between them;
// on_request and nobody, only through an active grant naming the field).
// Errors: ENOTFOUND (unknown, closed or malformed ID, all alike),
// ERATELIMITED.
func (s *Service) ViewMember(ctx context.Context, viewer, memberID string) (*MemberView, error) {
	now := s.now()
	if viewer != memberID {
		if err := s.lookup(viewer); err != nil {
			return nil, err
		}
	}
	st, err := s.liveMember(ctx, memberID)
	if err != nil {
		return nil, err
	}
	p, err := s.store.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	m, err := s.store.MemberByLogin(ctx, memberID)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for k, v := range p.Values {
		values[k] = v
	}
	if m.Email != "" {
		values[coffer.FieldEmail] = m.Email
	}
	if m.Phone != "" {
		values[coffer.FieldPhone] = m.Phone
	}
	var linked []string
	if linked, err = s.store.LinkedMembers(ctx, memberID); err != nil {
		return nil, err
	}
	may, err := s.visibleTo(ctx, viewer, memberID, p, now)
	if err != nil {
		return nil, err
	}
	reg := st.CreatedAt
	if reg.IsZero() {
		reg = m.CreatedAt
	}
	v := &MemberView{MemberID: memberID, Level: st.Level, Registered: reg.UTC(), Fields: map[string]string{}}
	for f, val := range values {
		if val != "" && may[f] {
			v.Fields[f] = val
		}
	}
	if may[coffer.FieldLinkedIDs] && len(linked) > 0 {
		v.LinkedIDs = linked
	}
	return v, nil
}

// visibleTo returns the fields viewer may see of subject's profile p.
func (s *Service) visibleTo(ctx context.Context, viewer, subject string, p *coffer.Profile, now time.Time) (map[string]bool, error) {
	may := map[string]bool{}
	if viewer == subject {
		for _, f := range coffer.ProfileFields {
			may[f] = true
		}
		return may, nil
	}
	var counterparty *bool
	var granted map[string]bool
	for _, f := range coffer.ProfileFields {
		switch visibilityOf(p, f) {
		case coffer.VisibleEveryone:
			may[f] = true
			continue
		case coffer.VisibleCounterparties:
			if counterparty == nil {
				c, err := s.store.Counterparties(ctx, viewer, subject)
				if err != nil {
					return nil, err
				}
				counterparty = &c
			}
			if *counterparty {
				may[f] = true
				continue
			}
		}
		if granted == nil {
			grants, err := s.store.ActiveGrants(ctx, subject, viewer, now)
			if err != nil {
				return nil, err
			}
			granted = map[string]bool{}
			for _, g := range grants {
				if g.Active(now) && g.Requester == viewer && g.Subject == subject {
					for _, gf := range g.Granted {
						granted[gf] = true
					}
				}
			}
		}
		may[f] = granted[f]
	}
	return may, nil
}

// CheckResult is the outcome of a data check per field.
const (
	CheckMatch   = "match"
	CheckNoMatch = "no_match"
)

// CheckData compares values a checker holds with the subject's profile and
// answers match or no_match per field, never the values. Only members at a
// level that allows merchants and at least initial may check; each may
// check DataChecksPerHour times an hour. The subject's security log
// records who checked which fields. Errors: EINVALID, ELEVELTOOLOW,
// ERATELIMITED, ENOTFOUND.
func (s *Service) CheckData(ctx context.Context, checker, memberID string, fields map[string]string) (map[string]string, error) {
	if len(fields) == 0 || len(fields) > maxCheckFields {
		return nil, coffer.Errorf(coffer.EINVALID, "fields must name 1 to %d profile fields.", maxCheckFields)
	}
	names := make([]string, 0, len(fields))
	for f, v := range fields {
		if !knownField(f) || f == coffer.FieldLinkedIDs {
			return nil, coffer.Errorf(coffer.EINVALID, "%q is not a profile field that can be checked.", trimmed(f))
		}
		if len(v) > 4*maxProfileValue || !utf8.ValidString(v) {
			return nil, coffer.Errorf(coffer.EINVALID, "The value given for %s is too long or not text.", f)
		}
		names = append(names, f)
	}
	slices.Sort(names)
	cs, err := s.store.MemberStatus(ctx, checker)
	if err != nil {
		return nil, err
	}
	if !s.mayCheck(cs.Level) {
		return nil, coffer.Errorf(coffer.ELEVELTOOLOW, "Checking members' data needs a verified merchant level (initial or higher).")
	}
	now := s.now()
	if ok, wait := s.privacy().checks.allow(checker, DataChecksPerHour, time.Hour, now); !ok {
		return nil, &coffer.Error{Code: coffer.ERATELIMITED, Message: "You have made too many data checks in the last hour; try again later.", Err: &RateLimitError{RetryAfter: wait}}
	}
	if _, err := s.liveMember(ctx, memberID); err != nil {
		return nil, err
	}
	p, err := s.store.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	m, err := s.store.MemberByLogin(ctx, memberID)
	if err != nil {
		return nil, err
	}
	have := func(f string) string {
		switch f {
		case coffer.FieldEmail:
			return m.Email
		case coffer.FieldPhone:
			return m.Phone
		}
		return p.Values[f]
	}
	out := make(map[string]string, len(fields))
	for f, v := range fields {
		h := normalizeForCheck(have(f))
		if h != "" && h == normalizeForCheck(v) {
			out[f] = CheckMatch
		} else {
			out[f] = CheckNoMatch
		}
	}
	s.audit(ctx, coffer.AuditDataChecked, memberID, map[string]any{"checker": checker, "fields": names})
	s.audit(ctx, coffer.AuditDataChecked, checker, map[string]any{"subject": memberID, "fields": names, "by_me": true})
	return out, nil
}

// mayCheck reports whether a level may check others' data: it must allow
// acting as a merchant and rank at least as the built-in initial level.
// Without level rules the built-in table decides.
func (s *Service) mayCheck(level string) bool {
	levels := s.cfg.Levels
	if levels == nil {
		levels = coffer.DefaultLevels()
	}
	l := levels.Resolve(level)
	return l.Merchant && l.Rank >= coffer.RankInitial
}

// normalizeForCheck makes comparison case-insensitive and blind to
// differences of whitespace.
func normalizeForCheck(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}
