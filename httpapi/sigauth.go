package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/forwarded"
	"github.com/coffer-money/coffer/httpsig"
)

// What a request signature must carry. RFC 9421 leaves these to the
// application; coffer asks for enough to bind a signature to one request,
// one moment and one use.
const (
	minNonce = 8   // characters; keepers send 22 (128 random bits)
	maxNonce = 256 // characters
)

// acceptSignature tells a client that failed what to send (RFC 9421 §5.1).
const acceptSignature = `sig1=("@method" "@target-uri" "content-digest");created;nonce;alg="ed25519"`

// signatureAuth authenticates an HTTP Message Signature (RFC 9421,
// algorithm ed25519) made with a member's registered key. It claims every
// request that carries a Signature or Signature-Input field, so that a bad
// signature is refused with its reason instead of falling back to other
// credentials; a request with neither is left to the next authenticator.
//
// The signature must cover @method and @target-uri, and content-digest
// (RFC 9530, sha-256 or sha-512, checked against the body) when the request
// has a body; it must carry created, nonce and keyid, and alg, if given,
// must be "ed25519". The body is read here, bounded by MaxBody, and put
// back for the handler.
//
// @target-uri is recreated from the request as this server received it:
// https when the connection is TLS, the Host field, the request target;
// behind a trusted proxy (Config.TrustedProxies), the scheme and host the
// proxy says the client used (X-Forwarded-Proto and -Host, or Forwarded)
// replace the first two. A proxy that names neither must keep the Host
// field and speak TLS to this server, or clients must sign what the
// server sees.
func (s *Server) signatureAuth(w http.ResponseWriter, r *http.Request) (*Principal, error) {
	sigField, hasSig := httpsig.FieldValue(r.Header, "Signature")
	inField, hasIn := httpsig.FieldValue(r.Header, "Signature-Input")
	if !hasSig && !hasIn {
		return nil, nil
	}
	p, err := s.verifySignature(w, r, sigField, inField)
	if err != nil {
		if code := coffer.ErrorCode(err); code != coffer.ETOOLARGE && code != coffer.EINTERNAL && code != coffer.EUNAVAILABLE && code != coffer.ERATELIMITED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
			w.Header().Set("Accept-Signature", acceptSignature)
		}
		return nil, err
	}
	return p, nil
}

func malformed(format string, args ...any) error {
	return coffer.Errorf(coffer.ESIGMALFORMED, format, args...)
}

func (s *Server) verifySignature(w http.ResponseWriter, r *http.Request, sigField, inField string) (*Principal, error) {
	ins, err := httpsig.ParseSignatureInput(inField)
	if err != nil {
		return nil, malformed("The Signature-Input field is not a valid structured field dictionary of inner lists (RFC 8941, RFC 9421).")
	}
	sigs, err := httpsig.ParseSignature(sigField)
	if err != nil {
		return nil, malformed("The Signature field is not a valid structured field dictionary of byte sequences (RFC 8941, RFC 9421).")
	}
	if len(ins) != 1 || len(sigs) != 1 || ins[0].Label != sigs[0].Label {
		return nil, malformed("Send exactly one signature: one label in Signature-Input and the same label in Signature.")
	}
	in, sig := ins[0], sigs[0].Value

	for _, c := range []string{"@method", "@target-uri"} {
		if !in.Covers(c) {
			return nil, malformed("The signature must cover %s.", c)
		}
	}
	for _, p := range in.Params {
		switch p.Key {
		case "created", "expires", "nonce", "keyid", "alg", "tag":
		default:
			return nil, malformed("Unknown signature parameter %q.", p.Key)
		}
	}
	created, ok := in.Int("created")
	if !ok || created <= 0 {
		return nil, malformed("The signature must carry created, the Unix time it was made, as an integer.")
	}
	var expires int64
	if v := in.Params.Get("expires"); v != nil {
		if expires, ok = v.(int64); !ok || expires <= created {
			return nil, malformed("expires must be an integer Unix time after created.")
		}
	}
	nonce, ok := in.String("nonce")
	if !ok || len(nonce) < minNonce || len(nonce) > maxNonce {
		return nil, malformed("The signature must carry a nonce: a string of %d to %d characters, new for every request.", minNonce, maxNonce)
	}
	keyID, ok := in.String("keyid")
	if !ok || keyID == "" {
		return nil, malformed("The signature must carry keyid, the ID of a registered key.")
	}
	if v := in.Params.Get("alg"); v != nil && v != "ed25519" {
		return nil, malformed(`alg must be "ed25519".`)
	}
	if v := in.Params.Get("tag"); v != nil {
		if _, ok := v.(string); !ok {
			return nil, malformed("tag must be a string.")
		}
	}

	limit := bodyLimit(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, coffer.Errorf(coffer.ETOOLARGE, "The request body is larger than %d bytes.", limit)
		}
		return nil, coffer.Errorf(coffer.EINVALID, "The request body could not be read.")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > 0 && !in.Covers("content-digest") {
		return nil, malformed("A request with a body must carry Content-Digest (RFC 9530) and the signature must cover content-digest.")
	}
	if in.Covers("content-digest") {
		v, present := httpsig.FieldValue(r.Header, "Content-Digest")
		if !present {
			return nil, malformed("The signature covers content-digest but the request has no Content-Digest field.")
		}
		switch err := httpsig.VerifyContentDigest(v, body); {
		case errors.Is(err, httpsig.ErrDigestMismatch):
			return nil, coffer.Errorf(coffer.EDIGESTMISMATCH, "The body does not match its Content-Digest.")
		case err != nil:
			return nil, malformed("Content-Digest must carry a sha-256 or sha-512 digest as a byte sequence.")
		}
	}
	base, err := httpsig.Base(asSent(r), in)
	if err != nil {
		// The text names only components of the request itself.
		return nil, malformed("The signature cannot be checked: %s.", err.Error())
	}
	k, err := s.svc.AuthenticateSignature(r.Context(), app.SignedRequest{KeyID: keyID, Created: created,
		Expires: expires, Nonce: nonce, Base: base, Signature: sig, IP: clientIP(r)})
	if err != nil {
		return nil, err
	}
	return &Principal{MemberID: k.MemberID, Method: "signature", KeyID: k.ID}, nil
}

// asSent is r as its client addressed it: behind a trusted proxy, with the
// host and scheme the proxy named, which @target-uri, @authority and
// @scheme cover. Without a trusted proxy r is returned unchanged.
func asSent(r *http.Request) *http.Request {
	host, proto := forwarded.Host(r), forwarded.Proto(r)
	if host == "" && proto != "http" && proto != "https" {
		return r
	}
	r2 := r.WithContext(r.Context())
	if host != "" {
		r2.Host = host
	}
	if proto == "http" || proto == "https" {
		u := *r.URL
		u.Scheme = proto
		r2.URL = &u
	}
	return r2
}

// keyJSON is a key as the API shows it. The public key is base64 of its 32
// raw bytes.
func keyJSON(k *coffer.SigningKey, p *Principal) map[string]any {
	j := map[string]any{"key_id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint(),
		"public_key": base64.StdEncoding.EncodeToString(k.PublicKey), "algorithm": "ed25519",
		"status": "active", "created_at": k.CreatedAt, "current": p.KeyID == k.ID}
	if !k.LastUsedAt.IsZero() {
		j["last_used_at"] = k.LastUsedAt
	}
	if k.Revoked() {
		j["status"] = "revoked"
		j["revoked_at"] = k.RevokedAt
	}
	return j
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Keys(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, k := range list {
		out = append(out, keyJSON(k, p))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out, "max_active": coffer.MaxActiveKeys})
}

// addKey registers a public key. Only a password session may do it: a
// stolen signing key or certificate must not be able to add keys of its own.
func (s *Server) addKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if p.Method != "session" {
		return coffer.Errorf(coffer.EFORBIDDEN, "Keys can be added only with a session from a password login, not with a signed request or a certificate.")
	}
	var in struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.PublicKey == "" {
		return coffer.Errorf(coffer.EINVALID, "public_key is required.")
	}
	k, err := s.svc.AddKey(r.Context(), p.MemberID, app.AddKeyInput{Name: in.Name, PublicKey: in.PublicKey, IP: clientIP(r), Proof: proof(r)})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/keys/"+k.ID)
	return writeJSON(w, http.StatusCreated, keyJSON(k, p))
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	k, err := s.svc.Key(r.Context(), p.MemberID, r.PathValue("key_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, keyJSON(k, p))
}

func (s *Server) renameKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Name *string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return coffer.Errorf(coffer.EINVALID, "name is required.")
	}
	k, err := s.svc.RenameKey(r.Context(), p.MemberID, r.PathValue("key_id"), *in.Name, clientIP(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, keyJSON(k, p))
}

// revokeKey revokes a key at once. A signed request may revoke the key
// that signed it (a member who fears the key is stolen can cut it off with
// it) but no other: managing other keys takes a session or certificate.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("key_id")
	if p.Method == "signature" && id != p.KeyID {
		return coffer.Errorf(coffer.EFORBIDDEN, "A signed request may revoke only the key that signed it; log in to revoke other keys.")
	}
	if err := s.svc.RevokeKey(r.Context(), p.MemberID, id, clientIP(r), p.Method); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
