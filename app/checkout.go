package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"time"

	"github.com/coffer-money/coffer"
)

// Hosted checkout: a merchant sends a buyer's browser to the web keeper's
// /pay with a request it signed (HMAC-SHA256 with its checkout secret, or
// Ed25519 with one of its key-file keys); the buyer logs in, reviews and
// pays an invoice the request becomes, and returns to the merchant's
// result URL. The payment raises checkout.paid for the merchant.

// ActionCheckoutSecret is the step-up action of setting a checkout secret.
const ActionCheckoutSecret = "checkout_secret"

// Bounds of a checkout request.
const (
	MaxCheckoutAhead   = 24 * time.Hour // how far in the future expires may be
	CheckoutInvoiceTTL = 1              // hours the invoice of a checkout stays payable
)

// Why a checkout request is refused; the web keeper picks the page's status.
const (
	CheckoutBadSignature = "signature" // missing, malformed, tampered, unknown or revoked key
	CheckoutExpired      = "expired"   // expires is past
	CheckoutReplayed     = "replayed"  // the nonce was used by another browser
	CheckoutInvalid      = "invalid"   // a parameter is missing or malformed, expires too far ahead
	CheckoutBadResultURL = "result_url"
	CheckoutBadPurse     = "purse"  // not the merchant's purse, or another currency
	CheckoutBadAmount    = "amount" // not a positive amount of the currency
	CheckoutNotMerchant  = "merchant"
	CheckoutPaid         = "paid"  // the order was paid already
	CheckoutTaken        = "taken" // another payer is paying the order
)

// CheckoutError is a refused checkout request. ResultURL is set once the
// request's signature held and its result URL is acceptable, so that the
// refusal page may link back to the merchant.
type CheckoutError struct {
	Reason    string
	Message   string
	ResultURL string
	Order     string
}

func (e *CheckoutError) Error() string { return "checkout refused (" + e.Reason + "): " + e.Message }

// CheckoutRequest is a verified checkout request.
type CheckoutRequest struct {
	ID          string // derived from merchant and nonce: names the checkout in the browser's cookie
	Merchant    string
	Purse       string
	Currency    string
	Amount      int64
	Decimals    int
	Order       string
	Description string
	ResultURL   string
	Nonce       string
	KeyID       string
	Expires     time.Time
	Query       string // the request's parameters, signature included, to rebuild the /pay address
}

// AmountText is the amount as the merchant would write it.
func (c *CheckoutRequest) AmountText() string { return coffer.FormatAmount(c.Amount, c.Decimals) }

// CheckoutCanonical is the text a checkout request's signature covers: every
// parameter but sig, sorted by name, each as k=v with URL query escaping,
// joined by &. client.SignCheckout builds the same text.
func CheckoutCanonical(params url.Values) string {
	c := url.Values{}
	for k, v := range params {
		if k != "sig" {
			c[k] = v
		}
	}
	return c.Encode()
}

// CreateCheckoutSecret makes (replacing any) the merchant's checkout secret
// and returns it; it is shown this once and kept sealed. It needs a
// merchant level and the step-up confirmation of a security change.
// Errors: ELEVELTOOLOW, ECONFIRMATIONREQUIRED and those of
// RequireConfirmation.
func (s *Service) CreateCheckoutSecret(ctx context.Context, memberID, proof string) (string, error) {
	if err := s.requireMerchant(ctx, memberID, "hosted checkout"); err != nil {
		return "", err
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionCheckoutSecret, Summary: "create a new hosted-checkout secret"}, proof); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := "cks_" + base64.RawURLEncoding.EncodeToString(b)
	now := s.now().Truncate(time.Millisecond)
	if err := s.store.SetCheckoutSecret(ctx, memberID, s.seal("checkout "+memberID, []byte(secret)), now); err != nil {
		return "", err
	}
	s.audit(ctx, "checkout.secret_set", memberID, map[string]any{})
	return secret, nil
}

// checkoutKey keys the MAC of the checkout cookie: derived from the
// sealing key, like WebhookKey.
func (s *Service) checkoutKey() []byte {
	f := s.factorInit()
	out := f.aead.Seal(nil, make([]byte, f.aead.NonceSize()), []byte("coffer checkout cookie key v1"), nil)
	sum := sha256.Sum256(out)
	return sum[:]
}

// CheckoutMAC authenticates a value the web keeper keeps in the browser
// for a checkout (the cookie tying a checkout to the browser).
func (s *Service) CheckoutMAC(value string) []byte {
	h := hmac.New(sha256.New, s.checkoutKey())
	h.Write([]byte(value))
	return h.Sum(nil)
}

func refuse(reason, msg string) *CheckoutError { return &CheckoutError{Reason: reason, Message: msg} }

// VerifyCheckout checks a checkout request: its signature, its time, the
// result URL, that the purse is the merchant's, the amount, and that the
// order is not paid yet. It does not consume the nonce (UseCheckoutNonce).
// Errors: *CheckoutError, or the store's.
func (s *Service) VerifyCheckout(ctx context.Context, params url.Values) (*CheckoutRequest, error) {
	for k, v := range params {
		if len(v) != 1 {
			return nil, refuse(CheckoutInvalid, "The parameter "+trimmed(k)+" appears more than once.")
		}
	}
	get := params.Get
	sig := get("sig")
	if sig == "" {
		return nil, refuse(CheckoutBadSignature, "This payment link is not signed by the shop.")
	}
	for _, k := range []string{"merchant", "purse", "amount", "currency", "order", "result_url", "expires", "nonce"} {
		if get(k) == "" {
			return nil, refuse(CheckoutInvalid, "This payment link has no "+k+".")
		}
	}
	c := &CheckoutRequest{Merchant: get("merchant"), Purse: get("purse"), Currency: get("currency"), Order: get("order"),
		Description: get("desc"), ResultURL: get("result_url"), Nonce: get("nonce"), KeyID: get("key_id"), Query: params.Encode()}
	if !coffer.ValidMemberID(c.Merchant) {
		return nil, refuse(CheckoutInvalid, "merchant must be a 12-digit member ID.")
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, refuse(CheckoutBadSignature, "The signature of this payment link is malformed.")
	}
	canonical := []byte(CheckoutCanonical(params))
	badSig := refuse(CheckoutBadSignature, "The signature of this payment link does not match: the link was changed or not made by the shop.")
	if c.KeyID != "" {
		k, err := s.Key(ctx, c.Merchant, c.KeyID)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, badSig
		} else if err != nil {
			return nil, err
		}
		if k.Revoked() {
			return nil, refuse(CheckoutBadSignature, "This payment link is signed with a key the shop has revoked.")
		}
		if len(k.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(ed25519.PublicKey(k.PublicKey), canonical, raw) {
			return nil, badSig
		}
	} else {
		sealed, err := s.store.CheckoutSecret(ctx, c.Merchant)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, badSig
		} else if err != nil {
			return nil, err
		}
		secret, err := s.unseal("checkout "+c.Merchant, sealed)
		if err != nil {
			return nil, err
		}
		h := hmac.New(sha256.New, secret)
		h.Write(canonical)
		if !hmac.Equal(h.Sum(nil), raw) {
			return nil, badSig
		}
	}
	// Signed by the merchant from here on.
	now := s.now()
	exp, err := strconv.ParseInt(get("expires"), 10, 64)
	if err != nil || exp <= 0 {
		return nil, refuse(CheckoutInvalid, "expires must be a Unix time in seconds.")
	}
	c.Expires = time.Unix(exp, 0).UTC()
	if !now.Before(c.Expires) {
		return nil, refuse(CheckoutExpired, "This payment link has expired. Go back to the shop and start the payment again.")
	}
	if c.Expires.After(now.Add(MaxCheckoutAhead)) {
		return nil, refuse(CheckoutInvalid, "This payment link is valid for too long: expires may be at most 24 hours ahead.")
	}
	if len(c.Nonce) < 8 || len(c.Nonce) > 128 || !coffer.ValidTransferID(c.Nonce[:min(len(c.Nonce), 64)]) {
		return nil, refuse(CheckoutInvalid, "nonce must be 8 to 128 letters, digits or . _ : -.")
	}
	if _, err := ValidateCallbackURL(c.ResultURL, s.cfg.Webhooks.AllowLoopback, "result_url"); err != nil {
		return nil, refuse(CheckoutBadResultURL, coffer.ErrorMessage(err))
	}
	withURL := func(e *CheckoutError) *CheckoutError { e.ResultURL, e.Order = c.ResultURL, c.Order; return e }
	if err := validateOrderNumber(c.Order); err != nil {
		return nil, withURL(refuse(CheckoutInvalid, coffer.ErrorMessage(err)))
	}
	if err := coffer.ValidateDescription(c.Description); err != nil {
		return nil, withURL(refuse(CheckoutInvalid, coffer.ErrorMessage(err)))
	}
	if owner, err := s.Owner(ctx, c.Purse); err != nil || owner != c.Merchant {
		return nil, withURL(refuse(CheckoutBadPurse, "The purse of this payment link is not the shop's."))
	}
	cur, err := s.CurrencyOfPurse(ctx, c.Purse)
	if err != nil {
		return nil, err
	}
	if cur.Code != c.Currency {
		return nil, withURL(refuse(CheckoutBadPurse, "The shop's purse is not in "+trimmed(c.Currency)+"."))
	}
	c.Decimals = cur.Decimals
	if c.Amount, err = coffer.ParseAmount(get("amount"), cur.Decimals); err != nil || c.Amount <= 0 {
		return nil, withURL(refuse(CheckoutBadAmount, "The amount of this payment link is not a valid amount of "+cur.Code+"."))
	}
	if _, ok, err := s.isMerchant(ctx, c.Merchant); err != nil {
		return nil, err
	} else if !ok {
		return nil, withURL(refuse(CheckoutNotMerchant, "The shop's verification level does not allow it to take payments."))
	}
	if inv, err := s.invoiceByOrder(ctx, c.Merchant, c.Order); err == nil && inv.State == coffer.InvoicePaid {
		return nil, withURL(refuse(CheckoutPaid, "The order "+trimmed(c.Order)+" has already been paid."))
	} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return nil, err
	}
	sum := sha256.Sum256([]byte("checkout|" + c.Merchant + "|" + c.Nonce))
	c.ID = base64.RawURLEncoding.EncodeToString(sum[:16])
	return c, nil
}

func (s *Service) invoiceByOrder(ctx context.Context, merchant, order string) (*coffer.Invoice, error) {
	inv, err := s.store.InvoiceByOrder(ctx, merchant, order)
	if err != nil {
		return nil, err
	}
	s.expireInvoice(ctx, inv)
	return inv, nil
}

// UseCheckoutNonce consumes a checkout request's nonce; false when it was
// used before.
func (s *Service) UseCheckoutNonce(ctx context.Context, c *CheckoutRequest) (bool, error) {
	return s.store.UseCheckoutNonce(ctx, c.Merchant, c.Nonce, s.now(), c.Expires.Add(time.Minute))
}

// CheckoutPayee is what a payer is shown of the merchant of a checkout.
type CheckoutPayee struct {
	MemberID  string
	Level     string
	FirstName string // only when the merchant's level is at least initial
	LastName  string
}

// CheckoutPayee describes a checkout's merchant for the payer.
func (s *Service) CheckoutPayee(ctx context.Context, merchant string) (*CheckoutPayee, error) {
	p := &CheckoutPayee{MemberID: merchant}
	if s.cfg.Levels == nil {
		return p, nil
	}
	l, _, err := s.MemberLevel(ctx, merchant)
	if err != nil {
		return nil, err
	}
	p.Level = l.Name
	if init := s.cfg.Levels.Named(coffer.LevelInitial); init != nil && l.Rank >= init.Rank {
		if prof, err := s.store.Profile(ctx, merchant); err == nil {
			p.FirstName, p.LastName = prof.Values[coffer.FieldFirstName], prof.Values[coffer.FieldLastName]
		}
	}
	return p, nil
}

// StartCheckout turns a verified checkout request into an invoice from the
// merchant to the payer, recorded as the checkout's, ready to be paid with
// PayInvoice. The order number is unique per merchant, so of two payers
// racing only one gets the invoice; the same payer coming back gets the
// same invoice. Errors: *CheckoutError, those of CreateInvoice.
func (s *Service) StartCheckout(ctx context.Context, payer string, c *CheckoutRequest) (*coffer.Invoice, error) {
	withURL := func(e *CheckoutError) *CheckoutError { e.ResultURL, e.Order = c.ResultURL, c.Order; return e }
	if payer == c.Merchant {
		return nil, withURL(refuse(CheckoutInvalid, "You cannot pay your own order."))
	}
	inv, err := s.CreateInvoice(ctx, c.Merchant, InvoiceInput{Payer: payer, Purse: c.Purse, Amount: c.AmountText(),
		Description: c.Description, OrderNumber: c.Order, ExpiresInHours: CheckoutInvoiceTTL})
	if coffer.ErrorCode(err) == coffer.ECONFLICT {
		old, err2 := s.invoiceByOrder(ctx, c.Merchant, c.Order)
		switch {
		case err2 != nil:
			return nil, err
		case old.State == coffer.InvoicePaid:
			return nil, withURL(refuse(CheckoutPaid, "The order "+trimmed(c.Order)+" has already been paid."))
		case old.Payer != payer || old.State != coffer.InvoicePending || old.Amount != c.Amount || old.Purse != c.Purse:
			return nil, withURL(refuse(CheckoutTaken, "The order "+trimmed(c.Order)+" is being paid by someone else, or was closed."))
		}
		inv, err = old, nil
	}
	if err != nil {
		return nil, err
	}
	err = s.store.CreateCheckout(ctx, &coffer.Checkout{InvoiceID: inv.ID, Merchant: c.Merchant, OrderNumber: c.Order,
		ResultURL: c.ResultURL, CreatedAt: s.now().Truncate(time.Millisecond)})
	if err != nil && coffer.ErrorCode(err) != coffer.ECONFLICT {
		return nil, err
	}
	return inv, nil
}
