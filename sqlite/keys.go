package sqlite

import (
	"github.com/coffer-money/coffer"
)

// events turns an optional event into the list appendAudit takes.
func events(ev *coffer.AuditEvent) []*coffer.AuditEvent {
	if ev == nil {
		return nil
	}
	return []*coffer.AuditEvent{ev}
}
