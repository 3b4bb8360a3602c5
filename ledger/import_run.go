package ledger

import (
	"context"
	"errors"
	"fmt"
)

// One import machinery serves both kinds of import (docs/import.md,
// docs/conversion.md): a balance-forward file and a converted history.
// runImport does what they share — who may import, VALIDATE or COMMIT, the
// practice's import lock, idempotency by the file's digest and by
// idempotency key, the import's record, reconciliation before the
// transaction commits, progress — and an importJob does what is its own:
// reading its file, matching and checking it against the ledger, posting it.

// ImportKind is what an import carries.
type ImportKind string

// Import kinds.
const (
	KindBalanceForward ImportKind = "BALANCE_FORWARD" // balances, one CSV (docs/import.md)
	KindHistory        ImportKind = "HISTORY"         // a prior system's transaction history, a set of CSVs (docs/conversion.md)
)

// importJob is one kind of import going through runImport.
type importJob interface {
	// digest is the SHA-256 of what was read: two requests with the same
	// digest post the same thing.
	digest() string
	// plan matches what was read against the ledger read through r and
	// checks every row; the report it returns has its outcome and counts.
	plan(ctx context.Context, r Reader, mode ImportMode, duplicate *BalanceImport) (*ImportReport, error)
	// post writes the plan in tx, under the import's record (written).
	post(ctx context.Context, tx Tx, imp *BalanceImport, progress func(ImportProgress)) error
	// reconcile compares, in tx after posting, the file with the ledger; it
	// refuses (import_reconciles) when what was posted is not what was read.
	reconcile(ctx context.Context, tx Tx, importID ID) (*Reconciliation, error)
	// close lets go of what reading needed (a temporary file).
	close()
}

// runImport runs an import of a kind: read (the function returns the job,
// having read its file once), then VALIDATE (plan, report) or COMMIT (plan
// and post in one transaction, under the practice's import lock).
func (l *Ledger) runImport(ctx context.Context, a Actor, in ImportRequest, kind ImportKind, read func() (importJob, error)) (ImportResult, error) {
	if !a.Role.CanPost() {
		return ImportResult{}, fmt.Errorf("import: role %s may not import: %w", a.Role, ErrForbidden)
	}
	progress := in.Progress
	job, err := read()
	if err != nil {
		return ImportResult{}, err
	}
	defer job.close()
	pid := a.PracticeID
	planned := func(r Reader) (*ImportReport, error) {
		progress(ImportProgress{Phase: "match"})
		prev, err := r.StandingImportOfFile(ctx, pid, job.digest())
		if err != nil {
			return nil, err
		}
		var dup *BalanceImport
		if len(prev) > 0 {
			dup = &prev[0]
		}
		return job.plan(ctx, r, in.Mode, dup)
	}
	if in.Mode == ImportValidate {
		rep, err := planned(l.store)
		if err != nil {
			return ImportResult{}, err
		}
		progress(ImportProgress{Phase: "done"})
		return l.importResult(ctx, pid, rep)
	}

	var rep *ImportReport
	digest := struct {
		Mode    ImportMode
		SHA256  string
		Options ImportOptions
	}{in.Mode, job.digest(), in.Options}
	id, err := l.mutate(ctx, a, mutation{op: importOp(kind), key: in.IdempotencyKey, input: digest}, func(tx Tx) (ID, error) {
		if err := tx.LockBalanceImports(ctx, pid); err != nil {
			return ID{}, err
		}
		var err error
		if rep, err = planned(tx); err != nil {
			return ID{}, err
		}
		if rep.Outcome != OutcomeCommitted {
			return ID{}, errNothingToPost
		}
		progress(ImportProgress{Phase: "post"})
		return l.postImport(ctx, tx, a, kind, in.Options, job, rep, progress)
	})
	switch {
	case errors.Is(err, errNothingToPost):
		return l.importResult(ctx, pid, rep)
	case err != nil:
		return ImportResult{}, err
	}
	progress(ImportProgress{Phase: "done"})
	if rep == nil || rep.ImportID == nil || *rep.ImportID != id {
		return l.replayedImport(ctx, a, id, in.IdempotencyKey)
	}
	return l.importResult(ctx, pid, rep)
}

// importOp names an import's mutation (for idempotency keys and audit).
func importOp(kind ImportKind) string {
	if kind == KindHistory {
		return "importHistory"
	}
	return "importBalances"
}

// postImport records the import, has the job post it and reconciles it.
func (l *Ledger) postImport(ctx context.Context, tx Tx, a Actor, kind ImportKind, opts ImportOptions, job importJob, rep *ImportReport,
	progress func(ImportProgress)) (ID, error) {
	now := l.stamp()
	imp := BalanceImport{ID: newID(), Kind: kind, Status: ImportCommitted, FileName: rep.FileName, FileSHA256: job.digest(), ImportDate: l.Today(),
		Options: opts, RowsRead: rep.Rows, RowsPosted: rep.RowsToPost, RowsSkipped: rep.RowsSkipped, PatientsCreated: rep.PatientsCreated,
		GuarantorsCreated: rep.GuarantorsCreated, Encounters: rep.Encounters, PatientDebits: rep.Totals.PatientDebits,
		PatientCredits: rep.Totals.PatientCredits, Insurance: rep.Totals.Insurance, CreatedAt: now, KeyID: a.Key()}
	if err := tx.InsertBalanceImport(ctx, a.PracticeID, imp); err != nil {
		return ID{}, err
	}
	if err := job.post(ctx, tx, &imp, progress); err != nil {
		return ID{}, err
	}
	if err := tx.EndBulk(ctx, a.PracticeID); err != nil {
		return ID{}, err
	}
	progress(ImportProgress{Phase: "reconcile"})
	rec, err := job.reconcile(ctx, tx, imp.ID)
	if err != nil {
		return ID{}, err
	}
	rep.ImportID, rep.Reconciliation = &imp.ID, rec
	return imp.ID, nil
}

// replayedImport answers a replay of an idempotency key: the first result
// stands.
func (l *Ledger) replayedImport(ctx context.Context, a Actor, id ID, key string) (ImportResult, error) {
	imp, err := l.BalanceImport(ctx, a, id)
	if err != nil {
		return ImportResult{}, err
	}
	r := ImportReport{Mode: ImportCommit, Outcome: OutcomeAlreadyImported, FileName: imp.FileName, FileSHA256: imp.FileSHA256,
		DuplicateOf: &imp.ID, Message: fmt.Sprintf("this request was made before (idempotency key %q): it posted import %s; nothing more is posted", key, imp.ID)}
	return ImportResult{Report: r, Import: &imp}, nil
}

// progressOf is the request's progress function (or one that drops
// reports) carrying the bytes and rows the first pass read into the phases
// after it that do not count their own.
func progressOf(in ImportRequest) func(ImportProgress) {
	if in.Progress == nil {
		return func(ImportProgress) {}
	}
	var read ImportProgress
	return func(p ImportProgress) {
		switch {
		case p.Phase == "read":
			read = p
		case p.Bytes == 0:
			p.Bytes = read.Bytes
			if p.Rows == 0 {
				p.Rows = read.Rows
			}
		}
		in.Progress(p)
	}
}

// maxBytesOf is the request's size limit.
func maxBytesOf(in ImportRequest) int64 {
	if in.MaxBytes <= 0 {
		return DefaultImportMaxBytes
	}
	return in.MaxBytes
}

// balanceForwardJob is a balance-forward file going through runImport.
type balanceForwardJob struct {
	pid   ID
	read  *fileRead
	in    ImportRequest
	today Date
	p     *importPlan
}

func (j *balanceForwardJob) digest() string { return j.read.file.SHA256 }

func (j *balanceForwardJob) plan(ctx context.Context, r Reader, mode ImportMode, dup *BalanceImport) (*ImportReport, error) {
	in := j.in
	in.Mode = mode
	p, err := planImport(ctx, r, j.pid, j.read, in, j.today, dup)
	if err == nil {
		err = p.check(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	p.finish()
	j.p = p
	return &p.report, nil
}

func (j *balanceForwardJob) post(ctx context.Context, tx Tx, imp *BalanceImport, progress func(ImportProgress)) error {
	return j.p.post(ctx, tx, imp, progress)
}

func (j *balanceForwardJob) close() {}

func (j *balanceForwardJob) reconcile(ctx context.Context, tx Tx, importID ID) (*Reconciliation, error) {
	return j.p.reconcile(ctx, tx, importID)
}

// refused sets the outcome of a report with errors, for either kind of
// import: REJECTED when it was a commit (nothing posted), INVALID when it
// was a check; fix says what to do.
func (r *ImportReport) refused(commit bool, fix string) {
	if commit {
		r.Outcome = OutcomeRejected
		r.Message = fmt.Sprintf("%s: nothing was posted; %s", plural(r.Errors, "error"), fix)
		return
	}
	r.Outcome = OutcomeInvalid
	r.Message = fmt.Sprintf("%s: a commit would be rejected and post nothing", plural(r.Errors, "error"))
}
