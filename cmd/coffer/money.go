package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer/client"
)

func cmdCurrencies(a *app, args []string) error {
	fs := a.flags("currencies")
	if _, err := a.parse(fs, "currencies", args, 0, 0); err != nil {
		return err
	}
	c, err := a.optionalSession()
	if err != nil {
		return err
	}
	list, err := c.Currencies(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), "")
	}
	if a.json {
		return a.printJSON(map[string]any{"currencies": nonNil(list)})
	}
	tw := a.table()
	fmt.Fprintln(tw, "CODE\tLETTER\tDECIMALS")
	for _, cur := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", cur.Code, cur.Letter, cur.Decimals)
	}
	return tw.Flush()
}

func cmdPurses(a *app, args []string) error {
	fs := a.flags("purses")
	if _, err := a.parse(fs, "purses", args, 0, 0); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Purses(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if a.json {
		return a.printJSON(map[string]any{"purses": nonNil(list)})
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "No purses yet. Open one with 'coffer purse new USD'.")
		return nil
	}
	balances := make([]string, len(list))
	for i, p := range list {
		balances[i] = p.Balance
	}
	balances = padLeft(balances)
	issuer := slices.ContainsFunc(list, func(p client.Purse) bool { return p.Issuer })
	tw := a.table()
	if issuer {
		fmt.Fprintln(tw, "PURSE\tCURRENCY\tBALANCE\tISSUER LIMIT")
	} else {
		fmt.Fprintln(tw, "PURSE\tCURRENCY\tBALANCE")
	}
	for i, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s", p.Purse, p.Currency, balances[i])
		if issuer {
			// Every row gets the cell, or tabwriter misaligns the column.
			limit := "-"
			if p.Issuer && p.Limit != "" {
				limit = p.Limit
			}
			fmt.Fprintf(tw, "\t%s", limit)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func cmdPurse(a *app, args []string) error {
	if len(args) > 0 && args[0] == "limits" {
		return cmdPurseLimits(a, args[1:])
	}
	fs := a.flags("purse")
	pos, err := a.parse(fs, "purse", args, 1, 2)
	if err != nil {
		return err
	}
	if pos[0] == "new" {
		if len(pos) != 2 {
			return &usageError{msg: "purse new: name the currency, as in 'coffer purse new USD'", cmd: "purse"}
		}
		return newPurse(a, strings.ToUpper(pos[1]))
	}
	if len(pos) != 1 {
		return &usageError{msg: fmt.Sprintf("purse: unexpected argument %q", pos[1]), cmd: "purse"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	p, err := c.Purse(a.ctx, pos[0])
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if a.json {
		return a.printJSON(p)
	}
	tw := a.table()
	fmt.Fprintf(tw, "Purse:\t%s\n", p.Purse)
	fmt.Fprintf(tw, "Currency:\t%s\n", p.Currency)
	fmt.Fprintf(tw, "Balance:\t%s\n", p.Balance)
	if p.Issuer {
		fmt.Fprintf(tw, "Issuer:\tyes, limit %s\n", p.Limit)
	}
	return tw.Flush()
}

func newPurse(a *app, currency string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	p, err := c.CreatePurse(a.ctx, currency)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if a.json {
		return a.printJSON(p)
	}
	fmt.Fprintf(a.stdout, "New %s purse: %s (balance %s).\n", p.Currency, p.Purse, p.Balance)
	return nil
}

func cmdSend(a *app, args []string) error {
	fs := a.flags("send")
	from := fs.String("from", "", "your `PURSE` to pay from")
	to := fs.String("to", "", "the payee's `PURSE`")
	amount := fs.String("amount", "", "the `AMOUNT` as a decimal, such as 12.50")
	desc := fs.String("desc", "", "a `TEXT` the payee sees with the transfer")
	id := fs.String("id", "", "the `TRANSFER_ID` (1-64 of A-Z a-z 0-9 . _ : -); made up when absent")
	if _, err := a.parse(fs, "send", args, 0, 0); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--from", *from}, {"--to", *to}, {"--amount", *amount}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return &usageError{msg: "send: missing " + strings.Join(missing, ", "), cmd: "send"}
	}
	if *id == "" {
		*id = client.NewTransferID()
	} else if !client.ValidTransferID(*id) {
		return &usageError{msg: fmt.Sprintf("send: invalid transfer ID %q: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'", *id), cmd: "send"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	req := client.TransferRequest{
		TransferID: *id, From: strings.TrimSpace(*from), To: strings.TrimSpace(*to),
		Amount: strings.TrimSpace(*amount), Description: *desc,
	}
	t, err := c.Send(a.ctx, req)
	if err != nil {
		return a.sendError(err, c.BaseURL(), cr.MemberID, req)
	}
	if t.Status == client.StatusPendingConfirmation {
		how := t.Method
		if how == "" {
			how = "your second factor"
		}
		if t.Challenge != "" {
			how += ", challenge " + t.Challenge + ": 'coffer otp answer " + t.Challenge + "' answers it"
		}
		code, err := a.readSecret("COFFER_CODE", "One-time code to confirm the transfer ("+how+"): ", "one-time code")
		if err != nil {
			return fmt.Errorf("transfer %s waits for a one-time code (%s) and is not applied: %w", t.TransferID, how, err)
		}
		if t, err = c.ConfirmTransfer(a.ctx, req.TransferID, strings.TrimSpace(code)); err != nil {
			if client.IsCode(err, "unauthorized") || client.IsCode(err, "confirmation_failed") || client.IsCode(err, "confirmation_void") {
				return sentence(err, "transfer %s is not applied: the one-time code is wrong or has expired", req.TransferID)
			}
			return a.sendError(err, c.BaseURL(), cr.MemberID, req)
		}
	}
	if a.json {
		return a.printJSON(t)
	}
	cur := ""
	if t.Currency != "" {
		cur = " " + t.Currency
	}
	note := t.Status
	if t.Replayed {
		note = "already " + t.Status + " earlier; not paid again"
	}
	fmt.Fprintf(a.stdout, "Sent %s%s from %s to %s: transfer %s, %s.\n", t.Amount, cur, t.From, t.To, t.TransferID, note)
	return nil
}

// sendError explains a failed send. A refusal means the money did not
// move; any other failure leaves it unknown, so the member is told how to
// retry safely with the same transfer ID.
func (a *app) sendError(err error, server, member string, req client.TransferRequest) error {
	var e *client.Error
	refused := errors.As(err, &e) && !e.Temporary()
	if refused {
		switch e.Code {
		case "insufficient_funds":
			// Say how much there is, when the purse can be read.
			if c, _, cerr := a.session(); cerr == nil {
				if p, perr := c.Purse(a.ctx, req.From); perr == nil {
					return sentence(err, "insufficient funds in %s: it holds %s %s, less than %s", req.From, p.Balance, p.Currency, req.Amount)
				}
			}
			return sentence(err, "insufficient funds in %s: %s", req.From, clause(e.Error()))
		case "idempotency_conflict":
			return sentence(err, "transfer ID %s was already used for a different transfer: choose another --id, or leave --id out", req.TransferID)
		case "purse_not_found":
			return sentence(err, "%s (check --from %s and --to %s)", clause(e.Error()), req.From, req.To)
		}
		return sentence(err, "%s (transfer %s was not applied)", clause(a.explain(err, server, member).Error()), req.TransferID)
	}
	return sentence(err, "%s; whether transfer %s was applied is unknown: run the same command with --id %s to finish it safely (it never pays twice)",
		clause(a.explain(err, server, member).Error()), req.TransferID, req.TransferID)
}

func cmdHistory(a *app, args []string) error {
	fs := a.flags("history")
	limit := fs.Int("limit", 0, "show at most `N` entries per page (default: the server's)")
	all := fs.Bool("all", false, "show every page, not just the first")
	since := fs.String("since", "", "only entries at or after `T`")
	until := fs.String("until", "", "only entries before `T`")
	cursor := fs.String("cursor", "", "continue from a previous page's `CURSOR`")
	pos, err := a.parse(fs, "history", args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return &usageError{msg: "history: --limit must be positive", cmd: "history"}
	}
	opts := client.HistoryOptions{Limit: *limit, Cursor: *cursor}
	if opts.Since, err = parseTime("since", *since); err != nil {
		return err
	}
	if opts.Until, err = parseTime("until", *until); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	purse := pos[0]

	var page client.HistoryPage
	if *all {
		for e, err := range c.HistoryAll(a.ctx, purse, opts) {
			if err != nil {
				return a.explain(err, c.BaseURL(), cr.MemberID)
			}
			page.Entries = append(page.Entries, e)
		}
	} else {
		p, err := c.History(a.ctx, purse, opts)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		page = *p
	}
	page.Entries = nonNil(page.Entries)
	if a.json {
		return a.printJSON(page)
	}
	if len(page.Entries) == 0 {
		fmt.Fprintf(a.stdout, "No movements in %s.\n", purse)
		return nil
	}
	amounts := make([]string, len(page.Entries))
	balances := make([]string, len(page.Entries))
	for i, e := range page.Entries {
		amounts[i], balances[i] = e.Amount, e.BalanceAfter
	}
	amounts, balances = padLeft(amounts), padLeft(balances)
	tw := a.table()
	fmt.Fprintln(tw, "DATE\tAMOUNT\tBALANCE\tCOUNTERPARTY\tTRANSFER\tDESCRIPTION")
	for i, e := range page.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", humanTime(e.CreatedAt), amounts[i], balances[i],
			e.Counterparty, e.TransferID, oneLine(e.Description))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(a.stdout, "More: coffer history %s --cursor %s (or --all)\n", purse, page.NextCursor)
	}
	return nil
}

// parseTime reads a --since or --until value: RFC 3339, or a date taken as
// local midnight.
func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, &usageError{
		msg: fmt.Sprintf("history: --%s %q is not a time: use 2030-01-31 or 2030-01-31T12:00:00Z", flagName, s),
		cmd: "history",
	}
}

func cmdTransfer(a *app, args []string) error {
	fs := a.flags("transfer")
	pos, err := a.parse(fs, "transfer", args, 1, 1)
	if err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	t, err := c.GetTransfer(a.ctx, pos[0])
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if a.json {
		return a.printJSON(t)
	}
	tw := a.table()
	fmt.Fprintf(tw, "Transfer:\t%s\n", t.TransferID)
	fmt.Fprintf(tw, "From:\t%s\n", t.From)
	fmt.Fprintf(tw, "To:\t%s\n", t.To)
	fmt.Fprintf(tw, "Amount:\t%s %s\n", t.Amount, t.Currency)
	fmt.Fprintf(tw, "Status:\t%s\n", t.Status)
	fmt.Fprintf(tw, "Created:\t%s\n", humanTime(t.CreatedAt))
	if t.Description != "" {
		fmt.Fprintf(tw, "Description:\t%s\n", oneLine(t.Description))
	}
	return tw.Flush()
}

func cmdWhois(a *app, args []string) error {
	fs := a.flags("whois")
	pos, err := a.parse(fs, "whois", args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.optionalSession()
	if err != nil {
		return err
	}
	o, err := c.Owner(a.ctx, pos[0])
	if err != nil {
		return a.explain(err, c.BaseURL(), "")
	}
	if a.json {
		return a.printJSON(o)
	}
	fmt.Fprintf(a.stdout, "Purse %s belongs to member %s.\n", pos[0], o.MemberID)
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nonZero makes a zero time encode as nothing rather than year 1.
func nonZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
