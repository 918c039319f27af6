package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestApp_Show(t *testing.T) {
	v := map[string]int{"n": 1}
	const asJSON = "{\n  \"n\": 1\n}\n"
	for _, tt := range []struct {
		name string
		json bool
		call func(a *app) error
		want string
	}{
		{"show text", false, func(a *app) error {
			return a.show(v, func() error { fmt.Fprintln(a.stdout, "one"); return nil })
		}, "one\n"},
		{"show json", true, func(a *app) error {
			return a.show(v, func() error { t.Error("text written with --json"); return nil })
		}, asJSON},
		{"showf text", false, func(a *app) error { return a.showf(v, "n is %d.\n", 1) }, "n is 1.\n"},
		{"showf json", true, func(a *app) error { return a.showf(v, "n is %d.\n", 1) }, asJSON},
		{"tabulate", false, func(a *app) error {
			return a.show(v, func() error {
				return a.tabulate(func(tw io.Writer) { fmt.Fprintln(tw, "A\tBB\nCCC\tD") })
			})
		}, "A    BB\nCCC  D\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			a := newApp(context.Background(), nil, &out, io.Discard, nil)
			a.json = tt.json
			if err := tt.call(a); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("text error", func(t *testing.T) {
		a := newApp(context.Background(), nil, io.Discard, io.Discard, nil)
		boom := errors.New("boom")
		if err := a.show(v, func() error { return boom }); err != boom {
			t.Errorf("got %v, want %v", err, boom)
		}
	})
}
