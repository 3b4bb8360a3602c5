package synth_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// TestPostBalanceForwardIsWhatTheImportPosts commits a balance-forward file
// with ImportBalances into one practice and COPYs PostBalanceForward of the
// same rows into another (LoadCopies, the aging state rebuilt), and compares
// what each practice holds, table by table, ids and stamps aside.
func TestPostBalanceForwardIsWhatTheImportPosts(t *testing.T) {
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	today := ledger.DateOf(time.Now().UTC())
	rows := synth.BalanceForwardRows(400, today)

	l := ledger.New(postgres.NewStore(db))
	pr, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "Imported"})
	require.NoError(t, err)
	a := ledger.Actor{PracticeID: pr.ID, Role: ledger.RoleAdmin}
	_, err = l.CreateProvider(ctx, a, ledger.NewProvider{Name: "Dr. Prior"})
	require.NoError(t, err)
	_, err = l.CreateLocation(ctx, a, ledger.NewLocation{Name: "Main"})
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, ledger.WriteBalanceForwardCSV(&file, rows))
	res, err := l.ImportBalances(ctx, a, ledger.ImportRequest{File: bytes.NewReader(file.Bytes()), FileName: "balances.csv", Mode: ledger.ImportCommit,
		Options: ledger.ImportOptions{CreateMissingPatients: true}})
	require.NoError(t, err)
	require.Equal(t, ledger.OutcomeCommitted, res.Report.Outcome, res.Report.Message)

	bf := synth.PostBalanceForward(rows, today, time.Now(), 1)
	st, err := synth.LoadCopies(ctx, db.DB, bf.Practice.Practice.ID, bf.Copies(), synth.AgingAnalyzedRebuilt)
	require.NoError(t, err)
	require.Equal(t, "aging state", st.Tables[len(st.Tables)-1].Table)

	imported, copied := holdings(t, db, pr.ID), holdings(t, db, bf.Practice.Practice.ID)
	for table, want := range imported {
		require.NotEqual(t, "0 rows", want[:6], table)
		require.Equal(t, want, copied[table], table)
	}
}

// holdings returns, per table, a digest of what the practice holds that a
// balance-forward import writes, without ids, stamps or notes.
func holdings(t *testing.T, db *sqlx.DB, pid ledger.ID) map[string]string {
	t.Helper()
	const pat = `(SELECT external_id FROM patients p WHERE p.practice_id = t.practice_id AND p.id = t.patient_id)`
	rows := map[string]string{
		"guarantors": `name, external_id, self_patient_id IS NULL`,
		"patients":   `external_id, first_name, last_name, birth_date, (SELECT external_id FROM guarantors g WHERE g.practice_id = t.practice_id AND g.id = t.guarantor_id)`,
		"encounters": pat + `, kind, service_from, service_to`,
		"charges":    pat + `, kind, status, code, service_date, amount, insurance_estimate, note, attached_to_id IS NULL, encounter_id IS NULL`,
		"receipts":   pat + `, kind, amount, received_on`,
		"splits":     pat + `, code, amount, charge_id IS NULL, provider_id IS NULL, location_id IS NULL`,
		"balance_imports": `kind, status, import_date, options, rows_read, rows_posted, rows_skipped, patients_created, guarantors_created,
			encounters, patient_debits, patient_credits, insurance`,
		"balance_import_lines": `row_number, amount, responsibility, receipt_id IS NULL, negative_production, length(row_key)`,
		"aging_lines":          pat + `, status, service_date, insurance_estimate, adjusted, paid, adjustments, insurance_paid, write_off, prepaid`,
	}
	out := map[string]string{}
	for table, cols := range rows {
		var digest, n string
		q := fmt.Sprintf(`SELECT count(*)::text, coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '')
		  FROM (SELECT ROW(%s) AS r FROM %s t WHERE t.practice_id = $1) x`, cols, table)
		require.NoError(t, db.QueryRow(q, pid).Scan(&n, &digest), table)
		out[table] = n + " rows, md5 " + digest
	}
	return out
}
