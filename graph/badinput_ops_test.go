package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// TestBadInputBeyondTheLedgerMutations sends bad money, odd dates and
// control characters to the operations TestBadInput does not sweep
// (policies, batches, keys, runs, credits, aging): each is BAD_USER_INPUT
// naming the field, and nothing is written.
func TestBadInputBeyondTheLedgerMutations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Pat")[0]
	f.Visit(t, pat, "2026-05-01", "100.00")
	_, err := f.Ledger.SavePolicy(context.Background(), f.Actor, ledger.NewPolicy{Document: "name: floor\n" +
		"params: {floor: {type: money, default: \"5.00\"}}\nstages: [{name: s, match: 'charge.owed > params.floor'}]\n"})
	require.NoError(t, err)
	patID, gid := pat.ID.String(), pat.GuarantorID.String()
	receipt := obj{"kind": "PATIENT_PAYMENT", "patientId": patID, "amount": "10.00"}

	const (
		savePolicy   = `mutation($in: SavePolicyInput!) { savePolicy(input: $in) { policy { name } } }`
		validate     = `query($d: String!) { validatePolicy(document: $d) { name } }`
		policy       = `query($n: String!) { allocationPolicy(name: $n) { name } }`
		openBatch    = `mutation($in: OpenBatchInput!) { openBatch(input: $in) { batch { id } } }`
		createKey    = `mutation($in: CreateApiKeyInput!) { createApiKey(input: $in) { token } }`
		startRun     = `mutation($in: StartRunInput!) { startRun(input: $in) { run { id } } }`
		aging        = `query($in: AgingInput!) { aging(input: $in) { asOf } }`
		familyLedger = `query($g: ID!, $p: String, $d: Date) { familyLedger(guarantorId: $g, policy: $p, asOf: $d) { asOf } }`
		candidates   = `query($in: ReapplyCandidatesInput!) { reapplyCandidates(input: $in) { credits { id } } }`
		reapply      = `query($in: ReapplyCreditInput!) { previewReapplyCredit(input: $in) { total } }`
		transfer     = `query($in: TransferInput!) { previewTransfer(input: $in) { total } }`
		preview      = `query($in: PostReceiptInput!) { previewReceipt(input: $in) { total } }`
		unearned     = `mutation($in: AllocateUnearnedInput!) { allocateUnearned(input: $in) { plan { total } } }`
		audit        = `query($op: String) { auditEvents(filter: {operation: $op}) { totalCount } }`
	)
	doc := "name: mine\nstages: [{name: s, match: 'true'}]\n"
	cases := []struct {
		name, query string
		vars        obj
		field, msg  string
	}{
		{"NUL in a policy document", savePolicy, obj{"in": obj{"document": doc + "description: a\x00b\n"}}, "document", "U+0000"},
		{"NUL in a policy name", savePolicy, obj{"in": obj{"name": "mine\x00", "document": doc}}, "name", ""},
		{"NUL in a document to validate", validate, obj{"d": "name: x\x00"}, "document", ""},
		{"NUL in a policy name asked for", policy, obj{"n": "fifo\x00"}, "name", ""},
		{"NUL in a batch name", openBatch, obj{"in": obj{"name": "May\x00"}}, "name", ""},
		{"line break in a batch name", openBatch, obj{"in": obj{"name": "May\n2026"}}, "name", ""},
		{"a batch opened in year one", openBatch, obj{"in": obj{"name": "May", "openedOn": "0001-01-01"}}, "openedOn", "out of range"},
		{"NUL in a key name", createKey, obj{"in": obj{"name": "k\x00", "role": "ANALYST"}}, "name", ""},
		{"NUL in a run note", startRun, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "note": "n\x00"}}, "note", ""},
		{"a run as of year one", startRun, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "note": "n", "asOf": "0001-01-01"}}, "asOf", ""},
		{"NUL in a run's policy param", startRun, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER",
			"params": obj{"negativeProductionIsIncome": "tr\x00ue"}}}, "params.negativeProductionIsIncome", ""},
		{"aging as of year one", aging, obj{"in": obj{"asOf": "0001-01-01"}}, "asOf", "out of range"},
		{"aging as of 2200", aging, obj{"in": obj{"asOf": "2200-01-01"}}, "asOf", "out of range"},
		{"aging minBalance without decimals", aging, obj{"in": obj{"minBalance": "30"}}, "minBalance", ""},
		{"NUL in an aging cursor", aging, obj{"in": obj{"after": "\x00"}}, "after", ""},
		{"family ledger as of 1899", familyLedger, obj{"g": gid, "d": "1899-12-31"}, "asOf", ""},
		{"NUL in a policy reference", familyLedger, obj{"g": gid, "p": "fifo\x00"}, "policy", ""},
		{"candidates as of year one", candidates, obj{"in": obj{"patientId": patID, "asOf": "0001-01-01"}}, "asOf", ""},
		{"NUL in a credit id", reapply, obj{"in": obj{"patientId": patID, "sources": []any{"c\x00"},
			"targets": []any{obj{"chargeId": newID()}}}}, "sources[0]", ""},
		{"a transfer as of year one", transfer, obj{"in": obj{"guarantorId": gid, "asOf": "0001-01-01"}}, "asOf", ""},
		{"NUL in a transfer note", transfer, obj{"in": obj{"guarantorId": gid, "note": "\x00"}}, "note", ""},
		{"a money param without decimals", preview, obj{"in": with(receipt, "allocation", obj{"policy": "floor", "params": obj{"floor": "5"}})},
			"allocation.params.floor", "two decimal places"},
		{"a money param with a plus sign", preview, obj{"in": with(receipt, "allocation", obj{"policy": "floor", "params": obj{"floor": "+5.00"}})},
			"allocation.params.floor", ""},
		{"unearned amount with one decimal", unearned, obj{"in": obj{"guarantorId": gid, "chargeIds": []any{newID()}, "amount": "1.5"}}, "amount", ""},
		{"NUL in an audit filter", audit, obj{"op": "x\x00"}, "filter.operation", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := importRows(t, h.db)
			e, r := h.fail(t, h.admin, tc.query, tc.vars)
			require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
			require.Equal(t, tc.field, e.field(), r.Raw)
			require.True(t, strings.HasPrefix(e.Message, tc.field+": "), "the message names the field: %s", e.Message)
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, importRows(t, h.db), "a refused request writes nothing")
		})
	}
	// The policy used above takes a well-formed amount.
	h.ok(t, h.admin, preview, obj{"in": with(receipt, "allocation", obj{"policy": "floor", "params": obj{"floor": "5.00"}})})
}
