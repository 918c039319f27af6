package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coffer-money/coffer/client"
)

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
	if err := a.show(res, func() error { return a.printBatch(res, transfers) }); err != nil {
		return err
	}
	if res.Refused > 0 {
		return fmt.Errorf("%d of %d transfers were refused", res.Refused, len(transfers))
	}
	return nil
}

// required returns a usage error naming the flags left empty; pairs is
// flag name, value, flag name, value...
// printBatch shows what became of each row of a batch, and the sum.
func (a *app) printBatch(res *client.BatchResponse, transfers []client.BatchTransfer) error {
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
	return nil
}

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
