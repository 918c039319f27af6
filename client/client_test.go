package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// problem writes a problem+json answer the way the server does.
func problem(w http.ResponseWriter, status int, code, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type": "https://coffer.example/problems/" + code, "title": title,
		"status": status, "detail": detail, "code": code,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// newTestClient starts srv's handler and returns a client for it that
// retries without real waits.
func newTestClient(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]Option{WithRetry(6, time.Millisecond, 4*time.Millisecond)}, opts...)
	return New(srv.URL, opts...)
}

func TestError_Decode(t *testing.T) {
	t.Run("Problem", func(t *testing.T) {
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem(w, http.StatusConflict, "insufficient_funds", "Insufficient funds", "the purse holds less than 12.50")
		}))
		_, err := c.Purses(context.Background())
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want *Error", err, err)
		}
		if e.Status != 409 || e.Code != "insufficient_funds" || e.Title != "Insufficient funds" || e.Detail != "the purse holds less than 12.50" {
			t.Errorf("got %+v", e)
		}
		if got, want := e.Error(), "the purse holds less than 12.50"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		if !IsCode(err, "insufficient_funds") || IsCode(err, "forbidden") {
			t.Errorf("IsCode wrong for %v", err)
		}
		if got := ErrorCode(err); got != "insufficient_funds" {
			t.Errorf("ErrorCode = %q, want insufficient_funds", got)
		}
	})
	t.Run("NotAProblem", func(t *testing.T) {
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>bad gateway</body></html>")
		}))
		_, err := c.Currencies(context.Background())
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want *Error", err, err)
		}
		if e.Status != 502 || e.Code != "" || e.Detail != "" {
			t.Errorf("got %+v, want status 502 without code or detail", e)
		}
		if got, want := e.Error(), "the server answered 502 Bad Gateway"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})
	t.Run("Sentences", func(t *testing.T) {
		for _, tt := range []struct {
			e    Error
			want string
		}{
			{Error{Status: 422, Title: "Unprocessable Entity", Detail: "Purse Z1 holds less than the amount."}, "Purse Z1 holds less than the amount."},
			{Error{Status: 403, Title: "Forbidden"}, "Forbidden"},
			{Error{Status: 400, Detail: "amount must be positive"}, "amount must be positive"},
			{Error{Status: 599}, "the server answered 599"},
		} {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("%+v: got %q, want %q", tt.e, got, tt.want)
			}
		}
	})
}

func TestIsCode(t *testing.T) {
	if IsCode(nil, "internal") {
		t.Error("IsCode(nil) = true")
	}
	if IsCode(errors.New("x"), "internal") {
		t.Error("IsCode(plain error) = true")
	}
	wrapped := &SendError{TransferID: "a", Err: &Error{Status: 409, Code: "idempotency_conflict"}}
	if !IsCode(wrapped, "idempotency_conflict") {
		t.Error("IsCode does not see through SendError")
	}
}

func TestClient_Headers(t *testing.T) {
	var got *http.Request
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		writeJSON(w, 200, map[string]any{"member_id": "123456789012"})
	}), WithToken("tok"), WithUserAgent("coffer-test/1"))
	if _, err := c.Owner(context.Background(), "Z1/../x"); err != nil {
		t.Fatal(err)
	}
	if h := got.Header.Get("Authorization"); h != "Bearer tok" {
		t.Errorf("Authorization = %q, want Bearer tok", h)
	}
	if h := got.Header.Get("User-Agent"); h != "coffer-test/1" {
		t.Errorf("User-Agent = %q, want coffer-test/1", h)
	}
	if p := got.URL.EscapedPath(); p != "/v1/purses/Z1%2F..%2Fx/owner" {
		t.Errorf("path = %q, want the purse escaped as one segment", p)
	}

	c.SetToken("")
	if _, err := c.Owner(context.Background(), "Z1"); err != nil {
		t.Fatal(err)
	}
	if h := got.Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q after SetToken(\"\"), want none", h)
	}
	if _, err := c.Owner(context.Background(), ""); err == nil {
		t.Error("Owner(\"\") succeeded, want an error before any request")
	}
}

func TestClient_Login(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/sessions" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if body["password"] != "secret" {
			problem(w, 401, "unauthorized", "Unauthorized", "wrong login or password")
			return
		}
		writeJSON(w, 201, map[string]any{"token": "t1", "member_id": "123456789012", "expires_at": "2030-01-02T03:04:05Z"})
	}))
	a, err := c.Login(context.Background(), "a@example.com", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if a.Token != "t1" || a.MemberID != "123456789012" || !a.ExpiresAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) || a.Pending() {
		t.Errorf("got %+v", a)
	}
	_, err = c.Login(context.Background(), "a@example.com", "wrong")
	if !IsCode(err, "unauthorized") {
		t.Errorf("got %v, want unauthorized", err)
	}
}

func TestClient_HistoryAll(t *testing.T) {
	pages := map[string]map[string]any{
		"":   {"entries": []map[string]any{{"transfer_id": "a", "amount": "-1.00", "balance_after": "9.00", "created_at": "2030-01-01T00:00:00Z"}}, "next_cursor": "c1"},
		"c1": {"entries": []map[string]any{{"transfer_id": "b", "amount": "10.00", "balance_after": "10.00", "created_at": "2030-01-01T00:00:00Z"}}, "next_cursor": ""},
	}
	var queries []string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		writeJSON(w, 200, pages[r.URL.Query().Get("cursor")])
	}))
	since := time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC)
	var ids []string
	for e, err := range c.HistoryAll(context.Background(), "Z1", HistoryOptions{Limit: 1, Since: since}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.TransferID)
	}
	if strings.Join(ids, ",") != "a,b" {
		t.Errorf("got entries %v, want [a b]", ids)
	}
	if len(queries) != 2 || queries[0] != "limit=1&since=2029-12-31T00%3A00%3A00Z" || !strings.Contains(queries[1], "cursor=c1") {
		t.Errorf("got queries %q", queries)
	}
}

func TestClient_ResponseTooLarge(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"currencies":[],"pad":"`+strings.Repeat("x", MaxResponseSize)+`"}`)
	}))
	if _, err := c.Currencies(context.Background()); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("got %v, want a size error", err)
	}
}

func TestParseServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":       "http://127.0.0.1:8080",
		"https://coffer.example/":     "https://coffer.example",
		"https://coffer.example/v1/":  "https://coffer.example",
		"https://x.example/coffer/v1": "https://x.example/coffer",
		" http://localhost:8080?q=1 ": "http://localhost:8080",
	} {
		u, err := ParseServerURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseServerURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, in := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := ParseServerURL(in); err == nil {
			t.Errorf("ParseServerURL(%q) succeeded, want an error", in)
		}
	}
}

// transferRecorder is a fake POST /v1/transfers that answers with the
// scripted statuses in order, then 201, and records every body.
type transferRecorder struct {
	mu     sync.Mutex
	script []int
	bodies []TransferRequest
}

func (f *transferRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		problem(w, 400, "invalid_request", "Invalid request", err.Error())
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, req)
	n := len(f.bodies)
	f.mu.Unlock()
	if n <= len(f.script) {
		switch s := f.script[n-1]; s {
		case -1: // cut the connection without an answer
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case 409:
			problem(w, 409, "idempotency_conflict", "Idempotency conflict", "transfer ID already used with another body")
		case 429:
			w.Header().Set("Retry-After", "0")
			problem(w, 429, "rate_limited", "Rate limited", "slow down")
		default:
			problem(w, s, "internal", "Internal error", "An internal error occurred.")
		}
		return
	}
	writeJSON(w, 201, map[string]any{
		"transfer_id": req.TransferID, "from": req.From, "to": req.To, "amount": req.Amount,
		"currency": "USD", "description": req.Description, "status": "applied", "created_at": "2030-01-01T00:00:00Z",
	})
}

func TestClient_Send(t *testing.T) {
	req := TransferRequest{From: "Z111111111111", To: "Z222222222222", Amount: "12.50", Description: "rent"}

	t.Run("RetriesSameBody", func(t *testing.T) {
		f := &transferRecorder{script: []int{503, -1, 500, 429}}
		c := newTestClient(t, f)
		tr, err := c.Send(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.bodies) != 5 {
			t.Fatalf("got %d requests, want 5", len(f.bodies))
		}
		first := f.bodies[0]
		if len(first.TransferID) != 26 || !ValidTransferID(first.TransferID) {
			t.Errorf("generated transfer ID %q, want 26 valid characters", first.TransferID)
		}
		for i, b := range f.bodies {
			if b != first {
				t.Errorf("request %d body %+v, want %+v", i, b, first)
			}
		}
		if tr.TransferID != first.TransferID || tr.Status != StatusApplied || tr.Amount != "12.50" {
			t.Errorf("got %+v", tr)
		}
	})

	t.Run("KeepsGivenID", func(t *testing.T) {
		f := &transferRecorder{script: []int{503}}
		c := newTestClient(t, f)
		r := req
		r.TransferID = "invoice-42:a.b_c"
		if _, err := c.Send(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		for _, b := range f.bodies {
			if b.TransferID != r.TransferID {
				t.Errorf("sent transfer ID %q, want %q", b.TransferID, r.TransferID)
			}
		}
	})

	t.Run("NoRetryOn4xx", func(t *testing.T) {
		f := &transferRecorder{script: []int{409}}
		c := newTestClient(t, f)
		_, err := c.Send(context.Background(), req)
		if !IsCode(err, "idempotency_conflict") {
			t.Fatalf("got %v, want idempotency_conflict", err)
		}
		var se *SendError
		if !errors.As(err, &se) || se.Attempts != 1 || se.TransferID != f.bodies[0].TransferID {
			t.Errorf("got %#v, want a SendError after 1 attempt with the sent ID", err)
		}
		if len(f.bodies) != 1 {
			t.Errorf("got %d requests, want 1", len(f.bodies))
		}
	})

	t.Run("BoundedAttempts", func(t *testing.T) {
		f := &transferRecorder{script: []int{503, 503, 503, 503, 503, 503, 503, 503}}
		c := newTestClient(t, f, WithRetry(3, time.Millisecond, time.Millisecond))
		_, err := c.Send(context.Background(), req)
		var se *SendError
		if !errors.As(err, &se) || se.Attempts != 3 || !IsCode(err, "internal") {
			t.Fatalf("got %v, want a SendError after 3 attempts", err)
		}
		if len(f.bodies) != 3 {
			t.Errorf("got %d requests, want 3", len(f.bodies))
		}
	})

	t.Run("ContextCancelledDuringBackoff", func(t *testing.T) {
		f := &transferRecorder{script: []int{503, 503, 503}}
		c := newTestClient(t, f, WithRetry(6, time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		c.sleep = func(ctx context.Context, d time.Duration) error {
			cancel() // the user gives up while we wait
			return sleepContext(ctx, d)
		}
		_, err := c.Send(ctx, req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if !IsCode(err, "internal") {
			t.Errorf("got %v, want the last answer kept in the error", err)
		}
		if len(f.bodies) != 1 {
			t.Errorf("got %d requests, want 1", len(f.bodies))
		}
	})

	t.Run("ContextCancelledBefore", func(t *testing.T) {
		f := &transferRecorder{}
		c := newTestClient(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Send(ctx, req); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if len(f.bodies) != 0 {
			t.Errorf("got %d requests, want none", len(f.bodies))
		}
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c := New(url, WithRetry(3, time.Millisecond, time.Millisecond))
		_, err := c.Send(context.Background(), req)
		var se *SendError
		if !errors.As(err, &se) || se.Attempts != 3 {
			t.Fatalf("got %v, want 3 attempts against a closed port", err)
		}
	})

	t.Run("InvalidID", func(t *testing.T) {
		f := &transferRecorder{}
		c := newTestClient(t, f)
		r := req
		r.TransferID = "no spaces"
		if _, err := c.Send(context.Background(), r); !errors.Is(err, ErrInvalidTransferID) {
			t.Fatalf("got %v, want ErrInvalidTransferID", err)
		}
		if len(f.bodies) != 0 {
			t.Errorf("got %d requests, want none", len(f.bodies))
		}
	})

	t.Run("Backoff", func(t *testing.T) {
		c := New("http://x", WithRetry(6, 100*time.Millisecond, 400*time.Millisecond))
		for attempt, hi := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 4: 400, 9: 400} {
			hi *= time.Millisecond
			if d := c.backoff(attempt, errors.New("x")); d < hi/2 || d > hi {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", attempt, d, hi/2, hi)
			}
		}
		if d := c.backoff(1, &Error{Status: 429, RetryAfter: 3 * time.Second}); d != 3*time.Second {
			t.Errorf("backoff with Retry-After 3s = %v, want 3s", d)
		}
	})
}

func TestValidTransferID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "A-b_c.d:e9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a b": false, "a/b": false, "é": false,
	} {
		if got := ValidTransferID(id); got != want {
			t.Errorf("ValidTransferID(%q) = %v, want %v", id, got, want)
		}
	}
	if a, b := NewTransferID(), NewTransferID(); a == b || !ValidTransferID(a) {
		t.Errorf("NewTransferID gave %q and %q", a, b)
	}
}

func TestClient_TransferPendingConfirmation(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/transfers":
			writeJSON(w, 202, map[string]any{"status": "pending_confirmation", "confirmation_id": "c1", "method": "totp"})
		case "/v1/transfers/t-1/confirm":
			var body struct{ Code string }
			json.NewDecoder(r.Body).Decode(&body)
			if body.Code != "123456" {
				problem(w, 401, "unauthorized", "Unauthorized", "The code is wrong.")
				return
			}
			writeJSON(w, 201, map[string]any{"transfer_id": "t-1", "status": "applied", "amount": "1.00"})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	}))
	tr, err := c.Send(context.Background(), TransferRequest{TransferID: "t-1", From: "Z1", To: "Z2", Amount: "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != StatusPendingConfirmation || tr.TransferID != "t-1" || tr.Method != "totp" {
		t.Errorf("got %+v, want pending t-1 by totp", tr)
	}
	if _, err := c.ConfirmTransfer(context.Background(), "t-1", "000000"); !IsCode(err, "unauthorized") {
		t.Errorf("wrong code: got %v, want unauthorized", err)
	}
	tr, err = c.ConfirmTransfer(context.Background(), "t-1", "123456")
	if err != nil || tr.Status != StatusApplied {
		t.Errorf("got %+v, %v; want applied", tr, err)
	}
}
