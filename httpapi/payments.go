package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// decodeOptional is decode for an endpoint whose body may be left out.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return coffer.Errorf(coffer.ETOOLARGE, "The request body is larger than %d bytes.", MaxBody)
		}
		return coffer.Errorf(coffer.EINVALID, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return DecodeJSON(body, v)
}

func (s *Server) quote(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Amount string `json:"amount"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	q, err := s.svc.Quote(r.Context(), p.MemberID, in.From, in.To, in.Amount)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"amount": coffer.FormatAmount(q.Amount, q.Decimals),
		"fee": coffer.FormatAmount(q.Fee, q.Decimals), "total": coffer.FormatAmount(q.Amount+q.Fee, q.Decimals), "currency": q.Currency})
}

// fees shows the fee rules; the fee purse stays the operator's business.
func (s *Server) fees(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	list, err := s.svc.Fees(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(list))
	for _, f := range list {
		d := s.svc.Decimals(r.Context(), f.Currency)
		j := map[string]string{"currency": f.Currency, "percent": app.FormatPercent(f.PPM), "min": coffer.FormatAmount(f.Min, d)}
		if f.Max > 0 {
			j["max"] = coffer.FormatAmount(f.Max, d)
		}
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"fees": out})
}

func (s *Server) transfersJSON(ctx context.Context, list []*coffer.Transfer) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, t := range list {
		out = append(out, s.transferJSON(ctx, t))
	}
	return out
}

func (s *Server) held(w http.ResponseWriter, r *http.Request, p *Principal) error {
	sent, incoming, err := s.svc.HeldTransfers(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sent": s.transfersJSON(r.Context(), sent), "incoming": s.transfersJSON(r.Context(), incoming)})
}

func (s *Server) release(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		From string `json:"from"`
		Code string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.From == "" {
		return coffer.Errorf(coffer.EINVALID, "from (the sending purse) is required.")
	}
	t, err := s.svc.ReleaseTransfer(r.Context(), p.MemberID, r.PathValue("transfer_id"), in.From, in.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.transferJSON(r.Context(), t))
}

func (s *Server) refuseHeld(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		From string `json:"from"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.From == "" {
		return coffer.Errorf(coffer.EINVALID, "from (the sending purse) is required.")
	}
	t, err := s.svc.RefuseTransfer(r.Context(), p.MemberID, r.PathValue("transfer_id"), in.From)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.transferJSON(r.Context(), t))
}

func (s *Server) refund(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		TransferID string `json:"transfer_id"`
		Of         *struct {
			TransferID string `json:"transfer_id"`
			From       string `json:"from"`
		} `json:"of"`
		Amount      string `json:"amount"`
		Description string `json:"description"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Of == nil || in.Of.TransferID == "" || in.Of.From == "" {
		return coffer.Errorf(coffer.EINVALID, "of {transfer_id, from} names the transfer to refund and is required.")
	}
	t, replayed, err := s.svc.Refund(r.Context(), p.MemberID, app.RefundInput{TransferID: in.TransferID,
		OfTransferID: in.Of.TransferID, OfFrom: in.Of.From, Amount: in.Amount, Description: in.Description,
		Strong: p.Method != "session", Resend: r.URL.Query().Get("resend") == "true"})
	return s.transferAnswer(w, r, t, replayed, err)
}

// invoiceJSON is an invoice as its merchant and payer see it.
func (s *Server) invoiceJSON(ctx context.Context, inv *coffer.Invoice) map[string]any {
	j := map[string]any{"invoice_id": inv.ID, "merchant": inv.Merchant, "payer": inv.Payer, "purse": inv.Purse,
		"currency": inv.Currency, "amount": coffer.FormatAmount(inv.Amount, s.svc.Decimals(ctx, inv.Currency)),
		"description": inv.Description, "order_number": inv.OrderNumber, "state": inv.State,
		"created_at": inv.CreatedAt, "expires_at": inv.ExpiresAt}
	if t, err := s.svc.InvoicePayment(ctx, inv); err != nil {
		s.log.Warn("invoice payment", "invoice", inv.ID, "err", err)
	} else if t != nil {
		j["transfer_id"] = t.TransferID
	}
	return j
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Payer          string `json:"payer"`
		Purse          string `json:"purse"`
		Amount         string `json:"amount"`
		Description    string `json:"description"`
		OrderNumber    string `json:"order_number"`
		ExpiresInHours *int   `json:"expires_in_hours"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ii := app.InvoiceInput{Payer: in.Payer, Purse: in.Purse, Amount: in.Amount, Description: in.Description, OrderNumber: in.OrderNumber}
	if in.ExpiresInHours != nil {
		if *in.ExpiresInHours < 1 || *in.ExpiresInHours > app.MaxInvoiceHours {
			return coffer.Errorf(coffer.EINVALID, "expires_in_hours must be from 1 to %d.", app.MaxInvoiceHours)
		}
		ii.ExpiresInHours = *in.ExpiresInHours
	}
	inv, err := s.svc.CreateInvoice(r.Context(), p.MemberID, ii)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.invoiceJSON(r.Context(), inv))
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	l := app.InvoiceList{Role: q.Get("role"), State: q.Get("state")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxInvoicePage {
			return coffer.Errorf(coffer.EINVALID, "limit must be a whole number from 1 to %d.", app.MaxInvoicePage)
		}
		l.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "cursor is not one this server gave.")
		}
		l.Before = time.UnixMilli(n).UTC()
	}
	list, read, err := s.svc.Invoices(r.Context(), p.MemberID, l)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, inv := range list {
		out = append(out, s.invoiceJSON(r.Context(), inv))
	}
	limit := l.Limit
	if limit == 0 {
		limit = 50
	}
	next := ""
	if read == limit && len(list) > 0 {
		next = strconv.FormatInt(list[len(list)-1].CreatedAt.UnixMilli(), 10)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"invoices": out, "next_cursor": next})
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, p *Principal) error {
	inv, err := s.svc.Invoice(r.Context(), p.MemberID, r.PathValue("invoice_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.invoiceJSON(r.Context(), inv))
}

func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		TransferID string `json:"transfer_id"`
		From       string `json:"from"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, replayed, err := s.svc.PayInvoice(r.Context(), p.MemberID, r.PathValue("invoice_id"), app.TransferInput{
		TransferID: in.TransferID, From: in.From, Strong: p.Method != "session", Resend: r.URL.Query().Get("resend") == "true"})
	return s.transferAnswer(w, r, t, replayed, err)
}

func (s *Server) endInvoice(cancel bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		var in struct{}
		if err := decodeOptional(w, r, &in); err != nil {
			return err
		}
		end := s.svc.RefuseInvoice
		if cancel {
			end = s.svc.CancelInvoice
		}
		inv, err := end(r.Context(), p.MemberID, r.PathValue("invoice_id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, s.invoiceJSON(r.Context(), inv))
	}
}

// trustJSON is a trust as its owner and merchant see it.
func (s *Server) trustJSON(ctx context.Context, t *coffer.Trust) map[string]any {
	j := map[string]any{"trust_id": t.ID, "owner": t.Owner, "merchant": t.Merchant, "purse": t.Purse,
		"state": "active", "created_at": t.CreatedAt}
	d := 2
	if cur, err := s.svc.CurrencyOfPurse(ctx, t.Purse); err == nil {
		d = cur.Decimals
		j["currency"] = cur.Code
	}
	for name, v := range map[string]int64{"per_transfer": t.PerTransfer, "per_day": t.PerDay, "per_month": t.PerMonth} {
		if v > 0 {
			j[name] = coffer.FormatAmount(v, d)
		}
	}
	if !t.Active() {
		j["state"] = "revoked"
		j["revoked_at"] = t.RevokedAt
	}
	return j
}

func (s *Server) grantTrust(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Merchant    string `json:"merchant"`
		Purse       string `json:"purse"`
		PerTransfer string `json:"per_transfer"`
		PerDay      string `json:"per_day"`
		PerMonth    string `json:"per_month"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.svc.GrantTrust(r.Context(), p.MemberID, app.TrustInput{Merchant: in.Merchant, Purse: in.Purse,
		PerTransfer: in.PerTransfer, PerDay: in.PerDay, PerMonth: in.PerMonth, IP: clientIP(r), Proof: proof(r)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.trustJSON(r.Context(), t))
}

func (s *Server) listTrusts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	given, held, err := s.svc.Trusts(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	conv := func(list []*coffer.Trust) []map[string]any {
		out := make([]map[string]any, 0, len(list))
		for _, t := range list {
			out = append(out, s.trustJSON(r.Context(), t))
		}
		return out
	}
	return writeJSON(w, http.StatusOK, map[string]any{"given": conv(given), "held": conv(held)})
}

func (s *Server) revokeTrust(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.svc.RevokeTrust(r.Context(), p.MemberID, r.PathValue("trust_id"), clientIP(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// statement answers a purse's statement as JSON or CSV.
func (s *Server) statement(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return coffer.Errorf(coffer.EINVALID, "format must be json or csv.")
	}
	since, until, err := s.svc.StatementPeriod(q.Get("since"), q.Get("until"))
	if err != nil {
		return err
	}
	st, err := s.svc.Statement(r.Context(), p.MemberID, r.PathValue("purse"), since, until)
	if err != nil {
		return err
	}
	d := st.Decimals
	amt := func(v int64) string { return coffer.FormatAmount(v, d) }
	if format == "csv" {
		return writeStatementCSV(w, st, amt)
	}
	entries := make([]map[string]any, 0, len(st.Entries))
	for _, e := range st.Entries {
		entries = append(entries, map[string]any{"at": e.CreatedAt, "kind": e.Kind, "held": e.Held,
			"amount": amt(e.Amount), "balance_after": amt(e.BalanceAfter), "counterparty": e.Counterparty,
			"transfer_id": e.TransferID, "description": e.Description})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"purse": st.Purse.Number, "currency": st.Purse.Currency,
		"since": st.Since, "until": st.Until,
		"opening": map[string]string{"available": amt(st.OpeningAvailable), "held": amt(st.OpeningHeld)},
		"closing": map[string]string{"available": amt(st.ClosingAvailable), "held": amt(st.ClosingHeld)},
		"entries": entries})
}

// writeStatementCSV writes a header row, the entries oldest first, then
// the opening and closing money as rows of kind "opening" and "closing",
// one for available and one for held money, their amount in balance_after.
func writeStatementCSV(w http.ResponseWriter, st *app.Statement, amt func(int64) string) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	name := st.Purse.Number + "_" + st.Since.Format("20060102") + "_" + st.Until.Format("20060102") + ".csv"
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.Write([]string{"at", "kind", "held", "amount", "balance_after", "counterparty", "transfer_id", "description"})
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for _, e := range st.Entries {
		cw.Write([]string{at(e.CreatedAt), e.Kind, strconv.FormatBool(e.Held), amt(e.Amount), amt(e.BalanceAfter),
			e.Counterparty, e.TransferID, spreadsheetSafe(e.Description)})
	}
	cw.Write([]string{at(st.Since), "opening", "false", "", amt(st.OpeningAvailable), "", "", ""})
	cw.Write([]string{at(st.Since), "opening", "true", "", amt(st.OpeningHeld), "", "", ""})
	cw.Write([]string{at(st.Until), "closing", "false", "", amt(st.ClosingAvailable), "", "", ""})
	cw.Write([]string{at(st.Until), "closing", "true", "", amt(st.ClosingHeld), "", "", ""})
	cw.Flush()
	return cw.Error()
}

// spreadsheetSafe keeps a description another member wrote from being
// read as a formula when the statement is opened in a spreadsheet.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Transfers []struct {
			TransferID  string `json:"transfer_id"`
			From        string `json:"from"`
			To          string `json:"to"`
			Amount      string `json:"amount"`
			Description string `json:"description"`
		} `json:"transfers"`
		AllOrNothing bool `json:"all_or_nothing"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	items := make([]app.BatchItem, len(in.Transfers))
	for i, t := range in.Transfers {
		items[i] = app.BatchItem{TransferID: t.TransferID, From: t.From, To: t.To, Amount: t.Amount, Description: t.Description}
	}
	res, err := s.svc.TransferBatch(r.Context(), p.MemberID, items, in.AllOrNothing, p.Method != "session")
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(res))
	applied, refused := 0, 0
	for _, x := range res {
		j := map[string]any{"transfer_id": x.TransferID}
		switch {
		case x.Err != nil:
			refused++
			code := coffer.ErrorCode(x.Err)
			if code == coffer.EINTERNAL {
				s.log.Error("batch transfer", "transfer_id", x.TransferID, "err", x.Err)
			}
			j["result"], j["code"], j["detail"] = "refused", code, coffer.ErrorMessage(x.Err)
		case x.Replayed:
			applied++
			j["result"], j["transfer"] = "replayed", s.transferJSON(r.Context(), x.Transfer)
		default:
			applied++
			j["result"], j["transfer"] = "applied", s.transferJSON(r.Context(), x.Transfer)
		}
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"results": out, "applied": applied, "refused": refused})
}
