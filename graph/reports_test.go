package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/demo"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

const netUnearnedQuery = `query($in: NetUnearnedInput) { netUnearned(input: $in) {
  asOf visibility total visible hidden
  byType { unearnedType { name hidden } amount }
  families { guarantor { id name unearned hiddenUnearned } total visible hidden
    patients { patient { id firstName } total visible hidden
      lines { unearnedType { name } hidden provider { name } location { name } amount } } }
} }`

// TestNetUnearnedReport runs the Net Unearned Income report through the
// handler on the aging scenario: treatment-plan prepayments appear (hidden),
// a family's parts match its balances and the practice's visible total
// matches aging's unearned credit.
func TestNetUnearnedReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := ledgertest.BuildAging(t, h.f)
	d := h.ok(t, h.analyst, netUnearnedQuery, nil)
	r := at(t, d, "netUnearned")
	require.Equal(t, "2026-06-15", str(t, r, "asOf"))
	require.Equal(t, "ALL", str(t, r, "visibility"))
	requireMoney(t, "50.00", r, "total")
	requireMoney(t, "10.00", r, "visible")
	requireMoney(t, "40.00", r, "hidden")
	fams := list(t, r, "families")
	require.Len(t, fams, 1)
	requireMoney(t, str(t, fams[0], "guarantor.unearned"), fams[0], "visible")
	requireMoney(t, str(t, fams[0], "guarantor.hiddenUnearned"), fams[0], "hidden")
	require.Equal(t, s.Kid.ID.String(), str(t, fams[0], "patients.0.patient.id"))
	lines := list(t, fams[0], "patients.0.lines")
	require.Len(t, lines, 2)
	require.Equal(t, "TP_PREPAYMENT", str(t, lines[1], "unearnedType.name"))
	require.Equal(t, true, at(t, lines[1], "hidden"))
	require.Nil(t, at(t, lines[1], "provider"))
	requireMoney(t, "40.00", lines[1], "amount")

	ag := h.ok(t, h.analyst, `{ aging(input: {groupBy: PRACTICE, first: 0}) { summary { unearned } } }`, nil)
	requireMoney(t, str(t, r, "visible"), ag, "aging.summary.unearned")

	d = h.ok(t, h.analyst, netUnearnedQuery, obj{"in": obj{"visibility": "VISIBLE", "guarantorId": s.Pat.GuarantorID.String()}})
	requireMoney(t, "10.00", d, "netUnearned.total")
	d = h.ok(t, h.analyst, netUnearnedQuery, obj{"in": obj{"asOf": "2026-06-11"}})
	require.Empty(t, list(t, d, "netUnearned.families"))
	requireMoney(t, "0.00", d, "netUnearned.total")
}

// TestNetUnearnedBadInput: a date in the future, ids the practice does not
// have (another practice's among them) and an unknown visibility are coded
// errors naming the field.
func TestNetUnearnedBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	other := ledgertest.AddPractice(t, h.f.Ledger, "Other")
	og := other.Family(t, "Else")[0]
	for _, c := range []struct {
		name, field string
		in          obj
	}{
		{"future asOf", "asOf", obj{"asOf": "2026-06-16"}},
		{"far future asOf", "asOf", obj{"asOf": "2199-01-01"}},
		{"other practice's guarantor", "guarantorId", obj{"guarantorId": og.GuarantorID.String()}},
		{"unknown provider", "providerId", obj{"providerId": newID()}},
		{"other practice's location", "locationId", obj{"locationId": other.Location.String()}},
		{"other practice's unearned type", "unearnedTypeId", obj{"unearnedTypeId": other.TPPrepay.String()}},
	} {
		e, _ := h.fail(t, h.analyst, netUnearnedQuery, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), c.name)
		require.Equal(t, c.field, e.field(), c.name)
	}
	r := h.do(t, h.analyst, netUnearnedQuery, obj{"in": obj{"visibility": "SOME"}})
	require.NotEmpty(t, r.Errors)
	require.Equal(t, "GRAPHQL_VALIDATION_FAILED", r.Errors[0].code(), r.Raw)
}

const (
	billDoc = `mutation($in: ResponsibilityInput!) { billToPatient(input: $in) {
  charges { id owed insurancePending billedToPatientOn } } }`
	unbillDoc = `mutation($in: ResponsibilityInput!) { billToInsurance(input: $in) {
  charges { id owed insurancePending billedToPatientOn } } }`
	respAging = `query($asOf: Date) { aging(input: {asOf: $asOf, basis: RESPONSIBILITY_DATE, groupBy: PRACTICE}) {
  summary { buckets total insurancePortion patientPortion } } }`
)

// TestBillToPatient moves a line's pending estimate to the patient and
// back through the handler: the charge, the family's balance and aging by
// responsibility date follow (as of dates before the move, they do not);
// the moves are audited; billing twice, or back twice, is CONFLICT; a line
// with nothing pending is BAD_USER_INPUT; an encounter moves every line
// that has something pending.
func TestBillToPatient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	p := f.Family(t, "Bill")[0]
	d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { id charges { id } } } }`,
		obj{"in": obj{"patientId": p.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(), "serviceFrom": "2026-05-01",
			"charges": []any{obj{"code": "D2740", "amount": "100.00", "insuranceEstimate": "80.00"}, obj{"code": "D0120", "amount": "50.00"}}}})
	enc := str(t, d, "postEncounter.encounter.id")
	crown, exam := str(t, d, "postEncounter.encounter.charges.0.id"), str(t, d, "postEncounter.encounter.charges.1.id")
	balance := func() string {
		return str(t, h.ok(t, h.analyst, `query($g: ID!) { guarantor(id: $g) { balance } }`, obj{"g": p.GuarantorID.String()}), "guarantor.balance")
	}
	require.Equal(t, "70.00", balance())
	ag := h.ok(t, h.analyst, respAging, nil)
	requireMoney(t, "80.00", ag, "aging.summary.insurancePortion")
	require.Equal(t, []any{"0.00", "150.00", "0.00", "0.00", "0.00"}, at(t, ag, "aging.summary.buckets"))

	d = h.ok(t, h.admin, billDoc, obj{"in": obj{"chargeId": crown, "on": "2026-06-10", "note": "insurance denied"}})
	c := at(t, d, "billToPatient.charges.0")
	requireMoney(t, "100.00", c, "owed")
	requireMoney(t, "0.00", c, "insurancePending")
	require.Equal(t, "2026-06-10", str(t, c, "billedToPatientOn"))
	require.Equal(t, "150.00", balance())
	ag = h.ok(t, h.analyst, respAging, nil)
	requireMoney(t, "0.00", ag, "aging.summary.insurancePortion")
	require.Equal(t, []any{"100.00", "50.00", "0.00", "0.00", "0.00"}, at(t, ag, "aging.summary.buckets"), "the crown ages from the day it was billed")
	requireMoney(t, "80.00", h.ok(t, h.analyst, respAging, obj{"asOf": "2026-06-09"}), "aging.summary.insurancePortion")
	ev := h.ok(t, h.admin, `{ auditEvents(filter: {operation: "billToPatient"}) { totalCount edges { node { createdIds } } } }`, nil)
	require.EqualValues(t, 1, at(t, ev, "auditEvents.totalCount"))

	before := rowCounts(t, h.db)
	for _, c := range []struct {
		doc, code, field string
		in               obj
	}{
		{billDoc, "CONFLICT", "", obj{"chargeId": crown}},
		{billDoc, "BAD_USER_INPUT", "chargeId", obj{"chargeId": exam}},
		{billDoc, "BAD_USER_INPUT", "chargeId", obj{}},
		{billDoc, "BAD_USER_INPUT", "chargeId", obj{"chargeId": crown, "encounterId": enc}},
		{billDoc, "BAD_USER_INPUT", "on", obj{"encounterId": enc, "on": "2026-06-16"}},
		{billDoc, "BAD_USER_INPUT", "chargeId", obj{"chargeId": newID()}},
		{billDoc, "BAD_USER_INPUT", "note", obj{"chargeId": crown, "note": "a\x00b"}},
		{unbillDoc, "BAD_USER_INPUT", "on", obj{"chargeId": crown, "on": "2026-06-09"}},
		{unbillDoc, "CONFLICT", "", obj{"chargeId": exam}},
	} {
		e, r := h.fail(t, h.admin, c.doc, obj{"in": c.in})
		require.Equal(t, c.code, e.code(), "%v: %s", c.in, r.Raw)
		if c.field != "" {
			require.Equal(t, c.field, e.field(), "%v: %s", c.in, r.Raw)
		}
	}
	require.Equal(t, before, rowCounts(t, h.db), "refusals write nothing")
	e, _ := h.fail(t, h.analyst, billDoc, obj{"in": obj{"chargeId": crown}})
	require.Equal(t, "FORBIDDEN", e.code())

	d = h.ok(t, h.admin, unbillDoc, obj{"in": obj{"chargeId": crown}})
	c = at(t, d, "billToInsurance.charges.0")
	requireMoney(t, "20.00", c, "owed")
	requireMoney(t, "80.00", c, "insurancePending")
	require.Nil(t, at(t, c, "billedToPatientOn"))
	require.Equal(t, "70.00", balance())
	e, _ = h.fail(t, h.admin, unbillDoc, obj{"in": obj{"chargeId": crown}})
	require.Equal(t, "CONFLICT", e.code())

	d = h.ok(t, h.admin, billDoc, obj{"in": obj{"encounterId": enc, "idempotencyKey": "bill-enc"}})
	require.Len(t, list(t, d, "billToPatient.charges"), 2)
	require.Equal(t, "2026-06-15", str(t, d, "billToPatient.charges.0.billedToPatientOn"))
	require.Nil(t, at(t, d, "billToPatient.charges.1.billedToPatientOn"), "the self-pay line had nothing to move")
	before = rowCounts(t, h.db)
	h.ok(t, h.admin, billDoc, obj{"in": obj{"encounterId": enc, "idempotencyKey": "bill-enc"}})
	require.Equal(t, before, rowCounts(t, h.db), "a replay writes nothing")
	require.Equal(t, "150.00", balance())
}

const statementDoc = `query($in: StatementInput!) { statement(input: $in) {
  guarantor { id name balance } patients { firstName } from asOf previousBalance
  items { on kind receiptKind patient { firstName } code description amount moved held charge { id } receipt { id } }
  newBalance insurancePending patientPortion amountDue buckets { label } bucketAmounts unallocated unearned held
} }`

// TestStatement: the Smith family's statement for June on the aging
// scenario (docs/reports.md's worked example): 330.00 owed at the end of
// May, an insurance payment, a payment on nothing and a prepayment partly
// held for a treatment plan, 245.00 at the end — the family's balance — with
// aging's buckets; a balance-forward superbill prints as PREV BAL.
func TestStatement(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := ledgertest.BuildAging(t, h.f)
	d := h.ok(t, h.analyst, statementDoc, obj{"in": obj{"guarantorId": s.Pat.GuarantorID.String(), "from": "2026-06-01"}})
	st := at(t, d, "statement")
	require.Equal(t, "2026-06-15", str(t, st, "asOf"))
	require.Len(t, list(t, st, "patients"), 2)
	requireMoney(t, "330.00", st, "previousBalance")
	items := list(t, st, "items")
	require.Len(t, items, 3)
	want := []struct{ on, kind, amount, held, words string }{
		{"2026-06-01", "INSURANCE_PAYMENT", "-50.00", "0.00", "Insurance payment"},
		{"2026-06-10", "PATIENT_PAYMENT", "-25.00", "0.00", "Payment — thank you"},
		{"2026-06-12", "PATIENT_PAYMENT", "-10.00", "40.00", "Payment — thank you (40.00 held as a treatment-plan prepayment)"},
	}
	for i, w := range want {
		require.Equal(t, w.on, str(t, items[i], "on"))
		require.Equal(t, "RECEIPT", str(t, items[i], "kind"))
		require.Equal(t, w.kind, str(t, items[i], "receiptKind"))
		requireMoney(t, w.amount, items[i], "amount")
		requireMoney(t, w.held, items[i], "held")
		require.Equal(t, w.words, str(t, items[i], "description"))
	}
	requireMoney(t, "245.00", st, "newBalance")
	requireMoney(t, str(t, st, "guarantor.balance"), st, "newBalance")
	requireMoney(t, "0.00", st, "insurancePending")
	requireMoney(t, "245.00", st, "amountDue")
	require.Equal(t, []any{"0.00", "0.00", "180.00", "0.00", "65.00"}, at(t, st, "bucketAmounts"))
	requireMoney(t, "25.00", st, "unallocated")
	requireMoney(t, "10.00", st, "unearned")
	requireMoney(t, "40.00", st, "held")

	// May: the charges of April and May, the pending estimate apart.
	d = h.ok(t, h.analyst, statementDoc, obj{"in": obj{"guarantorId": s.Pat.GuarantorID.String(), "from": "2026-04-01", "asOf": "2026-05-31"}})
	st = at(t, d, "statement")
	requireMoney(t, "100.00", st, "previousBalance")
	require.Equal(t, []string{"Procedure D2391", "Procedure D2740", "Payment — thank you"},
		[]string{str(t, st, "items.0.description"), str(t, st, "items.1.description"), str(t, st, "items.2.description")})
	requireMoney(t, "330.00", st, "newBalance")
	requireMoney(t, "60.00", st, "insurancePending")
	requireMoney(t, "270.00", st, "amountDue")

	// A balance carried over from a prior system, as a superbill.
	h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { id } } }`,
		obj{"in": obj{"patientId": s.Solo.ID.String(), "providerId": h.f.Provider.String(), "locationId": h.f.Location.String(),
			"serviceFrom": "2026-06-05", "kind": "BALANCE_FORWARD", "charges": []any{obj{"code": "BF", "amount": "120.00"}}}})
	d = h.ok(t, h.analyst, statementDoc, obj{"in": obj{"guarantorId": s.Solo.GuarantorID.String()}})
	st = at(t, d, "statement")
	require.Equal(t, "2026-06-01", str(t, st, "from"))
	requireMoney(t, "3.00", st, "previousBalance")
	require.Equal(t, "PREVIOUS_BALANCE", str(t, st, "items.0.kind"))
	require.Equal(t, "PREV BAL", str(t, st, "items.0.code"))
	requireMoney(t, "123.00", st, "newBalance")
}

// TestStatementBadInput: a period that ends before it starts, a date in the
// future, another practice's guarantor: coded errors naming the field.
func TestStatementBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	g := h.f.Family(t, "Here")[0].GuarantorID.String()
	other := ledgertest.AddPractice(t, h.f.Ledger, "Other").Family(t, "There")[0].GuarantorID.String()
	for _, c := range []struct {
		field string
		in    obj
	}{
		{"from", obj{"guarantorId": g, "from": "2026-06-10", "asOf": "2026-06-01"}},
		{"asOf", obj{"guarantorId": g, "asOf": "2199-12-31"}},
		{"guarantorId", obj{"guarantorId": other}},
		{"guarantorId", obj{"guarantorId": newID()}},
	} {
		e, r := h.fail(t, h.analyst, statementDoc, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, c.field, e.field(), r.Raw)
	}
}

const statementRunDoc = `mutation($in: StatementRunInput!) { runStatements(input: $in) {
  id asOf note preview amountDue
  statements { guarantor { id name lastStatement { asOf } } from asOf previousBalance newBalance insurancePending amountDue change lastStatedOn }
} }`

// TestStatementRun states the aging scenario's families: a preview records
// nothing; a run states the families that owe (Smith and Solo, not the
// family in credit) and records when; a second run says what changed; a
// filter on the last billed date leaves them out; bad input is refused.
func TestStatementRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := ledgertest.BuildAging(t, h.f)
	biller := issueKey(t, h.f, "BILLER")
	smith, solo := s.Pat.GuarantorID.String(), s.Solo.GuarantorID.String()
	byFamily := func(d map[string]any) map[string]any {
		out := map[string]any{}
		for _, st := range list(t, d, "runStatements.statements") {
			out[str(t, st, "guarantor.id")] = st
		}
		return out
	}

	before := rowCounts(t, h.db)
	d := h.ok(t, h.admin, statementRunDoc, obj{"in": obj{"preview": true}})
	require.Nil(t, at(t, d, "runStatements.id"))
	require.Equal(t, before, rowCounts(t, h.db), "a preview records nothing")
	fams := byFamily(d)
	require.Len(t, fams, 2)
	require.Equal(t, "NEW", str(t, fams[smith], "change"))

	d = h.ok(t, h.admin, statementRunDoc, obj{"in": obj{"note": "June statements", "idempotencyKey": "june"}})
	runID := str(t, d, "runStatements.id")
	requireMoney(t, "248.00", d, "runStatements.amountDue")
	fams = byFamily(d)
	require.Equal(t, "2026-06-01", str(t, fams[smith], "from"))
	requireMoney(t, "330.00", fams[smith], "previousBalance")
	requireMoney(t, "245.00", fams[smith], "newBalance")
	requireMoney(t, "3.00", fams[solo], "amountDue")
	require.Equal(t, "2026-06-15", str(t, fams[smith], "guarantor.lastStatement.asOf"))
	require.Nil(t, at(t, fams[smith], "lastStatedOn"))
	counts := rowCounts(t, h.db)
	require.Equal(t, before["statements"]+2, counts["statements"])
	h.ok(t, h.admin, statementRunDoc, obj{"in": obj{"note": "June statements", "idempotencyKey": "june"}})
	require.Equal(t, counts, rowCounts(t, h.db), "a replay states nobody twice")

	back := h.ok(t, h.analyst, `query($id: ID!) { statementRun(id: $id) { id note statements { guarantor { id } amountDue } amountDue } }`, obj{"id": runID})
	requireMoney(t, "248.00", back, "statementRun.amountDue")
	require.Equal(t, "June statements", str(t, back, "statementRun.note"))

	// Kid pays 20.00: the second run says Smith changed and Solo did not.
	s.Receive(t, "PATIENT_PAYMENT", &s.Kid, "20.00", "2026-06-15", ledgertest.On("20.00", s.C3))
	d = h.ok(t, h.admin, statementRunDoc, obj{"in": obj{}})
	fams = byFamily(d)
	require.Equal(t, "CHANGED", str(t, fams[smith], "change"))
	require.Equal(t, "2026-06-15", str(t, fams[smith], "lastStatedOn"))
	requireMoney(t, "225.00", fams[smith], "newBalance")
	require.Equal(t, "UNCHANGED", str(t, fams[solo], "change"))
	d = h.ok(t, h.admin, statementRunDoc, obj{"in": obj{"notBilledSince": "2026-06-15"}})
	require.Empty(t, list(t, d, "runStatements.statements"), "every family was billed on 2026-06-15")

	other := ledgertest.AddPractice(t, h.f.Ledger, "Other")
	before = rowCounts(t, h.db)
	for _, c := range []struct {
		field string
		in    obj
	}{
		{"asOf", obj{"asOf": "2026-07-01"}},
		{"minAgeDays", obj{"minAgeDays": -1}},
		{"providerId", obj{"providerId": other.Provider.String()}},
		{"guarantorIds[1]", obj{"guarantorIds": []any{smith, newID()}}},
		{"note", obj{"note": "a\x1bb"}},
	} {
		e, r := h.fail(t, biller, statementRunDoc, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
		require.Equal(t, c.field, e.field(), r.Raw)
	}
	e, _ := h.fail(t, h.analyst, statementRunDoc, obj{"in": obj{"preview": true}})
	require.Equal(t, "FORBIDDEN", e.code())
	require.Equal(t, before, rowCounts(t, h.db), "refusals write nothing")
}

// TestStatementDemoSmith: the demo family Smith's statement tells the
// README's story — John's 250.00 payment sits unapplied while Emma owes
// 330.00 — and a statement run that first applies credits (previewed,
// then done) leaves no credit beside the debt, the balances unchanged.
func TestStatementDemoSmith(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	p, err := demo.Load(context.Background(), l, "Demo")
	require.NoError(t, err)
	h := serve(t, db, &ledgertest.Practice{Ledger: l, Store: l.Store().(*postgres.Store), Actor: ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}})
	var smith string
	for _, e := range list(t, h.ok(t, h.analyst, `{ guarantors(first: 50) { edges { node { id name } } } }`, nil), "guarantors.edges") {
		if strings.Contains(str(t, e, "node.name"), "Smith") {
			smith = str(t, e, "node.id")
		}
	}
	require.NotEmpty(t, smith)
	statement := func() map[string]any {
		d := h.ok(t, h.analyst, statementDoc, obj{"in": obj{"guarantorId": smith, "from": "2025-12-01"}})
		return at(t, d, "statement").(map[string]any)
	}
	st := statement()
	requireMoney(t, "250.00", st, "unallocated")
	requireMoney(t, "350.00", st, "newBalance")
	requireMoney(t, "216.00", st, "insurancePending")
	requireMoney(t, "134.00", st, "amountDue")
	requireMoney(t, str(t, st, "guarantor.balance"), st, "amountDue")
	owedByEmma := ledger.Money{}
	for _, it := range list(t, st, "items") {
		if at(t, it, "patient") != nil && str(t, it, "patient.firstName") == "Emma" {
			owedByEmma = owedByEmma.Add(ledger.MustMoney(str(t, it, "amount")))
		}
	}
	require.Equal(t, "330.00", owedByEmma.String(), "Emma's charges less her payment")

	run := `mutation($in: StatementRunInput!) { runStatements(input: $in) { id amountDue
	  creditRun { id preview status familiesChanged } statements { newBalance amountDue } } }`
	d := h.ok(t, h.admin, run, obj{"in": obj{"guarantorIds": []any{smith}, "applyCredits": true, "preview": true}})
	require.Equal(t, true, at(t, d, "runStatements.creditRun.preview"))
	require.Equal(t, "COMPLETED", str(t, d, "runStatements.creditRun.status"))
	require.EqualValues(t, 1, at(t, d, "runStatements.creditRun.familiesChanged"), "the preview plans Smith's credit")
	requireMoney(t, "250.00", statement(), "unallocated")

	d = h.ok(t, h.admin, run, obj{"in": obj{"guarantorIds": []any{smith}, "applyCredits": true, "note": "June statements"}})
	require.Equal(t, false, at(t, d, "runStatements.creditRun.preview"))
	requireMoney(t, "350.00", d, "runStatements.statements.0.newBalance")
	requireMoney(t, "134.00", d, "runStatements.amountDue")
	st = statement()
	requireMoney(t, "0.00", st, "unallocated")
	requireMoney(t, "350.00", st, "newBalance")
	last := list(t, st, "items")
	require.Equal(t, "Credit of 250.00 applied to your charges", str(t, last[len(last)-1], "description"))
	requireMoney(t, "0.00", last[len(last)-1], "amount")
}
