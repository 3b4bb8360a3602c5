package ledger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// prepaySet is the template set with its TP type the practice's
// treatment-plan type (matched by name) and the crown's deposit split as given (splits.csv's S5 row).
func prepaySet(s5 string) map[string]string {
	files := templateFiles()
	files["unearned_types.csv"] = "unearned_type_id,name,hidden,treatment_plan\nPREPAY,Prepayment,no,no\nTP,TP_PREPAYMENT,yes,yes\n"
	files["splits.csv"] = "split_id,receipt_id,amount,procedure_id,adjustment_id,unearned_type_id,patient_id,provider_id,location_id\n" +
		"S1,R1,80.00,X1,,,,,\nS2,R2,40.00,X1,,,,HYG1,1\nS3,R2,110.00,,,,P2,HYG1,1\nS4,R3,50.00,,,,P3,,\n" + s5 + "\n"
	return files
}

// TestHistoryPlannedPrepayment: a split naming a planned procedure is a
// prepayment attached to it, on the practice's treatment-plan type (named
// or implied); the family's total reconciles, and the attachment is a real
// one: detachPrepayment takes it off the line.
func TestHistoryPlannedPrepayment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	allow := true
	_, err := f.Ledger.UpdatePracticeSettings(ctx, f.Actor, ledger.PracticeSettings{PrePayAllowedForTpProcs: &allow})
	require.NoError(t, err)

	r := importHistory(t, f, ledger.ImportValidate, historyZip(t, prepaySet("S5,R3,150.00,X4,,TP,P3,,")))
	requireOutcome(t, ledger.OutcomeValid, r)
	require.Zero(t, countOf(r, ledger.FindingPrepayNotAllowed), "%+v", r.Issues)

	r = importHistory(t, f, ledger.ImportCommit, historyZip(t, prepaySet("S5,R3,150.00,X4,,,,,")))
	requireOutcome(t, ledger.OutcomeCommitted, r)
	require.True(t, r.Reconciliation.Matches, "%+v", r.Reconciliation)
	require.Zero(t, countOf(r, ledger.FindingBalanceDiffers), "%+v", r.Issues)

	var crown ledger.ID
	require.NoError(t, db.Get(&crown, `SELECT c.id FROM charges c JOIN splits s ON s.charge_id = c.id
		JOIN unearned_types u ON u.id = s.unearned_type_id WHERE u.is_treatment_plan AND s.amount = 150.00 AND c.status = 'PLANNED'`))
	_, err = f.Ledger.DetachPrepayment(ctx, f.Actor, ledger.PrepaymentDetachment{ChargeID: crown})
	require.NoError(t, err)
	var attached string
	require.NoError(t, db.Get(&attached, `SELECT COALESCE(sum(amount), 0)::text FROM splits WHERE charge_id = $1`, crown))
	require.Equal(t, "0.00", attached, "detached: nothing left on the planned line")
}

// TestHistoryPlannedPrepaymentFindings: what the reference would not take
// is kept and reported — a prepayment where the practice takes none, more
// prepayment than the fee.
func TestHistoryPlannedPrepaymentFindings(t *testing.T) {
	t.Parallel()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	files := prepaySet("S5,R3,150.00,X4,,TP,,,")
	files["procedures.csv"] = "procedure_id,encounter_id,patient_id,provider_id,location_id,service_date,code,fee,status\n" +
		"X1,E1,P1,DR1,1,2024-01-10,D0150,120.00,COMPLETED\nX2,E1,P1,DR1,1,2024-01-10,D1110,95.00,COMPLETED\n" +
		"X3,E2,P2,HYG1,1,2024-02-01,D1120,60.00,COMPLETED\nX4,E3,P3,DR1,1,2024-03-05,D2740,100.00,PLANNED\n"
	files["families.csv"] = "family_id,name\nF100,John Smith\nF200,Mary Jones\n"
	r := importHistory(t, f, ledger.ImportCommit, historyZip(t, files))
	requireOutcome(t, ledger.OutcomeCommitted, r)
	require.Equal(t, 1, countOf(r, ledger.FindingPrepayNotAllowed), "%+v", r.Issues)
	found := false
	for _, is := range r.Issues {
		found = found || (is.Code == ledger.FindingOverpaidCharge && is.File == "procedures.csv" && is.Row == 5)
	}
	require.True(t, found, "the planned line holds more than its fee: %+v", r.Issues)
	require.True(t, r.Reconciliation.Matches, "%+v", r.Reconciliation)
}

// TestHistoryPlannedPrepaymentBadInput: a prepayment on another patient's
// planned procedure, on a type that is not the treatment-plan type, on an
// unknown procedure; an unearned type with a completed procedure or an adjustment: a coded error, nothing written.
func TestHistoryPlannedPrepaymentBadInput(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	for _, c := range []struct {
		name         string
		files        map[string]string
		column, code string
	}{
		{"another patient's planned procedure", prepaySet("S5,R3,150.00,X4,,TP,P1,,"), "patient_id", ledger.IssueBadValue},
		{"not the treatment-plan type", prepaySet("S5,R3,150.00,X4,,PREPAY,,,"), "unearned_type_id", ledger.IssuePlannedSplit},
		{"a type on a completed procedure", prepaySet("S5,R3,150.00,X2,,TP,,,"), "unearned_type_id", ledger.IssueBadValue},
		{"a type on an adjustment", prepaySet("S5,R3,150.00,,A2,TP,,,"), "", ledger.IssueBadValue},
		{"unknown planned procedure", prepaySet("S5,R3,150.00,X9,,TP,,,"), "procedure_id", ledger.IssueUnknownRef},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ledgerRows(t, db)
			r := importHistory(t, f, ledger.ImportCommit, historyZip(t, c.files))
			requireOutcome(t, ledger.OutcomeRejected, r)
			require.Equal(t, before, ledgerRows(t, db), "a rejected set writes nothing")
			found := false
			for _, is := range r.Issues {
				found = found || (is.Code == c.code && is.File == "splits.csv" && is.Row == 6 && is.Column == c.column && is.Severity == ledger.SeverityError)
			}
			require.True(t, found, "want %s on splits.csv row 6 column %q; got %+v", c.code, c.column, r.Issues)
		})
	}
}
