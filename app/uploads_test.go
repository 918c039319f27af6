package app_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/sqlite"
)

// TestService_UploadDocumentPerAddress checks that the documents waiting
// from one client address are bounded whatever member uploads them, and
// that another address has a quota of its own.
func TestService_UploadDocumentPerAddress(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := app.New(db, nil, slog.New(slog.DiscardHandler), app.Config{DocumentKey: make([]byte, 32),
		Uploads: app.UploadConfig{Dir: t.TempDir(), PerAddress: 2}})
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR and some more bytes")
	for i, tc := range []struct {
		member, ip, code string
	}{
		{"100000000001", "192.0.2.1", ""},
		{"100000000002", "192.0.2.1", ""},
		{"100000000003", "192.0.2.1", coffer.ERATELIMITED},
		{"100000000003", "198.51.100.7", ""},
		{"100000000001", "2001:db8::1", ""},
	} {
		_, err := s.UploadDocument(ctx, tc.member, tc.ip, png)
		if got := coffer.ErrorCode(err); got != tc.code {
			t.Errorf("upload %d (%s from %s): got %q (%v), want %q", i, tc.member, tc.ip, got, err, tc.code)
		}
	}
	// Without an upload directory, uploads are refused.
	off := app.New(db, nil, slog.New(slog.DiscardHandler), app.Config{DocumentKey: make([]byte, 32)})
	if _, err := off.UploadDocument(ctx, "100000000001", "192.0.2.1", png); coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Errorf("without an upload directory: got %v, want %q", err, coffer.EUNAVAILABLE)
	}
}
