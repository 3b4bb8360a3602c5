package ledger

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
)

// History import: a prior system's transaction history, converted as it is
// (docs/conversion.md). It goes through the same machinery as a
// balance-forward import (runImport): VALIDATE then COMMIT in one
// transaction, idempotent by the set's digest and by the old system's ids,
// reconciled before it commits. What a new posting would refuse — overpaid
// lines, negative buckets, money on another provider's procedure, money on
// nothing — is kept as it was and reported as a finding; only what is
// malformed is refused. The rows are written set-based (Bulk), past the
// service's posting checks and under every constraint of the ledger's
// tables (docs/design.md §5, "converted history").

// HistoryRef is a row an earlier history import posted, found by its old id.
type HistoryRef struct {
	Entity      string
	OldID       string `db:"old_id"`
	ImportID    ID     `db:"import_id"`
	LedgerID    ID     `db:"ledger_id"`
	PatientID   *ID    `db:"patient_id"`   // procedures, adjustments, receipts
	GuarantorID *ID    `db:"guarantor_id"` // the patient's family
	ProviderID  *ID    `db:"provider_id"`
	LocationID  *ID    `db:"location_id"`
	Planned     bool   `db:"planned"`
}

// HistoryRow records an entity row a history import posted under its old
// id; a family's also what the file said of it.
type HistoryRow struct {
	Entity      string
	OldID       string `db:"old_id"`
	Row         int    `db:"row_number"`
	LedgerID    ID     `db:"ledger_id"`
	FileBalance *Money `db:"file_balance"` // families: the old system's balance, if the file gives it
	FileTotal   *Money `db:"file_total"`   // families: what the ledger should hold after the import
}

// ImportFile is what a history import read of one of its files.
type ImportFile struct {
	Name        string
	Encoding    string // UTF-8, UTF-8 with BOM or Windows-1252
	Rows        int
	RowsToPost  int
	RowsSkipped int // posted by an earlier import
}

// ImportHistory checks a history set (a zip of the files HistoryFiles
// lists) against the ledger (VALIDATE) or posts it (COMMIT), all of it or
// nothing. A set over in.MaxBytes (per file) is bad input on "file".
func (l *Ledger) ImportHistory(ctx context.Context, a Actor, in ImportRequest) (ImportResult, error) {
	if err := checkImportRequest(&in); err != nil {
		return ImportResult{}, err
	}
	in.Progress = progressOf(in)
	max, today := maxBytesOf(in), l.Today()
	return l.runImport(ctx, a, in, KindHistory, func() (importJob, error) {
		ra, size, cleanup, err := readerAt(in.File, max)
		if err != nil {
			return nil, err
		}
		j := &historyJob{pid: a.PracticeID, name: strings.TrimSpace(in.FileName), today: today, progress: in.Progress, cleanup: cleanup}
		j.set, err = openHistorySet(ra, size, max, &j.log)
		if errors.Is(err, ErrFileTooLarge) {
			cleanup()
			return nil, Invalid("file", "%v; split the history into batches", err)
		}
		if err != nil {
			cleanup()
			return nil, err
		}
		in.Progress(ImportProgress{Phase: "read", Bytes: j.set.bytes})
		return j, nil
	})
}

// readerAt gives random access to an upload or a file: itself when it has
// it, else a temporary copy (removed by cleanup).
func readerAt(f io.ReadSeeker, max int64) (io.ReaderAt, int64, func(), error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, 0, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, nil, err
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, size, func() {}, nil
	}
	tmp, err := os.CreateTemp("", "paysplit-history-*.zip")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, f); err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return tmp, size, cleanup, nil
}

// historyJob is a history set going through runImport.
type historyJob struct {
	pid      ID
	name     string
	today    Date
	progress func(ImportProgress)
	cleanup  func()
	set      *historySet
	log      issueLog // the set's own issues (files, encodings)
	p        *historyPlan
}

func (j *historyJob) digest() string { return j.set.sha }

func (j *historyJob) plan(ctx context.Context, r Reader, mode ImportMode, dup *BalanceImport) (*ImportReport, error) {
	p := newHistoryPlan(j, mode)
	j.p = p
	if dup == nil {
		if err := p.match(ctx, r); err != nil {
			return nil, err
		}
		if err := p.check(ctx, r); err != nil {
			return nil, err
		}
		p.known = nil // check resolved every row that posts: posting needs none of the index
	}
	p.finish(dup)
	return &p.report, nil
}

func (j *historyJob) post(ctx context.Context, tx Tx, imp *BalanceImport, progress func(ImportProgress)) error {
	return j.p.post(ctx, tx, imp)
}

func (j *historyJob) reconcile(ctx context.Context, tx Tx, importID ID) (*Reconciliation, error) {
	return j.p.reconcile(ctx, tx)
}

func (j *historyJob) close() { j.cleanup() }
