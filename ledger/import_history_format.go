package ledger

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// The history set: a prior system's transaction history as one CSV file per
// entity, in a zip (or a folder the CLI zips), keyed by the old system's
// ids (docs/conversion.md). Every file has a header row; columns match as in
// a balance-forward file (any case, spaces or underscores, a trailing hint
// in parentheses ignored).

// HistoryColumn is a column of a history file.
type HistoryColumn struct {
	Name     string
	Required bool
	Example  []string // the template's example values, one per example row
}

// HistoryFile is one file of a history set: the entity it holds, its key
// column (the old system's id) and its columns, the key first.
type HistoryFile struct {
	Name     string
	Entity   string
	Required bool // a set must have it
	Columns  []HistoryColumn
}

// Entities of a history set, as history_import_rows names them.
const (
	EntityProvider     = "provider"
	EntityLocation     = "location"
	EntityUnearnedType = "unearned_type"
	EntityFamily       = "family"
	EntityPatient      = "patient"
	EntityProcedure    = "procedure"
	EntityAdjustment   = "adjustment"
	EntityReceipt      = "receipt"
	EntitySplit        = "split"
)

func col(name string, required bool, examples ...string) HistoryColumn {
	return HistoryColumn{Name: name, Required: required, Example: examples}
}

// HistoryFiles lists a history set's files in the order they are read:
// each refers only to files before it (or to rows earlier imports posted).
var HistoryFiles = []HistoryFile{
	{Name: "providers.csv", Entity: EntityProvider, Columns: []HistoryColumn{
		col("provider_id", true, "DR1", "HYG1"), col("name", true, "Dr. Ana Ruiz", "Sam Lee RDH"), col("code", false, "ANR", "")}},
	{Name: "locations.csv", Entity: EntityLocation, Columns: []HistoryColumn{
		col("location_id", true, "1"), col("name", true, "Main Street"), col("code", false, "MAIN")}},
	{Name: "unearned_types.csv", Entity: EntityUnearnedType, Columns: []HistoryColumn{
		col("unearned_type_id", true, "PREPAY", "TP"), col("name", true, "Prepayment", "Treatment plan deposit"),
		col("hidden", false, "no", "yes"), col("treatment_plan", false, "no", "no")}},
	{Name: "families.csv", Entity: EntityFamily, Required: true, Columns: []HistoryColumn{
		col("family_id", true, "F100", "F200"), col("name", true, "John Smith", "Mary Jones"), col("balance", false, "40.00", "-200.00")}},
	{Name: "patients.csv", Entity: EntityPatient, Required: true, Columns: []HistoryColumn{
		col("patient_id", true, "P1", "P2", "P3"), col("family_id", true, "F100", "F100", "F200"),
		col("last_name", true, "Smith", "Smith", "Jones"), col("first_name", true, "John", "Emma", "Mary"),
		col("birth_date", false, "1970-03-01", "2012-06-15", "1985-11-30"), col("guarantor", false, "yes", "no", "yes")}},
	{Name: "procedures.csv", Entity: EntityProcedure, Columns: []HistoryColumn{
		col("procedure_id", true, "X1", "X2", "X3", "X4"), col("encounter_id", false, "E1", "E1", "E2", "E3"),
		col("patient_id", true, "P1", "P1", "P2", "P3"), col("provider_id", true, "DR1", "DR1", "HYG1", "DR1"),
		col("location_id", true, "1", "1", "1", "1"), col("service_date", true, "2024-01-10", "2024-01-10", "2024-02-01", "2024-03-05"),
		col("code", true, "D0150", "D1110", "D1120", "D2740"), col("fee", true, "120.00", "95.00", "60.00", "1100.00"),
		col("status", false, "COMPLETED", "COMPLETED", "COMPLETED", "PLANNED"), col("insurance_estimate", false, "80.00", "", "", ""),
		col("insurance_write_off", false, "10.00", "", "", ""), col("memo", false, "", "", "", "")}},
	{Name: "adjustments.csv", Entity: EntityAdjustment, Columns: []HistoryColumn{
		col("adjustment_id", true, "A1", "A2"), col("patient_id", true, "P2", "P1"), col("date", true, "2024-02-01", "2024-01-20"),
		col("amount", true, "-10.00", "15.00"), col("procedure_id", false, "X3", ""), col("code", false, "COURTESY", "FINANCE"),
		col("provider_id", false, "", "DR1"), col("location_id", false, "", "1"), col("memo", false, "", "")}},
	{Name: "receipts.csv", Entity: EntityReceipt, Columns: []HistoryColumn{
		col("receipt_id", true, "R1", "R2", "R3"), col("kind", true, "INSURANCE_PAYMENT", "PATIENT_PAYMENT", "PATIENT_PAYMENT"),
		col("date", true, "2024-02-15", "2024-01-10", "2024-03-05"), col("amount", true, "80.00", "150.00", "200.00"),
		col("patient_id", false, "P1", "P1", "P3"), col("method", false, "", "CHECK", "CARD"), col("reference", false, "EOB 77", "1001", ""),
		col("claim_encounter_id", false, "E1", "", ""), col("memo", false, "", "", "")}},
	{Name: "splits.csv", Entity: EntitySplit, Columns: []HistoryColumn{
		col("split_id", true, "S1", "S2", "S3", "S4", "S5"), col("receipt_id", true, "R1", "R2", "R2", "R3", "R3"),
		col("amount", true, "80.00", "40.00", "110.00", "50.00", "150.00"), col("procedure_id", false, "X1", "X1", "", "", ""),
		col("adjustment_id", false, "", "", "", "", ""), col("unearned_type_id", false, "", "", "", "", "TP"),
		col("patient_id", false, "", "", "P2", "P3", "P3"), col("provider_id", false, "", "HYG1", "HYG1", "", "DR1"),
		col("location_id", false, "", "1", "1", "", "1")}},
}

// historyFileOrder is each file's place in HistoryFiles, which orders a
// history import's issues (file, then row).
var historyFileOrder = func() map[string]int {
	m := map[string]int{}
	for i, f := range HistoryFiles {
		m[f.Name] = i + 1
	}
	return m
}()

// WriteHistoryTemplate writes the template set: a zip with every file of
// a history set, each with its header and the example rows docs/conversion.md
// walks through.
func WriteHistoryTemplate(w io.Writer) error {
	zw := zip.NewWriter(w)
	for _, f := range HistoryFiles {
		fw, err := zw.Create(f.Name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, HistoryTemplateFile(f)); err != nil {
			return err
		}
	}
	return zw.Close()
}

// HistoryTemplateFile is one file of the template: its header and examples.
func HistoryTemplateFile(f HistoryFile) string {
	var b strings.Builder
	cw := csv.NewWriter(&b)
	header := make([]string, len(f.Columns))
	rows := 0
	for i, c := range f.Columns {
		header[i] = c.Name
		rows = max(rows, len(c.Example))
	}
	_ = cw.Write(header)
	for r := range rows {
		rec := make([]string, len(f.Columns))
		for i, c := range f.Columns {
			if r < len(c.Example) {
				rec[i] = c.Example[r]
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return b.String()
}

// Encodings a history file may be in.
const (
	EncodingUTF8        = "UTF-8"
	EncodingUTF8BOM     = "UTF-8 with BOM"
	EncodingWindows1252 = "Windows-1252"
)

// historySet is a history set's files in a zip, each read as often as the
// passes need, decoded from the encoding found when the set was opened.
type historySet struct {
	files    map[string]*zip.File // by HistoryFiles name
	encoding map[string]string
	sha      string
	bytes    int64
	max      int64
}

// openHistorySet reads a zip's directory and each file once: its encoding
// and SHA-256. Files are found by their base name, so a zipped folder
// serves. Problems with the set are issues (log); the error is for a zip
// that cannot be read, or a file over max bytes.
func openHistorySet(ra io.ReaderAt, size, max int64, log *issueLog) (*historySet, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, Invalid("file", "is not a zip of history files (%v): zip the folder of CSV files, or give the folder to the CLI", err)
	}
	s := &historySet{files: map[string]*zip.File{}, encoding: map[string]string{}, max: max}
	for _, zf := range zr.File {
		name := strings.ToLower(path.Base(zf.Name))
		if zf.FileInfo().IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(zf.Name, "__MACOSX/") {
			continue
		}
		if _, known := historyFileOrder[name]; !known {
			log.add(ImportIssue{File: zf.Name, Severity: SeverityWarning, Code: IssueExtraFile,
				Message: fmt.Sprintf("%s is not a file of a history set; it is ignored", zf.Name)})
			continue
		}
		if _, dup := s.files[name]; dup {
			log.add(ImportIssue{File: name, Severity: SeverityError, Code: IssueDuplicateFile, Message: fmt.Sprintf("the set has two files named %s", name)})
			continue
		}
		s.files[name] = zf
	}
	h := sha256.New()
	for _, f := range HistoryFiles {
		zf, ok := s.files[f.Name]
		if !ok {
			if f.Required {
				log.add(ImportIssue{File: f.Name, Severity: SeverityError, Code: IssueMissingFile,
					Message: fmt.Sprintf("the set has no %s: a history needs its families and patients", f.Name)})
			}
			continue
		}
		sum, enc, n, err := s.sniff(zf)
		if err != nil {
			return nil, err
		}
		s.bytes += n
		if enc == "" {
			log.add(ImportIssue{File: f.Name, Severity: SeverityError, Code: IssueBadEncoding,
				Message: "the file is UTF-16; save it as CSV UTF-8 (or Windows-1252)"})
			delete(s.files, f.Name)
			continue
		}
		s.encoding[f.Name] = enc
		fmt.Fprintf(h, "%s\x00%s\n", f.Name, sum)
	}
	s.sha = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// sniff reads a file once: its SHA-256, its encoding ("" for UTF-16) and
// size. A file that is valid UTF-8 is UTF-8 (with or without a byte-order
// mark); any other is read as Windows-1252, which old systems export.
func (s *historySet) sniff(zf *zip.File) (sum, enc string, n int64, err error) {
	rc, err := zf.Open()
	if err != nil {
		return "", "", 0, Invalid("file", "%s cannot be read from the zip: %v", zf.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(io.LimitReader(rc, s.max+1), h), 64<<10)
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		enc = ""
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		enc = EncodingUTF8BOM
	default:
		enc = EncodingUTF8
	}
	valid := true
	var carry []byte
	buf := make([]byte, 64<<10)
	for {
		k, rerr := br.Read(buf)
		n += int64(k)
		if valid && enc != "" {
			chunk := append(carry, buf[:k]...)
			cut := len(chunk)
			for i := len(chunk) - 1; i >= 0 && i >= len(chunk)-3; i-- {
				if utf8.RuneStart(chunk[i]) {
					if !utf8.FullRune(chunk[i:]) {
						cut = i // a rune the read cut in two: checked with the next chunk
					}
					break
				}
			}
			valid = utf8.Valid(chunk[:cut])
			carry = append(carry[:0], chunk[cut:]...)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", "", 0, Invalid("file", "%s cannot be read from the zip: %v", zf.Name, rerr)
		}
	}
	if n > s.max {
		return "", "", 0, fmt.Errorf("%w: %s is over %d bytes", ErrFileTooLarge, zf.Name, s.max)
	}
	if valid && len(carry) > 0 {
		valid = utf8.Valid(carry)
	}
	if enc == EncodingUTF8 && !valid {
		enc = EncodingWindows1252
	}
	return hex.EncodeToString(h.Sum(nil)), enc, n, nil
}

// historyRow is a row of a history file: its values by column, as the
// file's HistoryFile lists them ("" where the file has no such column).
type historyRow struct {
	file *HistoryFile
	Row  int
	Line int
	vals []string
	bad  bool // an issue on the row made it unusable
}

// get is the value of a column.
func (r *historyRow) get(col string) string {
	for i, c := range r.file.Columns {
		if c.Name == col {
			return r.vals[i]
		}
	}
	panic("history: no column " + col + " in " + r.file.Name)
}

// key is the row's old id.
func (r *historyRow) key() string { return r.vals[0] }

// scan reads one file of the set, handing each non-blank row to fn and
// each issue to issue (nil: dropped). A file the set lacks has no rows.
func (s *historySet) scan(f *HistoryFile, issue func(ImportIssue), fn func(*historyRow) error) (int, error) {
	zf, ok := s.files[f.Name]
	if !ok {
		return 0, nil
	}
	if issue == nil {
		issue = func(ImportIssue) {}
	}
	rc, err := zf.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var r io.Reader = io.LimitReader(rc, s.max)
	if s.encoding[f.Name] == EncodingWindows1252 {
		r = charmap.Windows1252.NewDecoder().Reader(r)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	skipBOM(br)
	cr := csv.NewReader(br)
	cr.Comma = detectDelimiter(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	bad := func(row, line int, col, code, format string, args ...any) {
		issue(ImportIssue{File: f.Name, Row: row, Line: line, Column: col, Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	var at []int // the file's field of each column, or -1
	rows, record := 0, 0
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		record++
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return rows, err
			}
			bad(record, pe.StartLine, "", IssueBadCSV, "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
			if record == 1 {
				return rows, nil
			}
			continue
		}
		if record == 1 {
			if at = historyHeader(f, fields, issue); at == nil {
				return rows, nil
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		row, ok := historyRecord(f, at, record, line, fields, issue)
		if !ok {
			continue
		}
		rows++
		if err := fn(row); err != nil {
			return rows, err
		}
	}
	if record <= 1 && f.Required {
		bad(0, 0, "", IssueEmptyFile, "%s has no rows", f.Name)
	}
	return rows, nil
}

// historyHeader maps a file's header to its columns: the field of each
// column (-1: absent). It reports unknown, repeated and missing columns and
// returns nil when a required one is missing.
func historyHeader(f *HistoryFile, fields []string, issue func(ImportIssue)) []int {
	at := make([]int, len(f.Columns))
	for i := range at {
		at[i] = -1
	}
	ok := true
	for j, raw := range fields {
		name := normalizeHeader(raw)
		i := slices.IndexFunc(f.Columns, func(c HistoryColumn) bool { return c.Name == name })
		switch {
		case name == "":
		case i < 0:
			issue(ImportIssue{File: f.Name, Row: 1, Line: 1, Column: strings.TrimSpace(raw), Severity: SeverityWarning, Code: IssueExtraColumn,
				Message: fmt.Sprintf("%q is not a column of %s; its values are ignored", strings.TrimSpace(raw), f.Name)})
		case at[i] >= 0:
			ok = false
			issue(ImportIssue{File: f.Name, Row: 1, Line: 1, Column: name, Severity: SeverityError, Code: IssueDuplicateColumn,
				Message: fmt.Sprintf("column %s appears twice (fields %d and %d)", name, at[i]+1, j+1)})
		default:
			at[i] = j
		}
	}
	for i, c := range f.Columns {
		if c.Required && at[i] < 0 {
			ok = false
			issue(ImportIssue{File: f.Name, Row: 1, Line: 1, Column: c.Name, Severity: SeverityError, Code: IssueMissingColumn,
				Message: fmt.Sprintf("the required column %s is missing from %s (is it misspelt?)", c.Name, f.Name)})
		}
	}
	if !ok {
		return nil
	}
	return at
}

// historyRecord reads a record into a row: trimmed values, required ones
// present, no control characters (but in memos), within length. It returns
// false for a blank record.
func historyRecord(f *HistoryFile, at []int, record, line int, fields []string, issue func(ImportIssue)) (*historyRow, bool) {
	blank := true
	for _, v := range fields {
		if strings.TrimSpace(v) != "" {
			blank = false
			break
		}
	}
	if blank {
		return nil, false
	}
	row := &historyRow{file: f, Row: record, Line: line, vals: make([]string, len(f.Columns))}
	bad := func(col, code, format string, args ...any) {
		row.bad = true
		issue(ImportIssue{File: f.Name, Row: record, Line: line, Column: col, Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if len(fields) > len(at) && strings.TrimSpace(strings.Join(fields[len(at):], "")) != "" {
		bad("", IssueFieldCount, "the row has %d fields, the header %d", len(fields), len(at))
	}
	for i, c := range f.Columns {
		if at[i] < 0 {
			continue
		}
		if at[i] >= len(fields) {
			if c.Required {
				bad(c.Name, IssueFieldCount, "the row has %d fields, too few for column %s", len(fields), c.Name)
			}
			continue
		}
		v := strings.TrimSpace(fields[at[i]])
		limit := maxImportText
		if c.Name == "memo" {
			limit = maxImportMemo
		}
		switch {
		case v == "" && c.Required:
			bad(c.Name, IssueMissingValue, "%s is required", c.Name)
		case utf8.RuneCountInString(v) > limit:
			bad(c.Name, IssueTooLong, "%s is longer than %d characters", c.Name, limit)
		case CheckText(v, c.Name == "memo") != nil:
			bad(c.Name, IssueBadValue, "%s holds a control character", c.Name)
		}
		row.vals[i] = strings.Clone(v)
	}
	return row, true
}
