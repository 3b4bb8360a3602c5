package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// importPlan is a file matched against the ledger: which rows post, to
// whom, and what the import would create. VALIDATE reports it; COMMIT posts
// it.
type importPlan struct {
	pid    ID
	file   *BalanceForwardFile
	opts   ImportOptions
	mode   ImportMode
	report ImportReport
	issues []ImportIssue

	posts         []postRow      // rows to post, in file order
	patients      []*patientPlan // in the order the file first names them
	newGuarantors []Guarantor
	duplicateFile *BalanceImport // a standing import of the same file
	imported      map[ID]bool    // earlier imports that posted rows of this file
	firstImported *ID
}

// postRow is a row that posts.
type postRow struct {
	row      *BalanceForwardRow
	patient  *patientPlan
	provider ID
	location ID
	key      []byte
}

// patientPlan is a patient the file names: matched, or to be created.
type patientPlan struct {
	key        string
	patient    Patient // for a new one, as it will be created
	created    bool
	guarantor  Guarantor
	newFamily  bool
	firstRow   *BalanceForwardRow
	totals     ImportTotals
	hasPosting bool
}

// planImport matches a parsed file against the ledger read through r.
// Rows dated after today are errors, whatever day the file was parsed on.
func planImport(ctx context.Context, r Reader, pid ID, f *BalanceForwardFile, in ImportRequest, today Date) (*importPlan, error) {
	p := &importPlan{pid: pid, file: f, opts: in.Options, mode: in.Mode, imported: map[ID]bool{}}
	p.report = ImportReport{Mode: in.Mode, FileName: f.Name, FileSHA256: f.SHA256, Delimiter: delimiterName(f.Delimiter), Rows: len(f.Rows)}
	p.issues = append(p.issues, f.Issues...)

	prev, err := r.StandingImportOfFile(ctx, pid, f.SHA256)
	if err != nil {
		return nil, err
	}
	if len(prev) > 0 {
		p.duplicateFile = &prev[0]
		return p, nil
	}
	if len(f.Rows) == 0 {
		return p, nil
	}

	provOf, err := p.providers(ctx, r)
	if err != nil {
		return nil, err
	}
	locOf, err := p.locations(ctx, r)
	if err != nil {
		return nil, err
	}
	patOf, err := p.matchPatients(ctx, r)
	if err != nil {
		return nil, err
	}

	// Each row that can post gets its key; duplicates within the file and
	// rows an earlier import posted are skipped.
	var cands []postRow
	var keys [][]byte
	firstOfKey := map[string]int{}
	for i := range f.Rows {
		row := &f.Rows[i]
		pat := patOf[i]
		prov, okProv := provOf(row)
		loc, okLoc := locOf(row)
		if !row.Invalid && row.ServiceDate != nil && row.ServiceDate.After(today) {
			p.fail(row, ColServiceDate, IssueFutureDate, "%s is in the future", row.ServiceDate)
			continue
		}
		if row.Invalid || pat == nil || !okProv || !okLoc || row.Amount.IsZero() {
			continue
		}
		pr := postRow{row: row, patient: pat, provider: prov, location: loc}
		pr.key = rowKey(pat.patient.ID, row, prov, loc)
		if first, dup := firstOfKey[string(pr.key)]; dup {
			p.warn(row, "", IssueDuplicateRow, "the same as row %d (patient, date, amount, code, provider, location and memo); skipped — if both are real, tell them apart in the memo", first)
			continue
		}
		firstOfKey[string(pr.key)] = row.Row
		cands = append(cands, pr)
		keys = append(keys, pr.key)
	}
	done, err := r.ImportedRows(ctx, pid, keys)
	if err != nil {
		return nil, err
	}
	doneBy := make(map[string]ImportedRow, len(done))
	for _, d := range done {
		doneBy[string(d.RowKey)] = d
	}
	for _, c := range cands {
		if d, ok := doneBy[string(c.key)]; ok {
			p.warn(c.row, "", IssueAlreadyImported, "already posted by import %s (its row %d); skipped", d.ImportID, d.Row)
			if !p.imported[d.ImportID] {
				p.imported[d.ImportID] = true
				if p.firstImported == nil {
					id := d.ImportID
					p.firstImported = &id
				}
			}
			continue
		}
		p.posts = append(p.posts, c)
		c.patient.totals.add(c.row)
		c.patient.hasPosting = true
	}
	return p, nil
}

// finish settles the outcome and writes the report's counts, totals and
// message.
func (p *importPlan) finish() {
	r := &p.report
	commit := p.mode == ImportCommit
	countErrors := func() int {
		n := 0
		for _, is := range p.issues {
			if is.Severity == SeverityError {
				n++
			}
		}
		return n
	}
	switch {
	case p.duplicateFile != nil:
	case countErrors() > 0:
	case len(p.posts) == 0 && len(p.imported) == 0:
		p.issues = append(p.issues, ImportIssue{Severity: SeverityError, Code: IssueEmptyFile,
			Message: "nothing to post: every row is skipped (zero amounts or duplicates)"})
	}
	for _, pp := range p.patients {
		if !pp.hasPosting {
			continue
		}
		pt := ImportPatientTotal{ExternalID: pp.patient.ExternalID, LastName: pp.patient.LastName, FirstName: pp.patient.FirstName,
			BirthDate: pp.patient.BirthDate, GuarantorName: pp.guarantor.Name, FirstRow: pp.firstRow.Row, Totals: pp.totals, Created: pp.created}
		if !pp.created || commit {
			id := pp.patient.ID
			pt.PatientID = &id
		}
		if !pp.newFamily || commit {
			id := pp.guarantor.ID
			pt.GuarantorID = &id
		}
		r.Patients = append(r.Patients, pt)
		r.Totals.Rows += pp.totals.Rows
		r.Totals.PatientDebits = r.Totals.PatientDebits.Add(pp.totals.PatientDebits)
		r.Totals.PatientCredits = r.Totals.PatientCredits.Add(pp.totals.PatientCredits)
		r.Totals.Insurance = r.Totals.Insurance.Add(pp.totals.Insurance)
	}
	r.Totals.PatientBalance = r.Totals.PatientDebits.Sub(r.Totals.PatientCredits)
	r.Totals.Total = r.Totals.PatientBalance.Add(r.Totals.Insurance)
	r.RowsToPost = len(p.posts)
	r.RowsSkipped = 0
	for _, is := range p.issues {
		switch is.Code {
		case IssueZeroAmount, IssueDuplicateRow, IssueAlreadyImported:
			r.RowsSkipped++
		}
	}
	for _, pp := range p.patients {
		if pp.hasPosting && pp.created {
			r.PatientsCreated++
		}
	}
	r.GuarantorsCreated = p.usedNewGuarantors()
	r.Encounters = len(p.encounterKeys())

	sort.SliceStable(p.issues, func(i, j int) bool { return p.issues[i].Row < p.issues[j].Row })
	r.Errors, r.Warnings = 0, 0
	for _, is := range p.issues {
		if is.Severity == SeverityError {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	r.Issues = p.issues
	if len(r.Issues) > MaxReportIssues {
		r.Issues, r.IssuesTruncated = r.Issues[:MaxReportIssues], true
	}

	switch {
	case p.duplicateFile != nil:
		r.Outcome, r.DuplicateOf = OutcomeAlreadyImported, &p.duplicateFile.ID
		r.RowsToPost, r.Patients, r.Totals, r.Encounters, r.PatientsCreated, r.GuarantorsCreated = 0, nil, ImportTotals{}, 0, 0, 0
		r.Message = fmt.Sprintf("this file was imported on %s as import %s: nothing is posted again (undo that import to post the file anew)",
			p.duplicateFile.ImportDate, p.duplicateFile.ID)
		r.Warnings++
		r.Issues = append([]ImportIssue{{Severity: SeverityWarning, Code: IssueAlreadyImported, Message: r.Message}}, r.Issues...)
	case r.Errors > 0 && commit:
		r.Outcome = OutcomeRejected
		r.Message = fmt.Sprintf("%s: nothing was posted; fix the file and import it again", plural(r.Errors, "error"))
	case r.Errors > 0:
		r.Outcome = OutcomeInvalid
		r.Message = fmt.Sprintf("%s: a commit would be rejected and post nothing", plural(r.Errors, "error"))
	case len(p.posts) == 0:
		r.Outcome, r.DuplicateOf = OutcomeAlreadyImported, p.firstImported
		r.Message = fmt.Sprintf("every row of this file was posted by an earlier import (%s): nothing is posted again", *p.firstImported)
	case commit:
		r.Outcome = OutcomeCommitted
		r.Message = p.summary("posted")
	default:
		r.Outcome = OutcomeValid
		r.Message = p.summary("a commit would post")
	}
}

// summary says what the rows to post come to.
func (p *importPlan) summary(verb string) string {
	r := &p.report
	s := fmt.Sprintf("%s %s for %s in %s", verb, plural(r.RowsToPost, "row"), plural(len(r.Patients), "patient"), plural(r.Encounters, "encounter"))
	if r.PatientsCreated > 0 {
		s += fmt.Sprintf(" (%s new)", plural(r.PatientsCreated, "patient"))
	}
	s += fmt.Sprintf(": patients owe %s and hold %s in credits", r.Totals.PatientDebits, r.Totals.PatientCredits)
	if !r.Totals.Insurance.IsZero() {
		s += fmt.Sprintf("; %s is pending from insurance", r.Totals.Insurance)
	}
	if r.RowsSkipped > 0 {
		s += fmt.Sprintf("; %s skipped", plural(r.RowsSkipped, "row"))
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func delimiterName(r rune) string {
	if r == '\t' {
		return "tab"
	}
	if r == 0 {
		return ""
	}
	return string(r)
}

func (p *importPlan) issue(row *BalanceForwardRow, col string, sev ImportSeverity, code, format string, args ...any) {
	p.issues = append(p.issues, ImportIssue{Row: row.Row, Line: row.Line, Column: col, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *importPlan) fail(row *BalanceForwardRow, col, code, format string, args ...any) {
	p.issue(row, col, SeverityError, code, format, args...)
}

func (p *importPlan) warn(row *BalanceForwardRow, col, code, format string, args ...any) {
	p.issue(row, col, SeverityWarning, code, format, args...)
}

// rowKey identifies a row by what it posts: the patient, the date of service
// as the file gives it (none is not the import date, so a file re-imported
// another day still matches), the amount, code, responsibility, provider,
// location and memo.
func rowKey(patient ID, r *BalanceForwardRow, provider, location ID) []byte {
	h := sha256.New()
	put := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	dos := ""
	if r.ServiceDate != nil {
		dos = r.ServiceDate.String()
	}
	h.Write(patient[:])
	put(dos)
	put(r.Amount.String())
	put(r.Code)
	put(string(r.Responsibility))
	h.Write(provider[:])
	h.Write(location[:])
	put(r.Memo)
	return h.Sum(nil)
}

// directory finds providers or locations by code, then name.
type directory struct {
	what          string
	col           string
	code          string // issue code
	exact, byCode map[string][]ID
	byName        map[string][]ID
	all           []ID
}

func newDirectory(what, col, code string) *directory {
	return &directory{what: what, col: col, code: code, exact: map[string][]ID{}, byCode: map[string][]ID{}, byName: map[string][]ID{}}
}

func (d *directory) add(id ID, code, name string) {
	d.all = append(d.all, id)
	if code != "" {
		d.exact[code] = append(d.exact[code], id)
		d.byCode[strings.ToLower(code)] = append(d.byCode[strings.ToLower(code)], id)
	}
	d.byName[strings.ToLower(name)] = append(d.byName[strings.ToLower(name)], id)
}

// find resolves a code or name: an exact code, else a code or a name in any
// case. It says why when there is no single answer.
func (d *directory) find(v string) (ID, string) {
	lookups := []struct {
		m map[string][]ID
		k string
	}{{d.exact, v}, {d.byCode, strings.ToLower(v)}, {d.byName, strings.ToLower(v)}}
	for _, l := range lookups {
		switch ids := l.m[l.k]; len(ids) {
		case 0:
			continue
		case 1:
			return ids[0], ""
		default:
			return ID{}, fmt.Sprintf("%d %ss have the code or name %q; use the code of one", len(ids), d.what, v)
		}
	}
	return ID{}, fmt.Sprintf("no %s has the code or name %q", d.what, v)
}

// resolver returns, for a directory and a default, a function giving a row's
// provider (or location) and reporting when there is none.
func (p *importPlan) resolver(d *directory, def, option string, value func(*BalanceForwardRow) string) (func(*BalanceForwardRow) (ID, bool), error) {
	var fallback *ID
	if def != "" {
		id, why := d.find(def)
		if why != "" {
			return nil, Invalid("options."+option, "%s", why)
		}
		fallback = &id
	} else if len(d.all) == 1 {
		fallback = &d.all[0]
	}
	reported := map[*BalanceForwardRow]bool{}
	cache := map[string]ID{}
	return func(row *BalanceForwardRow) (ID, bool) {
		v := value(row)
		if v == "" {
			if fallback != nil {
				return *fallback, true
			}
			if !reported[row] {
				reported[row] = true
				p.fail(row, d.col, IssueMissingValue, "the practice has %d %ss: name one (by code or name), or set %s", len(d.all), d.what, option)
			}
			return ID{}, false
		}
		if id, ok := cache[v]; ok {
			return id, true
		}
		id, why := d.find(v)
		if why != "" {
			if !reported[row] {
				reported[row] = true
				p.fail(row, d.col, d.code, "%s", why)
			}
			return ID{}, false
		}
		cache[v] = id
		return id, true
	}, nil
}

func (p *importPlan) providers(ctx context.Context, r Reader) (func(*BalanceForwardRow) (ID, bool), error) {
	rows, err := r.ProvidersOfPractice(ctx, p.pid)
	if err != nil {
		return nil, err
	}
	d := newDirectory("provider", ColProvider, IssueUnknownProvider)
	for _, v := range rows {
		d.add(v.ID, v.Code, v.Name)
	}
	f, err := p.resolver(d, p.opts.DefaultProvider, "defaultProvider", func(r *BalanceForwardRow) string { return r.Provider })
	if err != nil {
		return nil, err
	}
	return memo(f), nil
}

func (p *importPlan) locations(ctx context.Context, r Reader) (func(*BalanceForwardRow) (ID, bool), error) {
	rows, err := r.LocationsOfPractice(ctx, p.pid)
	if err != nil {
		return nil, err
	}
	d := newDirectory("location", ColLocation, IssueUnknownLocation)
	for _, v := range rows {
		d.add(v.ID, v.Code, v.Name)
	}
	f, err := p.resolver(d, p.opts.DefaultLocation, "defaultLocation", func(r *BalanceForwardRow) string { return r.Location })
	if err != nil {
		return nil, err
	}
	return memo(f), nil
}

// memo remembers a resolver's answer per row, so a row is reported once.
func memo(f func(*BalanceForwardRow) (ID, bool)) func(*BalanceForwardRow) (ID, bool) {
	type answer struct {
		id ID
		ok bool
	}
	seen := map[*BalanceForwardRow]answer{}
	return func(r *BalanceForwardRow) (ID, bool) {
		if a, ok := seen[r]; ok {
			return a.id, a.ok
		}
		id, ok := f(r)
		seen[r] = answer{id, ok}
		return id, ok
	}
}

// nameKey identifies a name and birth date, case-insensitively.
func nameKey(last, first string, birth Date) string {
	return strings.ToLower(last) + "\x00" + strings.ToLower(first) + "\x00" + birth.String()
}

// identity is what a row says about its patient.
type identity struct {
	key      string
	ext      string
	nameIdx  int // index into the names queried, or -1
	firstRow *BalanceForwardRow
	rows     []int
}

// matchPatients finds (or plans to create) each row's patient. It returns
// the patient per row index; nil where the row's patient is in error.
func (p *importPlan) matchPatients(ctx context.Context, r Reader) (map[int]*patientPlan, error) {
	f := p.file
	var ids []*identity
	byKey := map[string]*identity{}
	var exts []string
	var names []PatientName
	nameAt := map[string]int{}
	for i := range f.Rows {
		row := &f.Rows[i]
		hasName := row.PatientLastName != "" && row.PatientFirstName != "" && row.PatientBirthDate != nil
		if row.PatientExternalID == "" && !hasName {
			continue // the row's issues already say so
		}
		nk := -1
		if hasName {
			k := nameKey(row.PatientLastName, row.PatientFirstName, *row.PatientBirthDate)
			j, ok := nameAt[k]
			if !ok {
				j = len(names)
				nameAt[k] = j
				names = append(names, PatientName{LastName: row.PatientLastName, FirstName: row.PatientFirstName, BirthDate: *row.PatientBirthDate})
			}
			nk = j
		}
		key := "x:" + row.PatientExternalID
		if row.PatientExternalID == "" {
			key = "n:" + nameKey(row.PatientLastName, row.PatientFirstName, *row.PatientBirthDate)
		}
		id, ok := byKey[key]
		if !ok {
			id = &identity{key: key, ext: row.PatientExternalID, nameIdx: nk, firstRow: row}
			byKey[key] = id
			ids = append(ids, id)
			if id.ext != "" {
				exts = append(exts, id.ext)
			}
		} else if id.nameIdx < 0 && nk >= 0 {
			id.nameIdx = nk
		}
		id.rows = append(id.rows, i)
	}
	byExt, byName, err := r.MatchPatients(ctx, p.pid, exts, names)
	if err != nil {
		return nil, err
	}
	extMatch := make(map[string]Patient, len(byExt))
	for _, pt := range byExt {
		extMatch[pt.ExternalID] = pt
	}
	nameMatches := map[int][]Patient{}
	for _, m := range byName {
		nameMatches[m.Key] = append(nameMatches[m.Key], m.Patient)
	}
	for k := range nameMatches {
		slices.SortFunc(nameMatches[k], func(a, b Patient) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	}

	// The guarantors rows name by external id, and those of matched patients.
	var gexts []string
	seenG := map[string]bool{}
	for i := range f.Rows {
		if g := f.Rows[i].GuarantorExternalID; g != "" && !seenG[g] {
			seenG[g] = true
			gexts = append(gexts, g)
		}
	}
	gByExt := map[string]Guarantor{}
	if len(gexts) > 0 {
		gs, err := r.GuarantorsByExternalID(ctx, p.pid, gexts)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			gByExt[g.ExternalID] = g
		}
	}

	out := map[int]*patientPlan{}
	var matched []*patientPlan
	planOf := map[ID]*patientPlan{} // rows naming one patient two ways share a plan
	for _, id := range ids {
		pp := p.resolveIdentity(id, extMatch, nameMatches, names)
		if pp == nil {
			continue
		}
		if prev, ok := planOf[pp.patient.ID]; ok {
			pp = prev
		} else {
			planOf[pp.patient.ID] = pp
			p.patients = append(p.patients, pp)
			if !pp.created {
				matched = append(matched, pp)
			}
		}
		for _, i := range id.rows {
			out[i] = pp
		}
		p.checkRows(id, pp)
	}

	// Families: of matched patients, from the ledger; of new ones, by the
	// row's guarantor columns.
	var gids []ID
	for _, pp := range matched {
		gids = append(gids, pp.patient.GuarantorID)
	}
	gs, err := r.Guarantors(ctx, p.pid, gids)
	if err != nil {
		return nil, err
	}
	gByID := byID(gs, func(g Guarantor) ID { return g.ID })
	for _, pp := range matched {
		pp.guarantor = gByID[pp.patient.GuarantorID]
		if g := pp.firstRow.GuarantorExternalID; g != "" && g != pp.guarantor.ExternalID {
			p.warn(pp.firstRow, ColGuarantorExternalID, IssueGuarantor,
				"the patient's family is %s (guarantor external id %q), not %q: the balance posts to the patient, in that family",
				pp.guarantor.Name, pp.guarantor.ExternalID, g)
		}
	}
	newByKey := map[string]int{}
	for _, pp := range p.patients {
		if pp.created {
			p.familyOf(pp, gByExt, newByKey)
		}
	}
	return out, nil
}

// resolveIdentity matches an identity to a patient, or plans a new one, or
// reports why neither (returning nil).
func (p *importPlan) resolveIdentity(id *identity, extMatch map[string]Patient, nameMatches map[int][]Patient, names []PatientName) *patientPlan {
	row := id.firstRow
	failAll := func(col, code, format string, args ...any) *patientPlan {
		for _, i := range id.rows {
			p.fail(&p.file.Rows[i], col, code, format, args...)
		}
		return nil
	}
	described := func() string {
		if id.nameIdx < 0 {
			return fmt.Sprintf("external id %q", id.ext)
		}
		n := names[id.nameIdx]
		return fmt.Sprintf("%s, %s born %s", n.LastName, n.FirstName, n.BirthDate)
	}
	if id.ext != "" {
		if pt, ok := extMatch[id.ext]; ok {
			return &patientPlan{key: id.key, patient: pt, firstRow: row}
		}
	}
	if id.nameIdx >= 0 {
		n := names[id.nameIdx]
		switch cands := nameMatches[id.nameIdx]; {
		case len(cands) > 1:
			return failAll(ColPatientExternalID, IssueAmbiguousPatient,
				"%d patients are named %s, %s and born %s: give the patient external id to say which (no guess is made)",
				len(cands), n.LastName, n.FirstName, n.BirthDate)
		case len(cands) == 1 && id.ext != "" && cands[0].ExternalID != "":
			return failAll(ColPatientExternalID, IssueAmbiguousPatient,
				"no patient has external id %q, but %s, %s born %s is the patient with external id %q: correct the external id",
				id.ext, n.LastName, n.FirstName, n.BirthDate, cands[0].ExternalID)
		case len(cands) == 1:
			if id.ext != "" {
				p.warn(row, ColPatientExternalID, IssuePatientMismatch,
					"no patient has external id %q; matched by name and birth date to a patient who has none (the ledger keeps no external id for them)", id.ext)
			}
			return &patientPlan{key: id.key, patient: cands[0], firstRow: row}
		}
	}
	if !p.opts.CreateMissingPatients {
		return failAll(ColPatientExternalID, IssueUnknownPatient, "no patient matches %s; set createMissingPatients to create the patient", described())
	}
	if row.PatientLastName == "" || row.PatientFirstName == "" {
		return failAll(ColPatientLastName, IssueMissingValue, "no patient matches %s; to create the patient, give last and first name", described())
	}
	pt := Patient{ID: newID(), FirstName: row.PatientFirstName, LastName: row.PatientLastName, BirthDate: row.PatientBirthDate, ExternalID: id.ext}
	return &patientPlan{key: id.key, patient: pt, created: true, firstRow: row}
}

// checkRows warns when later rows of a patient disagree with its record (a
// matched patient) or with its first row (a new one).
func (p *importPlan) checkRows(id *identity, pp *patientPlan) {
	want := pp.patient
	for n, i := range id.rows {
		row := &p.file.Rows[i]
		var diffs []string
		if row.PatientLastName != "" && !strings.EqualFold(row.PatientLastName, want.LastName) {
			diffs = append(diffs, fmt.Sprintf("last name %q, not %q", row.PatientLastName, want.LastName))
		}
		if row.PatientFirstName != "" && !strings.EqualFold(row.PatientFirstName, want.FirstName) {
			diffs = append(diffs, fmt.Sprintf("first name %q, not %q", row.PatientFirstName, want.FirstName))
		}
		if row.PatientBirthDate != nil && (want.BirthDate == nil || *row.PatientBirthDate != *want.BirthDate) {
			had := "none"
			if want.BirthDate != nil {
				had = want.BirthDate.String()
			}
			diffs = append(diffs, fmt.Sprintf("birth date %s, not %s", row.PatientBirthDate, had))
		}
		if len(diffs) == 0 || (pp.created && n == 0) {
			continue
		}
		whose := "the patient with external id " + strconvQuote(want.ExternalID)
		if pp.created {
			whose = fmt.Sprintf("row %d (which creates the patient)", pp.firstRow.Row)
		}
		p.warn(row, ColPatientLastName, IssuePatientMismatch, "%s has %s; the row posts to that patient", whose, strings.Join(diffs, ", "))
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// familyOf picks a new patient's guarantor: the one the row's guarantor
// external id names (existing, or new with the row's guarantor name); else a
// new family for the row's guarantor name, shared by the file's rows naming
// it; else (no guarantor, or the patient's own name) the patient is their own
// guarantor.
func (p *importPlan) familyOf(pp *patientPlan, gByExt map[string]Guarantor, newByKey map[string]int) {
	row := pp.firstRow
	gext, gname := row.GuarantorExternalID, row.GuarantorName
	own := gname == "" || sameName(gname, pp.patient.FirstName, pp.patient.LastName)
	if gext != "" {
		if g, ok := gByExt[gext]; ok {
			pp.guarantor, pp.patient.GuarantorID = g, g.ID
			return
		}
	}
	key := "x:" + gext
	switch {
	case gext != "":
	case own:
		key = "self:" + pp.key
	default:
		key = "n:" + strings.ToLower(strings.Join(strings.Fields(gname), " "))
	}
	if i, ok := newByKey[key]; ok {
		g := p.newGuarantors[i]
		pp.guarantor, pp.patient.GuarantorID, pp.newFamily = g, g.ID, true
		return
	}
	g := Guarantor{ID: newID(), Name: gname, ExternalID: gext}
	if own {
		g.Name = pp.patient.FirstName + " " + pp.patient.LastName
		sp := pp.patient.ID
		g.SelfPatientID = &sp
	}
	if gext == "" && !own {
		p.warn(row, ColGuarantorName, IssueGuarantor, "guarantor %q has no external id: a new family is created for them", gname)
	}
	newByKey[key] = len(p.newGuarantors)
	p.newGuarantors = append(p.newGuarantors, g)
	pp.guarantor, pp.patient.GuarantorID, pp.newFamily = g, g.ID, true
}

// sameName reports whether a guarantor name is the patient's ("Jane Doe",
// "Doe, Jane"), whatever the case.
func sameName(name, first, last string) bool {
	words := func(s string) []string {
		w := strings.Fields(strings.ToLower(strings.ReplaceAll(s, ",", " ")))
		slices.Sort(w)
		return w
	}
	return slices.Equal(words(name), words(first+" "+last))
}

// usedNewGuarantors counts the new guarantors of patients that post.
func (p *importPlan) usedNewGuarantors() int {
	used := map[ID]bool{}
	for _, pp := range p.patients {
		if pp.hasPosting && pp.newFamily {
			used[pp.guarantor.ID] = true
		}
	}
	return len(used)
}

// encounterKey groups rows into encounters.
type encounterKey struct {
	patient, provider, location ID
}

func (p *importPlan) encounterOf(pr postRow) encounterKey {
	k := encounterKey{patient: pr.patient.patient.ID}
	if p.opts.EncounterPerProviderLocation {
		k.provider, k.location = pr.provider, pr.location
	}
	return k
}

// encounterKeys lists the encounters the rows to post make, in the order
// the file first names them.
func (p *importPlan) encounterKeys() []encounterKey {
	var keys []encounterKey
	seen := map[encounterKey]bool{}
	for _, pr := range p.posts {
		k := p.encounterOf(pr)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// postPlan writes a plan: the new guarantors and patients, an encounter per
// patient (or patient, provider and location), a line per row, a credit
// receipt per patient holding credits, and the import's record; then it
// reconciles the import with the ledger and refuses to commit if they
// differ by a cent.
func (l *Ledger) postPlan(ctx context.Context, tx Tx, a Actor, p *importPlan, progress func(ImportProgress)) (ID, error) {
	now, today := l.stamp(), l.Today()
	importID := newID()
	var b Bulk

	created, usedFamily := map[ID]bool{}, map[ID]bool{}
	for _, pp := range p.patients {
		if !pp.hasPosting {
			continue
		}
		if pp.newFamily {
			usedFamily[pp.guarantor.ID] = true
		}
		if pp.created {
			pp.patient.CreatedAt = now
			b.Patients = append(b.Patients, pp.patient)
			created[pp.patient.ID] = true
		}
	}
	for _, g := range p.newGuarantors {
		if !usedFamily[g.ID] {
			continue
		}
		if g.SelfPatientID != nil && !created[*g.SelfPatientID] {
			g.SelfPatientID = nil // its patient has nothing to post; the others of the family do
		}
		g.CreatedAt = now
		b.Guarantors = append(b.Guarantors, g)
	}

	// Encounters, each with its rows in file order.
	keys := p.encounterKeys()
	rowsOf := make(map[encounterKey][]postRow, len(keys))
	for _, pr := range p.posts {
		k := p.encounterOf(pr)
		rowsOf[k] = append(rowsOf[k], pr)
	}
	note := fmt.Sprintf("Balance forward from a prior system (balance import %s)", importID)
	lines := make([]ImportLine, 0, len(p.posts))
	receiptOf := map[ID]int{} // patient → index in b.Receipts
	for _, k := range keys {
		prs := rowsOf[k]
		e := Encounter{ID: newID(), PatientID: k.patient, ProviderID: prs[0].provider, LocationID: prs[0].location,
			Kind: EncounterBalanceForward, Note: note, CreatedAt: now}
		for i, pr := range prs {
			d := today
			if pr.row.ServiceDate != nil {
				d = *pr.row.ServiceDate
			}
			if i == 0 || d.Before(e.ServiceFrom) {
				e.ServiceFrom = d
			}
			if i == 0 || d.After(e.ServiceTo) {
				e.ServiceTo = d
			}
			prov, loc := pr.provider, pr.location
			c := Charge{ID: newID(), EncounterID: &e.ID, PatientID: k.patient, ProviderID: &prov, LocationID: &loc,
				Kind: ChargeBalanceForward, Status: StatusCompleted, Code: pr.row.Code, ServiceDate: d, Note: pr.row.Memo, PostedAt: now}
			ln := ImportLine{Row: pr.row.Row, RowKey: pr.key, ChargeID: c.ID, Amount: pr.row.Amount, Responsibility: pr.row.Responsibility}
			switch {
			case pr.row.Responsibility == ResponsibilityInsurance:
				c.Amount, c.InsuranceEstimate = pr.row.Amount, pr.row.Amount
			case pr.row.Amount.Sign() > 0:
				c.Amount = pr.row.Amount
			default:
				// A credit: a 0.00 line the credit sits on, so the line's
				// balance is the credit and a re-apply can move it (PD/PCA).
				credit := pr.row.Amount.Neg()
				ri, ok := receiptOf[k.patient]
				if !ok {
					patient := k.patient
					ri = len(b.Receipts)
					receiptOf[k.patient] = ri
					b.Receipts = append(b.Receipts, Receipt{ID: newID(), Kind: ReceiptBalanceForward, ReceivedOn: today, PatientID: &patient,
						Note: fmt.Sprintf("Credit carried over from a prior system (balance import %s)", importID), PostedAt: now})
				}
				rc := &b.Receipts[ri]
				rc.Amount = rc.Amount.Add(credit)
				b.Splits = append(b.Splits, Split{ID: newID(), ReceiptID: rc.ID, Amount: credit, Code: CodeBalanceForward,
					PatientID: k.patient, ProviderID: &prov, LocationID: &loc, ChargeID: &c.ID})
				rid := rc.ID
				ln.ReceiptID = &rid
			}
			b.Charges = append(b.Charges, c)
			lines = append(lines, ln)
		}
		b.Encounters = append(b.Encounters, e)
	}
	slices.SortFunc(lines, func(x, y ImportLine) int { return x.Row - y.Row })

	if err := tx.InsertBulk(ctx, p.pid, b); err != nil {
		return ID{}, err
	}
	r := &p.report
	var keyID *ID
	if a.KeyID != (ID{}) {
		keyID = &a.KeyID
	}
	imp := BalanceImport{ID: importID, Status: ImportCommitted, FileName: p.file.Name, FileSHA256: p.file.SHA256, ImportDate: today,
		Options: p.opts, RowsRead: r.Rows, RowsPosted: r.RowsToPost, RowsSkipped: r.RowsSkipped, PatientsCreated: len(b.Patients),
		GuarantorsCreated: len(b.Guarantors), Encounters: len(b.Encounters), PatientDebits: r.Totals.PatientDebits,
		PatientCredits: r.Totals.PatientCredits, Insurance: r.Totals.Insurance, KeyID: keyID, CreatedAt: now}
	if err := tx.InsertBalanceImport(ctx, p.pid, imp, lines); err != nil {
		return ID{}, err
	}

	progress(ImportProgress{Phase: "reconcile", Bytes: p.file.Bytes, Rows: len(p.file.Rows)})
	file := make(map[int]*BalanceForwardRow, len(p.posts))
	for _, pr := range p.posts {
		file[pr.row.Row] = pr.row
	}
	rec, err := reconcileImport(ctx, tx, p.pid, importID, file)
	if err != nil {
		return ID{}, err
	}
	if !rec.Matches || len(rec.Patients) != len(r.Patients) || !rec.FilePatient.Equal(r.Totals.PatientBalance) || !rec.FileInsurance.Equal(r.Totals.Insurance) {
		return ID{}, &InvariantError{Invariant: "import_reconciles", Message: fmt.Sprintf(
			"balance import did not reconcile: the file has %s owed by patients and %s pending from insurance, the ledger %s and %s; nothing was posted",
			rec.FilePatient, rec.FileInsurance, rec.LedgerPatient, rec.LedgerInsurance)}
	}
	r.ImportID, r.Reconciliation = &importID, &rec
	return importID, nil
}
