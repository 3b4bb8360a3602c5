package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// importPlan is a file matched against the ledger: which rows post, to
// whom, and what the import would create. VALIDATE reports it; COMMIT posts
// it. It holds per patient and per encounter what posting needs, and per
// row one bit (import_passes.go).
type importPlan struct {
	pid    ID
	read   *fileRead
	opts   ImportOptions
	mode   ImportMode
	today  Date
	report ImportReport
	log    issueLog

	matches       []*patientPlan // per identity; nil where its rows are in error
	failures      []*ImportIssue // per identity: the error each of its rows gets, if any
	provOf, locOf func(*BalanceForwardRow) (ID, bool)
	patients      []*patientPlan // in the order the file first names them
	newGuarantors []*Guarantor
	duplicateFile *BalanceImport // a standing import of the same file
	imported      map[ID]bool    // earlier imports that posted rows of this file
	firstImported *ID

	seen          map[seenKey]int32 // row key → the first row with it (while checking)
	posts         rowSet            // the rows that post
	rowsToPost    int
	encounters    map[encounterKey]int32 // index in encounterList (one encounter per patient, provider and location)
	encounterList []encounterPlan        // in the order the file first names them
}

// patientPlan is a patient the file names: matched, or to be created. An
// import holds one per patient, so it is kept small.
type patientPlan struct {
	patient    Patient // for a new one, as it will be created
	guarantor  *Guarantor
	id         *identity    // the identity naming it first: its key and first row
	totals     ImportTotals // PatientBalance and Total are set when reported
	receiptID  ID           // the receipt of its credits, when it holds some (set when posting)
	encounter  int32        // 1 + its encounter's index in encounterList (one encounter per patient); 0: none yet
	created    bool
	newFamily  bool
	hasPosting bool
}

// encounterPlan is an encounter the rows to post make: its first row's
// provider and location, the span of its dates of service.
type encounterPlan struct {
	patient            ID
	id                 ID // set when posting
	provider, location ID
	from, to           Date
}

// candidate is a row that may post, waiting to be looked for among the
// rows imported before.
type candidate struct {
	ref                rowRef
	key                [sha256.Size]byte
	patient            *patientPlan
	provider, location ID
	date               Date // of service, or the import date
	amount             Money
	resp               Responsibility
	kind               RowKind
}

// seenKey is the first half of a row key: enough to tell a file's rows
// apart (two different rows of a file of a million share it with odds of
// about 1 in 10^27), at half the memory per row while checking.
type seenKey [16]byte

// importBatch is how many rows are looked for among earlier imports at
// once. (The sizes of an import's batches are variables so that a test can
// make them small.)
var importBatch = 10_000

// planImport matches what the first pass read against the ledger read
// through r: the file's standing import if any, providers, locations,
// patients and their families. check then goes over the rows.
func planImport(ctx context.Context, r Reader, pid ID, fr *fileRead, in ImportRequest, today Date, dup *BalanceImport) (*importPlan, error) {
	p := &importPlan{pid: pid, read: fr, opts: in.Options, mode: in.Mode, today: today, log: fr.log.clone(), imported: map[ID]bool{},
		seen: map[seenKey]int32{}, encounters: map[encounterKey]int32{}}
	f := fr.file
	p.report = ImportReport{Mode: in.Mode, FileName: f.Name, FileSHA256: f.SHA256, Delimiter: delimiterName(f.Delimiter), Rows: f.RowCount}

	if p.duplicateFile = dup; dup != nil || f.RowCount == 0 {
		return p, nil
	}
	var err error
	if p.provOf, err = p.providers(ctx, r); err != nil {
		return nil, err
	}
	if p.locOf, err = p.locations(ctx, r); err != nil {
		return nil, err
	}
	if err := p.matchPatients(ctx, r); err != nil {
		return nil, err
	}
	return p, nil
}

// check reads the file again and settles each row: its issues against the
// ledger, whether it repeats an earlier row of the file or a row imported
// before, and, when it posts, its part of its patient's and encounter's
// totals.
func (p *importPlan) check(ctx context.Context, r Reader) error {
	if p.duplicateFile != nil || p.read.file.RowCount == 0 {
		return nil
	}
	batch := make([]candidate, 0, importBatch)
	flush := func() error {
		err := p.settle(ctx, r, batch)
		batch = batch[:0]
		return err
	}
	_, err := p.read.src.scan(func(row *BalanceForwardRow) error {
		c, ok := p.candidate(row)
		if !ok {
			return nil
		}
		if batch = append(batch, c); len(batch) == importBatch {
			return flush()
		}
		return nil
	}, nil)
	if err == nil {
		err = flush()
	}
	p.seen = nil // only checking needs it
	return err
}

// candidate checks a row against the ledger; it returns the row as a
// candidate to post, or false when it does not post.
func (p *importPlan) candidate(row *BalanceForwardRow) (candidate, bool) {
	var pat *patientPlan
	if id := p.read.identityOf(row); id != nil {
		if fail := p.failures[id.i]; fail != nil {
			is := *fail
			is.Row, is.Line = row.Row, row.Line
			p.log.add(is)
		} else {
			pat = p.matches[id.i]
			p.checkRow(pat, row)
		}
	}
	prov, okProv := p.provOf(row)
	loc, okLoc := p.locOf(row)
	if row.Invalid || pat == nil || !okProv || !okLoc || row.Amount.IsZero() {
		return candidate{}, false
	}
	c := candidate{ref: refOf(row), key: rowKey(pat.patient.ID, row, prov, loc), patient: pat, provider: prov, location: loc,
		date: p.today, amount: row.Amount, resp: row.Responsibility, kind: row.Kind}
	if first, dup := p.seen[seenKey(c.key[:16])]; dup {
		p.warn(c.ref, "", IssueDuplicateRow, "the same as row %d (patient, date, amount, code, provider, location and memo); skipped — if both are real, tell them apart in the memo", first)
		return candidate{}, false
	}
	p.seen[seenKey(c.key[:16])] = int32(row.Row)
	if row.ServiceDate != nil {
		c.date = *row.ServiceDate
	}
	return c, true
}

// settle looks a batch of candidates up among the rows standing imports
// posted: those rows are skipped; the others post.
func (p *importPlan) settle(ctx context.Context, r Reader, batch []candidate) error {
	if len(batch) == 0 {
		return nil
	}
	keys := make([][]byte, len(batch))
	for i := range batch {
		keys[i] = batch[i].key[:]
	}
	done, err := r.ImportedRows(ctx, p.pid, keys)
	if err != nil {
		return err
	}
	doneBy := make(map[string]ImportedRow, len(done))
	for _, d := range done {
		doneBy[string(d.RowKey)] = d
	}
	for _, c := range batch {
		if d, ok := doneBy[string(c.key[:])]; ok {
			p.warn(c.ref, "", IssueAlreadyImported, "already posted by import %s (its row %d); skipped", d.ImportID, d.Row)
			if !p.imported[d.ImportID] {
				p.imported[d.ImportID] = true
				if p.firstImported == nil {
					id := d.ImportID
					p.firstImported = &id
				}
			}
			continue
		}
		p.count(c)
	}
	return nil
}

// count counts a row that posts into its patient's and encounter's totals.
func (p *importPlan) count(c candidate) {
	p.posts.add(c.ref.Row)
	p.rowsToPost++
	c.patient.totals.add(c.amount, c.resp, c.kind)
	c.patient.hasPosting = true
	i, ok := p.encounterOf(c.patient, c.provider, c.location)
	if !ok {
		i = int32(len(p.encounterList))
		p.encounterList = append(p.encounterList, encounterPlan{patient: c.patient.patient.ID, provider: c.provider, location: c.location, from: c.date, to: c.date})
		if p.opts.EncounterPerProviderLocation {
			p.encounters[encounterKey{c.patient.patient.ID, c.provider, c.location}] = i
		} else {
			c.patient.encounter = i + 1
		}
	}
	e := &p.encounterList[i]
	if c.date.Before(e.from) {
		e.from = c.date
	}
	if c.date.After(e.to) {
		e.to = c.date
	}
}

// finish settles the outcome and writes the report's counts, totals and
// message.
func (p *importPlan) finish() {
	r := &p.report
	commit := p.mode == ImportCommit
	switch {
	case p.duplicateFile != nil:
	case p.log.errors > 0:
	case p.rowsToPost == 0 && len(p.imported) == 0:
		p.log.add(ImportIssue{Severity: SeverityError, Code: IssueEmptyFile,
			Message: "nothing to post: every row is skipped (zero amounts or duplicates)"})
	}
	for _, pp := range p.patients {
		if !pp.hasPosting {
			continue
		}
		r.PatientCount++
		r.Totals.Rows += pp.totals.Rows
		r.Totals.PatientDebits = r.Totals.PatientDebits.Add(pp.totals.PatientDebits)
		r.Totals.PatientCredits = r.Totals.PatientCredits.Add(pp.totals.PatientCredits)
		r.Totals.NegativeProduction = r.Totals.NegativeProduction.Add(pp.totals.NegativeProduction)
		r.Totals.Insurance = r.Totals.Insurance.Add(pp.totals.Insurance)
		if pp.created {
			r.PatientsCreated++
		}
		if len(r.Patients) == MaxReportPatients {
			r.PatientsTruncated = true
			continue
		}
		pt := ImportPatientTotal{ExternalID: pp.patient.ExternalID, LastName: pp.patient.LastName, FirstName: pp.patient.FirstName,
			BirthDate: pp.patient.BirthDate, GuarantorName: pp.guarantor.Name, FirstRow: pp.id.first.Row, Totals: pp.totals, Created: pp.created}
		pt.Totals.settle()
		if !pp.created || commit {
			id := pp.patient.ID
			pt.PatientID = &id
		}
		if !pp.newFamily || commit {
			id := pp.guarantor.ID
			pt.GuarantorID = &id
		}
		r.Patients = append(r.Patients, pt)
	}
	r.Totals.PatientBalance = r.Totals.PatientDebits.Sub(r.Totals.PatientCredits)
	r.Totals.Total = r.Totals.PatientBalance.Add(r.Totals.Insurance)
	r.RowsToPost = p.rowsToPost
	r.RowsSkipped = p.log.count(IssueZeroAmount) + p.log.count(IssueDuplicateRow) + p.log.count(IssueAlreadyImported)
	r.GuarantorsCreated = p.usedNewGuarantors()
	r.Encounters = len(p.encounterList)
	r.Errors, r.Warnings = p.log.errors, p.log.warnings
	r.Issues, r.IssuesTruncated, r.IssueCounts = p.log.list()

	switch {
	case p.duplicateFile != nil:
		r.Outcome, r.DuplicateOf = OutcomeAlreadyImported, &p.duplicateFile.ID
		r.RowsToPost, r.Patients, r.Totals, r.Encounters, r.PatientsCreated, r.GuarantorsCreated = 0, nil, ImportTotals{}, 0, 0, 0
		r.PatientCount, r.PatientsTruncated = 0, false
		r.Message = fmt.Sprintf("this file was imported on %s as import %s: nothing is posted again (undo that import to post the file anew)",
			p.duplicateFile.ImportDate, p.duplicateFile.ID)
		r.Warnings++
		r.Issues = append([]ImportIssue{{Severity: SeverityWarning, Code: IssueAlreadyImported, Message: r.Message}}, r.Issues...)
		r.IssueCounts = addIssueCount(r.IssueCounts, IssueAlreadyImported, SeverityWarning)
	case r.Errors > 0:
		r.refused(commit, "fix the file and import it again")
	case p.rowsToPost == 0:
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

// addIssueCount counts one more issue of a code.
func addIssueCount(counts []ImportIssueCount, code string, sev ImportSeverity) []ImportIssueCount {
	for i := range counts {
		if counts[i].Code == code && counts[i].Severity == sev {
			counts[i].Count++
			return counts
		}
	}
	return append(counts, ImportIssueCount{Code: code, Severity: sev, Count: 1})
}

// summary says what the rows to post come to.
func (p *importPlan) summary(verb string) string {
	r := &p.report
	s := fmt.Sprintf("%s %s for %s in %s", verb, plural(r.RowsToPost, "row"), plural(r.PatientCount, "patient"), plural(r.Encounters, "encounter"))
	if r.PatientsCreated > 0 {
		s += fmt.Sprintf(" (%s new)", plural(r.PatientsCreated, "patient"))
	}
	s += fmt.Sprintf(": patients owe %s and hold %s in credits", r.Totals.PatientDebits, r.Totals.PatientCredits)
	if np := r.Totals.NegativeProduction; !np.IsZero() {
		s += fmt.Sprintf(" (%s of it negative production)", np)
	}
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

func (p *importPlan) issue(at rowRef, col string, sev ImportSeverity, code, format string, args ...any) {
	p.log.add(ImportIssue{Row: at.Row, Line: at.Line, Column: col, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *importPlan) warn(at rowRef, col, code, format string, args ...any) {
	p.issue(at, col, SeverityWarning, code, format, args...)
}

// rowKey identifies a row by what it posts: the patient, the date of service
// as the file gives it (none is not the import date, so a file re-imported
// another day still matches), the amount, code, responsibility, provider,
// location, memo and, for negative production, its kind (a BALANCE row's key
// is what it was before rows had kinds).
func rowKey(patient ID, r *BalanceForwardRow, provider, location ID) [sha256.Size]byte {
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
	if r.Kind == RowNegativeProduction {
		put(string(r.Kind))
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
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
	cache := map[string]ID{}
	return func(row *BalanceForwardRow) (ID, bool) {
		v := value(row)
		if v == "" {
			if fallback != nil {
				return *fallback, true
			}
			p.issue(refOf(row), d.col, SeverityError, IssueMissingValue, "the practice has %d %ss: name one (by code or name), or set %s", len(d.all), d.what, option)
			return ID{}, false
		}
		if id, ok := cache[v]; ok {
			return id, true
		}
		id, why := d.find(v)
		if why != "" {
			p.issue(refOf(row), d.col, SeverityError, d.code, "%s", why)
			return ID{}, false
		}
		cache[strings.Clone(v)] = id
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
	return p.resolver(d, p.opts.DefaultProvider, "defaultProvider", func(r *BalanceForwardRow) string { return r.Provider })
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
	return p.resolver(d, p.opts.DefaultLocation, "defaultLocation", func(r *BalanceForwardRow) string { return r.Location })
}

// nameKey identifies a name and birth date, case-insensitively.
func nameKey(last, first string, birth Date) string {
	return strings.ToLower(last) + "\x00" + strings.ToLower(first) + "\x00" + birth.String()
}

// matchPatients finds (or plans to create) the patient of each identity
// the file names, or the error its rows get, and the families.
func (p *importPlan) matchPatients(ctx context.Context, r Reader) error {
	extMatch, nameMatches, err := p.ledgerPatients(ctx, r)
	if err != nil {
		return err
	}
	gByExt, err := p.namedGuarantors(ctx, r)
	if err != nil {
		return err
	}
	matched := p.resolveIdentities(extMatch, nameMatches)
	if err := p.matchedFamilies(ctx, r, matched); err != nil {
		return err
	}
	newByKey := map[string]int{}
	for _, pp := range p.patients {
		if pp.created {
			p.familyOf(pp, gByExt, newByKey)
		}
	}
	return nil
}

// ledgerPatients looks the file's identities up in the ledger: the patients
// by external id, and for each name (by index) those with that name and
// birth date, in id order.
func (p *importPlan) ledgerPatients(ctx context.Context, r Reader) (map[string]Patient, map[int][]Patient, error) {
	byExt, byName, err := r.MatchPatients(ctx, p.pid, p.read.exts, p.read.names)
	if err != nil {
		return nil, nil, err
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
	return extMatch, nameMatches, nil
}

// namedGuarantors returns the guarantors new patients' rows name by
// external id, by that id.
func (p *importPlan) namedGuarantors(ctx context.Context, r Reader) (map[string]*Guarantor, error) {
	var gexts []string
	seen := map[string]bool{}
	for _, id := range p.read.ids {
		if g := id.first.gext; g != "" && !seen[g] {
			seen[g] = true
			gexts = append(gexts, g)
		}
	}
	gByExt := map[string]*Guarantor{}
	if len(gexts) == 0 {
		return gByExt, nil
	}
	gs, err := r.GuarantorsByExternalID(ctx, p.pid, gexts)
	for i := range gs {
		gByExt[gs[i].ExternalID] = &gs[i]
	}
	return gByExt, err
}

// resolveIdentities gives each identity its patient plan (identities
// naming one patient two ways share one) and returns the plans of patients
// the ledger has.
func (p *importPlan) resolveIdentities(extMatch map[string]Patient, nameMatches map[int][]Patient) []*patientPlan {
	fr := p.read
	p.matches, p.failures = make([]*patientPlan, len(fr.ids)), make([]*ImportIssue, len(fr.ids))
	var matched []*patientPlan
	planOf := map[ID]*patientPlan{}
	for _, id := range fr.ids {
		pp := p.resolveIdentity(id, extMatch, nameMatches)
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
		p.matches[id.i] = pp
	}
	return matched
}

// matchedFamilies loads the families of patients the ledger has, warning
// where a row's guarantor external id names another.
func (p *importPlan) matchedFamilies(ctx context.Context, r Reader, matched []*patientPlan) error {
	gids := make([]ID, len(matched))
	for i, pp := range matched {
		gids[i] = pp.patient.GuarantorID
	}
	gs, err := r.Guarantors(ctx, p.pid, gids)
	if err != nil {
		return err
	}
	gByID := make(map[ID]*Guarantor, len(gs))
	for i := range gs {
		gByID[gs[i].ID] = &gs[i]
	}
	for _, pp := range matched {
		pp.guarantor = gByID[pp.patient.GuarantorID]
		if g := pp.id.first.gext; g != "" && g != pp.guarantor.ExternalID {
			p.warn(pp.id.first.rowRef, ColGuarantorExternalID, IssueGuarantor,
				"the patient's family is %s (guarantor external id %q), not %q: the balance posts to the patient, in that family",
				pp.guarantor.Name, pp.guarantor.ExternalID, g)
		}
	}
	return nil
}

// resolveIdentity matches an identity to a patient, or plans a new one, or
// records the error its rows get (returning nil).
func (p *importPlan) resolveIdentity(id *identity, extMatch map[string]Patient, nameMatches map[int][]Patient) *patientPlan {
	row, ext := id.first, id.ext()
	failAll := func(col, code, format string, args ...any) *patientPlan {
		p.failures[id.i] = &ImportIssue{Column: col, Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)}
		return nil
	}
	names := p.read.names
	described := func() string {
		if id.nameIdx < 0 {
			return fmt.Sprintf("external id %q", ext)
		}
		n := names[id.nameIdx]
		return fmt.Sprintf("%s, %s born %s", n.LastName, n.FirstName, n.BirthDate)
	}
	if ext != "" {
		if pt, ok := extMatch[ext]; ok {
			return &patientPlan{patient: pt, id: id}
		}
	}
	if id.nameIdx >= 0 {
		n := names[id.nameIdx]
		switch cands := nameMatches[id.nameIdx]; {
		case len(cands) > 1:
			return failAll(ColPatientExternalID, IssueAmbiguousPatient,
				"%d patients are named %s, %s and born %s: give the patient external id to say which (no guess is made)",
				len(cands), n.LastName, n.FirstName, n.BirthDate)
		case len(cands) == 1 && ext != "" && cands[0].ExternalID != "":
			return failAll(ColPatientExternalID, IssueAmbiguousPatient,
				"no patient has external id %q, but %s, %s born %s is the patient with external id %q: correct the external id",
				ext, n.LastName, n.FirstName, n.BirthDate, cands[0].ExternalID)
		case len(cands) == 1:
			if ext != "" {
				p.warn(row.rowRef, ColPatientExternalID, IssuePatientMismatch,
					"no patient has external id %q; matched by name and birth date to a patient who has none (the ledger keeps no external id for them)", ext)
			}
			return &patientPlan{patient: cands[0], id: id}
		}
	}
	if !p.opts.CreateMissingPatients {
		return failAll(ColPatientExternalID, IssueUnknownPatient, "no patient matches %s; set createMissingPatients to create the patient", described())
	}
	if row.last == "" || row.first == "" {
		return failAll(ColPatientLastName, IssueMissingValue, "no patient matches %s; to create the patient, give last and first name", described())
	}
	pt := Patient{ID: newID(), FirstName: row.first, LastName: row.last, BirthDate: row.birth, ExternalID: ext}
	return &patientPlan{patient: pt, created: true, id: id}
}

// checkRow warns when a row disagrees with its patient's record (a matched
// patient) or with the row that creates the patient (a new one).
func (p *importPlan) checkRow(pp *patientPlan, row *BalanceForwardRow) {
	want := pp.patient
	if pp.created && row.Row == pp.id.first.Row {
		return
	}
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
	if len(diffs) == 0 {
		return
	}
	whose := "the patient with external id " + strconvQuote(want.ExternalID)
	if pp.created {
		whose = fmt.Sprintf("row %d (which creates the patient)", pp.id.first.Row)
	}
	p.warn(refOf(row), ColPatientLastName, IssuePatientMismatch, "%s has %s; the row posts to that patient", whose, strings.Join(diffs, ", "))
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// familyOf picks a new patient's guarantor: the one the row's guarantor
// external id names (existing, or new with the row's guarantor name); else a
// new family for the row's guarantor name, shared by the file's rows naming
// it; else (no guarantor, or the patient's own name) the patient is their own
// guarantor.
func (p *importPlan) familyOf(pp *patientPlan, gByExt map[string]*Guarantor, newByKey map[string]int) {
	row := pp.id.first
	gext, gname := row.gext, row.gname
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
		key = "self:" + pp.id.key
	default:
		key = "n:" + strings.ToLower(strings.Join(strings.Fields(gname), " "))
	}
	if i, ok := newByKey[key]; ok {
		g := p.newGuarantors[i]
		pp.guarantor, pp.patient.GuarantorID, pp.newFamily = g, g.ID, true
		return
	}
	g := &Guarantor{ID: newID(), Name: gname, ExternalID: gext}
	if own {
		g.Name = pp.patient.FirstName + " " + pp.patient.LastName
		sp := pp.patient.ID
		g.SelfPatientID = &sp
	}
	if gext == "" && !own {
		p.warn(row.rowRef, ColGuarantorName, IssueGuarantor, "guarantor %q has no external id: a new family is created for them", gname)
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

// encounterOf finds the encounter of a patient's row with this provider and
// location (its index in encounterList), if the plan has it yet.
func (p *importPlan) encounterOf(pp *patientPlan, provider, location ID) (int32, bool) {
	if p.opts.EncounterPerProviderLocation {
		i, ok := p.encounters[encounterKey{pp.patient.ID, provider, location}]
		return i, ok
	}
	return pp.encounter - 1, pp.encounter > 0
}

// postChunk is how many rows a commit writes at once: its charges, credit
// splits and import lines.
var postChunk = 20_000

// post writes a plan under its import's record: the new guarantors and
// patients, an encounter per patient (or patient, provider and location)
// and a credit receipt per patient holding credits (postParents); then a
// line per row that posts, and a split for a credit (postRows).
func (p *importPlan) post(ctx context.Context, tx Tx, imp *BalanceImport, progress func(ImportProgress)) error {
	if err := p.postParents(ctx, tx, imp.CreatedAt, imp.ID); err != nil {
		return err
	}
	if err := p.postRows(ctx, tx, imp.ID, imp.CreatedAt, progress); err != nil {
		return err
	}
	p.release()
	return nil
}

// reconcile compares the import with the ledger, after posting, and
// refuses the commit if they differ by a cent, or if the ledger does not
// hold every row the plan posted.
func (p *importPlan) reconcile(ctx context.Context, tx Tx, importID ID) (*Reconciliation, error) {
	r := &p.report
	rec, lines, err := reconcileImport(ctx, tx, p.pid, importID)
	if err != nil {
		return nil, err
	}
	if !rec.Matches || lines != r.RowsToPost || rec.PatientCount != r.PatientCount ||
		!rec.FilePatient.Equal(r.Totals.PatientBalance) || !rec.FileInsurance.Equal(r.Totals.Insurance) {
		return nil, &InvariantError{Invariant: "import_reconciles", Message: fmt.Sprintf(
			"balance import did not reconcile: the file has %s owed by patients and %s pending from insurance, the ledger %s and %s; nothing was posted",
			r.Totals.PatientBalance, r.Totals.Insurance, rec.LedgerPatient, rec.LedgerInsurance)}
	}
	return &rec, nil
}

// release drops what only planning and posting need, before the
// reconciliation sums the import per patient and family. The report stays.
func (p *importPlan) release() {
	p.matches, p.failures, p.patients, p.newGuarantors = nil, nil, nil, nil
	p.posts, p.encounters, p.encounterList = nil, nil, nil
}

// postParents writes what a plan's lines hang from, postChunk at a time:
// the new guarantors and patients that post, a credit receipt per patient
// holding credits, then the encounters. It gives the receipts and
// encounters their ids. A new guarantor is written with the first patient of
// its family that posts; it stays the family's own patient's (SelfPatientID)
// only when that is the patient, the first of the family the file names.
func (p *importPlan) postParents(ctx context.Context, tx Tx, now time.Time, importID ID) error {
	var b Bulk
	flush := func(force bool) error {
		if n := len(b.Guarantors) + len(b.Patients) + len(b.Receipts) + len(b.Encounters); n == 0 || n < postChunk && !force {
			return nil
		}
		err := tx.InsertBulk(ctx, p.pid, b)
		b = Bulk{} // the chunk is written: nothing holds it any longer
		return err
	}
	for _, pp := range p.patients {
		if !pp.hasPosting {
			continue
		}
		if g := pp.guarantor; pp.newFamily && g.CreatedAt.IsZero() { // zero: not written yet
			g.CreatedAt = now
			ng := *g
			if ng.SelfPatientID != nil && *ng.SelfPatientID != pp.patient.ID {
				ng.SelfPatientID = nil // its patient has nothing to post; the others of the family do
			}
			b.Guarantors = append(b.Guarantors, ng)
		}
		if pp.created {
			pp.patient.CreatedAt = now
			b.Patients = append(b.Patients, pp.patient)
		}
		if credit := pp.totals.heldAsMoney(); credit.Sign() > 0 {
			pp.receiptID = newID()
			patient := pp.patient.ID
			b.Receipts = append(b.Receipts, Receipt{ID: pp.receiptID, Kind: ReceiptBalanceForward, Amount: credit, ReceivedOn: p.today,
				PatientID: &patient, Note: fmt.Sprintf("Credit carried over from a prior system (balance import %s)", importID), PostedAt: now})
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	note := fmt.Sprintf("Balance forward from a prior system (balance import %s)", importID)
	for i := range p.encounterList {
		e := &p.encounterList[i]
		e.id = newID()
		b.Encounters = append(b.Encounters, Encounter{ID: e.id, PatientID: e.patient, ProviderID: e.provider, LocationID: e.location,
			Kind: EncounterBalanceForward, ServiceFrom: e.from, ServiceTo: e.to, Note: note, CreatedAt: now})
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

// postRows reads the file a last time and writes, postChunk rows at a time,
// a BALANCE_FORWARD line per row that posts, dated the row's date of service
// (or the import date): a positive amount is owed by the patient, or pending
// from insurance for an INSURANCE row; a credit is a 0.00 line carrying a
// BF split from the patient's credit receipt, so the line's balance is the
// credit and a re-apply can move it (PD/PCA), like an overpaid line's;
// negative production is a PROCEDURE line with the negative fee.
func (p *importPlan) postRows(ctx context.Context, tx Tx, importID ID, now time.Time, progress func(ImportProgress)) error {
	var b Bulk
	var lines []ImportLine
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		if err := tx.InsertBulk(ctx, p.pid, b); err != nil {
			return err
		}
		if err := tx.InsertBalanceImportLines(ctx, p.pid, importID, lines); err != nil {
			return err
		}
		progress(ImportProgress{Phase: "post", Bytes: p.read.file.Bytes, Rows: lines[len(lines)-1].Row})
		b.Charges, b.Splits, lines = b.Charges[:0], b.Splits[:0], lines[:0]
		return nil
	}
	_, err := p.read.src.scan(func(row *BalanceForwardRow) error {
		if !p.posts.has(row.Row) {
			return nil
		}
		pp := p.matches[p.read.identityOf(row).i]
		prov, _ := p.provOf(row)
		loc, _ := p.locOf(row)
		i, _ := p.encounterOf(pp, prov, loc)
		e := &p.encounterList[i]
		d := p.today
		if row.ServiceDate != nil {
			d = *row.ServiceDate
		}
		key := rowKey(pp.patient.ID, row, prov, loc)
		c := Charge{ID: newID(), EncounterID: &e.id, PatientID: pp.patient.ID, ProviderID: &prov, LocationID: &loc,
			Kind: ChargeBalanceForward, Status: StatusCompleted, Code: row.Code, ServiceDate: d, Note: row.Memo, PostedAt: now}
		ln := ImportLine{Row: row.Row, RowKey: key[:], ChargeID: c.ID, Amount: row.Amount, Responsibility: row.Responsibility}
		switch {
		case row.Responsibility == ResponsibilityInsurance:
			c.Amount, c.InsuranceEstimate = row.Amount, row.Amount
		case row.Amount.Sign() > 0:
			c.Amount = row.Amount
		case row.Kind == RowNegativeProduction:
			c.Kind, c.Amount, ln.NegativeProduction = ChargeProcedure, row.Amount, true
		default:
			rid := pp.receiptID
			b.Splits = append(b.Splits, Split{ID: newID(), ReceiptID: rid, Amount: row.Amount.Neg(), Code: CodeBalanceForward,
				PatientID: pp.patient.ID, ProviderID: &prov, LocationID: &loc, ChargeID: &c.ID})
			ln.ReceiptID = &rid
		}
		b.Charges = append(b.Charges, c)
		if lines = append(lines, ln); len(lines) == postChunk {
			return flush()
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	return flush()
}
