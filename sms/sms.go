// Package sms sends text messages: through an HTTP gateway of an SMS
// provider, or into an outbox file for development.
package sms

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Gateway sends one text message to a phone number (E.164).
type Gateway interface {
	Send(ctx context.Context, to, text string) error
}

// Message is one message in the outbox.
type Message struct {
	At   time.Time `json:"at"`
	To   string    `json:"to"`
	Text string    `json:"text"`
}

// Outbox is the development gateway: it appends each message as one JSON
// line to a file (mode 0600) instead of sending it.
type Outbox struct {
	Path string
	mu   sync.Mutex
}

// OutboxFile is the outbox's file name in the data directory.
const OutboxFile = "sms-outbox.jsonl"

// Send implements Gateway.
func (o *Outbox) Send(_ context.Context, to, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, err := json.Marshal(Message{At: time.Now().UTC(), To: to, Text: text})
	if err != nil {
		return fmt.Errorf("sms outbox: %w", err)
	}
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("sms outbox: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("sms outbox: %w", err)
	}
	return f.Close()
}

// ErrEmpty is returned by Last when the outbox holds no message.
var ErrEmpty = errors.New("sms outbox: no messages")

// Last returns the newest message in the outbox file at path, or, when to
// is not "", the newest one sent to that number.
func Last(path, to string) (*Message, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrEmpty
	} else if err != nil {
		return nil, fmt.Errorf("sms outbox: %w", err)
	}
	defer f.Close()
	var last *Message
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m Message
		if json.Unmarshal(sc.Bytes(), &m) == nil && (to == "" || m.To == to) {
			last = &m
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sms outbox: %w", err)
	}
	if last == nil {
		return nil, ErrEmpty
	}
	return last, nil
}

// HTTP posts each message to a provider's URL as a form with fields "to"
// and "text", with HTTP basic credentials when User is set. Any 2xx answer
// counts as sent.
type HTTP struct {
	URL            string
	User, Password string
	Client         *http.Client // nil: a client with a 10 s timeout
}

// Send implements Gateway.
func (h *HTTP) Send(ctx context.Context, to, text string) error {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	form := url.Values{"to": {to}, "text": {text}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if h.User != "" {
		req.SetBasicAuth(h.User, h.Password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms gateway: provider answered %s", resp.Status)
	}
	return nil
}
