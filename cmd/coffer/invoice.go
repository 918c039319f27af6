package main

import (
	"fmt"
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
