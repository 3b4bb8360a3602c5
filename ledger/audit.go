package ledger

import (
	"context"
	"time"
)

// AuditReader reads the audit trail (part of Reader).
type AuditReader interface {
	// ListAuditEvents lists the practice's audit events, newest first (by
	// time, then id). A cursor's Key is the event's time in RFC 3339 with
	// microseconds, UTC.
	ListAuditEvents(ctx context.Context, practiceID ID, f AuditFilter, p Page) (Paged[AuditEvent], error)
}

// AuditFilter narrows the audit trail. Zero fields do not filter.
type AuditFilter struct {
	Operation string     // exact operation name, e.g. "postReceipt"
	KeyID     *ID        // events of one key
	From, To  *time.Time // at or after From, before To
}

// AuditCursorLayout is how an audit cursor's key writes the event's time.
const AuditCursorLayout = "2006-01-02T15:04:05.000000Z07:00"

// AuditEvents lists the audit trail of a's practice (ADMIN), newest first.
// The trail is append-only: every mutation writes one event in its own
// transaction (mutate), and the database refuses UPDATE and DELETE on it.
func (l *Ledger) AuditEvents(ctx context.Context, a Actor, f AuditFilter, p Page) (Paged[AuditEvent], error) {
	if err := authorize(a, "auditEvents"); err != nil {
		return Paged[AuditEvent]{}, err
	}
	if err := text("filter.operation", f.Operation, maxName, false); err != nil {
		return Paged[AuditEvent]{}, err
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return Paged[AuditEvent]{}, Invalid("filter.to", "must be after filter.from")
	}
	if p.After != nil {
		if _, err := time.Parse(AuditCursorLayout, p.After.Key); err != nil {
			return Paged[AuditEvent]{}, Invalid("after", "is not a cursor from this listing")
		}
	}
	return l.store.ListAuditEvents(ctx, a.PracticeID, f, p)
}
