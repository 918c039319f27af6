package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // members' time zones work on hosts without a zoneinfo database
)

// Cookie names. Over HTTPS each gets the __Host- prefix, which the browser
// only accepts with Secure, Path=/ and no Domain, so a sibling subdomain
// cannot plant or overwrite them.
const (
	cookieSession = "coffer_session" // the session token; the only credential
	cookieBrowser = "coffer_browser" // random; keys CSRF before login and the signed state cookies
	cookieFlash   = "coffer_flash"   // a one-time message after a redirect
	cookieLogin   = "coffer_login"   // the pending login challenge
	cookiePending = "coffer_pending" // the transfer waiting for its code
	cookieNewID   = "coffer_new_id"  // the member ID just registered, shown once
	cookieTZ      = "coffer_tz"      // the member's time zone for dates
)

func cookieName(base string, secure bool) string {
	if secure {
		return "__Host-" + base
	}
	return base
}

func readCookie(r *http.Request, base string, secure bool) string {
	c, err := r.Cookie(cookieName(base, secure))
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie sets a cookie the way every cookie of the web keeper is set:
// HttpOnly, SameSite=Strict, Path=/, Secure unless on loopback plain HTTP.
// maxAge 0 makes a browser-session cookie, negative deletes it.
func setCookie(w http.ResponseWriter, base, value string, maxAge int, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(base, secure), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, base string, secure bool) {
	setCookie(w, base, "", -1, secure)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserID returns the browser cookie, setting a new one when missing.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request, secure bool) string {
	if v := readCookie(r, cookieBrowser, secure); len(v) == 43 {
		return v
	}
	v := randomToken()
	setCookie(w, cookieBrowser, v, int((400 * 24 * time.Hour).Seconds()), secure)
	return v
}

func mac(key, msg string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// csrfToken is the token every form carries. Logged in, it is derived from
// the session token, so it is per session and dies with it; before login,
// from the browser cookie. Neither can be computed without the cookie, which
// another site cannot read.
func csrfToken(rq *request) string {
	if rq.token != "" {
		return base64.RawURLEncoding.EncodeToString(mac(rq.token, "coffer web csrf"))
	}
	return base64.RawURLEncoding.EncodeToString(mac(rq.browser, "coffer web csrf (anonymous)"))
}

// checkCSRF compares a form's token with the expected one in constant time.
func checkCSRF(rq *request, got string) bool {
	want := csrfToken(rq)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setState stores v in a cookie signed with the browser cookie, so that the
// server can trust what it wrote there. The values kept this way say what
// is pending (a login challenge, a transfer); the service checks the codes.
func setState(w http.ResponseWriter, rq *request, base string, v any, maxAge int) {
	b, _ := json.Marshal(v)
	payload := base64.RawURLEncoding.EncodeToString(b)
	sig := base64.RawURLEncoding.EncodeToString(mac(rq.browser, base+"|"+payload))
	setCookie(w, base, payload+"."+sig, maxAge, rq.secure)
}

// getState reads a cookie setState wrote; false when missing or forged.
func getState(r *http.Request, rq *request, base string, v any) bool {
	payload, sig, ok := strings.Cut(readCookie(r, base, rq.secure), ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(rq.browser, base+"|"+payload)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

// flash is a message shown once on the page a redirect leads to.
type flash struct {
	Kind string `json:"k"` // "ok" or "error"
	Text string `json:"t"`
}

func setFlash(w http.ResponseWriter, rq *request, kind, text string) {
	setState(w, rq, cookieFlash, flash{Kind: kind, Text: text}, 60)
}

func takeFlash(w http.ResponseWriter, r *http.Request, rq *request) *flash {
	if readCookie(r, cookieFlash, rq.secure) == "" {
		return nil
	}
	clearCookie(w, cookieFlash, rq.secure)
	var f flash
	if !getState(r, rq, cookieFlash, &f) {
		return nil
	}
	return &f
}

// timeZone is the member's time zone: the cookie set at login from the
// browser, or in the settings; UTC when unset or unknown.
func timeZone(r *http.Request, secure bool) *time.Location {
	if loc, ok := loadZone(readCookie(r, cookieTZ, secure)); ok {
		return loc
	}
	return time.UTC
}

// loadZone loads an IANA time zone name; only names, never paths.
func loadZone(name string) (*time.Location, bool) {
	if name == "" || len(name) > 64 || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, false
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("/_-+", c)) {
			return nil, false
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, false
	}
	return loc, true
}
