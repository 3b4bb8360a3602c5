package ledger

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The balance-forward file: a CSV (or ;- or tab-separated) file with a header
// row and one row per balance to carry over from a prior system. Each row
// becomes one BALANCE_FORWARD charge line (docs/import.md).

// Column names of a balance-forward file, as the template writes them. A
// header matches a column whatever its case, spacing, underscores or hyphens
// ("Patient Last Name" is patient_last_name), and a trailing hint in
// parentheses is ignored ("service_date (MM/DD/YYYY)").
const (
	ColPatientExternalID   = "patient_external_id"
	ColPatientLastName     = "patient_last_name"
	ColPatientFirstName    = "patient_first_name"
	ColPatientBirthDate    = "patient_birth_date"
	ColGuarantorExternalID = "guarantor_external_id"
	ColGuarantorName       = "guarantor_name"
	ColServiceDate         = "service_date"
	ColAmount              = "amount"
	ColProvider            = "provider"
	ColLocation            = "location"
	ColCode                = "code"
	ColResponsibility      = "responsibility"
	ColMemo                = "memo"
	ColKind                = "kind"
)

// BalanceForwardColumns lists the template's columns in order.
var BalanceForwardColumns = []string{
	ColPatientExternalID, ColPatientLastName, ColPatientFirstName, ColPatientBirthDate,
	ColGuarantorExternalID, ColGuarantorName, ColServiceDate, ColAmount,
	ColProvider, ColLocation, ColCode, ColResponsibility, ColMemo, ColKind,
}

// DefaultBalanceForwardCode is the code of a line whose row gives none
// (Elation's suggestion).
const DefaultBalanceForwardCode = "PREV BAL"

// templateHints are the hints the template's header carries.
var templateHints = map[string]string{
	ColPatientBirthDate: " (MM/DD/YYYY)",
	ColServiceDate:      " (MM/DD/YYYY)",
	ColAmount:           " (negative = credit)",
	ColCode:             " (default PREV BAL)",
	ColResponsibility:   " (PATIENT or INSURANCE)",
	ColKind:             " (BALANCE or NEGATIVE_PRODUCTION)",
}

// BalanceForwardTemplate is the downloadable CSV template: the header row
// (with hints on how dates and amounts are written; US month/day order) and
// three example rows (a balance owed, a credit, negative production), with
// Windows line endings as spreadsheets write them.
func BalanceForwardTemplate() string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	header := make([]string, len(BalanceForwardColumns))
	for i, c := range BalanceForwardColumns {
		header[i] = c + templateHints[c]
	}
	_ = w.Write(header)
	_ = w.Write([]string{"A1001", "Doe", "Jane", "04/12/1985", "G500", "John Doe", "01/01/2024", "30.00",
		"DR1", "MAIN", DefaultBalanceForwardCode, "PATIENT", "January copay", ""})
	_ = w.Write([]string{"A1002", "Roe", "Richard", "11/30/1972", "", "", "02/15/2024", "-25.00",
		"", "", DefaultBalanceForwardCode, "PATIENT", "Overpaid: a credit to re-apply", "BALANCE"})
	_ = w.Write([]string{"A1002", "Roe", "Richard", "11/30/1972", "", "", "03/01/2024", "-40.00",
		"", "", "D9999", "PATIENT", "Courtesy discount: no money was paid", string(RowNegativeProduction)})
	w.Flush()
	return b.String()
}

// Responsibility says who owes a balance-forward line.
type Responsibility string

const (
	ResponsibilityPatient   Responsibility = "PATIENT"   // the patient owes it (the default)
	ResponsibilityInsurance Responsibility = "INSURANCE" // pending insurance: the patient owes nothing yet
)

// RowKind says what a balance-forward row carries (docs/import.md).
type RowKind string

const (
	// RowBalance is a balance (the default): positive, owed; negative, a
	// credit the patient holds as money.
	RowBalance RowKind = "BALANCE"
	// RowNegativeProduction is a negative-fee procedure (a discount or
	// courtesy the old system booked as production below zero): a credit on
	// its line that no money backs. Its amount is negative, its
	// responsibility PATIENT, and it needs its date of service.
	RowNegativeProduction RowKind = "NEGATIVE_PRODUCTION"
)

// BalanceForwardRow is one row of a balance-forward file, read and checked
// but not yet matched to the ledger. Text is trimmed; an empty value is "".
type BalanceForwardRow struct {
	Row  int // the record's number, the header being row 1 (a spreadsheet's row number)
	Line int // the line of the file the record starts on

	PatientExternalID   string
	PatientLastName     string
	PatientFirstName    string
	PatientBirthDate    *Date
	GuarantorExternalID string
	GuarantorName       string
	ServiceDate         *Date // nil: the row gives none, and the line takes the import date
	Amount              Money // negative: a credit the patient holds
	Provider            string
	Location            string
	Code                string // DefaultBalanceForwardCode when the row gives none
	Responsibility      Responsibility
	Memo                string
	Kind                RowKind // RowBalance when the row gives none

	// Invalid is set when a value of the row could not be read; the file's
	// issues say which. An invalid row never posts.
	Invalid bool
	// HasAmount is set when the amount was read (totals count only those).
	HasAmount bool
}

// BalanceForwardFile is what reading a balance-forward file found: the
// file's identity and header, and (ParseBalanceForward only) its rows and
// issues.
type BalanceForwardFile struct {
	Name      string // the file's name, as uploaded (may be empty)
	SHA256    string // hex SHA-256 of the file's bytes
	Bytes     int64
	Delimiter rune
	Header    []string // the header as read
	RowCount  int      // rows read (blank rows are not counted)
	// Rows and Issues are filled by ParseBalanceForward; ScanBalanceForward
	// hands rows and issues to its caller instead and keeps none.
	Rows   []BalanceForwardRow
	Issues []ImportIssue

	errors  int               // issues of severity ERROR found so far
	colAt   []string          // per header cell: its template column, or "" for another cell
	unnamed []bool            // per header cell: it names nothing (values under it must be empty)
	onIssue func(ImportIssue) // nil: append to Issues
}

// Errors reports whether any issue is an error.
func (f *BalanceForwardFile) Errors() bool { return f.errors > 0 }

// ImportSeverity grades an issue: an error stops a commit, a warning does not.
type ImportSeverity string

const (
	SeverityError   ImportSeverity = "ERROR"
	SeverityWarning ImportSeverity = "WARNING"
)

// Issue codes: what an issue is about, for clients to act on.
const (
	IssueEmptyFile        = "EMPTY_FILE"        // no header, or a header and no rows
	IssueBadEncoding      = "BAD_ENCODING"      // not UTF-8
	IssueBadCSV           = "BAD_CSV"           // a quote out of place
	IssueMissingColumn    = "MISSING_COLUMN"    // a required column is not in the header
	IssueDuplicateColumn  = "DUPLICATE_COLUMN"  // two header cells name the same column
	IssueExtraColumn      = "EXTRA_COLUMN"      // a header cell names no column; ignored
	IssueFieldCount       = "FIELD_COUNT"       // more or fewer fields than the header
	IssueMissingValue     = "MISSING_VALUE"     // a value the row needs is empty
	IssueBadAmount        = "BAD_AMOUNT"        // not an amount, or more than two decimal places
	IssueBadDate          = "BAD_DATE"          // not a date, or an impossible one
	IssueFutureDate       = "FUTURE_DATE"       // a service or birth date after today
	IssueBadValue         = "BAD_VALUE"         // e.g. an unknown responsibility
	IssueTooLong          = "TOO_LONG"          // over the column's length limit
	IssueInsuranceCredit  = "INSURANCE_CREDIT"  // a negative INSURANCE amount (or a NEGATIVE_PRODUCTION row for INSURANCE)
	IssueZeroAmount       = "ZERO_AMOUNT"       // warning: 0.00 posts nothing; skipped
	IssueNoServiceDate    = "NO_SERVICE_DATE"   // warning: the line takes the import date
	IssueDateOrder        = "DATE_ORDER"        // warning: service before birth
	IssueDuplicateRow     = "DUPLICATE_ROW"     // warning: the same as an earlier row; skipped
	IssueAlreadyImported  = "ALREADY_IMPORTED"  // warning: posted by an earlier import; skipped
	IssueUnknownPatient   = "UNKNOWN_PATIENT"   // no patient matches (and none may be created)
	IssueAmbiguousPatient = "AMBIGUOUS_PATIENT" // several patients match; or the match has another external id
	IssuePatientMismatch  = "PATIENT_MISMATCH"  // warning: matched by external id, but names or birth date differ
	IssueGuarantor        = "GUARANTOR"         // warning: guarantor columns disagree with the ledger, or name a new family
	IssueUnknownProvider  = "UNKNOWN_PROVIDER"  // no such provider (by code or name), or several
	IssueUnknownLocation  = "UNKNOWN_LOCATION"  // no such location (by code or name), or several
)

// Issue codes of a history import (docs/conversion.md). Errors refuse
// what is malformed; findings (warnings) report facts the ledger keeps as
// they are.
const (
	IssueMissingFile   = "MISSING_FILE"   // a file the set needs is not in it
	IssueDuplicateFile = "DUPLICATE_FILE" // two files of the set have one name
	IssueExtraFile     = "EXTRA_FILE"     // warning: a file that is not part of a set; ignored
	IssueDuplicateKey  = "DUPLICATE_KEY"  // two rows of a file have the same old id
	IssueUnknownRef    = "UNKNOWN_REF"    // an old id no row of the set (or of an earlier import) has
	IssueSplitsSum     = "SPLITS_SUM"     // a receipt's splits do not sum to its amount
	IssueBadSign       = "BAD_SIGN"       // an amount whose sign its kind does not allow (also a positive NEGATIVE_PRODUCTION balance-forward row)
	IssuePlannedSplit  = "PLANNED_SPLIT"  // money on a planned procedure not on the treatment-plan type (or the practice has none)

	FindingNegativeProduction = "NEGATIVE_PRODUCTION"  // a procedure with a negative fee
	FindingOverpaidCharge     = "OVERPAID_CHARGE"      // a completed line holding more money than it is worth
	FindingNegativeBucket     = "NEGATIVE_BUCKET"      // loose money below zero in a patient × provider × location × type bucket
	FindingOtherProvider      = "OTHER_PROVIDER_SPLIT" // a split whose provider or location is not its procedure's
	FindingUnallocated        = "UNALLOCATED_MONEY"    // a split on no procedure, adjustment or unearned type
	FindingCrossFamily        = "CROSS_FAMILY_SPLIT"   // a split on a patient of another family than the receipt's
	FindingBalanceDiffers     = "BALANCE_DIFFERS"      // the old system's family balance is not what the ledger holds
	FindingPrepayNotAllowed   = "PREPAY_NOT_ALLOWED"   // a prepayment on a planned procedure where the practice takes none
)

// ImportIssue is something wrong with a file: where (row and column; row 1 is
// the header, row 0 the file as a whole) and what.
type ImportIssue struct {
	// File names the file of a history set the issue is in; "" for a
	// balance-forward file (the one file) or the set as a whole.
	File     string
	Row      int
	Line     int    // line of the file the row starts on; 0 for the file as a whole
	Column   string // a template column name, or the header cell for header issues; "" for the row or file
	Severity ImportSeverity
	Code     string
	Message  string
}

// DefaultImportMaxBytes is the size limit of a balance-forward file when none
// is configured: 64 MiB, some 400,000 typical rows.
const DefaultImportMaxBytes = 64 << 20

// ErrFileTooLarge is returned when a file is over its size limit.
var ErrFileTooLarge = errors.New("file too large")

// ParseOptions configures ParseBalanceForward.
type ParseOptions struct {
	Name      string
	Today     Date  // service and birth dates after it are errors; rows without a DOS are told they take it
	Delimiter rune  // ',', ';' or '\t'; 0 detects it from the header
	MaxBytes  int64 // 0: DefaultImportMaxBytes
	// Progress, if set, is called every few thousand rows with the bytes read so far.
	Progress func(bytesRead int64, rows int)
	// Issue, if set, is handed each issue as it is found (ScanBalanceForward;
	// ParseBalanceForward keeps them in the file's Issues).
	Issue func(ImportIssue)
}

// Limits on values, in characters.
const (
	maxImportText = 200
	maxImportMemo = maxText
)

// ParseBalanceForward reads a whole balance-forward file into memory: its
// rows and every issue. It is ScanBalanceForward keeping what it is handed,
// for tests and small files; an import streams instead.
func ParseBalanceForward(r io.Reader, opt ParseOptions) (*BalanceForwardFile, error) {
	var rows []BalanceForwardRow
	f, err := ScanBalanceForward(r, opt, func(row *BalanceForwardRow) error {
		rows = append(rows, *row)
		return nil
	})
	if f != nil {
		f.Rows = rows
	}
	return f, err
}

// ScanBalanceForward reads a balance-forward file as a stream, hashing the
// bytes as it goes, and checks every row on its own (values, formats, dates
// against opt.Today); matching rows to patients, providers and locations is
// the ledger's job (ImportBalances). It keeps no row: each non-blank row is
// handed to row as it is read (the pointer is reused for the next row, so
// row must copy what it keeps), and each issue to opt.Issue (kept in the
// file's Issues when opt.Issue is nil). What it holds at once is one record
// and the read buffer, whatever the file's size. Problems with the file are
// issues, not errors: the error is for a read that failed, ErrFileTooLarge,
// or what row returned.
func ScanBalanceForward(r io.Reader, opt ParseOptions, row func(*BalanceForwardRow) error) (*BalanceForwardFile, error) {
	max := opt.MaxBytes
	if max <= 0 {
		max = DefaultImportMaxBytes
	}
	f := &BalanceForwardFile{Name: opt.Name, onIssue: opt.Issue}
	h := sha256.New()
	counted := &countingReader{r: io.LimitReader(r, max+1), h: h}
	br := bufio.NewReaderSize(counted, 64<<10)

	skipBOM(br)
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0xFF, 0xFE}) || bytes.Equal(head, []byte{0xFE, 0xFF}) {
		f.fileIssue(IssueBadEncoding, "the file is UTF-16; save it as CSV UTF-8")
		return f, f.drain(br, counted, h, max)
	}
	f.Delimiter = opt.Delimiter
	if f.Delimiter == 0 {
		f.Delimiter = detectDelimiter(br)
	}
	if f.Delimiter != ',' && f.Delimiter != ';' && f.Delimiter != '\t' {
		return nil, Invalid("options.delimiter", "must be ',', ';' or a tab")
	}

	cr := csv.NewReader(br)
	cr.Comma = f.Delimiter
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var cols columnMap
	var current BalanceForwardRow
	record := 0
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if counted.n > max {
			return nil, fmt.Errorf("%w: over %d bytes", ErrFileTooLarge, max)
		}
		record++
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, err
			}
			f.issue(record, pe.StartLine, "", SeverityError, IssueBadCSV,
				fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err))
			if record == 1 {
				break
			}
			continue
		}
		if record == 1 {
			f.Header = append([]string(nil), fields...)
			cols = f.readHeader(fields)
			if f.Errors() {
				// Without its columns no row can be read; the header's issues say why.
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if !f.readRow(&current, cols, record, line, fields, opt.Today) {
			continue
		}
		f.RowCount++
		if err := row(&current); err != nil {
			return nil, err
		}
		if opt.Progress != nil && record%5000 == 0 {
			opt.Progress(counted.n, f.RowCount)
		}
	}
	if err := f.drain(br, counted, h, max); err != nil {
		return nil, err
	}
	switch {
	case record == 0:
		f.fileIssue(IssueEmptyFile, "the file is empty: it needs a header row and at least one row")
	case record == 1 && !f.Errors():
		f.fileIssue(IssueEmptyFile, "the file has a header but no rows")
	case f.RowCount == 0 && !f.Errors():
		f.fileIssue(IssueEmptyFile, "every row of the file is blank")
	}
	if opt.Progress != nil {
		opt.Progress(f.Bytes, f.RowCount)
	}
	return f, nil
}

// drain reads what the CSV reader left (nothing, normally), so the hash and
// the size cover the whole file.
func (f *BalanceForwardFile) drain(br *bufio.Reader, c *countingReader, h hash.Hash, max int64) error {
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if c.n > max {
		return fmt.Errorf("%w: over %d bytes", ErrFileTooLarge, max)
	}
	f.Bytes = c.n
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// countingReader counts and hashes the bytes read through it.
type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}

// skipBOM drops a UTF-8 byte-order mark.
func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
}

// detectDelimiter picks the delimiter the header row uses most, outside
// quotes: ',', ';' or tab (',' on a tie or when there is none).
func detectDelimiter(br *bufio.Reader) rune {
	head, _ := br.Peek(64 << 10)
	counts := map[byte]int{}
	quoted := false
	for _, b := range head {
		if b == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if b == '\n' || b == '\r' {
			break
		}
		if b == ',' || b == ';' || b == '\t' {
			counts[b]++
		}
	}
	best := byte(',')
	for _, d := range []byte{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return rune(best)
}

// columnMap gives each template column's index in the file, or -1.
type columnMap map[string]int

func (c columnMap) get(fields []string, col string) string {
	i, ok := c[col]
	if !ok || i < 0 || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

var headerHint = regexp.MustCompile(`\s*\([^)]*\)\s*$`)

// normalizeHeader reduces a header cell to a column name: lower case,
// spaces and hyphens as underscores, a trailing "(hint)" dropped.
func normalizeHeader(s string) string {
	s = headerHint.ReplaceAllString(strings.TrimSpace(s), "")
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "_", "-", "_", ".", "_").Replace(s)
	for strings.Contains(s, "__") {
		s = strings.ReplaceAll(s, "__", "_")
	}
	return strings.Trim(s, "_")
}

// readHeader maps the header to columns and reports missing, repeated and
// unknown ones. A file needs an amount and a service_date column, and the
// patient's external id or last name, first name and birth date.
func (f *BalanceForwardFile) readHeader(fields []string) columnMap {
	known := make(map[string]bool, len(BalanceForwardColumns))
	for _, c := range BalanceForwardColumns {
		known[c] = true
	}
	cols := columnMap{}
	for i, raw := range fields {
		if !utf8.ValidString(raw) {
			f.issue(1, 1, raw, SeverityError, IssueBadEncoding, "the header is not valid UTF-8; save the file as CSV UTF-8")
			continue
		}
		name := normalizeHeader(raw)
		switch {
		case name == "" && strings.TrimSpace(raw) == "":
			// An unnamed trailing column (spreadsheets add them); its values must be empty.
		case !known[name]:
			f.issue(1, 1, strings.TrimSpace(raw), SeverityWarning, IssueExtraColumn,
				fmt.Sprintf("%q is not a column of the template; its values are ignored", strings.TrimSpace(raw)))
		default:
			if j, dup := cols[name]; dup {
				f.issue(1, 1, name, SeverityError, IssueDuplicateColumn,
					fmt.Sprintf("column %s appears twice (fields %d and %d)", name, j+1, i+1))
				continue
			}
			cols[name] = i
		}
	}
	f.colAt, f.unnamed = make([]string, len(fields)), make([]bool, len(fields))
	for i, raw := range fields {
		f.unnamed[i] = normalizeHeader(raw) == ""
	}
	for c, i := range cols {
		f.colAt[i] = c
	}
	_, hasExt := cols[ColPatientExternalID]
	_, hasLast := cols[ColPatientLastName]
	_, hasFirst := cols[ColPatientFirstName]
	_, hasBirth := cols[ColPatientBirthDate]
	for _, c := range []string{ColAmount, ColServiceDate} {
		if _, ok := cols[c]; !ok {
			f.issue(1, 1, c, SeverityError, IssueMissingColumn, fmt.Sprintf("the required column %s is missing (is it misspelt?)", c))
		}
	}
	if !hasExt && !(hasLast && hasFirst && hasBirth) {
		for _, c := range []string{ColPatientExternalID, ColPatientLastName, ColPatientFirstName, ColPatientBirthDate} {
			if _, ok := cols[c]; !ok {
				f.issue(1, 1, c, SeverityError, IssueMissingColumn,
					fmt.Sprintf("the column %s is missing: patients are found by %s, or by %s, %s and %s",
						c, ColPatientExternalID, ColPatientLastName, ColPatientFirstName, ColPatientBirthDate))
			}
		}
	}
	return cols
}

// readRow checks one record into row; it returns false for a blank record,
// which is skipped.
func (f *BalanceForwardFile) readRow(out *BalanceForwardRow, cols columnMap, rowNum, line int, fields []string, today Date) bool {
	if !slices.ContainsFunc(fields, func(v string) bool { return strings.TrimSpace(v) != "" }) {
		return false
	}
	*out = BalanceForwardRow{Row: rowNum, Line: line}
	c := &rowCheck{f: f, row: out, cols: cols, fields: fields, today: today}
	if c.shape(); out.Invalid {
		return true
	}
	c.names()
	c.birthDate()
	c.kinds()
	c.serviceDate()
	c.amount()
	return true
}

// rowCheck reads one record of a balance-forward file into row, reporting
// what is wrong with it as issues of the file.
type rowCheck struct {
	f      *BalanceForwardFile
	row    *BalanceForwardRow
	cols   columnMap
	fields []string
	today  Date
}

func (c *rowCheck) get(col string) string { return c.cols.get(c.fields, col) }

func (c *rowCheck) bad(col, code, format string, args ...any) {
	c.row.Invalid = true
	c.f.issue(c.row.Row, c.row.Line, col, SeverityError, code, fmt.Sprintf(format, args...))
}

func (c *rowCheck) warn(col, code, format string, args ...any) {
	c.f.issue(c.row.Row, c.row.Line, col, SeverityWarning, code, fmt.Sprintf(format, args...))
}

// shape checks the record has the header's fields, every value is text the
// ledger can hold, and unnamed columns are empty.
func (c *rowCheck) shape() {
	f, fields := c.f, c.fields
	if len(fields) < len(f.Header) {
		c.bad("", IssueFieldCount, "the row has %d fields; the header has %d (a missing delimiter, or an unquoted line break?)", len(fields), len(f.Header))
	} else if len(fields) > len(f.Header) && slices.ContainsFunc(fields[len(f.Header):], func(v string) bool { return strings.TrimSpace(v) != "" }) {
		c.bad("", IssueFieldCount, "the row has %d fields; the header has %d (an unquoted delimiter in a value?)", len(fields), len(f.Header))
	}
	for i, v := range fields {
		col, named := "", false
		if i < len(f.colAt) {
			col = f.colAt[i]
			named = col != ""
			if !named {
				col = strings.TrimSpace(f.Header[i])
			}
		}
		textErr := CheckText(v, col == ColMemo) // only the memo may span lines
		switch {
		case !utf8.ValidString(v):
			c.bad(col, IssueBadEncoding, "is not valid UTF-8; save the file as CSV UTF-8")
		case textErr != nil:
			c.bad(col, IssueBadValue, "%v", textErr)
		case !named && i < len(f.Header) && f.unnamed[i] && strings.TrimSpace(v) != "":
			c.bad(col, IssueFieldCount, "a value under an unnamed column (an unquoted delimiter in a value?)")
		}
	}
}

// text reads a text column of at most max characters.
func (c *rowCheck) text(col string, max int) string {
	v := c.get(col)
	if n := utf8.RuneCountInString(v); n > max {
		c.bad(col, IssueTooLong, "is %d characters long; the limit is %d", n, max)
	}
	return v
}

// names reads the text columns: who, by which provider and location, code and memo.
func (c *rowCheck) names() {
	row := c.row
	row.PatientExternalID = c.text(ColPatientExternalID, maxImportText)
	row.PatientLastName = c.text(ColPatientLastName, maxImportText)
	row.PatientFirstName = c.text(ColPatientFirstName, maxImportText)
	row.GuarantorExternalID = c.text(ColGuarantorExternalID, maxImportText)
	row.GuarantorName = c.text(ColGuarantorName, maxImportText)
	row.Provider = c.text(ColProvider, maxImportText)
	row.Location = c.text(ColLocation, maxImportText)
	row.Code = cmp.Or(c.text(ColCode, maxCode), DefaultBalanceForwardCode)
	row.Memo = c.text(ColMemo, maxImportMemo)
}

// birthDate reads the patient's birth date, and checks the patient can be
// found: by external id, or by name and birth date.
func (c *rowCheck) birthDate() {
	row := c.row
	if v := c.get(ColPatientBirthDate); v != "" {
		d, err := parseFileDate(v)
		switch {
		case err != nil:
			c.bad(ColPatientBirthDate, IssueBadDate, "%v", err)
		case d.After(c.today):
			c.bad(ColPatientBirthDate, IssueFutureDate, "%s is in the future", d)
		default:
			row.PatientBirthDate = &d
		}
	}
	if row.PatientExternalID == "" && (row.PatientLastName == "" || row.PatientFirstName == "" || c.get(ColPatientBirthDate) == "") {
		c.bad(ColPatientExternalID, IssueMissingValue, "give the patient's external id, or last name, first name and birth date")
	}
}

// enum reads a column holding one of two words, in any case; empty is the
// first (the default).
func (c *rowCheck) enum(col, def, other string) string {
	switch v := strings.ToUpper(c.get(col)); v {
	case "", def, other:
		return cmp.Or(v, def)
	}
	c.bad(col, IssueBadValue, "%q: must be %s (the default) or %s", c.get(col), def, other)
	return ""
}

// kinds reads the row's kind and responsibility.
func (c *rowCheck) kinds() {
	c.row.Kind = RowKind(c.enum(ColKind, string(RowBalance), string(RowNegativeProduction)))
	c.row.Responsibility = Responsibility(c.enum(ColResponsibility, string(ResponsibilityPatient), string(ResponsibilityInsurance)))
}

// serviceDate reads the date of service: optional (the import date) except
// for negative production, never in the future.
func (c *rowCheck) serviceDate() {
	row := c.row
	if v := c.get(ColServiceDate); v == "" && row.Kind == RowNegativeProduction {
		c.bad(ColServiceDate, IssueMissingValue, "a NEGATIVE_PRODUCTION row needs its date of service: production counts on its day, not on the import date")
	} else if v == "" {
		c.warn(ColServiceDate, IssueNoServiceDate, "no date of service: the line is dated the import date (%s) and ages from it", c.today)
	} else if d, err := parseFileDate(v); err != nil {
		c.bad(ColServiceDate, IssueBadDate, "%v", err)
	} else if d.After(c.today) {
		c.bad(ColServiceDate, IssueFutureDate, "%s is in the future; a balance carried over is for services already given", d)
	} else {
		row.ServiceDate = &d
		if row.PatientBirthDate != nil && d.Before(*row.PatientBirthDate) {
			c.warn(ColServiceDate, IssueDateOrder, "%s is before the patient's birth date %s", d, *row.PatientBirthDate)
		}
	}
}

// amount reads the amount and checks its sign against the row's kind and
// responsibility.
func (c *rowCheck) amount() {
	row := c.row
	v := c.get(ColAmount)
	if v == "" {
		c.bad(ColAmount, IssueMissingValue, "the amount is required")
		return
	}
	m, err := parseFileAmount(v)
	if err != nil {
		c.bad(ColAmount, IssueBadAmount, "%v", err)
		return
	}
	row.Amount, row.HasAmount = m, true
	switch {
	case m.IsZero():
		c.warn(ColAmount, IssueZeroAmount, "the amount is 0.00: nothing to carry over; the row is skipped")
	case m.Sign() < 0 && row.Responsibility == ResponsibilityInsurance:
		c.bad(ColAmount, IssueInsuranceCredit, "an INSURANCE row cannot be a credit (%s): only patient credits are carried over", m)
	case m.Sign() > 0 && row.Kind == RowNegativeProduction:
		c.bad(ColAmount, IssueBadSign, "a NEGATIVE_PRODUCTION row is a negative fee; %s is not below zero (a balance owed is a BALANCE row)", m)
	}
}

func (f *BalanceForwardFile) issue(row, line int, col string, sev ImportSeverity, code, msg string) {
	if sev == SeverityError {
		f.errors++
	}
	is := ImportIssue{Row: row, Line: line, Column: col, Severity: sev, Code: code, Message: msg}
	if f.onIssue != nil {
		f.onIssue(is)
		return
	}
	f.Issues = append(f.Issues, is)
}

func (f *BalanceForwardFile) fileIssue(code, msg string) {
	f.issue(0, 0, "", SeverityError, code, msg)
}

var (
	groupedNum = regexp.MustCompile(`^\d{1,3}(,\d{3})+(\.\d*)?$`)
	plainNum   = regexp.MustCompile(`^(\d+(\.\d*)?|\.\d+)$`)
)

// parseFileDate reads a date as written in a file: YYYY-MM-DD, or
// MM/DD/YYYY in US order (one-digit months and days allowed). Impossible
// dates (02/30/2024) and dates outside MinDate..MaxDate are refused.
func parseFileDate(s string) (Date, error) {
	var y, m, d int
	if n, ok := dateNumbers(s, '-', [3][2]int{{4, 4}, {1, 2}, {1, 2}}); ok {
		y, m, d = n[0], n[1], n[2]
	} else if n, ok := dateNumbers(s, '/', [3][2]int{{1, 2}, {1, 2}, {4, 4}}); ok {
		m, d, y = n[0], n[1], n[2]
	} else {
		return Date{}, fmt.Errorf("%q is not a date: write MM/DD/YYYY (US order) or YYYY-MM-DD", s)
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return Date{}, fmt.Errorf("%q is not a date that exists (months and days are in US order, MM/DD/YYYY)", s)
	}
	if err := DateOf(t).InRange(); err != nil {
		return Date{}, fmt.Errorf("%q: %v", s, err)
	}
	return DateOf(t), nil
}

// dateNumbers reads s as three runs of ASCII digits separated by sep, each
// as long as widths says (at least, at most): a hand-written
// ^(\d{a,b})sep(\d{c,d})sep(\d{e,f})$, which a file's every row goes through.
func dateNumbers(s string, sep byte, widths [3][2]int) (n [3]int, ok bool) {
	for k := range 3 {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j < widths[k][0] || j > widths[k][1] {
			return n, false
		}
		n[k], s = atoi(s[:j]), s[j:]
		if k < 2 {
			if s == "" || s[0] != sep {
				return n, false
			}
			s = s[1:]
		}
	}
	return n, s == ""
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// parseFileAmount reads an amount as spreadsheets write it: "30", "30.5",
// "30.00", "1,234.50", "$30.00", ".50", "-30.00", "-$30.00", "$-30.00", and
// "(30.00)" or "($30.00)" for a negative amount (a credit). The formatting is
// normalised away (fileAmountText) and what is left goes through ParseMoney,
// the API's grammar. More than two decimal places is an error, never rounded.
func parseFileAmount(s string) (Money, error) {
	v, err := fileAmountText(s)
	if err != nil {
		return Money{}, err
	}
	m, err := ParseMoney(v)
	if err != nil {
		return Money{}, fmt.Errorf("%q is not an amount: %v", s, err)
	}
	return m, nil
}

// fileAmountText is the CSV-only normalisation before ParseMoney: it takes
// off spaces around the value, parentheses or a minus sign (before or after
// "$"), the dollar sign and thousands separators, and writes the decimals out
// to two places ("30" → "30.00", "30.5" → "30.50", ".5" → "0.50").
func fileAmountText(s string) (string, error) {
	v := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") {
		neg, v = true, strings.TrimSpace(v[1:len(v)-1])
	}
	if strings.HasPrefix(v, "-") {
		if neg {
			return "", fmt.Errorf("%q is not an amount: use a minus sign or parentheses, not both", s)
		}
		neg, v = true, strings.TrimSpace(v[1:])
	}
	v = strings.TrimPrefix(v, "$")
	if strings.HasPrefix(v, "-") && !neg {
		neg, v = true, v[1:]
	}
	switch {
	case groupedNum.MatchString(v):
		v = strings.ReplaceAll(v, ",", "")
	case !plainNum.MatchString(v):
		return "", fmt.Errorf("%q is not an amount: write it like 1234.50, 1,234.50, $30.00, -30.00 or (30.00)", s)
	}
	whole, frac, _ := strings.Cut(v, ".")
	if len(frac) > 2 {
		return "", fmt.Errorf("%q has more than two decimal places", s)
	}
	if whole == "" {
		whole = "0"
	}
	v = whole + "." + frac + "00"[len(frac):]
	if neg {
		v = "-" + v
	}
	return v, nil
}

// WriteBalanceForwardCSV writes rows as a balance-forward file with the
// template's header (dates as YYYY-MM-DD), for tests and benchmarks that need
// a file.
func WriteBalanceForwardCSV(w io.Writer, rows []BalanceForwardRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BalanceForwardColumns); err != nil {
		return err
	}
	rec := make([]string, len(BalanceForwardColumns))
	date := func(d *Date) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	for _, r := range rows {
		rec[0], rec[1], rec[2], rec[3] = r.PatientExternalID, r.PatientLastName, r.PatientFirstName, date(r.PatientBirthDate)
		rec[4], rec[5], rec[6], rec[7] = r.GuarantorExternalID, r.GuarantorName, date(r.ServiceDate), r.Amount.String()
		rec[8], rec[9], rec[10], rec[11], rec[12], rec[13] = r.Provider, r.Location, r.Code, string(r.Responsibility), r.Memo, string(r.Kind)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
