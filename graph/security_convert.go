package graph

import (
	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// fromLedgerAPIKey shows a key without its secret hash.
func fromLedgerAPIKey(k ledger.APIKey) model.APIKey {
	return model.APIKey{ID: k.ID, Name: k.Name, Role: model.Role(k.Role), CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func fromLedgerAuditEvent(e ledger.AuditEvent) model.AuditEvent {
	out := model.AuditEvent{ID: e.ID, At: e.At, KeyID: e.KeyID, Operation: e.Operation, InputDigest: e.InputDigest,
		CreatedIds: e.CreatedIDs, PolicyName: nullable(e.PolicyName)}
	if out.CreatedIds == nil {
		out.CreatedIds = []ledger.ID{}
	}
	if e.Role != "" {
		r := model.Role(e.Role)
		out.Role = &r
	}
	if e.PolicyVersion != 0 {
		v := e.PolicyVersion
		out.PolicyVersion = &v
	}
	return out
}

func toLedgerAuditFilter(f *model.AuditEventFilter) ledger.AuditFilter {
	if f == nil {
		return ledger.AuditFilter{}
	}
	return ledger.AuditFilter{Operation: str(f.Operation), KeyID: f.KeyID, From: f.From, To: f.To}
}
