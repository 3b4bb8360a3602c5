package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestImportCommand runs "paysplit import balances" the way an operator
// would: check a file, commit it, commit it again, undo it; and refuses a
// file over --max-size without reading it.
func TestImportCommand(t *testing.T) {
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	l := ledger.New(postgres.NewStore(db))
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "CLI Practice"})
	require.NoError(t, err)
	admin := ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}
	_, err = l.CreateProvider(ctx, admin, ledger.NewProvider{Name: "Dr. One", Code: "DR1"})
	require.NoError(t, err)
	_, err = l.CreateLocation(ctx, admin, ledger.NewLocation{Name: "Main", Code: "MAIN"})
	require.NoError(t, err)
	jane, err := l.CreatePatient(ctx, admin, ledger.NewPatient{SelfGuarantor: true, FirstName: "Jane", LastName: "Doe", ExternalID: "A1001"})
	require.NoError(t, err)

	dir := t.TempDir()
	path := filepath.Join(dir, "old-pm.csv")
	file := "patient_external_id,patient_last_name,patient_first_name,service_date,amount,memo\n" +
		"A1001,,,01/01/2024,30.00,copay\nA1001,,,02/01/2024,30.00,copay\nA1001,,,03/01/2024,30.00,copay\nA1001,,,04/01/2024,30.00,copay\n" +
		"B7,Bee,Bo,2024-05-01,(12.50),new patient with a credit\n"
	require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := runImport(ctx, append(args, "--database-url", url, "--practice", p.ID.String()), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	balance := func() string {
		b, err := l.Store().PatientBalances(ctx, p.ID, []ledger.ID{jane.ID})
		require.NoError(t, err)
		return b[jane.ID].Balance.String()
	}

	// B7 is unknown: the check fails (exit status), naming the row.
	out, progress, err := cli("balances", path)
	require.Error(t, err)
	require.Contains(t, err.Error(), "1 error")
	require.Contains(t, out, "old-pm.csv: INVALID")
	require.Regexp(t, `6\s+6\s+patient_external_id\s+ERROR\s+UNKNOWN_PATIENT`, out)
	require.Contains(t, progress, "import: read")
	require.Equal(t, "0.00", balance(), "a check writes nothing")

	out, _, err = cli("balances", path, "--create-patients", "--quiet")
	require.NoError(t, err, out)
	require.Contains(t, out, "old-pm.csv: VALID")
	require.Regexp(t, `Doe, Jane\s+A1001\s+2\s+4\s+120.00\s+0.00\s+0.00\s+120.00`, out)
	require.Equal(t, "0.00", balance())

	out, _, err = cli("balances", "--commit", path, "--create-patients", "--quiet")
	require.NoError(t, err, out)
	require.Contains(t, out, "old-pm.csv: COMMITTED")
	require.Contains(t, out, "reconciliation: the ledger matches the file to the cent")
	require.Equal(t, "120.00", balance())

	// Again: nothing posted, and it says so.
	out, _, err = cli("balances", path, "--commit", "--create-patients", "--quiet", "--json")
	require.NoError(t, err)
	var res struct {
		Report struct {
			Outcome ledger.ImportOutcome
			Totals  struct{ PatientBalance string }
		}
		Import struct{ ID string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Equal(t, ledger.OutcomeAlreadyImported, res.Report.Outcome)
	require.NotEmpty(t, res.Import.ID)
	require.Equal(t, "120.00", balance())

	// Undo.
	out, _, err = cli("undo", res.Import.ID)
	require.NoError(t, err)
	require.Contains(t, out, "is undone")
	require.Equal(t, "0.00", balance())
	_, _, err = cli("undo", res.Import.ID)
	require.ErrorIs(t, err, ledger.ErrConflict)

	// Over --max-size: refused before it is read.
	_, _, err = cli("balances", path, "--commit", "--max-size", "10")
	require.Error(t, err)
	require.Contains(t, err.Error(), "nothing was read")
	require.Equal(t, "0.00", balance())

	// The template.
	var tmpl bytes.Buffer
	require.NoError(t, runImport(ctx, []string{"template"}, &tmpl, &tmpl))
	require.Equal(t, ledger.BalanceForwardTemplate(), tmpl.String())
	require.True(t, strings.HasPrefix(tmpl.String(), "patient_external_id,"))
	require.Error(t, runImport(ctx, []string{"nope"}, &tmpl, &tmpl))
}

// TestImportHistoryCommand runs "paysplit import history" on the template
// set, written out as a folder: a check names the encoding of each file,
// a commit posts it, and the same folder again posts nothing.
func TestImportHistoryCommand(t *testing.T) {
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	l := ledger.New(postgres.NewStore(db))
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "CLI Conversion"})
	require.NoError(t, err)
	dir := t.TempDir()
	for _, f := range ledger.HistoryFiles {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.Name), []byte(ledger.HistoryTemplateFile(f)), 0o600))
	}
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runImport(ctx, append(args, "--database-url", url, "--practice", p.ID.String(), "--quiet"), &out, &errOut)
		return out.String(), err
	}
	out, err := cli("history", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "VALID")
	require.Regexp(t, `procedures.csv +UTF-8 +4 +4 +0`, out)
	require.Contains(t, out, "OVERPAID_CHARGE")

	out, err = cli("history", dir, "--commit")
	require.NoError(t, err, out)
	require.Contains(t, out, "COMMITTED")
	out, err = cli("history", dir, "--commit")
	require.NoError(t, err, out)
	require.Contains(t, out, "ALREADY_IMPORTED")

	var tmpl bytes.Buffer
	require.NoError(t, runImport(ctx, []string{"history-template"}, &tmpl, &tmpl))
	require.Equal(t, "PK", tmpl.String()[:2], "a zip")
}
