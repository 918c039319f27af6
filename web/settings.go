package web

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// proof is the step-up proof a form carries after the member entered a
// code on the step-up page: "<confirmation_id>:<code>".
func proof(r *http.Request) string {
	id, code := r.PostForm.Get("confirmation_id"), strings.TrimSpace(r.PostForm.Get("code"))
	if id == "" || code == "" {
		return ""
	}
	return id + ":" + code
}

func actor(r *http.Request, rq *request) app.Actor {
	return app.Actor{MemberID: rq.member, IP: clientIP(r), Method: "session", Proof: proof(r)}
}

// stepUp handles the answer of a change that needs a confirmation: it
// shows a page asking for a code that sends the same form again with the
// confirmation, or says the code was wrong. ok is false for any other
// error, which the caller handles.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, rq *request, err error, what string) (bool, error) {
	var pending *app.Pending
	problem := ""
	switch coffer.ErrorCode(err) {
	case coffer.ECONFIRMATIONREQUIRED:
		p, ok := app.IsPending(err)
		if !ok {
			return false, nil
		}
		pending = p
	case coffer.ECONFIRMATIONFAILED:
		problem = coffer.ErrorMessage(err)
	default:
		return false, nil
	}
	data := struct {
		What, Action, Problem string
		Ways                  []string
		Fields                []hiddenField // the confirmation's ID first, then the form's own
		Expires               string
	}{What: what, Action: r.URL.Path, Problem: problem}
	confirmationID := r.PostForm.Get("confirmation_id")
	if pending != nil {
		confirmationID, data.Ways, data.Expires = pending.ID, describeMethods(pending.Methods), formatTime(pending.ExpiresAt, rq.loc)
	} else {
		data.Ways = []string{"a code from your code generator app, an SMS code or a recovery code"}
	}
	data.Fields = []hiddenField{{"confirmation_id", confirmationID}}
	keys := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "csrf" || k == "confirmation_id" || k == "code" {
			continue
		}
		for _, v := range r.PostForm[k] {
			data.Fields = append(data.Fields, hiddenField{k, v})
		}
	}
	return true, s.render(w, rq, "stepup", "Confirm this change", "settings", data, http.StatusForbidden)
}

// done finishes a settings change: a message, then back to the settings.
func done(w http.ResponseWriter, r *http.Request, rq *request, msg, to string) error {
	setFlash(w, rq, "ok", msg)
	return redirect(w, r, to)
}

// change runs a settings change through the step-up flow. Errors the
// member can correct go back to the settings page as a message.
func (s *Server) change(w http.ResponseWriter, r *http.Request, rq *request, err error, what, msg, to string) error {
	if err == nil {
		return done(w, r, rq, msg, to)
	}
	if ok, rerr := s.stepUp(w, r, rq, err, what); ok {
		return rerr
	}
	switch coffer.ErrorCode(err) {
	case coffer.EINVALID, coffer.EINVALIDAMOUNT, coffer.EUNAVAILABLE, coffer.ENOTFOUND:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, to)
	}
	return err
}

type settingsData struct {
	Factors  *app.SecurityFactors
	Policy   *coffer.ConfirmationPolicy
	Exempt   string
	Settings *coffer.MemberSettings
	IPRanges string
	YourIP   string
	Purses   []purseRow
	Zone     string
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	f, err := s.svc.Factors(ctx(r), rq.member)
	if err != nil {
		return err
	}
	st, err := s.svc.Settings(ctx(r), rq.member)
	if err != nil {
		return err
	}
	list, err := s.svc.Purses(ctx(r), rq.member)
	if err != nil {
		return err
	}
	d := settingsData{Factors: f, Policy: f.Policy, Exempt: strings.Join(f.Policy.ExemptPayees, "\n"), Settings: st,
		IPRanges: strings.Join(st.IPRanges, "\n"), YourIP: clientIP(r), Zone: rq.loc.String()}
	for _, p := range list {
		d.Purses = append(d.Purses, s.purseRow(r, p))
	}
	return s.render(w, rq, "settings", "Settings", "settings", d)
}

func (s *Server) setTimezone(w http.ResponseWriter, r *http.Request, rq *request) error {
	tz := strings.TrimSpace(r.PostForm.Get("tz"))
	if tz == "" || tz == "UTC" {
		clearCookie(w, cookieTZ, rq.secure)
		return done(w, r, rq, "Dates are now shown in UTC.", "/settings")
	}
	if _, ok := loadZone(tz); !ok {
		setFlash(w, rq, "error", "Unknown time zone "+strconv.Quote(tz)+": use a name such as Europe/Berlin or America/New_York.")
		return redirect(w, r, "/settings")
	}
	setCookie(w, cookieTZ, tz, int((400 * 24 * time.Hour).Seconds()), rq.secure)
	return done(w, r, rq, "Dates are now shown in "+tz+".", "/settings")
}

// totpData is the generator setup page: the seed is shown once, as the
// answer to the POST that made it, and travels back only in the verify
// form's body so that a mistyped code can be tried again.
type totpData struct {
	Secret, URI string
	QR          template.HTML
	Problem     string
}

func (s *Server) enrolTOTP(w http.ResponseWriter, r *http.Request, rq *request) error {
	e, err := s.svc.EnrolGenerator(ctx(r), rq.member, proof(r))
	if err != nil {
		return s.change(w, r, rq, err, "Set up a code generator", "", "/settings")
	}
	return s.renderTOTP(w, rq, e.Secret, e.URI, "", http.StatusOK)
}

func (s *Server) renderTOTP(w http.ResponseWriter, rq *request, secret, uri, problem string, status int) error {
	qr, err := qrSVG(uri)
	if err != nil {
		return err
	}
	return s.render(w, rq, "totp", "Set up a code generator", "settings", totpData{Secret: secret, URI: uri, QR: qr, Problem: problem}, status)
}

// recoveryData shows recovery codes once, as the answer to their POST.
type recoveryData struct {
	What  string
	Codes []string
}

func (s *Server) verifyTOTP(w http.ResponseWriter, r *http.Request, rq *request) error {
	codes, err := s.svc.VerifyGenerator(ctx(r), rq.member, strings.TrimSpace(r.PostForm.Get("code")))
	if coffer.ErrorCode(err) == coffer.ECONFIRMATIONFAILED {
		secret, uri := r.PostForm.Get("secret"), r.PostForm.Get("uri")
		if strings.HasPrefix(uri, "otpauth://") && len(uri) < 1024 {
			return s.renderTOTP(w, rq, secret, uri, "That code is not right. Enter the code your app shows now.", http.StatusUnauthorized)
		}
	}
	if err != nil {
		return s.change(w, r, rq, err, "", "", "/settings")
	}
	if codes != nil {
		return s.render(w, rq, "recovery", "Your recovery codes", "settings", recoveryData{What: "Your code generator is set up.", Codes: codes})
	}
	return done(w, r, rq, "Your code generator is set up.", "/settings")
}

func (s *Server) addPhone(w http.ResponseWriter, r *http.Request, rq *request) error {
	phone := strings.TrimSpace(r.PostForm.Get("phone"))
	err := s.svc.AddPhone(ctx(r), rq.member, phone, proof(r))
	return s.change(w, r, rq, err, "Add a phone for SMS codes", "We sent a code to "+phone+". Enter it below to finish.", "/settings#phone")
}

func (s *Server) verifyPhone(w http.ResponseWriter, r *http.Request, rq *request) error {
	codes, err := s.svc.VerifyPhone(ctx(r), rq.member, strings.TrimSpace(r.PostForm.Get("code")))
	switch coffer.ErrorCode(err) {
	case "":
	case coffer.ECONFIRMATIONFAILED, coffer.ECONFIRMATIONVOID, coffer.ENOTFOUND:
		setFlash(w, rq, "error", coffer.ErrorMessage(err))
		return redirect(w, r, "/settings#phone")
	default:
		return err
	}
	if codes != nil {
		return s.render(w, rq, "recovery", "Your recovery codes", "settings", recoveryData{What: "Your phone is verified.", Codes: codes})
	}
	return done(w, r, rq, "Your phone is verified.", "/settings#phone")
}

func (s *Server) removeFactor(kind string) handler {
	what := map[string]string{coffer.FactorGenerator: "Remove the code generator", coffer.FactorPhone: "Remove the phone"}[kind]
	return func(w http.ResponseWriter, r *http.Request, rq *request) error {
		err := s.svc.RemoveFactor(ctx(r), rq.member, kind, proof(r))
		return s.change(w, r, rq, err, what, "Removed.", "/settings")
	}
}

func (s *Server) recoveryCodes(w http.ResponseWriter, r *http.Request, rq *request) error {
	codes, err := s.svc.NewRecoveryCodes(ctx(r), rq.member, proof(r))
	if err != nil {
		return s.change(w, r, rq, err, "Make new recovery codes", "", "/settings")
	}
	return s.render(w, rq, "recovery", "Your recovery codes", "settings", recoveryData{What: "Your old recovery codes no longer work.", Codes: codes})
}

// splitList splits a textarea of items separated by lines, commas or spaces.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := r.PostForm
	p := &coffer.ConfirmationPolicy{Login: f.Get("login"), Transfers: f.Get("transfers"), Threshold: strings.TrimSpace(f.Get("threshold")),
		ExemptPayees: splitList(strings.ToUpper(f.Get("exempt_payees"))), ConfirmSigned: f.Get("confirm_signed") != ""}
	err := s.svc.SetPolicy(ctx(r), rq.member, p, proof(r))
	return s.change(w, r, rq, err, "Change when codes are asked for", "Your confirmation settings are saved.", "/settings#policy")
}

func (s *Server) setIPRanges(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, err := s.svc.SetIPRanges(ctx(r), actor(r, rq), splitList(r.PostForm.Get("ip_ranges")))
	return s.change(w, r, rq, err, "Change the allowed addresses", "Your allowed addresses are saved.", "/settings#ip-ranges")
}

func (s *Server) setNewDevice(w http.ResponseWriter, r *http.Request, rq *request) error {
	on := r.PostForm.Get("enabled") == "on"
	err := s.svc.SetNewDeviceConfirmation(ctx(r), actor(r, rq), on)
	msg := "Logins from a new address no longer need a code by themselves."
	if on {
		msg = "A login from an address never used before now needs a code."
	}
	return s.change(w, r, rq, err, "Change new-device confirmation", msg, "/settings#new-device")
}

func (s *Server) setNotifications(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := r.PostForm
	n := coffer.Notifications{Login: f.Get("login") != "", IncomingPayment: f.Get("incoming_payment") != "", Security: f.Get("security") != ""}
	err := s.svc.SetNotifications(ctx(r), actor(r, rq), n)
	return s.change(w, r, rq, err, "Change e-mail notifications", "Your notification settings are saved.", "/settings#notifications")
}

type limitsData struct {
	Purse                               purseRow
	PerTransfer, PerDay, PerMonth       string
	SpentToday, SpentMonth              string
	RemainingToday, RemainingMonth      string
	PerTransferIn, PerDayIn, PerMonthIn string
}

func (s *Server) limitsPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	p, err := s.svc.Purse(ctx(r), rq.member, r.PathValue("purse"))
	if err != nil {
		return err
	}
	v, err := s.svc.PurseLimits(ctx(r), rq.member, p.Number)
	if err != nil {
		return err
	}
	show := func(x *int64) string {
		if x == nil {
			return "no limit"
		}
		return formatAmount(*x, v.Decimals) + " " + v.Currency
	}
	in := func(x *int64) string {
		if x == nil {
			return ""
		}
		return coffer.FormatAmount(*x, v.Decimals)
	}
	d := limitsData{Purse: s.purseRow(r, p), PerTransfer: show(v.Limits.PerTransfer), PerDay: show(v.Limits.PerDay), PerMonth: show(v.Limits.PerMonth),
		SpentToday: formatAmount(v.SpentToday, v.Decimals) + " " + v.Currency, SpentMonth: formatAmount(v.SpentMonth, v.Decimals) + " " + v.Currency,
		RemainingToday: show(v.RemainingToday), RemainingMonth: show(v.RemainingMonth),
		PerTransferIn: in(v.Limits.PerTransfer), PerDayIn: in(v.Limits.PerDay), PerMonthIn: in(v.Limits.PerMonth)}
	return s.render(w, rq, "limits", "Limits of "+p.Number, "settings", d)
}

func (s *Server) setLimits(w http.ResponseWriter, r *http.Request, rq *request) error {
	opt := func(name string) *string {
		v := strings.TrimSpace(r.PostForm.Get(name))
		if v == "" {
			return nil
		}
		return &v
	}
	purse := r.PathValue("purse")
	_, err := s.svc.SetPurseLimits(ctx(r), actor(r, rq), purse,
		app.LimitsInput{PerTransfer: opt("per_transfer"), PerDay: opt("per_day"), PerMonth: opt("per_month")})
	if coffer.ErrorCode(err) == coffer.EPURSENOTFOUND {
		return err
	}
	return s.change(w, r, rq, err, "Raise or remove a limit", "The limits of "+purse+" are saved.", "/purses/"+purse+"/limits")
}

type eventRow struct {
	When, Kind, Label, Detail string
}

// eventLabels name the security log's events for people; the page shows
// the kind too, which stays the reference. Kinds added later show as
// themselves.
var eventLabels = map[string]string{
	coffer.AuditMemberRegistered:     "Account opened",
	coffer.AuditLoginSucceeded:       "Logged in",
	coffer.AuditLoginFailed:          "Wrong password",
	coffer.AuditLoginChallenged:      "Login code asked for",
	coffer.AuditSessionEnded:         "Session ended",
	app.AuditPasswordChanged:         "Password changed",
	coffer.AuditPurseCreated:         "Purse opened",
	coffer.AuditTransferPending:      "Payment waiting for its code",
	coffer.AuditFactorEnrolled:       "Second factor added",
	coffer.AuditFactorRemoved:        "Second factor removed",
	coffer.AuditRecoveryCodesNew:     "New recovery codes",
	coffer.AuditRecoveryCodeUsed:     "Recovery code used",
	coffer.AuditConfirmationVoid:     "Too many wrong codes",
	coffer.AuditConfirmationPolicy:   "Confirmation settings changed",
	coffer.AuditIPRangesChanged:      "Allowed addresses changed",
	coffer.AuditIPRefused:            "Refused: address not allowed",
	coffer.AuditLimitsChanged:        "Purse limits changed",
	coffer.AuditNotificationsChanged: "Notifications changed",
	coffer.AuditNewDeviceChanged:     "New-device codes changed",
	coffer.AuditUnblockSent:          "Unblock code sent",
	coffer.AuditUnblockUsed:          "Address unblocked",
	coffer.AuditUnblockFailed:        "Wrong unblock code",
	coffer.AuditKeyAdded:             "Key file added",
	coffer.AuditKeyRenamed:           "Key file renamed",
	coffer.AuditKeyRevoked:           "Key file revoked",
	coffer.AuditKeyNewIP:             "Key file used from a new address",
	coffer.AuditCertificateIssued:    "Certificate issued",
	coffer.AuditCertificateRevoked:   "Certificate revoked",
	coffer.AuditCertificateNewIP:     "Certificate used from a new address",
}

func (s *Server) securityLog(w http.ResponseWriter, r *http.Request, rq *request) error {
	var before int64
	if v := r.URL.Query().Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "That page of the security log does not exist.")
		}
		before = n
	}
	const pageSize = 50
	list, err := s.svc.SecurityEvents(ctx(r), rq.member, before, pageSize)
	if err != nil {
		return err
	}
	data := struct {
		Rows        []eventRow
		Next, First string
	}{}
	for _, e := range list {
		data.Rows = append(data.Rows, eventRow{When: formatTime(e.At, rq.loc), Kind: e.Kind, Label: eventLabels[e.Kind], Detail: eventDetail(e.Detail)})
	}
	if len(list) == pageSize {
		data.Next = "/security-log?cursor=" + strconv.FormatInt(list[len(list)-1].Seq, 10)
	}
	if before != 0 {
		data.First = "/security-log"
	}
	return s.render(w, rq, "securitylog", "Security log", "log", data)
}

// eventDetail renders an audit event's JSON facts as "key: value" text.
func eventDetail(detail string) string {
	var m map[string]any
	if json.Unmarshal([]byte(detail), &m) != nil || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, _ := json.Marshal(m[k])
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+strings.Trim(string(v), `"`))
	}
	return strings.Join(parts, " · ")
}
