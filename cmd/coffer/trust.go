package main

import (
	"fmt"
	"strings"

	"github.com/coffer-money/coffer/client"
)

const trustHelp = `  trust grant --merchant M --purse P [--per-transfer A] [--per-day A] [--per-month A] [--confirm ID:CODE]
                        let merchant M debit your purse P within the limits (none: no limit of that kind)
  trust list            the trusts you gave and those you hold as a merchant
  trust revoke ID       end a trust at once (as its giver or its merchant)
Granting a trust is a sensitive change: a member with a second factor confirms it
with --confirm CONFIRMATION_ID:CODE, as the server's answer tells. The merchant then
debits with 'coffer send --trust ID --from YOUR_PURSE --to THEIR_PURSE --amount A'.`

func cmdTrust(a *app, args []string) error {
	fs := a.flags("trust")
	merchant := fs.String("merchant", "", "the merchant's member `ID` (grant)")
	purse := fs.String("purse", "", "your `PURSE` the merchant may debit (grant)")
	perTransfer := fs.String("per-transfer", "", "largest `AMOUNT` of one debit (grant; default: no limit)")
	perDay := fs.String("per-day", "", "largest `AMOUNT` debited in a day (grant; default: no limit)")
	perMonth := fs.String("per-month", "", "largest `AMOUNT` debited in a month (grant; default: no limit)")
	confirm := fs.String("confirm", "", "CONFIRMATION_ID:CODE answering a confirmation the server asked for (grant)")
	pos, err := a.parse(fs, "trust", args, 1, 2)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "grant":
		if len(pos) != 1 {
			return &usageError{msg: fmt.Sprintf("trust grant: unexpected argument %q", pos[1]), cmd: "trust"}
		}
		return trustGrant(a, client.TrustRequest{Merchant: *merchant, Purse: *purse,
			PerTransfer: *perTransfer, PerDay: *perDay, PerMonth: *perMonth}, *confirm)
	case "list":
		if len(pos) != 1 {
			return &usageError{msg: fmt.Sprintf("trust list: unexpected argument %q", pos[1]), cmd: "trust"}
		}
		return trustList(a)
	case "revoke":
		if len(pos) != 2 {
			return &usageError{msg: "trust revoke: name the trust ID", cmd: "trust"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		if err := c.RevokeTrust(a.ctx, pos[1]); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		return a.showf(map[string]any{"trust_id": pos[1], "revoked": true}, "Trust %s is revoked.\n", pos[1])
	}
	return &usageError{msg: fmt.Sprintf("trust: unknown subcommand %q (grant, list, revoke)", pos[0]), cmd: "trust"}
}

// trustGrant checks and sends a trust as given on the command line.
func trustGrant(a *app, req client.TrustRequest, confirm string) error {
	if err := required("trust grant", "--merchant", req.Merchant, "--purse", req.Purse); err != nil {
		return err
	}
	for _, l := range []struct{ name, v string }{{"--per-transfer", req.PerTransfer}, {"--per-day", req.PerDay}, {"--per-month", req.PerMonth}} {
		if l.v != "" && !client.ValidAmount(strings.TrimSpace(l.v)) {
			return &usageError{msg: fmt.Sprintf("trust grant: %s %q is not a positive decimal such as 50.00", l.name, l.v), cmd: "trust"}
		}
	}
	ctx, err := confirmed(a, "trust", confirm)
	if err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	t, err := c.GrantTrust(ctx, client.TrustRequest{Merchant: strings.TrimSpace(req.Merchant), Purse: strings.TrimSpace(req.Purse),
		PerTransfer: strings.TrimSpace(req.PerTransfer), PerDay: strings.TrimSpace(req.PerDay), PerMonth: strings.TrimSpace(req.PerMonth)})
	if err != nil {
		if client.IsCode(err, "confirmation_required") {
			return sentence(err, "%s; repeat the command with --confirm CONFIRMATION_ID:CODE", clause(problemText(err)))
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(t, func() error {
		fmt.Fprintf(a.stdout, "Trust %s: member %s may debit %s (per transfer %s, per day %s, per month %s).\n",
			t.TrustID, t.Merchant, t.Purse, noLimit(t.PerTransfer), noLimit(t.PerDay), noLimit(t.PerMonth))
		fmt.Fprintf(a.stdout, "Revoke it at any time with: coffer trust revoke %s\n", t.TrustID)
		return nil
	})
}

func trustList(a *app) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Trusts(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	list.Given, list.Held = nonNil(list.Given), nonNil(list.Held)
	return a.show(list, func() error {
		if len(list.Given)+len(list.Held) == 0 {
			fmt.Fprintln(a.stdout, "No trusts.")
			return nil
		}
		for _, part := range []struct {
			title string
			list  []client.Trust
		}{{"Given by you:", list.Given}, {"Held by you as a merchant:", list.Held}} {
			if len(part.list) == 0 {
				continue
			}
			fmt.Fprintln(a.stdout, part.title)
			tw := a.table()
			fmt.Fprintln(tw, "  TRUST\tOWNER\tMERCHANT\tPURSE\tPER TRANSFER\tPER DAY\tPER MONTH\tSTATE")
			for _, t := range part.list {
				st := "active"
				if !t.RevokedAt.IsZero() {
					st = "revoked " + humanTime(t.RevokedAt)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TrustID, dash(t.Owner), t.Merchant, t.Purse,
					noLimit(t.PerTransfer), noLimit(t.PerDay), noLimit(t.PerMonth), st)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
}
