package coffer

import (
	"fmt"
	"io"
)

// InvariantResult is the outcome of checking one ledger invariant.
type InvariantResult struct {
	Number     int
	Name       string
	Violations int
	Example    string // the first violation found, for the operator
}

// CheckReport is what `cofferd check` prints.
type CheckReport struct {
	Members, Purses, Transfers, Entries int64
	AuditEvents                         int64
	Results                             []InvariantResult
}

// OK reports whether every invariant holds.
func (r *CheckReport) OK() bool {
	for _, x := range r.Results {
		if x.Violations > 0 {
			return false
		}
	}
	return true
}

// Print writes a human summary.
func (r *CheckReport) Print(w io.Writer) {
	fmt.Fprintf(w, "members %d, purses %d, transfers %d, history entries %d, audit events %d\n", r.Members, r.Purses, r.Transfers, r.Entries, r.AuditEvents)
	for _, x := range r.Results {
		if x.Violations == 0 {
			fmt.Fprintf(w, "ok    invariant %d: %s\n", x.Number, x.Name)
		} else {
			fmt.Fprintf(w, "FAIL  invariant %d: %s: %d violation(s), e.g. %s\n", x.Number, x.Name, x.Violations, x.Example)
		}
	}
	fmt.Fprintln(w, "note  invariant 5 (durability) is proven by the crash test, not by reading the database")
}
