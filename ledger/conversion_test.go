package ledger_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// unzipSet reads a history set back into files.
func unzipSet(t testing.TB, set []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(set), int64(len(set)))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		out[f.Name] = string(b)
	}
	return out
}

// conversionSet is a small synthetic practice written as a history set,
// with two families more that hold one of each finding: negative
// production, an overpaid line, a split on another provider's procedure,
// unallocated money, a negative bucket, a split into another family, and an
// old balance the ledger does not agree with (family FX: the file says
// -25.00, its rows come to -30.00).
func conversionSet(t testing.TB) (set []byte, balances map[string]string) {
	t.Helper()
	p, err := synth.Generate(synth.Config{Size: synth.Small, Seed: 18, AsOf: ledger.DateOf(ledgertest.Clock()).AddDays(-1)})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, synth.WriteHistory(&buf, p))
	files := unzipSet(t, buf.Bytes())
	a, b, loc := p.Providers[0].Code, p.Providers[1].Code, p.Locations[0].Code
	files["families.csv"] += "FX,Extra Family,-25.00\nFY,Other Family,-40.00\n"
	files["patients.csv"] += "PX1,FX,Extra,Ann,,yes\nPX2,FX,Extra,Ben,,no\nPY1,FY,Other,Cy,,yes\n"
	files["procedures.csv"] += fmt.Sprintf("XN1,EX1,PX1,%[1]s,%[2]s,2026-01-05,D9999,-20.00,COMPLETED,,,refund of a fee\n"+
		"XO1,EX1,PX1,%[1]s,%[2]s,2026-01-05,D1110,100.00,COMPLETED,,,\n", a, loc)
	files["receipts.csv"] += "RX1,PATIENT_PAYMENT,2026-01-05,150.00,PX1,,,,\nRX2,TRANSFER,2026-01-06,0.00,PX1,,,,\n"
	files["splits.csv"] += fmt.Sprintf("SX1,RX1,120.00,XO1,,,,%[1]s,%[2]s\nSX2,RX1,30.00,,,,PX2,,\n"+
		"SX3,RX2,-40.00,,,,PX1,,\nSX4,RX2,40.00,,,,PY1,,\n", b, loc)
	balances = map[string]string{}
	for _, g := range p.Guarantors {
		bal := p.Families[g.ID]
		balances[g.ExternalID] = bal.Balance.Sub(bal.HiddenUnearned).String()
	}
	balances["FY"] = "-40.00"
	balances["FX"] = "-30.00" // what the rows come to; the file says -25.00
	return historyZip(t, files), balances
}

// familyTotals is every family's total (familyTotal) by external id.
func familyTotals(t testing.TB, f *ledgertest.Practice) map[string]ledger.Balance {
	t.Helper()
	ctx := context.Background()
	gs, err := f.Store.ListGuarantors(ctx, f.Actor.PracticeID, ledger.GuarantorFilter{}, ledger.Page{First: 500})
	require.NoError(t, err)
	ids := make([]ledger.ID, len(gs.Rows))
	for i, g := range gs.Rows {
		ids[i] = g.ID
	}
	bals, err := f.Store.GuarantorBalances(ctx, f.Actor.PracticeID, ids)
	require.NoError(t, err)
	out := map[string]ledger.Balance{}
	for _, g := range gs.Rows {
		out[g.ExternalID] = bals[g.ID]
	}
	return out
}

// TestConversionThenBalance is the conversion walk-through of
// docs/conversion.md on a generated history: VALIDATE names every kind of
// finding and no error; COMMIT posts the facts as they are and reconciles;
// the family balancer, with each method, then leaves every family's total
// what the file says, no unallocated money in a family that owes, and a
// second run proposes nothing.
func TestConversionThenBalance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	set, want := conversionSet(t)
	for _, method := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
		t.Run(string(method), func(t *testing.T) {
			f := ledgertest.AddPractice(t, ledgertest.NewPractice(t, db).Ledger, "Conversion "+string(method))
			r := importHistory(t, f, ledger.ImportValidate, set)
			requireOutcome(t, ledger.OutcomeValid, r)
			for _, code := range []string{ledger.FindingNegativeProduction, ledger.FindingOverpaidCharge, ledger.FindingOtherProvider,
				ledger.FindingUnallocated, ledger.FindingNegativeBucket, ledger.FindingCrossFamily, ledger.FindingBalanceDiffers} {
				require.Positive(t, countOf(r, code), "a finding %s: %+v", code, r.IssueCounts)
			}
			require.Equal(t, 1, countOf(r, ledger.FindingBalanceDiffers), "%+v", r.Issues)

			r = importHistory(t, f, ledger.ImportCommit, set)
			requireOutcome(t, ledger.OutcomeCommitted, r)
			require.Equal(t, len(want), r.Reconciliation.GuarantorCount)
			require.Equal(t, 1, r.Reconciliation.Differing, "only FX's old balance differs")
			requireTotals(t, want, familyTotals(t, f))

			// Balanced on the conversion date: the history's last day.
			on := ledger.DateOf(ledgertest.Clock()).AddDays(-1)
			run, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: method, TransferDate: &on})
			require.NoError(t, err)
			run = waitRun(t, f.Ledger, f.Actor, run.ID)
			require.Equal(t, ledger.RunCompleted, run.Status)
			var posted []ledger.ID
			for _, fam := range families(t, f.Ledger, f.Actor, run.ID) {
				posted = append(posted, fam.ReceiptIDs...)
			}
			rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, posted)
			require.NoError(t, err)
			require.Len(t, rs, run.Receipts)
			for _, r := range rs {
				require.Equal(t, on, r.ReceivedOn, "every transfer is dated the conversion date")
			}
			require.Positive(t, run.FamiliesChanged, "the converted history had money to move")
			failed := map[ledger.ID]bool{}
			for id, fam := range families(t, f.Ledger, f.Actor, run.ID) {
				if fam.Status == ledger.FamilyFailed {
					failed[id] = true
					t.Logf("family %s failed: %s", id, fam.Reason)
				}
			}
			after := familyTotals(t, f)
			requireTotals(t, want, after)
			for ext, b := range after {
				if b.Owed.Sign() > 0 && b.Unallocated.Sign() > 0 && ext != "FX" {
					t.Errorf("family %s owes %s and holds %s unallocated after balancing", ext, b.Owed, b.Unallocated)
				}
			}

			again, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: method, Preview: true, TransferDate: &on})
			require.NoError(t, err)
			again = waitRun(t, f.Ledger, f.Actor, again.ID)
			require.Zero(t, again.FamiliesChanged, "a second run proposes nothing")
			require.Zero(t, again.Receipts)
		})
	}
}

// requireTotals checks every family's total against the file's.
func requireTotals(t *testing.T, want map[string]string, got map[string]ledger.Balance) {
	t.Helper()
	require.Len(t, got, len(want))
	for ext, w := range want {
		b := got[ext]
		require.Equal(t, w, b.Balance.Sub(b.HiddenUnearned).String(), "family %s", ext)
	}
}

// TestBalanceChangedSince: a run with changedSince covers only the
// families with something posted on or after that day; none is bad input.
func TestBalanceChangedSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	now := ledgertest.Clock().AddDate(0, 0, -20)
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(func() time.Time { return now }))
	f := ledgertest.AddPractice(t, l, "Changed since")
	old := f.Family(t, "Old", "Old kid")
	f.Visit(t, old[1], "2026-05-20", "40.00")
	now = ledgertest.Clock()
	recent := f.Family(t, "Recent", "Recent kid")
	f.Visit(t, recent[1], "2026-06-10", "40.00")
	f.Pay(t, recent[0], "40.00", ledgertest.Unallocated("40.00"))

	since := ledger.MustDate("2026-06-01")
	run, err := l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer, Preview: true, ChangedSince: &since})
	require.NoError(t, err)
	run = waitRun(t, l, f.Actor, run.ID)
	require.Equal(t, 1, run.FamiliesTotal)
	require.Equal(t, []ledger.ID{recent[0].GuarantorID}, run.GuarantorIDs)

	later := ledger.MustDate("2026-06-16")
	_, err = l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer, Preview: true, ChangedSince: &later})
	var in *ledger.InputError
	require.ErrorAs(t, err, &in)
	require.Equal(t, "changedSince", in.Field)
}
