package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/jackc/pgx/v5"
)

func splitRanges(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

// rowQuerier is what the pool and a transaction have in common for
// single-row queries.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const settingsQuery = `SELECT ip_ranges, new_device, notify_login, notify_incoming, notify_security, updated_at
	FROM member_settings WHERE member_id = $1`

// Settings implements coffer.SettingsStore.
func (db *DB) Settings(ctx context.Context, memberID string) (*coffer.MemberSettings, error) {
	return settingsWith(ctx, db.pool, settingsQuery, memberID)
}

func settingsWith(ctx context.Context, q rowQuerier, query, memberID string) (*coffer.MemberSettings, error) {
	st := &coffer.MemberSettings{MemberID: memberID, IPRanges: []string{}, Notify: coffer.DefaultNotifications}
	var ranges string
	var updated int64
	err := q.QueryRow(ctx, query, memberID).Scan(&ranges, &st.NewDeviceConfirmation,
		&st.Notify.Login, &st.Notify.IncomingPayment, &st.Notify.Security, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, mapErr("postgres.Settings", err)
	}
	st.IPRanges = splitRanges(ranges)
	st.UpdatedAt = fromMs(updated)
	return st, nil
}

// SetIPRanges implements coffer.SettingsStore. Each setter is one upsert,
// which locks the member's settings row, so it runs before or after a
// concurrent AddIPRange, never in the middle of one.
func (db *DB) SetIPRanges(ctx context.Context, memberID string, ranges []string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO member_settings (member_id, ip_ranges, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (member_id) DO UPDATE SET ip_ranges = excluded.ip_ranges, updated_at = excluded.updated_at`,
		memberID, strings.Join(ranges, " "), ms(at))
	return mapErr("postgres.SetIPRanges", err)
}

// AddIPRange implements coffer.SettingsStore. The settings row is created
// when missing and locked before the list is read, so concurrent additions
// and replacements of the list apply one after another and none is lost.
func (db *DB) AddIPRange(ctx context.Context, memberID, prefix string, at time.Time) error {
	const op = "postgres.AddIPRange"
	return db.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO member_settings (member_id, updated_at) VALUES ($1, $2) ON CONFLICT (member_id) DO NOTHING`,
			memberID, ms(at)); err != nil {
			return err
		}
		st, err := settingsWith(ctx, tx, settingsQuery+` FOR UPDATE`, memberID)
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
		_, err = tx.Exec(ctx, `UPDATE member_settings SET ip_ranges = $1, updated_at = $2 WHERE member_id = $3`,
			strings.Join(list, " "), ms(at), memberID)
		return err
	})
}

// SetNotifications implements coffer.SettingsStore.
func (db *DB) SetNotifications(ctx context.Context, memberID string, n coffer.Notifications, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO member_settings (member_id, notify_login, notify_incoming, notify_security, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (member_id) DO UPDATE SET notify_login = excluded.notify_login, notify_incoming = excluded.notify_incoming,
		notify_security = excluded.notify_security, updated_at = excluded.updated_at`,
		memberID, n.Login, n.IncomingPayment, n.Security, ms(at))
	return mapErr("postgres.SetNotifications", err)
}

// SetNewDeviceConfirmation implements coffer.SettingsStore.
func (db *DB) SetNewDeviceConfirmation(ctx context.Context, memberID string, on bool, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO member_settings (member_id, new_device, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (member_id) DO UPDATE SET new_device = excluded.new_device, updated_at = excluded.updated_at`,
		memberID, on, ms(at))
	return mapErr("postgres.SetNewDeviceConfirmation", err)
}

// KnownIP implements coffer.SettingsStore.
func (db *DB) KnownIP(ctx context.Context, memberID, ip string) (bool, error) {
	var known bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM member_ips WHERE member_id = $1 AND ip = $2)`, memberID, ip).Scan(&known)
	return known, mapErr("postgres.KnownIP", err)
}

// SeenIP implements coffer.SettingsStore. Of concurrent first logins from
// one address exactly one reports true: the other's insert waits for it and
// then does nothing.
func (db *DB) SeenIP(ctx context.Context, memberID, ip string, at time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO member_ips (member_id, ip, first_seen) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, memberID, ip, ms(at))
	if err != nil {
		return false, mapErr("postgres.SeenIP", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PurseLimits implements coffer.SettingsStore.
func (db *DB) PurseLimits(ctx context.Context, purse string) (*coffer.PurseLimits, error) {
	l, err := scanLimitsRow(db.pool.QueryRow(ctx, `SELECT `+limitsCols+limitsFrom+` WHERE l.purse = $1`, purse))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("postgres.PurseLimits", err)
	}
	return l, nil
}

// SetPurseLimits implements coffer.SettingsStore. It locks the ledger head
// first, as every ledger batch does, so no batch decides on the purse
// between the change and the restart of its counters: a lowered limit holds
// from the next batch on, in every process.
func (db *DB) SetPurseLimits(ctx context.Context, l *coffer.PurseLimits, at time.Time) error {
	return db.inTx(ctx, "postgres.SetPurseLimits", func(tx pgx.Tx) error {
		if err := db.lockLedgerHead(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM purse_spend WHERE purse = $1`, l.Purse); err != nil {
			return err
		}
		if l.Empty() {
			_, err := tx.Exec(ctx, `DELETE FROM purse_limits WHERE purse = $1`, l.Purse)
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO purse_limits (purse, per_transfer, per_day, per_month, updated_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (purse) DO UPDATE SET per_transfer = excluded.per_transfer, per_day = excluded.per_day,
			per_month = excluded.per_month, updated_at = excluded.updated_at`,
			l.Purse, l.PerTransfer, l.PerDay, l.PerMonth, ms(at)); err != nil {
			return err
		}
		// The counters restart from the history, the truth, so spending
		// before the limits were set counts against them too.
		day, month, err := spendWith(ctx, tx, l.Purse, at)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO purse_spend (purse, period, amount) VALUES ($1, $2, $3), ($1, $4, $5)`,
			l.Purse, coffer.DayKey(at), day, coffer.MonthKey(at), month)
		return err
	})
}

// PurseSpend implements coffer.SettingsStore: computed from the history.
func (db *DB) PurseSpend(ctx context.Context, purse string, at time.Time) (int64, int64, error) {
	day, month, err := spendWith(ctx, db.pool, purse, at)
	return day, month, mapErr("postgres.PurseSpend", err)
}

func spendWith(ctx context.Context, q rowQuerier, purse string, at time.Time) (int64, int64, error) {
	var day, month int64
	err := q.QueryRow(ctx, `SELECT COALESCE(SUM(CASE WHEN created_at >= $1 THEN -amount END), 0)::bigint, COALESCE(SUM(-amount), 0)::bigint
		FROM entries WHERE purse = $2 AND amount < 0 AND created_at >= $3`,
		ms(coffer.DayStart(at)), purse, ms(coffer.MonthStart(at))).Scan(&day, &month)
	return day, month, err
}

// CreateUnblock implements coffer.SettingsStore.
func (db *DB) CreateUnblock(ctx context.Context, u *coffer.Unblock) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO unblock_codes (id, member_id, ip, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.MemberID, u.IP, u.CodeHash, ms(u.CreatedAt), ms(u.ExpiresAt))
	return mapErr("postgres.CreateUnblock", err)
}

// LiveUnblocks implements coffer.SettingsStore.
func (db *DB) LiveUnblocks(ctx context.Context, memberID, ip string, now time.Time, maxAttempts int) ([]*coffer.Unblock, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, code_hash, created_at, expires_at, attempts FROM unblock_codes
		WHERE member_id = $1 AND ip = $2 AND used_at IS NULL AND expires_at > $3 AND attempts < $4 ORDER BY created_at DESC LIMIT 10`,
		memberID, ip, ms(now), maxAttempts)
	return collect(rows, err, "postgres.LiveUnblocks", func(row rowScanner) (*coffer.Unblock, error) {
		u := &coffer.Unblock{MemberID: memberID, IP: ip}
		var c, e int64
		if err := row.Scan(&u.ID, &u.CodeHash, &c, &e, &u.Attempts); err != nil {
			return nil, err
		}
		u.CreatedAt, u.ExpiresAt = fromMs(c), fromMs(e)
		return u, nil
	})
}

// UseUnblock implements coffer.SettingsStore. One conditional UPDATE: of
// concurrent uses of a code exactly one reports true.
func (db *DB) UseUnblock(ctx context.Context, id string, at time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE unblock_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL`, ms(at), id)
	if err != nil {
		return false, mapErr("postgres.UseUnblock", err)
	}
	return tag.RowsAffected() == 1, nil
}

// FailUnblock implements coffer.SettingsStore. One UPDATE: concurrent
// failures queue on the rows and each counts.
func (db *DB) FailUnblock(ctx context.Context, memberID, ip string) error {
	_, err := db.pool.Exec(ctx, `UPDATE unblock_codes SET attempts = attempts + 1 WHERE member_id = $1 AND ip = $2 AND used_at IS NULL`, memberID, ip)
	return mapErr("postgres.FailUnblock", err)
}
