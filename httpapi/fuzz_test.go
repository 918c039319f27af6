package httpapi

import (
	"testing"

	"github.com/coffer-money/coffer"
)

// FuzzDecodeTransfer feeds arbitrary bodies to the transfer request decoder
// and the amount parser behind it: no panic, every refusal is a 4xx-class
// application error, and what is accepted is a well-formed request.
func FuzzDecodeTransfer(f *testing.F) {
	for _, s := range []string{
		`{"transfer_id":"t1","from":"Z123456789012","to":"Z210987654321","amount":"12.50"}`,
		`{"transfer_id":"t1","from":"Z123456789012","to":"Z210987654321","amount":12.5}`,
		`{"transfer_id":"t1","amount":"1e2","extra":1}`,
		`{"amount":"1"}{"amount":"2"}`,
		`[]`, `null`, `"x"`, `{"description":"\u0000"}`, `{"amount":"99999999999999999999.99"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in TransferBody
		err := DecodeJSON(body, &in)
		if err != nil {
			if c := coffer.ErrorCode(err); c != coffer.EINVALID && c != coffer.EINVALIDAMOUNT {
				t.Fatalf("DecodeJSON(%q) code %q, want invalid_request or invalid_amount", body, c)
			}
			return
		}
		v, err := coffer.ParseAmount(in.Amount, 2)
		if err == nil && (v <= 0 || v > coffer.MaxAmount) {
			t.Fatalf("amount %q parsed to out-of-range %d", in.Amount, v)
		}
		if err := coffer.ValidateDescription(in.Description); err == nil && len([]rune(in.Description)) > coffer.MaxDescription {
			t.Fatalf("description of %d characters accepted", len([]rune(in.Description)))
		}
	})
}
