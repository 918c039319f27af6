package httpapi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coffer-money/coffer/app"
)

// fakeDNS is a DNS server on a loopback UDP port that answers A and AAAA
// questions from a table (any other name: NXDOMAIN), so a test can make a
// name resolve to whatever address it likes, as an attacker's DNS would.
type fakeDNS struct {
	conn net.PacketConn
	mu   sync.Mutex
	ips  map[string][]netip.Addr // lower-case name without the final dot
}

func newFakeDNS(t *testing.T, table map[string]string) *fakeDNS {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: c, ips: map[string][]netip.Addr{}}
	for name, ip := range table {
		d.ips[name] = append(d.ips[name], netip.MustParseAddr(ip))
	}
	t.Cleanup(func() { c.Close() })
	go d.serve()
	return d
}

// Resolver returns a resolver that asks only this server.
func (d *fakeDNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out := d.answer(buf[:n]); out != nil {
			d.conn.WriteTo(out, from)
		}
	}
}

// answer builds the reply to one query: the question echoed, then one
// record per address of the asked type.
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	i++ // the root label
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]
	name := strings.ToLower(strings.Join(labels, "."))
	d.mu.Lock()
	ips, known := d.ips[name]
	d.mu.Unlock()
	var answers [][]byte
	for _, ip := range ips {
		var rdata []byte
		switch {
		case qtype == 1 && ip.Is4():
			b := ip.As4()
			rdata = b[:]
		case qtype == 28 && ip.Is6():
			b := ip.As16()
			rdata = b[:]
		default:
			continue
		}
		rr := []byte{0xc0, 12} // the name: a pointer to the question's
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1)  // class IN
		rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		answers = append(answers, append(rr, rdata...))
	}
	flags := uint16(0x8180) // response, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	out := append([]byte{}, q[:2]...) // the query's ID
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(answers)))
	out = append(out, 0, 0, 0, 0) // no authority, no additional records
	out = append(out, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out
}

// countingHandler counts the requests that reached it.
type countingHandler struct{ n atomic.Int32 }

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.n.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// deliveryErrors returns the error of every attempt of the endpoint's
// deliveries, as the member sees them, and the raw answer.
func deliveryErrors(t *testing.T, e *env, m *member, webhookID string) ([]string, string) {
	t.Helper()
	a := e.request(t, "GET", "/v1/webhooks/"+webhookID+"/deliveries", m.token, nil)
	wantStatus(t, a, http.StatusOK)
	var dl deliveriesJSON
	a.decode(t, &dl)
	var out []string
	for _, d := range dl.Deliveries {
		for _, at := range d.Attempts {
			out = append(out, at.Error)
		}
	}
	return out, string(a.Body)
}

func createHook(t *testing.T, e *env, m *member, url string) string {
	t.Helper()
	a := e.request(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": url, "events": []string{"transfer.incoming"}})
	wantStatus(t, a, http.StatusCreated)
	var h struct {
		WebhookID string `json:"webhook_id"`
	}
	a.decode(t, &h)
	return h.WebhookID
}

// TestWebhooks_DialTimeCheck: a name is checked on the address it
// resolves to when the server connects, not when the endpoint is
// registered. A name that resolves to loopback (a server listens there)
// or to a private address is registered, as names are, but no delivery
// connects to it; a name that does not resolve fails as "dns". The member
// sees only the category of each failure: no address, no name, no
// resolver text.
func TestWebhooks_DialTimeCheck(t *testing.T) {
	rc := &countingHandler{}
	recv := httptest.NewTLSServer(rc)
	defer recv.Close()
	_, port, _ := net.SplitHostPort(recv.Listener.Addr().String())
	dns := newFakeDNS(t, map[string]string{
		"rebind.test":   "127.0.0.1",
		"private.test":  "10.20.30.40",
		"metadata.test": "169.254.169.254",
		"cgnat.test":    "100.64.0.9",
		"mapped.test":   "::ffff:10.0.0.1",
		"nat64.test":    "64:ff9b::a00:1",
	})
	e, worker := newWebhookEnvWith(t, app.WebhookConfig{Resolver: dns.Resolver()})
	iss, issPurse := e.issuer(t, "USD", 1_000_000_00)
	m := e.register(t, "")
	mp := e.newPurse(t, m, "USD")

	want := map[string]string{}
	for _, name := range []string{"rebind.test", "private.test", "metadata.test", "cgnat.test", "mapped.test", "nat64.test"} {
		want[createHook(t, e, m, "https://"+name+":"+port+"/hook")] = app.DeliveryErrRefused
	}
	want[createHook(t, e, m, "https://nowhere.test:"+port+"/hook")] = app.DeliveryErrDNS

	e.send(t, iss, issPurse, mp, "1.00")
	if n, err := worker.DeliverDue(context.Background()); err != nil || n != len(want) {
		t.Fatalf("DeliverDue = %d, %v; want %d", n, err, len(want))
	}
	if n := rc.n.Load(); n != 0 {
		t.Fatalf("the server on loopback got %d requests, want none", n)
	}
	for id, category := range want {
		errs, raw := deliveryErrors(t, e, m, id)
		if len(errs) != 1 || errs[0] != category {
			t.Errorf("webhook %s: attempt errors %q, want [%q]", id, errs, category)
		}
		for _, leak := range []string{"127.0.0.1", "10.20.30.40", "169.254", "100.64", "10.0.0.1", "64:ff9b", ".test", "no such host", "dial", port} {
			if strings.Contains(raw, leak) {
				t.Errorf("webhook %s: deliveries answer %s contains %q", id, raw, leak)
			}
		}
		ds, err := e.db.Deliveries(context.Background(), id, 0, 10)
		if err != nil || len(ds) != 1 || len(ds[0].Attempts) != 1 || ds[0].Attempts[0].Error != category {
			t.Errorf("webhook %s: stored deliveries %+v, %v; want one attempt with error %q", id, ds, err, category)
		}
	}
}

// TestWebhooks_DialLoopbackAllowed: with --webhooks-allow-loopback the
// same name resolving to loopback is dialled (the fake resolver is the
// one used: the failure is the TLS handshake with the test server's
// unknown certificate, not DNS), and a closed port fails as "connect".
func TestWebhooks_DialLoopbackAllowed(t *testing.T) {
	rc := &countingHandler{}
	recv := httptest.NewTLSServer(rc)
	defer recv.Close()
	_, port, _ := net.SplitHostPort(recv.Listener.Addr().String())
	dns := newFakeDNS(t, map[string]string{"rebind.test": "127.0.0.1", "private.test": "10.20.30.40"})
	e, worker := newWebhookEnvWith(t, app.WebhookConfig{AllowLoopback: true, Resolver: dns.Resolver()})
	iss, issPurse := e.issuer(t, "USD", 1_000_000_00)
	m := e.register(t, "")
	mp := e.newPurse(t, m, "USD")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	want := map[string]string{
		createHook(t, e, m, "https://rebind.test:"+port+"/hook"):  app.DeliveryErrTLS,
		createHook(t, e, m, "https://private.test:"+port+"/hook"): app.DeliveryErrRefused,
		createHook(t, e, m, "http://127.0.0.1:"+closed+"/hook"):   app.DeliveryErrConnect,
	}
	e.send(t, iss, issPurse, mp, "1.00")
	if n, err := worker.DeliverDue(context.Background()); err != nil || n != len(want) {
		t.Fatalf("DeliverDue = %d, %v; want %d", n, err, len(want))
	}
	for id, category := range want {
		if errs, raw := deliveryErrors(t, e, m, id); len(errs) != 1 || errs[0] != category {
			t.Errorf("webhook %s: attempt errors %q, want [%q] (%s)", id, errs, category, raw)
		}
	}
}

// fakeSender is a WebhookSender that answers from a table by URL and
// records what it was asked to post.
type fakeSender struct {
	mu     sync.Mutex
	answer map[string]fakeAnswer
	posted []http.Header
}

type fakeAnswer struct {
	status   int
	category string
}

func (f *fakeSender) Post(_ context.Context, url string, h http.Header, _ []byte) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posted = append(f.posted, h)
	a := f.answer[url]
	if a.category != "" {
		return 0, a.category, errors.New("dial tcp 10.9.8.7:443: no answer")
	}
	return a.status, "", nil
}

// TestWebhooks_Sender: the worker posts through the WebhookSender it is
// given, signed, and records its answers: a 2xx as delivered, another
// status as http_status_N, no answer as the sender's category, never its
// error text.
func TestWebhooks_Sender(t *testing.T) {
	fake := &fakeSender{answer: map[string]fakeAnswer{
		"https://ok.example/hook":      {status: 204},
		"https://teapot.example/hook":  {status: 418},
		"https://silent.example/hook":  {category: app.DeliveryErrTimeout},
		"https://private.example/hook": {category: app.DeliveryErrRefused},
	}}
	e, worker := newWebhookEnvWith(t, app.WebhookConfig{Sender: fake})
	iss, issPurse := e.issuer(t, "USD", 1_000_000_00)
	m := e.register(t, "")
	mp := e.newPurse(t, m, "USD")
	want := map[string]string{}
	for url, a := range fake.answer {
		category := a.category
		if a.status == 418 {
			category = "http_status_418"
		}
		want[createHook(t, e, m, url)] = category
	}

	e.send(t, iss, issPurse, mp, "1.00")
	if n, err := worker.DeliverDue(context.Background()); err != nil || n != len(want) {
		t.Fatalf("DeliverDue = %d, %v; want %d", n, err, len(want))
	}
	for id, category := range want {
		ds, err := e.db.Deliveries(context.Background(), id, 0, 10)
		if err != nil || len(ds) != 1 || len(ds[0].Attempts) != 1 {
			t.Fatalf("webhook %s: got deliveries %+v, %v; want one with one attempt", id, ds, err)
		}
		if got := ds[0].Attempts[0].Error; got != category {
			t.Errorf("webhook %s: got attempt error %q, want %q", id, got, category)
		}
		if errs, raw := deliveryErrors(t, e, m, id); strings.Contains(raw, "10.9.8.7") || (category != "" && (len(errs) != 1 || errs[0] != category)) {
			t.Errorf("webhook %s: got deliveries answer %s, want error %q and no address", id, raw, category)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, h := range fake.posted {
		if h.Get("Coffer-Signature") == "" || h.Get("Coffer-Event-Id") == "" || h.Get("Content-Type") != "application/json" {
			t.Errorf("got headers %v, want a signed JSON event", h)
		}
	}
}
