package web

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// Hosted checkout: a shop sends the buyer to /pay with a request it signed
// (see app.VerifyCheckout and client.SignCheckout). The first valid GET
// consumes the request's nonce and ties the checkout to this browser with a
// cookie; the buyer then logs in (back to /pay after it), reviews, and pays
// an invoice of the order with the same confirmation as any invoice. The
// answer sends the browser to the shop's result URL.

const (
	// cookieCheckout holds the IDs of this browser's checkouts. It is
	// SameSite=Lax, unlike every other cookie, because the shop's link
	// to /pay is a cross-site navigation; it is signed by the server.
	cookieCheckout = "coffer_checkout"
	// cookieCheckoutReturn is the /pay address to come back to after the
	// login; cookieCheckoutPending the checkout payment waiting for a code.
	cookieCheckoutReturn  = "coffer_checkout_return"
	cookieCheckoutPending = "coffer_checkout_pending"
	maxCheckoutsInCookie  = 4
)

// checkoutStatus is the page status of each refusal.
var checkoutStatus = map[string]int{
	app.CheckoutBadSignature: http.StatusForbidden,
	app.CheckoutExpired:      http.StatusGone,
	app.CheckoutReplayed:     http.StatusConflict,
	app.CheckoutInvalid:      http.StatusBadRequest,
	app.CheckoutBadResultURL: http.StatusBadRequest,
	app.CheckoutBadPurse:     http.StatusBadRequest,
	app.CheckoutBadAmount:    http.StatusBadRequest,
	app.CheckoutNotMerchant:  http.StatusForbidden,
	app.CheckoutPaid:         http.StatusConflict,
	app.CheckoutTaken:        http.StatusConflict,
}

// checkoutIDs reads the browser's checkout cookie; nil when missing or forged.
func (s *Server) checkoutIDs(r *http.Request, rq *request) []string {
	ids, sig, ok := strings.Cut(readCookie(r, cookieCheckout, rq.secure), ".")
	if !ok {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.svc.CheckoutMAC("checkout cookie|"+ids)) {
		return nil
	}
	return strings.Split(ids, "~")
}

func (s *Server) hasCheckout(r *http.Request, rq *request, id string) bool {
	for _, x := range s.checkoutIDs(r, rq) {
		if x == id {
			return true
		}
	}
	return false
}

// addCheckout ties a checkout to the browser: HttpOnly, SameSite=Lax,
// signed, until the request expires.
func (s *Server) addCheckout(w http.ResponseWriter, r *http.Request, rq *request, c *app.CheckoutRequest) {
	ids := append([]string{c.ID}, s.checkoutIDs(r, rq)...)
	if len(ids) > maxCheckoutsInCookie {
		ids = ids[:maxCheckoutsInCookie]
	}
	v := strings.Join(ids, "~")
	v += "." + base64.RawURLEncoding.EncodeToString(s.svc.CheckoutMAC("checkout cookie|"+v))
	http.SetCookie(w, &http.Cookie{Name: cookieName(cookieCheckout, rq.secure), Value: v, Path: "/", MaxAge: int(app.MaxCheckoutAhead.Seconds()),
		HttpOnly: true, Secure: rq.secure, SameSite: http.SameSiteLaxMode})
}

// resultURL is the shop's result URL with the order and status added.
func resultURL(raw, order, status string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("order", order)
	q.Set("status", status)
	u.RawQuery = q.Encode()
	return u.String()
}

// allowResultOrigin lets the page's forms lead to the shop's origin: the
// answer to a payment redirects there, and browsers check form-action on
// redirects after a form.
func allowResultOrigin(w http.ResponseWriter, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, " ;'\",") || (u.Scheme != "https" && u.Scheme != "http") {
		return
	}
	w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy, "form-action 'self'",
		"form-action 'self' "+u.Scheme+"://"+u.Host, 1))
}

type payErrorData struct {
	Status   int
	Message  string
	Back     string // the shop's result URL with status=failed; "" when the request cannot be trusted
	Retry    string // /pay again, after a failure the payer can fix
	Order    string
	Reason   string
	Title    string
	LoggedIn bool
}

// checkoutFailed renders a refusal or a failed payment.
func (s *Server) checkoutFailed(w http.ResponseWriter, r *http.Request, rq *request, err error, retry string) error {
	var ce *app.CheckoutError
	if !errors.As(err, &ce) {
		return err
	}
	status := checkoutStatus[ce.Reason]
	if status == 0 {
		status = http.StatusBadRequest
	}
	d := payErrorData{Status: status, Message: ce.Message, Order: ce.Order, Reason: ce.Reason, Retry: retry, Title: "This payment cannot be made"}
	if ce.ResultURL != "" {
		d.Back = resultURL(ce.ResultURL, ce.Order, "failed")
	}
	if ce.Reason == app.CheckoutPaid {
		d.Title = "This order is already paid"
	}
	return s.render(w, rq, "pay_error", d.Title, "", d, status)
}

// paymentFailed wraps an error of the payment itself as a refusal that
// links back to the shop.
func paymentFailed(c *app.CheckoutRequest, err error) error {
	return &app.CheckoutError{Reason: coffer.ErrorCode(err), Message: coffer.ErrorMessage(err), ResultURL: c.ResultURL, Order: c.Order}
}

// verifyCheckout reads and verifies the request in params.
func (s *Server) verifyCheckout(r *http.Request, params url.Values) (*app.CheckoutRequest, error) {
	return s.svc.VerifyCheckout(ctx(r), params)
}

type payData struct {
	C          *app.CheckoutRequest
	Payee      *app.CheckoutPayee
	Name       string
	Amount     string
	Expires    string
	Purses     []purseRow
	TransferID string
	Cancel     string
	LoginLink  string
	Q          string // the request, for the form (formQuery)
}

// formQuery carries a request's query in a form field as base64url, so
// that no HTML character reference can change it on the way.
func formQuery(q string) string { return base64.RawURLEncoding.EncodeToString([]byte(q)) }

// payPage is GET /pay: verify, consume the nonce once, then show the order
// (with a login link for a visitor, with the payment form for a member).
func (s *Server) payPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	c, err := s.verifyCheckout(r, r.URL.Query())
	if err != nil {
		return s.checkoutFailed(w, r, rq, err, "")
	}
	if !s.hasCheckout(r, rq, c.ID) {
		fresh, err := s.svc.UseCheckoutNonce(ctx(r), c)
		if err != nil {
			return err
		}
		if !fresh {
			return s.checkoutFailed(w, r, rq, &app.CheckoutError{Reason: app.CheckoutReplayed,
				Message: "This payment link was already used. Go back to the shop and start the payment again."}, "")
		}
		s.addCheckout(w, r, rq, c)
	}
	payee, err := s.svc.CheckoutPayee(ctx(r), c.Merchant)
	if err != nil {
		return err
	}
	d := payData{C: c, Payee: payee, Amount: formatAmount(c.Amount, c.Decimals), Expires: formatTime(c.Expires, rq.loc),
		Cancel: resultURL(c.ResultURL, c.Order, "failed"), Name: strings.TrimSpace(payee.FirstName + " " + payee.LastName)}
	if rq.member == "" {
		setState(w, rq, cookieCheckoutReturn, "/pay?"+c.Query, 1800)
		d.LoginLink = "/pay/login"
		return s.render(w, rq, "pay", "Pay "+d.Amount+" "+c.Currency, "", d)
	}
	list, err := s.svc.Purses(ctx(r), rq.member)
	if err != nil {
		return err
	}
	for _, p := range list {
		if p.Currency == c.Currency && !p.Issuer {
			d.Purses = append(d.Purses, s.purseRow(r, p))
		}
	}
	d.TransferID, d.Q = newTransferID(), formQuery(c.Query)
	allowResultOrigin(w, c.ResultURL)
	return s.render(w, rq, "pay", "Pay "+d.Amount+" "+c.Currency, "", d)
}

// payLogin is the login link of /pay: a member whose session cookie the
// cross-site navigation did not carry goes straight back; a visitor logs in
// and comes back (see afterLogin).
func (s *Server) payLogin(w http.ResponseWriter, r *http.Request, rq *request) error {
	var to string
	if !getState(r, rq, cookieCheckoutReturn, &to) || !strings.HasPrefix(to, "/pay?") {
		return coffer.Errorf(coffer.EINVALID, "No payment is waiting. Go back to the shop and start the payment again.")
	}
	if rq.member != "" {
		clearCookie(w, cookieCheckoutReturn, rq.secure)
		return redirect(w, r, to)
	}
	setFlash(w, rq, "ok", "Log in to continue the payment to the shop.")
	return redirect(w, r, "/login")
}

// checkoutAfterLogin is where a login continues when a checkout waits.
func (s *Server) checkoutAfterLogin(w http.ResponseWriter, r *http.Request, rq *request) string {
	var to string
	if getState(r, rq, cookieCheckoutReturn, &to) && strings.HasPrefix(to, "/pay?") {
		clearCookie(w, cookieCheckoutReturn, rq.secure)
		return to
	}
	return ""
}

// checkoutPending is a checkout payment waiting for its code.
type checkoutPending struct {
	Q          string    `json:"q"`
	InvoiceID  string    `json:"i"`
	TransferID string    `json:"t"`
	From       string    `json:"f"`
	Challenge  string    `json:"c,omitempty"`
	Methods    []string  `json:"m"`
	Expires    time.Time `json:"e"`
}

// postedCheckout re-verifies the checkout a form carries and checks that it
// is this browser's.
func (s *Server) postedCheckout(r *http.Request, rq *request, q string) (*app.CheckoutRequest, error) {
	params, err := url.ParseQuery(q)
	if err != nil {
		return nil, &app.CheckoutError{Reason: app.CheckoutInvalid, Message: "The payment form is damaged. Go back to the shop and start again."}
	}
	c, err := s.verifyCheckout(r, params)
	if err != nil {
		return nil, err
	}
	if !s.hasCheckout(r, rq, c.ID) {
		return nil, &app.CheckoutError{Reason: app.CheckoutReplayed, ResultURL: c.ResultURL, Order: c.Order,
			Message: "This payment was not started in this browser. Go back to the shop and start the payment again."}
	}
	return c, nil
}

// pay is POST /pay: the payer confirmed the order.
func (s *Server) pay(w http.ResponseWriter, r *http.Request, rq *request) error {
	q, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("q"))
	if err != nil {
		return s.checkoutFailed(w, r, rq, &app.CheckoutError{Reason: app.CheckoutInvalid, Message: "The payment form is damaged. Go back to the shop and start again."}, "")
	}
	c, err := s.postedCheckout(r, rq, string(q))
	if err != nil {
		return s.checkoutFailed(w, r, rq, err, "")
	}
	retry := "/pay?" + c.Query
	from, tid := r.PostForm.Get("from"), r.PostForm.Get("transfer_id")
	if from == "" || !coffer.ValidTransferID(tid) {
		setFlash(w, rq, "error", "Choose the purse to pay from.")
		return redirect(w, r, retry)
	}
	inv, err := s.svc.StartCheckout(ctx(r), rq.member, c)
	if err != nil {
		var ce *app.CheckoutError
		if code := coffer.ErrorCode(err); !errors.As(err, &ce) && code != coffer.EINTERNAL && code != coffer.EUNAVAILABLE {
			err = paymentFailed(c, err)
		}
		return s.checkoutFailed(w, r, rq, err, "")
	}
	resend := r.PostForm.Get("resend") != ""
	_, _, err = s.svc.PayInvoice(ctx(r), rq.member, inv.ID, app.TransferInput{TransferID: tid, From: from, Resend: resend})
	if p, ok := app.IsPending(err); ok {
		setState(w, rq, cookieCheckoutPending, checkoutPending{Q: c.Query, InvoiceID: inv.ID, TransferID: tid, From: from,
			Challenge: p.Challenge, Methods: p.Methods, Expires: p.ExpiresAt}, int(coffer.ConfirmationTTL.Seconds())+60)
		if resend {
			setFlash(w, rq, "ok", "A new code is on its way.")
		}
		return redirect(w, r, "/pay/confirm")
	}
	return s.checkoutPaid(w, r, rq, c, err, retry)
}

// checkoutPaid answers a payment: to the shop, or the failure page.
func (s *Server) checkoutPaid(w http.ResponseWriter, r *http.Request, rq *request, c *app.CheckoutRequest, err error, retry string) error {
	switch coffer.ErrorCode(err) {
	case "":
		return redirect(w, r, resultURL(c.ResultURL, c.Order, "paid"))
	case coffer.EINTERNAL, coffer.EUNAVAILABLE:
		return err
	}
	return s.checkoutFailed(w, r, rq, paymentFailed(c, err), retry)
}

func (s *Server) payConfirmPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st checkoutPending
	if !getState(r, rq, cookieCheckoutPending, &st) {
		return coffer.Errorf(coffer.EINVALID, "No payment is waiting for a code. Go back to the shop and start again.")
	}
	c, err := s.postedCheckout(r, rq, st.Q)
	if err != nil {
		return s.checkoutFailed(w, r, rq, err, "")
	}
	data := struct {
		St      checkoutPending
		Q       string
		C       *app.CheckoutRequest
		Amount  string
		Ways    []string
		SMS     bool
		Expires string
	}{St: st, Q: formQuery(st.Q), C: c, Amount: formatAmount(c.Amount, c.Decimals), Ways: describeMethods(st.Methods), Expires: formatTime(st.Expires, rq.loc)}
	for _, m := range st.Methods {
		data.SMS = data.SMS || m == coffer.MethodSMS
	}
	allowResultOrigin(w, c.ResultURL)
	return s.render(w, rq, "pay_confirm", "Confirm the payment", "", data)
}

func (s *Server) payConfirm(w http.ResponseWriter, r *http.Request, rq *request) error {
	var st checkoutPending
	if !getState(r, rq, cookieCheckoutPending, &st) {
		return coffer.Errorf(coffer.EINVALID, "No payment is waiting for a code. Go back to the shop and start again.")
	}
	c, err := s.postedCheckout(r, rq, st.Q)
	if err != nil {
		return s.checkoutFailed(w, r, rq, err, "")
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		setFlash(w, rq, "error", "Enter the code.")
		return redirect(w, r, "/pay/confirm")
	}
	_, _, err = s.svc.ConfirmTransfer(ctx(r), rq.member, st.TransferID, code)
	if coffer.ErrorCode(err) == coffer.ECONFIRMATIONFAILED {
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/pay/confirm")
	}
	clearCookie(w, cookieCheckoutPending, rq.secure)
	return s.checkoutPaid(w, r, rq, c, err, "/pay?"+c.Query)
}
