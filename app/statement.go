package app

import (
	"context"
	"slices"
	"time"

	"github.com/coffer-money/coffer"
)

// Bounds of a statement.
const (
	MaxStatementDays    = 366
	MaxStatementEntries = 100_000
)

// Statement is a purse's account over a period: the money at its start,
// every entry in order, and the money at its end. For both available and
// held money, opening plus the entries that move it equals closing.
type Statement struct {
	Purse                         *coffer.Purse
	Decimals                      int
	Since, Until                  time.Time // Until is exclusive
	OpeningAvailable, OpeningHeld int64
	ClosingAvailable, ClosingHeld int64
	Entries                       []*coffer.HistoryEntry // oldest first
}

// ParsePeriod reads a statement period: each end an RFC 3339 time or a
// date (YYYY-MM-DD, UTC). A date as until includes that whole day. Without
// since, the period starts at the beginning of the current month (UTC);
// without until, it ends at the end of the month it starts in.
// Errors: EINVALID.
func ParsePeriod(since, until string, now time.Time) (from, to time.Time, err error) {
	parse := func(name, v string, end bool) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC(), nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, coffer.Errorf(coffer.EINVALID, "%s must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z).", name)
		}
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	now = now.UTC()
	if since == "" {
		from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	} else if from, err = parse("since", since, false); err != nil {
		return
	}
	if until == "" {
		to = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
	} else if to, err = parse("until", until, true); err != nil {
		return
	}
	if !to.After(from) {
		return from, to, coffer.Errorf(coffer.EINVALID, "until must be after since.")
	}
	if to.Sub(from) > MaxStatementDays*24*time.Hour {
		return from, to, coffer.Errorf(coffer.EINVALID, "A statement covers at most %d days.", MaxStatementDays)
	}
	return from, to, nil
}

// Statement returns the statement of one of the member's purses for
// [since, until). Errors: EPURSENOTFOUND, EINVALID (period too long or too
// many entries).
func (s *Service) Statement(ctx context.Context, memberID, purse string, since, until time.Time) (*Statement, error) {
	p, err := s.Purse(ctx, memberID, purse)
	if err != nil {
		return nil, err
	}
	if !until.After(since) || until.Sub(since) > MaxStatementDays*24*time.Hour {
		return nil, coffer.Errorf(coffer.EINVALID, "A statement covers more than nothing and at most %d days.", MaxStatementDays)
	}
	st := &Statement{Purse: p, Decimals: s.Decimals(ctx, p.Currency), Since: since, Until: until}
	if st.OpeningAvailable, st.OpeningHeld, err = s.store.BalanceAt(ctx, p.Number, since); err != nil {
		return nil, err
	}
	f := coffer.HistoryFilter{Since: since, Until: until, Limit: MaxHistoryPage}
	for {
		page, err := s.store.History(ctx, p.Number, f)
		if err != nil {
			return nil, err
		}
		st.Entries = append(st.Entries, page...)
		if len(st.Entries) > MaxStatementEntries {
			return nil, coffer.Errorf(coffer.EINVALID, "The period holds more than %d entries; ask for a shorter one.", MaxStatementEntries)
		}
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].Seq
	}
	slices.Reverse(st.Entries)
	// The closing balances are those after the period's last entries, read
	// in the same pass, so that an entry committed while the statement is
	// being read cannot make it disagree with itself.
	st.ClosingAvailable, st.ClosingHeld = st.OpeningAvailable, st.OpeningHeld
	for _, e := range st.Entries {
		if e.Held {
			st.ClosingHeld = e.BalanceAfter
		} else {
			st.ClosingAvailable = e.BalanceAfter
		}
	}
	return st, nil
}

// StatementPeriod is ParsePeriod at the service's clock.
func (s *Service) StatementPeriod(since, until string) (from, to time.Time, err error) {
	return ParsePeriod(since, until, s.now())
}
