package ledger_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// rowsReader generates a balance-forward file of n rows as it is read, so
// that the test itself never holds the file.
type rowsReader struct {
	n, next int
	row     func(i int) string
	buf     []byte
}

func (r *rowsReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.next == 0:
			r.buf = []byte(header)
		case r.next > r.n:
			return 0, io.EOF
		default:
			r.buf = []byte(r.row(r.next - 1))
		}
		r.next++
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

// TestScanBalanceForwardStreams: the scanner hands every row to its caller
// in one reused row and every issue to the issue hook, and keeps neither:
// what it holds does not grow with the file.
func TestScanBalanceForwardStreams(t *testing.T) {
	t.Parallel()
	const n = 50_000
	src := &rowsReader{n: n, row: func(i int) string {
		if i%10 == 0 {
			return fmt.Sprintf("P%d,,,,,,2024-13-01,1.00,,,,,\n", i) // a bad date
		}
		return fmt.Sprintf("P%d,,,,,,2024-01-01,%d.00,,,,,memo %d\n", i, i%500+1, i)
	}}
	var rows, issues int
	var first *ledger.BalanceForwardRow
	reused := true
	f, err := ledger.ScanBalanceForward(src, ledger.ParseOptions{Today: parseToday, Issue: func(is ledger.ImportIssue) {
		require.Equal(t, ledger.IssueBadDate, is.Code)
		issues++
	}}, func(r *ledger.BalanceForwardRow) error {
		if first == nil {
			first = r
		}
		reused = reused && r == first
		rows++
		require.Equal(t, rows+1, r.Row, "rows come in file order")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, n, rows)
	require.Equal(t, n, f.RowCount)
	require.Equal(t, n/10, issues)
	require.True(t, reused, "one row is reused for every record")
	require.Empty(t, f.Rows, "the scanner keeps no row")
	require.Empty(t, f.Issues, "issues went to the hook")
	require.Len(t, f.SHA256, 64)

	// A callback's error stops the scan.
	stop := fmt.Errorf("stop")
	_, err = ledger.ScanBalanceForward(strings.NewReader(header+"P1,,,,,,2024-01-01,1.00,,,,,\n"), ledger.ParseOptions{Today: parseToday},
		func(*ledger.BalanceForwardRow) error { return stop })
	require.ErrorIs(t, err, stop)
}

// TestBalanceForwardIssuesCapped: a file with an error on each of its
// thousands of rows reports the first MaxReportIssues by row, whichever pass
// found them, and counts every one by code; the counts and totals stay exact.
func TestBalanceForwardIssuesCapped(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	var file strings.Builder
	file.WriteString(header)
	file.WriteString("A1,,,,,,2024-01-01,10.00,,,,,\n") // row 2: posts
	for i := range 1500 {                               // rows 3–1502: unknown patients (found when matching)
		fmt.Fprintf(&file, "U%d,,,,,,2024-01-01,1.00,,,,,\n", i)
	}
	for range 700 { // rows 1503–2202: bad dates (found when reading)
		file.WriteString("A1,,,,,,2024-02-30,1.00,,,,,\n")
	}
	file.WriteString("A1,,,,,,2024-01-02,0.00,,,,,\n") // row 2203: a zero amount (a warning)
	before := ledgerRows(t, db)
	for _, mode := range []ledger.ImportMode{ledger.ImportValidate, ledger.ImportCommit} {
		r := importFile(t, f, mode, file.String(), ledger.ImportOptions{}).Report
		require.Equal(t, before, ledgerRows(t, db), "%s writes nothing", mode)
		require.Equal(t, 2202, r.Rows)
		require.Equal(t, 2200, r.Errors)
		require.Equal(t, 1, r.Warnings)
		require.Equal(t, 1, r.RowsSkipped)
		require.True(t, r.IssuesTruncated)
		require.Len(t, r.Issues, ledger.MaxReportIssues)
		for i, is := range r.Issues {
			require.Equal(t, i+3, is.Row, "the first issues by row")
			require.Equal(t, ledger.IssueUnknownPatient, is.Code)
		}
		require.Equal(t, []ledger.ImportIssueCount{
			{Code: ledger.IssueBadDate, Severity: ledger.SeverityError, Count: 700},
			{Code: ledger.IssueUnknownPatient, Severity: ledger.SeverityError, Count: 1500},
			{Code: ledger.IssueZeroAmount, Severity: ledger.SeverityWarning, Count: 1},
		}, r.IssueCounts)
		require.Equal(t, 1, r.RowsToPost)
		requireMoney(t, "10.00", r.Totals.PatientBalance)
	}
}

// TestBalanceForwardManyPatients: a file naming more patients than a report
// lists is committed whole, across every batch of the import (lookups,
// posting, reconciling); the report lists the first patients and counts all,
// and a reconciliation lists the lines that differ first.
func TestBalanceForwardManyPatients(t *testing.T) {
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	const n = ledger.MaxReportPatients + 5
	var file strings.Builder
	file.WriteString(header)
	for i := range n {
		fmt.Fprintf(&file, "P%04d,Last%d,First%d,1980-01-01,,,2024-01-01,10.00,,,,,\n", i, i, i)
		if i%100 == 0 {
			fmt.Fprintf(&file, "P%04d,,,,,,2024-01-02,-2.50,,,,,\n", i) // a credit
			fmt.Fprintf(&file, "P%04d,,,,,,2024-01-01,10.00,,,,,\n", i) // a duplicate row
		}
	}
	restore := ledger.SmallImportBatches() // not parallel: it sets the package's batch sizes
	defer restore()
	opts := ledger.ImportOptions{CreateMissingPatients: true}
	for _, mode := range []ledger.ImportMode{ledger.ImportValidate, ledger.ImportCommit} {
		r := importFile(t, f, mode, file.String(), opts).Report
		if mode == ledger.ImportValidate {
			requireOutcome(t, ledger.OutcomeValid, r)
		} else {
			requireOutcome(t, ledger.OutcomeCommitted, r)
		}
		require.Equal(t, n, r.PatientCount)
		require.Equal(t, n, r.PatientsCreated)
		require.Len(t, r.Patients, ledger.MaxReportPatients)
		require.True(t, r.PatientsTruncated)
		require.Equal(t, "P0000", r.Patients[0].ExternalID)
		require.Equal(t, n+11, r.RowsToPost)
		require.Equal(t, 11, r.RowsSkipped)
		requireMoney(t, ledger.Cents(n*1000-11*250).String(), r.Totals.PatientBalance)
		require.Contains(t, r.Message, fmt.Sprintf("for %d patients", n))
	}
	res := importFile(t, f, ledger.ImportCommit, file.String(), opts)
	requireOutcome(t, ledger.OutcomeAlreadyImported, res.Report)

	imp := *res.Report.DuplicateOf
	rec, err := f.Ledger.ReconcileBalanceImport(ctx, f.Actor, imp)
	require.NoError(t, err)
	require.True(t, rec.Matches)
	require.Equal(t, n, rec.PatientCount)
	require.Equal(t, n, rec.GuarantorCount)
	require.True(t, rec.Truncated)
	require.Len(t, rec.Patients, ledger.MaxReportPatients)
	requireMoney(t, ledger.Cents(n*1000-11*250).String(), rec.LedgerPatient)
	lines, err := f.Store.BalanceImportLines(ctx, f.Actor.PracticeID, imp)
	require.NoError(t, err)
	require.Len(t, lines, n+11)

	// A payment on the last patient's line: that line comes first.
	last := lines[len(lines)-1]
	pts, err := f.Store.Patients(ctx, f.Actor.PracticeID, []ledger.ID{last.PatientID})
	require.NoError(t, err)
	cs, err := f.Store.Charges(ctx, f.Actor.PracticeID, []ledger.ID{last.ChargeID})
	require.NoError(t, err)
	f.Pay(t, pts[0], "1.00", ledgertest.On("1.00", cs[0]))
	rec, err = f.Ledger.ReconcileBalanceImport(ctx, f.Actor, imp)
	require.NoError(t, err)
	require.False(t, rec.Matches)
	require.Equal(t, 2, rec.Differing, "the patient's line and the family's")
	require.Equal(t, last.PatientID, *rec.Patients[0].PatientID)
	require.False(t, rec.Patients[0].Matches)
	require.True(t, rec.Patients[1].Matches)
}

// changingFile reads as one file the first time and as another after.
type changingFile struct {
	io.ReadSeeker
	first, later string
	reads        int
}

func (c *changingFile) Seek(off int64, whence int) (int64, error) {
	c.reads++
	text := c.first
	if c.reads > 1 {
		text = c.later
	}
	c.ReadSeeker = strings.NewReader(text)
	return c.ReadSeeker.Seek(off, whence)
}

// TestBalanceForwardFileChangedWhileRead: the import reads its file more
// than once; a file that changes meanwhile is refused and nothing is written.
func TestBalanceForwardFileChangedWhileRead(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	patientWith(t, f, "Jane", "Doe", "1985-04-12", "A1")
	before := ledgerRows(t, db)
	for _, mode := range []ledger.ImportMode{ledger.ImportValidate, ledger.ImportCommit} {
		file := &changingFile{first: header + "A1,,,,,,2024-01-01,10.00,,,,,\n", later: header + "A1,,,,,,2024-01-01,99.00,,,,,\n"}
		_, err := f.Ledger.ImportBalances(context.Background(), f.Actor, ledger.ImportRequest{File: file, Mode: mode})
		var bad *ledger.InputError
		require.ErrorAs(t, err, &bad)
		require.Equal(t, "file", bad.Field)
		require.Contains(t, err.Error(), "changed while it was being read")
		require.Equal(t, before, ledgerRows(t, db))
	}
}
