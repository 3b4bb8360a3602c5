package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestRowLevelSecurity (issue 8; docs/security.md#row-level-security): the
// second wall between practices, proven with statements that bypass the
// application's scoping. Every table with a practice_id column (and
// practices) has row-level security on and a policy for the service's role;
// as that role, a transaction that never names its practice sees no row of
// any table, and one scoped to practice A sees exactly A's rows, even when
// it asks for B's by id, and can neither write a row of B nor change one.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t) // the owner's connection: the policies do not restrict it
	a := ledgertest.NewPractice(t, db)
	b := ledgertest.AddPractice(t, a.Ledger, "Other Practice")
	for _, f := range []*ledgertest.Practice{a, b} {
		fam := f.Family(t, "Pat", "Kid")
		c := f.Visit(t, fam[1], "2026-05-01", "100.00", "40.00")
		f.Pay(t, fam[0], "60.00", ledgertest.On("60.00", c[0]))
		_, err := f.Ledger.PostInsuranceWriteOff(ctx, f.Actor, ledger.NewInsuranceWriteOff{ChargeID: c[1].ID, Amount: ledger.MustMoney("5.00")})
		require.NoError(t, err)
		d := ledger.MustDate("2026-05-02")
		e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: fam[1].ID, ProviderID: f.Provider, LocationID: f.Location,
			ServiceFrom: &d, Charges: []ledger.NewCharge{{Code: "D2740", Amount: ledger.MustMoney("90.00"), InsuranceEstimate: ledger.MustMoney("70.00")}}})
		require.NoError(t, err)
		_, err = f.Ledger.BillToPatient(ctx, f.Actor, ledger.ResponsibilityMove{EncounterID: &e.ID})
		require.NoError(t, err)
		_, err = f.Ledger.RunStatements(ctx, f.Actor, ledger.StatementRunRequest{})
		require.NoError(t, err)
	}

	var tables []struct {
		Name     string
		Column   string
		RLS      bool
		Policies int
	}
	require.NoError(t, db.Select(&tables, `
SELECT c.relname AS name, CASE WHEN c.relname = 'practices' THEN 'id' ELSE 'practice_id' END AS column,
       c.relrowsecurity AS rls,
       (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
           AND p.roles = ARRAY[$1]::name[] AND p.cmd = 'ALL') AS policies
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
   AND (c.relname = 'practices' OR EXISTS (SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attname = 'practice_id' AND NOT a.attisdropped))
 ORDER BY 1`, postgres.AppRole))
	require.GreaterOrEqual(t, len(tables), 24, "every tenant table is found")
	for _, tb := range tables {
		require.True(t, tb.RLS, "%s has row-level security on", tb.Name)
		require.Equal(t, 1, tb.Policies, "%s has the tenant policy for %s", tb.Name, postgres.AppRole)
	}

	// as runs fn in a transaction as the service's role, scoped to practice
	// (none if nil), and rolls it back.
	as := func(practice *ledger.ID, fn func(tx *sqlx.Tx)) {
		tx, err := db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.Exec(`SET LOCAL ROLE ` + postgres.AppRole)
		require.NoError(t, err)
		if practice != nil {
			_, err = tx.Exec(`SET LOCAL app.practice_id = ` + pq.QuoteLiteral(practice.String()))
			require.NoError(t, err)
		}
		fn(tx)
	}
	count := func(q sqlx.Queryer, query string, args ...any) int {
		var n int
		require.NoError(t, sqlx.Get(q, &n, query, args...))
		return n
	}
	seen := map[string]bool{}
	for _, tb := range tables {
		all := `SELECT count(*) FROM ` + pq.QuoteIdentifier(tb.Name)
		of := all + ` WHERE ` + tb.Column + ` = $1`
		inA, inB := count(db, of, a.Actor.PracticeID), count(db, of, b.Actor.PracticeID)
		seen[tb.Name] = inA > 0 && inB > 0
		as(nil, func(tx *sqlx.Tx) {
			require.Zero(t, count(tx, all), "%s: a statement that never names its practice sees nothing", tb.Name)
		})
		as(&a.Actor.PracticeID, func(tx *sqlx.Tx) {
			require.Equal(t, inA, count(tx, all), "%s: practice A sees its own rows", tb.Name)
			require.Zero(t, count(tx, of, b.Actor.PracticeID), "%s: practice A asking for B's rows sees none", tb.Name)
		})
	}
	for _, name := range []string{"practices", "providers", "locations", "guarantors", "patients", "encounters",
		"charges", "receipts", "splits", "unearned_types", "audit_events", "insurance_write_offs", "responsibility_changes", "statement_runs", "statements"} {
		require.True(t, seen[name], "%s holds rows of both practices, so the checks above could fail", name)
	}

	// Writes: a row of another practice is refused; another practice's rows
	// cannot be changed or deleted.
	as(&a.Actor.PracticeID, func(tx *sqlx.Tx) {
		_, err := tx.Exec(`INSERT INTO providers (practice_id, id, name, created_at) VALUES ($1, gen_random_uuid(), 'Intruder', now())`,
			b.Actor.PracticeID)
		var pe *pq.Error
		require.True(t, errors.As(err, &pe), "%v", err)
		require.Equal(t, "42501", string(pe.Code), "row-level security refuses the row: %v", err)
	})
	as(&a.Actor.PracticeID, func(tx *sqlx.Tx) {
		res, err := tx.Exec(`UPDATE guarantors SET name = 'Taken' WHERE practice_id = $1`, b.Actor.PracticeID)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		require.Zero(t, n, "B's guarantors are out of A's reach")
		res, err = tx.Exec(`DELETE FROM aging_settings WHERE practice_id = $1`, b.Actor.PracticeID)
		require.NoError(t, err)
		n, _ = res.RowsAffected()
		require.Zero(t, n)
	})
}

// TestStoreRunsAsTheAppRole: the Store's statements, in a transaction or
// not, run as the service's role and so under the policies above. With the
// role's SELECT on providers revoked, both ways of reading providers fail
// with permission denied; granted again, both read.
func TestStoreRunsAsTheAppRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	read := func() (outside, inside error) {
		_, outside = f.Store.ProvidersOfPractice(ctx, f.Actor.PracticeID)
		inside = f.Store.InTx(ctx, func(tx ledger.Tx) error {
			_, err := tx.ProvidersOfPractice(ctx, f.Actor.PracticeID)
			return err
		})
		return outside, inside
	}
	_, err := db.Exec(`REVOKE SELECT ON providers FROM ` + postgres.AppRole)
	require.NoError(t, err)
	outside, inside := read()
	require.ErrorContains(t, outside, "permission denied")
	require.ErrorContains(t, inside, "permission denied")
	_, err = db.Exec(`GRANT SELECT ON providers TO ` + postgres.AppRole)
	require.NoError(t, err)
	outside, inside = read()
	require.NoError(t, outside)
	require.NoError(t, inside)
}
