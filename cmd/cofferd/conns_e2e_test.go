package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// healthOn sends GET /healthz on c and returns the answer's status and
// Retry-After; err when no answer came (the server closed the connection).
func healthOn(c net.Conn, br *bufio.Reader) (int, string, error) {
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: coffer\r\n\r\n"); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// TestServe_ConnectionCaps runs the binary with --max-conns-per-ip 4: a
// fifth connection from 127.0.0.1 is answered 503 and closed while
// 127.0.0.2 is still served, and a place freed by a close is taken again.
func TestServe_ConnectionCaps(t *testing.T) {
	needBinaries(t)
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2 as a local address (Linux)")
	}
	s := startServerWith(t, t.TempDir(), "--max-conns-per-ip", "4")
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Four kept-open connections from 127.0.0.1, each answered.
	var kept []net.Conn
	for i := range 4 {
		c := dial("127.0.0.1")
		if status, _, err := healthOn(c, bufio.NewReader(c)); err != nil || status != http.StatusOK {
			t.Fatalf("connection %d: got %d, %v; want 200", i+1, status, err)
		}
		kept = append(kept, c)
	}
	// The fifth is turned away with an answer that says so.
	c := dial("127.0.0.1")
	status, ra, err := healthOn(c, bufio.NewReader(c))
	if err != nil || status != http.StatusServiceUnavailable || ra == "" {
		t.Errorf("fifth connection from 127.0.0.1: got status %d, Retry-After %q, err %v; want 503 with Retry-After", status, ra, err)
	}
	// Another client address is served meanwhile.
	other := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	resp, err := other.Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz from 127.0.0.2: got %d, want 200", resp.StatusCode)
	}

	// Once one of the four closes, the server gives its place back when it
	// sees the close: a new connection from 127.0.0.1 is served again.
	kept[0].Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c := dial("127.0.0.1")
		status, _, err := healthOn(c, bufio.NewReader(c))
		c.Close()
		if err == nil && status == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after a close, a new connection from 127.0.0.1 was not served: last got %d, %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The metrics count what was turned away.
	resp, err = s.http.Get(s.scrape)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rejected float64
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, `coffer_connections_rejected_total{reason="per_address"} `) {
			fmt.Sscan(strings.Fields(line)[1], &rejected)
		}
	}
	if rejected < 1 {
		t.Errorf("coffer_connections_rejected_total{reason=\"per_address\"}: got %v, want at least 1", rejected)
	}
	if !strings.Contains(string(body), "coffer_connections_open ") {
		t.Errorf("metrics lack coffer_connections_open")
	}
}

// TestServe_ConnectionCapsTLS: the caps sit below TLS and are shared by the
// plain and HTTPS listeners; a connection over them is closed before its
// handshake.
func TestServe_ConnectionCapsTLS(t *testing.T) {
	needBinaries(t)
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2 as a local address (Linux)")
	}
	f := newTLSFixture(t, "--max-conns-per-ip", "2")
	pemData, err := os.ReadFile(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}

	// One TLS and one plain connection from 127.0.0.1 fill its two places.
	held := dialTLS(t, f.https, cfg)
	if st := held.get(t, "/healthz"); st != http.StatusOK {
		t.Fatalf("first TLS connection: got %d, want 200", st)
	}
	u, _ := url.Parse(f.url)
	plain, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if status, _, err := healthOn(plain, bufio.NewReader(plain)); err != nil || status != http.StatusOK {
		t.Fatalf("plain connection: got %d, %v; want 200", status, err)
	}
	// The third, over TLS, is closed before the handshake ends.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", strings.TrimPrefix(f.https, "https://"), cfg)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if err == nil {
			_, err = http.ReadResponse(bufio.NewReader(c), nil)
		}
		c.Close()
	}
	if err == nil {
		t.Errorf("third connection from 127.0.0.1 over TLS was served; want it closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("third connection over TLS: got a timeout (%v); want it closed at once", err)
	}
	// 127.0.0.2 is served over TLS meanwhile.
	other, err := tls.DialWithDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second},
		"tcp", strings.TrimPrefix(f.https, "https://"), cfg)
	if err != nil {
		t.Fatalf("TLS from 127.0.0.2: %v", err)
	}
	defer other.Close()
	if status, _, err := healthOn(other, bufio.NewReader(other)); err != nil || status != http.StatusOK {
		t.Errorf("TLS from 127.0.0.2: got %d, %v; want 200", status, err)
	}
}
