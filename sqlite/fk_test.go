package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

// TestStore_ForeignKeyMessages: a row that names a missing one is not
// found, and only the identity writes, whose rows name members, say that
// the member is missing.
func TestStore_ForeignKeyMessages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().UTC()
	m := &coffer.Member{ID: coffer.NewMemberID(), PasswordHash: "$argon2id$x", CreatedAt: now}
	if err := s.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, code, notMsg string) {
		t.Helper()
		e, ok := err.(*coffer.Error)
		if !ok || e.Code != code {
			t.Fatalf("%s: %v, want code %s", what, err, code)
		}
		if notMsg != "" && e.Message == notMsg {
			t.Errorf("%s: %q names the wrong row", what, e.Message)
		}
	}
	err := s.CreatePurse(ctx, &coffer.Purse{Number: "Z123456789012", Currency: "ZZZ", Owner: m.ID, CreatedAt: now})
	check("CreatePurse in an unknown currency", err, coffer.ENOTFOUND, "No such member.")
	_, err = s.NoteCertificateIP(ctx, "cert-none", "192.0.2.1", now, nil)
	check("NoteCertificateIP of an unknown certificate", err, coffer.ENOTFOUND, "No such member.")
	err = s.AddContact(ctx, &coffer.Contact{MemberID: m.ID, ContactID: "999999999999", CreatedAt: now})
	check("AddContact of an unknown member", err, coffer.ENOTFOUND, "")
	if e := err.(*coffer.Error); e.Message != "No such member." {
		t.Errorf("AddContact of an unknown member: %q, want %q", e.Message, "No such member.")
	}
}
