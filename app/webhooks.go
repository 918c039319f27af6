package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/webhooksend"
)

// WebhookConfig tunes webhook deliveries.
type WebhookConfig struct {
	// AllowLoopback lets endpoints (and checkout result URLs) be plain
	// http:// or https:// on loopback addresses: for development only.
	AllowLoopback bool
	// Now is the delivery worker's clock; nil: the service's.
	Now func() time.Time
	// Sender posts deliveries; nil: a webhooksend.Sender over Client.
	Sender WebhookSender
	// Client sends deliveries when Sender is nil; nil:
	// webhooksend.NewClient with a 10 s timeout, which connects to public
	// addresses only.
	Client *http.Client
	// Resolver resolves endpoint names for the default client; nil: the
	// system's.
	Resolver *net.Resolver
	// Observer, when set, is told of each delivery attempt's outcome:
	// WebhookDelivered, WebhookRetry or WebhookGaveUp.
	Observer func(outcome string)
}

// WebhookSender posts a delivery to an endpoint (webhooksend.Sender is the
// one the server uses). It returns the status of the answer; when no
// answer came, err says why, in full, for the log, and category is its
// kind (a DeliveryErr constant), for the member.
type WebhookSender interface {
	Post(ctx context.Context, url string, header http.Header, body []byte) (status int, category string, err error)
}

// What WebhookConfig.Observer is told of each delivery attempt.
const (
	WebhookDelivered = "delivered" // the endpoint answered 2xx
	WebhookRetry     = "retry"     // it failed; another attempt is scheduled
	WebhookGaveUp    = "gave_up"   // it failed, and it was the last
)

// Delivery timing: the first retry after FirstRetry, each wait doubling up
// to MaxRetry, for GiveUpAfter from the event.
const (
	WebhookFirstRetry  = 10 * time.Second
	WebhookMaxRetry    = time.Hour
	WebhookGiveUpAfter = 24 * time.Hour
	WebhookTimeout     = 10 * time.Second
	MaxWebhooks        = 10 // per member
)

// WebhookInput is a new endpoint as the member asks for it.
type WebhookInput struct {
	URL     string
	Events  []string
	Signing string // coffer.SigningHMAC (default) or coffer.SigningEd25519
	Proof   string // step-up proof (Coffer-Confirmation), needed once the member has a second factor
}

// ActionCreateWebhook is the step-up action of registering an endpoint: an
// endpoint learns of every incoming payment, so a stolen session must not
// be enough to add one.
const ActionCreateWebhook = "create_webhook"

// NewWebhook is a registered endpoint with what the member needs to verify
// its deliveries: the HMAC secret (shown this once) or the server's key.
type NewWebhook struct {
	*coffer.Webhook
	Secret    string // HMAC only
	PublicKey string // Ed25519 only: base64url of the server's webhook key
	KeyID     string
}

// errNoWebhook answers for an endpoint that is missing or another member's, as the store does.
var errNoWebhook = coffer.ErrNoWebhook

// WebhookKey returns the server's Ed25519 webhook signing key and its key
// ID. It is derived from the key that seals second-factor seeds, so every
// process sharing that key signs alike.
func (s *Service) WebhookKey() (ed25519.PrivateKey, string) {
	f := s.factorInit()
	// A fixed nonce over a fixed text: a keyed, deterministic value that
	// only holders of the sealing key can compute.
	out := f.aead.Seal(nil, make([]byte, f.aead.NonceSize()), []byte("coffer webhook signing key v1"), nil)
	seed := sha256.Sum256(out)
	priv := ed25519.NewKeyFromSeed(seed[:])
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return priv, "whk_" + hex.EncodeToString(sum[:8])
}

// ValidateCallbackURL checks a URL the server will call or send a browser
// to: https, or http to a loopback host when loopback is allowed, no user
// information, no fragment, and a host that is a name or a public address
// (loopback too when allowed). A name is checked again on every
// connection, against the address it then resolves to (webhooksend).
func ValidateCallbackURL(raw string, allowLoopback bool, field string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2000 {
		return nil, coffer.Errorf(coffer.EINVALID, "%s must be an absolute https URL.", field)
	}
	host := u.Hostname()
	loop := loopbackName(host)
	switch {
	case u.Scheme == "https" && (!loop || allowLoopback):
	case u.Scheme == "http" && loop && allowLoopback:
	default:
		return nil, coffer.Errorf(coffer.EINVALID, "%s must be an https URL of a public host.", field)
	}
	if !loop && !webhooksend.HostAllowed(host, allowLoopback) {
		return nil, coffer.Errorf(coffer.EINVALID, "%s must be an https URL of a public host.", field)
	}
	return u, nil
}

func loopbackName(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// CreateWebhook registers an endpoint for the member, with the step-up
// confirmation of a security change.
// Errors: EINVALID, ELIMITEXCEEDED (too many endpoints),
// ECONFIRMATIONREQUIRED and those of RequireConfirmation.
func (s *Service) CreateWebhook(ctx context.Context, memberID string, in WebhookInput) (*NewWebhook, error) {
	u, err := ValidateCallbackURL(in.URL, s.cfg.Webhooks.AllowLoopback, "url")
	if err != nil {
		return nil, err
	}
	if len(in.Events) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "events must name at least one event type.")
	}
	seen := map[string]bool{}
	var events []string
	for _, e := range in.Events {
		if !coffer.ValidWebhookEvent(e) {
			return nil, coffer.Errorf(coffer.EINVALID, "Unknown event type %q; use one of %s.", e, strings.Join(coffer.WebhookEventTypes, ", "))
		}
		if !seen[e] {
			seen[e] = true
			events = append(events, e)
		}
	}
	if in.Signing == "" {
		in.Signing = coffer.SigningHMAC
	}
	if in.Signing != coffer.SigningHMAC && in.Signing != coffer.SigningEd25519 {
		return nil, coffer.Errorf(coffer.EINVALID, "signing must be hmac or ed25519.")
	}
	// A member at the limit is told so before any code is asked for; the
	// store counts again in the insert's transaction, which is the check
	// that holds under concurrency.
	list, err := s.store.Webhooks(ctx, memberID)
	if err != nil {
		return nil, err
	}
	tooMany := coffer.Errorf(coffer.ELIMITEXCEEDED, "You may register at most %d webhooks.", MaxWebhooks)
	if len(list) >= MaxWebhooks {
		return nil, tooMany
	}
	if err := s.RequireConfirmation(ctx, memberID, Change{Action: ActionCreateWebhook, Summary: "send your payment events to " + u.Host,
		Values: []any{u.String(), events, in.Signing}}, in.Proof); err != nil {
		return nil, err
	}
	w := &coffer.Webhook{ID: newPaymentID("wh_"), MemberID: memberID, URL: u.String(), Events: events, Signing: in.Signing,
		CreatedAt: s.now().Truncate(time.Millisecond)}
	out := &NewWebhook{Webhook: w}
	if in.Signing == coffer.SigningHMAC {
		b := make([]byte, 32)
		rand.Read(b)
		out.Secret = "whsec_" + base64.RawURLEncoding.EncodeToString(b)
		w.SealedSecret = s.seal("webhook "+w.ID, []byte(out.Secret))
	} else {
		priv, kid := s.WebhookKey()
		out.PublicKey, out.KeyID = base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), kid
	}
	ev := coffer.NewAuditEvent(s.now(), "webhook.created", memberID, map[string]any{"webhook_id": w.ID, "url": w.URL, "events": events, "signing": w.Signing})
	if err := s.store.CreateWebhook(ctx, w, MaxWebhooks, ev); err != nil {
		if errors.Is(err, coffer.ErrTooManyWebhooks) {
			return nil, tooMany
		}
		return nil, err
	}
	return out, nil
}

// Webhooks lists the member's endpoints.
func (s *Service) Webhooks(ctx context.Context, memberID string) ([]*coffer.Webhook, error) {
	return s.store.Webhooks(ctx, memberID)
}

// DeleteWebhook removes one of the member's endpoints and its pending
// deliveries. Errors: ENOTFOUND.
func (s *Service) DeleteWebhook(ctx context.Context, memberID, id string) error {
	if !validPaymentID("wh_", id) {
		return errNoWebhook
	}
	if err := s.store.DeleteWebhook(ctx, memberID, id); err != nil {
		return err
	}
	s.audit(ctx, "webhook.deleted", memberID, map[string]any{"webhook_id": id})
	return nil
}

// WebhookDeliveries lists an endpoint's deliveries, newest first, each with
// its attempts. Errors: ENOTFOUND (not the member's endpoint).
func (s *Service) WebhookDeliveries(ctx context.Context, memberID, id string, before int64, limit int) ([]*coffer.Delivery, error) {
	if !validPaymentID("wh_", id) {
		return nil, errNoWebhook
	}
	w, err := s.store.Webhook(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && w.MemberID != memberID) {
		return nil, errNoWebhook
	}
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	ds, err := s.store.Deliveries(ctx, id, before, limit)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		for _, a := range d.Attempts {
			a.Error = deliveryErrorShown(a.Error)
		}
	}
	return ds, nil
}

// WebhookEvent is the body of a delivery.
type WebhookEvent struct {
	EventID   string         `json:"event_id"`
	Type      string         `json:"type"`
	CreatedAt time.Time      `json:"created_at"`
	Data      map[string]any `json:"data"`
}

// webhookEvent builds what a delivery says: the transfer (and the invoice
// or checkout order) it is about, amounts as decimal strings.
func (s *Service) webhookEvent(ctx context.Context, d *coffer.Delivery) (*WebhookEvent, error) {
	t, err := s.store.TransferBySeq(ctx, d.TransferSeq)
	if err != nil {
		return nil, err
	}
	dec := s.Decimals(ctx, t.Currency)
	data := map[string]any{"transfer_id": t.TransferID, "from": t.From, "to": t.To, "amount": coffer.FormatAmount(t.Amount, dec),
		"currency": t.Currency, "description": t.Description, "status": d.Status, "kind": t.Kind, "created_at": t.CreatedAt.UTC()}
	if t.Kind == "" {
		data["kind"] = coffer.KindTransfer
	}
	if d.Type == coffer.EventTransferReleased || d.Type == coffer.EventTransferReturned || d.Type == coffer.EventTransferIncoming {
		data["sender"] = t.Sender
	}
	if d.InvoiceID != "" {
		inv, err := s.store.Invoice(ctx, d.InvoiceID)
		if err != nil {
			return nil, err
		}
		data["invoice_id"], data["order_number"], data["payer"], data["purse"] = inv.ID, inv.OrderNumber, inv.Payer, inv.Purse
		if d.Type == coffer.EventCheckoutPaid {
			data["status"] = "paid"
		}
	}
	return &WebhookEvent{EventID: d.EventID, Type: d.Type, CreatedAt: d.CreatedAt.UTC(), Data: data}, nil
}

// SignWebhook returns the Coffer-Signature header for a body sent at ts,
// made with an HMAC secret or, when secret is nil, the server's key.
func (s *Service) SignWebhook(secret []byte, ts int64, body []byte) string {
	msg := append([]byte(strconv.FormatInt(ts, 10)+"."), body...)
	if secret != nil {
		m := hmac.New(sha256.New, secret)
		m.Write(msg)
		return "v1=" + hex.EncodeToString(m.Sum(nil))
	}
	priv, kid := s.WebhookKey()
	return "keyid=" + kid + ",ed25519=" + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, msg))
}

// WebhookWorker sends the outbox's deliveries. Create it with
// NewWebhookWorker; run it with Run, or a pass at a time with DeliverDue.
type WebhookWorker struct {
	s      *Service
	ws     coffer.WebhookStore
	sender WebhookSender
	now    func() time.Time
}

// NewWebhookWorker returns the delivery worker of s.
func NewWebhookWorker(s *Service) *WebhookWorker {
	cfg := s.cfg.Webhooks
	w := &WebhookWorker{s: s, ws: s.store, sender: cfg.Sender, now: cfg.Now}
	if w.now == nil {
		w.now = s.now
	}
	switch {
	case w.sender != nil:
	case cfg.Client != nil:
		w.sender = &webhooksend.Sender{Client: cfg.Client}
	default:
		w.sender = webhooksend.New(cfg.AllowLoopback, WebhookTimeout, cfg.Resolver)
	}
	return w
}

// Run delivers due events every interval until ctx ends.
func (w *WebhookWorker) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			n, err := w.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				w.s.log.Warn("webhook deliveries", "err", err)
			}
			if n < claimBatch || err != nil || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const claimBatch = 32

// DeliverDue claims the deliveries due now, sends them (several at once)
// and records each attempt; it returns how many it claimed.
func (w *WebhookWorker) DeliverDue(ctx context.Context) (int, error) {
	now := w.now()
	ds, err := w.ws.ClaimDeliveries(ctx, now, now.Add(WebhookTimeout+time.Minute), claimBatch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, d := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.deliver(ctx, d)
		}()
	}
	wg.Wait()
	return len(ds), nil
}

// nextAttempt decides a failed delivery's fate: the wait since the event
// (at least FirstRetry, at most MaxRetry) doubles the time already spent,
// and the last attempt falls on GiveUpAfter.
func nextAttempt(created, now time.Time) (string, time.Time) {
	end := created.Add(WebhookGiveUpAfter)
	if !now.Before(end) {
		return coffer.DeliveryFailed, now
	}
	wait := min(max(now.Sub(created), WebhookFirstRetry), WebhookMaxRetry)
	next := now.Add(wait)
	if next.After(end) {
		next = end
	}
	return coffer.DeliveryPending, next
}

func (w *WebhookWorker) deliver(ctx context.Context, d *coffer.Delivery) {
	start := w.now()
	t0 := time.Now() // the attempt's duration, on the monotonic clock
	a := &coffer.DeliveryAttempt{At: start}
	err := w.send(ctx, d, a)
	if ctx.Err() != nil {
		return // shutting down: the claim lapses and the delivery is due again
	}
	a.Duration = time.Since(t0)
	state, next := coffer.DeliveryDelivered, start
	if err != nil {
		a.Error = DeliveryErrNetwork
		var f *deliveryFailure
		if errors.As(err, &f) {
			a.Error = f.category
		}
		// The whole error for the operator's log; the member's record
		// keeps only the category.
		w.s.log.Debug("webhook delivery failed", "delivery", d.ID, "webhook", d.WebhookID, "category", a.Error, "err", err)
		state, next = nextAttempt(d.CreatedAt, start)
	}
	if err := w.ws.RecordAttempt(context.WithoutCancel(ctx), d.ID, a, state, next); err != nil {
		w.s.log.Warn("webhook attempt not recorded", "delivery", d.ID, "err", err)
	}
	if obs := w.s.cfg.Webhooks.Observer; obs != nil {
		switch state {
		case coffer.DeliveryDelivered:
			obs(WebhookDelivered)
		case coffer.DeliveryFailed:
			obs(WebhookGaveUp)
		default:
			obs(WebhookRetry)
		}
	}
}

// deliveryFailure is a failed attempt whose category is known where it
// happens.
type deliveryFailure struct {
	category string
	err      error
}

func (f *deliveryFailure) Error() string {
	if f.err == nil {
		return f.category
	}
	return f.category + ": " + f.err.Error()
}

func (f *deliveryFailure) Unwrap() error { return f.err }

func (w *WebhookWorker) send(ctx context.Context, d *coffer.Delivery, a *coffer.DeliveryAttempt) error {
	internal := func(err error) error { return &deliveryFailure{category: DeliveryErrInternal, err: err} }
	hook, err := w.ws.Webhook(ctx, d.WebhookID)
	if err != nil {
		return internal(fmt.Errorf("endpoint: %w", err))
	}
	ev, err := w.s.webhookEvent(ctx, d)
	if err != nil {
		return internal(fmt.Errorf("event data: %w", err))
	}
	body, _ := json.Marshal(ev)
	var secret []byte
	if hook.Signing == coffer.SigningHMAC {
		if secret, err = w.s.unseal("webhook "+hook.ID, hook.SealedSecret); err != nil {
			return internal(fmt.Errorf("endpoint secret: %w", err))
		}
	}
	ts := w.now().Unix()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "coffer-webhooks/1")
	h.Set("Coffer-Event-Id", ev.EventID)
	h.Set("Coffer-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Coffer-Signature", w.s.SignWebhook(secret, ts, body))
	status, category, err := w.sender.Post(ctx, hook.URL, h, body)
	if err != nil {
		return &deliveryFailure{category: category, err: err}
	}
	a.StatusCode = status
	if status < 200 || status > 299 {
		return &deliveryFailure{category: httpStatusCategory(status)}
	}
	return nil
}
