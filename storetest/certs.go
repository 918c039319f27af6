package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
)

func newCert(memberID string, n int, created time.Time, validity time.Duration) *coffer.Certificate {
	return &coffer.Certificate{
		ID: fmt.Sprintf("cert-%s-%d", memberID, n), MemberID: memberID,
		Serial: fmt.Sprintf("8%031x", n) + memberID[:4], Fingerprint: fmt.Sprintf("%064x", n) + memberID,
		KeyType: "ECDSA P-256", DER: []byte{0x30, byte(n)},
		CreatedAt: created, NotBefore: created.Add(-5 * time.Minute), NotAfter: created.Add(validity),
	}
}

func auditKinds(t *testing.T, s coffer.Store, memberID string) []string {
	t.Helper()
	list, err := s.AuditEvents(ctx, memberID, 0, 100)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	var kinds []string
	for _, e := range list {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func testCertificates(t *testing.T, s coffer.Store) {
	a := member(t, s, "", "")
	b := member(t, s, "", "")
	now := time.Now().UTC().Truncate(time.Millisecond)
	year := 365 * 24 * time.Hour

	t.Run("CreateAndFind", func(t *testing.T) {
		c := newCert(a.ID, 1, now, year)
		ev := coffer.NewAuditEvent(now, coffer.AuditCertificateIssued, a.ID, map[string]any{"certificate_id": c.ID})
		if err := s.CreateCertificate(ctx, c, 10, ev); err != nil {
			t.Fatalf("CreateCertificate: %v", err)
		}
		got, err := s.CertificateBySerial(ctx, c.Serial)
		if err != nil {
			t.Fatalf("CertificateBySerial: %v", err)
		}
		if got.ID != c.ID || got.MemberID != a.ID || got.Fingerprint != c.Fingerprint || got.KeyType != c.KeyType ||
			string(got.DER) != string(c.DER) || !got.CreatedAt.Equal(c.CreatedAt) || !got.NotBefore.Equal(c.NotBefore) ||
			!got.NotAfter.Equal(c.NotAfter) || got.Revoked() {
			t.Fatalf("CertificateBySerial = %+v, want %+v", got, c)
		}
		if k := auditKinds(t, s, a.ID); len(k) != 1 || k[0] != coffer.AuditCertificateIssued {
			t.Fatalf("audit after issue: got %v, want [%s]", k, coffer.AuditCertificateIssued)
		}
		_, err = s.CertificateBySerial(ctx, "deadbeef")
		wantCode(t, err, coffer.ENOTFOUND)
	})

	t.Run("Conflicts", func(t *testing.T) {
		c := newCert(a.ID, 2, now, year)
		if err := s.CreateCertificate(ctx, c, 10, nil); err != nil {
			t.Fatal(err)
		}
		dupSerial := newCert(a.ID, 3, now, year)
		dupSerial.Serial = c.Serial
		ev := coffer.NewAuditEvent(now, coffer.AuditCertificateIssued, b.ID, nil)
		wantCode(t, s.CreateCertificate(ctx, dupSerial, 10, ev), coffer.ECONFLICT)
		dupFP := newCert(a.ID, 4, now, year)
		dupFP.Fingerprint = c.Fingerprint
		wantCode(t, s.CreateCertificate(ctx, dupFP, 10, nil), coffer.ECONFLICT)
		// A refused certificate leaves no audit event behind.
		if k := auditKinds(t, s, b.ID); len(k) != 0 {
			t.Fatalf("audit of a refused certificate: got %v, want none", k)
		}
	})

	t.Run("List", func(t *testing.T) {
		c := newCert(b.ID, 1, now.Add(time.Second), year)
		if err := s.CreateCertificate(ctx, c, 10, nil); err != nil {
			t.Fatal(err)
		}
		list, err := s.Certificates(ctx, a.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("Certificates(a) = %d, %v; want 2", len(list), err)
		}
		for _, x := range list {
			if x.MemberID != a.ID {
				t.Fatalf("Certificates(a) holds %s of member %s", x.ID, x.MemberID)
			}
		}
		list, err = s.Certificates(ctx, "000000000000")
		if err != nil || len(list) != 0 {
			t.Fatalf("Certificates(nobody) = %d, %v; want none", len(list), err)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		id := fmt.Sprintf("cert-%s-1", a.ID)
		// Another member cannot revoke it, and the attempt changes nothing.
		_, err := s.RevokeCertificate(ctx, b.ID, id, now, coffer.NewAuditEvent(now, coffer.AuditCertificateRevoked, b.ID, nil))
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.RevokeCertificate(ctx, a.ID, "no-such-id", now, nil)
		wantCode(t, err, coffer.ENOTFOUND)
		at := now.Add(time.Minute)
		got, err := s.RevokeCertificate(ctx, a.ID, id, at, coffer.NewAuditEvent(at, coffer.AuditCertificateRevoked, a.ID, nil))
		if err != nil || !got.RevokedAt.Equal(at) || got.Status(at) != "revoked" {
			t.Fatalf("RevokeCertificate = %+v, %v; want revoked at %v", got, err, at)
		}
		// Again: no change, no second event.
		got, err = s.RevokeCertificate(ctx, a.ID, id, at.Add(time.Hour), coffer.NewAuditEvent(at, coffer.AuditCertificateRevoked, a.ID, nil))
		if err != nil || !got.RevokedAt.Equal(at) {
			t.Fatalf("second RevokeCertificate = %+v, %v; want the first revocation time %v", got, err, at)
		}
		c, err := s.CertificateBySerial(ctx, got.Serial)
		if err != nil || !c.RevokedAt.Equal(at) {
			t.Fatalf("after revocation: got %+v, %v; want revoked at %v", c, err, at)
		}
		n := 0
		for _, k := range auditKinds(t, s, a.ID) {
			if k == coffer.AuditCertificateRevoked {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("revocation events: got %d, want 1", n)
		}
		if k := auditKinds(t, s, b.ID); len(k) != 0 {
			t.Fatalf("audit of a refused revocation: got %v, want none", k)
		}
	})

	t.Run("ActiveLimit", func(t *testing.T) {
		m := member(t, s, "", "")
		for i := range 3 {
			if err := s.CreateCertificate(ctx, newCert(m.ID, i, now, year), 3, nil); err != nil {
				t.Fatalf("certificate %d: %v", i, err)
			}
		}
		wantCode(t, s.CreateCertificate(ctx, newCert(m.ID, 3, now, year), 3, nil), coffer.ELIMITEXCEEDED)
		if err := s.CreateCertificate(ctx, newCert(m.ID, 3, now, year), 3, nil); !errors.Is(err, coffer.ErrTooManyCertificates) {
			t.Fatalf("CreateCertificate over the limit: got %v, want ErrTooManyCertificates", err)
		}
		// Revoked and expired certificates do not count.
		if _, err := s.RevokeCertificate(ctx, m.ID, fmt.Sprintf("cert-%s-0", m.ID), now, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateCertificate(ctx, newCert(m.ID, 4, now, year), 3, nil); err != nil {
			t.Fatalf("after a revocation: %v", err)
		}
		later := now.Add(2 * year)
		if err := s.CreateCertificate(ctx, newCert(m.ID, 5, later, year), 3, nil); err != nil {
			t.Fatalf("after the others expired: %v", err)
		}
		// Concurrent requests cannot overshoot the limit together.
		m2 := member(t, s, "", "")
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = s.CreateCertificate(ctx, newCert(m2.ID, i, now, year), 3, nil) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if coffer.ErrorCode(err) != coffer.ELIMITEXCEEDED {
				t.Fatalf("concurrent CreateCertificate: %v", err)
			}
		}
		if ok != 3 {
			t.Fatalf("concurrent CreateCertificate with limit 3: got %d issued, want 3", ok)
		}
	})

	t.Run("NoteIP", func(t *testing.T) {
		id := fmt.Sprintf("cert-%s-2", a.ID)
		before := len(auditKinds(t, s, a.ID))
		ev := func() *coffer.AuditEvent {
			return coffer.NewAuditEvent(now, coffer.AuditCertificateNewIP, a.ID, map[string]any{"certificate_id": id})
		}
		for i, c := range []struct {
			ip   string
			want bool
		}{{"192.0.2.1", true}, {"192.0.2.1", false}, {"2001:db8::1", true}, {"192.0.2.1", false}} {
			got, err := s.NoteCertificateIP(ctx, id, c.ip, now, ev())
			if err != nil || got != c.want {
				t.Fatalf("NoteCertificateIP #%d (%s) = %v, %v; want %v", i, c.ip, got, err, c.want)
			}
		}
		if got := len(auditKinds(t, s, a.ID)) - before; got != 2 {
			t.Fatalf("new-IP events: got %d, want 2", got)
		}
		// The same address is new for another certificate.
		if got, err := s.NoteCertificateIP(ctx, fmt.Sprintf("cert-%s-1", b.ID), "192.0.2.1", now, nil); err != nil || !got {
			t.Fatalf("NoteCertificateIP for another certificate = %v, %v; want true", got, err)
		}
	})
}
