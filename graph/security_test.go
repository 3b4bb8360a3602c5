package graph_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

const (
	createKeyDoc = `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { token apiKey { id name role createdAt lastUsedAt revokedAt } } }`
	revokeKeyDoc = `mutation($in: RevokeApiKeyInput!) { revokeApiKey(input: $in) { apiKey { id revokedAt } } }`
	listKeysDoc  = `{ apiKeys { id name role createdAt lastUsedAt revokedAt } }`
	auditDoc     = `query($f: AuditEventFilter, $first: Int, $after: String) { auditEvents(filter: $f, first: $first, after: $after) {
		totalCount pageInfo { hasNextPage endCursor }
		edges { cursor node { id at keyId role operation inputDigest createdIds policyName policyVersion } } } }`
)

// keyID is the key id a token carries (see ledger/key_auth.go).
func keyID(token string) string {
	h := token[len("psk_")+32 : len("psk_")+64]
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TestAPIKeyLifecycle: an ADMIN creates a key (shown once), it works, the
// listing shows it without its secret and with its last use, and once
// revoked it is refused at the next request.
func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	data := h.ok(t, h.admin, createKeyDoc, obj{"in": obj{"name": "front desk", "role": "BILLER", "idempotencyKey": "k1"}})
	token := str(t, data, "createApiKey.token")
	id := str(t, data, "createApiKey.apiKey.id")
	require.True(t, strings.HasPrefix(token, "psk_"), token)
	require.Equal(t, id, keyID(token))
	require.Equal(t, "BILLER", str(t, data, "createApiKey.apiKey.role"))
	require.Nil(t, at(t, data, "createApiKey.apiKey.lastUsedAt"))

	// A replay returns the same key, and no token: it was shown once.
	again := h.ok(t, h.admin, createKeyDoc, obj{"in": obj{"name": "front desk", "role": "BILLER", "idempotencyKey": "k1"}})
	require.Equal(t, id, str(t, again, "createApiKey.apiKey.id"))
	require.Nil(t, at(t, again, "createApiKey.token"))

	// The new key works with its role: it posts, but may not manage keys.
	h.ok(t, token, `mutation { createProvider(input: {name: "Dr. Key"}) { provider { id } } }`, nil)
	e, _ := h.fail(t, token, listKeysDoc, nil)
	require.Equal(t, "FORBIDDEN", e.code())

	r := h.do(t, h.admin, listKeysDoc, nil)
	require.Empty(t, r.Errors, r.Raw)
	secret := token[len("psk_")+64:]
	require.NotContains(t, r.Raw, secret, "the listing must never carry the secret")
	keys := list(t, r.Data, "apiKeys")
	require.Len(t, keys, 3, "admin, analyst and front desk: %s", r.Raw)
	require.Equal(t, id, str(t, keys[0], "id"), "newest first")
	require.Equal(t, "front desk", str(t, keys[0], "name"))
	require.NotNil(t, at(t, keys[0], "lastUsedAt"), "the key was used")
	require.Nil(t, at(t, keys[0], "revokedAt"))

	data = h.ok(t, h.admin, revokeKeyDoc, obj{"in": obj{"id": id}})
	revokedAt := str(t, data, "revokeApiKey.apiKey.revokedAt")
	e, _ = h.fail(t, token, `{ practice { name } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", e.code())
	// Revoking again keeps the first time.
	data = h.ok(t, h.admin, revokeKeyDoc, obj{"in": obj{"id": id}})
	require.Equal(t, revokedAt, str(t, data, "revokeApiKey.apiKey.revokedAt"))
	keys = list(t, h.ok(t, h.admin, listKeysDoc, nil), "apiKeys")
	require.Equal(t, revokedAt, str(t, keys[0], "revokedAt"))

	// Bad input writes nothing.
	before := rowCounts(t, h.db)
	for _, c := range []struct {
		doc, field string
		in         obj
	}{
		{revokeKeyDoc, "id", obj{"id": newID()}},
		{createKeyDoc, "name", obj{"name": strings.Repeat("x", 1000), "role": "ANALYST"}},
		{createKeyDoc, "name", obj{"name": "a\x00b", "role": "ANALYST"}},
	} {
		e, r := h.fail(t, h.admin, c.doc, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, c.field, e.field(), r.Raw)
	}
	require.Equal(t, before, rowCounts(t, h.db))

	// Another practice's key cannot be revoked: it is not found in yours.
	b := ledgertest.AddPractice(t, h.f.Ledger, "Practice B")
	bKey := issueKey(t, b, "ADMIN")
	e, _ = h.fail(t, bKey, revokeKeyDoc, obj{"in": obj{"id": keyID(h.analyst)}})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	h.ok(t, h.analyst, `{ practice { name } }`, nil)
}

// TestAuditEvents: each mutation leaves exactly one event naming the key,
// its role, the operation, the input's digest and what it created; the
// listing filters and pages newest first; and the table refuses UPDATE,
// DELETE and TRUNCATE.
func TestAuditEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Audit")[0]
	biller := issueKey(t, f, "BILLER")
	charge := f.Visit(t, pat, "2026-05-01", "100.00")[0]

	var (
		encID, provID, recID string
	)
	calls := []struct {
		op, doc, id string
		token       string
		vars        func() obj
	}{
		{op: "createProvider", id: "createProvider.provider.id", vars: func() obj { return obj{"in": obj{"name": "Dr. A"}} }},
		{op: "createLocation", id: "createLocation.location.id", vars: func() obj { return obj{"in": obj{"name": "Room A"}} }},
		{op: "createGuarantor", id: "createGuarantor.guarantor.id", vars: func() obj { return obj{"in": obj{"name": "Fam A"}} }},
		{op: "createPatient", id: "createPatient.patient.id", vars: func() obj {
			return obj{"in": obj{"guarantorId": pat.GuarantorID.String(), "firstName": "Al", "lastName": "Audit"}}
		}},
		{op: "postEncounter", id: "postEncounter.encounter.id", vars: func() obj {
			return obj{"in": obj{"patientId": pat.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(),
				"charges": []any{obj{"code": "D0120", "amount": "10.00"}}}}
		}},
		{op: "postAdjustment", id: "postAdjustment.adjustment.id", vars: func() obj {
			return obj{"in": obj{"patientId": pat.ID.String(), "amount": "-5.00", "attachedToId": charge.ID.String()}}
		}},
		{op: "postReceipt", id: "postReceipt.receipt.id", vars: func() obj {
			return obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "10.00",
				"splits": []any{obj{"amount": "10.00", "chargeId": charge.ID.String()}}}}
		}},
		{op: "reverseReceipt", id: "reverseReceipt.receipt.id", vars: func() obj { return obj{"in": obj{"receiptId": recID}} }},
		{op: "postInsuranceWriteOff", id: "postInsuranceWriteOff.writeOff.id", vars: func() obj {
			return obj{"in": obj{"chargeId": charge.ID.String(), "amount": "5.00"}}
		}},
		{op: "updateAgingSettings", doc: `mutation($in: UpdateAgingSettingsInput!) { updateAgingSettings(input: $in) { settings { buckets } } }`,
			token: h.admin, vars: func() obj { return obj{"in": obj{"buckets": []int{30, 60}}} }},
		{op: "createApiKey", doc: createKeyDoc, id: "createApiKey.apiKey.id", token: h.admin,
			vars: func() obj { return obj{"in": obj{"name": "temp", "role": "ANALYST"}} }},
	}
	for _, c := range calls {
		t.Run(c.op, func(t *testing.T) {
			doc, token := c.doc, c.token
			if doc == "" {
				doc = mutationDoc(c.op)
			}
			if token == "" {
				token = biller
			}
			before := rowCounts(t, h.db)["audit_events"]
			data := h.ok(t, token, doc, c.vars())
			require.Equal(t, before+1, rowCounts(t, h.db)["audit_events"], "one event per mutation")
			page := h.ok(t, h.admin, auditDoc, obj{"first": 1})
			ev := at(t, page, "auditEvents.edges.0.node")
			require.Equal(t, c.op, str(t, ev, "operation"))
			require.Equal(t, keyID(token), str(t, ev, "keyId"))
			role := "BILLER"
			if token == h.admin {
				role = "ADMIN"
			}
			require.Equal(t, role, str(t, ev, "role"))
			require.Regexp(t, `^[0-9a-f]{64}$`, str(t, ev, "inputDigest"))
			if c.id != "" {
				id := str(t, data, c.id)
				require.Equal(t, []any{id}, list(t, ev, "createdIds"))
				switch c.op {
				case "postEncounter":
					encID = id
				case "createProvider":
					provID = id
				case "postReceipt":
					recID = id
				}
			}
		})
	}
	require.NotEmpty(t, encID+provID)

	// A receipt posted under a policy records its name and version.
	data := h.ok(t, biller, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "1.00", "allocation": obj{"policy": "fifo"}}})
	ev := at(t, h.ok(t, h.admin, auditDoc, obj{"first": 1}), "auditEvents.edges.0.node")
	require.Equal(t, "postReceipt", str(t, ev, "operation"))
	require.Equal(t, []any{str(t, data, "postReceipt.receipt.id")}, list(t, ev, "createdIds"))
	require.Equal(t, "fifo", str(t, ev, "policyName"))
	require.Positive(t, at(t, ev, "policyVersion"))

	// Filters: by operation, by key, by time; paging newest first.
	all := h.ok(t, h.admin, auditDoc, obj{"first": 500})
	total := int(at(t, all, "auditEvents.totalCount").(float64))
	require.Equal(t, rowCounts(t, h.db)["audit_events"], total)
	byOp := h.ok(t, h.admin, auditDoc, obj{"f": obj{"operation": "postReceipt"}})
	require.Equal(t, float64(2), at(t, byOp, "auditEvents.totalCount"))
	byKey := h.ok(t, h.admin, auditDoc, obj{"f": obj{"keyId": keyID(h.admin)}})
	require.Equal(t, float64(2), at(t, byKey, "auditEvents.totalCount"), "updateAgingSettings and createApiKey")
	last := at(t, all, "auditEvents.edges.0.node")
	since := h.ok(t, h.admin, auditDoc, obj{"f": obj{"from": str(t, last, "at")}})
	require.Equal(t, str(t, last, "id"), str(t, since, "auditEvents.edges.0.node.id"))
	var paged []string
	var after any
	for {
		p := h.ok(t, h.admin, auditDoc, obj{"first": 3, "after": after})
		for _, e := range list(t, p, "auditEvents.edges") {
			paged = append(paged, str(t, e, "node.id"))
		}
		if at(t, p, "auditEvents.pageInfo.hasNextPage") != true {
			break
		}
		after = str(t, p, "auditEvents.pageInfo.endCursor")
	}
	require.Equal(t, ids(t, all, "auditEvents.edges"), paged)
	e, _ := h.fail(t, h.admin, auditDoc, obj{"after": "bm90IGEgY3Vyc29y"})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	e, _ = h.fail(t, biller, auditDoc, nil)
	require.Equal(t, "FORBIDDEN", e.code())

	// Append-only, whatever the statement.
	for _, stmt := range []string{
		`UPDATE audit_events SET operation = 'forged'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		_, err := h.db.Exec(stmt)
		require.ErrorContains(t, err, "append-only", stmt)
	}
	require.Equal(t, total, rowCounts(t, h.db)["audit_events"])
}
