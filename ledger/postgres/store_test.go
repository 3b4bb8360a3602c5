package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

func TestLedgerRowsAreAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	fam := f.Family(t, "Pat")
	c := f.Visit(t, fam[0], "2026-05-01", "100.00")[0]
	r := f.Pay(t, fam[0], "10.00", ledgertest.On("10.00", c))
	for _, q := range []string{
		`UPDATE charges SET amount = 1 WHERE id = $1`,
		`DELETE FROM charges WHERE id = $1`,
		`UPDATE receipts SET amount = 1 WHERE id = $2`,
		`DELETE FROM receipts WHERE id = $2`,
		`UPDATE splits SET amount = 1 WHERE receipt_id = $2`,
		`DELETE FROM splits WHERE receipt_id = $2`,
	} {
		_, err := db.ExecContext(ctx, q+` AND $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL`, c.ID, r.ID)
		require.ErrorContains(t, err, "append-only", q)
	}
	for _, table := range []string{"charges", "receipts", "splits"} {
		_, err := db.ExecContext(ctx, `TRUNCATE `+table+` CASCADE`)
		require.ErrorContains(t, err, "append-only", table)
	}
}

// insertReceipt writes a receipt with the given splits straight through the
// store, bypassing the ledger's validation, to prove the database's own checks.
func insertReceipt(ctx context.Context, f *ledgertest.Practice, r ledger.Receipt, splits []ledger.Split) error {
	return f.Store.InTx(ctx, func(tx ledger.Tx) error { return tx.InsertReceipt(ctx, f.Actor.PracticeID, r, splits) })
}

func TestDatabaseChecksSplitsSumToTheReceipt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	fam := f.Family(t, "Pat")
	now := ledgertest.Clock()
	r := ledger.Receipt{ID: ledgertest.NewID(), Kind: ledger.ReceiptPatientPayment, Amount: ledger.MustMoney("10.00"),
		ReceivedOn: ledgertest.Today, PatientID: &fam[0].ID, PostedAt: now}
	split := func(amount string) ledger.Split {
		return ledger.Split{ID: ledgertest.NewID(), ReceiptID: r.ID, Amount: ledger.MustMoney(amount), Code: ledger.CodePayment, PatientID: fam[0].ID}
	}

	err := insertReceipt(ctx, f, r, []ledger.Split{split("4.00"), split("5.00")})
	var inv *ledger.InvariantError
	require.ErrorAs(t, err, &inv)
	require.Equal(t, "receipts_splits_balance", inv.Invariant)

	err = insertReceipt(ctx, f, r, nil)
	require.ErrorAs(t, err, &inv, "a receipt without splits is refused")

	require.NoError(t, insertReceipt(ctx, f, r, []ledger.Split{split("4.00"), split("6.00")}))

	// A split cannot join a receipt posted in an earlier transaction.
	_, err = db.ExecContext(ctx, `INSERT INTO splits (practice_id, id, receipt_id, amount, code, patient_id)
	                              VALUES ($1, $2, $3, 1, 'PAY', $4)`, f.Actor.PracticeID, ledgertest.NewID(), r.ID, fam[0].ID)
	require.ErrorContains(t, err, "is already posted")
}

func TestDatabaseRefusesAThirdDecimalPlace(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	fam := f.Family(t, "Pat")
	c := f.Visit(t, fam[0], "2026-05-01", "100.00")[0]
	_, err := db.Exec(`INSERT INTO charges (practice_id, id, patient_id, kind, status, code, service_date, amount, posted_at)
	                   VALUES ($1, $2, $3, 'ADJUSTMENT', 'COMPLETED', 'ADJ', '2026-05-01', 1.005, now())`,
		f.Actor.PracticeID, ledgertest.NewID(), c.PatientID)
	require.ErrorContains(t, err, "charges_amount_scale")
}

func TestUniqueConstraintsNameTheField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	_, err := f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "A", ExternalID: "X-1"})
	require.NoError(t, err)
	_, err = f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "B", ExternalID: "X-1"})
	var in *ledger.InputError
	require.ErrorAs(t, err, &in)
	require.Equal(t, "externalId", in.Field)

	// Another practice may use the same external id.
	g := ledgertest.AddPractice(t, f.Ledger, "Other")
	_, err = g.Ledger.CreateGuarantor(ctx, g.Actor, ledger.NewGuarantor{Name: "C", ExternalID: "X-1"})
	require.NoError(t, err)
}

func TestRoundTripsAreExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat")
	d := ledger.MustDate("2024-02-29")
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: fam[0].ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{{Code: "D0120", Amount: ledger.MustMoney("12345678.91"), InsuranceEstimate: ledger.MustMoney("0.01")}}})
	require.NoError(t, err)
	require.Equal(t, d, e.ServiceFrom)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, "12345678.91", cs[0].Amount.String())
	require.Equal(t, "0.01", cs[0].InsuranceEstimate.String())
	require.Equal(t, ledgertest.Clock(), cs[0].PostedAt.UTC())
	require.Equal(t, f.Provider, *cs[0].ProviderID)
	require.Nil(t, cs[0].AttachedToID)
}

func TestOtherPracticesRowsAreInvisible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	b := ledgertest.AddPractice(t, a.Ledger, "B")
	pat := a.Family(t, "Pat")[0]
	rows, err := b.Store.Patients(ctx, b.Actor.PracticeID, []ledger.ID{pat.ID})
	require.NoError(t, err)
	require.Empty(t, rows)
	bal, err := b.Store.PatientBalances(ctx, b.Actor.PracticeID, []ledger.ID{pat.ID})
	require.NoError(t, err)
	require.True(t, bal[pat.ID].Owed.IsZero())
	_, err = b.Store.Practice(ctx, ledgertest.NewID())
	require.True(t, errors.Is(err, ledger.ErrNotFound))
}

// TestInternalErrorsNameTheStoreMethod: an error the ledger has no name for
// (here a table that is gone) says which store method failed, for the log
// line of an INTERNAL error.
func TestInternalErrorsNameTheStoreMethod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	_, err := db.ExecContext(ctx, `ALTER TABLE guarantors RENAME TO guarantors_gone`)
	require.NoError(t, err)
	_, err = f.Store.Guarantors(ctx, f.Actor.PracticeID, []ledger.ID{ledgertest.NewID()})
	require.ErrorContains(t, err, "postgres.queries.Guarantors: ")
	require.ErrorContains(t, err, `relation "guarantors" does not exist`)
}
