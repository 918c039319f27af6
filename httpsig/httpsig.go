// Package httpsig implements the parts of HTTP Message Signatures (RFC 9421)
// and Digest Fields (RFC 9530) that coffer uses to sign requests with
// Ed25519 keys: parsing and serializing the Signature-Input and Signature
// fields, recreating the signature base of a request, signing, and the
// Content-Digest field.
//
// It works on requests on both sides of the wire: an outgoing request (its
// URL is absolute; RequestURI is empty) and a request a server received
// (RequestURI is set). Both derive the same component values, so a
// signature made by one verifies on the other.
//
// Component identifiers with parameters (;sf, ;key, ;bs, ;req, ;tr, ;name)
// and the @query-param and @status components are not supported: a
// signature that covers them cannot be recreated and is refused.
package httpsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Errors. Each is wrapped with the detail of what went wrong.
var (
	// ErrMalformed means a Signature-Input or Signature field does not
	// have the shape RFC 9421 gives it.
	ErrMalformed = errors.New("malformed signature field")
	// ErrComponent means a covered component cannot be derived from the
	// request: it is missing, duplicated or not supported.
	ErrComponent = errors.New("covered component")
	// ErrDigestMismatch means Content-Digest does not match the body.
	ErrDigestMismatch = errors.New("content digest does not match the body")
	// ErrDigestAlgorithm means Content-Digest names no supported
	// algorithm (sha-256, sha-512) or is malformed.
	ErrDigestAlgorithm = errors.New("content digest has no supported algorithm")
)

// SignatureInput is one signature's metadata from Signature-Input: the
// covered components, in order, and the signature parameters (created,
// expires, nonce, alg, keyid, tag).
type SignatureInput struct {
	Label string
	// Components are the covered component identifiers: sf-strings,
	// each possibly with parameters.
	Components []Item
	Params     Params
}

// InnerList returns the signature parameters as the inner list they are
// serialized as, in Signature-Input and in "@signature-params".
func (si *SignatureInput) InnerList() InnerList {
	return InnerList{Items: si.Components, Params: si.Params}
}

// Names returns the covered component names, without parameters.
func (si *SignatureInput) Names() []string {
	out := make([]string, len(si.Components))
	for i, c := range si.Components {
		out[i], _ = c.Value.(string)
	}
	return out
}

// Covers reports whether name is a covered component.
func (si *SignatureInput) Covers(name string) bool {
	for _, c := range si.Components {
		if c.Value == name {
			return true
		}
	}
	return false
}

// Int returns an Integer parameter.
func (si *SignatureInput) Int(key string) (int64, bool) {
	v, ok := si.Params.Get(key).(int64)
	return v, ok
}

// String returns a String parameter.
func (si *SignatureInput) String(key string) (string, bool) {
	v, ok := si.Params.Get(key).(string)
	return v, ok
}

// ParseSignatureInput parses a Signature-Input field value (the field's
// lines joined with ", "). Every member must be an inner list of strings.
func ParseSignatureInput(v string) ([]*SignatureInput, error) {
	d, err := ParseDictionary(v)
	if err != nil {
		return nil, fmt.Errorf("%w: Signature-Input: %w", ErrMalformed, err)
	}
	out := make([]*SignatureInput, 0, len(d))
	for _, m := range d {
		l, ok := m.Value.(InnerList)
		if !ok {
			return nil, fmt.Errorf("%w: Signature-Input: %s is not an inner list", ErrMalformed, m.Key)
		}
		for _, it := range l.Items {
			if _, ok := it.Value.(string); !ok {
				return nil, fmt.Errorf("%w: Signature-Input: %s covers a component that is not a string", ErrMalformed, m.Key)
			}
		}
		out = append(out, &SignatureInput{Label: m.Key, Components: l.Items, Params: l.Params})
	}
	return out, nil
}

// Signature is one labelled signature value from the Signature field.
type Signature struct {
	Label string
	Value []byte
}

// ParseSignature parses a Signature field value (the field's lines joined
// with ", "). Every member must be a byte sequence.
func ParseSignature(v string) ([]Signature, error) {
	d, err := ParseDictionary(v)
	if err != nil {
		return nil, fmt.Errorf("%w: Signature: %w", ErrMalformed, err)
	}
	out := make([]Signature, 0, len(d))
	for _, m := range d {
		it, ok := m.Value.(Item)
		b, isBytes := it.Value.([]byte)
		if !ok || !isBytes {
			return nil, fmt.Errorf("%w: Signature: %s is not a byte sequence", ErrMalformed, m.Key)
		}
		out = append(out, Signature{Label: m.Key, Value: b})
	}
	return out, nil
}

// FieldValue returns the value of field name in h: its lines joined with
// ", " (RFC 9110 §5.3), or "" and false when absent.
func FieldValue(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	for i := range vs {
		vs[i] = strings.Trim(vs[i], " \t")
	}
	return strings.Join(vs, ", "), true
}

// incoming reports whether r is a request a server received.
func incoming(r *http.Request) bool { return r.RequestURI != "" }

// scheme returns the request's URI scheme, lower-case.
func scheme(r *http.Request) string {
	if incoming(r) {
		if r.URL != nil && r.URL.Scheme != "" { // absolute-form request target
			return strings.ToLower(r.URL.Scheme)
		}
		if r.TLS != nil {
			return "https"
		}
		return "http"
	}
	return strings.ToLower(r.URL.Scheme)
}

// authority returns the request's host[:port], lower-case and without the
// scheme's default port.
func authority(r *http.Request) string {
	h := r.Host
	if h == "" && r.URL != nil {
		h = r.URL.Host
	}
	h = strings.ToLower(h)
	switch s := scheme(r); {
	case s == "https" && strings.HasSuffix(h, ":443"):
		h = strings.TrimSuffix(h, ":443")
	case s == "http" && strings.HasSuffix(h, ":80"):
		h = strings.TrimSuffix(h, ":80")
	}
	return h
}

// requestTarget returns the request target in origin form (path and query)
// as it travels on the wire.
func requestTarget(r *http.Request) (string, error) {
	if incoming(r) {
		rt := r.RequestURI
		if strings.HasPrefix(rt, "/") {
			return rt, nil
		}
		// absolute-form: keep the path and query only.
		u, err := url.ParseRequestURI(rt)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%w: unsupported request target %q", ErrComponent, rt)
		}
		return u.RequestURI(), nil
	}
	return r.URL.RequestURI(), nil
}

// componentValue derives one covered component's value (RFC 9421 §2.1,
// §2.2).
func componentValue(r *http.Request, c Item) (string, error) {
	name, _ := c.Value.(string)
	if len(c.Params) > 0 {
		return "", fmt.Errorf("%w: %q has parameters, which are not supported", ErrComponent, name)
	}
	switch name {
	case "@method":
		return r.Method, nil
	case "@target-uri":
		rt, err := requestTarget(r)
		if err != nil {
			return "", err
		}
		return scheme(r) + "://" + authority(r) + rt, nil
	case "@authority":
		return authority(r), nil
	case "@scheme":
		return scheme(r), nil
	case "@request-target":
		return requestTarget(r)
	case "@path":
		rt, err := requestTarget(r)
		if err != nil {
			return "", err
		}
		p, _, _ := strings.Cut(rt, "?")
		if p == "" {
			p = "/"
		}
		return p, nil
	case "@query":
		rt, err := requestTarget(r)
		if err != nil {
			return "", err
		}
		_, q, _ := strings.Cut(rt, "?")
		return "?" + q, nil
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("%w: %q is not supported", ErrComponent, name)
	}
	if name == "" || strings.ToLower(name) != name {
		return "", fmt.Errorf("%w: field name %q must be lower-case", ErrComponent, name)
	}
	if v, ok := FieldValue(r.Header, name); ok {
		return v, nil
	}
	if name == "host" && r.Host != "" {
		return r.Host, nil // net/http moves Host out of the header map
	}
	return "", fmt.Errorf("%w: the request has no %q field", ErrComponent, name)
}

// Base recreates the signature base of r for si (RFC 9421 §2.5).
func Base(r *http.Request, si *SignatureInput) ([]byte, error) {
	var b bytes.Buffer
	seen := make(map[string]bool, len(si.Components))
	for _, c := range si.Components {
		id, err := InnerList{Items: []Item{c}}.String()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrComponent, err)
		}
		id = id[1 : len(id)-1] // the item alone, without the list's parentheses
		if seen[id] {
			return nil, fmt.Errorf("%w: %s is covered twice", ErrComponent, id)
		}
		seen[id] = true
		if c.Value == "@signature-params" {
			return nil, fmt.Errorf("%w: @signature-params cannot be covered", ErrComponent)
		}
		v, err := componentValue(r, c)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: %s holds a line break", ErrComponent, id)
		}
		b.WriteString(id)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	params, err := si.InnerList().String()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return b.Bytes(), nil
}

// Verify reports whether sig is a valid Ed25519 signature of base by pub.
func Verify(pub ed25519.PublicKey, base, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, base, sig)
}

// SignOptions are what Sign puts into a signature.
type SignOptions struct {
	Label   string // defaults to "sig1"
	KeyID   string
	Created int64 // Unix seconds
	Expires int64 // Unix seconds; 0 for none
	Nonce   string
	// Components to cover; defaults to @method and @target-uri, plus
	// content-digest when the body is not empty.
	Components []string
}

// Sign signs r with key: it sets Content-Digest (sha-256) when body is not
// empty, then Signature-Input and Signature. body must be exactly what r
// will carry. alg is always "ed25519".
func Sign(r *http.Request, body []byte, key ed25519.PrivateKey, o SignOptions) error {
	if o.Label == "" {
		o.Label = "sig1"
	}
	comps := o.Components
	if comps == nil {
		comps = []string{"@method", "@target-uri"}
		if len(body) > 0 {
			comps = append(comps, "content-digest")
		}
	}
	if len(body) > 0 {
		r.Header.Set("Content-Digest", ContentDigest(body))
	}
	si := &SignatureInput{Label: o.Label}
	for _, c := range comps {
		si.Components = append(si.Components, Item{Value: c})
	}
	si.Params = Params{{"created", o.Created}}
	if o.Expires != 0 {
		si.Params = append(si.Params, Param{"expires", o.Expires})
	}
	si.Params = append(si.Params, Param{"nonce", o.Nonce}, Param{"keyid", o.KeyID}, Param{"alg", "ed25519"})
	base, err := Base(r, si)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(key, base)
	in, err := Dictionary{{o.Label, si.InnerList()}}.String()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	out, err := Dictionary{{o.Label, Item{Value: sig}}}.String()
	if err != nil {
		return err
	}
	r.Header.Set("Signature-Input", in)
	r.Header.Set("Signature", out)
	return nil
}

// ContentDigest returns a Content-Digest field value for body: its SHA-256.
func ContentDigest(body []byte) string {
	h := sha256.Sum256(body)
	s, _ := Dictionary{{"sha-256", Item{Value: h[:]}}}.String()
	return s
}

// VerifyContentDigest checks a Content-Digest field value against body.
// Every sha-256 and sha-512 digest in it must match (compared in constant
// time); other algorithms are ignored, but at least one of the two must
// be there.
func VerifyContentDigest(v string, body []byte) error {
	d, err := ParseDictionary(v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDigestAlgorithm, err)
	}
	checked := 0
	for _, m := range d {
		var sum []byte
		switch m.Key {
		case "sha-256":
			h := sha256.Sum256(body)
			sum = h[:]
		case "sha-512":
			h := sha512.Sum512(body)
			sum = h[:]
		default:
			continue
		}
		it, ok := m.Value.(Item)
		got, isBytes := it.Value.([]byte)
		if !ok || !isBytes {
			return fmt.Errorf("%w: %s is not a byte sequence", ErrDigestAlgorithm, m.Key)
		}
		if subtle.ConstantTimeCompare(got, sum) != 1 {
			return ErrDigestMismatch
		}
		checked++
	}
	if checked == 0 {
		return ErrDigestAlgorithm
	}
	return nil
}
