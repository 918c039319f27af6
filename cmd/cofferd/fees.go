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
	"github.com/coffer-money/coffer/app"
)

// runAdminFee runs `cofferd admin fee set|list|remove`.
func runAdminFee(ctx context.Context, sub string, fs *flag.FlagSet, data, dbURL *string, args []string, stdout io.Writer) error {
	switch sub {
	case "set":
		currency := fs.String("currency", "", "currency code (e.g. USD)")
		percent := fs.String("percent", "", "fee in percent of the amount, a decimal such as 0.8")
		minText := fs.String("min", "0", "smallest fee, e.g. 0.01")
		maxText := fs.String("max", "0", "largest fee, e.g. 50.00 (0: no maximum)")
		purse := fs.String("purse", "", "the operator's purse the fees are paid into, in that currency")
		if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
			return err
		}
		ppm, err := app.ParsePercent(*percent)
		if err != nil {
			return fmt.Errorf("--percent: %s", coffer.ErrorMessage(err))
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		cur, err := findCurrency(ctx, db, *currency)
		if err != nil {
			return err
		}
		f := &coffer.FeeRule{Currency: cur.Code, PPM: ppm, Purse: *purse, UpdatedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if f.Min, err = coffer.ParseLimit(*minText, cur.Decimals); err != nil {
			return fmt.Errorf("--min: %s", coffer.ErrorMessage(err))
		}
		if f.Max, err = coffer.ParseLimit(*maxText, cur.Decimals); err != nil {
			return fmt.Errorf("--max: %s", coffer.ErrorMessage(err))
		}
		if f.Max > 0 && f.Max < f.Min {
			return errors.New("--max must not be below --min")
		}
		if !coffer.ValidPurseNumber(f.Purse) {
			return errors.New("--purse must be a purse number (a letter and 12 digits)")
		}
		p, err := db.Purse(ctx, f.Purse)
		if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND {
			return fmt.Errorf("there is no purse %s", f.Purse)
		} else if err != nil {
			return err
		}
		if p.Currency != cur.Code {
			return fmt.Errorf("purse %s holds %s, not %s", p.Number, p.Currency, cur.Code)
		}
		ev := coffer.NewAuditEvent(f.UpdatedAt, coffer.AuditFeeRuleSet, "", map[string]any{"currency": f.Currency,
			"ppm": f.PPM, "min": f.Min, "max": f.Max, "purse": f.Purse})
		if err := db.SetFeeRule(ctx, f, ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fee for %s: %s %%, min %s, max %s, paid into %s\n", f.Currency, app.FormatPercent(f.PPM),
			coffer.FormatAmount(f.Min, cur.Decimals), feeMax(f.Max, cur.Decimals), f.Purse)
		return nil
	case "list":
		if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
			return err
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		rules, err := db.FeeRules(ctx)
		if err != nil {
			return err
		}
		dec := map[string]int{}
		if list, err := db.Currencies(ctx); err == nil {
			for _, c := range list {
				dec[c.Code] = c.Decimals
			}
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CURRENCY\tPERCENT\tMIN\tMAX\tPURSE")
		for _, f := range rules {
			d := dec[f.Currency]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Currency, app.FormatPercent(f.PPM), coffer.FormatAmount(f.Min, d), feeMax(f.Max, d), f.Purse)
		}
		return tw.Flush()
	case "remove":
		currency := fs.String("currency", "", "currency code (e.g. USD)")
		if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
			return err
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		cur, err := findCurrency(ctx, db, *currency)
		if err != nil {
			return err
		}
		ev := coffer.NewAuditEvent(time.Now(), coffer.AuditFeeRuleDeleted, "", map[string]any{"currency": cur.Code})
		ok, err := db.DeleteFeeRule(ctx, cur.Code, ev)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("there is no fee for %s", cur.Code)
		}
		fmt.Fprintf(stdout, "removed the fee for %s\n", cur.Code)
		return nil
	}
	return fmt.Errorf("unknown command \"fee %s\" (want set, list or remove)", sub)
}

func feeMax(v int64, d int) string {
	if v == 0 {
		return "none"
	}
	return coffer.FormatAmount(v, d)
}

func findCurrency(ctx context.Context, db app.CurrencyLister, code string) (*coffer.Currency, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		return nil, errors.New("--currency is required")
	}
	list, err := db.Currencies(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.Code == code {
			return c, nil
		}
	}
	return nil, fmt.Errorf("there is no currency %q (add it with cofferd admin currency add)", code)
}
