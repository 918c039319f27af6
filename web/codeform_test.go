package web

import (
	"bytes"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

func TestNewCodeForm(t *testing.T) {
	f, err := newCodeForm("Action", "/x", "Label", "Code", "Button", "Go")
	if err != nil {
		t.Fatalf("the least form: got %v, want no error", err)
	}
	if f.Input != "code" {
		t.Errorf("the code field's id: got %q, want %q", f.Input, "code")
	}
	for name, pairs := range map[string][]any{
		"unknown name":      {"Action", "/x", "Label", "Code", "Button", "Go", "Acton", "/y"},
		"wrong type":        {"Action", "/x", "Label", "Code", "Button", "Go", "Inline", "yes"},
		"odd arguments":     {"Action", "/x", "Label", "Code", "Button"},
		"no action":         {"Label", "Code", "Button", "Go"},
		"no label":          {"Action", "/x", "Button", "Go"},
		"no button":         {"Action", "/x", "Label", "Code"},
		"SMS without place": {"Action", "/x", "Label", "Code", "Button", "Go", "SMS", true},
	} {
		if _, err := newCodeForm(pairs...); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
	if _, err := hiddenFields("a", "1", "b"); err == nil {
		t.Error("hidden with an odd number of arguments: got no error, want one")
	}
}

// TestTemplates_OneCodeForm checks that the one-time code field is written
// once, in the codeform partial, and that pages use the partial.
func TestTemplates_OneCodeForm(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	for _, n := range names {
		b, err := fs.ReadFile(templateFS, n)
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Count(string(b), `autocomplete="one-time-code"`)
		if path.Base(n) == "_codeform.html" {
			if fields != 1 {
				t.Errorf("%s: got %d code fields, want 1", n, fields)
			}
			continue
		}
		if fields != 0 {
			t.Errorf("%s: got %d code fields of its own, want the codeform partial", n, fields)
		}
		users += strings.Count(string(b), `{{template "codeform"`)
	}
	if users != 6 {
		t.Errorf("pages using the codeform partial: got %d, want 6", users)
	}
}

// TestCodeForm_Pages renders each page that asks for a code and checks
// what browsers and password managers rely on: the ids, names, labels and
// autocomplete of the code field, and the form asking for a new SMS code.
func TestCodeForm_Pages(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	type confirmData struct {
		pendingState
		Ways    []string
		SMS     bool
		Expires string
	}
	type payData struct {
		St      checkoutPending
		Q       string
		C       *app.CheckoutRequest
		Amount  string
		Ways    []string
		SMS     bool
		Expires string
	}
	type stepData struct {
		What, Action, Problem string
		Ways                  []string
		Fields                []hiddenField
		Expires               string
	}
	const (
		field   = `<label for="code">Code</label>` + "\n" + `    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"`
		verbatm = ` autocapitalize="none" spellcheck="false" required autofocus>`
		plain   = ` required autofocus>`
	)
	policy := &coffer.ConfirmationPolicy{Login: "password", Transfers: "always"}
	for _, c := range []struct {
		page string
		data any
		want []string
		not  []string
	}{
		{"confirm", confirmData{pendingState{Form: sendForm{TransferID: "t1", From: "Z1", To: "Z2", Amount: "1.5", Protect: "code", ProtectDays: "7", InvoiceID: "inv-1"}, Challenge: "ch1"},
			[]string{"an SMS code", "a recovery code"}, true, "today"},
			[]string{`<form method="post" action="/send/confirm" class="stack" id="confirm-form">`, field + verbatm,
				`Enter an SMS code, or a recovery code.`, `<p class="challenge mono" id="challenge">ch1</p>`, `coffer otp answer ch1`,
				`<form method="post" action="/invoices/inv-1/pay" class="inline" id="resend-form">`,
				`<input type="hidden" name="protect_days" value="7">`, `<input id="resend-protect-code" name="protect_code"`,
				`<button type="submit" name="resend" value="1" class="button-link">Send a new SMS code</button>`}, nil},
		{"confirm", confirmData{pendingState{Form: sendForm{TransferID: "t1", From: "Z1", To: "Z2", Amount: "1.5"}}, []string{"x"}, false, "today"},
			[]string{`id="confirm-form"`}, []string{`id="challenge"`, `id="resend-form"`}},
		{"pay_confirm", payData{checkoutPending{TransferID: "t2", From: "Z3", Challenge: "ch2"}, "q=1", &app.CheckoutRequest{Merchant: "m", Currency: "EUR"}, "2.00", []string{"x"}, true, "later"},
			[]string{`<form method="post" action="/pay/confirm" class="stack" id="confirm-form">`, field + verbatm,
				`<p class="challenge mono" id="challenge">ch2</p>`, `<form method="post" action="/pay" class="inline" id="resend-form">`,
				`<input type="hidden" name="q" value="q=1">`, `<input type="hidden" name="transfer_id" value="t2">`, `<input type="hidden" name="from" value="Z3">`},
			[]string{`coffer otp answer`, `resend-protect-code`}},
		{"stepup", stepData{Action: "/settings/password", Ways: []string{"x"}, Fields: []hiddenField{{"confirmation_id", "c1"}, {"new_password", "p"}}},
			[]string{`<form method="post" action="/settings/password" class="stack" id="stepup-form">`, field + plain,
				`<input type="hidden" name="confirmation_id" value="c1">`, `<input type="hidden" name="new_password" value="p">`, `>Confirm</button>`},
			[]string{`spellcheck`}},
		{"totp", totpData{Secret: "S", URI: "otpauth://x"},
			[]string{`<form method="post" action="/settings/totp/verify" class="stack" id="totp-form">`, field + plain,
				`<input type="hidden" name="secret" value="S">`, `<input type="hidden" name="uri" value="otpauth://x">`, `>Finish</button>`}, nil},
		{"verify", struct {
			Methods []string
			Expires string
		}{[]string{"a", "b"}, "then"},
			[]string{`<form method="post" action="/login/verify" class="stack" id="verify-form">`, `<label for="code">One-time code</label>`,
				`autocomplete="one-time-code"` + verbatm, `enter a, or b.`, `<button type="submit" class="primary">Log in</button>`}, nil},
		{"settings", settingsData{Factors: &app.SecurityFactors{Bootstrap: true, Policy: policy}, Policy: policy, Settings: &coffer.MemberSettings{}},
			[]string{`<form method="post" action="/settings/phone/verify" class="row-form">`, `<label for="phone-code">Code from the SMS</label>`,
				`<input id="phone-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required>`,
				`<button type="submit">Verify the phone</button>`}, []string{`autofocus`}},
	} {
		var buf bytes.Buffer
		if err := pages[c.page].ExecuteTemplate(&buf, "layout", page{Title: "T", Member: "m", CSRF: "tok", Zone: "UTC", Data: c.data}); err != nil {
			t.Fatalf("%s: %v", c.page, err)
		}
		html := buf.String()
		for _, w := range c.want {
			if !strings.Contains(html, w) {
				t.Errorf("%s: got no %q in\n%s", c.page, w, html)
			}
		}
		for _, n := range c.not {
			if strings.Contains(html, n) {
				t.Errorf("%s: got %q, want none", c.page, n)
			}
		}
	}
}
