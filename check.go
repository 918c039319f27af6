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

// IntegrityResult is the outcome of the database's own check of its
// pages and indexes, and of comparing what the indexes answer with what
// the tables hold.
type IntegrityResult struct {
	Name     string   // what ran ("PRAGMA quick_check", "amcheck bt_index_check")
	Skipped  string   // why it did not run; "" when it ran
	Problems []string // what it found, each naming the page, table or index where the database says
}

// OK reports whether the check found nothing (a skipped check is not a
// failure).
func (r IntegrityResult) OK() bool { return len(r.Problems) == 0 }

// CheckReport is what `cofferd check` prints.
type CheckReport struct {
	Members, Purses, Transfers, Entries int64
	AuditEvents                         int64
	Integrity                           []IntegrityResult
	Results                             []InvariantResult
}

// OK reports whether the database is sound and every invariant holds.
func (r *CheckReport) OK() bool {
	for _, x := range r.Integrity {
		if !x.OK() {
			return false
		}
	}
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
	for _, x := range r.Integrity {
		switch {
		case x.Skipped != "":
			fmt.Fprintf(w, "skip  integrity: %s: %s\n", x.Name, x.Skipped)
		case x.OK():
			fmt.Fprintf(w, "ok    integrity: %s\n", x.Name)
		default:
			fmt.Fprintf(w, "FAIL  integrity: %s: %d problem(s)\n", x.Name, len(x.Problems))
			for i, p := range x.Problems {
				if i == 20 {
					fmt.Fprintf(w, "      ... and %d more\n", len(x.Problems)-i)
					break
				}
				fmt.Fprintf(w, "      %s\n", p)
			}
		}
	}
	for _, x := range r.Results {
		if x.Violations == 0 {
			fmt.Fprintf(w, "ok    invariant %d: %s\n", x.Number, x.Name)
		} else {
			fmt.Fprintf(w, "FAIL  invariant %d: %s: %d violation(s), e.g. %s\n", x.Number, x.Name, x.Violations, x.Example)
		}
	}
	fmt.Fprintln(w, "note  invariant 5 (durability) is proven by the crash test, not by reading the database")
}

// ViolationRows is what a store's query result offers Tally: one text
// column per row, each row one violation (database/sql and pgx rows both
// fit).
type ViolationRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Tally counts the violations a store's probe query returned for one
// invariant, keeping the first as the example. The caller closes rows.
func Tally(number int, name string, rows ViolationRows) (InvariantResult, error) {
	res := InvariantResult{Number: number, Name: name}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return res, err
		}
		res.Violations++
		if res.Example == "" {
			res.Example = s
		}
	}
	return res, rows.Err()
}
