package ledger

import (
	"io"
	"slices"
	"sort"
	"strings"
)

// An import reads its file in passes and keeps, between them, what it needs
// per patient, never per row, so that its memory does not grow with the
// file's rows (docs/import.md, "Memory"):
//
//  1. read (readImportFile): every row is checked on its own, and the
//     patients the rows name are gathered; issues go to an issueLog;
//  2. match (planImport): patients, guarantors, providers and locations are
//     looked up in the ledger;
//  3. check (importPlan.check): the file is read again; each row is matched,
//     keyed, and looked for among the file's earlier rows and the rows
//     imported before (in batches); what would post is summed per patient
//     and per encounter, and which rows post is kept as a bit set;
//  4. post (COMMIT only, postPlan): the file is read a third time and the
//     rows that post are written in chunks.

// importSource reads a file again for each pass. Each pass must read the
// same bytes: its SHA-256 is compared with the first pass's.
type importSource struct {
	file io.ReadSeeker
	opt  ParseOptions
	sha  string // the first pass's SHA-256
}

// scan reads the file from its start, handing each row to fn and each
// issue to issue (nil: issues are dropped, as later passes find the same).
func (s *importSource) scan(fn func(*BalanceForwardRow) error, issue func(ImportIssue)) (*BalanceForwardFile, error) {
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	opt := s.opt
	opt.Issue = issue
	if issue == nil {
		opt.Issue = func(ImportIssue) {}
		opt.Progress = nil
	}
	f, err := ScanBalanceForward(s.file, opt, fn)
	if err != nil {
		return nil, err
	}
	switch {
	case s.sha == "":
		s.sha = f.SHA256
	case f.SHA256 != s.sha:
		return nil, Invalid("file", "changed while it was being read (its SHA-256 is not the same on a second reading); nothing was posted: import it again")
	}
	return f, nil
}

// rowRef locates a row, for the issues about it.
type rowRef struct{ Row, Line int }

func refOf(r *BalanceForwardRow) rowRef { return rowRef{r.Row, r.Line} }

// identity is a patient as the file's rows name them: by external id, or
// (rows without one) by name and birth date.
type identity struct {
	i       int    // index in fileRead.ids
	key     string // "x:" and the external id, or "n:" and the name key
	nameIdx int    // index into fileRead.names, or -1
	first   firstRow
}

// ext is the identity's external id, if it has one.
func (id *identity) ext() string {
	if ext, ok := strings.CutPrefix(id.key, "x:"); ok {
		return ext
	}
	return ""
}

// firstRow is what the first row naming a patient says of them: the patient
// a match creates, and its guarantor.
type firstRow struct {
	rowRef
	last, first string
	birth       *Date
	gext, gname string
}

// fileRead is what the first pass found: the file, its issues, and the
// patients its rows name, in the order the file first names them.
type fileRead struct {
	src    *importSource
	file   *BalanceForwardFile
	log    issueLog
	ids    []*identity
	byKey  map[string]*identity
	exts   []string      // the identities' external ids
	names  []PatientName // the names and birth dates rows give
	nameAt map[string]int
}

// readImportFile is the first pass over a file.
func readImportFile(src *importSource) (*fileRead, error) {
	fr := &fileRead{src: src, byKey: map[string]*identity{}, nameAt: map[string]int{}}
	f, err := src.scan(func(row *BalanceForwardRow) error {
		fr.add(row)
		return nil
	}, fr.log.add)
	if err != nil {
		return nil, err
	}
	fr.file = f
	fr.nameAt = nil // only this pass needs it
	return fr, nil
}

// identityKey is the key of the patient a row names; false when it names
// none (its issues say so).
func identityKey(row *BalanceForwardRow) (string, bool) {
	switch {
	case row.PatientExternalID != "":
		return "x:" + row.PatientExternalID, true
	case hasName(row):
		return "n:" + nameKey(row.PatientLastName, row.PatientFirstName, *row.PatientBirthDate), true
	}
	return "", false
}

func hasName(row *BalanceForwardRow) bool {
	return row.PatientLastName != "" && row.PatientFirstName != "" && row.PatientBirthDate != nil
}

// identityOf is the identity a row names, or nil.
func (fr *fileRead) identityOf(row *BalanceForwardRow) *identity {
	key, ok := identityKey(row)
	if !ok {
		return nil
	}
	return fr.byKey[key]
}

// add gathers the patient a row names. What it keeps is copied out of the
// row, whose strings share the record's memory.
func (fr *fileRead) add(row *BalanceForwardRow) {
	key, ok := identityKey(row)
	if !ok {
		return
	}
	nk := -1
	if hasName(row) {
		k := nameKey(row.PatientLastName, row.PatientFirstName, *row.PatientBirthDate)
		j, ok := fr.nameAt[k]
		if !ok {
			j = len(fr.names)
			fr.nameAt[k] = j
			fr.names = append(fr.names, PatientName{LastName: strings.Clone(row.PatientLastName),
				FirstName: strings.Clone(row.PatientFirstName), BirthDate: *row.PatientBirthDate})
		}
		nk = j
	}
	id, ok := fr.byKey[key]
	if ok {
		if id.nameIdx < 0 && nk >= 0 {
			id.nameIdx = nk
		}
		return
	}
	first := firstRow{rowRef: refOf(row), last: strings.Clone(row.PatientLastName), first: strings.Clone(row.PatientFirstName),
		birth: row.PatientBirthDate, gext: strings.Clone(row.GuarantorExternalID), gname: strings.Clone(row.GuarantorName)}
	if nk >= 0 && fr.names[nk].LastName == first.last && fr.names[nk].FirstName == first.first {
		first.last, first.first = fr.names[nk].LastName, fr.names[nk].FirstName // one copy of the name
	}
	id = &identity{i: len(fr.ids), key: key, nameIdx: nk, first: first}
	fr.byKey[key] = id
	fr.ids = append(fr.ids, id)
	if ext := id.ext(); ext != "" {
		fr.exts = append(fr.exts, ext)
	}
}

// rowSet is a set of row numbers.
type rowSet []uint64

func (s *rowSet) add(row int) {
	for len(*s) <= row/64 {
		*s = append(*s, 0)
	}
	(*s)[row/64] |= 1 << (row % 64)
}

func (s rowSet) has(row int) bool { return row/64 < len(s) && s[row/64]&(1<<(row%64)) != 0 }

// ImportIssueCount is how many issues of a code a file had, listed or not.
type ImportIssueCount struct {
	Code     string
	Severity ImportSeverity
	Count    int
}

// issueLog collects an import's issues: it counts every one, by code, and
// keeps the first MaxReportIssues by row for the report, so a file with an
// issue on each of its million rows holds a thousand.
type issueLog struct {
	kept     []ImportIssue
	trimmed  bool
	cutoff   int64 // once trimmed, an issue at this row or after is not among the first
	counts   map[issueKind]int
	errors   int
	warnings int
}

type issueKind struct {
	code string
	sev  ImportSeverity
}

func (l *issueLog) add(is ImportIssue) {
	if l.counts == nil {
		l.counts = map[issueKind]int{}
	}
	l.counts[issueKind{is.Code, is.Severity}]++
	if is.Severity == SeverityError {
		l.errors++
	} else {
		l.warnings++
	}
	// Issues sort by row, in the order found within a row: a later one at
	// the last kept row or after would sort past the kept ones.
	if l.trimmed && is.order() >= l.cutoff {
		return
	}
	l.kept = append(l.kept, is)
	if len(l.kept) >= 2*MaxReportIssues {
		l.trim()
	}
}

// order sorts issues: by file (a history set's, in HistoryFiles order),
// then row.
func (is ImportIssue) order() int64 { return int64(historyFileOrder[is.File])<<32 | int64(is.Row) }

// trim sorts the kept issues by row and keeps the first MaxReportIssues.
func (l *issueLog) trim() {
	sort.SliceStable(l.kept, func(i, j int) bool { return l.kept[i].order() < l.kept[j].order() })
	if len(l.kept) > MaxReportIssues {
		l.kept = slices.Clone(l.kept[:MaxReportIssues])
		l.trimmed, l.cutoff = true, l.kept[MaxReportIssues-1].order()
	}
}

// count is the number of issues with a code (of either severity).
func (l *issueLog) count(code string) int {
	return l.counts[issueKind{code, SeverityError}] + l.counts[issueKind{code, SeverityWarning}]
}

// clone copies the log, so that each attempt of a commit starts from the
// first pass's issues.
func (l *issueLog) clone() issueLog {
	c := *l
	c.kept = slices.Clone(l.kept)
	c.counts = make(map[issueKind]int, len(l.counts))
	for k, n := range l.counts {
		c.counts[k] = n
	}
	return c
}

// list returns the issues kept, by row, whether some were left out, and the
// count per code (errors first, then by code).
func (l *issueLog) list() ([]ImportIssue, bool, []ImportIssueCount) {
	l.trim()
	counts := make([]ImportIssueCount, 0, len(l.counts))
	for k, n := range l.counts {
		counts = append(counts, ImportIssueCount{Code: k.code, Severity: k.sev, Count: n})
	}
	slices.SortFunc(counts, func(a, b ImportIssueCount) int {
		if a.Severity != b.Severity {
			return strings.Compare(string(a.Severity), string(b.Severity)) // ERROR before WARNING
		}
		return strings.Compare(a.Code, b.Code)
	})
	return l.kept, len(l.kept) < l.errors+l.warnings, counts
}
