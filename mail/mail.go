// Package mail sends coffer's e-mail: notifications and codes. It has two
// adapters, SMTP for production and an outbox file for development, and a
// bounded queue that sends in the background so no request waits for a
// mail server.
package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Message is one plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// clean keeps header values on one line, so that no text a member chose can
// add headers.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// format renders m as an RFC 5322 message.
func format(from string, m Message, at time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		clean(from), clean(m.To), clean(m.Subject), at.Format(time.RFC1123Z))
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

// SMTPConfig configures the SMTP adapter.
type SMTPConfig struct {
	Addr     string // host:port
	Username string // empty: no authentication
	Password string
	From     string
	// InsecureNoTLS allows sending without STARTTLS (a relay on loopback);
	// otherwise a server without STARTTLS is refused.
	InsecureNoTLS bool
	Timeout       time.Duration
}

// SMTP sends through an SMTP server with STARTTLS and, when configured,
// PLAIN authentication (which net/smtp permits only over TLS or loopback).
type SMTP struct{ cfg SMTPConfig }

// NewSMTP returns the SMTP adapter.
func NewSMTP(cfg SMTPConfig) *SMTP {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	host, _, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail: smtp address: %w", err)
	}
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail: dial: %w", err)
	}
	conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: smtp hello: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("mail: starttls: %w", err)
		}
	} else if !s.cfg.InsecureNoTLS {
		return errors.New("mail: the SMTP server does not offer STARTTLS")
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(clean(m.To)); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(format(s.cfg.From, m, time.Now())); err != nil {
		return fmt.Errorf("mail: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	return c.Quit()
}

// separator starts each message in an outbox file.
const separator = "\n=== coffer mail ===\n"

// Outbox appends each message to a file, for development and tests.
type Outbox struct {
	Path string
	From string
	mu   sync.Mutex
}

// OutboxPath is the outbox file in a data directory.
func OutboxPath(dataDir string) string { return filepath.Join(dataDir, "outbox", "mail.log") }

// Send implements Sender.
func (o *Outbox) Send(_ context.Context, m Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return fmt.Errorf("mail: outbox dir: %w", err)
	}
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	msg := strings.ReplaceAll(string(format(o.From, m, time.Now())), "\r\n", "\n")
	if _, err := f.WriteString(separator + msg); err != nil {
		f.Close()
		return fmt.Errorf("mail: outbox write: %w", err)
	}
	return f.Close()
}

// ReadOutbox returns the messages in an outbox file, oldest first, each as
// its header and body text.
func ReadOutbox(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mail: read outbox: %w", err)
	}
	var out []string
	for _, part := range strings.Split(string(b), separator) {
		if strings.TrimSpace(part) != "" {
			out = append(out, part)
		}
	}
	return out, nil
}

// Header returns a header field of a message read by ReadOutbox.
func Header(msg, name string) string {
	sc := bufio.NewScanner(strings.NewReader(msg))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Queue sends messages in the background through a bounded queue; when the
// queue is full a message is dropped and logged, so a slow mail server never
// holds up a request or the ledger.
type Queue struct {
	s       Sender
	log     *slog.Logger
	observe func(outcome string)
	ch      chan Message
	done    chan struct{}
	once    sync.Once
}

// What a queue's observer is told of each message (see NewQueueObserved).
const (
	Sent    = "sent"    // the sender took it
	Failed  = "failed"  // the sender refused it or could not be reached
	Dropped = "dropped" // the queue was full or closed
)

// NewQueue starts a queue of size messages over s.
func NewQueue(s Sender, log *slog.Logger, size int) *Queue {
	return NewQueueObserved(s, log, size, nil)
}

// NewQueueObserved is NewQueue whose observe, when not nil, is told of
// each message's outcome: Sent, Failed or Dropped.
func NewQueueObserved(s Sender, log *slog.Logger, size int, observe func(outcome string)) *Queue {
	if observe == nil {
		observe = func(string) {}
	}
	q := &Queue{s: s, log: log, observe: observe, ch: make(chan Message, size), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *Queue) run() {
	defer close(q.done)
	for m := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := q.s.Send(ctx, m); err != nil {
			q.log.Warn("mail not sent", "subject", m.Subject, "err", err)
			q.observe(Failed)
		} else {
			q.observe(Sent)
		}
		cancel()
	}
}

// Len is how many messages wait in the queue.
func (q *Queue) Len() int { return len(q.ch) }

// Enqueue queues m; it reports false when the queue was full or closed and m
// was dropped.
func (q *Queue) Enqueue(m Message) (ok bool) {
	defer func() {
		if recover() != nil { // closed
			ok = false
		}
		if !ok {
			q.observe(Dropped)
		}
	}()
	select {
	case q.ch <- m:
		return true
	default:
		q.log.Warn("mail queue full; message dropped", "subject", m.Subject)
		return false
	}
}

// Close sends what is queued and stops.
func (q *Queue) Close() {
	q.once.Do(func() { close(q.ch) })
	<-q.done
}
