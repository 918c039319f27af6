package coffer

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestFeeRule_Rounding: 0.8 % rounded half up to a minor unit, at least
// Min, at most Max.
func TestFeeRule_Rounding(t *testing.T) {
	r := &FeeRule{PPM: 8000, Min: 1, Max: 5000}
	for _, c := range []struct{ amount, want int64 }{
		{1, 1},           // 0.008 → 0, raised to the minimum
		{62, 1},          // 0.496 → 0 → 1 (minimum)
		{187, 1},         // 1.496 → 1
		{188, 2},         // 1.504 → 2
		{1_000_00, 800},  // 1000.00 → 8.00
		{6_250_00, 5000}, // 50.00 exactly: at the maximum
		{6_250_01, 5000}, // above: lowered to the maximum
		{MaxAmount, 5000},
	} {
		if got := r.Fee(c.amount); got != c.want {
			t.Errorf("Fee(%d) = %d, want %d", c.amount, got, c.want)
		}
	}
	half := &FeeRule{PPM: 5000} // 0.5 %: 100 → 0.5 → rounds up to 1
	if got := half.Fee(100); got != 1 {
		t.Errorf("0.5 %% of 100: got %d, want 1 (half up)", got)
	}
	if got := half.Fee(99); got != 0 {
		t.Errorf("0.5 %% of 99: got %d, want 0", got)
	}
	var none *FeeRule
	if none.Fee(100) != 0 {
		t.Error("nil rule charges a fee")
	}
}

// TestFeeRule_Property: the fee is the exactly rounded share, clamped, and
// never overflows.
func TestFeeRule_Property(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := &FeeRule{PPM: rapid.Int64Range(0, 1_000_000).Draw(rt, "ppm"), Min: rapid.Int64Range(0, 100).Draw(rt, "min")}
		r.Max = rapid.Int64Range(0, 1_000_000).Draw(rt, "max")
		a := rapid.Int64Range(1, MaxAmount).Draw(rt, "amount")
		got := r.Fee(a)
		// Exact: floor((a*ppm + 500000) / 1e6), computed in two halves.
		hi, lo := a/1_000_000, a%1_000_000
		want := hi*r.PPM + (lo*r.PPM+500_000)/1_000_000
		want = max(want, r.Min)
		if r.Max > 0 {
			want = min(want, r.Max)
		}
		if got != want || got < 0 {
			rt.Fatalf("Fee(%d) with %+v = %d, want %d", a, r, got, want)
		}
	})
}

func TestProtection_Code(t *testing.T) {
	salt, hash := HashProtectionCode("4711")
	p := &Protection{ByCode: true, CodeSalt: salt, CodeHash: hash, Until: time.Now()}
	if !p.CheckCode("4711") || p.CheckCode("4712") || p.CheckCode("") {
		t.Fatal("CheckCode accepts a wrong code or refuses the right one")
	}
	salt2, hash2 := HashProtectionCode("4711")
	if string(salt2) == string(salt) || string(hash2) == string(hash) {
		t.Fatal("two hashes of one code are equal: no salt")
	}
	if (&Protection{ByCode: false, CodeSalt: salt, CodeHash: hash}).CheckCode("4711") {
		t.Fatal("a time protection accepted a code")
	}
}

func TestTransfer_MatchesPaymentForms(t *testing.T) {
	now := time.Now()
	tr := &Transfer{From: "a", To: "b", Amount: 5, CreatedAt: now, InvoiceID: "i1"}
	r := &TransferRequest{From: "a", To: "b", Amount: 5, InvoiceID: "i1"}
	if !tr.Matches(r) {
		t.Fatal("same invoice payment does not match")
	}
	r.InvoiceID = "i2"
	if tr.Matches(r) {
		t.Fatal("another invoice matches")
	}
	p := &Transfer{From: "a", To: "b", Amount: 5, CreatedAt: now, Protection: &Protection{ByCode: true, Until: now.Add(3 * 24 * time.Hour)}}
	rp := &TransferRequest{From: "a", To: "b", Amount: 5, Protect: &Protection{ByCode: true, Until: now.Add(3*24*time.Hour + time.Minute)}}
	if !p.Matches(rp) {
		t.Fatal("a retry of a protected transfer a minute later does not match")
	}
	rp.Protect.Until = now.Add(4 * 24 * time.Hour)
	if p.Matches(rp) {
		t.Fatal("another protection period matches")
	}
	rp.Protect = nil
	if p.Matches(rp) {
		t.Fatal("an unprotected retry matches a protected transfer")
	}
}
