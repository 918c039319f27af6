package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer/client"
)

const invoiceHelp = `  invoice new --payer M --purse P --amount A --order N [--desc D] [--expires-in 72h]
                        ask member M to pay A into your purse P (order number N, unique to you)
  invoice list [--role payer|merchant] [--state S] [--limit N] [--all]
  invoice show ID
  invoice pay ID --from P [--id TRANSFER_ID]   pay it (confirmed like a send; safe to repeat with --id)
  invoice refuse ID     decline an invoice sent to you
  invoice cancel ID     withdraw an invoice you issued
--expires-in is hours as 72h (or days as 3d), at most 720h.`

const trustHelp = `  trust grant --merchant M --purse P [--per-transfer A] [--per-day A] [--per-month A] [--confirm ID:CODE]
                        let merchant M debit your purse P within the limits (none: no limit of that kind)
  trust list            the trusts you gave and those you hold as a merchant
  trust revoke ID       end a trust at once (as its giver or its merchant)
Granting a trust is a sensitive change: a member with a second factor confirms it
with --confirm CONFIRMATION_ID:CODE, as the server's answer tells. The merchant then
debits with 'coffer send --trust ID --from YOUR_PURSE --to THEIR_PURSE --amount A'.`

const batchHelp = `FILE is CSV with the columns transfer_id,from,to,amount,description (a header
row naming them is optional; description may be left out); "-" reads standard input.
Every row needs its own transfer_id: sending the same file again never pays twice,
and transfers made before are reported as replayed. Up to 1000 rows.
With --all-or-nothing either every transfer is made or none.
The exit status is 1 when any transfer was refused.
When your confirmation policy would ask a one-time code for a transfer, the server
refuses the whole batch: sign batch requests with a key file (--key).`

func cmdQuote(a *app, args []string) error {
	fs := a.flags("quote")
	from := fs.String("from", "", "your `PURSE` to pay from")
	to := fs.String("to", "", "the payee's `PURSE`")
	amount := fs.String("amount", "", "the `AMOUNT` as a decimal, such as 12.50")
	if _, err := a.parse(fs, "quote", args, 0, 0); err != nil {
		return err
	}
	if err := required("quote", "--from", *from, "--to", *to, "--amount", *amount); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	q, err := c.Quote(a.ctx, strings.TrimSpace(*from), strings.TrimSpace(*to), strings.TrimSpace(*amount))
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(q, "Sending %s %s costs %s %s (fee %s).\n", q.Amount, q.Currency, q.Total, q.Currency, q.Fee)
}

func cmdFees(a *app, args []string) error {
	fs := a.flags("fees")
	if _, err := a.parse(fs, "fees", args, 0, 0); err != nil {
		return err
	}
	c, err := a.optionalSession()
	if err != nil {
		return err
	}
	list, err := c.Fees(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), "")
	}
	return a.show(map[string]any{"fees": nonNil(list)}, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No fees: transfers are free.")
			return nil
		}
		tw := a.table()
		fmt.Fprintln(tw, "CURRENCY\tPERCENT\tMIN\tMAX")
		for _, f := range list {
			fmt.Fprintf(tw, "%s\t%s %%\t%s\t%s\n", f.Currency, f.Percent, dash(f.Min), noLimit(f.Max))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "The sender pays the fee on top of the amount. Transfers between your own purses and refunds are free.")
		return nil
	})
}

func cmdHeld(a *app, args []string) error {
	fs := a.flags("held")
	if _, err := a.parse(fs, "held", args, 0, 0); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	h, err := c.HeldTransfers(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	h.Sent, h.Incoming = nonNil(h.Sent), nonNil(h.Incoming)
	return a.show(h, func() error {
		if len(h.Sent)+len(h.Incoming) == 0 {
			fmt.Fprintln(a.stdout, "No protected transfers are held.")
			return nil
		}
		for _, part := range []struct {
			title string
			list  []client.Transfer
		}{{"Waiting for you (release with 'coffer release TRANSFER_ID --from PURSE --code C', or refuse):", h.Incoming},
			{"Sent by you, waiting for the payee:", h.Sent}} {
			if len(part.list) == 0 {
				continue
			}
			fmt.Fprintln(a.stdout, part.title)
			amounts := make([]string, len(part.list))
			for i, t := range part.list {
				amounts[i] = t.Amount + " " + t.Currency
			}
			amounts = padLeft(amounts)
			tw := a.table()
			fmt.Fprintln(tw, "  TRANSFER\tFROM\tTO\tAMOUNT\tPROTECTION\tUNTIL\tDESCRIPTION")
			for i, t := range part.list {
				how, until := "-", "-"
				if p := t.Protection; p != nil {
					how, until = "time", humanTime(p.Until)
					if p.ByCode {
						how = fmt.Sprintf("code (%d tries)", p.AttemptsLeft)
					}
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TransferID, t.From, t.To, amounts[i], how, until, oneLine(t.Description))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
}

func cmdRelease(a *app, args []string) error {
	return holdCommand(a, "release", args)
}

func cmdRefuse(a *app, args []string) error {
	return holdCommand(a, "refuse", args)
}

// holdCommand is "coffer release|refuse TRANSFER_ID --from PURSE".
func holdCommand(a *app, name string, args []string) error {
	fs := a.flags(name)
	from := fs.String("from", "", "the sender's `PURSE` the transfer came from")
	var code *string
	if name == "release" {
		code = fs.String("code", "", "the protection `CODE` the sender gave you (none for protection by time); else COFFER_PROTECT_CODE")
	}
	pos, err := a.parse(fs, name, args, 1, 1)
	if err != nil {
		return err
	}
	if err := required(name, "--from", *from); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	id, purse := pos[0], strings.TrimSpace(*from)
	var t *client.Transfer
	if name == "release" {
		pc := *code
		if pc == "" {
			pc = a.env("COFFER_PROTECT_CODE")
		}
		t, err = c.Release(a.ctx, id, purse, strings.TrimSpace(pc))
	} else {
		t, err = c.Refuse(a.ctx, id, purse)
	}
	if err != nil {
		switch client.ErrorCode(err) {
		case "wrong_protection_code":
			left := ""
			if cur, gerr := c.GetTransferFrom(a.ctx, id, purse); gerr == nil && cur.Protection != nil && cur.Status == client.StatusHeld {
				left = fmt.Sprintf(" (%d tries left before it goes back)", cur.Protection.AttemptsLeft)
			}
			return sentence(err, "%s: the protection code is wrong%s", id, left)
		case "transfer_not_held":
			return sentence(err, "transfer %s from %s is no longer held (released, returned or expired): see 'coffer transfer %s'", id, purse, id)
		case "not_found":
			return sentence(err, "no held transfer %s from %s is waiting for you (check the ID and --from)", id, purse)
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(t, func() error {
		done := "Released"
		if name == "refuse" {
			done = "Refused"
		}
		note := ""
		if t.Replayed {
			note = " (already done by an earlier try)"
		}
		fmt.Fprintf(a.stdout, "%s %s %s from %s: transfer %s, %s%s.\n", done, t.Amount, t.Currency, t.From, t.TransferID, t.Status, note)
		return nil
	})
}

func cmdRefund(a *app, args []string) error {
	fs := a.flags("refund")
	from := fs.String("from", "", "the `PURSE` the original transfer came from")
	amount := fs.String("amount", "", "the `AMOUNT` to give back (all or part of it)")
	id := fs.String("id", "", "the refund's own `TRANSFER_ID`; made up when absent")
	desc := fs.String("desc", "", "a `TEXT` the payer sees with the refund")
	pos, err := a.parse(fs, "refund", args, 1, 1)
	if err != nil {
		return err
	}
	if err := required("refund", "--from", *from, "--amount", *amount); err != nil {
		return err
	}
	if *id == "" {
		*id = client.NewTransferID()
	} else if !client.ValidTransferID(*id) {
		return &usageError{msg: fmt.Sprintf("refund: invalid transfer ID %q: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'", *id), cmd: "refund"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	req := client.RefundRequest{TransferID: *id, Of: client.TransferRef{TransferID: pos[0], From: strings.TrimSpace(*from)},
		Amount: strings.TrimSpace(*amount), Description: *desc}
	t, err := c.Refund(a.ctx, req)
	if err != nil {
		if client.IsCode(err, "refund_not_allowed") {
			return sentence(err, "refund of %s refused: %s", pos[0], clause(problemText(err)))
		}
		return a.sendError(err, c.BaseURL(), cr.MemberID, client.TransferRequest{TransferID: *id, From: "your purse", To: req.Of.From, Amount: req.Amount})
	}
	return a.show(t, func() error {
		a.printSent(t)
		return nil
	})
}

func cmdInvoice(a *app, args []string) error {
	fs := a.flags("invoice")
	payer := fs.String("payer", "", "the member `ID` asked to pay (new)")
	purse := fs.String("purse", "", "your `PURSE` to be paid into (new)")
	amount := fs.String("amount", "", "the `AMOUNT` (new)")
	order := fs.String("order", "", "your order `NUMBER`, unique among your invoices (new)")
	desc := fs.String("desc", "", "what the invoice is for (new)")
	expires := fs.String("expires-in", "", "how long it may be paid: `72h` or 3d, at most 720h (new; default 72h)")
	role := fs.String("role", "", "payer (to pay) or merchant (issued) (list)")
	state := fs.String("state", "", "only invoices in `STATE`: pending, paid, refused, cancelled, expired (list)")
	limit := fs.Int("limit", 0, "at most `N` per page (list)")
	all := fs.Bool("all", false, "every page (list)")
	from := fs.String("from", "", "your `PURSE` to pay from (pay)")
	id := fs.String("id", "", "the payment's `TRANSFER_ID` (pay); made up when absent")
	pos, err := a.parse(fs, "invoice", args, 1, 2)
	if err != nil {
		return err
	}
	sub := pos[0]
	needID := func() (string, error) {
		if len(pos) != 2 {
			return "", &usageError{msg: "invoice " + sub + ": name the invoice ID", cmd: "invoice"}
		}
		return pos[1], nil
	}
	switch sub {
	case "new":
		if len(pos) != 1 {
			return &usageError{msg: fmt.Sprintf("invoice new: unexpected argument %q", pos[1]), cmd: "invoice"}
		}
		if err := required("invoice new", "--payer", *payer, "--purse", *purse, "--amount", *amount, "--order", *order); err != nil {
			return err
		}
		hours, err := parseHours(*expires)
		if err != nil {
			return err
		}
		return invoiceNew(a, client.InvoiceRequest{Payer: strings.TrimSpace(*payer), Purse: strings.TrimSpace(*purse),
			Amount: strings.TrimSpace(*amount), Description: *desc, OrderNumber: strings.TrimSpace(*order), ExpiresInHours: hours})
	case "list":
		if len(pos) != 1 {
			return &usageError{msg: fmt.Sprintf("invoice list: unexpected argument %q", pos[1]), cmd: "invoice"}
		}
		switch *role {
		case "", "payer", "merchant":
		default:
			return &usageError{msg: fmt.Sprintf("invoice list: --role is payer or merchant, not %q", *role), cmd: "invoice"}
		}
		if *limit < 0 {
			return &usageError{msg: "invoice list: --limit must be positive", cmd: "invoice"}
		}
		return invoiceList(a, client.InvoiceOptions{Role: *role, State: *state, Limit: *limit}, *all)
	case "show", "refuse", "cancel":
		invID, err := needID()
		if err != nil {
			return err
		}
		return invoiceShow(a, sub, invID)
	case "pay":
		invID, err := needID()
		if err != nil {
			return err
		}
		if err := required("invoice pay", "--from", *from); err != nil {
			return err
		}
		if *id == "" {
			*id = client.NewTransferID()
		} else if !client.ValidTransferID(*id) {
			return &usageError{msg: fmt.Sprintf("invoice pay: invalid transfer ID %q", *id), cmd: "invoice"}
		}
		return invoicePay(a, invID, strings.TrimSpace(*from), *id)
	}
	return &usageError{msg: fmt.Sprintf("invoice: unknown subcommand %q (new, list, show, pay, refuse, cancel)", sub), cmd: "invoice"}
}

// parseHours reads --expires-in: a duration in whole hours ("72h") or
// days ("3d"); "" leaves the server's default.
func parseHours(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	bad := &usageError{msg: fmt.Sprintf("invoice new: --expires-in %q: use whole hours such as 72h, or days such as 3d, up to %dh", s, client.MaxInvoiceHours), cmd: "invoice"}
	var hours int
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, bad
		}
		hours = n * 24
	} else {
		d, err := time.ParseDuration(s)
		if err != nil || d%time.Hour != 0 {
			return 0, bad
		}
		hours = int(d / time.Hour)
	}
	if hours < 1 || hours > client.MaxInvoiceHours {
		return 0, bad
	}
	return hours, nil
}

func invoiceNew(a *app, req client.InvoiceRequest) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	inv, err := c.CreateInvoice(a.ctx, req)
	if err != nil {
		if client.IsCode(err, "conflict") {
			return sentence(err, "order number %s is already on one of your invoices: see 'coffer invoice list --role merchant'", req.OrderNumber)
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(inv, func() error {
		fmt.Fprintf(a.stdout, "Invoice %s: %s %s from member %s into %s (order %s), payable until %s.\n",
			inv.InvoiceID, inv.Amount, inv.Currency, inv.Payer, inv.Purse, inv.OrderNumber, humanTime(inv.ExpiresAt))
		fmt.Fprintf(a.stdout, "The payer pays it with: coffer invoice pay %s --from PURSE\n", inv.InvoiceID)
		return nil
	})
}

func invoiceList(a *app, opts client.InvoiceOptions, all bool) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	var page client.InvoicePage
	seen := map[string]bool{}
	for {
		p, err := c.Invoices(a.ctx, opts)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		page.Invoices = append(page.Invoices, p.Invoices...)
		page.NextCursor = p.NextCursor
		if !all || p.NextCursor == "" || seen[p.NextCursor] {
			break
		}
		seen[p.NextCursor] = true
		opts.Cursor = p.NextCursor
	}
	page.Invoices = nonNil(page.Invoices)
	if all {
		page.NextCursor = ""
	}
	return a.show(page, func() error {
		if len(page.Invoices) == 0 {
			fmt.Fprintln(a.stdout, "No invoices.")
			return nil
		}
		amounts := make([]string, len(page.Invoices))
		for i, inv := range page.Invoices {
			amounts[i] = inv.Amount + " " + inv.Currency
		}
		amounts = padLeft(amounts)
		tw := a.table()
		fmt.Fprintln(tw, "INVOICE\tSTATE\tAMOUNT\tMERCHANT\tPAYER\tORDER\tEXPIRES\tDESCRIPTION")
		for i, inv := range page.Invoices {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inv.InvoiceID, inv.State, amounts[i], inv.Merchant, inv.Payer,
				oneLine(inv.OrderNumber), humanTime(inv.ExpiresAt), oneLine(inv.Description))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.NextCursor != "" {
			fmt.Fprintln(a.stdout, "More: add --all")
		}
		return nil
	})
}

func invoiceShow(a *app, sub, id string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	var inv *client.Invoice
	switch sub {
	case "show":
		inv, err = c.Invoice(a.ctx, id)
	case "refuse":
		inv, err = c.RefuseInvoice(a.ctx, id)
	case "cancel":
		inv, err = c.CancelInvoice(a.ctx, id)
	}
	if err != nil {
		if client.IsCode(err, "invoice_not_payable") {
			return sentence(err, "invoice %s is no longer pending: %s", id, clause(problemText(err)))
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(inv, func() error {
		tw := a.table()
		fmt.Fprintf(tw, "Invoice:\t%s\n", inv.InvoiceID)
		fmt.Fprintf(tw, "State:\t%s\n", inv.State)
		fmt.Fprintf(tw, "Amount:\t%s %s\n", inv.Amount, inv.Currency)
		fmt.Fprintf(tw, "Merchant:\t%s (purse %s)\n", inv.Merchant, inv.Purse)
		fmt.Fprintf(tw, "Payer:\t%s\n", inv.Payer)
		fmt.Fprintf(tw, "Order:\t%s\n", oneLine(inv.OrderNumber))
		if inv.Description != "" {
			fmt.Fprintf(tw, "Description:\t%s\n", oneLine(inv.Description))
		}
		fmt.Fprintf(tw, "Created:\t%s\n", humanTime(inv.CreatedAt))
		fmt.Fprintf(tw, "Expires:\t%s\n", humanTime(inv.ExpiresAt))
		if inv.TransferID != "" {
			fmt.Fprintf(tw, "Paid by:\ttransfer %s\n", inv.TransferID)
		}
		return tw.Flush()
	})
}

func invoicePay(a *app, invoiceID, from, id string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	req := client.TransferRequest{TransferID: id, From: from, To: "the merchant", InvoiceID: invoiceID}
	t, err := c.PayInvoice(a.ctx, invoiceID, id, from)
	if err != nil {
		if client.IsCode(err, "invoice_not_payable") {
			return sentence(err, "invoice %s cannot be paid: %s", invoiceID, clause(problemText(err)))
		}
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
		if err := required("trust grant", "--merchant", *merchant, "--purse", *purse); err != nil {
			return err
		}
		for _, l := range []struct{ name, v string }{{"--per-transfer", *perTransfer}, {"--per-day", *perDay}, {"--per-month", *perMonth}} {
			if l.v != "" && !client.ValidAmount(strings.TrimSpace(l.v)) {
				return &usageError{msg: fmt.Sprintf("trust grant: %s %q is not a positive decimal such as 50.00", l.name, l.v), cmd: "trust"}
			}
		}
		ctx, err := confirmed(a, "trust", *confirm)
		if err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		t, err := c.GrantTrust(ctx, client.TrustRequest{Merchant: strings.TrimSpace(*merchant), Purse: strings.TrimSpace(*purse),
			PerTransfer: strings.TrimSpace(*perTransfer), PerDay: strings.TrimSpace(*perDay), PerMonth: strings.TrimSpace(*perMonth)})
		if err != nil {
			if client.IsCode(err, "confirmation_required") {
				return sentence(err, "%s; repeat the command with --confirm CONFIRMATION_ID:CODE", clause(problemText(err)))
			}
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(t)
		}
		fmt.Fprintf(a.stdout, "Trust %s: member %s may debit %s (per transfer %s, per day %s, per month %s).\n",
			t.TrustID, t.Merchant, t.Purse, noLimit(t.PerTransfer), noLimit(t.PerDay), noLimit(t.PerMonth))
		fmt.Fprintf(a.stdout, "Revoke it at any time with: coffer trust revoke %s\n", t.TrustID)
		return nil
	case "list":
		if len(pos) != 1 {
			return &usageError{msg: fmt.Sprintf("trust list: unexpected argument %q", pos[1]), cmd: "trust"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		list, err := c.Trusts(a.ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		list.Given, list.Held = nonNil(list.Given), nonNil(list.Held)
		if a.json {
			return a.printJSON(list)
		}
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

// statement is "coffer history PURSE --csv|--json|--statement": the
// statement of a period rather than pages of movements.
func statement(a *app, purse string, opts client.StatementOptions, csv bool) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if csv {
		if _, err := c.StatementCSV(a.ctx, purse, opts, a.stdout); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		return nil
	}
	st, err := c.Statement(a.ctx, purse, opts)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	st.Entries = nonNil(st.Entries)
	return a.show(st, func() error {
		fmt.Fprintf(a.stdout, "Statement of %s (%s) from %s to %s\n", st.Purse, st.Currency, humanTime(st.Since), humanTime(st.Until))
		fmt.Fprintf(a.stdout, "Opening: available %s, held %s\n", st.Opening.Available, st.Opening.Held)
		if len(st.Entries) > 0 {
			amounts, balances := amountColumns(len(st.Entries), func(i int) (string, string) {
				return st.Entries[i].Amount, st.Entries[i].BalanceAfter
			})
			tw := a.table()
			fmt.Fprintln(tw, "DATE\tKIND\tAMOUNT\tBALANCE\tCOUNTERPARTY\tTRANSFER\tDESCRIPTION")
			for i, e := range st.Entries {
				kind := e.Kind
				if e.Held {
					kind += " (held)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", humanTime(e.At), kind, amounts[i], balances[i], e.Counterparty, e.TransferID, oneLine(e.Description))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(a.stdout, "Closing: available %s, held %s\n", st.Closing.Available, st.Closing.Held)
		return nil
	})
}

func cmdSendBatch(a *app, args []string) error {
	fs := a.flags("send-batch")
	allOrNothing := fs.Bool("all-or-nothing", false, "make every transfer or none")
	pos, err := a.parse(fs, "send-batch", args, 1, 1)
	if err != nil {
		return err
	}
	var r io.Reader = a.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	transfers, err := client.ParseBatchCSV(io.LimitReader(r, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	res, err := c.SendBatch(a.ctx, transfers, *allOrNothing)
	if err != nil {
		var e *client.Error
		switch {
		case client.IsCode(err, "confirmation_required"):
			return sentence(err, "%s (nothing was sent)", clause(problemText(err)))
		case errors.As(err, &e) && !e.Temporary():
			return sentence(err, "%s (nothing was sent)", clause(a.explain(err, c.BaseURL(), cr.MemberID).Error()))
		}
		return sentence(err, "%s; which transfers were made is unknown: run the same command again to finish safely (every row keeps its transfer ID, so nothing is paid twice)",
			clause(a.explain(err, c.BaseURL(), cr.MemberID).Error()))
	}
	if a.json {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		tw := a.table()
		fmt.Fprintln(tw, "TRANSFER\tRESULT\tAMOUNT\tTO\tDETAIL")
		for i, r := range res.Results {
			amount, to := transfers[i].Amount, transfers[i].To
			if r.Transfer != nil && r.Transfer.Amount != "" {
				amount = r.Transfer.Amount
			}
			detail := oneLine(r.Detail)
			if r.Code != "" {
				detail = strings.TrimSpace(r.Code + ": " + detail)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.TransferID, r.Result, amount, to, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		var made []string
		for i, r := range res.Results {
			if r.Result == client.BatchApplied || r.Result == client.BatchReplayed {
				made = append(made, transfers[i].Amount)
			}
		}
		total, _ := client.SumAmounts(made...)
		fmt.Fprintf(a.stdout, "Made %d of %d transfers (total %s), refused %d.\n", res.Applied, len(transfers), total, res.Refused)
	}
	if res.Refused > 0 {
		return fmt.Errorf("%d of %d transfers were refused", res.Refused, len(transfers))
	}
	return nil
}

// required returns a usage error naming the flags left empty; pairs is
// flag name, value, flag name, value...
func required(cmd string, pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, pairs[i])
		}
	}
	if len(missing) > 0 {
		name, _, _ := strings.Cut(cmd, " ")
		return &usageError{msg: cmd + ": missing " + strings.Join(missing, ", "), cmd: name}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// problemText is the server's sentence in err, or err's own text.
func problemText(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return err.Error()
}
