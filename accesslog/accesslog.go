// Package accesslog gives every HTTP request an ID and logs one line per
// request. It wraps the API and the web pages alike; their handlers tell it
// the route a request matched and the member it was made as.
package accesslog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coffer-money/coffer/forwarded"
)

// Config configures Wrap.
type Config struct {
	// Off writes no access log; requests still get their Request-Id.
	Off bool
	// Sample logs one in Sample successful (below 400) requests; 0 or 1
	// logs every one. Refusals and errors are always logged.
	Sample int
	// TrustedProxies are the proxies whose X-Request-Id (or Request-Id)
	// is kept as the request's ID and whose X-Forwarded-For names the
	// client; nil believes no one's.
	TrustedProxies *forwarded.Trusted
}

// RequestIDHeader names the answer header that carries a request's ID; a
// trusted proxy may send it (or X-Request-Id) to pass its own ID on.
const RequestIDHeader = "Request-Id"

// maxRequestID bounds a request ID taken from a proxy.
const maxRequestID = 64

// requestInfo is what the layers under Wrap tell it of a request.
// Only the request's own goroutine writes it, before the handler returns.
type requestInfo struct {
	id     string
	route  string
	member string
}

type requestInfoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// RequestID is the ID Wrap gave the request of ctx ("" outside it).
func RequestID(ctx context.Context) string {
	if ri := infoOf(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// SetRoute records the route pattern a request matched (a ServeMux
// pattern such as "GET /v1/purses/{purse}", never the path itself, so that
// no ID reaches the log's route field), for the access log.
func SetRoute(ctx context.Context, pattern string) {
	if ri := infoOf(ctx); ri != nil {
		ri.route = pattern
	}
}

// SetMember records the member a request was authenticated as, for the
// access log.
func SetMember(ctx context.Context, memberID string) {
	if ri := infoOf(ctx); ri != nil {
		ri.member = memberID
	}
}

// Wrap gives every request an ID, answered in the Request-Id
// header and found by RequestID (problem documents and error logs carry
// it), and logs one line per request on log: method, route pattern,
// status, duration, bytes written, member, request ID and the client's
// address (behind a trusted proxy, the one it names). Server errors (5xx)
// are logged at error level, refusals (4xx) at debug, the rest at info.
func Wrap(h http.Handler, log *slog.Logger, cfg Config) http.Handler {
	var seen atomic.Uint64
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = cfg.TrustedProxies.Request(r)
		ri := &requestInfo{id: incomingID(r)}
		if ri.id == "" {
			ri.id = newRequestID()
		}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		rw.Header().Set(RequestIDHeader, ri.id)
		w := &countingWriter{ResponseWriter: rw}
		finished := false
		defer func() {
			if cfg.Off {
				return
			}
			status := w.status
			if status == 0 && finished {
				status = http.StatusOK // an empty answer
			}
			level := slog.LevelInfo
			switch {
			case !finished:
				// The handler panicked (the panic goes on up): the
				// connection is cut off, whatever was written.
				level = slog.LevelError
			case status >= 500:
				level = slog.LevelError
			case status >= 400:
				level = slog.LevelDebug
			case cfg.Sample > 1 && (seen.Add(1)-1)%uint64(cfg.Sample) != 0:
				return
			}
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", status),
				slog.Duration("duration", time.Since(start)), slog.Int64("bytes", w.bytes),
				slog.String("member", ri.member), slog.String("request_id", ri.id), slog.String("client", clientIP(r)))
		}()
		h.ServeHTTP(w, r)
		finished = true
	})
}

// incomingID is the request ID a trusted proxy sent, when it is short and
// printable; "" otherwise.
func incomingID(r *http.Request) string {
	if !forwarded.FromProxy(r) {
		return ""
	}
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = r.Header.Get(RequestIDHeader)
	}
	if len(id) > maxRequestID {
		return ""
	}
	for i := 0; i < len(id); i++ {
		// Visible ASCII but the quote and backslash, which log formats escape.
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return ""
		}
	}
	return id
}

// newRequestID is 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// countingWriter records the status and the bytes of an answer.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on, for answers that stream.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// clientIP is the host of the request's peer address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
