package mail_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-money/coffer/mail"
)

func TestOutbox_Send(t *testing.T) {
	path := mail.OutboxPath(t.TempDir())
	o := &mail.Outbox{Path: path, From: "coffer@test"}
	for _, subj := range []string{"first", "second\r\nBcc: evil@example.org"} {
		if err := o.Send(context.Background(), mail.Message{To: "a@example.org", Subject: subj, Body: "line\n.dot\n"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := mail.ReadOutbox(path)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("ReadOutbox = %d messages, %v; want 2", len(msgs), err)
	}
	if got := mail.Header(msgs[1], "Subject"); got != "second  Bcc: evil@example.org" {
		t.Fatalf("got Subject %q, want the line break removed", got)
	}
	if mail.Header(msgs[1], "Bcc") != "" {
		t.Fatal("a subject added a header")
	}
	if !strings.Contains(msgs[0], "\n..dot\n") {
		t.Fatalf("got %q, want the leading dot doubled", msgs[0])
	}
}

type blocking struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (b *blocking) Send(_ context.Context, m mail.Message) error {
	<-b.release
	b.mu.Lock()
	b.got = append(b.got, m.Subject)
	b.mu.Unlock()
	return nil
}

func TestQueue_DropsWhenFull(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	q := mail.NewQueue(b, slog.New(slog.DiscardHandler), 2)
	// One message may be taken by the sender already; at most 3 fit.
	sent := 0
	for i := 0; i < 10; i++ {
		if q.Enqueue(mail.Message{Subject: "m"}) {
			sent++
		}
	}
	if sent < 2 || sent > 3 {
		t.Fatalf("queued %d of 10, want 2 or 3", sent)
	}
	close(b.release)
	q.Close()
	if len(b.got) != sent {
		t.Fatalf("sent %d, want %d", len(b.got), sent)
	}
	if q.Enqueue(mail.Message{}) {
		t.Fatal("a closed queue took a message")
	}
}

// failing refuses every message.
type failing struct{}

func (failing) Send(context.Context, mail.Message) error { return errors.New("refused") }

func TestQueue_Observed(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	observe := func(outcome string) { mu.Lock(); got[outcome]++; mu.Unlock() }

	b := &blocking{release: make(chan struct{})}
	q := mail.NewQueueObserved(b, slog.New(slog.DiscardHandler), 2, observe)
	queued := 0
	for range 10 {
		if q.Enqueue(mail.Message{Subject: "m"}) {
			queued++
		}
	}
	close(b.release)
	q.Close()
	q.Enqueue(mail.Message{Subject: "late"})
	if want := map[string]int{mail.Sent: queued, mail.Dropped: 10 - queued + 1}; !maps.Equal(got, want) {
		t.Errorf("got outcomes %v, want %v", got, want)
	}

	clear(got)
	q = mail.NewQueueObserved(failing{}, slog.New(slog.DiscardHandler), 2, observe)
	q.Enqueue(mail.Message{Subject: "m"})
	q.Close()
	if want := map[string]int{mail.Failed: 1}; !maps.Equal(got, want) {
		t.Errorf("got outcomes %v, want %v", got, want)
	}
}

// fakeSMTP accepts one message without STARTTLS and records the dialogue.
func fakeSMTP(t *testing.T) (addr string, got chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var log strings.Builder
		w := func(s string) { c.Write([]byte(s + "\r\n")) }
		w("220 fake")
		data := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				got <- log.String()
				return
			}
			log.WriteString(line)
			if data {
				if line == ".\r\n" {
					data = false
					w("250 ok")
				}
				continue
			}
			switch cmd := strings.ToUpper(strings.Fields(line)[0]); cmd {
			case "EHLO":
				w("250-fake")
				w("250 AUTH PLAIN")
			case "AUTH":
				w("235 ok")
			case "DATA":
				data = true
				w("354 go")
			case "QUIT":
				w("221 bye")
				got <- log.String()
				return
			default:
				w("250 ok")
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestSMTP_Send(t *testing.T) {
	t.Run("RefusesWithoutTLS", func(t *testing.T) {
		addr, _ := fakeSMTP(t)
		s := mail.NewSMTP(mail.SMTPConfig{Addr: addr, From: "coffer@test"})
		if err := s.Send(context.Background(), mail.Message{To: "a@example.org", Subject: "x", Body: "y"}); err == nil {
			t.Fatal("sent over a server without STARTTLS")
		}
	})
	t.Run("InsecureLoopback", func(t *testing.T) {
		addr, got := fakeSMTP(t)
		s := mail.NewSMTP(mail.SMTPConfig{Addr: addr, From: "coffer@test", Username: "u", Password: "p", InsecureNoTLS: true})
		if err := s.Send(context.Background(), mail.Message{To: "a@example.org", Subject: "hello", Body: "code 1234"}); err != nil {
			t.Fatal(err)
		}
		d := <-got
		wantAuth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00p"))
		for _, want := range []string{wantAuth, "MAIL FROM:<coffer@test>", "RCPT TO:<a@example.org>", "Subject: hello", "code 1234"} {
			if !strings.Contains(d, want) {
				t.Errorf("dialogue lacks %q:\n%s", want, d)
			}
		}
	})
}
