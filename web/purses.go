package web

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// purseRow is a purse as the purse list shows it.
type purseRow struct {
	Number, Currency string
	Available        string
	// Held is the amount held in protected transfers, not yet available;
	// empty (a dash on the page) when nothing is held.
	Held   string
	Issuer bool
	Limit  string
}

func (s *Server) purseRow(r *http.Request, p *coffer.Purse) purseRow {
	d := s.svc.Decimals(ctx(r), p.Currency)
	row := purseRow{Number: p.Number, Currency: p.Currency, Available: formatAmount(p.Balance, d), Issuer: p.Issuer}
	if p.Issuer {
		row.Limit = formatAmount(p.Limit, d)
	}
	if p.Held != 0 {
		row.Held = formatAmount(p.Held, d)
	}
	return row
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, rq *request) error {
	list, err := s.svc.Purses(ctx(r), rq.member)
	if err != nil {
		return err
	}
	curs, err := s.svc.Currencies(ctx(r))
	if err != nil {
		return err
	}
	data := struct {
		Purses     []purseRow
		Currencies []string
	}{}
	for _, p := range list {
		data.Purses = append(data.Purses, s.purseRow(r, p))
	}
	for _, c := range curs {
		data.Currencies = append(data.Currencies, c.Code)
	}
	return s.render(w, rq, "purses", "Purses", "purses", data)
}

func (s *Server) createPurse(w http.ResponseWriter, r *http.Request, rq *request) error {
	cur := r.PostForm.Get("currency")
	if cur == "" {
		setFlash(w, rq, "error", "Choose a currency for the new purse.")
		return redirect(w, r, "/purses")
	}
	p, err := s.svc.CreatePurse(ctx(r), rq.member, cur)
	if err != nil {
		return err
	}
	setFlash(w, rq, "ok", "Your new "+p.Currency+" purse is "+p.Number+".")
	return redirect(w, r, "/purses/"+p.Number)
}

// historyPage is how many entries one page of history shows.
const historyPage = 25

// dayRange turns the since/until dates of a history form (days in the
// member's zone, both included) into the filter's times.
func dayRange(q url.Values, loc *time.Location) (since, until time.Time, err error) {
	parse := func(name string) (time.Time, error) {
		v := strings.TrimSpace(q.Get(name))
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return time.Time{}, coffer.Errorf(coffer.EINVALID, "The %s date must look like 2026-01-31.", map[string]string{"since": "from", "until": "to"}[name])
		}
		return t, nil
	}
	if since, err = parse("since"); err != nil {
		return
	}
	if until, err = parse("until"); err != nil {
		return
	}
	if !until.IsZero() {
		until = until.AddDate(0, 0, 1) // the whole last day
	}
	return since.UTC(), until.UTC(), nil
}

type historyRow struct {
	When, TransferID, Counterparty string
	Amount, BalanceAfter           string
	Description                    string
	In                             bool
	Link                           string
}

func (s *Server) pursePage(w http.ResponseWriter, r *http.Request, rq *request) error {
	p, err := s.svc.Purse(ctx(r), rq.member, r.PathValue("purse"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := coffer.HistoryFilter{Limit: historyPage}
	if f.Since, f.Until, err = dayRange(q, rq.loc); err != nil {
		return err
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "That page of history does not exist.")
		}
		f.Before = n
	}
	entries, err := s.svc.History(ctx(r), rq.member, p.Number, f)
	if err != nil {
		return err
	}
	d := s.svc.Decimals(ctx(r), p.Currency)
	data := struct {
		Purse        purseRow
		Rows         []historyRow
		Since, Until string
		Next, First  string
		CSV          string
	}{Purse: s.purseRow(r, p), Since: q.Get("since"), Until: q.Get("until")}
	filter := url.Values{}
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			filter.Set(k, v)
		}
	}
	base := "/purses/" + p.Number
	for _, e := range entries {
		from := p.Number
		if e.Amount > 0 {
			from = e.Counterparty
		}
		data.Rows = append(data.Rows, historyRow{When: formatTime(e.CreatedAt, rq.loc), TransferID: e.TransferID,
			Counterparty: e.Counterparty, Amount: formatAmount(e.Amount, d), BalanceAfter: formatAmount(e.BalanceAfter, d),
			Description: e.Description, In: e.Amount > 0,
			Link: "/transfers/" + url.PathEscape(e.TransferID) + "?" + url.Values{"from": {from}}.Encode()})
	}
	if len(entries) == historyPage {
		next := url.Values{}
		for k, v := range filter {
			next[k] = v
		}
		next.Set("cursor", strconv.FormatInt(entries[len(entries)-1].Seq, 10))
		data.Next = base + "?" + next.Encode()
	}
	if f.Before != 0 {
		data.First = base
		if len(filter) > 0 {
			data.First += "?" + filter.Encode()
		}
	}
	data.CSV = base + "/history.csv"
	if len(filter) > 0 {
		data.CSV += "?" + filter.Encode()
	}
	return s.render(w, rq, "purse", "Purse "+p.Number, "purses", data)
}

// maxCSVRows bounds one CSV download.
const maxCSVRows = 100000

// csvText keeps a cell from being read as a formula by a spreadsheet.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (s *Server) historyCSV(w http.ResponseWriter, r *http.Request, rq *request) error {
	p, err := s.svc.Purse(ctx(r), rq.member, r.PathValue("purse"))
	if err != nil {
		return err
	}
	f := coffer.HistoryFilter{Limit: app.MaxHistoryPage}
	if f.Since, f.Until, err = dayRange(r.URL.Query(), rq.loc); err != nil {
		return err
	}
	// Read the first page before writing, so an error still gets a page.
	entries, err := s.svc.History(ctx(r), rq.member, p.Number, f)
	if err != nil {
		return err
	}
	d := s.svc.Decimals(ctx(r), p.Currency)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="coffer-`+p.Number+`-history.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "transfer_id", "counterparty", "amount", "currency", "balance_after", "description"})
	rows := 0
	for {
		for _, e := range entries {
			cw.Write([]string{e.CreatedAt.In(rq.loc).Format(time.RFC3339), csvText(e.TransferID), e.Counterparty,
				coffer.FormatAmount(e.Amount, d), p.Currency, coffer.FormatAmount(e.BalanceAfter, d), csvText(e.Description)})
		}
		rows += len(entries)
		if len(entries) < f.Limit || rows >= maxCSVRows {
			break
		}
		f.Before = entries[len(entries)-1].Seq
		if entries, err = s.csvPage(r, rq.member, p.Number, f); err != nil {
			// Too late for an error page: end the file short and log it.
			s.log.Error("web history csv", "purse", p.Number, "err", err)
			break
		}
	}
	cw.Flush()
	return nil
}

// csvPageTimeout bounds the read of one page of a history file after the
// first: the request's deadline would cut a long file short.
const csvPageTimeout = 10 * time.Second

// csvPage reads one further page of a history file, under a deadline of
// its own; a client that went away still ends it.
func (s *Server) csvPage(r *http.Request, member, purse string, f coffer.HistoryFilter) ([]*coffer.HistoryEntry, error) {
	if err := r.Context().Err(); errors.Is(err, context.Canceled) {
		return nil, err
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx(r)), csvPageTimeout)
	defer cancel()
	stop := context.AfterFunc(r.Context(), func() {
		if errors.Is(r.Context().Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()
	return s.svc.History(c, member, purse, f)
}

// sendForm is the payment form, as typed.
type sendForm struct {
	TransferID, From, To, Amount, Description string
	// Protect is "" (a plain transfer), "code" or "time"; ProtectDays the
	// period. The code is never kept in a cookie: only the forms carry it.
	Protect     string `json:",omitempty"`
	ProtectCode string `json:"-"`
	ProtectDays string `json:",omitempty"`
	// InvoiceID is set when the payment pays one of the member's invoices.
	InvoiceID string `json:",omitempty"`
}

// SubmitAction is where the payment is posted: to pay the invoice it pays,
// or from the send page.
func (f sendForm) SubmitAction() string {
	if f.InvoiceID != "" {
		return "/invoices/" + f.InvoiceID + "/pay"
	}
	return "/send/submit"
}

// ResendFields are what the confirmation page posts to SubmitAction again
// to ask for a new SMS code: the payment without its protection code,
// which is never kept between pages.
func (f sendForm) ResendFields() []hiddenField {
	fields := []hiddenField{{"transfer_id", f.TransferID}, {"from", f.From}, {"to", f.To}, {"amount", f.Amount}, {"description", f.Description}}
	if f.Protect != "" {
		fields = append(fields, hiddenField{"protect", f.Protect}, hiddenField{"protect_days", f.ProtectDays})
	}
	return fields
}

func readSendForm(r *http.Request) sendForm {
	f := r.PostForm
	sf := sendForm{TransferID: f.Get("transfer_id"), From: f.Get("from"), To: strings.ToUpper(strings.TrimSpace(f.Get("to"))),
		Amount: strings.TrimSpace(f.Get("amount")), Description: strings.TrimSpace(f.Get("description")),
		Protect: f.Get("protect"), ProtectCode: f.Get("protect_code"), ProtectDays: strings.TrimSpace(f.Get("protect_days"))}
	if sf.Protect != "code" && sf.Protect != "time" {
		sf.Protect, sf.ProtectCode, sf.ProtectDays = "", "", ""
	}
	if sf.Protect == "time" {
		sf.ProtectCode = ""
	}
	return sf
}

// protection is what the form asks for; nil for a plain transfer.
func (f sendForm) protection() (*app.ProtectInput, error) {
	if f.Protect == "" {
		return nil, nil
	}
	days, err := strconv.Atoi(f.ProtectDays)
	if err != nil || days < 1 {
		return nil, coffer.Errorf(coffer.EINVALID, "Enter for how many days the transfer is protected, as a whole number.")
	}
	if f.Protect == "code" && f.ProtectCode == "" {
		return nil, coffer.Errorf(coffer.EINVALID, "Enter the protection code the payee will need.")
	}
	return &app.ProtectInput{Code: f.ProtectCode, Days: days}, nil
}

// input is the form as the service takes it.
func (f sendForm) input() (app.TransferInput, error) {
	in := app.TransferInput{TransferID: f.TransferID, From: f.From, To: f.To, Amount: f.Amount, Description: f.Description}
	p, err := f.protection()
	in.Protect = p
	return in, err
}

// newTransferID names a payment when its form is shown, so that sending the
// same form twice (a double click, a retry after a timeout) pays once.
func newTransferID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "web-" + hex.EncodeToString(b)
}

func (s *Server) sendPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s.renderSend(w, r, rq, sendForm{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}, "", http.StatusOK)
}

func (s *Server) renderSend(w http.ResponseWriter, r *http.Request, rq *request, f sendForm, problem string, status int) error {
	list, err := s.svc.Purses(ctx(r), rq.member)
	if err != nil {
		return err
	}
	if f.TransferID == "" || !coffer.ValidTransferID(f.TransferID) {
		f.TransferID = newTransferID()
	}
	data := struct {
		Form    sendForm
		Purses  []purseRow
		Problem string
	}{Form: f, Problem: problem}
	for _, p := range list {
		data.Purses = append(data.Purses, s.purseRow(r, p))
	}
	return s.render(w, rq, "send", "Send money", "send", data, status)
}

// review checks a payment and shows it with the payee's member ID before
// anything is sent. It changes nothing, so it answers the POST directly.
func (s *Server) review(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := readSendForm(r)
	if r.PostForm.Get("edit") != "" {
		return s.renderSend(w, r, rq, f, "", http.StatusOK)
	}
	bad := func(err error) error {
		switch coffer.ErrorCode(err) {
		case coffer.EINVALID, coffer.EINVALIDAMOUNT, coffer.EPURSENOTFOUND, coffer.ECURRENCYMISMATCH, coffer.ESAMEPURSE:
			return s.renderSend(w, r, rq, f, coffer.ErrorMessage(err), http.StatusUnprocessableEntity)
		}
		return err
	}
	in, err := f.input()
	if err != nil {
		return bad(err)
	}
	from, err := s.svc.Purse(ctx(r), rq.member, f.From)
	if err != nil {
		return bad(coffer.Errorf(coffer.EPURSENOTFOUND, "Choose one of your purses to pay from."))
	}
	req, err := s.svc.ValidateTransfer(ctx(r), rq.member, in)
	if err != nil {
		return bad(err)
	}
	payee, err := s.svc.LookupOwner(ctx(r), rq.member, req.To)
	if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND {
		return bad(coffer.Errorf(coffer.EPURSENOTFOUND, "There is no purse %s. Check the number with the payee.", req.To))
	} else if coffer.ErrorCode(err) == coffer.ERATELIMITED {
		return bad(err)
	} else if err != nil {
		return err
	}
	if req.To == req.From {
		return bad(coffer.Errorf(coffer.ESAMEPURSE, "You cannot pay a purse from itself."))
	}
	if req.To[0] != req.From[0] {
		return bad(coffer.Errorf(coffer.ECURRENCYMISMATCH, "Purse %s holds another currency than %s.", req.To, from.Currency))
	}
	d := s.svc.Decimals(ctx(r), from.Currency)
	q, err := s.svc.Quote(ctx(r), rq.member, req.From, req.To, coffer.FormatAmount(req.Amount, d))
	if err != nil {
		return bad(err)
	}
	// The payee's verification level is public; a member who looked up
	// too many others in a minute reviews without it.
	level := ""
	if v, err := s.svc.ViewMember(ctx(r), rq.member, payee); err == nil {
		level = v.Level
	} else if c := coffer.ErrorCode(err); c != coffer.ERATELIMITED && c != coffer.ENOTFOUND {
		return err
	}
	data := struct {
		Form          sendForm
		Payee         string
		PayeeLevel    string
		Amount        string
		Currency      string
		OwnPayee      bool
		AmountPlain   string
		BalanceBefore string
		Fee, Total    string
		Protection    string
	}{Form: f, Payee: payee, PayeeLevel: level, Amount: formatAmount(req.Amount, d), Currency: from.Currency, OwnPayee: payee == rq.member,
		AmountPlain: coffer.FormatAmount(req.Amount, d), BalanceBefore: formatAmount(from.Balance, d),
		Fee: formatAmount(q.Fee, d), Total: formatAmount(req.Amount+q.Fee, d)}
	if req.Protect != nil {
		data.Protection = describeProtection(req.Protect.ByCode, req.Protect.Until, rq.loc)
	}
	data.Form.Amount = data.AmountPlain
	return s.render(w, rq, "review", "Check the payment", "send", data)
}

// pendingState is a payment waiting for its code, kept in a signed cookie
// between the submit and the code. The service holds the payment itself;
// this only lets the page show what is being confirmed.
type pendingState struct {
	Form      sendForm  `json:"f"`
	Payee     string    `json:"p"`
	Amount    string    `json:"a"`
	Currency  string    `json:"c"`
	Challenge string    `json:"q,omitempty"`
	Methods   []string  `json:"m"`
	Expires   time.Time `json:"e"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := readSendForm(r)
	in, err := f.input()
	if err != nil {
		return s.renderSend(w, r, rq, f, coffer.ErrorMessage(err), http.StatusUnprocessableEntity)
	}
	in.Resend = r.PostForm.Get("resend") != ""
	t, _, err := s.svc.Transfer(ctx(r), rq.member, in)
	return s.submitted(w, r, rq, f, in.Resend, t, err)
}

// submitted answers a payment the service was asked to make: to the code
// page when it waits for confirmation, else to the transfer.
func (s *Server) submitted(w http.ResponseWriter, r *http.Request, rq *request, f sendForm, resend bool, t *coffer.Transfer, err error) error {
	if p, ok := app.IsPending(err); ok {
		st := pendingState{Form: f, Challenge: p.Challenge, Methods: p.Methods, Expires: p.ExpiresAt}
		if payee, err := s.svc.Owner(ctx(r), f.To); err == nil {
			st.Payee = payee
		}
		if cur, err := s.svc.CurrencyOfPurse(ctx(r), f.From); err == nil {
			st.Currency = cur.Code
			if v, err := coffer.ParseAmount(f.Amount, cur.Decimals); err == nil {
				st.Amount = formatAmount(v, cur.Decimals)
			}
		}
		setState(w, rq, cookiePending, st, int(coffer.ConfirmationTTL.Seconds())+60)
		if resend {
			setFlash(w, rq, "ok", "A new code is on its way.")
		}
		return redirect(w, r, "/send/confirm")
	}
	if err != nil {
		return err
	}
	msg := "The payment was sent."
	if t.Status == coffer.StatusHeld {
		msg = "The payment was sent and is held for the payee."
	}
	setFlash(w, rq, "ok", msg)
	return redirect(w, r, transferURL(t))
}

func transferURL(t *coffer.Transfer) string {
	return "/transfers/" + url.PathEscape(t.TransferID) + "?" + url.Values{"from": {t.From}}.Encode()
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st pendingState
	if !getState(r, rq, cookiePending, &st) {
		setFlash(w, rq, "error", "No payment is waiting for a code. Start a new one.")
		return redirect(w, r, "/send")
	}
	data := struct {
		pendingState
		Ways    []string
		SMS     bool
		Expires string
	}{pendingState: st, Ways: describeMethods(st.Methods), Expires: formatTime(st.Expires, rq.loc)}
	for _, m := range st.Methods {
		data.SMS = data.SMS || m == coffer.MethodSMS
	}
	return s.render(w, rq, "confirm", "Confirm the payment", "send", data)
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st pendingState
	if !getState(r, rq, cookiePending, &st) {
		setFlash(w, rq, "error", "No payment is waiting for a code. Start a new one.")
		return redirect(w, r, "/send")
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		setFlash(w, rq, "error", "Enter the code.")
		return redirect(w, r, "/send/confirm")
	}
	t, _, err := s.svc.ConfirmTransfer(ctx(r), rq.member, st.Form.TransferID, code)
	switch coffer.ErrorCode(err) {
	case "":
	case coffer.ECONFIRMATIONFAILED:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/send/confirm")
	case coffer.ECONFIRMATIONVOID, coffer.ENOTFOUND:
		clearCookie(w, cookiePending, rq.secure)
		setFlash(w, rq, "error", coffer.ErrorMessage(err)+" Nothing was sent.")
		return redirect(w, r, "/send")
	default:
		clearCookie(w, cookiePending, rq.secure)
		return err
	}
	clearCookie(w, cookiePending, rq.secure)
	setFlash(w, rq, "ok", "The payment was confirmed and sent.")
	return redirect(w, r, transferURL(t))
}

func (s *Server) transferPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	t, err := s.svc.GetTransfer(ctx(r), rq.member, r.PathValue("transfer_id"), r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	d := s.svc.Decimals(ctx(r), t.Currency)
	data := struct {
		T                   *coffer.Transfer
		Amount, When, Payee string
		Sent                bool
		Fee, Status         string
		Held                bool
		Protection          string
	}{T: t, Amount: formatAmount(t.Amount, d), When: formatTime(t.CreatedAt, rq.loc), Sent: t.Sender == rq.member,
		Status: transferStatus(t), Held: t.Status == coffer.StatusHeld}
	if t.Fee != 0 && data.Sent {
		data.Fee = formatAmount(t.Fee, d)
	}
	if t.Protection != nil {
		data.Protection = describeProtection(t.Protection.ByCode, t.Protection.Until, rq.loc)
	}
	if payee, err := s.svc.Owner(ctx(r), t.To); err == nil {
		data.Payee = payee
	}
	return s.render(w, rq, "transfer", "Payment "+t.TransferID, "purses", data)
}
