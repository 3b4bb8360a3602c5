package ledger_test

import (
	"archive/zip"
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// historyZip zips files (name → content) as a history set.
func historyZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// templateFiles is the template set, file by file.
func templateFiles() map[string]string {
	out := map[string]string{}
	for _, f := range ledger.HistoryFiles {
		out[f.Name] = ledger.HistoryTemplateFile(f)
	}
	return out
}

func importHistory(t testing.TB, f *ledgertest.Practice, mode ledger.ImportMode, set []byte) ledger.ImportReport {
	t.Helper()
	res, err := f.Ledger.ImportHistory(context.Background(), f.Actor, ledger.ImportRequest{
		File: bytes.NewReader(set), FileName: "history.zip", Mode: mode})
	require.NoError(t, err)
	return res.Report
}

func countOf(r ledger.ImportReport, code string) int {
	n := 0
	for _, c := range r.IssueCounts {
		if c.Code == code {
			n += c.Count
		}
	}
	return n
}

// TestHistoryTemplate imports the template set: VALIDATE reports its
// findings and writes nothing; COMMIT posts it and reconciles each family
// with the balance the file gives; the same set again posts nothing.
func TestHistoryTemplate(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	set := historyZip(t, templateFiles())
	before := ledgerRows(t, db)

	r := importHistory(t, f, ledger.ImportValidate, set)
	requireOutcome(t, ledger.OutcomeValid, r)
	require.Equal(t, before, ledgerRows(t, db), "VALIDATE writes nothing")
	require.Zero(t, r.Errors, "%+v", r.Issues)
	require.Equal(t, 2, countOf(r, ledger.FindingUnallocated), "%+v", r.Issues)
	require.Equal(t, 1, countOf(r, ledger.FindingOverpaidCharge), "%+v", r.Issues)
	require.Equal(t, 1, countOf(r, ledger.FindingOtherProvider), "%+v", r.Issues)
	require.Equal(t, 1, countOf(r, ledger.FindingNegativeProduction)+1, "no negative fee in the template")
	require.Zero(t, countOf(r, ledger.FindingBalanceDiffers), "%+v", r.Issues)
	require.Len(t, r.Files, len(ledger.HistoryFiles))
	require.Equal(t, ledger.EncodingUTF8, r.Files[0].Encoding)

	r = importHistory(t, f, ledger.ImportCommit, set)
	requireOutcome(t, ledger.OutcomeCommitted, r)
	require.NotNil(t, r.Reconciliation)
	require.Equal(t, 2, r.Reconciliation.GuarantorCount)
	require.True(t, r.Reconciliation.Matches, "%+v", r.Reconciliation)

	again := importHistory(t, f, ledger.ImportCommit, set)
	requireOutcome(t, ledger.OutcomeAlreadyImported, again)
}

// withFile replaces (or with "" removes) one file of a set.
func withFile(files map[string]string, name, body string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	if body == "" {
		delete(out, name)
	} else {
		out[name] = body
	}
	return out
}

// TestHistoryBadInput: what is malformed is refused, with the file, row
// and column, and nothing is written; the rest of the set still reports.
func TestHistoryBadInput(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	base := templateFiles()
	splits := "split_id,receipt_id,amount,procedure_id,adjustment_id,unearned_type_id,patient_id,provider_id,location_id\n"
	for _, c := range []struct {
		name               string
		files              map[string]string
		file, column, code string
		row                int
	}{
		{"unknown patient", withFile(base, "procedures.csv", "procedure_id,patient_id,provider_id,location_id,service_date,code,fee\nX1,P9,DR1,1,2024-01-10,D0150,120.00\n"),
			"procedures.csv", "patient_id", ledger.IssueUnknownRef, 2},
		{"splits do not sum", withFile(base, "splits.csv", splits+"S1,R1,80.00,X1,,,,,\nS2,R2,40.00,X1,,,,,\nS3,R2,100.00,,,,P2,,\nS4,R3,200.00,,,,P3,,\n"),
			"receipts.csv", "amount", ledger.IssueSplitsSum, 3},
		{"bad money", withFile(base, "receipts.csv", "receipt_id,kind,date,amount\nR1,PATIENT_PAYMENT,2024-01-10,12.345\n"),
			"receipts.csv", "amount", ledger.IssueBadAmount, 2},
		{"bad date", withFile(base, "adjustments.csv", "adjustment_id,patient_id,date,amount\nA1,P1,02/30/2024,5.00\n"),
			"adjustments.csv", "date", ledger.IssueBadDate, 2},
		{"duplicate key", withFile(base, "patients.csv", "patient_id,family_id,last_name,first_name\nP1,F100,Smith,John\nP1,F100,Smith,Emma\nP2,F100,Smith,Emma\nP3,F200,Jones,Mary\n"),
			"patients.csv", "patient_id", ledger.IssueDuplicateKey, 3},
		{"refund positive", withFile(base, "receipts.csv", "receipt_id,kind,date,amount\nR1,REFUND,2024-01-10,12.00\n"),
			"receipts.csv", "amount", ledger.IssueBadSign, 2},
		{"money on a planned procedure not on the treatment-plan type", withFile(base, "splits.csv", splits+"S1,R1,80.00,X4,,TP,,,\n"),
			"splits.csv", "unearned_type_id", ledger.IssuePlannedSplit, 2},
		{"utf-16", withFile(base, "locations.csv", "\xff\xfel\x00o\x00"), "locations.csv", "", ledger.IssueBadEncoding, 0},
		{"no families", withFile(base, "families.csv", ""), "families.csv", "", ledger.IssueMissingFile, 0},
		{"missing column", withFile(base, "receipts.csv", "receipt_id,kind,amount\nR1,PATIENT_PAYMENT,1.00\n"), "receipts.csv", "date", ledger.IssueMissingColumn, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ledgerRows(t, db)
			r := importHistory(t, f, ledger.ImportCommit, historyZip(t, c.files))
			requireOutcome(t, ledger.OutcomeRejected, r)
			require.Equal(t, before, ledgerRows(t, db), "a rejected set writes nothing")
			found := false
			for _, is := range r.Issues {
				if is.Code == c.code && is.File == c.file && is.Row == c.row && is.Column == c.column && is.Severity == ledger.SeverityError {
					found = true
				}
			}
			require.True(t, found, "want %s at %s row %d column %q; got %+v", c.code, c.file, c.row, c.column, r.Issues)
		})
	}

	_, err := f.Ledger.ImportHistory(context.Background(), f.Actor, ledger.ImportRequest{File: bytes.NewReader([]byte("not a zip")), Mode: ledger.ImportValidate})
	var in *ledger.InputError
	require.ErrorAs(t, err, &in)
	require.Equal(t, "file", in.Field)
}

// TestHistoryEncodingAndBatches: a Windows-1252 file is read as such and
// said so; a second batch with the first one's rows and new ones posts
// only the new ones, referring to the first batch's rows by their old ids.
func TestHistoryEncodingAndBatches(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	base := templateFiles()
	base["families.csv"] = "\xef\xbb\xbf" + base["families.csv"]
	base["patients.csv"] = "patient_id,family_id,last_name,first_name\nP1,F100,Smith,John\nP2,F100,Smith,Emma\nP3,F200,Jon\xe9s,Mary\n"
	r := importHistory(t, f, ledger.ImportCommit, historyZip(t, base))
	requireOutcome(t, ledger.OutcomeCommitted, r)
	enc := map[string]string{}
	for _, fi := range r.Files {
		enc[fi.Name] = fi.Encoding
	}
	require.Equal(t, ledger.EncodingUTF8BOM, enc["families.csv"])
	require.Equal(t, ledger.EncodingWindows1252, enc["patients.csv"])
	var last string
	require.NoError(t, db.Get(&last, `SELECT last_name FROM patients WHERE external_id = 'P3'`))
	require.Equal(t, "Jonés", last)

	// The second batch: everything again, plus a visit and its payment.
	base["procedures.csv"] += "X5,E9,P2,HYG1,1,2024-05-01,D1120,60.00,COMPLETED,,,\n"
	base["receipts.csv"] += "R4,PATIENT_PAYMENT,2024-05-01,60.00,P2,,,,\n"
	base["splits.csv"] += "S6,R4,60.00,X5,,,,,\n"
	before := ledgerRows(t, db)
	r = importHistory(t, f, ledger.ImportCommit, historyZip(t, base))
	requireOutcome(t, ledger.OutcomeCommitted, r)
	require.Equal(t, 3, r.RowsToPost, "%+v", r.Files)
	after := ledgerRows(t, db)
	require.Equal(t, before["charges"]+1, after["charges"])
	require.Equal(t, before["receipts"]+1, after["receipts"])
	require.Equal(t, before["splits"]+1, after["splits"])
	require.Equal(t, before["patients"], after["patients"])
	require.True(t, r.Reconciliation.Matches, "%+v", r.Reconciliation)
}

// TestHistoryUndo: a history import is undone as a whole — every family's
// total back to what it was, the rows kept — and may then be imported
// again; an undo is refused once something was posted since for a patient
// it touched, and an import undone twice is a CONFLICT.
func TestHistoryUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	set := historyZip(t, templateFiles())
	res, err := f.Ledger.ImportHistory(ctx, f.Actor, ledger.ImportRequest{File: bytes.NewReader(set), Mode: ledger.ImportCommit})
	require.NoError(t, err)
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	totals := func() map[string]string {
		out := map[string]string{}
		for ext, b := range familyTotals(t, f) {
			out[ext] = b.Balance.Sub(b.HiddenUnearned).String()
		}
		return out
	}
	require.Equal(t, map[string]string{"F100": "40.00", "F200": "-200.00"}, totals())

	imp, err := f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	require.NoError(t, err)
	require.Equal(t, ledger.ImportUndone, imp.Status)
	require.Equal(t, map[string]string{"F100": "0.00", "F200": "0.00"}, totals())
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	require.ErrorIs(t, err, ledger.ErrConflict)

	res, err = f.Ledger.ImportHistory(ctx, f.Actor, ledger.ImportRequest{File: bytes.NewReader(set), Mode: ledger.ImportCommit})
	require.NoError(t, err)
	requireOutcome(t, ledger.OutcomeCommitted, res.Report)
	require.Equal(t, map[string]string{"F100": "40.00", "F200": "-200.00"}, totals())

	// A payment since, for a patient of the import: the undo is refused.
	var jane ledger.Patient
	require.NoError(t, db.Get(&jane.ID, `SELECT id FROM patients WHERE external_id = 'P1'`))
	f.Pay(t, jane, "5.00", ledgertest.Unallocated("5.00"))
	_, err = f.Ledger.UndoBalanceImport(ctx, f.Actor, ledger.UndoImport{ImportID: res.Import.ID})
	var inv *ledger.InvariantError
	require.ErrorAs(t, err, &inv)
	require.Equal(t, "import_untouched", inv.Invariant)
}
