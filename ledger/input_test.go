package ledger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestCheckText: control characters are refused; only multi-line text may
// hold tabs and line breaks.
func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in               string
		single, multiple bool // accepted as single-line, as multi-line
	}{
		{"Dr. Ruiz", true, true},
		{"Zoë Ñúñez 王", true, true},
		{"", true, true},
		{"two\nlines", false, true},
		{"crlf\r\nlines", false, true},
		{"a\ttab", false, true},
		{"NUL\x00", false, false},
		{"bell\a", false, false},
		{"escape\x1b[31m", false, false},
		{"delete\x7f", false, false},
		{"C1\u0085", false, false},
		{"bad \xff UTF-8", false, false},
	} {
		require.Equal(t, tc.single, ledger.CheckText(tc.in, false) == nil, "%q single-line", tc.in)
		require.Equal(t, tc.multiple, ledger.CheckText(tc.in, true) == nil, "%q multi-line", tc.in)
	}
	require.ErrorContains(t, ledger.CheckText("ab\x00", false), "U+0000 at byte 2")
}

// TestLedgerRefusesControlCharacters: the ledger's own validation, whatever
// calls it (the API, the CLI): names, codes and keys are single-line, notes
// may span lines, and nothing is written for a refused input.
func TestLedgerRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Pat")[0]
	visit := func(note, code string) error {
		_, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: pat.ID, ProviderID: f.Provider, LocationID: f.Location,
			Note: note, Charges: []ledger.NewCharge{{Code: code, Amount: ledger.MustMoney("10.00")}}})
		return err
	}
	_, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr.\nX"})
	requireInput(t, err, "name")
	_, err = f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. X", Code: "D\x00"})
	requireInput(t, err, "code")
	_, err = f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "G", IdempotencyKey: "k\x00"})
	requireInput(t, err, "idempotencyKey")
	_, err = f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "b\x1b"})
	requireInput(t, err, "name")
	requireInput(t, visit("a note\x00", "D0120"), "note")
	requireInput(t, visit("", "D01\t20"), "charges[0].code")
	require.NoError(t, visit("first line\r\nsecond\tline", "D0120"), "a note may span lines")
}

// TestMoneyParamOverride: an override of a policy's money param is an
// amount in ParseMoney's grammar, as everywhere money enters.
func TestMoneyParamOverride(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Pat")[0]
	f.Visit(t, pat, "2026-05-01", "100.00")
	_, err := f.Ledger.SavePolicy(ctx, f.Actor, ledger.NewPolicy{Document: "name: floor\n" +
		"params: {floor: {type: money, default: \"5.00\"}}\nstages: [{name: s, match: 'charge.owed > params.floor'}]\n"})
	require.NoError(t, err)
	receipt := ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &pat.ID, Amount: ledger.MustMoney("10.00")}
	preview := func(floor string) error {
		_, err := f.Ledger.PreviewReceipt(ctx, f.Actor, receipt, ledger.Allocation{Policy: "floor", Params: map[string]string{"floor": floor}})
		return err
	}
	for _, bad := range []string{"5", "5.5", "+5.00", "05.00", "5.001"} {
		requireInput(t, preview(bad), "allocation.params.floor")
	}
	require.NoError(t, preview("5.00"))
	require.NoError(t, preview("-1.00"))
}
