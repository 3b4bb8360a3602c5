package ledger

import (
	"context"
	"fmt"
	"strings"
)

// historyPlan is a history set matched against the ledger: for every old
// id, the ledger row it is or will be, and per procedure, receipt, bucket
// and family what the findings and the reconciliation need. It holds no
// file row: each pass reads the files again (import_history_format.go).
type historyPlan struct {
	job    *historyJob
	pid    ID
	mode   ImportMode
	log    issueLog
	report ImportReport
	files  map[string]*ImportFile

	// What the ledger already holds, by entity and old id (earlier imports,
	// and families and patients by external id; providers by code,
	// unearned types by name).
	known map[string]map[string]*knownRef
	// What the set defines or refers to, by entity and old id.
	providers, locations, utypes map[string]ID
	newProviders                 []Provider
	newLocations                 []Location
	newTypes                     []UnearnedType
	tpType                       *ID  // the practice's treatment-plan unearned type, the ledger's or the set's
	prepayAllowed                bool // the practice takes prepayments on planned procedures
	families                     map[string]*hfam
	famByID                      map[ID]*hfam
	patients                     map[string]*hpat
	patByID                      map[ID]*hpat
	procs                        map[string]*hproc
	adjs                         map[string]*hadj
	receipts                     map[string]*hrec
	encounters                   map[string]*henc
	encList                      []*henc
	buckets                      map[hbucket]*hbucketSum
	posts                        map[string]rowSet // per file, the rows that post
}

// hfam is a family: new, or the ledger's.
type hfam struct {
	id          ID
	g           *Guarantor // a new one, as it will be written
	row, line   int
	old         string
	balance     *Money // the old system's balance, if given
	delta       hcents // what the set's rows change in its total
	before      Money  // its total before the import (the ledger's)
	touched     bool
	approximate bool // the set changes lines of earlier imports: delta may not be exact
}

// hpat is a patient: new, or the ledger's.
type hpat struct {
	id  ID
	fam *hfam
	p   *Patient // a new one, as it will be written
}

// hproc is a procedure: its line's worth and the money on it.
type hproc struct {
	id                 ID
	pat                *hpat
	provider, location ID
	planned, earlier   bool
	row, line          int
	enc                *henc
	worth, paid, est   hcents
	insured            bool
}

// hadj is an adjustment: attached to a procedure, or loose.
type hadj struct {
	id   ID
	pat  *hpat
	root *hproc
	row  int
}

// hrec is a receipt and what its splits sum to.
type hrec struct {
	id      ID
	pat     *hpat
	kind    ReceiptKind
	amount  hcents
	sum     hcents
	splits  int
	row     int
	line    int
	earlier bool // posted by an earlier import: its splits are skipped
	bad     bool
}

// henc is an encounter the set's procedures make.
type henc struct {
	id                 ID
	pat                *hpat
	provider, location ID
	from, to           hday
}

// hbucket is where loose money sits (docs/allocation.md §1.2).
type hbucket struct {
	patient, provider, location, utype ID
}

type hbucketSum struct {
	sum       hcents
	row, line int // a split putting money there
}

func newHistoryPlan(j *historyJob, mode ImportMode) *historyPlan {
	p := &historyPlan{job: j, pid: j.pid, mode: mode, log: j.log.clone(), files: map[string]*ImportFile{},
		known: map[string]map[string]*knownRef{}, providers: map[string]ID{}, locations: map[string]ID{}, utypes: map[string]ID{},
		families: map[string]*hfam{}, famByID: map[ID]*hfam{}, patients: map[string]*hpat{}, patByID: map[ID]*hpat{},
		procs: map[string]*hproc{}, adjs: map[string]*hadj{}, receipts: map[string]*hrec{}, encounters: map[string]*henc{},
		buckets: map[hbucket]*hbucketSum{}, posts: map[string]rowSet{}}
	p.report = ImportReport{Mode: mode, FileName: j.name, FileSHA256: j.set.sha}
	for _, f := range HistoryFiles {
		if enc, ok := j.set.encoding[f.Name]; ok {
			p.files[f.Name] = &ImportFile{Name: f.Name, Encoding: enc}
		}
	}
	return p
}

// historyFile is the HistoryFile of an entity.
func historyFile(entity string) *HistoryFile {
	for i := range HistoryFiles {
		if HistoryFiles[i].Entity == entity {
			return &HistoryFiles[i]
		}
	}
	panic("history: no file for " + entity)
}

// historyRefs are the columns of each file that name another entity.
var historyRefs = map[string]map[string]string{
	EntityPatient:    {"family_id": EntityFamily},
	EntityProcedure:  {"patient_id": EntityPatient, "provider_id": EntityProvider, "location_id": EntityLocation},
	EntityAdjustment: {"patient_id": EntityPatient, "procedure_id": EntityProcedure, "provider_id": EntityProvider, "location_id": EntityLocation},
	EntityReceipt:    {"patient_id": EntityPatient},
	EntitySplit: {"receipt_id": EntityReceipt, "procedure_id": EntityProcedure, "adjustment_id": EntityAdjustment,
		"unearned_type_id": EntityUnearnedType, "patient_id": EntityPatient, "provider_id": EntityProvider, "location_id": EntityLocation},
}

// match reads the set's ids (a first pass over every file) and looks up
// in the ledger those it holds already.
func (p *historyPlan) match(ctx context.Context, r Reader) error {
	ids := map[string]map[string]bool{}
	addID := func(entity, id string) {
		if id == "" {
			return
		}
		if ids[entity] == nil {
			ids[entity] = map[string]bool{}
		}
		ids[entity][id] = true
	}
	for i := range HistoryFiles {
		f := &HistoryFiles[i]
		n, err := p.job.set.scan(f, p.log.add, func(row *historyRow) error {
			if f.Entity != EntitySplit {
				addID(f.Entity, row.key())
			}
			for c, entity := range historyRefs[f.Entity] {
				addID(entity, row.get(c))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if fi := p.files[f.Name]; fi != nil {
			fi.Rows = n
			p.report.Rows += n
		}
	}
	p.job.progress(ImportProgress{Phase: "match", Rows: p.report.Rows})
	for entity, set := range ids {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		delete(ids, entity)
		p.known[entity] = map[string]*knownRef{}
		if err := p.lookup(ctx, r, entity, keys); err != nil {
			return err
		}
	}
	return nil
}

// knownRef is what the plan keeps of a HistoryRef: by value, with no
// pointer (absent ids are zero), the refs of a lookup in one slab.
type knownRef struct {
	ImportID, LedgerID, PatientID, GuarantorID, ProviderID, LocationID ID
	Planned                                                            bool
}

// lookup finds old ids in the ledger, families and patients by external
// id, everything else among the rows of standing history imports, and
// keeps them in p.known.
func (p *historyPlan) lookup(ctx context.Context, r Reader, entity string, keys []string) error {
	switch entity {
	case EntityFamily:
		gs, err := r.GuarantorsByExternalID(ctx, p.pid, keys)
		refs := make([]HistoryRef, len(gs))
		for i := range gs {
			refs[i] = HistoryRef{OldID: gs[i].ExternalID, LedgerID: gs[i].ID, GuarantorID: &gs[i].ID}
		}
		p.know(entity, refs)
		return err
	case EntityPatient:
		ps, _, err := r.MatchPatients(ctx, p.pid, keys, nil)
		refs := make([]HistoryRef, len(ps))
		for i := range ps {
			refs[i] = HistoryRef{OldID: ps[i].ExternalID, LedgerID: ps[i].ID, PatientID: &ps[i].ID, GuarantorID: &ps[i].GuarantorID}
		}
		p.know(entity, refs)
		return err
	}
	for start := 0; start < len(keys); start += importBatch {
		refs, err := r.HistoryRefs(ctx, p.pid, entity, keys[start:min(len(keys), start+importBatch)])
		if err != nil {
			return err
		}
		p.know(entity, refs)
	}
	return nil
}

// know keeps refs in p.known.
func (p *historyPlan) know(entity string, refs []HistoryRef) {
	slab, m := make([]knownRef, len(refs)), p.known[entity]
	for i, ref := range refs {
		slab[i] = knownRef{ImportID: ref.ImportID, LedgerID: ref.LedgerID, PatientID: deref(ref.PatientID), GuarantorID: deref(ref.GuarantorID),
			ProviderID: deref(ref.ProviderID), LocationID: deref(ref.LocationID), Planned: ref.Planned}
		m[ref.OldID] = &slab[i]
	}
}

// issue and finding record an issue on a row.
func (p *historyPlan) issue(row *historyRow, col string, sev ImportSeverity, code, format string, args ...any) {
	if sev == SeverityError {
		row.bad = true
	}
	p.log.add(ImportIssue{File: row.file.Name, Row: row.Row, Line: row.Line, Column: col, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *historyPlan) bad(row *historyRow, col, code, format string, args ...any) {
	p.issue(row, col, SeverityError, code, format, args...)
}

func (p *historyPlan) finding(file string, row, line int, col, code, format string, args ...any) {
	p.log.add(ImportIssue{File: file, Row: row, Line: line, Column: col, Severity: SeverityWarning, Code: code, Message: fmt.Sprintf(format, args...)})
}

// earlier reports (and skips, with a warning) a row whose old id a
// standing import posted.
func (p *historyPlan) earlier(row *historyRow) *knownRef {
	ref := p.known[row.file.Entity][row.key()]
	if ref == nil {
		return nil
	}
	what := "an earlier import"
	if ref.ImportID != (ID{}) {
		what = "import " + ref.ImportID.String()
	}
	p.issue(row, row.file.Columns[0].Name, SeverityWarning, IssueAlreadyImported, "%s %q was posted by %s (or is in the ledger already); the row is skipped",
		row.file.Entity, row.key(), what)
	p.files[row.file.Name].RowsSkipped++
	return ref
}

// postRow marks a row as one that posts.
func (p *historyPlan) postRow(row *historyRow) {
	s := p.posts[row.file.Name]
	s.add(row.Row)
	p.posts[row.file.Name] = s
	p.files[row.file.Name].RowsToPost++
}

// money, date and flag read a value, recording the error.
func (p *historyPlan) money(row *historyRow, c string, required bool) (Money, bool) {
	v := row.get(c)
	if v == "" {
		return Money{}, !required
	}
	m, err := parseFileAmount(v)
	if err != nil {
		p.bad(row, c, IssueBadAmount, "%v", err)
		return Money{}, false
	}
	return m, true
}

func (p *historyPlan) date(row *historyRow, c string, future bool) (Date, bool) {
	d, err := parseFileDate(row.get(c))
	if err != nil {
		p.bad(row, c, IssueBadDate, "%v", err)
		return Date{}, false
	}
	if !future && d.After(p.job.today) {
		p.bad(row, c, IssueFutureDate, "%s is after today", d)
		return Date{}, false
	}
	return d, true
}

func (p *historyPlan) flag(row *historyRow, c string) bool {
	switch strings.ToLower(row.get(c)) {
	case "", "no", "n", "false", "0":
		return false
	case "yes", "y", "true", "1":
		return true
	}
	p.bad(row, c, IssueBadValue, "%s must be yes or no, not %q", c, row.get(c))
	return false
}

// unknown records a reference no row has.
func (p *historyPlan) unknown(row *historyRow, c, entity string) {
	p.bad(row, c, IssueUnknownRef, "no %s has the id %q, in this set or in an earlier import", strings.ReplaceAll(entity, "_", " "), row.get(c))
}

// ref resolves a reference column to an id through a map of the set's
// rows; false (with an issue) when it names nothing.
func refID(p *historyPlan, row *historyRow, c, entity string, m map[string]ID) (ID, bool) {
	v := row.get(c)
	if id, ok := m[v]; ok {
		return id, true
	}
	if ref := p.known[entity][v]; ref != nil {
		m[v] = ref.LedgerID
		return ref.LedgerID, true
	}
	p.unknown(row, c, entity)
	return ID{}, false
}

// optRefID is refID for a column that may be empty (nil then).
func optRefID(p *historyPlan, row *historyRow, c, entity string, m map[string]ID) (*ID, bool) {
	if row.get(c) == "" {
		return nil, true
	}
	id, ok := refID(p, row, c, entity, m)
	return &id, ok
}

// patient resolves a patient reference.
func (p *historyPlan) patient(row *historyRow, c string) *hpat {
	v := row.get(c)
	if pt := p.patients[v]; pt != nil {
		return pt
	}
	if ref := p.known[EntityPatient][v]; ref != nil {
		pt := p.ledgerPatient(ref.PatientID, ref.GuarantorID)
		p.patients[strings.Clone(v)] = pt
		return pt
	}
	p.unknown(row, c, EntityPatient)
	return nil
}

// ledgerPatient is the plan's entry for a patient the ledger has.
func (p *historyPlan) ledgerPatient(id, guarantor ID) *hpat {
	if pt := p.patByID[id]; pt != nil {
		return pt
	}
	f := p.famByID[guarantor]
	if f == nil {
		f = &hfam{id: guarantor}
		p.famByID[guarantor] = f
	}
	pt := &hpat{id: id, fam: f}
	p.patByID[id] = pt
	return pt
}

// after is the family's total once the set is posted.
func (f *hfam) after() Money { return f.before.Add(f.delta.money()) }

// add adds to a family's total.
func (f *hfam) add(m hcents) {
	f.delta = f.delta.add(m)
	f.touched = true
}
