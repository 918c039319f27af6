package httpapi_test

// The OpenAPI description in openapi.json is written by this file: the
// operations are a table here, expanded into OpenAPI 3.1 with a few helpers
// so that each endpoint is one short entry. After changing the table, run
//
//	go test ./httpapi -run TestOpenAPI_File -update-openapi
//
// and commit openapi.json; TestOpenAPI_File fails while the two differ.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite httpapi/openapi.json from the table in openapi_gen_test.go")

// J is a piece of JSON under construction.
type J = map[string]any

func ref(name string) J { return J{"$ref": "#/components/schemas/" + name} }

func arr(items J) J { return J{"type": "array", "items": items} }

func typ(t, desc string) J {
	j := J{"type": t}
	if desc != "" {
		j["description"] = desc
	}
	return j
}

func str(desc string) J  { return typ("string", desc) }
func boo(desc string) J  { return typ("boolean", desc) }
func intg(desc string) J { return typ("integer", desc) }
func ts(desc string) J   { j := str(desc); j["format"] = "date-time"; return j }
func enum(desc string, vals ...string) J {
	j := str(desc)
	j["enum"] = vals
	return j
}

// orNull lets a value also be null.
func orNull(s J) J {
	t, ok := s["type"].(string)
	if !ok {
		return J{"anyOf": []J{s, {"type": "null"}}}
	}
	c := J{}
	for k, v := range s {
		c[k] = v
	}
	c["type"] = []string{t, "null"}
	return c
}

// strMap is an object of string values.
func strMap(desc string) J {
	j := typ("object", desc)
	j["additionalProperties"] = J{"type": "string"}
	return j
}

// obj is an object from name/schema pairs; a name ending in "*" is
// required. Request bodies are closed (the server refuses unknown fields).
func object(closed bool, pairs ...any) J {
	props := J{}
	var req []string
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name = n
			req = append(req, n)
		}
		props[name] = pairs[i+1]
	}
	j := J{"type": "object", "properties": props}
	if len(req) > 0 {
		j["required"] = req
	}
	if closed {
		j["additionalProperties"] = false
	}
	return j
}

func in(pairs ...any) J     { return object(true, pairs...) }
func outObj(pairs ...any) J { return object(false, pairs...) }

func desc(s J, d string) J { s["description"] = d; return s }

// resp is one answer of an operation: no content when schema is nil.
type resp struct {
	status  int
	desc    string
	schema  J
	content string // default application/json
}

func res(status int, d string, schema J) resp { return resp{status: status, desc: d, schema: schema} }

// op is one endpoint.
type op struct {
	pattern, id, tag, summary, desc string
	public                          bool // no authentication
	step                            bool // may need Coffer-Confirmation
	query                           []J
	body                            J
	bodyOptional                    bool
	bodyType                        string // default application/json
	resps                           []resp
}

func q(name, d string, schema J) J {
	return J{"name": name, "in": "query", "description": d, "schema": schema}
}

var (
	qLimit  = func(max int) J { return q("limit", "Page size.", J{"type": "integer", "minimum": 1, "maximum": max}) }
	qCursor = q("cursor", "The next_cursor of the previous page.", str(""))
	qResend = q("resend", "true sends a transfer again that looks like a recent one to the same payee (otherwise refused as a likely duplicate).", enum("", "true", "false"))
)

// pathParams describes the path parameters by name.
var pathParams = map[string]string{
	"challenge_id":   "The challenge_id of a login waiting for a second factor.",
	"session_id":     "A session of the member.",
	"purse":          "A purse number: an upper-case letter and 12 digits.",
	"transfer_id":    "The transfer ID its sender chose.",
	"invoice_id":     "An invoice.",
	"trust_id":       "A trust the member gave.",
	"key_id":         "A signing key of the member.",
	"certificate_id": "A client certificate of the member.",
	"member_id":      "A 12-digit member ID.",
	"request_id":     "A disclosure request.",
	"id":             "A verification request or document.",
	"webhook_id":     "A webhook endpoint of the member.",
}

func operations() []op {
	transferAnswers := []resp{
		res(201, "The transfer is applied.", ref("Transfer")),
		res(200, "A retry with the same transfer ID: the first result, unchanged.", ref("Transfer")),
		res(202, "The transfer waits for confirmation with a second factor (POST /v1/transfers/{transfer_id}/confirm).", ref("PendingTransfer")),
	}
	sessionAnswers := []resp{
		res(201, "A session is open.", ref("SessionToken")),
		res(202, "The password was right; a second factor is due (POST /v1/sessions/{challenge_id}/confirm).", ref("LoginChallenge")),
	}
	recovery := outObj("status*", enum("", "verified"), "recovery_codes", desc(arr(str("")), "One-time recovery codes, shown once when the first factor is verified."))
	verified := res(200, "The factor is verified.", recovery)
	noContent := func(d string) resp { return res(204, d, nil) }
	disclosure := res(200, "The request as it stands now.", ref("DisclosureRequest"))
	invoiceEnd := res(200, "The invoice, ended.", ref("Invoice"))

	return []op{
		// Sessions and members.
		{pattern: "POST /v1/members", id: "register", tag: "Sessions", public: true, summary: "Register a member",
			desc:  "Creates a member. Registrations are limited per client address. An e-mail or phone that belongs to another member is not refused: it is left off the new account and its member is told, so the answer never says that a name is taken.",
			body:  in("password*", str("At least 12 characters, not a common password."), "email", str("Optional login e-mail address."), "phone", str("Optional login phone number (E.164).")),
			resps: []resp{res(201, "The member is registered.", outObj("member_id*", ref("MemberID")))}},
		{pattern: "POST /v1/sessions", id: "login", tag: "Sessions", public: true, summary: "Log in",
			body:  in("login*", str("A member ID, e-mail address or phone number."), "password*", str("")),
			resps: sessionAnswers},
		{pattern: "POST /v1/sessions/{challenge_id}/confirm", id: "confirmLogin", tag: "Sessions", public: true, summary: "Answer a login's second-factor challenge",
			body: ref("Code"), resps: []resp{res(201, "A session is open.", ref("SessionToken"))}},
		{pattern: "GET /v1/sessions", id: "listSessions", tag: "Sessions", summary: "List the member's open sessions",
			resps: []resp{res(200, "The sessions.", outObj("sessions*", arr(ref("Session"))))}},
		{pattern: "DELETE /v1/sessions/current", id: "logout", tag: "Sessions", summary: "Log out: end the session of this request's token",
			resps: []resp{noContent("The session is over.")}},
		{pattern: "DELETE /v1/sessions/{session_id}", id: "revokeSession", tag: "Sessions", summary: "End one of the member's sessions",
			resps: []resp{noContent("The session is over.")}},

		// Purses.
		{pattern: "GET /v1/currencies", id: "listCurrencies", tag: "Purses", summary: "List the currencies the server keeps",
			resps: []resp{res(200, "The currencies.", outObj("currencies*", arr(ref("Currency"))))}},
		{pattern: "GET /v1/purses", id: "listPurses", tag: "Purses", summary: "List the member's purses",
			resps: []resp{res(200, "The purses.", outObj("purses*", arr(ref("Purse"))))}},
		{pattern: "POST /v1/purses", id: "createPurse", tag: "Purses", summary: "Open a purse",
			body: in("currency*", str("A currency code such as USD.")), resps: []resp{res(201, "The new purse.", ref("Purse"))}},
		{pattern: "GET /v1/purses/{purse}", id: "getPurse", tag: "Purses", summary: "One of the member's own purses",
			resps: []resp{res(200, "The purse.", ref("Purse"))}},
		{pattern: "GET /v1/purses/{purse}/history", id: "purseHistory", tag: "Purses", summary: "A purse's movements, newest first",
			query: []J{qLimit(500), qCursor, q("since", "Only movements at or after this time (RFC 3339).", ts("")), q("until", "Only movements before this time (RFC 3339).", ts(""))},
			resps: []resp{res(200, "One page of history.", outObj("entries*", arr(ref("HistoryEntry")), "next_cursor*", str("Empty on the last page.")))}},
		{pattern: "GET /v1/purses/{purse}/owner", id: "purseOwner", tag: "Purses", summary: "Who owns a purse (payee check)",
			resps: []resp{res(200, "The owner.", outObj("member_id*", ref("MemberID")))}},
		{pattern: "GET /v1/purses/{purse}/limits", id: "getPurseLimits", tag: "Purses", summary: "The member's own spending limits of a purse",
			resps: []resp{res(200, "The limits and what is spent.", ref("PurseLimits"))}},
		{pattern: "PUT /v1/purses/{purse}/limits", id: "putPurseLimits", tag: "Purses", step: true, summary: "Set a purse's spending limits",
			desc:  "A field left out or null removes that limit. Raising a limit may need a confirmation.",
			body:  in("per_transfer", orNull(ref("Amount")), "per_day", orNull(ref("Amount")), "per_month", orNull(ref("Amount"))),
			resps: []resp{res(200, "The limits now.", ref("PurseLimits"))}},
		{pattern: "GET /v1/purses/{purse}/statement", id: "purseStatement", tag: "Purses", summary: "A purse's statement for a period, as JSON or CSV",
			query: []J{q("format", "json (default) or csv.", enum("", "json", "csv")), q("since", "Start of the period (RFC 3339 time or date).", str("")), q("until", "End of the period (RFC 3339 time or date).", str(""))},
			resps: []resp{res(200, "The statement; with format=csv a text/csv attachment with the same columns.", ref("Statement"))}},

		// Transfers.
		{pattern: "POST /v1/transfers", id: "transfer", tag: "Transfers", summary: "Send money",
			desc:  "The sender's transfer_id makes the request safe to retry: the server applies one (sender, transfer ID) at most once and answers a repeat with the first result (200), or idempotency_conflict if the body differs.",
			query: []J{qResend}, body: ref("TransferRequest"), resps: transferAnswers},
		{pattern: "POST /v1/transfers/{transfer_id}/confirm", id: "confirmTransfer", tag: "Transfers", summary: "Confirm a pending transfer with a one-time code",
			body: ref("Code"), resps: []resp{res(201, "The transfer is applied.", ref("Transfer")), res(200, "It was already applied.", ref("Transfer"))}},
		{pattern: "GET /v1/transfers/{transfer_id}", id: "getTransfer", tag: "Transfers", summary: "A transfer the member sent or received",
			query: []J{q("from", "The sending purse, to tell apart transfers of different senders with the same ID.", ref("PurseNumber"))},
			resps: []resp{res(200, "The transfer.", ref("Transfer"))}},
		{pattern: "POST /v1/transfers/quote", id: "quoteTransfer", tag: "Transfers", summary: "The fee a transfer would cost",
			body:  in("from*", ref("PurseNumber"), "to*", ref("PurseNumber"), "amount*", ref("Amount")),
			resps: []resp{res(200, "The quote.", outObj("amount*", ref("Amount"), "fee*", ref("Amount"), "total*", ref("Amount"), "currency*", str("")))}},
		{pattern: "POST /v1/transfers/batch", id: "transferBatch", tag: "Transfers", summary: "A mass payment",
			desc: "Up to the server's batch size of transfers in one request (body up to 2 MiB). Each has its own transfer_id and is safe to retry.",
			body: in("transfers*", arr(in("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber"), "to*", ref("PurseNumber"), "amount*", ref("Amount"), "description", str(""))),
				"all_or_nothing", boo("Apply all transfers or none.")),
			resps: []resp{res(200, "What became of each transfer.", outObj("results*", arr(ref("BatchResult")), "applied*", intg(""), "refused*", intg("")))}},
		{pattern: "GET /v1/transfers/held", id: "heldTransfers", tag: "Transfers", summary: "Protected transfers still held, sent and incoming",
			resps: []resp{res(200, "The held transfers.", outObj("sent*", arr(ref("Transfer")), "incoming*", arr(ref("Transfer"))))}},
		{pattern: "POST /v1/transfers/{transfer_id}/release", id: "releaseTransfer", tag: "Transfers", summary: "Release a protected transfer (payee with the code, or sender)",
			body: in("from*", ref("PurseNumber"), "code", str("The protection code, when the payee releases it.")), resps: []resp{res(200, "The released transfer.", ref("Transfer"))}},
		{pattern: "POST /v1/transfers/{transfer_id}/refuse", id: "refuseTransfer", tag: "Transfers", summary: "Refuse a protected transfer: the money returns to the sender",
			body: in("from*", ref("PurseNumber")), resps: []resp{res(200, "The returned transfer.", ref("Transfer"))}},
		{pattern: "POST /v1/refunds", id: "refund", tag: "Transfers", summary: "Refund (part of) a received transfer",
			query: []J{qResend},
			body: in("transfer_id*", ref("TransferID"), "of*", in("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber")),
				"amount*", ref("Amount"), "description", str("")),
			resps: transferAnswers},
		{pattern: "GET /v1/fees", id: "listFees", tag: "Transfers", summary: "The fee rules",
			resps: []resp{res(200, "The fees per currency.", outObj("fees*", arr(outObj("currency*", str(""), "percent*", str("Percent of the amount."), "min*", ref("Amount"), "max", ref("Amount")))))}},

		// Invoices and trusts.
		{pattern: "POST /v1/invoices", id: "createInvoice", tag: "Invoices", summary: "Issue an invoice (merchant)",
			body: in("payer*", ref("MemberID"), "purse*", ref("PurseNumber"), "amount*", ref("Amount"), "description", str(""),
				"order_number*", str("The merchant's order number; unique per merchant."), "expires_in_hours", J{"type": "integer", "minimum": 1, "maximum": 720}),
			resps: []resp{res(201, "The invoice.", ref("Invoice"))}},
		{pattern: "GET /v1/invoices", id: "listInvoices", tag: "Invoices", summary: "Invoices to pay or issued, newest first",
			query: []J{q("role", "payer or merchant.", enum("", "payer", "merchant")), q("state", "Only invoices in this state.", ref("InvoiceState")), qLimit(100), qCursor},
			resps: []resp{res(200, "One page of invoices.", outObj("invoices*", arr(ref("Invoice")), "next_cursor*", str("Empty on the last page.")))}},
		{pattern: "GET /v1/invoices/{invoice_id}", id: "getInvoice", tag: "Invoices", summary: "One invoice (its merchant or payer)",
			resps: []resp{res(200, "The invoice.", ref("Invoice"))}},
		{pattern: "POST /v1/invoices/{invoice_id}/pay", id: "payInvoice", tag: "Invoices", summary: "Pay an invoice",
			query: []J{qResend}, body: in("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber")), resps: transferAnswers},
		{pattern: "POST /v1/invoices/{invoice_id}/refuse", id: "refuseInvoice", tag: "Invoices", summary: "Refuse an invoice (payer)",
			body: in(), bodyOptional: true, resps: []resp{invoiceEnd}},
		{pattern: "POST /v1/invoices/{invoice_id}/cancel", id: "cancelInvoice", tag: "Invoices", summary: "Cancel an invoice (merchant)",
			body: in(), bodyOptional: true, resps: []resp{invoiceEnd}},
		{pattern: "POST /v1/trusts", id: "grantTrust", tag: "Invoices", step: true, summary: "Let a merchant take money from a purse within limits",
			body:  in("merchant*", ref("MemberID"), "purse*", ref("PurseNumber"), "per_transfer", ref("Amount"), "per_day", ref("Amount"), "per_month", ref("Amount")),
			resps: []resp{res(201, "The trust.", ref("Trust"))}},
		{pattern: "GET /v1/trusts", id: "listTrusts", tag: "Invoices", summary: "Trusts given and held",
			resps: []resp{res(200, "The trusts.", outObj("given*", arr(ref("Trust")), "held*", arr(ref("Trust"))))}},
		{pattern: "DELETE /v1/trusts/{trust_id}", id: "revokeTrust", tag: "Invoices", summary: "Revoke a trust",
			resps: []resp{noContent("The trust is revoked.")}},

		// Webhooks.
		{pattern: "POST /v1/webhooks", id: "createWebhook", tag: "Webhooks", step: true, summary: "Register an endpoint for events",
			desc: "An endpoint learns of every incoming payment, so registering one is a security change: a member with a second factor needs the step-up confirmation. At most 10 endpoints per member. The target must be an https URL of a public host; deliveries connect only to global unicast addresses. Deliveries are signed (HMAC with the secret answered here once, or the server's Ed25519 key), retried with doubling waits for a day, and carry an event ID to spot duplicates.",
			body: in("url*", str("An https URL."), "events*", arr(ref("EventType")), "signing", enum("hmac (default) or ed25519.", "hmac", "ed25519")),
			resps: []resp{res(201, "The endpoint, with its secret (hmac) or the server's public key (ed25519).",
				outObj("webhook_id*", str(""), "url*", str(""), "events*", arr(ref("EventType")), "signing*", str(""), "created_at*", ts(""),
					"secret", str("The HMAC secret, shown once."), "public_key", str("The server's Ed25519 public key."), "key_id", str("")))}},
		{pattern: "GET /v1/webhooks", id: "listWebhooks", tag: "Webhooks", summary: "The member's webhook endpoints",
			resps: []resp{res(200, "The endpoints.", outObj("webhooks*", arr(outObj("webhook_id*", str(""), "url*", str(""), "events*", arr(ref("EventType")), "signing*", str(""), "created_at*", ts("")))))}},
		{pattern: "DELETE /v1/webhooks/{webhook_id}", id: "deleteWebhook", tag: "Webhooks", summary: "Remove a webhook endpoint",
			resps: []resp{noContent("The endpoint is removed.")}},
		{pattern: "GET /v1/webhooks/{webhook_id}/deliveries", id: "listWebhookDeliveries", tag: "Webhooks", summary: "An endpoint's deliveries with their attempts, newest first",
			query: []J{qLimit(100), qCursor},
			resps: []resp{res(200, "One page of deliveries.", outObj("deliveries*", arr(outObj("event_id*", str(""), "type*", ref("EventType"), "created_at*", ts(""),
				"state*", enum("", "pending", "delivered", "failed"), "next_attempt_at", ts(""),
				"attempts*", arr(outObj("at*", ts(""), "status_code*", intg("0 when no answer came."),
					"error*", str("Empty on a 2xx answer, else only the kind of failure: dns, refused_address (the name resolved to an address that is not public), connect, timeout, tls, network, internal, or http_status_ followed by the status code."),
					"duration_ms*", intg(""))))),
				"next_cursor*", str("Empty on the last page.")))}},

		{pattern: "POST /v1/checkout/secret", id: "createCheckoutSecret", tag: "Webhooks", step: true, summary: "Make the merchant's hosted-checkout secret",
			desc:  "Only with a session from a password login, at a merchant level. Replaces any earlier secret. /pay requests are signed with HMAC-SHA256 under this secret, or with Ed25519 under one of the member's keys (key_id).",
			resps: []resp{res(201, "The secret, shown once.", outObj("secret*", str("")))}},

		// Keys and certificates.
		{pattern: "GET /v1/keys", id: "listKeys", tag: "Keys", summary: "The member's signing keys",
			resps: []resp{res(200, "The keys.", outObj("keys*", arr(ref("Key")), "max_active*", intg("How many keys may be active at once.")))}},
		{pattern: "POST /v1/keys", id: "addKey", tag: "Keys", step: true, summary: "Register an Ed25519 public key for request signing",
			desc:  "Only with a session from a password login.",
			body:  in("name", str(""), "public_key*", str("Base64 of the 32 raw bytes of an Ed25519 public key.")),
			resps: []resp{res(201, "The key; Location names it.", ref("Key"))}},
		{pattern: "GET /v1/keys/{key_id}", id: "getKey", tag: "Keys", summary: "One signing key",
			resps: []resp{res(200, "The key.", ref("Key"))}},
		{pattern: "PATCH /v1/keys/{key_id}", id: "renameKey", tag: "Keys", summary: "Rename a signing key",
			body: in("name*", str("")), resps: []resp{res(200, "The key.", ref("Key"))}},
		{pattern: "DELETE /v1/keys/{key_id}", id: "revokeKey", tag: "Keys", summary: "Revoke a signing key at once",
			desc:  "A signed request may revoke only the key that signed it.",
			resps: []resp{noContent("The key is revoked.")}},
		{pattern: "POST /v1/certificates", id: "requestCertificate", tag: "Keys", step: true, summary: "Get a client certificate for a CSR",
			desc: "Only with a session from a password login.",
			body: in("csr*", str("A PKCS #10 certificate request in PEM.")), resps: []resp{res(201, "The certificate.", ref("Certificate"))}},
		{pattern: "GET /v1/certificates", id: "listCertificates", tag: "Keys", summary: "The member's client certificates",
			resps: []resp{res(200, "The certificates.", outObj("certificates*", arr(ref("Certificate"))))}},
		{pattern: "DELETE /v1/certificates/{certificate_id}", id: "revokeCertificate", tag: "Keys", summary: "Revoke a client certificate; its connections are closed",
			resps: []resp{noContent("The certificate is revoked.")}},

		// Security settings.
		{pattern: "GET /v1/security/events", id: "securityEvents", tag: "Security", summary: "The member's security events, newest first",
			query: []J{qLimit(500), qCursor},
			resps: []resp{res(200, "One page of events.", outObj("events*", arr(outObj("event_id*", intg(""), "kind*", str(""), "at*", ts(""), "detail", typ("object", "Event details, by kind."))), "next_cursor*", str("Empty on the last page.")))}},
		{pattern: "GET /v1/security/factors", id: "factors", tag: "Security", summary: "The member's second factors",
			resps: []resp{res(200, "The factors.", outObj("phone*", str("The verified phone that receives SMS codes; empty when none."), "totp*", boo(""), "ocra*", boo(""),
				"recovery_codes_left*", intg(""), "bootstrap*", boo("No factor yet: the first may be added without a confirmation."), "confirmation*", ref("ConfirmationPolicy")))}},
		{pattern: "GET /v1/security/confirmation", id: "getConfirmationPolicy", tag: "Security", summary: "When a second factor is asked for",
			resps: []resp{res(200, "The policy.", ref("ConfirmationPolicy"))}},
		{pattern: "PUT /v1/security/confirmation", id: "putConfirmationPolicy", tag: "Security", step: true, summary: "Set when a second factor is asked for",
			body: ref("ConfirmationPolicy"), resps: []resp{res(200, "The policy.", ref("ConfirmationPolicy"))}},
		{pattern: "POST /v1/security/phone", id: "addPhone", tag: "Security", step: true, summary: "Add a phone for SMS codes; a code is sent to verify it",
			body: in("phone*", str("E.164 phone number.")), resps: []resp{res(202, "The code is sent.", outObj("status*", enum("", "code_sent")))}},
		{pattern: "POST /v1/security/phone/verify", id: "verifyPhone", tag: "Security", summary: "Verify the phone with the code sent to it",
			body: ref("Code"), resps: []resp{verified}},
		{pattern: "DELETE /v1/security/phone", id: "removePhone", tag: "Security", step: true, summary: "Remove the phone factor",
			resps: []resp{noContent("The phone is removed.")}},
		{pattern: "POST /v1/security/totp", id: "enrolTOTP", tag: "Security", step: true, summary: "Start enrolling a code generator (TOTP and OCRA)",
			resps: []resp{res(201, "The seed, to be verified with a code.", outObj("secret*", str("Base32 seed."), "otpauth_uri*", str(""), "qr_png*", J{"type": "string", "contentEncoding": "base64", "description": "A QR code of otpauth_uri."}, "ocra_suite*", str("")))}},
		{pattern: "POST /v1/security/totp/verify", id: "verifyTOTP", tag: "Security", summary: "Verify the code generator with a code",
			body: ref("Code"), resps: []resp{verified}},
		{pattern: "DELETE /v1/security/totp", id: "removeTOTP", tag: "Security", step: true, summary: "Remove the code generator",
			resps: []resp{noContent("The generator is removed.")}},
		{pattern: "POST /v1/security/recovery-codes", id: "newRecoveryCodes", tag: "Security", step: true, summary: "Replace the recovery codes",
			resps: []resp{res(201, "The new codes, shown once.", outObj("recovery_codes*", arr(str(""))))}},
		{pattern: "PUT /v1/security/password", id: "changePassword", tag: "Security", step: true, summary: "Change the password",
			desc: "Only with a session from a password login; every other session of the member ends.",
			body: in("current_password*", str(""), "new_password*", str("")), resps: []resp{noContent("The password is changed.")}},
		{pattern: "GET /v1/security/settings", id: "getSettings", tag: "Security", summary: "The member's security settings",
			resps: []resp{res(200, "The settings.", outObj("ip_ranges*", arr(str("")), "notifications*", ref("Notifications"), "new_device_confirmation*", boo("")))}},
		{pattern: "GET /v1/security/ip-ranges", id: "getIPRanges", tag: "Security", summary: "The addresses the member may act from",
			resps: []resp{res(200, "The ranges; empty allows every address.", ref("IPRanges"))}},
		{pattern: "PUT /v1/security/ip-ranges", id: "putIPRanges", tag: "Security", step: true, summary: "Set the addresses the member may act from",
			body: in("ip_ranges*", desc(arr(str("")), "IP addresses or CIDR ranges; an empty list allows every address.")), resps: []resp{res(200, "The ranges now.", ref("IPRanges"))}},
		{pattern: "POST /v1/security/ip-ranges/unblock", id: "unblockIP", tag: "Security", public: true, summary: "Allow the caller's address with the code e-mailed on a blocked login",
			body: in("member_id*", ref("MemberID"), "code*", str("")), resps: []resp{res(200, "The address is allowed.", outObj("added*", str("The range added.")))}},
		{pattern: "PUT /v1/security/new-device", id: "putNewDeviceConfirmation", tag: "Security", step: true, summary: "Ask for confirmation of logins from new devices",
			body: in("enabled*", boo("")), resps: []resp{res(200, "The setting.", outObj("new_device_confirmation*", boo("")))}},
		{pattern: "GET /v1/security/notifications", id: "getNotifications", tag: "Security", summary: "Which e-mail notifications the member gets",
			resps: []resp{res(200, "The notifications.", ref("Notifications"))}},
		{pattern: "PUT /v1/security/notifications", id: "putNotifications", tag: "Security", step: true, summary: "Choose e-mail notifications; fields left out keep their value",
			body: in("login", boo(""), "incoming_payment", boo(""), "security", boo("")), resps: []resp{res(200, "The notifications.", ref("Notifications"))}},

		// Verification and registrars.
		{pattern: "POST /v1/verification/documents", id: "uploadDocument", tag: "Verification", summary: "Upload an identity document (JPEG, PNG or PDF)",
			desc: "The body is the file itself; its type is told from the content.", bodyType: "application/octet-stream",
			body:  J{"type": "string", "contentMediaType": "application/octet-stream"},
			resps: []resp{res(201, "The stored document.", ref("Document"))}},
		{pattern: "POST /v1/verification", id: "submitVerification", tag: "Verification", summary: "Ask to be verified at a level",
			body: in("documents*", arr(str("A document_id.")), "level_requested*", str("")), resps: []resp{res(201, "The request.", ref("VerificationRequest"))}},
		{pattern: "GET /v1/verification", id: "myVerification", tag: "Verification", summary: "The member's level and verification requests",
			resps: []resp{res(200, "The status.", outObj("level*", str(""), "level_changed_at", ts(""), "allows", ref("Level"), "requests*", arr(ref("VerificationRequest"))))}},
		{pattern: "GET /v1/registrar/requests", id: "registrarQueue", tag: "Registrar", summary: "Verification requests to review (registrars; 404 to others)",
			query: []J{q("state", "pending (default), approved, rejected or all.", enum("", "pending", "approved", "rejected", "all"))},
			resps: []resp{res(200, "The requests, without personal data.", outObj("requests*", arr(ref("VerificationRequest"))))}},
		{pattern: "GET /v1/registrar/requests/{id}", id: "registrarRequest", tag: "Registrar", summary: "One verification request with its values (audited)",
			resps: []resp{res(200, "The request.", ref("VerificationRequest"))}},
		{pattern: "GET /v1/registrar/documents/{id}", id: "registrarDocument", tag: "Registrar", summary: "Download a document (audited)",
			resps: []resp{{status: 200, desc: "The document as an attachment, in its own type.", content: "application/octet-stream", schema: J{"type": "string", "contentMediaType": "application/octet-stream"}}}},
		{pattern: "POST /v1/registrar/requests/{id}/approve", id: "registrarApprove", tag: "Registrar", summary: "Approve a request at a level",
			body: in("level*", str("")), resps: []resp{res(200, "The decided request.", ref("VerificationRequest"))}},
		{pattern: "POST /v1/registrar/requests/{id}/reject", id: "registrarReject", tag: "Registrar", summary: "Reject a request",
			body: in("reason", str("Told to the member.")), resps: []resp{res(200, "The decided request.", ref("VerificationRequest"))}},
		{pattern: "POST /v1/registrar/members/{member_id}/level", id: "registrarSetLevel", tag: "Registrar", summary: "Set a member's level",
			body: in("level*", str(""), "reason", str("")), resps: []resp{res(200, "The level now.", outObj("member_id*", ref("MemberID"), "level*", str("")))}},
		{pattern: "POST /v1/registrar/persons", id: "registrarLinkPersons", tag: "Registrar", summary: "Record that member IDs belong to one person",
			body: in("member_ids*", arr(ref("MemberID"))), resps: []resp{res(200, "The person.", outObj("person_id*", str(""), "member_ids*", arr(ref("MemberID"))))}},

		// Profile, other members, disclosure, contacts, account.
		{pattern: "GET /v1/profile", id: "getProfile", tag: "Profile", summary: "The member's own profile",
			resps: []resp{res(200, "The profile.", ref("Profile"))}},
		{pattern: "PUT /v1/profile", id: "putProfile", tag: "Profile", summary: "Set profile fields; an empty value clears a field",
			body: in("values*", strMap("Field name to value.")), resps: []resp{res(200, "The profile.", ref("Profile"))}},
		{pattern: "GET /v1/profile/visibility", id: "getVisibility", tag: "Profile", summary: "Who may see each profile field",
			resps: []resp{res(200, "Field name to visibility.", strMap(""))}},
		{pattern: "PUT /v1/profile/visibility", id: "putVisibility", tag: "Profile", summary: "Set who may see profile fields",
			body: strMap("Field name to visibility."), resps: []resp{res(200, "Field name to visibility.", strMap(""))}},
		{pattern: "GET /v1/members/{member_id}", id: "viewMember", tag: "Members", summary: "A member as the caller may see them: level and visible fields",
			resps: []resp{res(200, "The public profile.", outObj("member_id*", ref("MemberID"), "level*", str(""), "registered*", J{"type": "string", "format": "date"}, "fields*", typ("object", "The fields the caller may see.")))}},
		{pattern: "POST /v1/members/{member_id}/check", id: "checkMemberData", tag: "Members", summary: "Check given values against a member's data without seeing it",
			body: in("fields*", strMap("Field name to the value to check.")), resps: []resp{res(200, "Field name to result.", outObj("results*", strMap("")))}},
		{pattern: "POST /v1/members/{member_id}/disclosure-requests", id: "requestDisclosure", tag: "Members", summary: "Ask a member to disclose fields",
			body: in("fields*", arr(str("")), "reason*", str("")), resps: []resp{res(201, "The request.", ref("DisclosureRequest"))}},
		{pattern: "GET /v1/disclosure-requests", id: "listDisclosureRequests", tag: "Members", summary: "Disclosure requests made or received",
			query: []J{q("role", "subject (received) or requester (made).", enum("", "subject", "requester"))},
			resps: []resp{res(200, "The requests.", outObj("requests*", arr(ref("DisclosureRequest"))))}},
		{pattern: "POST /v1/disclosure-requests/{request_id}/grant", id: "grantDisclosure", tag: "Members", summary: "Grant a disclosure request, all of it or some fields",
			body: in("fields", desc(arr(str("")), "The fields granted; all asked for when left out."), "until", ts("When the grant ends; no end when left out.")), bodyOptional: true,
			resps: []resp{disclosure}},
		{pattern: "POST /v1/disclosure-requests/{request_id}/refuse", id: "refuseDisclosure", tag: "Members", summary: "Refuse a disclosure request",
			resps: []resp{disclosure}},
		{pattern: "POST /v1/disclosure-requests/{request_id}/revoke", id: "revokeDisclosure", tag: "Members", summary: "Revoke a granted disclosure",
			resps: []resp{disclosure}},
		{pattern: "GET /v1/contacts", id: "listContacts", tag: "Members", summary: "The member's contacts",
			resps: []resp{res(200, "The contacts.", outObj("contacts*", arr(ref("Contact")), "only_contacts*", boo("Only contacts may send money to the member.")))}},
		{pattern: "POST /v1/contacts", id: "addContact", tag: "Members", summary: "Add a contact",
			body: in("member_id*", ref("MemberID"), "note", str("")), resps: []resp{res(201, "The contact.", ref("Contact"))}},
		{pattern: "DELETE /v1/contacts/{member_id}", id: "removeContact", tag: "Members", summary: "Remove a contact",
			resps: []resp{noContent("The contact is removed.")}},
		{pattern: "PUT /v1/contacts/restriction", id: "putContactRestriction", tag: "Members", summary: "Take money only from contacts, or from anyone",
			body: in("only_contacts*", boo("")), resps: []resp{res(200, "The setting.", outObj("only_contacts*", boo("")))}},
		{pattern: "GET /v1/account/export", id: "exportAccount", tag: "Account", summary: "Everything the server keeps about the member, as a JSON attachment",
			resps: []resp{res(200, "The export.", typ("object", "Member, profile, purses, transfers, invoices, trusts, keys, certificates, settings and events."))}},
		{pattern: "POST /v1/account/close", id: "closeAccount", tag: "Account", step: true, summary: "Close the account",
			desc: "Needs empty purses; a member with a second factor confirms with Coffer-Confirmation.",
			body: in(), bodyOptional: true, resps: []resp{noContent("The account is closed.")}},
	}
}

func schemas() J {
	amount := J{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?$`, "description": "A decimal amount as a string, never a JSON number.", "examples": []string{"12.50"}}
	return J{
		"Amount":       amount,
		"MemberID":     J{"type": "string", "pattern": "^[1-9][0-9]{11}$", "description": "A 12-digit member ID.", "examples": []string{"123456789012"}},
		"PurseNumber":  J{"type": "string", "pattern": "^[A-Z][1-9][0-9]{11}$", "description": "A purse number: an upper-case letter, by currency, and 12 digits.", "examples": []string{"Z123456789012"}},
		"TransferID":   J{"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$", "description": "Chosen by the sender; one (sender, transfer ID) is applied at most once."},
		"InvoiceState": enum("", "pending", "paid", "refused", "cancelled", "expired"),
		"Code":         in("code*", str("A one-time code: SMS, TOTP, OCRA response or recovery code.")),
		"Problem": J{"type": "object", "description": "An RFC 9457 problem document. code is stable and snake_case; branch on it, not on the text.",
			"required": []string{"type", "title", "status", "code"},
			"properties": J{
				"type":            str("urn:coffer:problem:<code>"),
				"title":           str("The HTTP status text."),
				"status":          intg("The HTTP status."),
				"detail":          str("A human-readable explanation."),
				"code":            J{"type": "string", "description": "A stable snake_case code. Among them: invalid_request, invalid_amount, weak_password, same_purse, currency_not_found, unauthorized, forbidden, not_found, purse_not_found, conflict, idempotency_conflict, request_too_large, insufficient_funds, currency_mismatch, limit_exceeded, ip_not_allowed, confirmation_required, confirmation_failed, confirmation_void, rate_limited, unavailable, internal, not_a_contact, account_closed, invoice_not_payable, refund_not_allowed, transfer_not_held, wrong_protection_code, trust_invalid, level_too_low, certificate_revoked, certificate_expired, certificate_unknown, certificate_invalid, invalid_csr, unsupported_key, certificates_disabled, signature_malformed, signature_invalid, signature_expired, signature_future, signature_replayed, digest_mismatch, key_unknown, key_revoked, method_not_allowed. New codes may be added.", "examples": []string{"insufficient_funds"}},
				"remaining":       desc(ref("Amount"), "On a purse limit's limit_exceeded: what may still leave the purse."),
				"confirmation_id": str("On confirmation_required: the confirmation to answer."),
				"methods":         arr(str("")),
				"challenge":       str("An OCRA challenge to enter into the generator."),
				"expires_at":      ts(""),
				"request_id":      str("The request's ID, as in the Request-Id header: quote it to the operator."),
			}},
		"SessionToken": outObj("token*", str("Send as Authorization: Bearer <token>."), "member_id*", ref("MemberID"), "session_id*", str(""), "expires_at*", ts("When the session ends if unused.")),
		"LoginChallenge": outObj("status*", enum("", "pending_confirmation"), "challenge_id*", str(""), "method*", str("The method a code was sent by, if any."),
			"methods*", arr(enum("", "sms", "totp", "ocra", "recovery_code")), "expires_at*", ts("")),
		"Session":  outObj("session_id*", str(""), "ip*", str(""), "user_agent*", str(""), "created_at*", ts(""), "last_used_at*", ts(""), "expires_at*", ts(""), "current*", boo("The session of this request.")),
		"Currency": outObj("code*", str(""), "letter*", str("The first letter of its purse numbers."), "decimals*", intg("")),
		"Purse": outObj("purse*", ref("PurseNumber"), "currency*", str(""), "balance*", ref("Amount"), "available*", ref("Amount"), "held*", desc(ref("Amount"), "Protected transfers received and not yet released."),
			"issuer*", boo("An issuing purse may go below zero down to its limit."), "limit", ref("Amount"), "created_at*", ts("")),
		"HistoryEntry": outObj("transfer_id*", ref("TransferID"), "counterparty*", str(""), "amount*", desc(ref("Amount"), "Signed: negative when money left the purse."),
			"balance_after*", ref("Amount"), "description*", str(""), "created_at*", ts("")),
		"TransferRequest": in("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber"), "to*", ref("PurseNumber"), "amount*", ref("Amount"), "description", J{"type": "string", "maxLength": 255},
			"protect", in("code", J{"type": "string", "minLength": 4, "maxLength": 32}, "days*", J{"type": "integer", "minimum": 1, "maximum": 255}),
			"invoice_id", str("Pays this invoice."), "trust_id", str("A merchant takes money under this trust.")),
		"Transfer": outObj("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber"), "to*", ref("PurseNumber"), "amount*", ref("Amount"), "currency*", str(""), "fee*", ref("Amount"),
			"description*", str(""), "kind*", enum("", "transfer", "protected", "refund"), "status*", enum("applied for plain transfers; held, released or returned for protected ones.", "applied", "held", "released", "returned"),
			"created_at*", ts(""), "invoice_id", str(""), "trust_id", str(""), "refunded", ref("Amount"),
			"refund_of", outObj("transfer_id*", ref("TransferID"), "from*", ref("PurseNumber")),
			"protection", outObj("by_code*", boo(""), "until*", ts(""), "attempts_left", intg(""))),
		"PendingTransfer": outObj("status*", enum("", "pending_confirmation"), "transfer_id*", ref("TransferID"), "confirmation_id*", str(""), "method*", str(""), "methods*", arr(str("")),
			"expires_at*", ts(""), "challenge", str("An OCRA challenge."), "ocra_suite", str(""), "amount", ref("Amount"), "fee", ref("Amount"), "total", ref("Amount"), "currency", str("")),
		"BatchResult": outObj("transfer_id*", ref("TransferID"), "result*", enum("", "applied", "replayed", "refused"), "transfer", ref("Transfer"), "code", str("Why it was refused."), "detail", str("")),
		"Statement": outObj("purse*", ref("PurseNumber"), "currency*", str(""), "since*", ts(""), "until*", ts(""),
			"opening*", outObj("available*", ref("Amount"), "held*", ref("Amount")), "closing*", outObj("available*", ref("Amount"), "held*", ref("Amount")),
			"entries*", arr(outObj("at*", ts(""), "kind*", str(""), "held*", boo(""), "amount*", ref("Amount"), "balance_after*", ref("Amount"), "counterparty*", str(""), "transfer_id*", str(""), "description*", str("")))),
		"PurseLimits": outObj("purse*", ref("PurseNumber"), "currency*", str(""), "per_transfer*", orNull(ref("Amount")), "per_day*", orNull(ref("Amount")), "per_month*", orNull(ref("Amount")),
			"spent_today*", ref("Amount"), "spent_this_month*", ref("Amount"), "remaining_today*", orNull(ref("Amount")), "remaining_this_month*", orNull(ref("Amount"))),
		"Invoice": outObj("invoice_id*", str(""), "merchant*", ref("MemberID"), "payer*", ref("MemberID"), "purse*", ref("PurseNumber"), "currency*", str(""), "amount*", ref("Amount"),
			"description*", str(""), "order_number*", str(""), "state*", ref("InvoiceState"), "created_at*", ts(""), "expires_at*", ts(""), "transfer_id", desc(ref("TransferID"), "The payment, once paid.")),
		"Trust": outObj("trust_id*", str(""), "owner*", ref("MemberID"), "merchant*", ref("MemberID"), "purse*", ref("PurseNumber"), "currency", str(""), "state*", enum("", "active", "revoked"),
			"per_transfer", ref("Amount"), "per_day", ref("Amount"), "per_month", ref("Amount"), "created_at*", ts(""), "revoked_at", ts("")),
		"Key": outObj("key_id*", str(""), "name*", str(""), "fingerprint*", str(""), "public_key*", str("Base64 of the 32 raw bytes."), "algorithm*", enum("", "ed25519"),
			"status*", enum("", "active", "revoked"), "created_at*", ts(""), "last_used_at", ts(""), "revoked_at", ts(""), "current*", boo("The key that signed this request.")),
		"Certificate": outObj("certificate_id*", str(""), "serial*", str(""), "fingerprint*", str(""), "key_type*", str(""), "status*", str(""), "created_at*", ts(""),
			"not_before*", ts(""), "not_after*", ts(""), "certificate*", str("PEM."), "current*", boo("The certificate of this connection."), "revoked_at", ts("")),
		"ConfirmationPolicy": in("login*", enum("", "password", "second_factor"), "transfers*", enum("", "always", "above", "never"),
			"threshold", desc(ref("Amount"), "With transfers=above: the amount above which a transfer is confirmed."), "exempt_payees*", arr(str("Purse numbers paid without confirmation.")),
			"confirm_signed", boo("Confirm transfers made with a key-file signature or a certificate too.")),
		"Notifications": outObj("login*", boo(""), "incoming_payment*", boo(""), "security*", boo("")),
		"IPRanges":      outObj("ip_ranges*", arr(str("")), "your_ip*", str("The address this request came from.")),
		"Document":      outObj("document_id*", str(""), "content_type*", str(""), "size*", intg(""), "sha256*", str("Hex."), "created_at", ts("")),
		"Level":         outObj("name*", str(""), "rank*", intg(""), "daily_limit*", str(""), "merchant*", boo(""), "issuer*", boo("")),
		"VerificationRequest": outObj("request_id*", str(""), "member_id*", ref("MemberID"), "state*", enum("", "pending", "approved", "rejected"), "documents*", arr(ref("Document")),
			"created_at*", ts(""), "level_requested", str(""), "level", str(""), "decided_at", ts(""), "reviewer", str(""), "reason", str(""), "values", strMap("The submitted profile values.")),
		"Profile": outObj("values*", typ("object", "Field name to value; linked_member_ids is a list."), "visibility*", strMap("Field name to visibility.")),
		"DisclosureRequest": outObj("request_id*", str(""), "requester*", ref("MemberID"), "subject*", ref("MemberID"), "fields*", arr(str("")), "reason*", str(""),
			"state*", enum("", "pending", "granted", "refused", "revoked"), "created_at*", ts(""), "decided_at", ts(""), "granted", arr(str("")), "until", ts("")),
		"EventType": enum("", "transfer.incoming", "invoice.paid", "transfer.released", "transfer.returned", "refund.incoming", "checkout.paid"),
		"Contact":   outObj("member_id*", ref("MemberID"), "note*", str(""), "created_at*", ts("")),
	}
}

// openAPIDocument expands the table into the whole document.
func openAPIDocument() J {
	paths := J{}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)
	for _, o := range operations() {
		method, path, _ := strings.Cut(o.pattern, " ")
		item, _ := paths[path].(J)
		if item == nil {
			item = J{}
			paths[path] = item
		}
		var params []J
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			params = append(params, J{"name": m[1], "in": "path", "required": true, "description": pathParams[m[1]], "schema": J{"type": "string"}})
		}
		params = append(params, o.query...)
		if o.step {
			params = append(params, J{"$ref": "#/components/parameters/Confirmation"})
		}
		x := J{"operationId": o.id, "tags": []string{o.tag}, "summary": o.summary}
		if o.desc != "" {
			x["description"] = o.desc
		}
		if len(params) > 0 {
			x["parameters"] = params
		}
		if o.public {
			x["security"] = []J{}
		}
		if o.body != nil {
			ct := o.bodyType
			if ct == "" {
				ct = "application/json"
			}
			x["requestBody"] = J{"required": !o.bodyOptional, "content": J{ct: J{"schema": o.body}}}
		}
		rs := J{"default": J{"$ref": "#/components/responses/Problem"}}
		for _, a := range o.resps {
			rj := J{"description": a.desc}
			if a.schema != nil {
				ct := a.content
				if ct == "" {
					ct = "application/json"
				}
				rj["content"] = J{ct: J{"schema": a.schema}}
			}
			rs[fmt.Sprint(a.status)] = rj
		}
		x["responses"] = rs
		item[strings.ToLower(method)] = x
	}
	paths["/openapi.json"] = J{"get": J{"operationId": "openAPI", "tags": []string{"Meta"}, "summary": "This description", "security": []J{},
		"responses": J{"200": J{"description": "The OpenAPI 3.1 document.", "content": J{"application/json": J{"schema": J{"type": "object"}}}}}}}

	var tags []J
	seen := map[string]bool{}
	for _, o := range operations() {
		if !seen[o.tag] {
			seen[o.tag] = true
			tags = append(tags, J{"name": o.tag})
		}
	}
	tags = append(tags, J{"name": "Meta"})

	return J{
		"openapi": "3.1.0",
		"info": J{
			"title":   "coffer API",
			"version": "1",
			"description": "The /v1 API of a coffer e-money server. Amounts are decimal strings. Every error is application/problem+json " +
				"with a stable snake_case code. Bodies are bounded in size and unknown fields are refused. Requests that move money carry a " +
				"transfer_id chosen by the sender, so a retry with the same body is applied at most once.",
		},
		"tags":     tags,
		"security": []J{{"bearer": []string{}}, {"signature": []string{}}, {"mutualTLS": []string{}}},
		"paths":    paths,
		"components": J{
			"schemas": schemas(),
			"responses": J{"Problem": J{"description": "The request was refused or failed: a problem document.",
				"content": J{"application/problem+json": J{"schema": ref("Problem")}}}},
			"parameters": J{"Confirmation": J{"name": "Coffer-Confirmation", "in": "header",
				"description": "The proof for a change that needs confirmation, \"<confirmation_id>:<code>\", after a confirmation_required answer named the confirmation.",
				"schema":      J{"type": "string"}}},
			"securitySchemes": J{
				"bearer": J{"type": "http", "scheme": "bearer", "description": "A session token from POST /v1/sessions."},
				"signature": J{"type": "apiKey", "in": "header", "name": "Signature",
					"description": "An HTTP Message Signature (RFC 9421) made with a registered Ed25519 key (a key file's key): " +
						"Signature and Signature-Input headers, one label, covering at least @method and @target-uri and, with a body, " +
						"content-digest (RFC 9530); parameters created, nonce (unique), keyid and alg=\"ed25519\". " +
						"Accepted up to five minutes after created."},
				"mutualTLS": J{"type": "mutualTLS", "description": "A client certificate issued by POST /v1/certificates, on the server's TLS listener."},
			},
		},
	}
}

// openAPIJSON is the document as committed: indented, keys sorted.
func openAPIJSON(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(openAPIDocument()); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b.Bytes()
}

func TestOpenAPI_File(t *testing.T) {
	ops := operations()
	ids := map[string]bool{}
	for _, o := range ops {
		if ids[o.id] {
			t.Errorf("operationId %s is used twice", o.id)
		}
		ids[o.id] = true
	}
	want := openAPIJSON(t)
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("openapi.json differs from the table in openapi_gen_test.go; run go test ./httpapi -run TestOpenAPI_File -update-openapi")
	}
}

// describedOperations lists "METHOD path" of every described operation.
func describedOperations(doc J) []string {
	var list []string
	for path, item := range doc["paths"].(J) {
		for method := range item.(J) {
			list = append(list, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(list)
	return list
}
