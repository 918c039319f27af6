package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coffer-money/coffer"
)

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./coffer-data", "data directory")
	dbURL := fs.String("db", "", dbFlagHelp)
	full := fs.Bool("full", false, "run the database's full integrity check (SQLite: PRAGMA integrity_check), which reads every page and index entry")
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	db, err := openStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	check := db.Check
	if *full {
		check = db.CheckFull
	}
	rep, err := check(ctx)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if !rep.OK() {
		for _, r := range rep.Integrity {
			if !r.OK() {
				fmt.Fprintf(stderr, "cofferd check: the database is damaged: %s: %s\n", r.Name, r.Problems[0])
			}
		}
		for _, r := range rep.Results {
			if r.Violations > 0 {
				fmt.Fprintf(stderr, "cofferd check: invariant %d violated: %s\n", r.Number, r.Name)
			}
		}
		return exitCode(1)
	}
	fmt.Fprintln(stdout, "all invariants hold")
	return nil
}

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ca" {
		return runAdminCA(ctx, args[1:], stdout, stderr) // see ca.go
	}
	if len(args) < 2 {
		printGroupUsage(stderr, "admin")
		return exitCode(2)
	}
	fs := flag.NewFlagSet("cofferd admin "+args[0]+" "+args[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./coffer-data", "data directory")
	dbURL := fs.String("db", "", dbFlagHelp)
	if args[0] == "fee" {
		return runAdminFee(ctx, args[1], fs, data, dbURL, args[2:], stdout) // see fees.go
	}
	if args[0] == "oidc-client" || args[0] == "oidc-key" {
		return runAdminOIDC(ctx, args[0]+" "+args[1], fs, data, dbURL, args[2:], stdout) // see oidc.go
	}
	if args[0] == "registrar" || args[0] == "member" {
		return runAdminMembers(ctx, args[0]+" "+args[1], fs, data, dbURL, args[2:], stdout) // see members.go
	}
	switch args[0] + " " + args[1] {
	case "currency add":
		code := fs.String("code", "", "currency code, 3 upper-case letters (e.g. GBP)")
		letter := fs.String("letter", "", "purse letter, one upper-case letter (e.g. G)")
		decimals := fs.Int("decimals", 2, "digits after the decimal point (0–8)")
		if _, err := parseFlags(ctx, fs, args[2:], stdout); err != nil {
			return err
		}
		c := &coffer.Currency{Code: strings.ToUpper(*code), Decimals: *decimals}
		if len(c.Code) < 3 || len(c.Code) > 8 || strings.IndexFunc(c.Code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return errors.New("--code must be 3 to 8 letters A–Z")
		}
		if len(*letter) != 1 || (*letter)[0] < 'A' || (*letter)[0] > 'Z' {
			return errors.New("--letter must be one upper-case letter A–Z")
		}
		if c.Decimals < 0 || c.Decimals > coffer.MaxDecimals {
			return fmt.Errorf("--decimals must be from 0 to %d", coffer.MaxDecimals)
		}
		c.Letter = (*letter)[0]
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.CreateCurrency(ctx, c); err != nil {
			if coffer.ErrorCode(err) == coffer.ECONFLICT {
				return fmt.Errorf("a currency with code %s or letter %c already exists", c.Code, c.Letter)
			}
			return err
		}
		if err := db.AppendAudit(ctx, coffer.NewAuditEvent(time.Now(), coffer.AuditCurrencyAdded, "", map[string]any{"code": c.Code, "letter": string(c.Letter), "decimals": c.Decimals})); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added currency %s (purse letter %c, %d decimals)\n", c.Code, c.Letter, c.Decimals)
		return nil
	case "currency list":
		if _, err := parseFlags(ctx, fs, args[2:], stdout); err != nil {
			return err
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.Currencies(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tLETTER\tDECIMALS")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%c\t%d\n", c.Code, c.Letter, c.Decimals)
		}
		return tw.Flush()
	case "issuer add":
		member := fs.String("member", "", "member ID of the issuer")
		currency := fs.String("currency", "", "currency code (e.g. USD)")
		limit := fs.String("limit", "", "how far the issuing purse may go negative, e.g. 1000000.00")
		levelsFile := fs.String("levels", "", levelsFlagHelp)
		if _, err := parseFlags(ctx, fs, args[2:], stdout); err != nil {
			return err
		}
		if !coffer.ValidMemberID(*member) {
			return errors.New("--member must be a 12-digit member ID")
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := checkIssuerLevel(ctx, db, *levelsFile, *member); err != nil { // see members.go
			return err
		}
		p, created, err := addIssuer(ctx, db, *member, strings.ToUpper(*currency), *limit)
		if err != nil {
			return err
		}
		if err := db.AppendAudit(ctx, coffer.NewAuditEvent(time.Now(), coffer.AuditIssuerSet, *member, map[string]any{"purse": p.Number, "currency": p.Currency, "limit": p.Limit})); err != nil {
			return err
		}
		verb := "updated"
		if created {
			verb = "created"
		}
		fmt.Fprintf(stdout, "%s issuing purse %s for member %s, limit %s %s\n", verb, p.Number, *member, *limit, p.Currency)
		return nil
	}
	fmt.Fprintf(stderr, "cofferd admin: unknown command %q\n\n", args[0]+" "+args[1])
	printGroupUsage(stderr, "admin")
	return exitCode(2)
}

// addIssuer gives a member an issuing purse in a currency, or changes the
// limit of the one it has.
func addIssuer(ctx context.Context, db store, member, currency, limitText string) (*coffer.Purse, bool, error) {
	list, err := db.Currencies(ctx)
	if err != nil {
		return nil, false, err
	}
	var cur *coffer.Currency
	for _, c := range list {
		if c.Code == currency {
			cur = c
		}
	}
	if cur == nil {
		return nil, false, fmt.Errorf("there is no currency %q (add it with cofferd admin currency add)", currency)
	}
	limit, err := coffer.ParseLimit(limitText, cur.Decimals)
	if err != nil {
		return nil, false, fmt.Errorf("--limit: %s", coffer.ErrorMessage(err))
	}
	if _, err := db.MemberByLogin(ctx, member); err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, false, fmt.Errorf("there is no member %s", member)
		}
		return nil, false, err
	}
	purses, err := db.Purses(ctx, member)
	if err != nil {
		return nil, false, err
	}
	for _, p := range purses {
		if p.Issuer && p.Currency == cur.Code {
			if err := db.SetIssuer(ctx, p.Number, limit); err != nil {
				return nil, false, errors.New(coffer.ErrorMessage(err))
			}
			p.Limit = limit
			return p, false, nil
		}
	}
	p := &coffer.Purse{Currency: cur.Code, Owner: member, Issuer: true, Limit: limit, CreatedAt: time.Now().UTC()}
	for attempt := 0; ; attempt++ {
		p.Number = coffer.NewPurseNumber(cur.Letter)
		err := db.CreatePurse(ctx, p)
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return p, true, nil
	}
}
