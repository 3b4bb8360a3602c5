package ledger_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

var parseToday = ledger.MustDate("2026-06-15")

func parse(t *testing.T, file string) *ledger.BalanceForwardFile {
	t.Helper()
	f, err := ledger.ParseBalanceForward(strings.NewReader(file), ledger.ParseOptions{Name: "t.csv", Today: parseToday})
	require.NoError(t, err)
	return f
}

// issueAt finds the issue with code at row and column.
func issueAt(issues []ledger.ImportIssue, row int, col, code string) *ledger.ImportIssue {
	for i := range issues {
		if is := &issues[i]; is.Row == row && is.Column == col && is.Code == code {
			return is
		}
	}
	return nil
}

func requireIssue(t *testing.T, issues []ledger.ImportIssue, row int, col, code string, sev ledger.ImportSeverity) ledger.ImportIssue {
	t.Helper()
	is := issueAt(issues, row, col, code)
	require.NotNil(t, is, "no %s %s at row %d column %q in %+v", sev, code, row, col, issues)
	require.Equal(t, sev, is.Severity, "%+v", *is)
	return *is
}

const header = "patient_external_id,patient_last_name,patient_first_name,patient_birth_date,guarantor_external_id,guarantor_name,service_date,amount,provider,location,code,responsibility,memo\n"

func TestParseAmounts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want, err string }{
		{"30", "30.00", ""},
		{"30.5", "30.50", ""},
		{"1,234.50", "1234.50", ""},
		{"12,345,678.9", "12345678.90", ""},
		{"$30.00", "30.00", ""},
		{" $1,234.50 ", "1234.50", ""},
		{"-30.00", "-30.00", ""},
		{"-$30.00", "-30.00", ""},
		{"$-30.00", "-30.00", ""},
		{"(30.00)", "-30.00", ""},
		{"($1,030.00)", "-1030.00", ""},
		{"+12", "", "not an amount"},
		{"030.00", "", "leading zeros"},
		{"12,345,678,901,234.00", "", "at most 13 digits"},
		{"(0.5)", "-0.50", ""},
		{".50", "0.50", ""},
		{"30.", "30.00", ""},
		{"0.00", "0.00", ""},
		{"30.005", "", "more than two decimal places"},
		{"1,23", "", "not an amount"},
		{"1.234,50", "", "not an amount"},
		{"12,34.5", "", "not an amount"},
		{"(-30)", "", "not both"},
		{"30 USD", "", "not an amount"},
		{"1e3", "", "not an amount"},
		{"--3", "", "not an amount"},
		{"$", "", "not an amount"},
		{"()", "", "not an amount"},
		{"NaN", "", "not an amount"},
	} {
		f := parse(t, header+"A1,,,,,,2024-01-31,\""+c.in+"\",,,,,\n")
		require.Len(t, f.Rows, 1, c.in)
		row := f.Rows[0]
		if c.err != "" {
			is := requireIssue(t, f.Issues, 2, ledger.ColAmount, ledger.IssueBadAmount, ledger.SeverityError)
			require.Contains(t, is.Message, c.err, c.in)
			require.True(t, row.Invalid, c.in)
			continue
		}
		require.True(t, row.HasAmount, "%s: %+v", c.in, f.Issues)
		require.Equal(t, c.want, row.Amount.String(), c.in)
	}
}

func TestParseDates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want, code string }{
		{"2024-01-31", "2024-01-31", ""},
		{"01/31/2024", "2024-01-31", ""},
		{"1/5/2024", "2024-01-05", ""},
		{"2024-2-29", "2024-02-29", ""},
		{"02/29/2023", "", ledger.IssueBadDate}, // not a leap year
		{"2024-02-30", "", ledger.IssueBadDate},
		{"31/01/2024", "", ledger.IssueBadDate}, // day first: month 31
		{"13/01/2024", "", ledger.IssueBadDate},
		{"01/31/24", "", ledger.IssueBadDate}, // two-digit year
		{"2024/01/31", "", ledger.IssueBadDate},
		{"Jan 31 2024", "", ledger.IssueBadDate},
		{"1899-12-31", "", ledger.IssueBadDate},
		{"01/01/0001", "", ledger.IssueBadDate},
		{"1900-01-01", "1900-01-01", ""},
		{"2026-06-16", "", ledger.IssueFutureDate}, // tomorrow
		{"2026-06-15", "2026-06-15", ""},           // today
	} {
		f := parse(t, header+"A1,,,,,,"+c.in+",30.00,,,,,\n")
		require.Len(t, f.Rows, 1, c.in)
		if c.code != "" {
			requireIssue(t, f.Issues, 2, ledger.ColServiceDate, c.code, ledger.SeverityError)
			continue
		}
		require.Empty(t, f.Issues, c.in)
		require.Equal(t, c.want, f.Rows[0].ServiceDate.String(), c.in)
	}
}

// TestParseFileShapes: BOM, Windows line endings, ';' and tab delimiters
// (detected or given), quoted fields with delimiters and line breaks, header
// spelling, hints and extra columns.
func TestParseFileShapes(t *testing.T) {
	t.Parallel()
	rows := []string{
		"A1,Doe,Jane,04/12/1985,G1,\"Doe, John\",01/01/2024,\"1,234.50\",DR1,MAIN,PREV BAL,PATIENT,\"two\nlines, with a comma\"",
		"A2,Roe,Rick,1972-11-30,,,2024-02-15,$25.00,,,,insurance,",
	}
	comma := header + strings.Join(rows, "\n") + "\n"
	check := func(t *testing.T, name string, f *ledger.BalanceForwardFile, delim rune) {
		t.Helper()
		require.Empty(t, f.Issues, name)
		require.Equal(t, delim, f.Delimiter, name)
		require.Len(t, f.Rows, 2, name)
		a, b := f.Rows[0], f.Rows[1]
		require.Equal(t, 2, a.Row)
		require.Equal(t, 3, b.Row)
		require.Equal(t, 4, b.Line, "the quoted line break moves row 3 to line 4")
		require.Equal(t, "Doe, John", a.GuarantorName)
		require.Equal(t, "two\nlines, with a comma", a.Memo)
		require.Equal(t, "1234.50", a.Amount.String())
		require.Equal(t, "1985-04-12", a.PatientBirthDate.String())
		require.Equal(t, ledger.ResponsibilityPatient, a.Responsibility)
		require.Equal(t, "25.00", b.Amount.String())
		require.Equal(t, ledger.ResponsibilityInsurance, b.Responsibility, "responsibility is read in any case")
		require.Equal(t, ledger.DefaultBalanceForwardCode, b.Code, "the default code")
	}
	check(t, "comma", parse(t, comma), ',')

	crlf := "\uFEFF" + strings.ReplaceAll(strings.ReplaceAll(comma, "\n", "\r\n"), "two\r\nlines", "two\nlines")
	check(t, "BOM and CRLF", parse(t, crlf), ',')

	for _, d := range []string{";", "\t"} {
		// Re-delimit: only the unquoted commas between fields.
		var b strings.Builder
		quoted := false
		for _, r := range comma {
			if r == '"' {
				quoted = !quoted
			}
			if r == ',' && !quoted {
				b.WriteString(d)
				continue
			}
			b.WriteRune(r)
		}
		check(t, "detected "+d, parse(t, b.String()), rune(d[0]))
		f, err := ledger.ParseBalanceForward(strings.NewReader(b.String()), ledger.ParseOptions{Today: parseToday, Delimiter: rune(d[0])})
		require.NoError(t, err)
		check(t, "given "+d, f, rune(d[0]))
	}

	// Headers in another spelling, with hints, plus an unknown column.
	f := parse(t, "Patient External ID,Patient-Last-Name,PATIENT_FIRST_NAME,patient birth date (MM/DD/YYYY),Service Date (MM/DD/YYYY),Amount (negative = credit),Notes\n"+
		"A1,Doe,Jane,04/12/1985,01/01/2024,30,hello\n")
	require.Len(t, f.Rows, 1)
	require.Equal(t, "Doe", f.Rows[0].PatientLastName)
	requireIssue(t, f.Issues, 1, "Notes", ledger.IssueExtraColumn, ledger.SeverityWarning)
	require.Len(t, f.Issues, 1)
}

func TestParseHeaderProblems(t *testing.T) {
	t.Parallel()
	// A renamed required column: the renamed one is unknown (a warning), the
	// required one missing (an error); no row is read.
	f := parse(t, strings.Replace(header, ",amount,", ",balance_amt,", 1)+"A1,,,,,,2024-01-01,30,,,,,\n")
	requireIssue(t, f.Issues, 1, ledger.ColAmount, ledger.IssueMissingColumn, ledger.SeverityError)
	requireIssue(t, f.Issues, 1, "balance_amt", ledger.IssueExtraColumn, ledger.SeverityWarning)
	require.Empty(t, f.Rows)

	// Without an external id column, the name columns are all required.
	f = parse(t, "patient_last_name,patient_first_name,service_date,amount\nDoe,Jane,2024-01-01,30\n")
	requireIssue(t, f.Issues, 1, ledger.ColPatientExternalID, ledger.IssueMissingColumn, ledger.SeverityError)
	requireIssue(t, f.Issues, 1, ledger.ColPatientBirthDate, ledger.IssueMissingColumn, ledger.SeverityError)

	f = parse(t, "patient_external_id,amount,Amount,service_date\nA1,1,2,2024-01-01\n")
	requireIssue(t, f.Issues, 1, ledger.ColAmount, ledger.IssueDuplicateColumn, ledger.SeverityError)

	for _, empty := range []string{"", "\uFEFF", "\n\n", header, header + ",,,,,,,,,,,,\n\n"} {
		f = parse(t, empty)
		requireIssue(t, f.Issues, 0, "", ledger.IssueEmptyFile, ledger.SeverityError)
	}

	f = parse(t, "\xFF\xFEp\x00a\x00")
	requireIssue(t, f.Issues, 0, "", ledger.IssueBadEncoding, ledger.SeverityError)
}

func TestParseRowProblems(t *testing.T) {
	t.Parallel()
	f := parse(t, header+
		"A1,Doe,Jane,1985-04-12,,,2024-01-01,0.00,,,,,\n"+ // 2: zero: warning
		"A1,Doe,J\xE9r\xF4me,1985-04-12,,,2024-01-01,30,,,,,\n"+ // 3: Latin-1
		",Doe,Jane,,,,2024-01-01,30,,,,,\n"+ // 4: no way to find the patient
		"A1,,,,,,,30,,,,,\n"+ // 5: no DOS: warning
		"A1,,,,,,2024-01-01,-30,,,,INSURANCE,\n"+ // 6: insurance credit
		"A1,,,,,,2024-01-01,30,,,,SELF,\n"+ // 7: unknown responsibility
		"A1,,,,,,2024-01-01,30\n"+ // 8: too few fields
		"A1,,,,,,2024-01-01,30,,,,,,extra\n"+ // 9: too many
		"A1,,,,,,2024-01-01,30,,,"+strings.Repeat("X", 41)+",,\n"+ // 10: code too long
		"A1,,,2030-01-01,,,2020-01-01,30,,,,,\n"+ // 11: born in the future
		"A1,,,2024-01-01,,,2020-01-01,30,,,,,\n"+ // 12: service before birth: warning
		"A1,,,,,,2024-01-01,,,,,,\n"+ // 13: no amount
		"A1,,,,,,2024-01-01,\"30\"x,,,,,\n"+ // 14: a quote out of place
		"A1,Doe,Ja\x00ne,,,,2024-01-01,30,,,,,\n"+ // 15: NUL in a name
		"A1,,,,,,2024-01-01,30,,,,,a\x1b[2Jmemo\n"+ // 16: escape in the memo
		"A1,,,,,\"Doe,\nJohn\",2024-01-01,30,,,,,\n"+ // 17: a line break in a name
		"A1,,,,,,2024-01-01,30,,,,,\"tab\tand\r\nlines\"\n") // 18: the memo may span lines (fine)
	requireIssue(t, f.Issues, 2, ledger.ColAmount, ledger.IssueZeroAmount, ledger.SeverityWarning)
	requireIssue(t, f.Issues, 3, ledger.ColPatientFirstName, ledger.IssueBadEncoding, ledger.SeverityError)
	requireIssue(t, f.Issues, 4, ledger.ColPatientExternalID, ledger.IssueMissingValue, ledger.SeverityError)
	is := requireIssue(t, f.Issues, 5, ledger.ColServiceDate, ledger.IssueNoServiceDate, ledger.SeverityWarning)
	require.Contains(t, is.Message, "2026-06-15")
	requireIssue(t, f.Issues, 6, ledger.ColAmount, ledger.IssueInsuranceCredit, ledger.SeverityError)
	requireIssue(t, f.Issues, 7, ledger.ColResponsibility, ledger.IssueBadValue, ledger.SeverityError)
	requireIssue(t, f.Issues, 8, "", ledger.IssueFieldCount, ledger.SeverityError)
	requireIssue(t, f.Issues, 9, "", ledger.IssueFieldCount, ledger.SeverityError)
	requireIssue(t, f.Issues, 10, ledger.ColCode, ledger.IssueTooLong, ledger.SeverityError)
	requireIssue(t, f.Issues, 11, ledger.ColPatientBirthDate, ledger.IssueFutureDate, ledger.SeverityError)
	requireIssue(t, f.Issues, 12, ledger.ColServiceDate, ledger.IssueDateOrder, ledger.SeverityWarning)
	requireIssue(t, f.Issues, 13, ledger.ColAmount, ledger.IssueMissingValue, ledger.SeverityError)
	requireIssue(t, f.Issues, 14, "", ledger.IssueBadCSV, ledger.SeverityError)
	is = requireIssue(t, f.Issues, 15, ledger.ColPatientFirstName, ledger.IssueBadValue, ledger.SeverityError)
	require.Contains(t, is.Message, "U+0000")
	requireIssue(t, f.Issues, 16, ledger.ColMemo, ledger.IssueBadValue, ledger.SeverityError)
	requireIssue(t, f.Issues, 17, ledger.ColGuarantorName, ledger.IssueBadValue, ledger.SeverityError)
	require.Nil(t, issueAt(f.Issues, 18, ledger.ColMemo, ledger.IssueBadValue))
	require.Equal(t, 18, f.Rows[len(f.Rows)-1].Row)
	require.Equal(t, "tab\tand\nlines", f.Rows[len(f.Rows)-1].Memo)
	require.Nil(t, f.Rows[3].ServiceDate, "row 5 has no DOS")
	require.False(t, f.Rows[3].Invalid, "no DOS is a warning, not an error")
}

func TestParseSizeLimit(t *testing.T) {
	t.Parallel()
	file := header + strings.Repeat("A1,,,,,,2024-01-01,30,,,,,\n", 100)
	_, err := ledger.ParseBalanceForward(strings.NewReader(file), ledger.ParseOptions{Today: parseToday, MaxBytes: int64(len(file) - 1)})
	require.True(t, errors.Is(err, ledger.ErrFileTooLarge), "%v", err)
	f, err := ledger.ParseBalanceForward(strings.NewReader(file), ledger.ParseOptions{Today: parseToday, MaxBytes: int64(len(file))})
	require.NoError(t, err)
	require.Len(t, f.Rows, 100)
	require.Equal(t, int64(len(file)), f.Bytes)
}

// TestTemplateParses: the template reads back as its three example rows
// (a balance, a credit, negative production), with no issue, and states
// the US date order.
func TestTemplateParses(t *testing.T) {
	t.Parallel()
	tmpl := ledger.BalanceForwardTemplate()
	first, _, _ := strings.Cut(tmpl, "\r\n")
	require.Contains(t, first, "service_date (MM/DD/YYYY)")
	for _, c := range ledger.BalanceForwardColumns {
		require.Contains(t, first, c)
	}
	f := parse(t, tmpl)
	require.Empty(t, f.Issues)
	require.Len(t, f.Rows, 3)
	require.Equal(t, "30.00", f.Rows[0].Amount.String())
	require.Equal(t, "2024-01-01", f.Rows[0].ServiceDate.String())
	require.Equal(t, "-25.00", f.Rows[1].Amount.String())
	require.Equal(t, ledger.RowBalance, f.Rows[1].Kind)
	require.Equal(t, "-40.00", f.Rows[2].Amount.String())
	require.Equal(t, ledger.RowNegativeProduction, f.Rows[2].Kind)
}

// TestWriteParseRoundTrip: WriteBalanceForwardCSV writes what the parser reads.
func TestWriteParseRoundTrip(t *testing.T) {
	t.Parallel()
	d, b := ledger.MustDate("2024-03-01"), ledger.MustDate("1990-01-02")
	rows := []ledger.BalanceForwardRow{
		{PatientExternalID: "P1", PatientLastName: "O'Neil", PatientFirstName: "Ann, Jr", PatientBirthDate: &b, ServiceDate: &d,
			Amount: ledger.MustMoney("12.34"), Code: "PREV BAL", Responsibility: ledger.ResponsibilityPatient, Memo: "say \"hi\"\nthere"},
		{PatientExternalID: "P2", Amount: ledger.MustMoney("-5.00"), Code: "X", Responsibility: ledger.ResponsibilityPatient},
	}
	var buf bytes.Buffer
	require.NoError(t, ledger.WriteBalanceForwardCSV(&buf, rows))
	f := parse(t, buf.String())
	require.Len(t, f.Rows, 2)
	require.Equal(t, "Ann, Jr", f.Rows[0].PatientFirstName)
	require.Equal(t, "say \"hi\"\nthere", f.Rows[0].Memo)
	require.Equal(t, "-5.00", f.Rows[1].Amount.String())
	requireIssue(t, f.Issues, 3, ledger.ColServiceDate, ledger.IssueNoServiceDate, ledger.SeverityWarning)
}

// FuzzParseBalanceForward: whatever the bytes, the parser neither panics nor
// errs (below the size limit), every row and issue points inside the file,
// an amount it accepts has two places, and it is deterministic.
func FuzzParseBalanceForward(f *testing.F) {
	f.Add([]byte(ledger.BalanceForwardTemplate()))
	f.Add([]byte(header + "A1,Doe,Jane,04/12/1985,G1,\"Doe, John\",01/01/2024,\"($1,234.50)\",DR1,MAIN,,PATIENT,\"a\nb\"\n"))
	f.Add([]byte("\uFEFFpatient_external_id;service_date;amount\r\nA1;2024-01-01;30,00\r\n"))
	f.Add([]byte("patient_external_id\tservice_date\tamount\nA1\t\t30.005\n"))
	f.Add([]byte("\xFF\xFE"))
	f.Add([]byte(""))
	f.Add([]byte(header + "A1,,Ja\x00ne,0001-01-01,,,12/31/2199,+1.00,,,,,\x1b\n0,,,,,,2200-01-01,01.00,,,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := ledger.ParseOptions{Today: parseToday, MaxBytes: 1 << 20}
		a, err := ledger.ParseBalanceForward(bytes.NewReader(data), opt)
		if err != nil {
			var in *ledger.InputError
			if len(data) > 1<<20 && errors.Is(err, ledger.ErrFileTooLarge) || errors.As(err, &in) {
				return
			}
			t.Fatalf("error: %v", err)
		}
		b, err := ledger.ParseBalanceForward(bytes.NewReader(data), opt)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b), "deterministic")
		require.Equal(t, int64(len(data)), a.Bytes)
		last := 1
		for _, r := range a.Rows {
			require.Greater(t, r.Row, last, "rows are numbered in order after the header")
			last = r.Row
			if r.HasAmount {
				require.Equal(t, r.Amount.String(), ledger.MustMoney(r.Amount.String()).String())
			}
			if !r.Invalid {
				require.NotEmpty(t, r.Code)
			}
		}
		for _, is := range a.Issues {
			require.GreaterOrEqual(t, is.Row, 0)
			require.LessOrEqual(t, is.Row, bytes.Count(data, []byte("\n"))+1, "a record starts on a line: %+v", is)
			require.Contains(t, []ledger.ImportSeverity{ledger.SeverityError, ledger.SeverityWarning}, is.Severity)
			require.NotEmpty(t, is.Message)
		}
	})
}
