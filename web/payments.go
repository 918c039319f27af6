package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// describeProtection says in a sentence how a protected transfer is held.
func describeProtection(byCode bool, until time.Time, loc *time.Location) string {
	if byCode {
		return "Protected by a code: the payee receives it by entering the code you tell them, until " +
			formatTime(until, loc) + "; otherwise it comes back to you."
	}
	return "Protected by time: the payee receives it on " + formatTime(until, loc) + ", unless they refuse it first."
}

// transferStatus is a transfer's state in words.
func transferStatus(t *coffer.Transfer) string {
	switch t.Status {
	case coffer.StatusHeld:
		return "Held"
	case coffer.StatusReleased:
		return "Released"
	case coffer.StatusReturned:
		return "Returned to the sender"
	}
	return "Applied"
}

// ---- Incoming invoices ----

type invoiceRow struct {
	ID, Merchant, Payer, Purse string
	Amount, Currency           string
	Description, OrderNumber   string
	State                      string
	Created, Expires           string
	Pending                    bool
	Link                       string
}

func (s *Server) invoiceRow(r *http.Request, rq *request, inv *coffer.Invoice) invoiceRow {
	d := s.svc.Decimals(ctx(r), inv.Currency)
	return invoiceRow{ID: inv.ID, Merchant: inv.Merchant, Payer: inv.Payer, Purse: inv.Purse,
		Amount: formatAmount(inv.Amount, d), Currency: inv.Currency, Description: inv.Description, OrderNumber: inv.OrderNumber,
		State: inv.State, Created: formatTime(inv.CreatedAt, rq.loc), Expires: formatTime(inv.ExpiresAt, rq.loc),
		Pending: inv.State == coffer.InvoicePending, Link: "/invoices/" + url.PathEscape(inv.ID)}
}

func (s *Server) invoicesPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	incoming, _, err := s.svc.Invoices(ctx(r), rq.member, app.InvoiceList{Role: "payer"})
	if err != nil {
		return err
	}
	issued, _, err := s.svc.Invoices(ctx(r), rq.member, app.InvoiceList{Role: "merchant", Limit: 20})
	if err != nil {
		return err
	}
	data := struct {
		Pending, Done, Issued []invoiceRow
	}{}
	for _, inv := range incoming {
		row := s.invoiceRow(r, rq, inv)
		if row.Pending {
			data.Pending = append(data.Pending, row)
		} else {
			data.Done = append(data.Done, row)
		}
	}
	for _, inv := range issued {
		data.Issued = append(data.Issued, s.invoiceRow(r, rq, inv))
	}
	return s.render(w, rq, "invoices", "Invoices", "invoices", data)
}

func (s *Server) invoicePage(w http.ResponseWriter, r *http.Request, rq *request) error {
	inv, err := s.svc.Invoice(ctx(r), rq.member, r.PathValue("invoice_id"))
	if err != nil {
		return err
	}
	data := struct {
		Inv        invoiceRow
		Payer      bool
		Purses     []purseRow
		TransferID string
		Fee, Total string
		Payment    string
	}{Inv: s.invoiceRow(r, rq, inv), Payer: inv.Payer == rq.member, TransferID: newTransferID()}
	d := s.svc.Decimals(ctx(r), inv.Currency)
	if data.Payer && data.Inv.Pending {
		list, err := s.svc.Purses(ctx(r), rq.member)
		if err != nil {
			return err
		}
		for _, p := range list {
			if p.Currency != inv.Currency {
				continue
			}
			data.Purses = append(data.Purses, s.purseRow(r, p))
			if data.Fee == "" {
				if q, err := s.svc.Quote(ctx(r), rq.member, p.Number, inv.Purse, coffer.FormatAmount(inv.Amount, d)); err == nil {
					data.Fee, data.Total = formatAmount(q.Fee, d), formatAmount(inv.Amount+q.Fee, d)
				}
			}
		}
	}
	if t, err := s.svc.InvoicePayment(ctx(r), inv); err == nil && t != nil && (t.Sender == rq.member || t.Payee == rq.member) {
		data.Payment = transferURL(t)
	}
	return s.render(w, rq, "invoice", "Invoice "+inv.OrderNumber, "invoices", data)
}

// payInvoice pays an invoice with the same confirmation as a payment
// from the send page.
func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("invoice_id")
	inv, err := s.svc.Invoice(ctx(r), rq.member, id)
	if err != nil {
		return err
	}
	d := s.svc.Decimals(ctx(r), inv.Currency)
	f := sendForm{TransferID: r.PostForm.Get("transfer_id"), From: r.PostForm.Get("from"), To: inv.Purse,
		Amount: coffer.FormatAmount(inv.Amount, d), Description: inv.Description, InvoiceID: inv.ID}
	back := "/invoices/" + url.PathEscape(inv.ID)
	if f.From == "" {
		setFlash(w, rq, "error", "Choose the purse to pay from.")
		return redirect(w, r, back)
	}
	resend := r.PostForm.Get("resend") != ""
	t, _, err := s.svc.PayInvoice(ctx(r), rq.member, inv.ID, app.TransferInput{TransferID: f.TransferID, From: f.From, Resend: resend})
	switch coffer.ErrorCode(err) {
	case coffer.EINVALID, coffer.EINVALIDAMOUNT, coffer.EPURSENOTFOUND, coffer.ECURRENCYMISMATCH, coffer.EINSUFFICIENTFUNDS,
		coffer.ELIMITEXCEEDED, coffer.EINVOICENOTPAYABLE, coffer.ELEVELTOOLOW:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, back)
	}
	return s.submitted(w, r, rq, f, resend, t, err)
}

func (s *Server) refuseInvoice(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, err := s.svc.RefuseInvoice(ctx(r), rq.member, r.PathValue("invoice_id"))
	return s.invoiceEnded(w, r, rq, err, "The invoice was refused. Nothing was paid.")
}

func (s *Server) cancelInvoice(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, err := s.svc.CancelInvoice(ctx(r), rq.member, r.PathValue("invoice_id"))
	return s.invoiceEnded(w, r, rq, err, "The invoice was cancelled.")
}

func (s *Server) invoiceEnded(w http.ResponseWriter, r *http.Request, rq *request, err error, msg string) error {
	switch coffer.ErrorCode(err) {
	case "":
		setFlash(w, rq, "ok", msg)
	case coffer.EINVOICENOTPAYABLE, coffer.EFORBIDDEN:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
	default:
		return err
	}
	return redirect(w, r, "/invoices")
}

// ---- Protected transfers ----

type heldRow struct {
	TransferID, From, To, Counterparty string
	Amount, Currency, Description      string
	Sent, Until                        string
	ByCode                             bool
	Attempts, AttemptsLeft             int
	Link                               string
}

func (s *Server) heldRow(r *http.Request, rq *request, t *coffer.Transfer, incoming bool) heldRow {
	d := s.svc.Decimals(ctx(r), t.Currency)
	row := heldRow{TransferID: t.TransferID, From: t.From, To: t.To, Amount: formatAmount(t.Amount, d), Currency: t.Currency,
		Description: t.Description, Sent: formatTime(t.CreatedAt, rq.loc), Link: transferURL(t)}
	if incoming {
		row.Counterparty = t.Sender
	} else {
		row.Counterparty = t.Payee
	}
	if p := t.Protection; p != nil {
		row.ByCode, row.Until, row.Attempts = p.ByCode, formatTime(p.Until, rq.loc), p.Attempts
		row.AttemptsLeft = coffer.MaxProtectAttempts - p.Attempts
	}
	return row
}

func (s *Server) heldPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	sent, incoming, err := s.svc.HeldTransfers(ctx(r), rq.member)
	if err != nil {
		return err
	}
	data := struct {
		Incoming, Sent []heldRow
	}{}
	for _, t := range incoming {
		data.Incoming = append(data.Incoming, s.heldRow(r, rq, t, true))
	}
	for _, t := range sent {
		data.Sent = append(data.Sent, s.heldRow(r, rq, t, false))
	}
	return s.render(w, rq, "held", "Protected transfers", "held", data)
}

// heldAction answers release and refuse: the result as a message on the
// list, where the member can try again.
func (s *Server) heldAction(w http.ResponseWriter, r *http.Request, rq *request, t *coffer.Transfer, err error, msg string) error {
	switch coffer.ErrorCode(err) {
	case "":
		d := s.svc.Decimals(ctx(r), t.Currency)
		setFlash(w, rq, "ok", strings.ReplaceAll(msg, "AMOUNT", formatAmount(t.Amount, d)+" "+t.Currency))
	case coffer.EWRONGCODE, coffer.ENOTHELD, coffer.EINVALID, coffer.ENOTFOUND:
		text := coffer.ErrorMessage(err)
		if t != nil && t.Protection != nil && t.Status == coffer.StatusHeld {
			text += " " + strconv.Itoa(coffer.MaxProtectAttempts-t.Protection.Attempts) + " attempts left."
		}
		setFlash(w, rq, "error", text)
	default:
		return err
	}
	return redirect(w, r, "/held")
}

func (s *Server) releaseHeld(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := r.PostForm
	t, err := s.svc.ReleaseTransfer(ctx(r), rq.member, f.Get("transfer_id"), f.Get("from"), strings.TrimSpace(f.Get("code")))
	return s.heldAction(w, r, rq, t, err, "You received AMOUNT: it is in your purse, ready to spend.")
}

func (s *Server) refuseHeld(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := r.PostForm
	t, err := s.svc.RefuseTransfer(ctx(r), rq.member, f.Get("transfer_id"), f.Get("from"))
	return s.heldAction(w, r, rq, t, err, "AMOUNT went back to the sender.")
}
