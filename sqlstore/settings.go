package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// Settings implements coffer.SettingsStore.
func (s *Store) Settings(ctx context.Context, memberID string) (*coffer.MemberSettings, error) {
	st, err := readSettings(ctx, s.rd, memberID, "")
	return st, s.mapErr("Settings", err)
}

// readSettings reads a member's settings through q, the defaults when none
// are saved; lock is appended to the query.
func readSettings(ctx context.Context, q conn, memberID, lock string) (*coffer.MemberSettings, error) {
	st := &coffer.MemberSettings{MemberID: memberID, IPRanges: []string{}, Notify: coffer.DefaultNotifications}
	var ranges string
	var updated int64
	err := q.QueryRow(ctx, `SELECT ip_ranges, new_device, notify_login, notify_incoming, notify_security, updated_at
		FROM member_settings WHERE member_id = ?`+lock, memberID).Scan(&ranges, &st.NewDeviceConfirmation,
		&st.Notify.Login, &st.Notify.IncomingPayment, &st.Notify.Security, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if ranges != "" {
		st.IPRanges = strings.Fields(ranges)
	}
	st.UpdatedAt = fromMs(updated)
	return st, nil
}

// SetIPRanges implements coffer.SettingsStore. Each setter is one upsert,
// which locks the member's settings row, so it runs before or after a
// concurrent AddIPRange, never in the middle of one.
func (s *Store) SetIPRanges(ctx context.Context, memberID string, ranges []string, at time.Time) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO member_settings (member_id, ip_ranges, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET ip_ranges = excluded.ip_ranges, updated_at = excluded.updated_at`,
		memberID, strings.Join(ranges, " "), ms(at))
	return s.mapErr("SetIPRanges", err)
}

// AddIPRange implements coffer.SettingsStore. The settings row is created
// when missing and locked before the list is read, so concurrent additions
// and replacements of the list apply one after another and none is lost.
// Errors: ELIMITEXCEEDED wrapping coffer.ErrIPRangesFull when the list
// already holds coffer.MaxIPRanges ranges.
func (s *Store) AddIPRange(ctx context.Context, memberID, prefix string, at time.Time) error {
	const op = "AddIPRange"
	return s.write(ctx, op, lockNone, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO member_settings (member_id, updated_at) VALUES (?, ?) ON CONFLICT (member_id) DO NOTHING`,
			memberID, ms(at)); err != nil {
			return err
		}
		st, err := readSettings(ctx, tx.conn, memberID, s.d.ForUpdate())
		if err != nil {
			return err
		}
		if slices.Contains(st.IPRanges, prefix) {
			return nil
		}
		if len(st.IPRanges) >= coffer.MaxIPRanges {
			return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Op: s.d.Name() + "." + op, Err: coffer.ErrIPRangesFull}
		}
		list := append(st.IPRanges, prefix)
		slices.Sort(list)
		_, err = tx.Exec(ctx, `UPDATE member_settings SET ip_ranges = ?, updated_at = ? WHERE member_id = ?`,
			strings.Join(list, " "), ms(at), memberID)
		return err
	})
}

// SetNotifications implements coffer.SettingsStore.
func (s *Store) SetNotifications(ctx context.Context, memberID string, n coffer.Notifications, at time.Time) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO member_settings (member_id, notify_login, notify_incoming, notify_security, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET notify_login = excluded.notify_login, notify_incoming = excluded.notify_incoming,
		notify_security = excluded.notify_security, updated_at = excluded.updated_at`,
		memberID, n.Login, n.IncomingPayment, n.Security, ms(at))
	return s.mapErr("SetNotifications", err)
}

// SetNewDeviceConfirmation implements coffer.SettingsStore.
func (s *Store) SetNewDeviceConfirmation(ctx context.Context, memberID string, on bool, at time.Time) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO member_settings (member_id, new_device, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET new_device = excluded.new_device, updated_at = excluded.updated_at`,
		memberID, on, ms(at))
	return s.mapErr("SetNewDeviceConfirmation", err)
}

// KnownIP implements coffer.SettingsStore.
func (s *Store) KnownIP(ctx context.Context, memberID, ip string) (bool, error) {
	var known bool
	err := s.rd.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM member_ips WHERE member_id = ? AND ip = ?)`, memberID, ip).Scan(&known)
	return known, s.mapErr("KnownIP", err)
}

// SeenIP implements coffer.SettingsStore. Of concurrent first logins from
// one address exactly one reports true: the other's insert waits for it and
// then does nothing.
func (s *Store) SeenIP(ctx context.Context, memberID, ip string, at time.Time) (bool, error) {
	res, err := s.wr.Exec(ctx, `INSERT INTO member_ips (member_id, ip, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, memberID, ip, ms(at))
	if err != nil {
		return false, s.mapErr("SeenIP", err)
	}
	n, err := res.RowsAffected()
	return n == 1, s.mapErr("SeenIP", err)
}

// LimitsCols and LimitsFrom read the rows ScanLimits reads: a purse's
// limits with its currency's decimals.
const (
	LimitsCols = `l.purse, l.per_transfer, l.per_day, l.per_month, l.updated_at, c.decimals`
	LimitsFrom = ` FROM purse_limits l JOIN purses p ON p.number = l.purse JOIN currencies c ON c.code = p.currency`
)

// ScanLimits reads a row of LimitsCols.
func ScanLimits(row Scanner) (*coffer.PurseLimits, error) {
	var l coffer.PurseLimits
	var pt, pd, pm sql.NullInt64
	var updated int64
	if err := row.Scan(&l.Purse, &pt, &pd, &pm, &updated, &l.Decimals); err != nil {
		return nil, err
	}
	opt := func(v sql.NullInt64) *int64 {
		if !v.Valid {
			return nil
		}
		return &v.Int64
	}
	l.PerTransfer, l.PerDay, l.PerMonth, l.UpdatedAt = opt(pt), opt(pd), opt(pm), fromMs(updated)
	return &l, nil
}

// PurseLimits implements coffer.SettingsStore.
func (s *Store) PurseLimits(ctx context.Context, purse string) (*coffer.PurseLimits, error) {
	l, err := ScanLimits(s.rd.QueryRow(ctx, `SELECT `+LimitsCols+LimitsFrom+` WHERE l.purse = ?`, purse))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.mapErr("PurseLimits", err)
	}
	return l, nil
}

// SetPurseLimits implements coffer.SettingsStore. It holds off ledger
// batches, so none decides on the purse between the change and the restart
// of its counters: a lowered limit holds from the next batch on, in every
// process.
func (s *Store) SetPurseLimits(ctx context.Context, l *coffer.PurseLimits, at time.Time) error {
	return s.write(ctx, "SetPurseLimits", lockLedger, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM purse_spend WHERE purse = ?`, l.Purse); err != nil {
			return err
		}
		if l.Empty() {
			_, err := tx.Exec(ctx, `DELETE FROM purse_limits WHERE purse = ?`, l.Purse)
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO purse_limits (purse, per_transfer, per_day, per_month, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (purse) DO UPDATE SET per_transfer = excluded.per_transfer, per_day = excluded.per_day,
			per_month = excluded.per_month, updated_at = excluded.updated_at`,
			l.Purse, optInt(l.PerTransfer), optInt(l.PerDay), optInt(l.PerMonth), ms(at)); err != nil {
			return err
		}
		// The counters restart from the history, the truth, so spending
		// before the limits were set counts against them too.
		day, month, err := purseSpend(ctx, tx.conn, l.Purse, at)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO purse_spend (purse, period, amount) VALUES (?1, ?2, ?3), (?1, ?4, ?5)`,
			l.Purse, coffer.DayKey(at), day, coffer.MonthKey(at), month)
		return err
	})
}

func optInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// PurseSpend implements coffer.SettingsStore: computed from the history.
func (s *Store) PurseSpend(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	day, month, err := purseSpend(ctx, s.rd, purse, at)
	return day, month, s.mapErr("PurseSpend", err)
}

// purseSpend counts what the purse's transfers took from its available money in
// the day and month of at, as the ledger counts it: not fees, and not held
// money moving on.
func purseSpend(ctx context.Context, q conn, purse string, at time.Time) (int64, int64, error) {
	var day, month int64
	err := q.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(CASE WHEN created_at >= ? THEN -amount END), 0) AS BIGINT),
		CAST(COALESCE(SUM(-amount), 0) AS BIGINT)
		FROM entries WHERE purse = ? AND kind = 'transfer' AND amount < 0 AND NOT held AND created_at >= ?`,
		ms(coffer.DayStart(at)), purse, ms(coffer.MonthStart(at))).Scan(&day, &month)
	return day, month, err
}

// CreateUnblock implements coffer.SettingsStore.
func (s *Store) CreateUnblock(ctx context.Context, u *coffer.Unblock) error {
	_, err := s.wr.Exec(ctx, `INSERT INTO unblock_codes (id, member_id, ip, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.MemberID, u.IP, u.CodeHash, ms(u.CreatedAt), ms(u.ExpiresAt))
	return s.mapErr("CreateUnblock", err)
}

// LiveUnblocks implements coffer.SettingsStore.
func (s *Store) LiveUnblocks(ctx context.Context, memberID, ip string, now time.Time, maxAttempts int) ([]*coffer.Unblock, error) {
	rows, err := s.rd.Query(ctx, `SELECT id, code_hash, created_at, expires_at, attempts FROM unblock_codes
		WHERE member_id = ? AND ip = ? AND used_at IS NULL AND expires_at > ? AND attempts < ? ORDER BY created_at DESC LIMIT 10`,
		memberID, ip, ms(now), maxAttempts)
	return collect(s, "LiveUnblocks", rows, err, func(r Scanner) (*coffer.Unblock, error) {
		u := &coffer.Unblock{MemberID: memberID, IP: ip}
		var c, e int64
		if err := r.Scan(&u.ID, &u.CodeHash, &c, &e, &u.Attempts); err != nil {
			return nil, err
		}
		u.CreatedAt, u.ExpiresAt = fromMs(c), fromMs(e)
		return u, nil
	})
}

// UseUnblock implements coffer.SettingsStore. One conditional UPDATE: of
// concurrent uses of a code exactly one reports true.
func (s *Store) UseUnblock(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := s.wr.Exec(ctx, `UPDATE unblock_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, ms(at), id)
	if err != nil {
		return false, s.mapErr("UseUnblock", err)
	}
	n, err := res.RowsAffected()
	return n == 1, s.mapErr("UseUnblock", err)
}

// FailUnblock implements coffer.SettingsStore. One UPDATE: concurrent
// failures queue on the rows and each counts.
func (s *Store) FailUnblock(ctx context.Context, memberID, ip string) error {
	_, err := s.wr.Exec(ctx, `UPDATE unblock_codes SET attempts = attempts + 1 WHERE member_id = ? AND ip = ? AND used_at IS NULL`, memberID, ip)
	return s.mapErr("FailUnblock", err)
}
