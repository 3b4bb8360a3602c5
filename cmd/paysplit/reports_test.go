package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestReportsNetUnearned prints the Net Unearned Income report as CSV: the
// hidden treatment-plan prepayment is a line, totals close it, and a bad
// date is refused before anything is read.
func TestReportsNetUnearned(t *testing.T) {
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	f := ledgertest.AddPractice(t, ledger.New(postgres.NewStore(db)), "CLI Reports")
	kid := f.Family(t, "Pat", "Kid")[1]
	f.Pay(t, kid, "50.00", ledgertest.Unearned("10.00", f.Prepayment), ledgertest.Unearned("40.00", f.TPPrepay))
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runTo(ctx, append(append([]string{"reports"}, args...), "--database-url", url, "--practice", f.Actor.PracticeID.String()), &out, io.Discard)
		return out.String(), err
	}
	out, err := cli("net-unearned")
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader([]byte(out))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, ledger.NetUnearnedCSVHeader, rows[0])
	require.Equal(t, []string{"TP_PREPAYMENT", "yes", "40.00"}, []string{rows[2][4], rows[2][5], rows[2][8]})
	require.Equal(t, []string{"", "TOTAL", "", "", "", "", "", "", "50.00"}, rows[len(rows)-1])

	out, err = cli("net-unearned", "--visibility", "hidden")
	require.NoError(t, err)
	require.Contains(t, out, ",TOTAL,,,,,,,40.00\n")
	_, err = cli("net-unearned", "--as-of", "2199-01-01")
	require.ErrorContains(t, err, "asOf")
	_, err = cli("statements")
	require.Error(t, err)
}

// TestCommandsRefuseAnUnknownPractice: a practice id no practice has is an
// error naming --practice, for every command that takes one, before it
// reads or writes anything.
func TestCommandsRefuseAnUnknownPractice(t *testing.T) {
	ctx := context.Background()
	_, url := ledgertest.NewDBAndURL(t)
	unknown := ledgertest.NewID().String()
	for _, args := range [][]string{
		{"reports", "net-unearned"},
		{"aging", "check"},
		{"balance", "--method", "INCOME_TRANSFER"},
		{"credits", "manage", "--note", "x"},
		{"runs", "list"},
		{"keys", "list"},
		{"plans", "remove", ledgertest.NewID().String()},
	} {
		err := runTo(ctx, append(args, "--database-url", url, "--practice", unknown), io.Discard, io.Discard)
		require.ErrorContains(t, err, "--practice: no practice with id "+unknown, "%v", args)
	}
}
