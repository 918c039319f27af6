// Package connlimit caps the connections a server holds open, in total and
// per client address. It wraps the raw TCP listeners, below any TLS layer,
// so a connection over the cap costs neither a handshake nor a goroutine
// of the HTTP server: it is turned away as it is accepted.
package connlimit

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reason says which cap turned a connection away.
type Reason string

const (
	// Total is the cap on every connection open at once (Config.Max).
	Total Reason = "total"
	// PerAddress is the cap on one client address's (Config.MaxPerAddr).
	PerAddress Reason = "per_address"
)

// Config are a Limiter's caps.
type Config struct {
	// Max is the most connections open at once, over every listener the
	// Limiter wraps; 0: no cap.
	Max int
	// MaxPerAddr is the most connections open at once from one client IP
	// address (IPv4, or IPv6 with the zone left out; an IPv4-mapped IPv6
	// address counts as its IPv4 address); 0: no cap.
	MaxPerAddr int
	// Exempt, when not nil, names the addresses that MaxPerAddr does not
	// apply to (the operator's reverse proxies, which carry many clients'
	// connections). Their connections still count toward Max.
	Exempt func(netip.Addr) bool
}

// Limiter counts the open connections of the listeners it wraps and turns
// away those beyond its caps. Its methods are safe for concurrent use.
type Limiter struct {
	cfg    Config
	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int
	// rejected counts connections turned away, by reason.
	rejectedTotal, rejectedAddr atomic.Int64
	// answering bounds the connections being answered 503 at once (see
	// answer): each holds a file descriptor for up to a second or so.
	answering chan struct{}
}

// maxAnswering is how many turned-away connections are answered at once;
// beyond them, one is closed without an answer.
const maxAnswering = 64

// New returns a Limiter with cfg's caps (negative ones count as 0).
func New(cfg Config) *Limiter {
	cfg.Max, cfg.MaxPerAddr = max(cfg.Max, 0), max(cfg.MaxPerAddr, 0)
	return &Limiter{cfg: cfg, byAddr: map[netip.Addr]int{}, answering: make(chan struct{}, maxAnswering)}
}

// Open is the number of connections open now, over every listener.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// OpenFrom is the number of connections open now from addr.
func (l *Limiter) OpenFrom(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byAddr[addr.WithZone("").Unmap()]
}

// Rejected is the number of connections turned away so far for reason.
func (l *Limiter) Rejected(reason Reason) int64 {
	switch reason {
	case Total:
		return l.rejectedTotal.Load()
	case PerAddress:
		return l.rejectedAddr.Load()
	}
	return 0
}

// Listen wraps ln. Connections beyond the caps are closed as they are
// accepted; with answerHTTP (a plain-text HTTP listener) the request head
// on each is first answered with a minimal HTTP/1.1 503 that carries
// Retry-After, so a client can tell a full server from a broken one. A TLS listener must be
// wrapped around the returned one, never under it, and be given
// answerHTTP false: plain text cannot be written before a handshake.
func (l *Limiter) Listen(ln net.Listener, answerHTTP bool) net.Listener {
	return &listener{Listener: ln, l: l, answer: answerHTTP}
}

// take counts a new connection from addr, or reports the cap it would
// exceed.
func (l *Limiter) take(addr netip.Addr) (Reason, bool) {
	perAddr := l.cfg.MaxPerAddr > 0 && addr.IsValid() && (l.cfg.Exempt == nil || !l.cfg.Exempt(addr))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Max > 0 && l.open >= l.cfg.Max {
		l.rejectedTotal.Add(1)
		return Total, false
	}
	if perAddr && l.byAddr[addr] >= l.cfg.MaxPerAddr {
		l.rejectedAddr.Add(1)
		return PerAddress, false
	}
	l.open++
	if addr.IsValid() {
		l.byAddr[addr]++
	}
	return "", true
}

// release forgets a connection that take counted.
func (l *Limiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !addr.IsValid() {
		return
	}
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// RemoteIP is the client address a connection counts under: its peer's
// IP address without port or zone, an IPv4-mapped IPv6 address as IPv4.
// It is the zero Addr for a peer that is not an IP address (a Unix
// socket), which only the total cap applies to.
func RemoteIP(c net.Conn) netip.Addr {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return netip.Addr{}
		}
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().WithZone("").Unmap()
	}
}

type listener struct {
	net.Listener
	l      *Limiter
	answer bool
}

// Accept returns the next connection within the caps; those beyond them
// are turned away here, without returning an error (which would make an
// http.Server pause before accepting again).
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := RemoteIP(c)
		if _, ok := ln.l.take(addr); ok {
			return &conn{Conn: c, l: ln.l, addr: addr}, nil
		}
		ln.l.turnAway(c, ln.answer)
	}
}

// busyBody and busyAnswer are what a plain HTTP connection over the caps
// is told.
const busyBody = "Too many connections; retry in a moment.\n"

var busyAnswer = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 2\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(busyBody)) + "\r\n" +
	"\r\n" + busyBody)

// turnAway closes c, first answering it 503 when answer is set and fewer
// than maxAnswering others are being answered.
func (l *Limiter) turnAway(c net.Conn, answer bool) {
	if !answer {
		c.Close()
		return
	}
	select {
	case l.answering <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.answering }()
		defer c.Close()
		// The answer follows the request's head, as any answer does (a
		// client that finds bytes on a connection before it has sent
		// anything takes them for garbage, not for an answer). The rest is
		// read and dropped until the client closes, so that closing with
		// unread data does not reset the connection and destroy the
		// answer before the client reads it. A client that sends nothing
		// is closed after a second.
		c.SetDeadline(time.Now().Add(time.Second))
		var buf [4096]byte
		var head []byte
		for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < 16<<10 {
			n, err := c.Read(buf[:])
			head = append(head, buf[:n]...)
			if err != nil {
				return
			}
		}
		if _, err := c.Write(busyAnswer); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		c.SetDeadline(time.Now().Add(time.Second))
		for {
			if _, err := c.Read(buf[:]); err != nil {
				return
			}
		}
	}()
}

// conn is a counted connection; closing it gives its place back, once.
type conn struct {
	net.Conn
	l    *Limiter
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// CloseWrite lets an http.Server half-close the connection before it
// closes it (as it does for a plain *net.TCPConn).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
