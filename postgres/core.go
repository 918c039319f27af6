package postgres

import (
	"github.com/coffer-money/coffer"
)

// copyTransfer returns a copy the caller may change without changing the
// original (or its Protection).
func copyTransfer(t *coffer.Transfer) *coffer.Transfer {
	if t == nil {
		return nil
	}
	c := *t
	if t.Protection != nil {
		p := *t.Protection
		c.Protection = &p
	}
	return &c
}
