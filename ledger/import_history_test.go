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
