package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// Patient credits, batches and runs through the real handler
// (credits.graphqls; docs/allocation.md §3.3, §3.6, §4).

// forcedOn is a split paying a charge more than it owes, leaving a credit.
func forcedOn(amount string, c ledger.Charge) ledger.NewSplit {
	s := ledgertest.On(amount, c)
	s.Force = true
	return s
}

// waitRun follows a run until it ends.
func waitRun(t *testing.T, f *ledgertest.Practice, id string) {
	t.Helper()
	rid, err := ledger.ParseID(id)
	require.NoError(t, err)
	ch, err := f.Ledger.WatchRun(t.Context(), f.Actor, rid)
	require.NoError(t, err)
	var last ledger.Run
	for r := range ch {
		last = r
	}
	require.True(t, last.Status.Final(), "the watch ended with the run %s", last.Status)
}

// creditRows counts what the credit operations write, besides rowCounts'
// tables.
func creditRows(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	out := rowCounts(t, db)
	for _, tbl := range []string{"runs", "run_families", "reallocations"} {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM `+tbl))
		out[tbl] = n
	}
	return out
}

func chargeOwed(t *testing.T, h *harness, c ledger.Charge) string {
	t.Helper()
	d := h.ok(t, h.analyst, `query($id: ID!) { charge(id: $id) { owed } }`, obj{"id": c.ID.String()})
	return str(t, d, "charge.owed")
}

const reapplyDoc = `mutation($in: ReapplyCreditInput!) { reapplyCredit(input: $in) {
  plan { operation total policy { name } splits { amount code charge { id } patient { id } } }
  receipt { id kind amount note batch { id name open } splits { amount code charge { id owed } patient { id } } }
} }`

const previewReapplyDoc = `query($in: ReapplyCreditInput!) { previewReapplyCredit(input: $in) {
  operation total policy { name } splits { amount code charge { id } patient { id } }
} }`

// splitsByCode sums a receipt's or plan's splits per code and line.
func splitsByCode(t *testing.T, v any, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range list(t, v, path) {
		ch, _ := at(t, s, "charge").(map[string]any)
		key := str(t, s, "code")
		if ch != nil {
			key += " " + ch["id"].(string)
		}
		sum := ledger.MustMoney(str(t, s, "amount"))
		if prev, ok := out[key]; ok {
			sum = sum.Add(ledger.MustMoney(prev))
		}
		out[key] = sum.String()
	}
	return out
}

// TestReapplyCreditFlows walks re-apply patient credit (docs/allocation.md
// §4.1): a credit on one line is re-applied
// to a line of the same encounter, another encounter, another patient of the
// guarantor, a patient of another guarantor named explicitly (refused when
// not named), and force-applied onto a line that owes nothing; whatever is
// not placed stays on the source line. Every preview is exactly what the
// commit posts.
func TestReapplyCreditFlows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	gus := f.Family(t, "Gus", "Kit")
	sue := f.Family(t, "Sue")[0] // Gus's spouse, her own guarantor
	enc1 := f.Visit(t, gus[0], "2026-03-01", "50.00", "20.00")
	enc2 := f.Visit(t, gus[0], "2026-03-05", "10.00")[0]
	paid := f.Visit(t, gus[0], "2026-03-07", "5.00")[0]
	kit := f.Visit(t, gus[1], "2026-03-10", "15.00")[0]
	sueLine := f.Visit(t, sue, "2026-03-12", "25.00")[0]
	f.Pay(t, gus[0], "150.00", forcedOn("150.00", enc1[0])) // 100.00 of credit on the first line
	f.Pay(t, gus[0], "5.00", ledgertest.On("5.00", paid))
	// The two families' balances, and their sum.
	familyBalances := func() (string, string, string) {
		d := h.ok(t, h.analyst, `query($a: ID!, $b: ID!) { a: guarantor(id: $a) { balance } b: guarantor(id: $b) { balance } }`,
			obj{"a": gus[0].GuarantorID.String(), "b": sue.GuarantorID.String()})
		a, b := str(t, d, "a.balance"), str(t, d, "b.balance")
		return a, b, ledger.MustMoney(a).Add(ledger.MustMoney(b)).String()
	}
	gusWas, sueWas, sumWas := familyBalances()

	// The screen: the patient's lines with a patient balance, and the credit.
	const candidates = `query($in: ReapplyCandidatesInput!) { reapplyCandidates(input: $in) {
	  guarantor { id } asOf
	  lines { charge { id } patient { id } encounter { id } owed insuranceBalance }
	  credits { id amount encounter { id } place { kind charge { id } patient { id } } }
	} }`
	lineIDs := func(d map[string]any) []string {
		var out []string
		for _, l := range list(t, d, "reapplyCandidates.lines") {
			out = append(out, str(t, l, "charge.id"))
		}
		return out
	}
	d := h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String()}})
	require.Equal(t, gus[0].GuarantorID.String(), str(t, d, "reapplyCandidates.guarantor.id"))
	require.Equal(t, []string{enc1[1].ID.String(), enc2.ID.String()}, lineIDs(d))
	credits := list(t, d, "reapplyCandidates.credits")
	require.Len(t, credits, 1)
	source := str(t, credits[0], "id")
	require.Equal(t, enc1[0].ID.String(), source)
	requireMoney(t, "100.00", credits[0], "amount")
	require.Equal(t, "CHARGE", str(t, credits[0], "place.kind"))
	require.Equal(t, enc1[0].EncounterID.String(), str(t, credits[0], "encounter.id"))

	d = h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String(), "sameGuarantor": true}})
	require.Equal(t, []string{enc1[1].ID.String(), enc2.ID.String(), kit.ID.String()}, lineIDs(d))
	d = h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String(), "additionalPatientIds": []string{sue.ID.String()}}})
	require.Contains(t, lineIDs(d), sueLine.ID.String())
	require.NotContains(t, lineIDs(d), kit.ID.String())
	d = h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String(), "show": "NO_BALANCE"}})
	require.Equal(t, []string{paid.ID.String()}, lineIDs(d))
	d = h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String(), "show": "ALL"}})
	require.Equal(t, []string{enc1[0].ID.String(), enc1[1].ID.String(), enc2.ID.String(), paid.ID.String()}, lineIDs(d))
	d = h.ok(t, h.analyst, candidates, obj{"in": obj{"patientId": gus[0].ID.String(), "show": "INSURANCE_BALANCE_ONLY"}})
	require.Empty(t, lineIDs(d))

	// reapply previews, then posts, and checks what it posted.
	reapply := func(t *testing.T, in obj, moved string, target ledger.Charge) map[string]any {
		t.Helper()
		before := creditRows(t, h.db)
		p := h.ok(t, h.analyst, previewReapplyDoc, obj{"in": in})
		require.Equal(t, before, creditRows(t, h.db), "a preview writes nothing")
		d := h.ok(t, issueKey(t, f, ledger.RoleBiller), reapplyDoc, obj{"in": in})
		require.Equal(t, at(t, p, "previewReapplyCredit"), at(t, d, "reapplyCredit.plan"), "the preview is what was posted")
		require.Equal(t, "REAPPLY", str(t, d, "reapplyCredit.plan.operation"))
		require.Equal(t, "CREDIT_REAPPLY", str(t, d, "reapplyCredit.receipt.kind"))
		requireMoney(t, "0.00", d, "reapplyCredit.receipt.amount")
		require.Equal(t, map[string]string{"PD " + enc1[0].ID.String(): "-" + moved, "PCA " + target.ID.String(): moved},
			splitsByCode(t, d, "reapplyCredit.receipt.splits"), "a PD split where the credit was, a PCA split where it went")
		require.Equal(t, splitsByCode(t, d, "reapplyCredit.plan.splits"), splitsByCode(t, d, "reapplyCredit.receipt.splits"))
		return d
	}
	// The same encounter: the line gets what it owes, the rest stays.
	d = reapply(t, obj{"patientId": gus[0].ID.String(), "sources": []string{source}, "targets": []any{obj{"chargeId": enc1[1].ID.String()}},
		"note": "same encounter"}, "20.00", enc1[1])
	require.Equal(t, "same-guarantor", str(t, d, "reapplyCredit.plan.policy.name"))
	require.Equal(t, "same encounter", str(t, d, "reapplyCredit.receipt.note"))
	require.Equal(t, "0.00", chargeOwed(t, h, enc1[1]))
	require.Equal(t, "-80.00", chargeOwed(t, h, enc1[0]), "the credit not placed stays on its line")

	// Another encounter of the patient.
	reapply(t, obj{"patientId": gus[0].ID.String(), "sources": []string{source}, "targets": []any{obj{"chargeId": enc2.ID.String()}}}, "10.00", enc2)
	require.Equal(t, "0.00", chargeOwed(t, h, enc2))

	// Another patient of the guarantor, a part of what the line owes.
	reapply(t, obj{"patientId": gus[0].ID.String(), "sources": []string{source},
		"targets": []any{obj{"chargeId": kit.ID.String(), "amount": "12.00"}}}, "12.00", kit)
	require.Equal(t, "3.00", chargeOwed(t, h, kit))

	// A patient of another guarantor: refused unless named.
	toSue := obj{"patientId": gus[0].ID.String(), "sources": []string{source}, "targets": []any{obj{"chargeId": sueLine.ID.String()}}}
	before := creditRows(t, h.db)
	e, _ := h.fail(t, h.admin, reapplyDoc, obj{"in": toSue})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "targets[0].chargeId", e.field())
	require.Contains(t, e.Message, "additionalPatientIds")
	require.Equal(t, before, creditRows(t, h.db))
	d = reapply(t, with(toSue, "additionalPatientIds", []string{sue.ID.String()}), "25.00", sueLine)
	require.Equal(t, "additional-patient", str(t, d, "reapplyCredit.plan.policy.name"))
	require.Equal(t, "0.00", chargeOwed(t, h, sueLine))

	require.Equal(t, "-33.00", chargeOwed(t, h, enc1[0]), "what was not placed stays on the source")

	// 25.00 moved between the families; none appeared or vanished.
	gusNow, sueNow, sumNow := familyBalances()
	require.Equal(t, ledger.MustMoney(gusWas).Add(ledger.MustMoney("25.00")).String(), gusNow)
	require.Equal(t, ledger.MustMoney(sueWas).Sub(ledger.MustMoney("25.00")).String(), sueNow)
	require.Equal(t, sumWas, sumNow)

	// An idempotent replay returns the receipt first posted.
	in := obj{"patientId": gus[0].ID.String(), "sources": []string{source}, "targets": []any{obj{"chargeId": kit.ID.String()}},
		"idempotencyKey": "kit-rest"}
	first := h.ok(t, h.admin, reapplyDoc, obj{"in": in})
	again := h.ok(t, h.admin, reapplyDoc, obj{"in": in})
	require.Equal(t, str(t, first, "reapplyCredit.receipt.id"), str(t, again, "reapplyCredit.receipt.id"))
	require.Equal(t, "0.00", chargeOwed(t, h, kit))
	require.Equal(t, "-30.00", chargeOwed(t, h, enc1[0]))
}

// TestReapplyForceApply (force apply, docs/allocation.md §4.1 step 5): a
// credit moves onto a line
// that owes nothing only with force, and the line then carries it; the
// preview is what the commit posts.
func TestReapplyForceApply(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Flo")[0]
	credit := f.Visit(t, pat, "2026-03-01", "50.00")[0]
	paid := f.Visit(t, pat, "2026-03-07", "5.00")[0]
	f.Pay(t, pat, "80.00", forcedOn("80.00", credit)) // 30.00 of credit
	f.Pay(t, pat, "5.00", ledgertest.On("5.00", paid))
	in := obj{"patientId": pat.ID.String(), "sources": []string{credit.ID.String()},
		"targets": []any{obj{"chargeId": paid.ID.String(), "amount": "10.00"}}}
	before := creditRows(t, h.db)
	e, _ := h.fail(t, h.admin, reapplyDoc, obj{"in": in})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "targets[0].amount", e.field())
	e, _ = h.fail(t, h.admin, reapplyDoc, obj{"in": with(in, "targets", []any{obj{"chargeId": paid.ID.String()}})})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "targets", e.field())
	require.Contains(t, e.Message, "force")
	require.Equal(t, before, creditRows(t, h.db))

	forced := with(in, "force", true)
	p := h.ok(t, h.analyst, previewReapplyDoc, obj{"in": forced})
	d := h.ok(t, h.admin, reapplyDoc, obj{"in": forced})
	require.Equal(t, at(t, p, "previewReapplyCredit"), at(t, d, "reapplyCredit.plan"))
	require.Equal(t, map[string]string{"PD " + credit.ID.String(): "-10.00", "PCA " + paid.ID.String(): "10.00"},
		splitsByCode(t, d, "reapplyCredit.receipt.splits"))
	require.Equal(t, "-10.00", chargeOwed(t, h, paid), "the forced line carries the credit")
	require.Equal(t, "-20.00", chargeOwed(t, h, credit), "the rest stays on the source")
}

// TestBatches: an ADMIN opens and closes batches; receipts show their
// batch; a closed batch takes no receipt; a practice may require a batch for
// every posting.
func TestBatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	pat := f.Family(t, "Bat")[0]
	lines := f.Visit(t, pat, "2026-04-01", "40.00", "30.00")
	f.Pay(t, pat, "70.00", forcedOn("70.00", lines[0])) // 30.00 of credit
	const openDoc = `mutation($in: OpenBatchInput!) { openBatch(input: $in) { batch { id name openedOn open closedAt } } }`
	const closeDoc = `mutation($in: CloseBatchInput!) { closeBatch(input: $in) { batch { id open closedAt } } }`
	const settingsDoc = `mutation($in: UpdateBatchSettingsInput!) { updateBatchSettings(input: $in) { practice { requireBatch } } }`

	requireCode(t, h.do(t, biller, openDoc, obj{"in": obj{"name": "June"}}), "FORBIDDEN")
	d := h.ok(t, h.admin, openDoc, obj{"in": obj{"name": "June", "openedOn": "2026-06-01"}})
	june := str(t, d, "openBatch.batch.id")
	require.Equal(t, true, at(t, d, "openBatch.batch.open"))
	require.Nil(t, at(t, d, "openBatch.batch.closedAt"))
	require.Equal(t, "2026-06-01", str(t, d, "openBatch.batch.openedOn"))
	d = h.ok(t, h.admin, openDoc, obj{"in": obj{"name": "Deposit 2"}})
	deposit := str(t, d, "openBatch.batch.id")
	require.Equal(t, "2026-06-15", str(t, d, "openBatch.batch.openedOn"), "default today")

	// A re-apply into the batch shows it on the receipt.
	in := obj{"patientId": pat.ID.String(), "sources": []string{lines[0].ID.String()},
		"targets": []any{obj{"chargeId": lines[1].ID.String(), "amount": "10.00"}}, "batchId": june}
	d = h.ok(t, biller, reapplyDoc, obj{"in": in})
	require.Equal(t, june, str(t, d, "reapplyCredit.receipt.batch.id"))
	require.Equal(t, "June", str(t, d, "reapplyCredit.receipt.batch.name"))
	d = h.ok(t, h.analyst, `query($b: ID!) { receipts(filter: {batchId: $b}) { totalCount edges { node { kind batch { id open } } } } }`, obj{"b": june})
	require.EqualValues(t, 1, at(t, d, "receipts.totalCount"))
	require.Equal(t, "CREDIT_REAPPLY", str(t, d, "receipts.edges.0.node.kind"))

	// Listing, newest first, by pages, and filtered.
	d = h.ok(t, h.analyst, `{ batches(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`, nil)
	require.EqualValues(t, 2, at(t, d, "batches.totalCount"))
	require.Equal(t, []string{deposit}, ids(t, d, "batches.edges"))
	require.Equal(t, true, at(t, d, "batches.pageInfo.hasNextPage"))
	d = h.ok(t, h.analyst, `query($after: String) { batches(first: 1, after: $after) { pageInfo { hasNextPage } edges { node { id } } } }`,
		obj{"after": at(t, d, "batches.pageInfo.endCursor")})
	require.Equal(t, []string{june}, ids(t, d, "batches.edges"))
	require.Equal(t, false, at(t, d, "batches.pageInfo.hasNextPage"))

	// Closed: it says so, and takes nothing more.
	requireCode(t, h.do(t, biller, closeDoc, obj{"in": obj{"batchId": june}}), "FORBIDDEN")
	d = h.ok(t, h.admin, closeDoc, obj{"in": obj{"batchId": june}})
	require.Equal(t, false, at(t, d, "closeBatch.batch.open"))
	require.NotNil(t, at(t, d, "closeBatch.batch.closedAt"))
	requireCode(t, h.do(t, h.admin, closeDoc, obj{"in": obj{"batchId": june}}), "CONFLICT")
	d = h.ok(t, h.analyst, `{ open: batches(filter: {open: true}) { edges { node { id } } } closed: batches(filter: {open: false}) { edges { node { id } } } }`, nil)
	require.Equal(t, []string{deposit}, ids(t, d, "open.edges"))
	require.Equal(t, []string{june}, ids(t, d, "closed.edges"))
	before := creditRows(t, h.db)
	for _, tc := range []struct {
		query string
		in    obj
	}{
		{reapplyDoc, in},
		{mutationDoc("postReceipt"), obj{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "5.00",
			"splits": []any{obj{"amount": "5.00"}}, "batchId": june}},
	} {
		e, r := h.fail(t, biller, tc.query, obj{"in": tc.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, "batchId", e.field(), r.Raw)
		require.Contains(t, e.Message, "closed")
	}
	require.Equal(t, before, creditRows(t, h.db), "nothing posts into a closed batch")

	// Requiring a batch: a posting without one is refused; with one it posts.
	requireCode(t, h.do(t, biller, settingsDoc, obj{"in": obj{"requireBatch": true}}), "FORBIDDEN")
	d = h.ok(t, h.admin, settingsDoc, obj{"in": obj{"requireBatch": true}})
	require.Equal(t, true, at(t, d, "updateBatchSettings.practice.requireBatch"))
	noBatch := with(in, "batchId", absent)
	before = creditRows(t, h.db)
	for _, tc := range []struct {
		query string
		in    obj
	}{
		{reapplyDoc, noBatch},
		{mutationDoc("postReceipt"), obj{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "5.00", "splits": []any{obj{"amount": "5.00"}}}},
	} {
		e, r := h.fail(t, biller, tc.query, obj{"in": tc.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, "batchId", e.field(), r.Raw)
	}
	require.Equal(t, before, creditRows(t, h.db))
	d = h.ok(t, biller, reapplyDoc, obj{"in": with(in, "batchId", deposit)})
	require.Equal(t, deposit, str(t, d, "reapplyCredit.receipt.batch.id"))
	d = h.ok(t, h.admin, settingsDoc, obj{"in": obj{"requireBatch": false}})
	require.Equal(t, false, at(t, d, "updateBatchSettings.practice.requireBatch"))
	h.ok(t, biller, reapplyDoc, obj{"in": noBatch})
}

const runFields = `id kind method scope preview status note policy { name version } asOf allFamilies guarantorIds
  familiesTotal familiesDone familiesChanged familiesSkipped familiesFailed receiptCount
  creditsFound amountMoved creditsLeft cancelRequested attempts error createdAt finishedAt`

const runDoc = `query($id: ID!) { run(id: $id) { ` + runFields + `
  families(first: 50) { totalCount edges { node {
    guarantor { id } status creditsFound amountMoved creditsLeft reason
    receipts { id kind note receivedOn splits { amount code charge { id } } }
    plans { operation total splits { amount code charge { id } } }
    payments { receipt { id amount receivedOn } kind receivedOn amount unallocated action toProduction toUnearned
      resplitReceipt { id kind amount receivedOn reallocates { id } } }
  } } }
} }`

const startRunDoc = `mutation($in: StartRunInput!) { startRun(input: $in) { run { ` + runFields + ` } } }`

// familyOf returns the family result of guarantor g in run data d.
func familyOf(t *testing.T, d map[string]any, g ledger.ID) map[string]any {
	t.Helper()
	for _, e := range list(t, d, "run.families.edges") {
		if str(t, e, "node.guarantor.id") == g.String() {
			return at(t, e, "node").(map[string]any)
		}
	}
	t.Fatalf("no family %s in the run", g)
	return nil
}

// TestCreditManagementRun: credit management needs a note; a preview
// reports what it would move and posts nothing; the commit posts one
// CREDIT_REAPPLY receipt per family with the note, never across guarantors;
// a second run proposes nothing.
func TestCreditManagementRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	a := f.Family(t, "Gus", "Kit")
	gusLine := f.Visit(t, a[0], "2026-03-01", "50.00")[0]
	gusOther := f.Visit(t, a[0], "2026-03-05", "10.00")[0]
	kitLine := f.Visit(t, a[1], "2026-03-10", "15.00")[0]
	f.Pay(t, a[0], "90.00", forcedOn("90.00", gusLine)) // 40.00 of credit
	c := f.Family(t, "Cat")                             // owes, holds nothing
	catLine := f.Visit(t, c[0], "2026-03-01", "30.00")[0]

	before := creditRows(t, h.db)
	e, r := h.fail(t, biller, startRunDoc, obj{"in": obj{"kind": "CREDIT_MANAGEMENT"}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
	require.Equal(t, "note", e.field())
	require.Equal(t, before, creditRows(t, h.db))

	// Preview.
	d := h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "preview": true, "note": "monthly"}})
	id := str(t, d, "startRun.run.id")
	require.Equal(t, "CREDIT_MANAGEMENT", str(t, d, "startRun.run.kind"))
	require.Equal(t, "GUARANTOR", str(t, d, "startRun.run.scope"))
	require.Nil(t, at(t, d, "startRun.run.method"))
	require.Equal(t, true, at(t, d, "startRun.run.allFamilies"))
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"))
	require.Equal(t, true, at(t, d, "run.preview"))
	require.Equal(t, "monthly", str(t, d, "run.note"))
	require.Equal(t, "same-guarantor", str(t, d, "run.policy.name"))
	require.EqualValues(t, 2, at(t, d, "run.familiesTotal"))
	require.EqualValues(t, 2, at(t, d, "run.familiesDone"))
	require.EqualValues(t, 1, at(t, d, "run.familiesChanged"))
	require.EqualValues(t, 0, at(t, d, "run.receiptCount"))
	requireMoney(t, "40.00", d, "run.creditsFound")
	requireMoney(t, "25.00", d, "run.amountMoved")
	requireMoney(t, "15.00", d, "run.creditsLeft")
	require.EqualValues(t, 2, at(t, d, "run.families.totalCount"))
	fam := familyOf(t, d, a[0].GuarantorID)
	require.Equal(t, "CHANGED", fam["status"])
	require.Empty(t, fam["receipts"])
	plans := list(t, fam, "plans")
	require.Len(t, plans, 1)
	require.Equal(t, "CREDIT_MANAGEMENT", str(t, plans[0], "operation"))
	require.Equal(t, map[string]string{"PD " + gusLine.ID.String(): "-25.00", "PCA " + gusOther.ID.String(): "10.00", "PCA " + kitLine.ID.String(): "15.00"},
		splitsByCode(t, plans[0], "splits"))
	cat := familyOf(t, d, c[0].GuarantorID)
	require.Equal(t, "UNCHANGED", cat["status"])
	require.Equal(t, "no credit to re-apply", cat["reason"])
	require.Equal(t, "-40.00", chargeOwed(t, h, gusLine), "a preview posts nothing")

	// Commit.
	d = h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "note": "monthly"}})
	id = str(t, d, "startRun.run.id")
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"), at(t, d, "run.error"))
	require.EqualValues(t, 1, at(t, d, "run.receiptCount"))
	requireMoney(t, "25.00", d, "run.amountMoved")
	fam = familyOf(t, d, a[0].GuarantorID)
	receipts := list(t, fam, "receipts")
	require.Len(t, receipts, 1)
	require.Equal(t, "CREDIT_REAPPLY", str(t, receipts[0], "kind"))
	require.Equal(t, "monthly", str(t, receipts[0], "note"))
	require.Equal(t, splitsByCode(t, plans[0], "splits"), splitsByCode(t, receipts[0], "splits"), "the commit posts what the preview showed")
	require.Empty(t, fam["plans"])
	require.Equal(t, "-15.00", chargeOwed(t, h, gusLine))
	require.Equal(t, "0.00", chargeOwed(t, h, kitLine))
	require.Equal(t, "30.00", chargeOwed(t, h, catLine), "never across guarantors")

	// Again: nothing to propose.
	d = h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "note": "monthly"}})
	again := str(t, d, "startRun.run.id")
	waitRun(t, f, again)
	d = h.ok(t, h.analyst, runDoc, obj{"id": again})
	require.EqualValues(t, 0, at(t, d, "run.familiesChanged"))
	require.EqualValues(t, 0, at(t, d, "run.receiptCount"))
	requireMoney(t, "0.00", d, "run.amountMoved")

	// The runs, newest first; a finished run can be neither cancelled nor resumed.
	d = h.ok(t, h.analyst, `{ runs(filter: {kind: CREDIT_MANAGEMENT, status: COMPLETED}) { totalCount edges { node { id } } } }`, nil)
	require.EqualValues(t, 3, at(t, d, "runs.totalCount"))
	require.Equal(t, again, ids(t, d, "runs.edges")[0])
	d = h.ok(t, h.analyst, `{ runs(filter: {kind: BALANCE}) { totalCount } }`, nil)
	require.EqualValues(t, 0, at(t, d, "runs.totalCount"))
	requireCode(t, h.do(t, biller, `mutation($id: ID!) { cancelRun(input: {runId: $id}) { run { id } } }`, obj{"id": again}), "CONFLICT")
	requireCode(t, h.do(t, biller, `mutation($id: ID!) { resumeRun(input: {runId: $id}) { run { id } } }`, obj{"id": again}), "CONFLICT")
	requireCode(t, h.do(t, h.analyst, startRunDoc, obj{"in": obj{"kind": "CREDIT_MANAGEMENT", "note": "x"}}), "FORBIDDEN")
}

const balanceFamilyDoc = `mutation($in: BalanceFamilyInput!) { balanceFamily(input: $in) {
  run { id kind method preview status allFamilies familiesTotal receiptCount }
  family { guarantor { id } status reason creditsFound amountMoved creditsLeft
    receipts { id kind amount splits { amount code charge { id } } }
    plans { operation total splits { amount code } } }
} }`

const transfersDoc = `query($id: ID!) { patient(id: $id) { transfers { receipt { id kind } patient { id } receivedOn amount note } } }`

// TestBalancerIncomeTransfer (docs/allocation.md §3.3, §3.10): balanceFamily
// moves a parent's unallocated payment onto the child's charge with a zero-sum
// TRANSFER receipt; the family's balance does not change; each patient's
// account shows a Txfr row with their net; a second balancing proposes
// nothing. The practice-wide run does the same for every family.
func TestBalancerIncomeTransfer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	ann := f.Family(t, "Ann", "Abe")
	annLine := f.Visit(t, ann[1], "2026-05-01", "40.00")[0]
	f.Pay(t, ann[0], "40.00", ledgertest.Unallocated("40.00"))
	balance := func(g ledger.ID) string {
		d := h.ok(t, h.analyst, `query($id: ID!) { guarantor(id: $id) { balance } }`, obj{"id": g.String()})
		return str(t, d, "guarantor.balance")
	}
	total := balance(ann[0].GuarantorID)
	in := obj{"guarantorId": ann[0].GuarantorID.String(), "method": "INCOME_TRANSFER", "policy": "fifo", "note": "conversion"}

	// Preview.
	before := creditRows(t, h.db)
	d := h.ok(t, biller, balanceFamilyDoc, obj{"in": with(in, "preview", true)})
	require.Equal(t, "COMPLETED", str(t, d, "balanceFamily.run.status"))
	require.Equal(t, true, at(t, d, "balanceFamily.run.preview"))
	require.Equal(t, "CHANGED", str(t, d, "balanceFamily.family.status"))
	require.Empty(t, list(t, d, "balanceFamily.family.receipts"))
	require.Len(t, list(t, d, "balanceFamily.family.plans"), 1)
	requireMoney(t, "40.00", d, "balanceFamily.family.amountMoved")
	require.Equal(t, "40.00", chargeOwed(t, h, annLine))
	after := creditRows(t, h.db)
	require.Equal(t, before["receipts"], after["receipts"], "a preview posts nothing")
	require.Equal(t, before["runs"]+1, after["runs"], "a preview is kept as a run")

	// Commit.
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": in})
	require.Equal(t, "BALANCE", str(t, d, "balanceFamily.run.kind"))
	require.Equal(t, "INCOME_TRANSFER", str(t, d, "balanceFamily.run.method"))
	require.Equal(t, false, at(t, d, "balanceFamily.run.allFamilies"))
	require.EqualValues(t, 1, at(t, d, "balanceFamily.run.familiesTotal"))
	require.EqualValues(t, 1, at(t, d, "balanceFamily.run.receiptCount"))
	receipts := list(t, d, "balanceFamily.family.receipts")
	require.Len(t, receipts, 1)
	require.Equal(t, "TRANSFER", str(t, receipts[0], "kind"))
	requireMoney(t, "0.00", receipts[0], "amount")
	transfer := str(t, receipts[0], "id")
	require.Equal(t, "0.00", chargeOwed(t, h, annLine))
	require.Equal(t, total, balance(ann[0].GuarantorID), "a transfer leaves the family's total alone")

	// The patient accounts' Txfr rows.
	d = h.ok(t, h.analyst, transfersDoc, obj{"id": ann[0].ID.String()})
	rows := list(t, d, "patient.transfers")
	require.Len(t, rows, 1)
	require.Equal(t, transfer, str(t, rows[0], "receipt.id"))
	require.Equal(t, "TRANSFER", str(t, rows[0], "receipt.kind"))
	require.Equal(t, ann[0].ID.String(), str(t, rows[0], "patient.id"))
	requireMoney(t, "-40.00", rows[0], "amount")
	require.Equal(t, "2026-06-15", str(t, rows[0], "receivedOn"))
	require.Equal(t, "conversion", str(t, rows[0], "note"))
	d = h.ok(t, h.analyst, transfersDoc, obj{"id": ann[1].ID.String()})
	rows = list(t, d, "patient.transfers")
	require.Len(t, rows, 1)
	requireMoney(t, "40.00", rows[0], "amount")

	// Again: nothing.
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": in})
	require.Equal(t, "UNCHANGED", str(t, d, "balanceFamily.family.status"))
	require.Empty(t, list(t, d, "balanceFamily.family.receipts"))

	// Practice-wide, as a run: the other families, then nothing.
	bob := f.Family(t, "Bob", "Bea")
	bobLine := f.Visit(t, bob[1], "2026-05-02", "25.00")[0]
	f.Pay(t, bob[0], "25.00", ledgertest.Unallocated("25.00"))
	d = h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo"}})
	id := str(t, d, "startRun.run.id")
	require.Equal(t, "RUNNING", str(t, d, "startRun.run.status"))
	require.Nil(t, at(t, d, "startRun.run.scope"))
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"))
	require.EqualValues(t, 2, at(t, d, "run.familiesTotal"))
	require.EqualValues(t, 1, at(t, d, "run.familiesChanged"))
	require.EqualValues(t, 1, at(t, d, "run.receiptCount"))
	require.Equal(t, "UNCHANGED", familyOf(t, d, ann[0].GuarantorID)["status"])
	require.Equal(t, "0.00", chargeOwed(t, h, bobLine))
	d = h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo"}})
	id = str(t, d, "startRun.run.id")
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.EqualValues(t, 0, at(t, d, "run.familiesChanged"))
	require.EqualValues(t, 0, at(t, d, "run.receiptCount"))
}

// TestBalancerRecreateSplits (docs/allocation.md §3.6): a payment's
// unallocated money is re-split onto production, FIFO, with the excess to
// unearned, by a zero-sum TRANSFER receipt dated with the payment and tied to
// it; the payment keeps its date and amount and the report says so; a second
// run proposes nothing.
func TestBalancerRecreateSplits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	fam := f.Family(t, "Cy", "Cal")
	older := f.Visit(t, fam[1], "2026-03-01", "30.00")[0]
	newer := f.Visit(t, fam[0], "2026-04-01", "15.00")[0]
	on := ledger.MustDate("2026-05-01")
	pay, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &fam[0].ID,
		Amount: ledger.MustMoney("60.00"), ReceivedOn: &on, Splits: []ledger.NewSplit{ledgertest.Unallocated("60.00")}})
	require.NoError(t, err)

	d := h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "RECREATE_SPLITS",
		"guarantorIds": []string{fam[0].GuarantorID.String()}}})
	id := str(t, d, "startRun.run.id")
	require.Equal(t, false, at(t, d, "startRun.run.allFamilies"))
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"), at(t, d, "run.error"))
	require.Equal(t, "RECREATE_SPLITS", str(t, d, "run.method"))
	require.Equal(t, []any{fam[0].GuarantorID.String()}, at(t, d, "run.guarantorIds"))
	require.Equal(t, "fifo", str(t, d, "run.policy.name"))
	node := familyOf(t, d, fam[0].GuarantorID)
	require.Equal(t, "CHANGED", node["status"])
	payments := list(t, node, "payments")
	require.Len(t, payments, 1)
	p := payments[0]
	require.Equal(t, pay.ID.String(), str(t, p, "receipt.id"))
	require.Equal(t, "PATIENT_PAYMENT", str(t, p, "kind"))
	require.Equal(t, "2026-05-01", str(t, p, "receivedOn"), "the original date")
	requireMoney(t, "60.00", p, "amount")
	requireMoney(t, "60.00", p, "unallocated")
	require.Equal(t, "RESPLIT", str(t, p, "action"))
	requireMoney(t, "45.00", p, "toProduction")
	requireMoney(t, "15.00", p, "toUnearned")
	requireMoney(t, "60.00", p, "receipt.amount")
	require.Equal(t, "2026-05-01", str(t, p, "receipt.receivedOn"))
	resplit := at(t, p, "resplitReceipt")
	require.Equal(t, "TRANSFER", str(t, resplit, "kind"))
	requireMoney(t, "0.00", resplit, "amount")
	require.Equal(t, "2026-05-01", str(t, resplit, "receivedOn"), "dated with the payment")
	require.Equal(t, pay.ID.String(), str(t, resplit, "reallocates.id"))
	receipts := list(t, node, "receipts")
	require.Len(t, receipts, 1)
	require.Equal(t, str(t, resplit, "id"), str(t, receipts[0], "id"))
	require.Equal(t, "0.00", chargeOwed(t, h, older))
	require.Equal(t, "0.00", chargeOwed(t, h, newer))

	// The payment lists its re-split; a re-split is not a Txfr row.
	d = h.ok(t, h.analyst, `query($id: ID!) { receipt(id: $id) { amount receivedOn reallocates { id } reallocations { id kind } } }`,
		obj{"id": pay.ID.String()})
	requireMoney(t, "60.00", d, "receipt.amount")
	require.Nil(t, at(t, d, "receipt.reallocates"))
	require.Equal(t, []string{str(t, resplit, "id")}, ids(t, d, "receipt.reallocations"))
	d = h.ok(t, h.analyst, transfersDoc, obj{"id": fam[0].ID.String()})
	require.Empty(t, list(t, d, "patient.transfers"))
	d = h.ok(t, h.analyst, `query($id: ID!) { guarantor(id: $id) { unearned unallocated owed } }`, obj{"id": fam[0].GuarantorID.String()})
	requireMoney(t, "15.00", d, "guarantor.unearned")
	requireMoney(t, "0.00", d, "guarantor.unallocated")
	requireMoney(t, "0.00", d, "guarantor.owed")

	// Again, for the one family: nothing.
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": obj{"guarantorId": fam[0].GuarantorID.String(), "method": "RECREATE_SPLITS"}})
	require.NotEqual(t, "CHANGED", str(t, d, "balanceFamily.family.status"))
	require.Empty(t, list(t, d, "balanceFamily.family.receipts"))
	require.EqualValues(t, 0, at(t, d, "balanceFamily.run.receiptCount"))
}

// TestRunProgressOverWebsocket follows a practice-wide balancer run over a
// real websocket: the stream starts with the run RUNNING, reports families
// done as batches commit, and completes when the run does.
func TestRunProgressOverWebsocket(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	// The run waits after its first batch until the subscription has seen
	// it running, so the stream is seen both mid-run and at the end.
	gate := make(chan struct{})
	var held, release sync.Once
	t.Cleanup(func() { release.Do(func() { close(gate) }) })
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithRunBatch(1),
		ledger.WithRunObserver(func(r ledger.Run) {
			if !r.Status.Final() && r.FamiliesDone == 1 {
				held.Do(func() { <-gate })
			}
		}))
	f := ledgertest.AddPractice(t, l, "Live runs")
	for _, name := range []string{"Ann", "Bob", "Cid"} {
		fam := f.Family(t, name, name+"'s kid")
		f.Visit(t, fam[1], "2026-05-01", "40.00")
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	h := serve(t, db, f)

	d := h.ok(t, h.admin, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo"}})
	id := str(t, d, "startRun.run.id")

	c := connectWS(t, h.srv.URL, transportWS, h.analyst)
	c.subscribe("1", `subscription($id: ID!) { runProgress(id: $id) { id status familiesDone familiesTotal receiptCount } }`, obj{"id": id})
	ev := c.next("1")
	require.Equal(t, id, str(t, ev, "runProgress.id"))
	require.Equal(t, "RUNNING", str(t, ev, "runProgress.status"))
	require.EqualValues(t, 3, at(t, ev, "runProgress.familiesTotal"))
	done := at(t, ev, "runProgress.familiesDone").(float64)
	release.Do(func() { close(gate) })
	for str(t, ev, "runProgress.status") == "RUNNING" {
		ev = c.next("1")
		n := at(t, ev, "runProgress.familiesDone").(float64)
		require.GreaterOrEqual(t, n, done, "progress never goes back")
		done = n
	}
	require.Equal(t, "COMPLETED", str(t, ev, "runProgress.status"))
	require.EqualValues(t, 3, done)
	require.EqualValues(t, 3, at(t, ev, "runProgress.receiptCount"))
	m := c.read()
	require.Equal(t, "complete", m.Type, "the stream ends with the run: %s", m.Payload)
	require.Equal(t, "1", m.ID)

	// An unknown run, and a run of another practice, are NOT_FOUND.
	other := ledgertest.AddPractice(t, l, "Elsewhere")
	notFound := func(c *wsClient, op, runID string) {
		t.Helper()
		c.subscribe(op, `subscription($id: ID!) { runProgress(id: $id) { id } }`, obj{"id": runID})
		m := c.read()
		require.Equal(t, "next", m.Type, "%s", m.Payload)
		var r response
		require.NoError(t, json.Unmarshal(m.Payload, &r))
		require.Len(t, r.Errors, 1, "%s", m.Payload)
		require.Equal(t, "NOT_FOUND", r.Errors[0].code(), "%s", m.Payload)
		require.NotContains(t, string(m.Payload), "Ann")
		m = c.read()
		require.Equal(t, "complete", m.Type, "%s", m.Payload)
	}
	notFound(c, "2", newID())
	notFound(connectWS(t, h.srv.URL, transportWS, issueKey(t, other, ledger.RoleAdmin)), "3", id)
}

// TestTransfersBatched: the Txfr rows of a page of patients load in a fixed
// number of statements, whatever the page size.
func TestTransfersBatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, statements := openCounting(t, ledgertest.NewDBURL(t))
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	f := ledgertest.AddPractice(t, l, "Counted transfers")
	for i := range 24 {
		fam := f.Family(t, fmt.Sprintf("T%02d", i), "Kid")
		f.Visit(t, fam[1], "2026-05-01", "20.00")
		f.Pay(t, fam[0], "20.00", ledgertest.Unallocated("20.00"))
		_, err := l.TransferIncome(ctx, f.Actor, ledger.TransferRequest{GuarantorID: fam[0].GuarantorID, Policy: "fifo"})
		require.NoError(t, err)
	}
	h := serve(t, db, f)
	h.ok(t, h.analyst, `{ __typename }`, nil) // the key's first use records it
	const q = `query($first: Int!) { patients(first: $first) { edges { node { id
	  transfers { amount receivedOn patient { id lastName } receipt { id kind splits { amount patient { id } } } }
	} } } }`
	counts := map[int]int64{}
	for _, n := range []int{4, 16, 48, 4} {
		statements.Store(0)
		d := h.ok(t, h.analyst, q, obj{"first": n})
		counts[n] = statements.Load()
		edges := list(t, d, "patients.edges")
		require.Len(t, edges, n)
		for _, e := range edges {
			rows := list(t, e, "node.transfers")
			require.Len(t, rows, 1)
			require.Equal(t, str(t, e, "node.id"), str(t, rows[0], "patient.id"))
			require.Len(t, list(t, rows[0], "receipt.splits"), 2)
		}
	}
	require.Equal(t, counts[4], counts[16], "%v", counts)
	require.Equal(t, counts[4], counts[48], "%v", counts)
}

// TestCreditsBadInput: each refusal is a stable code naming the field, and
// nothing is written.
func TestCreditsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	fam := f.Family(t, "Gus", "Kid")
	other := f.Family(t, "Spouse")[0]
	l1 := f.Visit(t, fam[0], "2026-03-01", "50.00")[0]
	l2 := f.Visit(t, fam[1], "2026-03-02", "40.00")[0]
	l9 := f.Visit(t, other, "2026-03-03", "70.00")[0]
	f.Pay(t, fam[0], "80.00", forcedOn("80.00", l1)) // 30.00 of credit
	b := ledgertest.AddPractice(t, f.Ledger, "Elsewhere")
	bPat := b.Family(t, "Far")[0]
	foreign := b.Visit(t, bPat, "2026-03-01", "10.00")[0]
	closed, err := f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "Closed"})
	require.NoError(t, err)
	_, err = f.Ledger.CloseBatch(ctx, f.Actor, ledger.BatchClosing{BatchID: closed.ID})
	require.NoError(t, err)

	id := func(v ledger.ID) string { return v.String() }
	src := []string{id(l1.ID)}
	reapply := obj{"patientId": id(fam[0].ID), "sources": src, "targets": []any{obj{"chargeId": id(l2.ID)}}}
	target := func(kv ...any) []any { return []any{with(obj{"chargeId": id(l2.ID)}, kv...)} }
	run := obj{"kind": "CREDIT_MANAGEMENT", "note": "monthly"}
	balance := obj{"guarantorId": id(fam[0].GuarantorID), "method": "INCOME_TRANSFER"}
	const (
		candidatesDoc = `query($in: ReapplyCandidatesInput!) { reapplyCandidates(input: $in) { asOf } }`
		balanceDoc    = `mutation($in: BalanceFamilyInput!) { balanceFamily(input: $in) { run { id } } }`
		openDoc       = `mutation($in: OpenBatchInput!) { openBatch(input: $in) { batch { id } } }`
		closeDoc      = `mutation($in: CloseBatchInput!) { closeBatch(input: $in) { batch { id } } }`
		cancelDoc     = `mutation($in: CancelRunInput!) { cancelRun(input: $in) { run { id } } }`
		resumeDoc     = `mutation($in: ResumeRunInput!) { resumeRun(input: $in) { run { id } } }`
		startDoc      = `mutation($in: StartRunInput!) { startRun(input: $in) { run { id } } }`
	)
	for _, tc := range []struct {
		name, query string
		in          obj
		field       string
	}{
		{"more than the source holds", reapplyDoc, with(reapply, "force", true, "targets", target("amount", "31.00")), "targets"},
		{"more than the line owes without force", reapplyDoc, with(reapply, "targets", target("amount", "40.01")), "targets[0].amount"},
		{"a target in another practice", reapplyDoc, with(reapply, "targets", target("chargeId", id(foreign.ID))), "targets[0].chargeId"},
		{"another guarantor's patient not named", reapplyDoc, with(reapply, "targets", target("chargeId", id(l9.ID))), "targets[0].chargeId"},
		{"an additional patient in another practice", reapplyDoc, with(reapply, "additionalPatientIds", []string{id(bPat.ID)}), "additionalPatientIds[0]"},
		{"a patient in another practice", reapplyDoc, with(reapply, "patientId", id(bPat.ID)), "patientId"},
		{"an unknown credit", reapplyDoc, with(reapply, "sources", []string{"unallocated/nobody//"}), "sources[0]"},
		{"no source", reapplyDoc, with(reapply, "sources", []string{}), "sources"},
		{"no target", reapplyDoc, with(reapply, "targets", []any{}), "targets"},
		{"a zero amount", reapplyDoc, with(reapply, "targets", target("amount", "0.00")), "targets[0].amount"},
		{"three decimals", reapplyDoc, with(reapply, "targets", target("amount", "1.001")), "targets[0].amount"},
		{"a closed batch", reapplyDoc, with(reapply, "batchId", id(closed.ID)), "batchId"},
		{"an unknown batch", reapplyDoc, with(reapply, "batchId", newID()), "batchId"},
		{"an unknown policy", reapplyDoc, with(reapply, "policy", "nope"), "policy"},
		{"a param the policy lacks", reapplyDoc, with(reapply, "params", obj{"nope": "1"}), "params.nope"},
		{"an unknown policy, previewed", previewReapplyDoc, with(reapply, "policy", "nope"), "policy"},
		{"a closed batch, previewed", previewReapplyDoc, with(reapply, "batchId", id(closed.ID)), "batchId"},
		{"a patient in another practice", candidatesDoc, obj{"patientId": id(bPat.ID)}, "patientId"},
		{"missing note", startDoc, with(run, "note", absent), "note"},
		{"blank note", startDoc, with(run, "note", "  "), "note"},
		{"an unknown policy", startDoc, with(run, "policy", "nope"), "policy"},
		{"a closed batch", startDoc, with(run, "batchId", id(closed.ID)), "batchId"},
		{"a family in another practice", startDoc, with(run, "guarantorIds", []string{id(bPat.GuarantorID)}), "guarantorIds[0]"},
		{"a method for credit management", startDoc, with(run, "method", "RECREATE_SPLITS"), "method"},
		{"no method for the balancer", startDoc, obj{"kind": "BALANCE"}, "method"},
		{"a scope for the balancer", startDoc, obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "scope": "PATIENT"}, "scope"},
		{"an unknown policy", balanceDoc, with(balance, "policy", "nope"), "policy"},
		{"a family in another practice", balanceDoc, with(balance, "guarantorId", id(bPat.GuarantorID)), "guarantorId"},
		{"an unknown family", balanceDoc, with(balance, "guarantorId", newID()), "guarantorId"},
		{"an unknown run", cancelDoc, obj{"runId": newID()}, "runId"},
		{"an unknown run", resumeDoc, obj{"runId": newID()}, "runId"},
		{"blank name", openDoc, obj{"name": " "}, "name"},
		{"opened in the future", openDoc, obj{"name": "Later", "openedOn": "2026-06-16"}, "openedOn"},
		{"an unknown batch", closeDoc, obj{"batchId": newID()}, "batchId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := creditRows(t, h.db)
			e, r := h.fail(t, h.admin, tc.query, obj{"in": tc.in})
			require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
			require.Equal(t, tc.field, e.field(), r.Raw)
			for k, v := range r.Data {
				require.Nil(t, v, "%s: no partial data: %s", k, r.Raw)
			}
			require.Equal(t, before, creditRows(t, h.db), "a refused request writes nothing")
		})
	}
	for _, q := range []struct{ query, field string }{
		{`{ runs(first: 501) { totalCount } }`, "first"},
		{`{ batches(after: "nope") { totalCount } }`, "after"},
	} {
		e, r := h.fail(t, h.analyst, q.query, nil)
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, q.field, e.field(), r.Raw)
	}
	// The base inputs are valid: each does what it says.
	d := h.ok(t, h.admin, reapplyDoc, obj{"in": reapply})
	require.Equal(t, "CREDIT_REAPPLY", str(t, d, "reapplyCredit.receipt.kind"))
	requireCode(t, h.do(t, h.admin, `query($id: ID!) { run(id: $id) { id } }`, obj{"id": newID()}), "NOT_FOUND")
}

// TestRunCancelResume: cancelRun stops a run after the batch it is
// committing (that batch stays committed); resumeRun does the rest once.
func TestRunCancelResume(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	// The run waits after its first batch, so the cancel lands mid-run.
	gate := make(chan struct{})
	var held, release sync.Once
	t.Cleanup(func() { release.Do(func() { close(gate) }) })
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithRunBatch(1),
		ledger.WithRunObserver(func(r ledger.Run) {
			if !r.Status.Final() && r.FamiliesDone == 1 {
				held.Do(func() { <-gate })
			}
		}))
	f := ledgertest.AddPractice(t, l, "Cancel and resume")
	var lines []ledger.Charge
	for _, name := range []string{"Ann", "Bob", "Cid"} {
		fam := f.Family(t, name, name+"'s kid")
		lines = append(lines, f.Visit(t, fam[1], "2026-05-01", "40.00")[0])
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	h := serve(t, db, f)
	biller := issueKey(t, f, ledger.RoleBiller)

	d := h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo"}})
	id := str(t, d, "startRun.run.id")
	requireCode(t, h.do(t, h.analyst, `mutation($id: ID!) { cancelRun(input: {runId: $id}) { run { id } } }`, obj{"id": id}), "FORBIDDEN")
	d = h.ok(t, biller, `mutation($id: ID!) { cancelRun(input: {runId: $id}) { run { status cancelRequested } } }`, obj{"id": id})
	require.Equal(t, true, at(t, d, "cancelRun.run.cancelRequested"))
	release.Do(func() { close(gate) })
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "CANCELLED", str(t, d, "run.status"))
	require.EqualValues(t, 1, at(t, d, "run.familiesDone"))
	require.EqualValues(t, 1, at(t, d, "run.receiptCount"))
	require.EqualValues(t, 1, at(t, d, "run.families.totalCount"))

	d = h.ok(t, biller, `mutation($id: ID!) { resumeRun(input: {runId: $id}) { run { status attempts } } }`, obj{"id": id})
	require.Equal(t, "RUNNING", str(t, d, "resumeRun.run.status"))
	require.EqualValues(t, 2, at(t, d, "resumeRun.run.attempts"))
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, runDoc, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"))
	require.EqualValues(t, 3, at(t, d, "run.familiesDone"))
	require.EqualValues(t, 3, at(t, d, "run.receiptCount"))
	for _, c := range lines {
		require.Equal(t, "0.00", chargeOwed(t, h, c))
	}
	d = h.ok(t, h.analyst, `query($id: ID!) { run(id: $id) { families(filter: {status: CHANGED}, first: 2) {
	  totalCount pageInfo { hasNextPage endCursor } edges { node { guarantor { id } receipts { id } } } } } }`, obj{"id": id})
	require.EqualValues(t, 3, at(t, d, "run.families.totalCount"))
	require.Len(t, list(t, d, "run.families.edges"), 2)
	require.Equal(t, true, at(t, d, "run.families.pageInfo.hasNextPage"))
	d = h.ok(t, h.analyst, `query($id: ID!, $after: String) { run(id: $id) { families(first: 2, after: $after) { edges { node { status } } } } }`,
		obj{"id": id, "after": at(t, d, "run.families.pageInfo.endCursor")})
	require.Len(t, list(t, d, "run.families.edges"), 1)
}

// TestBalancerTransferDate (issue 18): a balancer run given a transferDate
// dates every transfer it posts that day, by either method (a re-split is
// no longer dated with its payment), plans as of it, and records it; a
// rerun as of the same day proposes nothing. A transfer date in the future,
// one that is not the run's asOf, or one given to credit management is
// BAD_USER_INPUT on transferDate, and nothing is written.
func TestBalancerTransferDate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, ledger.RoleBiller)
	const on = "2026-05-20" // the conversion day; the clock says 2026-06-15
	unbalanced := func(name string) (ledger.Patient, ledger.Charge) {
		fam := f.Family(t, name, name+" kid")
		line := f.Visit(t, fam[1], "2026-03-01", "40.00")[0]
		f.Receive(t, ledger.ReceiptPatientPayment, &fam[0], "40.00", "2026-04-01", ledgertest.Unallocated("40.00"))
		return fam[0], line
	}
	it, itLine := unbalanced("Ito")
	rs, rsLine := unbalanced("Rex")

	before := creditRows(t, h.db)
	for _, c := range []struct {
		doc string
		in  obj
	}{
		{startRunDoc, obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "transferDate": "2026-06-16"}},
		{startRunDoc, obj{"kind": "BALANCE", "method": "RECREATE_SPLITS", "transferDate": on, "asOf": "2026-05-21"}},
		{startRunDoc, obj{"kind": "CREDIT_MANAGEMENT", "note": "x", "transferDate": on}},
		{balanceFamilyDoc, obj{"guarantorId": it.GuarantorID.String(), "method": "RECREATE_SPLITS", "transferDate": "2026-06-16"}},
		{balanceFamilyDoc, obj{"guarantorId": it.GuarantorID.String(), "method": "INCOME_TRANSFER", "transferDate": on, "asOf": "2026-05-01"}},
	} {
		e, r := h.fail(t, biller, c.doc, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, "transferDate", e.field(), r.Raw)
	}
	require.Equal(t, before, creditRows(t, h.db), "a refused run writes nothing")

	// INCOME_TRANSFER as a run, RECREATE_SPLITS for one family; asOf may
	// be given as the same day.
	d := h.ok(t, biller, startRunDoc, obj{"in": obj{"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo", "transferDate": on,
		"guarantorIds": []string{it.GuarantorID.String()}}})
	id := str(t, d, "startRun.run.id")
	waitRun(t, f, id)
	d = h.ok(t, h.analyst, `query($id: ID!) { run(id: $id) { status asOf transferDate families(first: 5) { edges { node {
		status receipts { kind amount receivedOn } } } } } }`, obj{"id": id})
	require.Equal(t, "COMPLETED", str(t, d, "run.status"))
	require.Equal(t, on, str(t, d, "run.asOf"))
	require.Equal(t, on, str(t, d, "run.transferDate"))
	receipts := list(t, list(t, d, "run.families.edges")[0], "node.receipts")
	require.Len(t, receipts, 1)
	require.Equal(t, on, str(t, receipts[0], "receivedOn"))
	require.Equal(t, "0.00", chargeOwed(t, h, itLine))

	in := obj{"guarantorId": rs.GuarantorID.String(), "method": "RECREATE_SPLITS", "transferDate": on, "asOf": on}
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": in})
	require.Equal(t, "CHANGED", str(t, d, "balanceFamily.family.status"), at(t, d, "balanceFamily.family.reason"))
	rid := str(t, list(t, d, "balanceFamily.family.receipts")[0], "id")
	d = h.ok(t, h.analyst, `query($id: ID!) { receipt(id: $id) { kind receivedOn reallocates { receivedOn } } }`, obj{"id": rid})
	require.Equal(t, on, str(t, d, "receipt.receivedOn"), "the re-split is dated the transfer date")
	require.Equal(t, "2026-04-01", str(t, d, "receipt.reallocates.receivedOn"), "the payment keeps its date")
	require.Equal(t, "0.00", chargeOwed(t, h, rsLine))

	// Reruns as of the same day propose nothing.
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": in})
	require.Equal(t, "UNCHANGED", str(t, d, "balanceFamily.family.status"))
	d = h.ok(t, biller, balanceFamilyDoc, obj{"in": obj{"guarantorId": it.GuarantorID.String(), "method": "INCOME_TRANSFER", "policy": "fifo",
		"transferDate": on}})
	require.Equal(t, "UNCHANGED", str(t, d, "balanceFamily.family.status"))
}
