package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/paysplit/paysplit/ledger"
)

const importUsage = `usage:
  paysplit import balances FILE --practice ID [--commit] [flags]   check (or post) a balance-forward file
  paysplit import history DIR|ZIP --practice ID [--commit] [flags] check (or post) a history set (docs/conversion.md)
  paysplit import undo IMPORT_ID --practice ID [flags]              reverse a committed import
  paysplit import template                                          print the CSV template
  paysplit import history-template > history.zip                    write the history set template
Without --commit the file is only checked (VALIDATE) and nothing is written. See docs/import.md.`

// runImport is "paysplit import …". It writes reports to stdout and
// progress to stderr.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(importUsage)
	}
	switch args[0] {
	case "balances":
		return importBalances(ctx, ledger.KindBalanceForward, args[1:], stdout, stderr)
	case "history":
		return importBalances(ctx, ledger.KindHistory, args[1:], stdout, stderr)
	case "history-template":
		return ledger.WriteHistoryTemplate(stdout)
	case "undo":
		return undoImport(ctx, args[1:], stdout)
	case "template":
		_, err := io.WriteString(stdout, ledger.BalanceForwardTemplate())
		return err
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, importUsage)
		return nil
	}
	return fmt.Errorf("unknown import command %q\n%s", args[0], importUsage)
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// importBalances is "paysplit import balances" (kind BALANCE_FORWARD) and
// "paysplit import history" (kind HISTORY: a zip, or a folder it zips).
func importBalances(ctx context.Context, kind ledger.ImportKind, args []string, stdout, stderr io.Writer) error {
	name := "import balances"
	if kind == ledger.KindHistory {
		name = "import history"
	}
	fs := newFlagSet(name)
	fs.SetOutput(stderr)
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id (required)")
	commit := fs.Bool("commit", false, "post the file (all rows or none); without it the file is only checked")
	create := fs.Bool("create-patients", false, "create patients and guarantors no row matches")
	perProvider := fs.Bool("encounter-per-provider-location", false, "one encounter per patient, provider and location (default: one per patient)")
	delimiter := fs.String("delimiter", "", "',', ';' or 'tab' (default: detected)")
	defProvider := fs.String("default-provider", "", "provider (code or name) of rows that name none")
	defLocation := fs.String("default-location", "", "location (code or name) of rows that name none")
	maxSize := fs.Int64("max-size", ledger.DefaultImportMaxBytes, "largest file accepted, in bytes; a larger one is refused unread")
	key := fs.String("idempotency-key", "", "replaying a key returns the first result")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import: give exactly one FILE (a folder or zip for a history)\n" + importUsage)
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	path := pos[0]
	if kind == ledger.KindHistory {
		zipped, cleanup, err := zipFolder(path)
		if err != nil {
			return err
		}
		defer cleanup()
		path = zipped
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() > *maxSize {
		return fmt.Errorf("%s is %d bytes; the limit is %d (--max-size): nothing was read", path, st.Size(), *maxSize)
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()

	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	mode := ledger.ImportValidate
	if *commit {
		mode = ledger.ImportCommit
	}
	bar := &importBar{bar: newBar(stderr, *quiet), size: st.Size()}
	run := ledger.New(d.store).ImportBalances
	if kind == ledger.KindHistory {
		run = ledger.New(d.store).ImportHistory
	}
	res, err := run(ctx, ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}, ledger.ImportRequest{
		File: file, FileName: filepath.Base(pos[0]), MaxBytes: *maxSize, Mode: mode, IdempotencyKey: *key, Progress: bar.update,
		Options: ledger.ImportOptions{CreateMissingPatients: *create, EncounterPerProviderLocation: *perProvider,
			Delimiter: *delimiter, DefaultProvider: *defProvider, DefaultLocation: *defLocation}})
	bar.done()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if err := writeImportReport(stdout, res); err != nil {
		return err
	}
	switch res.Report.Outcome {
	case ledger.OutcomeInvalid, ledger.OutcomeRejected:
		return fmt.Errorf("%s: %s", path, res.Report.Message)
	}
	return nil
}

func undoImport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("import undo")
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import undo: give exactly one IMPORT_ID\n" + importUsage)
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	id, err := ledger.ParseID(pos[0])
	if err != nil {
		return fmt.Errorf("%q is not an import id", pos[0])
	}
	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	imp, err := ledger.New(d.store).UndoBalanceImport(ctx, ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}, ledger.UndoImport{ImportID: id})
	if err != nil {
		var inv *ledger.InvariantError
		if errors.As(err, &inv) {
			return errors.New(inv.Message)
		}
		return err
	}
	fmt.Fprintf(stdout, "balance import %s (%s, %d rows) is undone: every line it posted is back to 0.00\n", imp.ID, imp.FileName, imp.RowsPosted)
	return nil
}

// writeImportReport prints a report for people: what happened, the issues
// by row and column, the totals, per patient, and the reconciliation.
func writeImportReport(w io.Writer, res ledger.ImportResult) error {
	r := res.Report
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	name := r.FileName
	if name == "" {
		name = "file"
	}
	fmt.Fprintf(tw, "%s: %s — %s\n", name, r.Outcome, r.Message)
	if res.Import != nil {
		fmt.Fprintf(tw, "import %s (%s), imported on %s\n", res.Import.ID, res.Import.Status, res.Import.ImportDate)
	}
	fmt.Fprintf(tw, "%d rows read, %d to post, %d skipped; %d errors, %d warnings\n", r.Rows, r.RowsToPost, r.RowsSkipped, r.Errors, r.Warnings)
	if len(r.Files) > 0 {
		fmt.Fprintln(tw, "\nfile\tencoding\trows\tto post\tskipped")
		for _, f := range r.Files {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", f.Name, f.Encoding, f.Rows, f.RowsToPost, f.RowsSkipped)
		}
	}
	if len(r.Issues) > 0 {
		fmt.Fprintln(tw, "\nfile\trow\tline\tcolumn\tseverity\tcode\tmessage")
		for _, is := range r.Issues {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", dash(is.File), is.Row, is.Line, dash(is.Column), is.Severity, is.Code, strings.ReplaceAll(is.Message, "\n", " "))
		}
		if r.IssuesTruncated {
			fmt.Fprintf(tw, "…\t\t\t\t\t\t(only the first %d issues are listed)\n", len(r.Issues))
			fmt.Fprintln(tw, "\nall issues by code\tseverity\tcount")
			for _, c := range r.IssueCounts {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Code, c.Severity, c.Count)
			}
		}
	}
	if r.Totals.Rows > 0 {
		t := r.Totals
		fmt.Fprintf(tw, "\ntotals\trows\tpatient debits\tpatient credits\tof which negative production\tinsurance\tpatient balance\ttotal\n")
		fmt.Fprintf(tw, "\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Rows, t.PatientDebits, t.PatientCredits, t.NegativeProduction, t.Insurance, t.PatientBalance, t.Total)
		fmt.Fprintf(tw, "\npatient\texternal id\tnew\tfirst row\trows\tdebits\tcredits\tinsurance\tbalance\n")
		for _, p := range r.Patients {
			fmt.Fprintf(tw, "%s, %s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", p.LastName, p.FirstName, dash(p.ExternalID), yes(p.Created), p.FirstRow,
				p.Totals.Rows, p.Totals.PatientDebits, p.Totals.PatientCredits, p.Totals.Insurance, p.Totals.PatientBalance)
		}
		if r.PatientsTruncated {
			fmt.Fprintf(tw, "…\t\t\t\t\t\t\t\t(only the first %d of %d patients are listed)\n", len(r.Patients), r.PatientCount)
		}
	}
	if rec := r.Reconciliation; rec != nil {
		verdict := "the ledger matches the file to the cent"
		if !rec.Matches {
			verdict = "the ledger DIFFERS from the file"
		}
		fmt.Fprintf(tw, "\nreconciliation: %s\n", verdict)
		fmt.Fprintf(tw, "\tfile patient\tledger patient\tfile insurance\tledger insurance\n")
		fmt.Fprintf(tw, "all\t%s\t%s\t%s\t%s\n", rec.FilePatient, rec.LedgerPatient, rec.FileInsurance, rec.LedgerInsurance)
		fmt.Fprintf(tw, "%d patients, %d guarantors\t\t\t\t\t%s\n", rec.PatientCount, rec.GuarantorCount, differing(rec.Differing))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func differing(n int) string {
	if n == 0 {
		return "every line matches"
	}
	return fmt.Sprintf("%d lines differ", n)
}

// importBar shows how far an import has gone: the bar on a terminal, a
// line per phase otherwise.
type importBar struct {
	*bar
	size  int64
	phase string
}

func (b *importBar) update(p ledger.ImportProgress) {
	switch {
	case b.off:
	case b.tty && p.Phase == "read":
		b.draw(fmt.Sprintf("%-9s", p.Phase), p.Bytes, b.size, fmt.Sprintf("%d rows", p.Rows))
	case b.tty:
		b.draw(fmt.Sprintf("%-9s", p.Phase), 0, 0, fmt.Sprintf("%d rows", p.Rows))
	case p.Phase != b.phase:
		b.phase = p.Phase
		msg := "import: " + p.Phase
		if p.Rows > 0 { // a history import counts no rows of one file
			msg += fmt.Sprintf(" (%d rows)", p.Rows)
		}
		b.line(msg)
	}
}

// zipFolder returns a history set's zip: path itself when it is a file, or
// a temporary zip of the folder's files (removed by cleanup).
func zipFolder(path string) (string, func(), error) {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return path, func() {}, err
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.CreateTemp("", "paysplit-history-*.zip")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	zw := zip.NewWriter(tmp)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := addToZip(zw, filepath.Join(path, e.Name()), e.Name()); err != nil {
			tmp.Close()
			cleanup()
			return "", nil, err
		}
	}
	if err := errors.Join(zw.Close(), tmp.Close()); err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

func addToZip(zw *zip.Writer, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := zw.Create(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
