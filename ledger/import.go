package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Balance-forward import: balances from a prior practice-management system,
// posted as BALANCE_FORWARD encounters with one line per row (docs/import.md).

// ReceiptBalanceForward is the kind of receipt that holds the credits a
// balance-forward import carried over: money on the patient's account that
// was not collected here. Only imports post it; collection reports leave it
// out by its kind, as production reports leave out BALANCE_FORWARD lines.
const ReceiptBalanceForward ReceiptKind = "BALANCE_FORWARD"

// CodeBalanceForward is the split code of a carried-over credit.
const CodeBalanceForward SplitCode = "BF"

// ImportMode says whether an import only checks a file or posts it.
type ImportMode string

const (
	ImportValidate ImportMode = "VALIDATE" // check every row; write nothing
	ImportCommit   ImportMode = "COMMIT"   // post every row, or none
)

// ImportOutcome is what an import did.
type ImportOutcome string

const (
	OutcomeValid           ImportOutcome = "VALID"            // VALIDATE found no error: a commit would post
	OutcomeInvalid         ImportOutcome = "INVALID"          // VALIDATE found errors: a commit would be rejected
	OutcomeCommitted       ImportOutcome = "COMMITTED"        // COMMIT posted every row to post
	OutcomeRejected        ImportOutcome = "REJECTED"         // COMMIT found errors and wrote nothing
	OutcomeAlreadyImported ImportOutcome = "ALREADY_IMPORTED" // the file, or every row of it, was imported before: nothing (more) to post
)

// ImportOptions are an import's choices. They are recorded with the import.
type ImportOptions struct {
	// CreateMissingPatients creates a patient (and, when needed, a guarantor)
	// for rows no patient matches; without it such a row is an error.
	CreateMissingPatients bool `json:"createMissingPatients,omitempty"`
	// EncounterPerProviderLocation posts one encounter per patient, provider
	// and location instead of one per patient.
	EncounterPerProviderLocation bool `json:"encounterPerProviderLocation,omitempty"`
	// Delimiter is ",", ";" or "\t" (or "tab"); empty detects it.
	Delimiter string `json:"delimiter,omitempty"`
	// DefaultProvider and DefaultLocation (a code or a name) serve rows that
	// name none; when empty, a practice's only provider (location) serves.
	DefaultProvider string `json:"defaultProvider,omitempty"`
	DefaultLocation string `json:"defaultLocation,omitempty"`
}

// ImportRequest asks for a file to be checked or posted.
type ImportRequest struct {
	// File is read from its start once to check it and again to match and
	// post it (a file on disk, an upload's temporary file, or bytes in
	// memory); it must not change meanwhile.
	File     io.ReadSeeker
	FileName string
	MaxBytes int64 // the size limit; 0: DefaultImportMaxBytes

	Mode           ImportMode
	Options        ImportOptions
	IdempotencyKey string `json:"-"`
	// Progress, if set, is told how a long import is going.
	Progress func(ImportProgress) `json:"-"`
}

// ImportProgress reports how far an import has gone.
type ImportProgress struct {
	Phase string // "read", "match", "post", "reconcile", "done"
	Bytes int64  // bytes of the file read so far
	Rows  int    // rows read so far
}

// MaxReportIssues bounds the issues a report lists; the counts cover all.
const MaxReportIssues = 1000

// MaxReportPatients bounds the patients a report (and each list of a
// reconciliation) lists; the counts and totals cover all.
const MaxReportPatients = 1000

// ImportReport is what an import found and did.
type ImportReport struct {
	Mode       ImportMode
	Outcome    ImportOutcome
	Message    string // one sentence saying what happened
	FileName   string
	FileSHA256 string
	Delimiter  string

	Rows        int // rows read (blank rows are not counted)
	RowsToPost  int // rows that post (COMMIT) or would post (VALIDATE)
	RowsSkipped int // zero amounts, duplicates, rows imported before
	Errors      int
	Warnings    int
	// Issues lists errors and warnings by row and column (row 0 is the file,
	// row 1 the header); the first MaxReportIssues of them by row.
	Issues          []ImportIssue
	IssuesTruncated bool
	// IssueCounts counts every issue, listed or not, by code.
	IssueCounts []ImportIssueCount

	Totals ImportTotals // of the rows to post
	// Patients gives the totals per patient, in the order the file first
	// names them: the first MaxReportPatients of PatientCount.
	Patients          []ImportPatientTotal
	PatientsTruncated bool
	PatientCount      int // patients with rows to post
	PatientsCreated   int
	GuarantorsCreated int
	Encounters        int

	ImportID *ID // the import COMMIT created
	// DuplicateOf is the earlier import that already holds this file, or
	// (ALREADY_IMPORTED) its rows.
	DuplicateOf *ID
	// Reconciliation compares the file with the ledger after a commit.
	Reconciliation *Reconciliation
	// Files says, of a history import, what was read of each file of the
	// set and in which encoding.
	Files []ImportFile
}

// ImportTotals sums rows. Credits are positive numbers: what patients hold.
type ImportTotals struct {
	Rows           int
	PatientDebits  Money // what patients owe, on rows with a positive amount
	PatientCredits Money // what patients hold, on rows with a negative amount
	// NegativeProduction is the part of PatientCredits on
	// NEGATIVE_PRODUCTION rows: credits no money backs (the rest is held as
	// money, on BALANCE_FORWARD receipts).
	NegativeProduction Money
	Insurance          Money // rows with responsibility INSURANCE
	PatientBalance     Money // PatientDebits − PatientCredits
	Total              Money // PatientBalance + Insurance
}

func (t *ImportTotals) add(amount Money, resp Responsibility, kind RowKind) {
	t.Rows++
	switch {
	case resp == ResponsibilityInsurance:
		t.Insurance = t.Insurance.Add(amount)
	case amount.Sign() > 0:
		t.PatientDebits = t.PatientDebits.Add(amount)
	default:
		t.PatientCredits = t.PatientCredits.Add(amount.Neg())
		if kind == RowNegativeProduction {
			t.NegativeProduction = t.NegativeProduction.Add(amount.Neg())
		}
	}
}

// heldAsMoney is what the patient's credit receipt carries: the credits
// that are not negative production.
func (t *ImportTotals) heldAsMoney() Money {
	return t.PatientCredits.Sub(t.NegativeProduction)
}

// settle sets the totals that follow from the others.
func (t *ImportTotals) settle() {
	t.PatientBalance = t.PatientDebits.Sub(t.PatientCredits)
	t.Total = t.PatientBalance.Add(t.Insurance)
}

// ImportPatientTotal is one patient's part of a file.
type ImportPatientTotal struct {
	PatientID     *ID // nil for a patient VALIDATE would create
	Created       bool
	ExternalID    string
	LastName      string
	FirstName     string
	BirthDate     *Date
	GuarantorID   *ID // nil for a new guarantor VALIDATE would create
	GuarantorName string
	FirstRow      int
	Totals        ImportTotals
}

// Reconciliation compares what a file says with what the ledger holds on the
// lines the import posted, per patient and per guarantor (family). The
// patient amount is what the patients owe net of their credits; insurance is
// what is pending from insurance. Right after the commit they match to the
// cent (the commit is refused otherwise); later payments, adjustments and
// re-applied credits on the lines show as differences.
//
// Patients and Guarantors list at most MaxReportPatients lines each, in the
// order the file first names them; when there are more, the lines that
// differ come first. The counts and sums cover every line.
type Reconciliation struct {
	Matches         bool
	FilePatient     Money
	LedgerPatient   Money
	FileInsurance   Money
	LedgerInsurance Money
	Patients        []ReconciliationLine
	Guarantors      []ReconciliationLine
	PatientCount    int  // patients with lines
	GuarantorCount  int  // families with lines
	Differing       int  // patient and family lines that differ
	Truncated       bool // some lines are not listed
}

// ReconciliationLine is one patient's (PatientID set) or one family's
// (PatientID nil) reconciliation.
type ReconciliationLine struct {
	PatientID       *ID
	GuarantorID     ID
	Rows            int
	FilePatient     Money
	LedgerPatient   Money
	FileInsurance   Money
	LedgerInsurance Money
	Matches         bool
}

// BalanceImportStatus is where an import stands.
type BalanceImportStatus string

const (
	ImportCommitted BalanceImportStatus = "COMMITTED"
	ImportUndone    BalanceImportStatus = "UNDONE"
)

// BalanceImport records a committed import: the file, its options and what
// it posted.
type BalanceImport struct {
	ID                ID
	Kind              ImportKind
	Status            BalanceImportStatus
	FileName          string
	FileSHA256        string
	ImportDate        Date // rows without a DOS are dated it
	Options           ImportOptions
	RowsRead          int
	RowsPosted        int
	RowsSkipped       int
	PatientsCreated   int
	GuarantorsCreated int
	Encounters        int
	PatientDebits     Money
	PatientCredits    Money
	Insurance         Money
	KeyID             *ID
	CreatedAt         time.Time
	UndoneAt          *time.Time
	UndoneKeyID       *ID
}

// ImportLine records which line a file row became. RowKey is the SHA-256 of
// the row's content as posted (see rowKey); ReceiptID is the credit receipt
// for a negative BALANCE row; a NEGATIVE_PRODUCTION row has none (its line
// is a negative-fee procedure).
type ImportLine struct {
	Row                int
	RowKey             []byte
	ChargeID           ID
	ReceiptID          *ID
	Amount             Money
	Responsibility     Responsibility
	NegativeProduction bool
}

// ImportedLine is an import line with its charge's particulars.
type ImportedLine struct {
	ImportLine
	PatientID   ID
	GuarantorID ID
	EncounterID ID
	ProviderID  ID
	LocationID  ID
	Code        string
}

// ImportedRow says which import posted a row key.
type ImportedRow struct {
	RowKey   []byte
	ImportID ID
	Row      int
}

// ImportActivity is something posted against an import's lines since the
// import: a split (receipt money), an adjustment attached to a line, or a
// charge added to one of its encounters.
type ImportActivity struct {
	Row         int // the file row of the line concerned (0: an added charge)
	Kind        string
	ReceiptKind ReceiptKind // for SPLIT
	Amount      Money
	ID          ID // the receipt (SPLIT) or charge
	Date        Date
}

// Kinds of ImportActivity.
const (
	ActivitySplit      = "SPLIT"
	ActivityAdjustment = "ADJUSTMENT"
	ActivityCharge     = "CHARGE"
)

// PatientName is a patient's name and birth date, to match on.
type PatientName struct {
	LastName  string
	FirstName string
	BirthDate Date
}

// NameMatch is a patient matching names[Key] (case-insensitively).
type NameMatch struct {
	Key     int
	Patient Patient
}

// Bulk is new ledger rows written together, table by table, with COPY: an
// import's guarantors, patients, encounters, lines and credits, or its undo's
// adjustments and reversals. The database's constraints and deferred checks
// apply as to any other write.
type Bulk struct {
	Guarantors []Guarantor
	Patients   []Patient
	Encounters []Encounter
	Charges    []Charge
	WriteOffs  []InsuranceWriteOff
	Receipts   []Receipt
	Splits     []Split
}

// ImportReader is what balance-forward imports read; Reader includes it.
type ImportReader interface {
	// MatchPatients returns the patients with one of the external ids, and
	// for each name (by index) the patients with that last and first name
	// (case-insensitively) and birth date.
	MatchPatients(ctx context.Context, practiceID ID, externalIDs []string, names []PatientName) ([]Patient, []NameMatch, error)
	// GuarantorsByExternalID returns the guarantors with these external ids.
	GuarantorsByExternalID(ctx context.Context, practiceID ID, externalIDs []string) ([]Guarantor, error)
	// ImportedRows returns, for the row keys a standing import posted, which
	// import and row.
	ImportedRows(ctx context.Context, practiceID ID, rowKeys [][]byte) ([]ImportedRow, error)
	BalanceImports(ctx context.Context, practiceID ID, ids []ID) ([]BalanceImport, error)
	// StandingImportOfFile returns the committed (not undone) import of the
	// file with this SHA-256, if any.
	StandingImportOfFile(ctx context.Context, practiceID ID, sha256 string) ([]BalanceImport, error)
	// RecentBalanceImports lists the newest imports first.
	RecentBalanceImports(ctx context.Context, practiceID ID, limit int) ([]BalanceImport, error)
	// BalanceImportLines lists an import's lines in row order.
	BalanceImportLines(ctx context.Context, practiceID, importID ID) ([]ImportedLine, error)
	// BalanceImportSums sums an import's lines per patient and per family
	// (the patient's guarantor), as the file gave them and as the ledger
	// holds them now (ChargeBalance's Owed and InsurancePending), and passes
	// each sum to each as it is read, holding none: the patients' (PatientID
	// set) first, then the families', each in the order of their first row.
	// Matches is left for the caller to set.
	BalanceImportSums(ctx context.Context, practiceID, importID ID, each func(ReconciliationLine) error) error
	// BalanceImportActivity lists (up to limit) what was posted against an
	// import's lines by anything but the import itself.
	BalanceImportActivity(ctx context.Context, practiceID, importID ID, limit int) ([]ImportActivity, error)
	// HistoryRefs returns the rows of an entity standing history imports
	// posted under these old ids (procedures and adjustments with their
	// charge's patient, family, provider and location; receipts with their
	// patient).
	HistoryRefs(ctx context.Context, practiceID ID, entity string, oldIDs []string) ([]HistoryRef, error)
	// HistoryImportLedger returns what a history import posted, for its undo.
	HistoryImportLedger(ctx context.Context, practiceID, importID ID) (HistoryLedger, error)
	// HistoryImportActivity lists (up to limit) what was posted since the
	// import (at or after since) for the patients it touched, by anything
	// but the import itself.
	HistoryImportActivity(ctx context.Context, practiceID, importID ID, since time.Time, limit int) ([]ImportActivity, error)
	// HistoryFamilies lists the families a history import recorded, in
	// row order.
	HistoryFamilies(ctx context.Context, practiceID, importID ID) ([]HistoryRow, error)
}

// ImportWriter is how balance-forward imports write; Tx includes it.
type ImportWriter interface {
	// LockBalanceImports serialises the imports (and undos) of a practice.
	LockBalanceImports(ctx context.Context, practiceID ID) error
	// LockCharges locks charges so that nothing can be posted against them
	// until the transaction ends.
	LockCharges(ctx context.Context, practiceID ID, ids []ID) error
	// InsertBulk writes new ledger rows set-based, parents first. The
	// maintained aging state does not follow them until EndBulk.
	InsertBulk(ctx context.Context, practiceID ID, b Bulk) error
	// EndBulk brings the practice's maintained aging state up to date after
	// the transaction's last InsertBulk (once: it rebuilds the practice's).
	EndBulk(ctx context.Context, practiceID ID) error
	// InsertBalanceImport records an import.
	InsertBalanceImport(ctx context.Context, practiceID ID, imp BalanceImport) error
	// InsertBalanceImportLines records lines of an import (in chunks: it
	// may be called many times for one import).
	InsertBalanceImportLines(ctx context.Context, practiceID, importID ID, lines []ImportLine) error
	// InsertHistoryRows records the old ids of rows a history import
	// posted (in chunks: it may be called many times for one import).
	InsertHistoryRows(ctx context.Context, practiceID, importID ID, rows []HistoryRow) error
	// MarkBalanceImportUndone records an undo and frees the import's file and row keys.
	MarkBalanceImportUndone(ctx context.Context, practiceID, importID ID, at time.Time, keyID *ID) error
}

// ImportResult is what ImportBalances returns: the report, and the import
// created (COMMITTED) or already holding the file (ALREADY_IMPORTED).
type ImportResult struct {
	Report ImportReport
	Import *BalanceImport
}

// ImportBalances checks a balance-forward file against the ledger (VALIDATE)
// or posts it (COMMIT) in one transaction: all of it, or nothing when any
// row has an error. A file over in.MaxBytes is bad input on "file".
//
// Every row is matched to a patient (by external id, else by last name, first
// name and birth date; several matches are an error), a provider and a
// location. A COMMIT posts per patient (or per patient, provider and location
// with EncounterPerProviderLocation) a BALANCE_FORWARD encounter with one
// BALANCE_FORWARD line per row, dated the row's date of service, or the import
// date when it has none. A positive amount is owed by the patient, or pending
// from insurance when the row's responsibility is INSURANCE. A negative
// amount is a credit the patient holds: a 0.00 line carrying a BF split from
// a BALANCE_FORWARD receipt, so the line's balance is the negative credit
// that a re-apply can later move (PD/PCA), like an overpaid line. A row of
// kind NEGATIVE_PRODUCTION is instead a PROCEDURE line with its negative fee
// (negative production, a credit no money backs) on the same encounter.
//
// A file imported before (and not undone) posts nothing, and so does any row
// an earlier import posted; the report says so. After posting, the import is
// reconciled with the ledger per patient and guarantor, to the cent, before
// the transaction commits.
//
// The file is read in passes (import_passes.go) and never held: what the
// import keeps grows with the file's patients, not its rows, and the
// report lists at most MaxReportIssues issues and MaxReportPatients patients.
func (l *Ledger) ImportBalances(ctx context.Context, a Actor, in ImportRequest) (ImportResult, error) {
	if err := checkImportRequest(&in); err != nil {
		return ImportResult{}, err
	}
	delim, err := delimiterOf(in.Options.Delimiter)
	if err != nil {
		return ImportResult{}, err
	}
	in.Progress = progressOf(in)
	today, progress, max := l.Today(), in.Progress, maxBytesOf(in)
	src := &importSource{file: in.File, opt: ParseOptions{Name: strings.TrimSpace(in.FileName), Today: today, Delimiter: delim,
		MaxBytes: max, Progress: func(n int64, rows int) { progress(ImportProgress{Phase: "read", Bytes: n, Rows: rows}) }}}
	return l.runImport(ctx, a, in, KindBalanceForward, func() (importJob, error) {
		if in.File == nil {
			return nil, Invalid("file", "is required")
		}
		fr, err := readImportFile(src)
		if errors.Is(err, ErrFileTooLarge) {
			return nil, Invalid("file", "is larger than the limit of %d bytes; split it into smaller files", max)
		}
		if err != nil {
			return nil, err
		}
		return &balanceForwardJob{pid: a.PracticeID, read: fr, in: in, today: today}, nil
	})
}

// checkImportRequest checks the parts of a request that are not the file.
func checkImportRequest(in *ImportRequest) error {
	switch in.Mode {
	case ImportValidate, ImportCommit:
	case "":
		in.Mode = ImportValidate
	default:
		return Invalid("mode", "must be VALIDATE or COMMIT")
	}
	return firstErr(
		text("fileName", in.FileName, maxName, false),
		text("options.defaultProvider", in.Options.DefaultProvider, maxName, false),
		text("options.defaultLocation", in.Options.DefaultLocation, maxName, false),
	)
}

// delimiterOf reads the delimiter option.
func delimiterOf(s string) (rune, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case ",":
		return ',', nil
	case ";":
		return ';', nil
	case "\t", "tab", `\t`:
		return '\t', nil
	}
	return 0, Invalid("options.delimiter", "must be \",\", \";\" or \"tab\" (or empty, to detect it)")
}

// errNothingToPost rolls back a commit that found errors, or found the file
// imported already: nothing is written, not even an audit event.
var errNothingToPost = errors.New("nothing to post")

// importResult loads the import a report names.
func (l *Ledger) importResult(ctx context.Context, pid ID, rep *ImportReport) (ImportResult, error) {
	res := ImportResult{Report: *rep}
	id := rep.ImportID
	if id == nil {
		id = rep.DuplicateOf
	}
	if id != nil {
		rows, err := l.store.BalanceImports(ctx, pid, []ID{*id})
		imp, err := one(rows, err, "balance import", *id)
		if err != nil {
			return res, err
		}
		res.Import = &imp
	}
	return res, nil
}

// BalanceImport returns an import of the actor's practice.
func (l *Ledger) BalanceImport(ctx context.Context, a Actor, id ID) (BalanceImport, error) {
	rows, err := l.store.BalanceImports(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "balance import", id)
}

// ReconcileBalanceImport compares an import's file amounts with what the
// ledger holds now on its lines, per patient and guarantor.
func (l *Ledger) ReconcileBalanceImport(ctx context.Context, a Actor, importID ID) (Reconciliation, error) {
	imp, err := l.BalanceImport(ctx, a, importID)
	if err != nil {
		return Reconciliation{}, err
	}
	if imp.Kind == KindHistory {
		return reconcileHistory(ctx, l.store, a.PracticeID, importID)
	}
	rec, _, err := reconcileImport(ctx, l.store, a.PracticeID, importID)
	return rec, err
}

// reconcileImport reconciles an import's lines, as the import recorded them
// from the file, with the ledger read through r. The database makes the
// sums; this keeps the counts, the totals and what the lists show. It also
// returns how many lines were summed.
func reconcileImport(ctx context.Context, r Reader, pid, importID ID) (Reconciliation, int, error) {
	rec := Reconciliation{Matches: true}
	var pats, fams reconList
	n := 0
	err := r.BalanceImportSums(ctx, pid, importID, func(rl ReconciliationLine) error {
		rl.Matches = rl.FilePatient.Equal(rl.LedgerPatient) && rl.FileInsurance.Equal(rl.LedgerInsurance)
		if !rl.Matches {
			rec.Matches = false
			rec.Differing++
		}
		if rl.PatientID != nil {
			rec.PatientCount++
			pats.add(rl)
			return nil
		}
		rec.GuarantorCount++
		fams.add(rl)
		n += rl.Rows
		rec.FilePatient, rec.LedgerPatient = rec.FilePatient.Add(rl.FilePatient), rec.LedgerPatient.Add(rl.LedgerPatient)
		rec.FileInsurance, rec.LedgerInsurance = rec.FileInsurance.Add(rl.FileInsurance), rec.LedgerInsurance.Add(rl.LedgerInsurance)
		return nil
	})
	if err != nil {
		return Reconciliation{}, 0, err
	}
	var cutP, cutG bool
	rec.Patients, cutP = pats.list()
	rec.Guarantors, cutG = fams.list()
	rec.Truncated = cutP || cutG
	return rec, n, nil
}

// reconList keeps, of one list's lines in the order they come, what the
// list can show: the first MaxReportPatients lines, and the first
// MaxReportPatients of those that differ.
type reconList struct {
	count     int
	first     []ReconciliationLine
	differing []ReconciliationLine
}

func (ls *reconList) add(rl ReconciliationLine) {
	ls.count++
	if len(ls.first) < MaxReportPatients {
		ls.first = append(ls.first, rl)
	}
	if !rl.Matches && len(ls.differing) < MaxReportPatients {
		ls.differing = append(ls.differing, rl)
	}
}

// list is what a reconciliation lists: every line, or when there are more
// than MaxReportPatients, that many, those that differ first (each part in
// the order the lines came).
func (ls *reconList) list() ([]ReconciliationLine, bool) {
	if ls.count <= MaxReportPatients {
		return ls.first, false
	}
	out := ls.differing
	for _, rl := range ls.first {
		if len(out) == MaxReportPatients {
			break
		}
		if rl.Matches {
			out = append(out, rl)
		}
	}
	return out, true
}

// RecentBalanceImports lists the practice's imports, newest first.
func (l *Ledger) RecentBalanceImports(ctx context.Context, a Actor, limit int) ([]BalanceImport, error) {
	if limit <= 0 || limit > 500 {
		return nil, Invalid("first", "must be between 1 and 500")
	}
	return l.store.RecentBalanceImports(ctx, a.PracticeID, limit)
}

// UndoImport asks for an import to be reversed.
type UndoImport struct {
	ImportID       ID
	IdempotencyKey string `json:"-"`
}

// UndoBalanceImport reverses an import as a whole: each line that owes (or,
// negative production, owes below zero) gets an adjustment attached to it
// for minus its amount, and each credit receipt
// is reversed, so every line (and every patient and family balance) is back
// where it was. The lines stay, as history; so do the patients and guarantors
// the import created. The file and its rows may then be imported again.
//
// Undo is refused (INVARIANT_VIOLATION, saying what and where) once anything
// has been posted against the import's lines: money on them, an adjustment
// attached to one, a charge added to one of its encounters, a reversal of one
// of its credits. Reverse that first. It is also refused for an import with
// INSURANCE lines: the ledger has no way to withdraw a pending insurance
// estimate (only an insurance payment settles it). An import already undone
// is a CONFLICT.
func (l *Ledger) UndoBalanceImport(ctx context.Context, a Actor, in UndoImport) (BalanceImport, error) {
	id, err := l.mutate(ctx, a, mutation{op: "undoBalanceImport", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		if err := tx.LockBalanceImports(ctx, pid); err != nil {
			return ID{}, err
		}
		rows, err := tx.BalanceImports(ctx, pid, []ID{in.ImportID})
		imp, err := ref(rows, err, "importId", "balance import", in.ImportID)
		if err != nil {
			return ID{}, err
		}
		if imp.Status == ImportUndone {
			return ID{}, fmt.Errorf("%w: balance import %s was already undone at %s", ErrConflict, imp.ID, imp.UndoneAt.Format(time.RFC3339))
		}
		undo := l.undoBalanceForward
		if imp.Kind == KindHistory {
			undo = l.undoHistory
		}
		b, err := undo(ctx, tx, pid, imp)
		if err != nil {
			return ID{}, err
		}
		if err := tx.InsertBulk(ctx, pid, b); err != nil {
			return ID{}, err
		}
		if err := tx.EndBulk(ctx, pid); err != nil {
			return ID{}, err
		}
		return imp.ID, tx.MarkBalanceImportUndone(ctx, pid, imp.ID, l.stamp(), a.Key())
	})
	if err != nil {
		return BalanceImport{}, err
	}
	return l.BalanceImport(ctx, a, id)
}

// undoBalanceForward checks that a balance-forward import can be undone
// (no INSURANCE lines, nothing posted against its lines since), under locks
// on its families and lines, and builds what reverses it.
func (l *Ledger) undoBalanceForward(ctx context.Context, tx Tx, pid ID, imp BalanceImport) (Bulk, error) {
	lines, err := tx.BalanceImportLines(ctx, pid, imp.ID)
	if err != nil {
		return Bulk{}, err
	}
	var chargeIDs, familyIDs []ID
	seen := map[ID]bool{}
	var insured []string
	for _, ln := range lines {
		chargeIDs = append(chargeIDs, ln.ChargeID)
		if !seen[ln.GuarantorID] {
			seen[ln.GuarantorID] = true
			familyIDs = append(familyIDs, ln.GuarantorID)
		}
		if ln.Responsibility == ResponsibilityInsurance && len(insured) < 5 {
			insured = append(insured, fmt.Sprint(ln.Row))
		}
	}
	if len(insured) > 0 {
		return Bulk{}, &InvariantError{Invariant: "import_undoable", Message: fmt.Sprintf(
			"cannot undo balance import %s: it carried INSURANCE balances (rows %s), and the ledger cannot withdraw a pending insurance estimate (only an insurance payment settles it)",
			imp.ID, strings.Join(insured, ", "))}
	}
	// Under these locks nothing can be posted against the lines until we
	// are done: receipts lock families, anything referring to a line
	// needs a share lock on it.
	if err := lockAll(ctx, tx, pid, familyIDs, chargeIDs); err != nil {
		return Bulk{}, err
	}
	acts, err := tx.BalanceImportActivity(ctx, pid, imp.ID, 5)
	if err != nil {
		return Bulk{}, err
	}
	if err := untouched(imp, acts); err != nil {
		return Bulk{}, err
	}
	return l.undoBulk(ctx, tx, pid, imp, lines)
}

// lockAll locks families, then charges.
func lockAll(ctx context.Context, tx Tx, pid ID, families, charges []ID) error {
	if err := tx.LockFamilies(ctx, pid, families); err != nil {
		return err
	}
	return tx.LockCharges(ctx, pid, charges)
}

// untouched refuses an undo when something was posted against the import.
func untouched(imp BalanceImport, acts []ImportActivity) error {
	if len(acts) == 0 {
		return nil
	}
	parts := make([]string, len(acts))
	for i, act := range acts {
		parts[i] = act.String()
	}
	what := "balance import"
	if imp.Kind == KindHistory {
		what = "history import"
	}
	return &InvariantError{Invariant: "import_untouched", Message: fmt.Sprintf(
		"cannot undo %s %s: something was posted against its lines since: %s; reverse that first",
		what, imp.ID, strings.Join(parts, "; "))}
}

// undoBulk builds the entries that reverse an import: an adjustment of minus
// the amount attached to each line without a credit receipt (a balance
// owed, or negative production), a reversal of each credit receipt.
func (l *Ledger) undoBulk(ctx context.Context, tx Tx, pid ID, imp BalanceImport, lines []ImportedLine) (Bulk, error) {
	now, today := l.stamp(), l.Today()
	note := fmt.Sprintf("undo of balance import %s", imp.ID)
	var b Bulk
	var receiptIDs []ID
	seen := map[ID]bool{}
	for _, ln := range lines {
		if ln.ReceiptID != nil {
			if !seen[*ln.ReceiptID] {
				seen[*ln.ReceiptID] = true
				receiptIDs = append(receiptIDs, *ln.ReceiptID)
			}
			continue
		}
		enc, prov, loc, line := ln.EncounterID, ln.ProviderID, ln.LocationID, ln.ChargeID
		b.Charges = append(b.Charges, Charge{ID: newID(), EncounterID: &enc, PatientID: ln.PatientID, ProviderID: &prov, LocationID: &loc,
			Kind: ChargeAdjustment, Status: StatusCompleted, Code: ln.Code, ServiceDate: today, Amount: ln.Amount.Neg(),
			AttachedToID: &line, Note: note, PostedAt: now})
	}
	return b, l.reverseAll(ctx, tx, pid, receiptIDs, note, &b)
}

// reverseAll adds to b a reversal of each receipt, with its splits
// negated.
func (l *Ledger) reverseAll(ctx context.Context, tx Tx, pid ID, receiptIDs []ID, note string, b *Bulk) error {
	now, today := l.stamp(), l.Today()
	receipts, err := tx.Receipts(ctx, pid, receiptIDs)
	if err != nil {
		return err
	}
	splits, err := tx.SplitsOfReceipts(ctx, pid, receiptIDs)
	if err != nil {
		return err
	}
	revOf := make(map[ID]ID, len(receipts))
	for _, r := range receipts {
		rev := Receipt{ID: newID(), Kind: ReceiptReversal, Amount: r.Amount.Neg(), ReceivedOn: today, PatientID: r.PatientID,
			Note: note, ReversesID: &r.ID, PostedAt: now}
		revOf[r.ID] = rev.ID
		b.Receipts = append(b.Receipts, rev)
	}
	for _, s := range splits {
		b.Splits = append(b.Splits, Split{ID: newID(), ReceiptID: revOf[s.ReceiptID], Amount: s.Amount.Neg(), Code: CodeReversal,
			PatientID: s.PatientID, ProviderID: s.ProviderID, LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID})
	}
	return nil
}

// String describes the activity for a refusal.
func (a ImportActivity) String() string {
	where := fmt.Sprintf("row %d", a.Row)
	if a.Row == 0 { // a history import's line: its rows are in several files
		where = "a line it posted"
	}
	switch a.Kind {
	case ActivitySplit:
		return fmt.Sprintf("%s has %s of %s from a %s receipt (%s, %s)", where, moneyVerb(a.Amount), a.Amount.Abs(), a.ReceiptKind, a.ID, a.Date)
	case ActivityAdjustment:
		return fmt.Sprintf("%s has an adjustment of %s attached (charge %s, %s)", where, a.Amount, a.ID, a.Date)
	default:
		return fmt.Sprintf("a charge of %s was added to one of its encounters (charge %s, %s)", a.Amount, a.ID, a.Date)
	}
}

func moneyVerb(m Money) string {
	if m.Sign() < 0 {
		return "money taken off"
	}
	return "money"
}
