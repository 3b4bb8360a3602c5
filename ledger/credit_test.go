package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// forced is a split paying a charge more than it owes, leaving a credit.
func forced(amount string, c ledger.Charge) ledger.NewSplit {
	s := ledgertest.On(amount, c)
	s.Force = true
	return s
}

func requireInput(t *testing.T, err error, field string) {
	t.Helper()
	var ie *ledger.InputError
	require.True(t, errors.As(err, &ie), "want an *InputError in %s, got %v", field, err)
	require.Equal(t, field, ie.Field, ie.Message)
}

// TestReapplySameEncounterLeftoverStays: a credit on one line goes to
// another line of the same encounter; what the line does not need stays
// where it was, as PD/PCA splits summing to zero.
func TestReapplySameEncounterLeftoverStays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Gus")[0]
	lines := f.Visit(t, pat, "2026-03-01", "50.00", "20.00")
	f.Pay(t, pat, "80.00", forced("80.00", lines[0]))
	requireMoney(t, "-30.00", owed(t, f, lines[0]))

	cands, err := f.Ledger.ReapplyCandidates(ctx, f.Actor, ledger.CandidateQuery{PatientID: pat.ID})
	require.NoError(t, err)
	require.Len(t, cands.Credits, 1)
	require.Equal(t, lines[0].ID.String(), cands.Credits[0].ID)
	requireMoney(t, "30.00", cands.Credits[0].Amount)
	require.Len(t, cands.Lines, 1)
	require.Equal(t, lines[1].ID, cands.Lines[0].ChargeID)

	req := ledger.ReapplyRequest{PatientID: pat.ID, Sources: []string{cands.Credits[0].ID},
		Targets: []ledger.ReapplyTarget{{ChargeID: lines[1].ID}}}
	plan, err := f.Ledger.PreviewReapply(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Len(t, plan.Splits, 2)
	res, err := f.Ledger.ReapplyCredit(ctx, f.Actor, req)
	require.NoError(t, err)
	require.NotNil(t, res.Receipt)
	require.Equal(t, ledger.ReceiptCreditReapply, res.Receipt.Kind)
	requireSamePlan(t, plan, res.Plan)
	splits, err := f.Store.SplitsOfReceipts(ctx, f.Actor.PracticeID, []ledger.ID{res.Receipt.ID})
	require.NoError(t, err)
	var sum ledger.Money
	codes := map[ledger.SplitCode]ledger.Money{}
	for _, s := range splits {
		sum = sum.Add(s.Amount)
		codes[s.Code] = codes[s.Code].Add(s.Amount)
	}
	requireMoney(t, "0.00", sum)
	requireMoney(t, "-20.00", codes[ledger.CodeDebit])
	requireMoney(t, "20.00", codes[ledger.CodeApplied])
	requireMoney(t, "-10.00", owed(t, f, lines[0]))
	requireMoney(t, "0.00", owed(t, f, lines[1]))
}

func TestReapplyBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	fam := f.Family(t, "Gus", "Kid")
	other := f.Family(t, "Spouse")[0]
	l1 := f.Visit(t, fam[0], "2026-03-01", "50.00")[0]
	l2 := f.Visit(t, fam[1], "2026-03-02", "40.00")[0]
	l9 := f.Visit(t, other, "2026-03-03", "70.00")[0]
	f.Pay(t, fam[0], "80.00", forced("80.00", l1))
	src := []string{l1.ID.String()}
	tenMore := ledger.MustMoney("31.00")  // more than the 30.00 of credit
	overOwed := ledger.MustMoney("45.00") // more than l2's 40.00

	g := ledgertest.AddPractice(t, f.Ledger, "Elsewhere")
	foreign := g.Visit(t, g.Family(t, "Far")[0], "2026-03-01", "10.00")[0]

	var before int
	require.NoError(t, db.Get(&before, `SELECT count(*) FROM receipts`))
	for _, tc := range []struct {
		name  string
		req   ledger.ReapplyRequest
		field string
	}{
		{"more than the source holds", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, Force: true,
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID, Amount: &tenMore}}}, "targets"},
		{"a target in another practice", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: foreign.ID}}}, "targets[0].chargeId"},
		{"another guarantor's patient not named", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: l9.ID}}}, "targets[0].chargeId"},
		{"an unknown credit", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: []string{"unallocated/nobody//"},
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "sources[0]"},
		{"an unknown policy", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, Policy: "nope",
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "policy"},
		{"an unknown batch", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, BatchID: ptr(ledgertest.NewID()),
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "batchId"},
		{"more than the line owes without force", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID, Amount: &overOwed}}}, "targets[0].amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Ledger.ReapplyCredit(ctx, f.Actor, tc.req)
			requireInput(t, err, tc.field)
		})
	}
	var after int
	require.NoError(t, db.Get(&after, `SELECT count(*) FROM receipts`))
	require.Equal(t, before, after)
}

// creditOf finds the credit of kind held by patient p among a screen's
// credits (on charge c, for a line's credit).
func creditOf(t *testing.T, cands ledger.Candidates, kind ledger.PlaceKind, p ledger.Patient, c *ledger.Charge) ledger.Credit {
	t.Helper()
	for _, cr := range cands.Credits {
		if cr.Place.Kind != kind || cr.Place.PatientID == nil || *cr.Place.PatientID != p.ID {
			continue
		}
		if c != nil && (cr.Place.ChargeID == nil || *cr.Place.ChargeID != c.ID) {
			continue
		}
		return cr
	}
	t.Fatalf("no %s credit of %s among %+v", kind, p.FirstName, cands.Credits)
	return ledger.Credit{}
}

func candidates(t *testing.T, f *ledgertest.Practice, q ledger.CandidateQuery) ledger.Candidates {
	t.Helper()
	c, err := f.Ledger.ReapplyCandidates(context.Background(), f.Actor, q)
	require.NoError(t, err)
	return c
}

// splitKey names a posted split by code and place.
type splitKey struct {
	code    ledger.SplitCode
	charge  ledger.ID // zero: none
	patient ledger.ID
	typ     ledger.ID
}

// receiptSplits returns a receipt's splits by code and place, and how
// many splits it has; it requires them to sum to zero.
func receiptSplits(t *testing.T, f *ledgertest.Practice, id ledger.ID) (map[splitKey]string, int) {
	t.Helper()
	splits, err := f.Store.SplitsOfReceipts(context.Background(), f.Actor.PracticeID, []ledger.ID{id})
	require.NoError(t, err)
	out := map[splitKey]string{}
	var sum ledger.Money
	for _, s := range splits {
		k := splitKey{code: s.Code, patient: s.PatientID}
		if s.ChargeID != nil {
			k.charge = *s.ChargeID
		}
		if s.UnearnedTypeID != nil {
			k.typ = *s.UnearnedTypeID
		}
		require.NotContains(t, out, k, "one split per code and place")
		out[k] = s.Amount.String()
		sum = sum.Add(s.Amount)
	}
	requireMoney(t, "0.00", sum, "a CREDIT_REAPPLY receipt sums to 0.00")
	return out, len(splits)
}

// planSplits is receiptSplits for a plan.
func planSplits(p ledger.Plan) map[splitKey]string {
	sums := map[splitKey]ledger.Money{}
	for _, s := range p.Splits {
		k := splitKey{code: s.Code, patient: s.PatientID}
		if s.ChargeID != nil {
			k.charge = *s.ChargeID
		}
		if s.UnearnedTypeID != nil {
			k.typ = *s.UnearnedTypeID
		}
		sums[k] = sums[k].Add(s.Amount)
	}
	out := map[splitKey]string{}
	for k, m := range sums {
		out[k] = m.String()
	}
	return out
}

func pd(c ledger.Charge) splitKey {
	return splitKey{code: ledger.CodeDebit, charge: c.ID, patient: c.PatientID}
}
func pca(c ledger.Charge) splitKey {
	return splitKey{code: ledger.CodeApplied, charge: c.ID, patient: c.PatientID}
}

// TestReapplyFlows (docs/allocation.md §4.1): a credit moved across lines of one
// encounter, to another encounter, to another patient of the guarantor, to
// a named patient of another guarantor, from unallocated and unearned
// money, force-applied onto a line that owes nothing; with and without
// amounts; what is not placed stays where it was. Every commit posts what
// its preview showed: one CREDIT_REAPPLY receipt of 0.00 with a PD split
// where the credit was and a PCA split where it went.
func TestReapplyFlows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	amt := func(s string) *ledger.Money { m := ledger.MustMoney(s); return &m }

	type line struct {
		charge ledger.Charge
		want   string // owed after
	}
	for _, tc := range []struct {
		name string
		// build returns the request (sources filled in from the screen),
		// the lines to check after, and the receipt's splits.
		build func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string)
	}{
		{"another encounter of the patient, leftover stays", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Enc")[0]
			src := f.Visit(t, p, "2026-03-01", "50.00")[0]
			dst := f.Visit(t, p, "2026-04-01", "25.00")[0]
			f.Pay(t, p, "90.00", forced("90.00", src)) // 40.00 of credit
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: p.ID}), ledger.PlaceCharge, p, &src)
			requireMoney(t, "40.00", cr.Amount)
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID}, Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID}}},
				[]line{{src, "-15.00"}, {dst, "0.00"}},
				map[splitKey]string{pd(src): "-25.00", pca(dst): "25.00"}
		}},
		{"another patient of the guarantor", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			fam := f.Family(t, "Par", "Kid")
			src := f.Visit(t, fam[0], "2026-03-01", "50.00")[0]
			dst := f.Visit(t, fam[1], "2026-04-01", "30.00")[0]
			f.Pay(t, fam[0], "80.00", forced("80.00", src))
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: fam[0].ID, SameGuarantor: true}), ledger.PlaceCharge, fam[0], &src)
			return ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: []string{cr.ID}, Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID}}},
				[]line{{src, "0.00"}, {dst, "0.00"}},
				map[splitKey]string{pd(src): "-30.00", pca(dst): "30.00"}
		}},
		{"a named patient of another guarantor", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			me := f.Family(t, "Husband")[0]
			spouse := f.Family(t, "Wife")[0]
			src := f.Visit(t, me, "2026-03-01", "50.00")[0]
			dst := f.Visit(t, spouse, "2026-04-01", "30.00")[0]
			f.Pay(t, me, "70.00", forced("70.00", src))
			cands := candidates(t, f, ledger.CandidateQuery{PatientID: me.ID, AdditionalPatientIDs: []ledger.ID{spouse.ID}})
			require.Len(t, cands.Lines, 1, "the spouse's line is on the screen")
			require.Equal(t, dst.ID, cands.Lines[0].ChargeID)
			cr := creditOf(t, cands, ledger.PlaceCharge, me, &src)
			return ledger.ReapplyRequest{PatientID: me.ID, Sources: []string{cr.ID}, AdditionalPatientIDs: []ledger.ID{spouse.ID},
					Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID}}},
				[]line{{src, "0.00"}, {dst, "10.00"}},
				map[splitKey]string{pd(src): "-20.00", pca(dst): "20.00"}
		}},
		{"from unallocated money", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Loose")[0]
			dst := f.Visit(t, p, "2026-04-01", "30.00")[0]
			f.Pay(t, p, "50.00", ledgertest.Unallocated("50.00"))
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: p.ID}), ledger.PlaceUnallocated, p, nil)
			requireMoney(t, "50.00", cr.Amount)
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID}, Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID}}},
				[]line{{dst, "0.00"}},
				map[splitKey]string{{code: ledger.CodeDebit, patient: p.ID}: "-30.00", pca(dst): "30.00"}
		}},
		{"from unearned money, an amount", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Prepaid")[0]
			dst := f.Visit(t, p, "2026-04-01", "30.00")[0]
			f.Pay(t, p, "50.00", ledgertest.Unearned("50.00", f.Prepayment))
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: p.ID}), ledger.PlaceUnearned, p, nil)
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID}, Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID, Amount: amt("12.50")}}},
				[]line{{dst, "17.50"}},
				map[splitKey]string{{code: ledger.CodeDebit, patient: p.ID, typ: f.Prepayment}: "-12.50", pca(dst): "12.50"}
		}},
		{"force apply onto a line that owes nothing", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Force")[0]
			src := f.Visit(t, p, "2026-03-01", "50.00")[0]
			zero := f.Visit(t, p, "2026-04-01", "20.00")[0]
			f.Pay(t, p, "20.00", ledgertest.On("20.00", zero))
			f.Pay(t, p, "80.00", forced("80.00", src))
			cands := candidates(t, f, ledger.CandidateQuery{PatientID: p.ID, Show: ledger.CandidatesNoBalance})
			require.Len(t, cands.Lines, 1)
			require.Equal(t, zero.ID, cands.Lines[0].ChargeID)
			cr := creditOf(t, cands, ledger.PlaceCharge, p, &src)
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID}, Force: true, Targets: []ledger.ReapplyTarget{{ChargeID: zero.ID}}},
				[]line{{src, "0.00"}, {zero, "-30.00"}},
				map[splitKey]string{pd(src): "-30.00", pca(zero): "30.00"}
		}},
		{"force apply of part of the credit", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Part")[0]
			src := f.Visit(t, p, "2026-03-01", "50.00")[0]
			dst := f.Visit(t, p, "2026-04-01", "5.00")[0]
			f.Pay(t, p, "80.00", forced("80.00", src))
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: p.ID}), ledger.PlaceCharge, p, &src)
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID}, Force: true, Targets: []ledger.ReapplyTarget{{ChargeID: dst.ID, Amount: amt("20.00")}}},
				[]line{{src, "-10.00"}, {dst, "-15.00"}},
				map[splitKey]string{pd(src): "-20.00", pca(dst): "20.00"}
		}},
		{"as much as each owes, in the order given", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			p := f.Family(t, "Order")[0]
			lines := f.Visit(t, p, "2026-03-01", "50.00", "20.00") // the credit's own encounter has a line that owes
			other := f.Visit(t, p, "2026-01-01", "20.00")[0]       // older, on another encounter
			f.Pay(t, p, "80.00", forced("80.00", lines[0]))        // 30.00 of credit
			cr := creditOf(t, candidates(t, f, ledger.CandidateQuery{PatientID: p.ID}), ledger.PlaceCharge, p, &lines[0])
			// The other encounter's line first: it is paid in full, the
			// same encounter's line gets what is left.
			return ledger.ReapplyRequest{PatientID: p.ID, Sources: []string{cr.ID},
					Targets: []ledger.ReapplyTarget{{ChargeID: other.ID}, {ChargeID: lines[1].ID}}},
				[]line{{lines[0], "0.00"}, {other, "0.00"}, {lines[1], "10.00"}},
				map[splitKey]string{pd(lines[0]): "-30.00", pca(other): "20.00", pca(lines[1]): "10.00"}
		}},
		{"two sources, amounts per target", func(t *testing.T) (ledger.ReapplyRequest, []line, map[splitKey]string) {
			fam := f.Family(t, "Two", "Sib")
			a := f.Visit(t, fam[0], "2026-02-01", "10.00")[0]
			b := f.Visit(t, fam[0], "2026-02-02", "10.00")[0]
			x := f.Visit(t, fam[1], "2026-03-01", "40.00")[0]
			y := f.Visit(t, fam[1], "2026-03-02", "40.00")[0]
			f.Pay(t, fam[0], "25.00", forced("25.00", a)) // 15.00
			f.Pay(t, fam[0], "30.00", forced("30.00", b)) // 20.00
			cands := candidates(t, f, ledger.CandidateQuery{PatientID: fam[0].ID, SameGuarantor: true})
			ca, cb := creditOf(t, cands, ledger.PlaceCharge, fam[0], &a), creditOf(t, cands, ledger.PlaceCharge, fam[0], &b)
			return ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: []string{ca.ID, cb.ID},
					Targets: []ledger.ReapplyTarget{{ChargeID: y.ID, Amount: amt("5.00")}, {ChargeID: x.ID}}},
				[]line{{a, "0.00"}, {b, "0.00"}, {x, "10.00"}, {y, "35.00"}},
				map[splitKey]string{pd(a): "-15.00", pd(b): "-20.00", pca(y): "5.00", pca(x): "30.00"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, lines, want := tc.build(t)
			before := map[ledger.ID]ledger.Money{}
			for _, l := range lines {
				g := patientOf(t, f, l.charge.PatientID).GuarantorID
				before[g] = guarantorBalance(t, f, g).Balance
			}
			plan, err := f.Ledger.PreviewReapply(ctx, f.Actor, req)
			require.NoError(t, err)
			require.Equal(t, want, planSplits(plan), "the preview")
			res, err := f.Ledger.ReapplyCredit(ctx, f.Actor, req)
			require.NoError(t, err)
			require.Equal(t, ledger.ReceiptCreditReapply, res.Receipt.Kind)
			requireMoney(t, "0.00", res.Receipt.Amount)
			require.Equal(t, &req.PatientID, res.Receipt.PatientID, "entered on the patient's account")
			requireSamePlan(t, plan, res.Plan)
			got, _ := receiptSplits(t, f, res.Receipt.ID)
			require.Equal(t, want, got, "the receipt posts what the preview showed")
			for _, l := range lines {
				requireMoney(t, l.want, owed(t, f, l.charge), l.charge.ID)
			}
			if len(req.AdditionalPatientIDs) == 0 {
				for g, b := range before {
					requireMoney(t, b.String(), guarantorBalance(t, f, g).Balance, "the family's total is unchanged")
				}
			}
		})
	}
}

func patientOf(t *testing.T, f *ledgertest.Practice, id ledger.ID) ledger.Patient {
	t.Helper()
	ps, err := f.Store.Patients(context.Background(), f.Actor.PracticeID, []ledger.ID{id})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	return ps[0]
}

// TestReapplyCandidatesShow ("Show", docs/allocation.md §4.1 step 1): which
// lines the screen lists for each filter, with and without the guarantor's
// other patients.
func TestReapplyCandidatesShow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Show", "Kid")
	p := fam[0]
	d := ledger.MustDate("2026-03-01")
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: p.ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{
			{Code: "A", Amount: ledger.MustMoney("40.00")},                                                 // the patient owes
			{Code: "B", Amount: ledger.MustMoney("100.00"), InsuranceEstimate: ledger.MustMoney("100.00")}, // insurance only
			{Code: "C", Amount: ledger.MustMoney("100.00"), InsuranceEstimate: ledger.MustMoney("70.00")},  // both
			{Code: "D", Amount: ledger.MustMoney("10.00")},                                                 // paid
			{Code: "E", Amount: ledger.MustMoney("10.00")},                                                 // overpaid
		}})
	require.NoError(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	byCode := map[string]ledger.Charge{}
	for _, c := range cs {
		byCode[c.Code] = c
	}
	f.Pay(t, p, "10.00", ledgertest.On("10.00", byCode["D"]))
	f.Pay(t, p, "25.00", forced("25.00", byCode["E"]))
	kidLine := f.Visit(t, fam[1], "2026-03-02", "15.00")[0]

	codes := func(c ledger.Candidates) []string {
		var out []string
		for _, l := range c.Lines {
			if l.ChargeID == kidLine.ID {
				out = append(out, "kid")
				continue
			}
			for code, ch := range byCode {
				if ch.ID == l.ChargeID {
					out = append(out, code)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		show ledger.CandidateFilter
		same bool
		want []string
	}{
		{"", false, []string{"A", "C"}},
		{ledger.CandidatesPatientBalance, true, []string{"A", "C", "kid"}},
		{ledger.CandidatesInsuranceOnly, false, []string{"B"}},
		{ledger.CandidatesNoBalance, false, []string{"D"}},
		{ledger.CandidatesAll, false, []string{"A", "B", "C", "D", "E"}},
		{ledger.CandidatesAll, true, []string{"A", "B", "C", "D", "E", "kid"}},
	} {
		got := candidates(t, f, ledger.CandidateQuery{PatientID: p.ID, Show: tc.show, SameGuarantor: tc.same})
		require.Equal(t, tc.want, codes(got), "show %q, same guarantor %v", tc.show, tc.same)
		require.Equal(t, p.GuarantorID, got.GuarantorID)
		require.Len(t, got.Credits, 1, "the overpaid line is the family's one credit")
		requireMoney(t, "15.00", got.Credits[0].Amount)
		require.Equal(t, byCode["E"].ID.String(), got.Credits[0].ID)
	}
	all := candidates(t, f, ledger.CandidateQuery{PatientID: p.ID, Show: ledger.CandidatesAll})
	for _, l := range all.Lines {
		switch l.ChargeID {
		case byCode["C"].ID:
			requireMoney(t, "30.00", l.Owed)
			requireMoney(t, "70.00", l.InsuranceBalance)
		case byCode["E"].ID:
			requireMoney(t, "-15.00", l.Owed)
		}
	}
	_, err = f.Ledger.ReapplyCandidates(ctx, f.Actor, ledger.CandidateQuery{PatientID: p.ID, Show: "SOME"})
	requireInput(t, err, "show")
}

// TestReapplyBatchesAndReplay: a re-apply posts into the batch named and
// shows it; a closed batch is refused, and so is no batch where the
// practice requires one; an idempotency key replays the first result, and
// the same key with another input is a conflict.
func TestReapplyBatchesAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	p := f.Family(t, "Bat")[0]
	lines := f.Visit(t, p, "2026-03-01", "50.00", "10.00", "10.00")
	f.Pay(t, p, "80.00", forced("80.00", lines[0])) // 30.00
	src := []string{lines[0].ID.String()}

	june, err := f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "June"})
	require.NoError(t, err)
	_, err = f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "june"})
	requireInput(t, err, "name")
	req := ledger.ReapplyRequest{PatientID: p.ID, Sources: src, Targets: []ledger.ReapplyTarget{{ChargeID: lines[1].ID}},
		BatchID: &june.ID, IdempotencyKey: "reapply-1"}
	res, err := f.Ledger.ReapplyCredit(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Equal(t, &june.ID, res.Receipt.BatchID, "the receipt shows its batch")
	again, err := f.Ledger.ReapplyCredit(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Equal(t, res.Receipt.ID, again.Receipt.ID, "a replay returns the first result")
	requireMoney(t, "-20.00", owed(t, f, lines[0]), "and moves nothing again")
	other := req
	other.Targets = []ledger.ReapplyTarget{{ChargeID: lines[2].ID}}
	_, err = f.Ledger.ReapplyCredit(ctx, f.Actor, other)
	require.ErrorIs(t, err, ledger.ErrConflict)

	closed, err := f.Ledger.CloseBatch(ctx, f.Actor, ledger.BatchClosing{BatchID: june.ID})
	require.NoError(t, err)
	require.NotNil(t, closed.ClosedAt)
	_, err = f.Ledger.CloseBatch(ctx, f.Actor, ledger.BatchClosing{BatchID: june.ID})
	require.ErrorIs(t, err, ledger.ErrConflict)
	other.IdempotencyKey = ""
	_, err = f.Ledger.PreviewReapply(ctx, f.Actor, other)
	requireInput(t, err, "batchId")
	_, err = f.Ledger.ReapplyCredit(ctx, f.Actor, other)
	requireInput(t, err, "batchId")

	_, err = f.Ledger.UpdateBatchSettings(ctx, f.Actor, ledger.BatchSettings{RequireBatch: true})
	require.NoError(t, err)
	other.BatchID = nil
	_, err = f.Ledger.ReapplyCredit(ctx, f.Actor, other)
	requireInput(t, err, "batchId")
	_, err = f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Note: "n"})
	requireInput(t, err, "batchId")
	july, err := f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "July"})
	require.NoError(t, err)
	other.BatchID = &july.ID
	res, err = f.Ledger.ReapplyCredit(ctx, f.Actor, other)
	require.NoError(t, err)
	require.Equal(t, &july.ID, res.Receipt.BatchID)
	requireMoney(t, "-10.00", owed(t, f, lines[0]))

	open := true
	list, err := f.Ledger.Batches(ctx, f.Actor, ledger.BatchFilter{Open: &open}, ledger.Page{First: 10})
	require.NoError(t, err)
	require.Len(t, list.Rows, 1)
	require.Equal(t, july.ID, list.Rows[0].ID)

	// The trigger refuses a receipt into a closed batch even past the service.
	_, err = db.Exec(`INSERT INTO receipts (practice_id, id, kind, amount, received_on, batch_id, posted_at)
		VALUES ($1, $2, 'PATIENT_PAYMENT', 0, '2026-06-15', $3, now())`, f.Actor.PracticeID, ledgertest.NewID(), june.ID)
	require.ErrorContains(t, err, "closed")
}

// TestCreditManagementScopes (docs/allocation.md §4.2): with
// scope GUARANTOR credit goes to the same encounter first, then the same
// patient, then the guarantor's other patients; with PATIENT never between
// patients; never across guarantors. One receipt per family, with the note,
// one PD split per place the credit left and one PCA per line it paid.
func TestCreditManagementScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	type family struct {
		gus, kit                 ledger.Patient
		gL, gSame, gOther, kLine ledger.Charge
	}
	build := func(name string) family {
		ps := f.Family(t, name, name+" Kit")
		var fm family
		fm.gus, fm.kit = ps[0], ps[1]
		fm.kLine = f.Visit(t, fm.kit, "2026-01-15", "15.00")[0] // the oldest line
		fm.gOther = f.Visit(t, fm.gus, "2026-02-01", "10.00")[0]
		e1 := f.Visit(t, fm.gus, "2026-03-01", "50.00", "5.00")
		fm.gL, fm.gSame = e1[0], e1[1]
		f.Pay(t, fm.gus, "90.00", forced("90.00", fm.gL)) // 40.00 of credit
		f.Receive(t, ledger.ReceiptPatientPayment, &fm.kit, "5.00", "2026-03-05", ledgertest.Unallocated("5.00"))
		return fm
	}
	g, p := build("Guar"), build("Pat")
	spouse := f.Family(t, "Spouse")[0]
	sLine := f.Visit(t, spouse, "2026-01-01", "30.00")[0]
	rich := f.Family(t, "Rich")[0]
	rLine := f.Visit(t, rich, "2026-01-01", "10.00")[0]
	f.Pay(t, rich, "30.00", forced("30.00", rLine))

	run := func(scope ledger.Scope, gids ...ledger.ID) ledger.Run {
		r, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Scope: scope, GuarantorIDs: gids, Note: "Monthly"})
		require.NoError(t, err)
		r = waitRun(t, f.Ledger, f.Actor, r.ID)
		require.Equal(t, ledger.RunCompleted, r.Status, r.Error)
		return r
	}
	gr := run(ledger.ScopeGuarantor, g.gus.GuarantorID, spouse.GuarantorID, rich.GuarantorID)
	require.Equal(t, 3, gr.FamiliesTotal)
	require.Equal(t, 1, gr.FamiliesChanged)
	require.Equal(t, 1, gr.Receipts)
	requireMoney(t, "30.00", gr.AmountMoved)
	requireMoney(t, "65.00", gr.CreditsFound) // 45.00 + Rich's 20.00
	requireMoney(t, "35.00", gr.CreditsLeft)
	requireMoney(t, "-15.00", owed(t, f, g.gL))
	requireMoney(t, "0.00", owed(t, f, g.gSame))
	requireMoney(t, "0.00", owed(t, f, g.gOther))
	requireMoney(t, "0.00", owed(t, f, g.kLine))
	requireMoney(t, "30.00", owed(t, f, sLine), "never across guarantors")
	requireMoney(t, "-20.00", owed(t, f, rLine))
	fams := families(t, f.Ledger, f.Actor, gr.ID)
	require.Equal(t, ledger.FamilyUnchanged, fams[spouse.GuarantorID].Status)
	require.Equal(t, ledger.FamilySkipped, fams[rich.GuarantorID].Status)
	require.Contains(t, fams[rich.GuarantorID].Reason, "no balance within the scope")
	fg := fams[g.gus.GuarantorID]
	require.Len(t, fg.ReceiptIDs, 1)
	rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, fg.ReceiptIDs)
	require.NoError(t, err)
	require.Equal(t, ledger.ReceiptCreditReapply, rs[0].Kind)
	require.Equal(t, "Monthly", rs[0].Note)
	got, _ := receiptSplits(t, f, rs[0].ID)
	require.Equal(t, map[splitKey]string{
		pd(g.gL): "-25.00", {code: ledger.CodeDebit, patient: g.kit.ID}: "-5.00",
		pca(g.gSame): "5.00", pca(g.gOther): "10.00", pca(g.kLine): "15.00",
	}, got)

	pr := run(ledger.ScopePatient, p.gus.GuarantorID)
	require.Equal(t, 1, pr.Receipts)
	requireMoney(t, "20.00", pr.AmountMoved)
	requireMoney(t, "25.00", pr.CreditsLeft)
	requireMoney(t, "-25.00", owed(t, f, p.gL))
	requireMoney(t, "0.00", owed(t, f, p.gSame))
	requireMoney(t, "0.00", owed(t, f, p.gOther))
	requireMoney(t, "10.00", owed(t, f, p.kLine), "Gus's credit stays with Gus")
	require.Equal(t, ledger.ScopePatient, pr.Scope())

	// Nothing is left to do in either family.
	again := run(ledger.ScopeGuarantor, g.gus.GuarantorID, rich.GuarantorID)
	require.Equal(t, 0, again.Receipts)
	again = run(ledger.ScopePatient, p.gus.GuarantorID)
	require.Equal(t, 0, again.Receipts)

	_, err = f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Scope: "FAMILY", Note: "x"})
	requireInput(t, err, "scope")
	_, err = f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Note: "x", Policy: "nope"})
	requireInput(t, err, "policy")
}
