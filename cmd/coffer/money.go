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
	return a.show(map[string]any{"currencies": nonNil(list)}, func() error {
		tw := a.table()
		fmt.Fprintln(tw, "CODE\tLETTER\tDECIMALS")
		for _, cur := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", cur.Code, cur.Letter, cur.Decimals)
		}
		return tw.Flush()
	})
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
	return a.show(map[string]any{"purses": nonNil(list)}, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No purses yet. Open one with 'coffer purse new USD'.")
			return nil
		}
		balances := make([]string, len(list))
		held := make([]string, len(list))
		for i, p := range list {
			balances[i], held[i] = available(p), heldOf(p)
		}
		balances, held = padLeft(balances), padLeft(held)
		issuer := slices.ContainsFunc(list, func(p client.Purse) bool { return p.Issuer })
		tw := a.table()
		if issuer {
			fmt.Fprintln(tw, "PURSE\tCURRENCY\tAVAILABLE\tHELD\tISSUER LIMIT")
		} else {
			fmt.Fprintln(tw, "PURSE\tCURRENCY\tAVAILABLE\tHELD")
		}
		for i, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s", p.Purse, p.Currency, balances[i], held[i])
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
	})
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
	return a.show(p, func() error {
		tw := a.table()
		fmt.Fprintf(tw, "Purse:\t%s\n", p.Purse)
		fmt.Fprintf(tw, "Currency:\t%s\n", p.Currency)
		fmt.Fprintf(tw, "Available:\t%s\n", available(*p))
		fmt.Fprintf(tw, "Held:\t%s\n", heldOf(*p))
		if p.Issuer {
			fmt.Fprintf(tw, "Issuer:\tyes, limit %s\n", p.Limit)
		}
		return tw.Flush()
	})
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
	return a.showf(p, "New %s purse: %s (balance %s).\n", p.Currency, p.Purse, p.Balance)
}

func cmdSend(a *app, args []string) error {
	fs := a.flags("send")
	from := fs.String("from", "", "your `PURSE` to pay from")
	to := fs.String("to", "", "the payee's `PURSE`")
	amount := fs.String("amount", "", "the `AMOUNT` as a decimal, such as 12.50")
	desc := fs.String("desc", "", "a `TEXT` the payee sees with the transfer")
	id := fs.String("id", "", "the `TRANSFER_ID` (1-64 of A-Z a-z 0-9 . _ : -); made up when absent")
	protectCode := fs.String("protect-code", "", "protect the transfer with this `CODE` (4-32 characters): the payee enters it to receive the money")
	protectDays := fs.Int("protect-days", 0, "with --protect-code: `N` days (1-255) for the payee to enter the code, after which the money comes back")
	timeDays := fs.Int("protect-time-days", 0, "protect the transfer by time: the payee receives the money after `N` days (1-120) unless refused")
	invoice := fs.String("invoice", "", "pay this invoice `ID` (see 'coffer invoice pay')")
	trust := fs.String("trust", "", "debit a member's purse (--from) under the trust `ID` they gave you")
	if _, err := a.parse(fs, "send", args, 0, 0); err != nil {
		return err
	}
	protect, err := protectFlags(*protectCode, *protectDays, *timeDays)
	if err != nil {
		return err
	}
	forms := 0
	for _, set := range []bool{protect != nil, *invoice != "", *trust != ""} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		return &usageError{msg: "send: use at most one of protection, --invoice and --trust", cmd: "send"}
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
		Protect: protect, InvoiceID: strings.TrimSpace(*invoice), TrustID: strings.TrimSpace(*trust),
	}
	t, err := c.Send(a.ctx, req)
	if err != nil {
		return a.sendError(err, c.BaseURL(), cr.MemberID, req)
	}
	if t, err = a.confirmPending(c, cr, t, req); err != nil {
		return err
	}
	return a.show(t, func() error {
		a.printSent(t)
		return nil
	})
}

// protectFlags turns --protect-code, --protect-days and --protect-time-days
// into the protection asked for, or nil for none.
func protectFlags(code string, days, timeDays int) (*client.Protect, error) {
	bad := func(format string, args ...any) error {
		return &usageError{msg: "send: " + fmt.Sprintf(format, args...), cmd: "send"}
	}
	switch {
	case code == "" && days == 0 && timeDays == 0:
		return nil, nil
	case timeDays != 0 && (code != "" || days != 0):
		return nil, bad("--protect-time-days excludes --protect-code and --protect-days")
	case code != "" && days == 0:
		return nil, bad("--protect-code needs --protect-days N (1-%d)", client.MaxProtectDays)
	case code == "" && days != 0:
		return nil, bad("--protect-days goes with --protect-code; for protection by time use --protect-time-days")
	}
	p := &client.Protect{Code: code, Days: days}
	if timeDays != 0 {
		p.Days = timeDays
	}
	if err := p.Check(); err != nil {
		return nil, bad("%v", err)
	}
	return p, nil
}

// confirmPending asks for the one-time code when the server holds a
// transfer (or invoice payment) for confirmation, and returns the transfer
// as confirmed; an applied transfer is returned as it is.
func (a *app) confirmPending(c *client.Client, cr *credentials, t *client.Transfer, req client.TransferRequest) (*client.Transfer, error) {
	if t.Status != client.StatusPendingConfirmation {
		return t, nil
	}
	how := t.Method
	if how == "" {
		how = "your second factor"
	}
	if t.Challenge != "" {
		how += ", challenge " + t.Challenge + ": 'coffer otp answer " + t.Challenge + "' answers it"
	}
	fee := ""
	if nonZeroAmount(t.Fee) {
		fee = ", fee " + t.Fee
	}
	code, err := a.readSecret("COFFER_CODE", "One-time code to confirm the transfer ("+how+fee+"): ", "one-time code")
	if err != nil {
		return nil, fmt.Errorf("transfer %s waits for a one-time code (%s) and is not applied: %w", t.TransferID, how, err)
	}
	if t, err = c.ConfirmTransfer(a.ctx, req.TransferID, strings.TrimSpace(code)); err != nil {
		if client.IsCode(err, "unauthorized") || client.IsCode(err, "confirmation_failed") || client.IsCode(err, "confirmation_void") {
			return nil, sentence(err, "transfer %s is not applied: the one-time code is wrong or has expired", req.TransferID)
		}
		return nil, a.sendError(err, c.BaseURL(), cr.MemberID, req)
	}
	return t, nil
}

// printSent tells what a send (or an invoice payment, a refund) did.
func (a *app) printSent(t *client.Transfer) {
	cur := ""
	if t.Currency != "" {
		cur = " " + t.Currency
	}
	note := t.Status
	if t.Replayed {
		note = "already " + t.Status + " earlier; not paid again"
	}
	if nonZeroAmount(t.Fee) {
		note += ", fee " + t.Fee + cur
	}
	verb := "Sent"
	if t.Kind == client.KindRefund {
		verb = "Refunded"
	}
	fmt.Fprintf(a.stdout, "%s %s%s from %s to %s: transfer %s, %s.\n", verb, t.Amount, cur, t.From, t.To, t.TransferID, note)
	if p := t.Protection; p != nil && t.Status == client.StatusHeld {
		if p.ByCode {
			fmt.Fprintf(a.stdout, "Protected by code: the payee receives it on entering the code by %s; otherwise it comes back.\n", humanTime(p.Until))
		} else {
			fmt.Fprintf(a.stdout, "Protected by time: the payee receives it at %s unless they refuse it.\n", humanTime(p.Until))
		}
	}
	if t.InvoiceID != "" {
		fmt.Fprintf(a.stdout, "Pays invoice %s.\n", t.InvoiceID)
	}
}

// zeroAmount reports whether a decimal string is zero ("0.00").
func zeroAmount(s string) bool {
	return strings.Trim(s, "0.") == "" && s != ""
}

// nonZeroAmount reports whether a decimal string is given and not zero.
func nonZeroAmount(s string) bool {
	return s != "" && !zeroAmount(s)
}

// noLimit shows an empty or zero limit as "none".
func noLimit(s string) string {
	if !nonZeroAmount(s) {
		return "none"
	}
	return s
}

// amountColumns right-aligns the amounts and balances of n rows of
// movements, row giving each.
func amountColumns(n int, row func(i int) (amount, balance string)) (amounts, balances []string) {
	amounts, balances = make([]string, n), make([]string, n)
	for i := range n {
		amounts[i], balances[i] = row(i)
	}
	return padLeft(amounts), padLeft(balances)
}

// available is a purse's money to spend; a server without held money
// sends only the balance.
func available(p client.Purse) string {
	if p.Available != "" {
		return p.Available
	}
	return p.Balance
}

// heldOf is a purse's held money, "-" when the server does not say.
func heldOf(p client.Purse) string {
	if p.Held != "" {
		return p.Held
	}
	return "-"
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
	csv := fs.Bool("csv", false, "print the statement of the period (default: this month) as CSV")
	stmt := fs.Bool("statement", false, "print the statement of the period: opening, movements oldest first, closing")
	pos, err := a.parse(fs, "history", args, 1, 1)
	if err != nil {
		return err
	}
	paging := *limit != 0 || *all || *cursor != ""
	if (*csv || *stmt) && paging {
		return &usageError{msg: "history: a statement (--csv, --statement) has no pages: drop --limit, --all and --cursor", cmd: "history"}
	}
	if *csv && a.json {
		return &usageError{msg: "history: choose --csv or --json", cmd: "history"}
	}
	if *csv || *stmt || a.json && !paging {
		var opts client.StatementOptions
		if opts.Since, err = parseTime("since", *since); err != nil {
			return err
		}
		if opts.Until, err = parseTime("until", *until); err != nil {
			return err
		}
		return statement(a, pos[0], opts, *csv)
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
	return a.show(page, func() error {
		if len(page.Entries) == 0 {
			fmt.Fprintf(a.stdout, "No movements in %s.\n", purse)
			return nil
		}
		amounts, balances := amountColumns(len(page.Entries), func(i int) (string, string) {
			return page.Entries[i].Amount, page.Entries[i].BalanceAfter
		})
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
	})
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
	return a.show(t, func() error {
		tw := a.table()
		fmt.Fprintf(tw, "Transfer:\t%s\n", t.TransferID)
		fmt.Fprintf(tw, "From:\t%s\n", t.From)
		fmt.Fprintf(tw, "To:\t%s\n", t.To)
		fmt.Fprintf(tw, "Amount:\t%s %s\n", t.Amount, t.Currency)
		if nonZeroAmount(t.Fee) {
			fmt.Fprintf(tw, "Fee:\t%s %s\n", t.Fee, t.Currency)
		}
		if t.Kind != "" && t.Kind != client.KindTransfer {
			fmt.Fprintf(tw, "Kind:\t%s\n", t.Kind)
		}
		fmt.Fprintf(tw, "Status:\t%s\n", t.Status)
		if p := t.Protection; p != nil {
			how := "by time, released"
			if p.ByCode {
				how = fmt.Sprintf("by code (%d tries left), to be released by", p.AttemptsLeft)
			}
			fmt.Fprintf(tw, "Protection:\t%s %s\n", how, humanTime(p.Until))
		}
		if t.InvoiceID != "" {
			fmt.Fprintf(tw, "Invoice:\t%s\n", t.InvoiceID)
		}
		if t.TrustID != "" {
			fmt.Fprintf(tw, "Trust:\t%s\n", t.TrustID)
		}
		if t.RefundOf != nil {
			fmt.Fprintf(tw, "Refund of:\t%s from %s\n", t.RefundOf.TransferID, t.RefundOf.From)
		}
		if nonZeroAmount(t.Refunded) {
			fmt.Fprintf(tw, "Refunded:\t%s %s\n", t.Refunded, t.Currency)
		}
		fmt.Fprintf(tw, "Created:\t%s\n", humanTime(t.CreatedAt))
		if t.Description != "" {
			fmt.Fprintf(tw, "Description:\t%s\n", oneLine(t.Description))
		}
		return tw.Flush()
	})
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
	return a.showf(o, "Purse %s belongs to member %s.\n", pos[0], o.MemberID)
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
