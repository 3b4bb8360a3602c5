package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

const balanceDoc = `mutation($in: BalanceFamilyInput!) { balanceFamily(input: $in) { family { status creditsFound amountMoved creditsLeft reason } } }`

// TestRunReportsAreHonest (issue 17): a family's report says what its
// receipts moved and the credit balances count before and after. A family
// is CHANGED exactly when money moved; a family one method balanced is
// UNCHANGED when the other method runs after it (not FAILED, and no
// credit left that the family does not hold).
func TestRunReportsAreHonest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	d := ledger.MustDate("2026-03-10")
	pay := func(p ledger.Patient, kind ledger.ReceiptKind, amount string) {
		_, err := f.Ledger.PostReceipt(context.Background(), f.Actor, ledger.NewReceipt{Kind: kind, PatientID: &p.ID,
			Amount: ledger.MustMoney(amount), ReceivedOn: &d, Splits: []ledger.NewSplit{ledgertest.Unallocated(amount)}})
		require.NoError(t, err)
	}
	balance := func(g ledger.ID, method string) map[string]any {
		return at(t, h.ok(t, h.admin, balanceDoc, obj{"in": obj{"guarantorId": g.String(), "method": method, "note": "balance"}}), "balanceFamily.family").(map[string]any)
	}
	report := func(fam map[string]any, status, found, moved, left string) {
		t.Helper()
		require.Equal(t, status, fam["status"], fam)
		requireMoney(t, found, fam, "creditsFound")
		requireMoney(t, moved, fam, "amountMoved")
		requireMoney(t, left, fam, "creditsLeft")
	}

	// A payment, a refund and a line: the income transfer balances it; the
	// recreate-splits method after it finds nothing to do.
	a := f.Family(t, "Again")[0]
	f.Visit(t, a, "2026-03-01", "100.00")
	pay(a, ledger.ReceiptPatientPayment, "60.00")
	pay(a, ledger.ReceiptRefund, "-20.00")
	report(balance(a.GuarantorID, "INCOME_TRANSFER"), "CHANGED", "40.00", "40.00", "0.00")
	fam := balance(a.GuarantorID, "RECREATE_SPLITS")
	report(fam, "UNCHANGED", "0.00", "0.00", "0.00")
	require.Equal(t, "nothing left to re-split", fam["reason"])

	// The other way round: recreate, then income transfer.
	b := f.Family(t, "Other way")[0]
	f.Visit(t, b, "2026-03-01", "100.00")
	pay(b, ledger.ReceiptPatientPayment, "100.00")
	report(balance(b.GuarantorID, "RECREATE_SPLITS"), "CHANGED", "100.00", "100.00", "0.00")
	report(balance(b.GuarantorID, "INCOME_TRANSFER"), "UNCHANGED", "0.00", "0.00", "0.00")
	report(balance(b.GuarantorID, "RECREATE_SPLITS"), "UNCHANGED", "0.00", "0.00", "0.00")

	// Money with nowhere to go is parked on unearned: it moved (CHANGED,
	// 500.00 moved) and is still the family's credit (500.00 left).
	c := f.Family(t, "Parked")[0]
	pay(c, ledger.ReceiptPatientPayment, "500.00")
	report(balance(c.GuarantorID, "INCOME_TRANSFER"), "CHANGED", "500.00", "500.00", "500.00")
	report(balance(c.GuarantorID, "INCOME_TRANSFER"), "UNCHANGED", "500.00", "0.00", "500.00")
	d2 := h.ok(t, h.analyst, `query($g: ID!) { guarantor(id: $g) { credit } }`, obj{"g": c.GuarantorID.String()})
	requireMoney(t, "500.00", d2, "guarantor.credit")
}

// TestCreditManagementSpend (issue 17): a credit-management run spends
// overpaid lines and unallocated money by default, keeps prepayments unless
// their type is named, and leaves a line a force apply made overpaid alone
// unless asked. A type of another practice is a coded error that writes
// nothing.
func TestCreditManagementSpend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Keep")[0]
	f.Visit(t, pat, "2026-03-01", "100.00")
	paid := f.Visit(t, pat, "2026-02-01", "40.00")[0]
	f.Pay(t, pat, "40.00", ledgertest.On("40.00", paid))
	f.Pay(t, pat, "50.00", ledgertest.Unearned("50.00", f.Prepayment))
	f.Pay(t, pat, "30.00", ledgertest.Unallocated("30.00"))
	// Force apply the 30.00 onto the paid line: it now carries the credit.
	cands, err := f.Ledger.ReapplyCandidates(ctx, f.Actor, ledger.CandidateQuery{PatientID: pat.ID})
	require.NoError(t, err)
	var src string
	for _, c := range cands.Credits {
		if c.Place.Kind == ledger.PlaceUnallocated {
			src = c.ID
		}
	}
	_, err = f.Ledger.ReapplyCredit(ctx, f.Actor, ledger.ReapplyRequest{PatientID: pat.ID, Sources: []string{src},
		Targets: []ledger.ReapplyTarget{{ChargeID: paid.ID}}, Force: true, Note: "on purpose"})
	require.NoError(t, err)

	run := func(spend obj) map[string]any {
		in := obj{"kind": "CREDIT_MANAGEMENT", "preview": true, "note": "monthly", "guarantorIds": []any{pat.GuarantorID.String()}}
		if spend != nil {
			in["spend"] = spend
		}
		id := str(t, h.ok(t, h.admin, `mutation($in: StartRunInput!) { startRun(input: $in) { run { id } } }`, obj{"in": in}), "startRun.run.id")
		waitRun(t, f, id)
		d := h.ok(t, h.analyst, `query($id: ID!) { run(id: $id) { status families { edges { node { status creditsFound amountMoved creditsLeft reason } } } } }`, obj{"id": id})
		require.Equal(t, "COMPLETED", str(t, d, "run.status"))
		return at(t, d, "run.families.edges.0.node").(map[string]any)
	}
	fam := run(nil)
	require.Equal(t, "UNCHANGED", fam["status"], fam)
	requireMoney(t, "0.00", fam, "creditsFound")
	fam = run(obj{"unearnedTypeIds": []any{f.Prepayment.String()}})
	require.Equal(t, "CHANGED", fam["status"], fam)
	requireMoney(t, "50.00", fam, "amountMoved")
	fam = run(obj{"unearnedTypeIds": []any{f.Prepayment.String()}, "forcedLines": true})
	require.Equal(t, "CHANGED", fam["status"], fam)
	requireMoney(t, "80.00", fam, "amountMoved")
	requireMoney(t, "0.00", fam, "creditsLeft")

	b := ledgertest.AddPractice(t, f.Ledger, "Other Practice")
	before := rowCounts(t, h.db)
	e, r := h.fail(t, h.admin, `mutation($in: StartRunInput!) { startRun(input: $in) { run { id } } }`, obj{"in": obj{
		"kind": "CREDIT_MANAGEMENT", "note": "monthly", "spend": obj{"unearnedTypeIds": []any{b.Prepayment.String()}}}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
	require.Equal(t, "spend.unearnedTypeIds[0]", e.field())
	require.Equal(t, before, rowCounts(t, h.db))
	e, _ = h.fail(t, h.admin, `mutation($in: StartRunInput!) { startRun(input: $in) { run { id } } }`, obj{"in": obj{
		"kind": "BALANCE", "method": "INCOME_TRANSFER", "spend": obj{"lineCredits": false}}})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "spend", e.field())
}
