package synth_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

var small = synth.Config{Size: synth.Small, Seed: 1, AsOf: ledger.MustDate("2026-06-15")}

func generate(t *testing.T, cfg synth.Config) *synth.Practice {
	t.Helper()
	p, err := synth.Generate(cfg)
	require.NoError(t, err)
	return p
}

func load(t *testing.T, db *sqlx.DB, p *synth.Practice) {
	t.Helper()
	_, err := synth.Load(context.Background(), db.DB, p)
	require.NoError(t, err)
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := generate(t, small), generate(t, small)
	require.True(t, reflect.DeepEqual(a, b), "two runs with the same config differ")

	other := small
	other.Seed++
	c := generate(t, other)
	require.NotEqual(t, a.Practice.ID, c.Practice.ID)
	require.False(t, reflect.DeepEqual(a.Charges, c.Charges), "another seed gave the same charges")

	medium := small
	medium.Size = synth.Medium
	require.NotEqual(t, a.Practice.ID, generate(t, medium).Practice.ID, "another size must be another practice")
}

func TestGenerateShape(t *testing.T) {
	p := generate(t, small)
	require.Len(t, p.Guarantors, 40)

	perFamily := map[ledger.ID]int{}
	for _, pt := range p.Patients {
		perFamily[pt.GuarantorID]++
	}
	notPatient := 0
	for _, g := range p.Guarantors {
		require.True(t, perFamily[g.ID] >= 1 && perFamily[g.ID] <= 6, "family %s has %d patients", g.ID, perFamily[g.ID])
		if g.SelfPatientID == nil {
			notPatient++
		}
	}
	require.NotZero(t, notPatient, "some guarantors are not patients")

	kinds := map[string]int{}
	for _, c := range p.Charges {
		switch {
		case c.Status == ledger.StatusPlanned:
			kinds["planned"]++
		case c.Kind == ledger.ChargeAdjustment && c.AttachedToID != nil:
			kinds["attached adjustment"]++
		case c.Kind == ledger.ChargeAdjustment && c.Amount.Sign() < 0:
			kinds["negative stand-alone adjustment"]++
		case c.Kind == ledger.ChargeAdjustment:
			kinds["positive stand-alone adjustment"]++
		case !c.InsuranceEstimate.IsZero():
			kinds["insured line"]++
		}
	}
	for _, s := range p.Splits {
		switch {
		case s.UnearnedTypeID != nil && *s.UnearnedTypeID == p.UnearnedTypes[0].ID:
			kinds["prepayment"]++
		case s.UnearnedTypeID != nil:
			kinds["treatment-plan prepayment"]++
		case s.ChargeID == nil:
			kinds["unallocated"]++
		}
	}
	for _, r := range p.Receipts {
		kinds[string(r.Kind)]++
	}
	for _, k := range []string{"planned", "attached adjustment", "negative stand-alone adjustment", "positive stand-alone adjustment",
		"insured line", "prepayment", "treatment-plan prepayment", "unallocated",
		"PATIENT_PAYMENT", "INSURANCE_PAYMENT", "REFUND"} {
		require.NotZero(t, kinds[k], "no %s in the small practice: %v", k, kinds)
	}
	require.NotEmpty(t, p.Forced, "no forced overpayment")

	// A guarantor holds a credit while a dependant owes.
	holds := false
	for _, g := range p.Guarantors {
		if g.SelfPatientID != nil && perFamily[g.ID] > 1 && p.Families[g.ID].Unallocated.Sign() > 0 && p.Families[g.ID].Owed.Sign() > 0 {
			holds = true
		}
	}
	require.True(t, holds, "no family where the guarantor holds unallocated money while the family owes")
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	p := generate(t, small)
	st, err := synth.Load(ctx, db.DB, p)
	require.NoError(t, err)
	require.Len(t, st.Tables, 11) // the practice, its tables and the aging state
	pid := p.Practice.ID

	// Row counts are as planned.
	n := p.Counts()
	for table, want := range map[string]int{
		"unearned_types": n.UnearnedTypes, "providers": n.Providers, "locations": n.Locations, "guarantors": n.Guarantors,
		"patients": n.Patients, "encounters": n.Encounters, "charges": n.Charges, "receipts": n.Receipts, "splits": n.Splits,
	} {
		var got int
		require.NoError(t, db.Get(&got, `SELECT count(*) FROM `+table+` WHERE practice_id = $1`, pid))
		require.Equal(t, want, got, table)
	}

	// Every receipt's splits sum to its amount.
	var bad int
	require.NoError(t, db.Get(&bad, `
SELECT count(*) FROM receipts r
 WHERE r.practice_id = $1
   AND r.amount <> (SELECT coalesce(sum(s.amount), 0) FROM splits s WHERE s.practice_id = $1 AND s.receipt_id = r.id)`, pid))
	require.Zero(t, bad, "receipts whose splits do not sum to their amount")

	// Family totals computed by SQL equal the generator's.
	store := postgres.NewStore(db)
	gids := make([]ledger.ID, len(p.Guarantors))
	for i, g := range p.Guarantors {
		gids[i] = g.ID
	}
	got, err := store.GuarantorBalances(ctx, pid, gids)
	require.NoError(t, err)
	require.Len(t, got, len(gids))
	for _, g := range gids {
		want, have := p.Families[g], got[g]
		for _, f := range []struct {
			name       string
			want, have ledger.Money
		}{
			{"balance", want.Balance, have.Balance}, {"owed", want.Owed, have.Owed}, {"unallocated", want.Unallocated, have.Unallocated},
			{"unearned", want.Unearned, have.Unearned}, {"credit", want.Credit, have.Credit},
		} {
			require.True(t, f.want.Equal(f.have), "family %s %s: generator %s, database %s", g, f.name, f.want, f.have)
		}
	}

	// Only forced lines are overpaid: every other line with a credit on it
	// is a negative adjustment standing alone.
	cids := make([]ledger.ID, len(p.Charges))
	for i, c := range p.Charges {
		cids[i] = c.ID
	}
	bals, err := store.ChargeBalances(ctx, pid, cids)
	require.NoError(t, err)
	forced := map[ledger.ID]bool{}
	for _, id := range p.Forced {
		forced[id] = true
	}
	overpaid := 0
	for _, c := range p.Charges {
		if bals[c.ID].Owed.Sign() >= 0 || c.Kind == ledger.ChargeAdjustment && c.AttachedToID == nil && c.Amount.Sign() < 0 {
			continue
		}
		require.True(t, forced[c.ID], "charge %s owes %s but no forced split paid it", c.ID, bals[c.ID].Owed)
		overpaid++
	}
	require.NotZero(t, overpaid)

	// Loading the same practice again is refused; nothing is half-written.
	_, err = synth.Load(ctx, db.DB, p)
	require.True(t, errors.Is(err, synth.ErrLoaded), "%v", err)
}

// TestLoadIsDeterministic loads the same seed into two databases and
// another seed into a third, and compares every row.
func TestLoadIsDeterministic(t *testing.T) {
	other := small
	other.Seed++
	dumps := make([]map[string]string, 3)
	for i, cfg := range []synth.Config{small, small, other} {
		db := ledgertest.NewDB(t)
		load(t, db, generate(t, cfg))
		dumps[i] = dump(t, db)
	}
	require.Equal(t, dumps[0], dumps[1], "the same seed loaded different rows")
	for table := range dumps[0] {
		require.NotEqual(t, dumps[0][table], dumps[2][table], "another seed loaded the same %s", table)
	}
}

// dump returns a digest of every row of each ledger table.
func dump(t *testing.T, db *sqlx.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"practices", "unearned_types", "providers", "locations", "guarantors", "patients",
		"encounters", "charges", "receipts", "splits"} {
		var digest, rows string
		q := fmt.Sprintf(`SELECT md5(string_agg(t::text, E'\n' ORDER BY t.id)), count(*)::text FROM %s t`, table)
		require.NoError(t, db.QueryRow(q).Scan(&digest, &rows))
		out[table] = rows + " rows, md5 " + digest
	}
	return out
}
