package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

const transferDoc = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id kind splits { amount } } } }`

// TestManualTransfers (issue 17): a manual income transfer takes income
// only from where it exists — per patient, provider and location (and
// unearned type, or charge) — and must meet the requirements of the
// practice's default TRANSFER policy (rigorous refuses a split left
// unattached; fifo does not). A transfer posts outside batches, like every
// TRANSFER. Each refusal is coded and writes nothing.
func TestManualTransfers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Txfr")[0]
	charge := f.Visit(t, pat, "2026-05-01", "100.00")[0]
	other, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Other"})
	require.NoError(t, err)
	id := func(v interface{ String() string }) string { return v.String() }
	// 80.00 unallocated with Dr. One at Main, nothing with Dr. Other.
	f.Pay(t, pat, "80.00", ledger.NewSplit{Amount: ledger.MustMoney("80.00"), ProviderID: &f.Provider, LocationID: &f.Location})

	transfer := func(splits ...obj) obj {
		s := make([]any, len(splits))
		for i, sp := range splits {
			s[i] = sp
		}
		return obj{"kind": "TRANSFER", "patientId": id(pat.ID), "amount": "0.00", "splits": s}
	}
	from := func(amount string, provider ledger.ID) obj {
		return obj{"amount": amount, "providerId": id(provider), "locationId": id(f.Location)}
	}
	onCharge := obj{"amount": "80.00", "chargeId": id(charge.ID)}
	batch, err := f.Ledger.OpenBatch(ctx, f.Actor, ledger.NewBatch{Name: "June"})
	require.NoError(t, err)

	refusals := []struct {
		name, code, field, msg string
		in                     obj
	}{
		{"income taken where there is none", "BAD_USER_INPUT", "splits[0].amount", "with that provider and location",
			transfer(from("-80.00", other.ID), onCharge)},
		{"more than the bucket holds", "BAD_USER_INPUT", "splits[0].amount", "holds 80.00",
			transfer(from("-80.01", f.Provider), obj{"amount": "80.01", "chargeId": id(charge.ID)})},
		{"rigorous: income left unattached", "RULE_REJECTED", "", "does not leave money unallocated",
			transfer(from("-80.00", f.Provider), from("80.00", other.ID))},
		{"a transfer in a batch", "BAD_USER_INPUT", "batchId", "outside batches",
			with(transfer(from("-80.00", f.Provider), onCharge), "batchId", id(batch.ID))},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := rowCounts(t, h.db)
			e, r := h.fail(t, h.admin, transferDoc, obj{"in": tc.in})
			require.Equal(t, tc.code, e.code(), r.Raw)
			if tc.field != "" {
				require.Equal(t, tc.field, e.field(), r.Raw)
			} else {
				require.Equal(t, "attached", e.Extensions["requirement"], r.Raw)
			}
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, rowCounts(t, h.db), "a refused request writes nothing")
		})
	}

	// Under fifo the unattached move is a valid transfer: the income exists
	// where it is taken from.
	h.ok(t, h.admin, `mutation { setDefaultPolicy(input: {operation: TRANSFER, policy: "fifo"}) { defaults { policy } } }`, nil)
	h.ok(t, h.admin, transferDoc, obj{"in": transfer(from("-30.00", f.Provider), from("30.00", other.ID))})
	// Back under rigorous, the attached move is valid, and a practice that
	// requires batches still takes a transfer outside them.
	h.ok(t, h.admin, `mutation { setDefaultPolicy(input: {operation: TRANSFER, policy: "rigorous"}) { defaults { policy } } }`, nil)
	h.ok(t, h.admin, `mutation { updateBatchSettings(input: {requireBatch: true}) { practice { requireBatch } } }`, nil)
	d := h.ok(t, h.admin, transferDoc, obj{"in": transfer(from("-50.00", f.Provider), from("-30.00", other.ID), onCharge)})
	require.Len(t, list(t, d, "postReceipt.receipt.splits"), 3)
	d = h.ok(t, h.analyst, `query($p: ID!) { patient(id: $p) { balance owed unallocated unearned credit } }`, obj{"p": id(pat.ID)})
	requireBalances(t, at(t, d, "patient"), "20.00", "20.00", "0.00", "0.00", "0.00")
}
