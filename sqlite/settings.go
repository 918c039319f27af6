package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

func splitRanges(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

// Settings implements coffer.SettingsStore.
func (db *DB) Settings(ctx context.Context, memberID string) (*coffer.MemberSettings, error) {
	return settingsWith(ctx, db.r, memberID)
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func settingsWith(ctx context.Context, q queryer, memberID string) (*coffer.MemberSettings, error) {
	st := &coffer.MemberSettings{MemberID: memberID, IPRanges: []string{}, Notify: coffer.DefaultNotifications}
	var ranges string
	var updated int64
	err := q.QueryRowContext(ctx, `SELECT ip_ranges, new_device, notify_login, notify_incoming, notify_security, updated_at
		FROM member_settings WHERE member_id = ?`, memberID).Scan(&ranges, &st.NewDeviceConfirmation,
		&st.Notify.Login, &st.Notify.IncomingPayment, &st.Notify.Security, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, mapErr("sqlite.Settings", err)
	}
	st.IPRanges = splitRanges(ranges)
	st.UpdatedAt = fromMs(updated)
	return st, nil
}

// updateSettings upserts one column set of a member's settings row.
func (db *DB) updateSettings(ctx context.Context, op, set string, at time.Time, args ...any) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO member_settings (member_id, updated_at) VALUES (?, ?) ON CONFLICT (member_id) DO NOTHING`, args[len(args)-1], ms(at)); err != nil {
		return mapErr(op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE member_settings SET `+set+`, updated_at = ? WHERE member_id = ?`, append(args[:len(args)-1:len(args)-1], ms(at), args[len(args)-1])...); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

// SetIPRanges implements coffer.SettingsStore.
func (db *DB) SetIPRanges(ctx context.Context, memberID string, ranges []string, at time.Time) error {
	return db.updateSettings(ctx, "sqlite.SetIPRanges", "ip_ranges = ?", at, strings.Join(ranges, " "), memberID)
}

// AddIPRange implements coffer.SettingsStore.
func (db *DB) AddIPRange(ctx context.Context, memberID, prefix string, at time.Time) error {
	const op = "sqlite.AddIPRange"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	st, err := settingsWith(ctx, tx, memberID)
	if err != nil {
		return err
	}
	if slices.Contains(st.IPRanges, prefix) {
		return nil
	}
	if len(st.IPRanges) >= coffer.MaxIPRanges {
		return &coffer.Error{Code: coffer.ELIMITEXCEEDED, Message: "The list of IP ranges is full.", Op: op}
	}
	list := append(st.IPRanges, prefix)
	slices.Sort(list)
	if _, err := tx.ExecContext(ctx, `INSERT INTO member_settings (member_id, ip_ranges, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (member_id) DO UPDATE SET ip_ranges = excluded.ip_ranges, updated_at = excluded.updated_at`,
		memberID, strings.Join(list, " "), ms(at)); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}

// SetNotifications implements coffer.SettingsStore.
func (db *DB) SetNotifications(ctx context.Context, memberID string, n coffer.Notifications, at time.Time) error {
	return db.updateSettings(ctx, "sqlite.SetNotifications", "notify_login = ?, notify_incoming = ?, notify_security = ?", at,
		n.Login, n.IncomingPayment, n.Security, memberID)
}

// SetNewDeviceConfirmation implements coffer.SettingsStore.
func (db *DB) SetNewDeviceConfirmation(ctx context.Context, memberID string, on bool, at time.Time) error {
	return db.updateSettings(ctx, "sqlite.SetNewDeviceConfirmation", "new_device = ?", at, on, memberID)
}

// KnownIP implements coffer.SettingsStore.
func (db *DB) KnownIP(ctx context.Context, memberID, ip string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM member_ips WHERE member_id = ? AND ip = ?`, memberID, ip).Scan(&n)
	if err != nil {
		return false, mapErr("sqlite.KnownIP", err)
	}
	return n > 0, nil
}

// SeenIP implements coffer.SettingsStore.
func (db *DB) SeenIP(ctx context.Context, memberID, ip string, at time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO member_ips (member_id, ip, first_seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, memberID, ip, ms(at))
	if err != nil {
		return false, mapErr("sqlite.SeenIP", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const limitsQuery = `SELECT l.per_transfer, l.per_day, l.per_month, l.updated_at, c.decimals
	FROM purse_limits l JOIN purses p ON p.number = l.purse JOIN currencies c ON c.code = p.currency WHERE l.purse = ?`

func scanLimits(row *sql.Row, purse string) (*coffer.PurseLimits, error) {
	var pt, pd, pm sql.NullInt64
	var updated int64
	l := &coffer.PurseLimits{Purse: purse}
	if err := row.Scan(&pt, &pd, &pm, &updated, &l.Decimals); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	opt := func(v sql.NullInt64) *int64 {
		if !v.Valid {
			return nil
		}
		x := v.Int64
		return &x
	}
	l.PerTransfer, l.PerDay, l.PerMonth, l.UpdatedAt = opt(pt), opt(pd), opt(pm), fromMs(updated)
	return l, nil
}

// PurseLimits implements coffer.SettingsStore.
func (db *DB) PurseLimits(ctx context.Context, purse string) (*coffer.PurseLimits, error) {
	l, err := scanLimits(db.r.QueryRowContext(ctx, limitsQuery, purse), purse)
	return l, mapErr("sqlite.PurseLimits", err)
}

func optArg(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// SetPurseLimits implements coffer.SettingsStore. It takes the writer
// connection and then the ledger's cache lock, in the order ApplyBatch
// does, so no batch runs between the commit and the cache reset: a lowered
// limit holds from the next batch on.
func (db *DB) SetPurseLimits(ctx context.Context, l *coffer.PurseLimits, at time.Time) error {
	const op = "sqlite.SetPurseLimits"
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	db.pcMu.Lock()
	defer db.pcMu.Unlock()
	if _, err := tx.ExecContext(ctx, `DELETE FROM purse_spend WHERE purse = ?`, l.Purse); err != nil {
		return mapErr(op, err)
	}
	if l.Empty() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM purse_limits WHERE purse = ?`, l.Purse); err != nil {
			return mapErr(op, err)
		}
	} else {
		if _, err := tx.ExecContext(ctx, `INSERT INTO purse_limits (purse, per_transfer, per_day, per_month, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (purse) DO UPDATE SET per_transfer = excluded.per_transfer, per_day = excluded.per_day,
			per_month = excluded.per_month, updated_at = excluded.updated_at`,
			l.Purse, optArg(l.PerTransfer), optArg(l.PerDay), optArg(l.PerMonth), ms(at)); err != nil {
			return mapErr(op, err)
		}
		// The counters restart from the history, the truth, so spending
		// before the limits were set counts against them too.
		day, month, err := spendWith(ctx, tx, l.Purse, at)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO purse_spend (purse, period, amount) VALUES (?, ?, ?), (?, ?, ?)`,
			l.Purse, coffer.DayKey(at), day, l.Purse, coffer.MonthKey(at), month); err != nil {
			return mapErr(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return mapErr(op, err)
	}
	db.lc = nil
	return nil
}

// PurseSpend implements coffer.SettingsStore: computed from the history.
func (db *DB) PurseSpend(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	return spendWith(ctx, db.r, purse, at)
}

// spendWith counts what the purse's transfers took from its available
// money, as the ledger does: not fees, and not held money moving on.
func spendWith(ctx context.Context, q queryer, purse string, at time.Time) (int64, int64, error) {
	var day, month int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN created_at >= ? THEN -amount END), 0), COALESCE(SUM(-amount), 0)
		FROM entries WHERE purse = ? AND kind = 'transfer' AND amount < 0 AND NOT held AND created_at >= ?`,
		ms(coffer.DayStart(at)), purse, ms(coffer.MonthStart(at))).Scan(&day, &month)
	return day, month, mapErr("sqlite.PurseSpend", err)
}

// CreateUnblock implements coffer.SettingsStore.
func (db *DB) CreateUnblock(ctx context.Context, u *coffer.Unblock) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO unblock_codes (id, member_id, ip, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.MemberID, u.IP, u.CodeHash, ms(u.CreatedAt), ms(u.ExpiresAt))
	return mapErr("sqlite.CreateUnblock", err)
}

// LiveUnblocks implements coffer.SettingsStore.
func (db *DB) LiveUnblocks(ctx context.Context, memberID, ip string, now time.Time, maxAttempts int) ([]*coffer.Unblock, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, code_hash, created_at, expires_at, attempts FROM unblock_codes
		WHERE member_id = ? AND ip = ? AND used_at IS NULL AND expires_at > ? AND attempts < ? ORDER BY created_at DESC LIMIT 10`,
		memberID, ip, ms(now), maxAttempts)
	if err != nil {
		return nil, mapErr("sqlite.LiveUnblocks", err)
	}
	defer rows.Close()
	var out []*coffer.Unblock
	for rows.Next() {
		u := &coffer.Unblock{MemberID: memberID, IP: ip}
		var c, e int64
		if err := rows.Scan(&u.ID, &u.CodeHash, &c, &e, &u.Attempts); err != nil {
			return nil, mapErr("sqlite.LiveUnblocks", err)
		}
		u.CreatedAt, u.ExpiresAt = fromMs(c), fromMs(e)
		out = append(out, u)
	}
	return out, mapErr("sqlite.LiveUnblocks", rows.Err())
}

// UseUnblock implements coffer.SettingsStore.
func (db *DB) UseUnblock(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE unblock_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, ms(at), id)
	if err != nil {
		return false, mapErr("sqlite.UseUnblock", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FailUnblock implements coffer.SettingsStore.
func (db *DB) FailUnblock(ctx context.Context, memberID, ip string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE unblock_codes SET attempts = attempts + 1 WHERE member_id = ? AND ip = ? AND used_at IS NULL`, memberID, ip)
	return mapErr("sqlite.FailUnblock", err)
}
