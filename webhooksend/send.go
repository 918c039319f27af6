package webhooksend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Failure categories: all that is kept of an attempt that got no answer.
// The member sees them; resolver messages, addresses and Go error text stay
// out, since they can describe the operator's network.
const (
	CategoryDNS      = "dns"             // the name did not resolve
	CategoryRefused  = "refused_address" // the name resolved to an address that is not public
	CategoryConnect  = "connect"         // no connection could be made
	CategoryTimeout  = "timeout"         // no answer in time
	CategoryTLS      = "tls"             // the TLS handshake or the certificate failed
	CategoryNetwork  = "network"         // the connection broke or the answer was not HTTP
	CategoryInternal = "internal"        // the request could not be built
)

// Sender posts deliveries with Client.
type Sender struct {
	Client *http.Client
}

// New returns a Sender over NewClient(allowLoopback, timeout, r).
func New(allowLoopback bool, timeout time.Duration, r *net.Resolver) *Sender {
	return &Sender{Client: NewClient(allowLoopback, timeout, r)}
}

// NewClient is a client for URLs members give: it follows no redirects,
// uses no proxy and connects only to public addresses (and, with
// allowLoopback, loopback ones), checked on the address it actually
// dials, so DNS cannot smuggle another one in. r resolves names; nil: the
// system's resolver.
func NewClient(allowLoopback bool, timeout time.Duration, r *net.Resolver) *http.Client {
	d := &net.Dialer{Timeout: timeout, Resolver: r, ControlContext: dialControl(allowLoopback)}
	tr := &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: timeout, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Post sends body to url with header and returns the status of the answer,
// whose body it reads (up to 64 KiB) and discards. When no answer came,
// err says why, in full, for the log, and category is its kind (a
// Category constant), for the member.
func (s *Sender) Post(ctx context.Context, url string, header http.Header, body []byte) (status int, category string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, CategoryInternal, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, Category(err), err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, "", nil
}

// Category says what kind of failure err is, for the record.
func Category(err error) string {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		netErr  net.Error
		opErr   *net.OpError
	)
	switch {
	case errors.Is(err, errRefusedAddress):
		return CategoryRefused
	case errors.As(err, &dnsErr):
		return CategoryDNS
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invErr),
		errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &opErr) && opErr.Op == "remote error":
		return CategoryTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return CategoryTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return CategoryConnect
	}
	return CategoryNetwork
}
