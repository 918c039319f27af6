package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server accepts on a wrapped loopback listener and hands each accepted
// connection to the test.
type server struct {
	ln       net.Listener
	accepted chan net.Conn
	done     chan struct{}
}

// needLoopbackAddrs skips a test where 127.0.0.2 cannot be bound (only
// Linux routes all of 127.0.0.0/8 to the loopback interface by default).
func needLoopbackAddrs(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not a local address here: %v", err)
	}
	ln.Close()
}

func newServer(t *testing.T, l *Limiter, answer bool) *server {
	t.Helper()
	needLoopbackAddrs(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: l.Listen(raw, answer), accepted: make(chan net.Conn, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- c
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		<-s.done
		close(s.accepted)
		for c := range s.accepted {
			c.Close()
		}
	})
	return s
}

// dial connects from the loopback address from (127.0.0.1, 127.0.0.2…).
func (s *server) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept waits for the server to accept the next connection.
func (s *server) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the server accepted no connection within 10 s")
		return nil
	}
}

// refused reads from a client connection the limiter turned away and
// returns the HTTP status it was answered with (0: closed without one).
// It fails the test if the server keeps the connection open.
func refused(t *testing.T, c net.Conn) (status int, retryAfter string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: coffer\r\n\r\n") // fails once closed
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection over the cap was kept open")
		}
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the answer: got %v, want EOF", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func TestListener_PerAddress(t *testing.T) {
	l := New(Config{MaxPerAddr: 2})
	s := newServer(t, l, true)
	var first []net.Conn
	for range 2 {
		s.dial(t, "127.0.0.1")
		first = append(first, s.accept(t))
	}
	// The third from 127.0.0.1 is answered 503 and closed.
	c := s.dial(t, "127.0.0.1")
	if status, ra := refused(t, c); status != http.StatusServiceUnavailable || ra == "" {
		t.Errorf("third connection from 127.0.0.1: got status %d, Retry-After %q; want 503 with Retry-After", status, ra)
	}
	if got := l.Rejected(PerAddress); got != 1 {
		t.Errorf("got %d rejected per address, want 1", got)
	}
	// Another address has places of its own.
	s.dial(t, "127.0.0.2")
	s.accept(t)
	if got, want := l.OpenFrom(netip.MustParseAddr("127.0.0.2")), 1; got != want {
		t.Errorf("open from 127.0.0.2: got %d, want %d", got, want)
	}

	// Closing one (twice: the place comes back once) lets one more in.
	first[0].Close()
	first[0].Close()
	if got, want := l.OpenFrom(netip.MustParseAddr("127.0.0.1")), 1; got != want {
		t.Errorf("open from 127.0.0.1 after a close: got %d, want %d", got, want)
	}
	s.dial(t, "127.0.0.1")
	s.accept(t)
	c = s.dial(t, "127.0.0.1")
	if status, _ := refused(t, c); status != http.StatusServiceUnavailable {
		t.Errorf("connection over the cap after the close: got status %d, want 503", status)
	}
	if got, want := l.Open(), 3; got != want {
		t.Errorf("open: got %d, want %d", got, want)
	}
	if got := l.Rejected(Total); got != 0 {
		t.Errorf("got %d rejected over the total, want 0", got)
	}
}

func TestListener_Total(t *testing.T) {
	l := New(Config{Max: 2, MaxPerAddr: 5})
	s := newServer(t, l, false) // as under TLS: closed without an answer
	s.dial(t, "127.0.0.1")
	a := s.accept(t)
	s.dial(t, "127.0.0.2")
	s.accept(t)
	c := s.dial(t, "127.0.0.3")
	if status, _ := refused(t, c); status != 0 {
		t.Errorf("connection over the total: got status %d, want none (closed)", status)
	}
	if got := l.Rejected(Total); got != 1 {
		t.Errorf("got %d rejected over the total, want 1", got)
	}
	a.Close()
	s.dial(t, "127.0.0.3")
	s.accept(t)
	if got, want := l.Open(), 2; got != want {
		t.Errorf("open: got %d, want %d", got, want)
	}
}

func TestListener_Exempt(t *testing.T) {
	proxy := netip.MustParseAddr("127.0.0.1")
	l := New(Config{Max: 4, MaxPerAddr: 1, Exempt: func(a netip.Addr) bool { return a == proxy }})
	s := newServer(t, l, true)
	for range 3 {
		s.dial(t, "127.0.0.1")
		s.accept(t)
	}
	s.dial(t, "127.0.0.2")
	s.accept(t)
	// The total still holds for the exempt address.
	if status, _ := refused(t, s.dial(t, "127.0.0.1")); status != http.StatusServiceUnavailable {
		t.Errorf("exempt address over the total: got status %d, want 503", status)
	}
	if got := l.Rejected(Total); got != 1 {
		t.Errorf("got %d rejected over the total, want 1", got)
	}
}

func TestListener_Unlimited(t *testing.T) {
	l := New(Config{})
	s := newServer(t, l, true)
	for range 20 {
		s.dial(t, "127.0.0.1")
		s.accept(t)
	}
	if got := l.Open(); got != 20 {
		t.Errorf("open: got %d, want 20", got)
	}
}

// TestListener_Concurrent opens and closes connections from several
// addresses at once (run it with -race): the caps hold at every moment and
// every place comes back.
func TestListener_Concurrent(t *testing.T) {
	needLoopbackAddrs(t)
	const perAddr, total, addrs, clients = 3, 8, 4, 32
	l := New(Config{Max: total, MaxPerAddr: perAddr})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Listen(raw, true)
	var peak atomic.Int64
	var serving sync.WaitGroup
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n := int64(l.Open()); n > peak.Load() {
				peak.Store(n)
			}
			if n := l.OpenFrom(RemoteIP(c)); n > perAddr {
				t.Errorf("%d connections open from %s, over the cap of %d", n, RemoteIP(c), perAddr)
			}
			serving.Go(func() {
				// Hold the connection until the client closes it.
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	}()
	var wg sync.WaitGroup
	for i := range clients {
		from := net.IPv4(127, 0, 0, byte(1+i%addrs))
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
			for range 20 {
				c, err := d.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.Write([]byte("x"))
				c.Close()
			}
		})
	}
	wg.Wait()
	ln.Close()
	<-acceptDone
	serving.Wait()
	if got := peak.Load(); got > total {
		t.Errorf("peak of %d connections open, over the total of %d", got, total)
	}
	if got := l.Open(); got != 0 {
		t.Errorf("open after every connection closed: got %d, want 0", got)
	}
	for i := range addrs {
		if a := netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i)}); l.OpenFrom(a) != 0 {
			t.Errorf("open from %s after every connection closed: got %d, want 0", a, l.OpenFrom(a))
		}
	}
	// The turned-away connections' answers finish too.
	deadline := time.Now().Add(10 * time.Second)
	for len(l.answering) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// addrConn is a net.Conn with nothing but a remote address.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func TestRemoteIP(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4321}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4321}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443}, "2001:db8::1"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"}, "fe80::1"},
		{&net.UnixAddr{Name: "/run/coffer.sock", Net: "unix"}, "invalid IP"},
	} {
		if got := RemoteIP(addrConn{addr: tc.addr}).String(); got != tc.want {
			t.Errorf("RemoteIP(%s): got %s, want %s", tc.addr, got, tc.want)
		}
	}
	// Mapped and plain IPv4 share one count.
	l := New(Config{MaxPerAddr: 1})
	if _, ok := l.take(RemoteIP(addrConn{addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7")}})); !ok {
		t.Fatal("first connection refused")
	}
	if r, ok := l.take(RemoteIP(addrConn{addr: &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7")}})); ok || r != PerAddress {
		t.Errorf("IPv4-mapped second connection: got %q, %v; want per_address, refused", r, ok)
	}
}

// TestListener_GoClient: an http.Client over the cap reads the 503 as the
// answer to its request, not as a broken connection.
func TestListener_GoClient(t *testing.T) {
	l := New(Config{MaxPerAddr: 1})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(l.Listen(raw, true))
	defer srv.Close()
	url := "http://" + raw.Addr().String() + "/"

	holder := &http.Client{Transport: &http.Transport{}}
	defer holder.CloseIdleConnections()
	resp, err := holder.Get(url) // its connection stays open, idle
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i := range 20 {
		tr := &http.Transport{}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("request %d over the cap: %v; want a 503 answer", i, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("request %d over the cap: got %d, Retry-After %q; want 503 with Retry-After", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
