package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// importFile runs an import of file and returns its result.
func importFile(t *testing.T, f *ledgertest.Practice, mode ledger.ImportMode, file string, opts ledger.ImportOptions) ledger.ImportResult {
	t.Helper()
	res, err := f.Ledger.ImportBalances(context.Background(), f.Actor, ledger.ImportRequest{
		File: strings.NewReader(file), FileName: "balances.csv", Mode: mode, Options: opts})
	require.NoError(t, err)
	return res
}

// ledgerRows counts the rows of every table an import writes.
func ledgerRows(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range []string{"guarantors", "patients", "encounters", "charges", "receipts", "splits",
		"balance_imports", "balance_import_lines", "audit_events", "idempotency_records"} {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM `+tbl))
		out[tbl] = n
	}
	return out
}

func requireOutcome(t *testing.T, want ledger.ImportOutcome, r ledger.ImportReport) {
	t.Helper()
	require.Equal(t, want, r.Outcome, "%s\n%+v", r.Message, r.Issues)
}

// patientWith creates a self-guarantor patient with an external id and birth date.
func patientWith(t *testing.T, f *ledgertest.Practice, first, last, birth, ext string) ledger.Patient {
	t.Helper()
	var b *ledger.Date
	if birth != "" {
		d := ledger.MustDate(birth)
		b = &d
	}
	p, err := f.Ledger.CreatePatient(context.Background(), f.Actor, ledger.NewPatient{SelfGuarantor: true, FirstName: first, LastName: last,
		BirthDate: b, ExternalID: ext})
	require.NoError(t, err)
	return p
}

func chargesOf(t *testing.T, f *ledgertest.Practice, p ledger.Patient) []ledger.Charge {
	t.Helper()
	cs, err := f.Store.ChargesOfPatients(context.Background(), f.Actor.PracticeID, []ledger.ID{p.ID})
	require.NoError(t, err)
	return cs
}

// TestBalanceForwardFourCopays is the four-copays example of
// docs/allocation.md §7: four $30 copays on the
// 1st of January to April import as four lines with those dates, and the
// patient owes $120. VALIDATE reports it and writes nothing; COMMIT posts it
// and reconciles to the cent.
func TestBalanceForwardFourCopays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1001")
	file := header +
		"A1001,Doe,Jane,04/12/1985,,,01/01/2024,30.00,,,PREV BAL,PATIENT,copay\n" +
		"A1001,Doe,Jane,04/12/1985,,,02/01/2024,$30.00,,,,,copay\n" +
		"A1001,,,,,,2024-03-01,30,,,,,copay\n" +
		"A1001,,,,,,2024-04-01,30.00,,,,,copay\n"

	before := ledgerRows(t, db)
	v := importFile(t, f, ledger.ImportValidate, file, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeValid, v.Report)
	require.Nil(t, v.Import)
	require.Equal(t, before, ledgerRows(t, db), "VALIDATE writes nothing")
	require.Equal(t, 4, v.Report.Rows)
	require.Equal(t, 4, v.Report.RowsToPost)
	require.Equal(t, 1, v.Report.Encounters)
	requireMoney(t, "120.00", v.Report.Totals.PatientBalance)
	require.Len(t, v.Report.Patients, 1)
	require.Equal(t, jane.ID, *v.Report.Patients[0].PatientID)
	requireMoney(t, "120.00", v.Report.Patients[0].Totals.PatientDebits)

	c := importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, c.Report)
	require.NotNil(t, c.Import)
	require.Equal(t, *c.Report.ImportID, c.Import.ID)
	require.Equal(t, ledger.ImportCommitted, c.Import.Status)
	require.Equal(t, "balances.csv", c.Import.FileName)
	require.Equal(t, 4, c.Import.RowsPosted)
	requireMoney(t, "120.00", c.Import.PatientDebits)

	cs := chargesOf(t, f, jane)
	require.Len(t, cs, 4)
	for i, want := range []string{"2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"} {
		require.Equal(t, want, cs[i].ServiceDate.String())
		require.Equal(t, ledger.ChargeBalanceForward, cs[i].Kind)
		require.Equal(t, "PREV BAL", cs[i].Code)
		require.Equal(t, "copay", cs[i].Note)
		requireMoney(t, "30.00", cs[i].Amount)
		require.Equal(t, f.Provider, *cs[i].ProviderID, "the practice's only provider")
		require.Equal(t, *cs[0].EncounterID, *cs[i].EncounterID, "one encounter per patient")
	}
	encs, err := f.Store.Encounters(ctx, f.Actor.PracticeID, []ledger.ID{*cs[0].EncounterID})
	require.NoError(t, err)
	require.Equal(t, ledger.EncounterBalanceForward, encs[0].Kind)
	require.Equal(t, "2024-01-01", encs[0].ServiceFrom.String())
	require.Equal(t, "2024-04-01", encs[0].ServiceTo.String())
	b := patientBalance(t, f, jane)
	requireMoney(t, "120.00", b.Balance)
	requireMoney(t, "120.00", b.Owed)

	rec := c.Report.Reconciliation
	require.NotNil(t, rec)
	require.True(t, rec.Matches)
	requireMoney(t, "120.00", rec.FilePatient)
	requireMoney(t, "120.00", rec.LedgerPatient)
	require.Len(t, rec.Patients, 1)
	require.Len(t, rec.Guarantors, 1)
	require.Equal(t, jane.GuarantorID, rec.Guarantors[0].GuarantorID)

	var audit int
	require.NoError(t, db.Get(&audit, `SELECT count(*) FROM audit_events WHERE operation = 'importBalances'`))
	require.Equal(t, 1, audit)
}

// TestBalanceForwardValidateReport: errors and warnings by row and column,
// totals per patient and overall, and nothing written, in either mode.
func TestBalanceForwardValidateReport(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	patientWith(t, f, "Rick", "Roe", "1972-11-30", "A2")
	file := header +
		"A1,,,,,,2024-01-01,100.00,,,,,\n" + // 2
		"A1,,,,,,2024-02-01,(40.00),,,,,\n" + // 3: a credit
		"A2,,,,,,2024-01-05,55.55,,,,INSURANCE,\n" + // 4
		"A2,,,,,,2024-01-06,10.00,,,,,\n" + // 5
		"A2,,,,,,2024-01-06,10.00,,,,,\n" + // 6: duplicate of 5
		"A2,,,,,,2024-01-07,0,,,,,\n" + // 7: zero
		"A9,,,,,,2024-01-01,5.00,,,,,\n" + // 8: unknown patient
		"A1,,,,,,2024-13-01,5.00,,,,,\n" + // 9: bad date
		"A1,,,,,,2024-01-01,5.001,,,,,\n" + // 10: bad amount
		"A1,,,,,,2024-01-01,5.00,NOPE,,,,\n" // 11: unknown provider
	before := ledgerRows(t, db)
	for _, mode := range []ledger.ImportMode{ledger.ImportValidate, ledger.ImportCommit} {
		r := importFile(t, f, mode, file, ledger.ImportOptions{}).Report
		if mode == ledger.ImportValidate {
			requireOutcome(t, ledger.OutcomeInvalid, r)
		} else {
			requireOutcome(t, ledger.OutcomeRejected, r)
		}
		require.Equal(t, before, ledgerRows(t, db), "%s writes nothing", mode)
		require.Equal(t, 10, r.Rows)
		require.Equal(t, 4, r.Errors, "%+v", r.Issues)
		require.Equal(t, 2, r.Warnings, "%+v", r.Issues)
		require.Equal(t, 2, r.RowsSkipped)
		requireIssue(t, r.Issues, 6, "", ledger.IssueDuplicateRow, ledger.SeverityWarning)
		requireIssue(t, r.Issues, 7, ledger.ColAmount, ledger.IssueZeroAmount, ledger.SeverityWarning)
		requireIssue(t, r.Issues, 8, ledger.ColPatientExternalID, ledger.IssueUnknownPatient, ledger.SeverityError)
		requireIssue(t, r.Issues, 9, ledger.ColServiceDate, ledger.IssueBadDate, ledger.SeverityError)
		requireIssue(t, r.Issues, 10, ledger.ColAmount, ledger.IssueBadAmount, ledger.SeverityError)
		requireIssue(t, r.Issues, 11, ledger.ColProvider, ledger.IssueUnknownProvider, ledger.SeverityError)
		for i := 1; i < len(r.Issues); i++ {
			require.LessOrEqual(t, r.Issues[i-1].Row, r.Issues[i].Row, "issues are by row")
		}

		// Totals of the rows that would post (2, 3, 4, 5).
		require.Equal(t, 4, r.RowsToPost)
		require.Equal(t, 4, r.Totals.Rows)
		requireMoney(t, "110.00", r.Totals.PatientDebits)
		requireMoney(t, "40.00", r.Totals.PatientCredits)
		requireMoney(t, "55.55", r.Totals.Insurance)
		requireMoney(t, "70.00", r.Totals.PatientBalance)
		requireMoney(t, "125.55", r.Totals.Total)
		require.Len(t, r.Patients, 2)
		require.Equal(t, "A1", r.Patients[0].ExternalID)
		require.Equal(t, 2, r.Patients[0].FirstRow)
		requireMoney(t, "60.00", r.Patients[0].Totals.PatientBalance)
		require.Equal(t, "A2", r.Patients[1].ExternalID)
		requireMoney(t, "10.00", r.Patients[1].Totals.PatientBalance)
		requireMoney(t, "55.55", r.Patients[1].Totals.Insurance)
	}
}

// TestBalanceForwardIdempotent: the same file, or the same rows in another
// file, post nothing the second time and say so; new rows among old ones post.
func TestBalanceForwardIdempotent(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	rows := "A1,,,,,,2024-01-01,30.00,,,,,\nA1,,,,,,2024-02-01,-5.00,,,,,\nA1,,,,,,,7.00,,,,,\n"
	first := importFile(t, f, ledger.ImportCommit, header+rows, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, first.Report)
	after := ledgerRows(t, db)

	again := importFile(t, f, ledger.ImportCommit, header+rows, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeAlreadyImported, again.Report)
	require.Equal(t, first.Import.ID, *again.Report.DuplicateOf)
	require.Equal(t, first.Import.ID, again.Import.ID)
	require.Contains(t, again.Report.Message, "imported on 2026-06-15")
	requireIssue(t, again.Report.Issues, 0, "", ledger.IssueAlreadyImported, ledger.SeverityWarning)
	require.Equal(t, after, ledgerRows(t, db), "the second import posts nothing (not even an audit event)")
	v := importFile(t, f, ledger.ImportValidate, header+rows, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeAlreadyImported, v.Report)

	// The same rows written differently (dates, amounts, order, line endings):
	// another file, the same rows.
	same := strings.ReplaceAll(header+"A1,,,,,,,$7.00,,,,,\nA1,,,,,,02/01/2024,(5.00),,,,,\nA1,,,,,,01/01/2024,30,,,,PATIENT,\n", "\n", "\r\n")
	r := importFile(t, f, ledger.ImportCommit, same, ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeAlreadyImported, r)
	require.Equal(t, first.Import.ID, *r.DuplicateOf)
	require.Equal(t, 3, r.RowsSkipped)
	for row := 2; row <= 4; row++ {
		requireIssue(t, r.Issues, row, "", ledger.IssueAlreadyImported, ledger.SeverityWarning)
	}
	require.Equal(t, after, ledgerRows(t, db))

	// Old rows and a new one: only the new one posts.
	r = importFile(t, f, ledger.ImportCommit, header+rows+"A1,,,,,,2024-05-01,1.00,,,,,\n", ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeCommitted, r)
	require.Equal(t, 1, r.RowsToPost)
	require.Equal(t, 3, r.RowsSkipped)
	requireMoney(t, "33.00", patientBalance(t, f, jane).Balance, "30 + 7 + 1 − 5")

	// An idempotency key replays the first result.
	key := ledger.ImportRequest{File: strings.NewReader(header + "A1,,,,,,2024-06-01,2.00,,,,,\n"), Mode: ledger.ImportCommit, IdempotencyKey: "k1"}
	res1, err := f.Ledger.ImportBalances(context.Background(), f.Actor, key)
	require.NoError(t, err)
	requireOutcome(t, ledger.OutcomeCommitted, res1.Report)
	key.File = strings.NewReader(header + "A1,,,,,,2024-06-01,2.00,,,,,\n")
	res2, err := f.Ledger.ImportBalances(context.Background(), f.Actor, key)
	require.NoError(t, err)
	requireOutcome(t, ledger.OutcomeAlreadyImported, res2.Report)
	require.Equal(t, res1.Import.ID, res2.Import.ID)
	key.File = strings.NewReader(header + "A1,,,,,,2024-06-02,2.00,,,,,\n")
	_, err = f.Ledger.ImportBalances(context.Background(), f.Actor, key)
	require.ErrorIs(t, err, ledger.ErrConflict, "the same key with another file")
}

// TestBalanceForwardMatching: by external id, else name and birth date; an
// ambiguous match is an error, not a guess; missing patients are an error
// unless the option creates them, with their guarantors.
func TestBalanceForwardMatching(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	byExt := patientWith(t, f, "Ann", "Able", "1980-01-01", "E1")
	byName := patientWith(t, f, "Bob", "Baker", "1981-02-02", "")
	patientWith(t, f, "Cy", "Twin", "1990-03-03", "")
	patientWith(t, f, "cy", "TWIN", "1990-03-03", "") // same name and birth date
	other := patientWith(t, f, "Dee", "Dent", "1982-04-04", "E4")
	g, err := f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "Gail Gee", ExternalID: "G1"})
	require.NoError(t, err)

	file := header +
		"E1,Wrong,Name,,,,2024-01-01,10.00,,,,,\n" + // 2: by external id; names differ: warning
		",baker,BOB,02/02/1981,,,2024-01-01,11.00,,,,,\n" + // 3: by name, any case
		",Twin,Cy,1990-03-03,,,2024-01-01,12.00,,,,,\n" + // 4: two patients: ambiguous
		"E9,Dent,Dee,1982-04-04,,,2024-01-01,13.00,,,,,\n" + // 5: unknown id, name is patient E4: conflict
		"N1,New,Nina,2001-01-01,G1,Gail Gee,2024-01-01,14.00,,,,,\n" + // 6: new, into existing family G1
		"N2,New,Ned,2002-02-02,G2,Greta New,2024-01-01,15.00,,,,,\n" + // 7: new, new family G2
		"N3,New,Nat,2003-03-03,G2,Greta New,2024-01-01,16.00,,,,,\n" + // 8: new, the same new family
		",Solo,Sam,2004-04-04,,,2024-01-01,17.00,,,,,\n" + // 9: new, own guarantor
		"N5,Pair,Pam,2005-05-05,,Pete Pair,2024-01-01,18.00,,,,,\n" + // 10: new family named, no id
		"N6,Pair,Pia,2006-06-06,,pete  PAIR,2024-01-01,19.00,,,,,\n" // 11: the same named family

	// Without the option the new ones are errors.
	r := importFile(t, f, ledger.ImportValidate, file, ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeInvalid, r)
	for _, row := range []int{6, 7, 8, 9, 10, 11} {
		requireIssue(t, r.Issues, row, ledger.ColPatientExternalID, ledger.IssueUnknownPatient, ledger.SeverityError)
	}
	is := requireIssue(t, r.Issues, 4, ledger.ColPatientExternalID, ledger.IssueAmbiguousPatient, ledger.SeverityError)
	require.Contains(t, is.Message, "2 patients")
	is = requireIssue(t, r.Issues, 5, ledger.ColPatientExternalID, ledger.IssueAmbiguousPatient, ledger.SeverityError)
	require.Contains(t, is.Message, `"E4"`)
	requireIssue(t, r.Issues, 2, ledger.ColPatientLastName, ledger.IssuePatientMismatch, ledger.SeverityWarning)

	// With it, and rows 4 and 5 fixed, everything posts.
	opts := ledger.ImportOptions{CreateMissingPatients: true}
	file = strings.Replace(file, ",Twin,Cy,1990-03-03,", "E1,,,,", 1)
	file = strings.Replace(file, "E9,Dent,Dee", "E4,Dent,Dee", 1)
	before := ledgerRows(t, db)
	v := importFile(t, f, ledger.ImportValidate, file, opts).Report
	requireOutcome(t, ledger.OutcomeValid, v)
	require.Equal(t, 6, v.PatientsCreated)
	require.Equal(t, 3, v.GuarantorsCreated, "G2, Sam's own, Pete Pair's")
	require.Equal(t, before, ledgerRows(t, db))
	var nina ledger.ImportPatientTotal
	for _, p := range v.Patients {
		if p.ExternalID == "N1" {
			nina = p
		}
	}
	require.True(t, nina.Created)
	require.Nil(t, nina.PatientID, "VALIDATE has no id for a patient it would create")
	require.Equal(t, g.ID, *nina.GuarantorID)
	is = requireIssue(t, v.Issues, 10, ledger.ColGuarantorName, ledger.IssueGuarantor, ledger.SeverityWarning)
	require.Contains(t, is.Message, "Pete Pair")

	res := importFile(t, f, ledger.ImportCommit, file, opts)
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.Equal(t, 6, res.Import.PatientsCreated)
	require.Equal(t, 3, res.Import.GuarantorsCreated)
	requireMoney(t, "22.00", patientBalance(t, f, byExt).Balance, "rows 2 and 4")
	requireMoney(t, "11.00", patientBalance(t, f, byName).Balance)
	requireMoney(t, "13.00", patientBalance(t, f, other).Balance)

	find := func(ext string) ledger.Patient {
		t.Helper()
		page, err := f.Store.ListPatients(ctx, f.Actor.PracticeID, ledger.PatientFilter{ExternalID: ext}, ledger.Page{First: 2})
		require.NoError(t, err)
		require.Len(t, page.Rows, 1, ext)
		return page.Rows[0]
	}
	nina2, ned, nat, n5, n6 := find("N1"), find("N2"), find("N3"), find("N5"), find("N6")
	require.Equal(t, g.ID, nina2.GuarantorID)
	require.Equal(t, "2001-01-01", nina2.BirthDate.String())
	require.Equal(t, ned.GuarantorID, nat.GuarantorID)
	require.Equal(t, n5.GuarantorID, n6.GuarantorID)
	gs, err := f.Store.Guarantors(ctx, f.Actor.PracticeID, []ledger.ID{ned.GuarantorID, n5.GuarantorID})
	require.NoError(t, err)
	names := map[string]ledger.Guarantor{}
	for _, g := range gs {
		names[g.Name] = g
	}
	require.Equal(t, "G2", names["Greta New"].ExternalID)
	require.Nil(t, names["Greta New"].SelfPatientID)
	require.Contains(t, names, "Pete Pair")
	requireMoney(t, "31.00", familyBalance(t, f, ned).Balance, "15 + 16")
	sams, err := f.Store.ListPatients(ctx, f.Actor.PracticeID, ledger.PatientFilter{Name: "Sam"}, ledger.Page{First: 2})
	require.NoError(t, err)
	require.Len(t, sams.Rows, 1)
	sg, err := f.Store.Guarantors(ctx, f.Actor.PracticeID, []ledger.ID{sams.Rows[0].GuarantorID})
	require.NoError(t, err)
	require.Equal(t, sams.Rows[0].ID, *sg[0].SelfPatientID, "Sam is his own guarantor")
	require.Equal(t, "Sam Solo", sg[0].Name)

	// Reconciled per patient and per family.
	rec := res.Report.Reconciliation
	require.True(t, rec.Matches)
	require.Len(t, rec.Patients, 9, "Ann (rows 2 and 4), Bob, Dee and six new")
	require.Len(t, rec.Guarantors, 7, "Ann's, Bob's, Dee's, G1; new: G2, Sam's, Pete Pair's")
}

// TestBalanceForwardCredits: a negative amount is a credit the patient
// holds, on a 0.00 line, that a later move (here a manual transfer, as a
// re-apply would post PD/PCA) can put on another line.
func TestBalanceForwardCredits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	res := importFile(t, f, ledger.ImportCommit, header+
		"A1,,,,,,2024-01-01,(25.00),,,,,overpaid\n"+
		"A1,,,,,,2024-02-01,-$5.00,,,,,\n", ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	requireMoney(t, "30.00", res.Import.PatientCredits)
	b := patientBalance(t, f, jane)
	requireMoney(t, "30.00", b.Credit)
	requireMoney(t, "-30.00", b.Balance)
	requireMoney(t, "0.00", b.Owed)
	requireMoney(t, "0.00", b.Unallocated, "the credit sits on the lines, not in escrow")

	cs := chargesOf(t, f, jane)
	require.Len(t, cs, 2)
	credit := cs[0]
	require.Equal(t, ledger.ChargeBalanceForward, credit.Kind)
	requireMoney(t, "0.00", credit.Amount)
	requireMoney(t, "-25.00", owed(t, f, credit))
	splits, err := f.Store.SplitsOfCharges(ctx, f.Actor.PracticeID, []ledger.ID{credit.ID})
	require.NoError(t, err)
	require.Len(t, splits, 1)
	require.Equal(t, ledger.CodeBalanceForward, splits[0].Code)
	rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, []ledger.ID{splits[0].ReceiptID})
	require.NoError(t, err)
	require.Equal(t, ledger.ReceiptBalanceForward, rs[0].Kind)
	requireMoney(t, "30.00", rs[0].Amount, "one receipt per patient holds both credits")
	require.Equal(t, jane.ID, *rs[0].PatientID)

	// A new visit; the credit moves onto it with a zero-sum receipt taking
	// it off the balance-forward line.
	visit := f.Visit(t, jane, "2026-05-01", "40.00")[0]
	_, err = f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptTransfer, PatientID: &jane.ID, Amount: money("0.00"),
		Splits: []ledger.NewSplit{{Amount: money("-25.00"), ChargeID: &credit.ID}, {Amount: money("25.00"), ChargeID: &visit.ID}}})
	require.NoError(t, err)
	requireMoney(t, "0.00", owed(t, f, credit))
	requireMoney(t, "15.00", owed(t, f, visit))
	requireMoney(t, "10.00", patientBalance(t, f, jane).Balance, "40 − 30")

	// A credit cannot be an insurance balance.
	r := importFile(t, f, ledger.ImportValidate, header+"A1,,,,,,2024-03-01,-5.00,,,,INSURANCE,\n", ledger.ImportOptions{}).Report
	requireIssue(t, r.Issues, 2, ledger.ColAmount, ledger.IssueInsuranceCredit, ledger.SeverityError)
}

// TestBalanceForwardDatesAndResponsibility: a row without a DOS is dated the
// import date; INSURANCE rows are pending from insurance, not owed.
func TestBalanceForwardDatesAndResponsibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	res := importFile(t, f, ledger.ImportCommit, header+
		"A1,,,,,,,12.00,,,,,\n"+
		"A1,,,,,,2024-01-01,80.00,,,,INSURANCE,\n", ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	requireIssue(t, res.Report.Issues, 2, ledger.ColServiceDate, ledger.IssueNoServiceDate, ledger.SeverityWarning)
	cs := chargesOf(t, f, jane)
	require.Len(t, cs, 2)
	require.Equal(t, "2024-01-01", cs[0].ServiceDate.String())
	require.Equal(t, ledgertest.Today, cs[1].ServiceDate, "no DOS: the import date")
	require.Equal(t, ledgertest.Today, res.Import.ImportDate)
	bal, err := f.Store.ChargeBalances(ctx, f.Actor.PracticeID, []ledger.ID{cs[0].ID})
	require.NoError(t, err)
	requireMoney(t, "0.00", bal[cs[0].ID].Owed)
	requireMoney(t, "80.00", bal[cs[0].ID].InsurancePending)
	requireMoney(t, "12.00", patientBalance(t, f, jane).Balance)
	rec := res.Report.Reconciliation
	requireMoney(t, "80.00", rec.FileInsurance)
	requireMoney(t, "80.00", rec.LedgerInsurance)
	requireMoney(t, "12.00", rec.LedgerPatient)
}

// TestBalanceForwardEncounterPerProviderLocation: by default one encounter
// per patient, its lines keeping their own provider and location; with the
// option, one per patient, provider and location.
func TestBalanceForwardEncounterPerProviderLocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	dr2, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Two", Code: "DR2"})
	require.NoError(t, err)
	north, err := f.Ledger.CreateLocation(ctx, f.Actor, ledger.NewLocation{Name: "North", Code: "N"})
	require.NoError(t, err)
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	rick := patientWith(t, f, "Rick", "Roe", "1972-11-30", "A2")
	file := header +
		"A1,,,,,,2024-01-01,1.00,Dr. One,Main,,,\n" +
		"A1,,,,,,2024-01-02,2.00,DR2,Main,,,\n" +
		"A1,,,,,,2024-01-03,3.00,dr2,n,,,\n" + // codes in any case
		"A1,,,,,,2024-01-04,4.00,DR2,north,,,\n" + // a name in any case
		"A2,,,,,,2024-01-05,5.00,DR2,N,,,\n"

	// Two providers and two locations now: a row must name them, or the
	// options give defaults.
	r := importFile(t, f, ledger.ImportValidate, header+"A1,,,,,,2024-01-01,1.00,,,,,\n", ledger.ImportOptions{}).Report
	requireIssue(t, r.Issues, 2, ledger.ColProvider, ledger.IssueMissingValue, ledger.SeverityError)
	requireIssue(t, r.Issues, 2, ledger.ColLocation, ledger.IssueMissingValue, ledger.SeverityError)
	r = importFile(t, f, ledger.ImportValidate, header+"A1,,,,,,2024-01-01,1.00,,,,,\n",
		ledger.ImportOptions{DefaultProvider: "DR2", DefaultLocation: "North"}).Report
	requireOutcome(t, ledger.OutcomeValid, r)
	_, err = f.Ledger.ImportBalances(ctx, f.Actor, ledger.ImportRequest{File: strings.NewReader(header + "A1,,,,,,2024-01-01,1.00,,,,,\n"),
		Mode: ledger.ImportValidate, Options: ledger.ImportOptions{DefaultProvider: "Dr. Nobody"}})
	var in *ledger.InputError
	require.True(t, errors.As(err, &in), "%v", err)
	require.Equal(t, "options.defaultProvider", in.Field)

	res := importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.Equal(t, 2, res.Import.Encounters)
	cs := chargesOf(t, f, jane)
	require.Len(t, cs, 4)
	require.Equal(t, f.Provider, *cs[0].ProviderID)
	require.Equal(t, dr2.ID, *cs[1].ProviderID)
	require.Equal(t, north.ID, *cs[2].LocationID)
	require.Equal(t, north.ID, *cs[3].LocationID)
	encs, err := f.Store.EncountersOfPatients(ctx, f.Actor.PracticeID, []ledger.ID{jane.ID})
	require.NoError(t, err)
	require.Len(t, encs, 1)
	require.Equal(t, f.Provider, encs[0].ProviderID, "the encounter takes the first row's provider")

	// Per provider and location: Jane's rows make three encounters.
	kim := patientWith(t, f, "Kim", "Kay", "1999-09-09", "A3")
	res = importFile(t, f, ledger.ImportCommit, strings.ReplaceAll(file, "A1,", "A3,"), ledger.ImportOptions{EncounterPerProviderLocation: true})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.Equal(t, 3, res.Import.Encounters, "(Dr. One, Main), (DR2, Main), (DR2, North)")
	encs, err = f.Store.EncountersOfPatients(ctx, f.Actor.PracticeID, []ledger.ID{kim.ID})
	require.NoError(t, err)
	require.Len(t, encs, 3)
	cs = chargesOf(t, f, kim)
	for _, c := range cs {
		for _, e := range encs {
			if *c.EncounterID == e.ID {
				require.Equal(t, e.ProviderID, *c.ProviderID)
				require.Equal(t, e.LocationID, *c.LocationID)
			}
		}
	}
	requireMoney(t, "5.00", patientBalance(t, f, rick).Balance)
}

// TestBalanceForwardUndo: an import is reversed as a whole, its file may
// then be imported again; undo is refused once something was posted against
// a line, with the reason.
func TestBalanceForwardUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	file := header + "A1,,,,,,2024-01-01,30.00,,,,,\nA1,,,,,,2024-02-01,-10.00,,,,,\nN1,New,Ned,2000-01-01,,,2024-03-01,7.00,,,,,\n"
	res := importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{CreateMissingPatients: true})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	requireMoney(t, "20.00", patientBalance(t, f, jane).Balance)

	imp, err := f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	require.NoError(t, err)
	require.Equal(t, ledger.ImportUndone, imp.Status)
	require.NotNil(t, imp.UndoneAt)
	b := patientBalance(t, f, jane)
	requireMoney(t, "0.00", b.Balance)
	requireMoney(t, "0.00", b.Credit)
	for _, c := range chargesOf(t, f, jane) {
		if c.Kind == ledger.ChargeBalanceForward {
			requireMoney(t, "0.00", owed(t, f, c))
		}
	}
	rec, err := f.Ledger.ReconcileBalanceImport(ctx, f.Actor, imp.ID)
	require.NoError(t, err)
	requireMoney(t, "0.00", rec.LedgerPatient)
	requireMoney(t, "27.00", rec.FilePatient)

	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: imp.ID})
	require.ErrorIs(t, err, ledger.ErrConflict, "an undone import cannot be undone again")

	// The file may be imported again now.
	res = importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.Equal(t, 0, res.Import.PatientsCreated, "Ned exists since the first import")
	requireMoney(t, "20.00", patientBalance(t, f, jane).Balance)

	// A payment on one of its lines: undo is refused, saying where.
	lineOf := func(imp ledger.ID, row int) ledger.Charge {
		t.Helper()
		lines, err := f.Store.BalanceImportLines(ctx, f.Actor.PracticeID, imp)
		require.NoError(t, err)
		for _, ln := range lines {
			if ln.Row == row {
				cs, err := f.Store.Charges(ctx, f.Actor.PracticeID, []ledger.ID{ln.ChargeID})
				require.NoError(t, err)
				return cs[0]
			}
		}
		t.Fatalf("no row %d in import %s", row, imp)
		return ledger.Charge{}
	}
	line := lineOf(res.Import.ID, 2)
	requireMoney(t, "30.00", line.Amount)
	pay := f.Pay(t, jane, "12.00", ledgertest.On("12.00", line))
	before := ledgerRows(t, db)
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	var inv *ledger.InvariantError
	require.True(t, errors.As(err, &inv), "%v", err)
	require.Equal(t, "import_untouched", inv.Invariant)
	require.Contains(t, inv.Message, "row 2")
	require.Contains(t, inv.Message, "PATIENT_PAYMENT")
	require.Contains(t, inv.Message, pay.ID.String())
	require.Equal(t, before, ledgerRows(t, db))

	// Reversing the payment is not enough: the reversal was posted against
	// the line too. An adjustment on a line is refused the same way.
	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: pay.ID})
	require.NoError(t, err)
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	require.True(t, errors.As(err, &inv), "%v", err)

	res2 := importFile(t, f, ledger.ImportCommit, header+"A1,,,,,,2024-07-01,9.00,,,,,\n", ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res2.Report)
	l2 := lineOf(res2.Import.ID, 2)
	_, err = f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{AttachedToID: &l2.ID, Amount: money("-1.00")})
	require.NoError(t, err)
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res2.Import.ID})
	require.True(t, errors.As(err, &inv), "%v", err)
	require.Contains(t, inv.Message, "adjustment of -1.00")

	// An import with INSURANCE lines cannot be undone: the estimate stays pending.
	res3 := importFile(t, f, ledger.ImportCommit, header+"A1,,,,,,2024-08-01,9.00,,,,INSURANCE,\n", ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res3.Report)
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res3.Import.ID})
	require.True(t, errors.As(err, &inv), "%v", err)
	require.Equal(t, "import_undoable", inv.Invariant)

	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: ledgertest.NewID()})
	var in *ledger.InputError
	require.True(t, errors.As(err, &in), "%v", err)
	require.Equal(t, "importId", in.Field)
}

// TestBalanceForwardReconciliation: after commit the file and the ledger
// agree to the cent per patient and family; later activity shows as a
// difference in a later reconciliation.
func TestBalanceForwardReconciliation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	file := header +
		"P1,Par,Pa,1970-01-01,F1,Pa Par,2024-01-01,10.01,,,,,\n" +
		"P2,Par,Ki,2010-01-01,F1,Pa Par,2024-01-02,20.02,,,,,\n" +
		"P2,Par,Ki,2010-01-01,F1,Pa Par,2024-01-03,-0.03,,,,,\n" +
		"P2,Par,Ki,2010-01-01,F1,Pa Par,2024-01-04,0.33,,,,INSURANCE,\n" +
		"P3,Oth,Er,1980-01-01,,,2024-01-05,99.99,,,,,\n"
	res := importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{CreateMissingPatients: true})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	rec := res.Report.Reconciliation
	require.True(t, rec.Matches)
	requireMoney(t, "129.99", rec.FilePatient)
	requireMoney(t, "129.99", rec.LedgerPatient)
	requireMoney(t, "0.33", rec.LedgerInsurance)
	require.Len(t, rec.Patients, 3)
	require.Len(t, rec.Guarantors, 2)
	fam1 := rec.Guarantors[0]
	require.Equal(t, 4, fam1.Rows)
	requireMoney(t, "30.00", fam1.FilePatient)
	requireMoney(t, "30.00", fam1.LedgerPatient)
	requireMoney(t, "0.33", fam1.FileInsurance)
	requireMoney(t, "19.99", rec.Patients[1].LedgerPatient)
	gb, err := f.Store.GuarantorBalances(ctx, f.Actor.PracticeID, []ledger.ID{fam1.GuarantorID})
	require.NoError(t, err)
	requireMoney(t, "30.00", gb[fam1.GuarantorID].Balance, "the family's balance is what the file says")

	// A payment since: the live reconciliation shows the difference.
	p1, err := f.Store.ListPatients(ctx, f.Actor.PracticeID, ledger.PatientFilter{ExternalID: "P1"}, ledger.Page{First: 1})
	require.NoError(t, err)
	line := chargesOf(t, f, p1.Rows[0])[0]
	f.Pay(t, p1.Rows[0], "0.01", ledgertest.On("0.01", line))
	rec2, err := f.Ledger.ReconcileBalanceImport(ctx, f.Actor, res.Import.ID)
	require.NoError(t, err)
	require.False(t, rec2.Matches)
	require.False(t, rec2.Patients[0].Matches)
	requireMoney(t, "10.00", rec2.Patients[0].LedgerPatient)
	require.True(t, rec2.Patients[2].Matches)
}

// TestBalanceForwardConcurrentCommits: the same file committed twice at once
// posts once; the other commit says it was imported already.
func TestBalanceForwardConcurrentCommits(t *testing.T) {
	t.Parallel()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	file := header + "A1,,,,,,2024-01-01,30.00,,,,,\nA1,,,,,,2024-02-01,12.00,,,,,\n"
	outcomes := make(chan ledger.ImportOutcome, 2)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			res, err := f.Ledger.ImportBalances(context.Background(), f.Actor, ledger.ImportRequest{
				File: strings.NewReader(file), Mode: ledger.ImportCommit})
			errs <- err
			outcomes <- res.Report.Outcome
		}()
	}
	got := map[ledger.ImportOutcome]int{}
	for range 2 {
		require.NoError(t, <-errs)
		got[<-outcomes]++
	}
	require.Equal(t, map[ledger.ImportOutcome]int{ledger.OutcomeCommitted: 1, ledger.OutcomeAlreadyImported: 1}, got)
	requireMoney(t, "42.00", patientBalance(t, f, jane).Balance)
}

// headerKind is the test header with the optional kind column.
var headerKind = strings.TrimSuffix(header, "\n") + ",kind\n"

// TestBalanceForwardNegativeProduction (issue 17): a row of kind
// NEGATIVE_PRODUCTION is a negative-fee PROCEDURE line on the patient's
// balance-forward encounter — a credit on its line that no money backs —
// while a negative BALANCE row stays a credit held as money on a BF
// receipt. The report counts it apart, the commit reconciles, its row key
// differs from the same row as a BALANCE credit, undo reverses it with an
// adjustment; a positive or undated negative-production row, one for
// INSURANCE and an unknown kind are errors, and a commit of them writes
// nothing.
func TestBalanceForwardNegativeProduction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	jane := patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	file := headerKind +
		"A1,,,,,,2024-01-01,30.00,,,,,copay,\n" +
		"A1,,,,,,2024-02-01,-10.00,,,,,overpaid,BALANCE\n" +
		"A1,,,,,,2024-03-01,-40.00,,,D9999,,courtesy,negative_production\n"

	before := ledgerRows(t, db)
	v := importFile(t, f, ledger.ImportValidate, file, ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeValid, v)
	require.Empty(t, v.Issues)
	requireMoney(t, "50.00", v.Totals.PatientCredits)
	requireMoney(t, "40.00", v.Totals.NegativeProduction)
	requireMoney(t, "-20.00", v.Totals.PatientBalance)
	requireMoney(t, "40.00", v.Patients[0].Totals.NegativeProduction)
	require.Contains(t, v.Message, "hold 50.00 in credits (40.00 of it negative production)")
	require.Equal(t, before, ledgerRows(t, db), "VALIDATE writes nothing")

	res := importFile(t, f, ledger.ImportCommit, file, ledger.ImportOptions{})
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.True(t, res.Report.Reconciliation.Matches)
	requireMoney(t, "50.00", res.Import.PatientCredits)
	cs := chargesOf(t, f, jane)
	require.Len(t, cs, 3)
	neg := cs[2]
	require.Equal(t, ledger.ChargeProcedure, neg.Kind, "negative production is a procedure with a negative fee")
	require.Equal(t, ledger.StatusCompleted, neg.Status)
	requireMoney(t, "-40.00", neg.Amount)
	requireMoney(t, "0.00", neg.InsuranceEstimate)
	require.Equal(t, "D9999", neg.Code)
	require.Equal(t, "courtesy", neg.Note)
	require.Equal(t, "2024-03-01", neg.ServiceDate.String())
	require.Equal(t, *cs[0].EncounterID, *neg.EncounterID, "on the patient's balance-forward encounter")
	requireMoney(t, "-40.00", owed(t, f, neg))
	splits, err := f.Store.SplitsOfCharges(ctx, f.Actor.PracticeID, []ledger.ID{neg.ID})
	require.NoError(t, err)
	require.Empty(t, splits, "no money backs negative production")
	var held []string
	require.NoError(t, db.Select(&held, `SELECT amount::text FROM receipts WHERE practice_id = $1 AND kind = 'BALANCE_FORWARD'`, f.Actor.PracticeID))
	require.Equal(t, []string{"10.00"}, held, "only the BALANCE credit is held as money")
	var flags []bool
	require.NoError(t, db.Select(&flags, `SELECT negative_production FROM balance_import_lines WHERE practice_id = $1 ORDER BY row_number`,
		f.Actor.PracticeID))
	require.Equal(t, []bool{false, false, true}, flags)
	b := patientBalance(t, f, jane)
	requireMoney(t, "-20.00", b.Balance)
	requireMoney(t, "50.00", b.Credit)
	requireMoney(t, "0.00", b.Unallocated)

	// The same rows again post nothing; the negative-production row given
	// as a BALANCE credit is another row.
	requireOutcome(t, ledger.OutcomeAlreadyImported, importFile(t, f, ledger.ImportValidate, file+"\n", ledger.ImportOptions{}).Report)
	v = importFile(t, f, ledger.ImportValidate, headerKind+"A1,,,,,,2024-03-01,-40.00,,,D9999,,courtesy,BALANCE\n", ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeValid, v)
	require.Equal(t, 1, v.RowsToPost)
	requireMoney(t, "0.00", v.Totals.NegativeProduction)

	// Undo: an adjustment takes the negative fee back to nothing.
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	require.NoError(t, err)
	requireMoney(t, "0.00", owed(t, f, neg))
	b = patientBalance(t, f, jane)
	requireMoney(t, "0.00", b.Balance)
	requireMoney(t, "0.00", b.Credit)

	// Bad rows: errors by row and column; a commit writes nothing.
	bad := headerKind +
		"A1,,,,,,2024-03-01,40.00,,,,,,NEGATIVE_PRODUCTION\n" +
		"A1,,,,,,,-40.00,,,,,,NEGATIVE_PRODUCTION\n" +
		"A1,,,,,,2024-03-01,-40.00,,,,INSURANCE,,NEGATIVE_PRODUCTION\n" +
		"A1,,,,,,2024-03-01,-40.00,,,,,,PRODUCTION\n"
	before = ledgerRows(t, db)
	r := importFile(t, f, ledger.ImportCommit, bad, ledger.ImportOptions{}).Report
	requireOutcome(t, ledger.OutcomeRejected, r)
	requireIssue(t, r.Issues, 2, ledger.ColAmount, ledger.IssueBadSign, ledger.SeverityError)
	requireIssue(t, r.Issues, 3, ledger.ColServiceDate, ledger.IssueMissingValue, ledger.SeverityError)
	requireIssue(t, r.Issues, 4, ledger.ColAmount, ledger.IssueInsuranceCredit, ledger.SeverityError)
	requireIssue(t, r.Issues, 5, ledger.ColKind, ledger.IssueBadValue, ledger.SeverityError)
	require.Equal(t, 4, r.Errors, "%+v", r.Issues)
	require.Equal(t, before, ledgerRows(t, db), "a rejected commit writes nothing")
}
