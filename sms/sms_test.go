package sms

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

func TestOutbox_Send(t *testing.T) {
	path := filepath.Join(t.TempDir(), OutboxFile)
	if _, err := Last(path, ""); err != ErrEmpty {
		t.Fatalf("empty outbox: got %v, want ErrEmpty", err)
	}
	o := &Outbox{Path: path}
	o.Send(context.Background(), "+15550001", "one")
	o.Send(context.Background(), "+15550002", "two")
	if m, err := Last(path, ""); err != nil || m.Text != "two" {
		t.Fatalf("got %+v, %v; want two", m, err)
	}
	if m, err := Last(path, "+15550001"); err != nil || m.Text != "one" {
		t.Fatalf("got %+v, %v; want one", m, err)
	}
}

func TestHTTP_Send(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		got = u + ":" + p + " " + r.FormValue("to") + " " + r.FormValue("text")
		if r.FormValue("to") == "+1bad" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	h := &HTTP{URL: srv.URL, User: "u", Password: "p"}
	if err := h.Send(context.Background(), "+15550001", "hi there"); err != nil {
		t.Fatal(err)
	}
	if want := "u:p +15550001 hi there"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := h.Send(context.Background(), "+1bad", "x"); err == nil {
		t.Fatal("a 502 answer counted as sent")
	}
}
