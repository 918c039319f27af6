package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// documentsKeyFile holds the key that seals verification documents at rest.
const documentsKeyFile = "documents.key"

// levelsFlagHelp describes --levels.
const levelsFlagHelp = `JSON file of verification levels: [{"name", "rank", "daily_limit": {"USD": "1000.00", "*": …} or null, "merchant", "issuer"}]; default: the built-in pseudonymous, formal, initial and personal`

// loadLevels reads --levels, or returns the built-in table.
func loadLevels(path string) (*coffer.Levels, error) {
	if path == "" {
		return coffer.DefaultLevels(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--levels: levels: %w", err)
	}
	l, err := coffer.ParseLevels(b)
	if err != nil {
		return nil, fmt.Errorf("--levels: %w", err)
	}
	return l, nil
}

// loadDocumentsKey reads the documents key from path, or from
// DATA/documents.key, creating that (mode 0600) with 32 random bytes on
// first start. Losing it makes every stored document unreadable.
func loadDocumentsKey(dir, path string) ([]byte, error) {
	if path != "" {
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--documents-key: %w", err)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("--documents-key %s: want 32 bytes, got %d", path, len(key))
		}
		return key, nil
	}
	path = filepath.Join(dir, documentsKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("documents key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("documents key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("documents key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("documents key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("documents key %s: want 32 bytes, got %d", path, len(key))
	}
	return key, nil
}

// pinDocumentsKey makes every process on a shared database use the same
// documents key, as for the secrets key.
func pinDocumentsKey(ctx context.Context, p coffer.KeyPinner, key []byte) error {
	sum := sha256.Sum256(append([]byte("coffer documents key fingerprint\x00"), key...))
	return p.PinKey(ctx, "documents key ("+documentsKeyFile+")", hex.EncodeToString(sum[:8]))
}

// checkIssuerLevel refuses to make a member an issuer unless their
// verification level allows it.
func checkIssuerLevel(ctx context.Context, db coffer.IdentityStore, levelsFile, member string) error {
	levels, err := loadLevels(levelsFile)
	if err != nil {
		return err
	}
	l, ok, err := app.CanIssue(ctx, db, levels, member)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return fmt.Errorf("there is no member %s", member)
	} else if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("member %s is at verification level %q, which does not allow issuing; a registrar must verify them to a level that does (cofferd admin member level)", member, l.Name)
	}
	return nil
}

// runAdminMembers runs `cofferd admin registrar …` and `cofferd admin
// member …`.
func runAdminMembers(ctx context.Context, cmd string, fs *flag.FlagSet, data, dbURL *string, args []string, stdout io.Writer) error {
	member := fs.String("member", "", "member ID")
	level := fs.String("level", "", "verification level (member level)")
	reason := fs.String("reason", "", "why (member level; recorded in the audit log)")
	levelsFile := fs.String("levels", "", levelsFlagHelp)
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	needMember := cmd != "registrar list"
	if needMember && !coffer.ValidMemberID(*member) {
		return errors.New("--member must be a 12-digit member ID")
	}
	db, err := openStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var st *coffer.MemberStatus
	if needMember {
		st, err = db.MemberStatus(ctx, *member)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return fmt.Errorf("there is no member %s", *member)
		} else if err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	switch cmd {
	case "registrar add", "registrar remove":
		on := cmd == "registrar add"
		if on && !st.ClosedAt.IsZero() {
			return fmt.Errorf("member %s closed their account", *member)
		}
		ev := coffer.NewAuditEvent(now, coffer.AuditRoleChanged, *member, map[string]any{"role": coffer.RoleRegistrar, "granted": on, "by": "operator"})
		if err := db.SetRole(ctx, *member, coffer.RoleRegistrar, on, ev); err != nil {
			return err
		}
		if on {
			fmt.Fprintf(stdout, "member %s is a registrar\n", *member)
		} else {
			fmt.Fprintf(stdout, "member %s is no longer a registrar\n", *member)
		}
		return nil
	case "registrar list":
		ids, err := db.MembersWithRole(ctx, coffer.RoleRegistrar)
		if err != nil {
			return err
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintln(stdout, id)
		}
		return nil
	case "member level":
		levels, err := loadLevels(*levelsFile)
		if err != nil {
			return err
		}
		from, err := app.SetMemberLevel(ctx, db, levels, app.SetLevelInput{MemberID: *member, Level: *level, Reason: *reason}, now)
		if err != nil {
			return errors.New(coffer.ErrorMessage(err))
		}
		name, _ := app.ValidateLevel(levels, *level)
		fmt.Fprintf(stdout, "member %s: level %s (was %s)\n", *member, name, from)
		return nil
	case "member show":
		return showMember(ctx, db, st, *levelsFile, stdout)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// showMember prints the operator's view of a member.
func showMember(ctx context.Context, db store, st *coffer.MemberStatus, levelsFile string, stdout io.Writer) error {
	levels, err := loadLevels(levelsFile)
	if err != nil {
		return err
	}
	prof, err := db.Profile(ctx, st.MemberID)
	if err != nil {
		return err
	}
	linked, err := db.LinkedMembers(ctx, st.MemberID)
	if err != nil {
		return err
	}
	l := levels.Resolve(st.Level)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "member\t%s\n", st.MemberID)
	fmt.Fprintf(tw, "registered\t%s\n", st.CreatedAt.UTC().Format(time.RFC3339))
	lv := st.Level
	if l.Name != st.Level {
		lv += " (acts as " + l.Name + ")"
	}
	if !st.LevelChangedAt.IsZero() {
		lv += ", since " + st.LevelChangedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "level\t%s\n", lv)
	allows := []string{}
	if l.Merchant {
		allows = append(allows, "merchant")
	}
	if l.Issuer {
		allows = append(allows, "issuer")
	}
	fmt.Fprintf(tw, "allows\t%s\n", strings.Join(append(allows, "daily limit "+dailyText(l)), ", "))
	roles := slices.Clone(st.Roles)
	sort.Strings(roles)
	fmt.Fprintf(tw, "roles\t%s\n", orNone(strings.Join(roles, ", ")))
	fmt.Fprintf(tw, "only contacts\t%t\n", st.OnlyContacts)
	closed := "no"
	if !st.ClosedAt.IsZero() {
		closed = st.ClosedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "closed\t%s\n", closed)
	fmt.Fprintf(tw, "linked member IDs\t%s\n", orNone(strings.Join(linked, ", ")))
	for _, f := range coffer.ProfileFields {
		v, ok := prof.Values[f]
		if !ok {
			continue
		}
		vis := prof.Visibility[f]
		if vis == "" {
			vis = coffer.VisibleNobody
		}
		fmt.Fprintf(tw, "%s\t%s (visible: %s)\n", f, v, vis)
	}
	return tw.Flush()
}

func dailyText(l *coffer.Level) string {
	if len(l.DailyLimit) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(l.DailyLimit))
	for k := range l.DailyLimit {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if k == "*" {
			name = "in other currencies"
		}
		parts = append(parts, l.DailyLimit[k]+" "+name)
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
