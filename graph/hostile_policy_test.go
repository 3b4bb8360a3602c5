package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/rules"
)

// Hostile policies through the real handler (docs/reliability.md#hostile-
// policies): each answers a coded error, writes nothing, and the server
// serves the next request.

const (
	validateDoc = `query($doc: String!) { validatePolicy(document: $doc) { name } }`
	saveDoc     = `mutation($doc: String!) { savePolicy(input: {document: $doc}) { policy { name version } } }`
)

// bombDoc is a policy whose only stage matches with expr, with an example
// that plans a small transfer (validatePolicy and savePolicy run it).
func bombDoc(expr string) string {
	return `name: bomb
stages:
  - name: grow
    match: '` + strings.ReplaceAll(expr, "'", "''") + `'
examples:
  - name: one family
    input:
      patients: [{id: p, guarantorId: p}]
      charges: [{id: c, kind: PROCEDURE, patientId: p, date: 2024-01-01, amount: "10.00"}]
      splits: [{id: s, patientId: p, date: 2024-01-01, amount: "10.00"}]
      request: {operation: TRANSFER, asOf: 2024-01-02}
    expect: {}
`
}

// lets is "let v0 = first; let v1 = v0 op v0; ...; test(v<n-1>)".
func lets(first, op string, n int, test string) string {
	parts := []string{"let v0 = " + first}
	for i := 1; i < n; i++ {
		parts = append(parts, fmt.Sprintf("let v%d = v%d %s v%d", i, i-1, op, i-1))
	}
	return strings.Join(parts, "; ") + "; " + strings.ReplaceAll(test, "V", fmt.Sprintf("v%d", n-1))
}

func TestHostilePolicyDocuments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	nested := "name: x\nstages: " + strings.Repeat("[", 64000) + strings.Repeat("]", 64000) + "\n"
	aliases := "name: x\nparams:\n  a: {type: string, default: &a [l,l,l,l,l,l,l,l,l,l]}\n" +
		"  b: {type: string, default: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]}\n  c: {type: string, default: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]}\n" +
		"stages: [{name: s, match: 'true'}]\n"
	for _, tc := range []struct {
		name, doc, code, path, budget string
	}{
		{"repeat", bombDoc(`len(repeat(repeat(repeat("x", 999), 999), 1000000)) > 0`), "RULE_COMPILE_FAILED", "stages[0].match", ""},
		{"replace toJSON map range", bombDoc(`len(replace(toJSON(map(1..100000, {#})), "1", "22")) > 0`), "RULE_COMPILE_FAILED", "stages[0].match", ""},
		{"map over an env list", bombDoc(`len(map(request.chargeIds, # + #)) >= 0`), "RULE_COMPILE_FAILED", "stages[0].match", ""},
		{"string doubled by let", bombDoc(lets("credit.patientId + credit.patientId", "+", 30, "len(V) > 0")), "RULE_BUDGET_EXCEEDED", "examples[0]", "string"},
		{"money squared by let", bombDoc(lets("credit.amount * credit.amount", "*", 40, "V > 0")), "RULE_BUDGET_EXCEEDED", "examples[0]", "money"},
		{"nested 128 KB", nested, "RULE_COMPILE_FAILED", "", ""},
		{"aliases", aliases, "RULE_COMPILE_FAILED", "", ""},
		{"too large", "name: x\nstages: [{name: s, match: 'true'}]\n# " + strings.Repeat("x", rules.MaxDocumentBytes) + "\n", "RULE_COMPILE_FAILED", "", ""},
		// Refused by the String scalar before rules sees it (rules' own refusal: rules/scan.go).
		{"NUL in the description", "name: x\ndescription: \"a\x00b\"\nstages: [{name: s, match: 'true'}]\n", "BAD_USER_INPUT", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rowCounts(t, h.db)
			for _, q := range []struct{ key, doc string }{{h.analyst, validateDoc}, {h.admin, saveDoc}} {
				r := h.do(t, q.key, q.doc, obj{"doc": tc.doc})
				require.NotEmpty(t, r.Errors, r.Raw)
				e := r.Errors[0]
				require.Equal(t, tc.code, e.code(), r.Raw)
				if tc.code == "BAD_USER_INPUT" {
					require.Equal(t, "document", e.field(), r.Raw)
				} else {
					require.Equal(t, tc.path, e.Extensions["path"], r.Raw)
				}
				if tc.budget != "" {
					require.Equal(t, tc.budget, e.Extensions["budget"], r.Raw)
				}
				h.ok(t, h.analyst, `{ allocationPolicies { name } }`, nil) // still serving
			}
			require.Equal(t, before, rowCounts(t, h.db), "nothing written")
		})
	}
}

// A saved policy whose expression grows with the family's data: previews
// of the family it grows on answer RULE_BUDGET_EXCEEDED; a run records
// that family FAILED and balances the other.
func TestHostilePolicyPlans(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	ann := f.Family(t, "Ann")[0]
	f.Visit(t, ann, "2026-05-01", "40.00")
	f.Pay(t, ann, "40.00", ledgertest.Unallocated("40.00"))
	bob := f.Family(t, "Bob")[0]
	bobLine := f.Visit(t, bob, "2026-05-02", "25.00")[0]
	f.Pay(t, bob, "25.00", ledgertest.Unallocated("25.00"))

	// On Ann's money the string doubles until it is over its budget;
	// on anyone else's it stays empty.
	greedy := "name: greedy\nstages:\n  - name: grow\n    match: '" +
		lets(`credit.patientId == "`+ann.ID.String()+`" ? credit.patientId : ""`, "+", 30, "len(V) >= 0") + "'\n"
	h.ok(t, h.admin, saveDoc, obj{"doc": greedy})

	overBudget := func(r response) {
		t.Helper()
		e := requireCode(t, r, "RULE_BUDGET_EXCEEDED")
		require.Equal(t, "stages[0].match", e.Extensions["path"], r.Raw)
		require.Equal(t, "string", e.Extensions["budget"], r.Raw)
		h.ok(t, h.analyst, `{ allocationPolicies { name } }`, nil) // still serving
	}
	before := rowCounts(t, h.db)
	overBudget(h.do(t, h.analyst, `query($in: TransferInput!) { previewTransfer(input: $in) { total } }`,
		obj{"in": obj{"guarantorId": ann.GuarantorID.String(), "policy": "greedy"}}))
	overBudget(h.do(t, h.analyst, `query($in: PostReceiptInput!) { previewReceipt(input: $in) { total } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": ann.ID.String(), "amount": "10.00", "allocation": obj{"policy": "greedy"}}}))
	overBudget(h.do(t, h.admin, `mutation($in: TransferInput!) { transferIncome(input: $in) { receipt { id } } }`,
		obj{"in": obj{"guarantorId": ann.GuarantorID.String(), "policy": "greedy"}}))
	require.Equal(t, before, rowCounts(t, h.db), "nothing written")

	d := h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "greedy"}})
	id := str(t, d, "startRun.run.id")
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"), "the run goes on")
	require.EqualValues(t, 1, at(t, d, "run.familiesFailed"))
	require.EqualValues(t, 1, at(t, d, "run.familiesChanged"))
	failed := familyOf(t, d, ann.GuarantorID)
	require.Equal(t, "FAILED", failed["status"])
	require.Contains(t, failed["reason"], "the plan went over its string budget: stages[0].match")
	require.Equal(t, "CHANGED", familyOf(t, d, bob.GuarantorID)["status"])
	require.Equal(t, "0.00", chargeOwed(t, h, bobLine))
}

// With a plan timeout already spent, every plan stops at once with
// RULE_BUDGET_EXCEEDED (budget time): previews, a document's examples, a
// run's family. Requests that plan nothing are served as usual.
func TestPlanTimeout(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	f.Ledger = ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithPlanTimeout(0))
	h := serve(t, db, f)
	biller := issueKey(t, f, ledger.RoleBiller)
	pat := f.Family(t, "Pat")[0]
	f.Visit(t, pat, "2026-05-01", "40.00")
	f.Pay(t, pat, "40.00", ledgertest.Unallocated("40.00"))

	overTime := func(r response, path string) {
		t.Helper()
		e := requireCode(t, r, "RULE_BUDGET_EXCEEDED")
		require.Equal(t, "time", e.Extensions["budget"], r.Raw)
		require.Equal(t, path, e.Extensions["path"], r.Raw)
		require.Contains(t, e.Message, "planning took longer than the plan timeout of 0s", r.Raw)
	}
	overTime(h.do(t, h.analyst, `query($in: TransferInput!) { previewTransfer(input: $in) { total } }`,
		obj{"in": obj{"guarantorId": pat.GuarantorID.String()}}), "")
	overTime(h.do(t, h.analyst, `query($in: PostReceiptInput!) { previewReceipt(input: $in) { total } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "10.00", "allocation": obj{"policy": "fifo"}}}), "")
	overTime(h.do(t, h.analyst, validateDoc, obj{"doc": bombDoc("true")}), "examples[0]")
	h.ok(t, h.analyst, validateDoc, obj{"doc": "name: quick\nstages: [{name: s, match: 'true'}]\n"}) // no examples, no plan

	d := h.ok(t, biller, balanceFamilyDoc, obj{"in": obj{"guarantorId": pat.GuarantorID.String(), "method": "INCOME_TRANSFER", "note": "x"}})
	require.Equal(t, "COMPLETED", str(t, d, "balanceFamily.run.status"))
	require.Equal(t, "FAILED", str(t, d, "balanceFamily.family.status"))
	require.Contains(t, str(t, d, "balanceFamily.family.reason"), "the plan went over its time budget")
	require.Empty(t, list(t, d, "balanceFamily.family.receipts"))
}
