package graph_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// analystQuery walks guarantors → patients → charges → splits → receipts,
// with balances at every level, over one page of guarantors.
const analystQuery = `query($first: Int!) {
  guarantors(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id name balance owed unallocated unearned credit
      selfPatient { id }
      patients {
        id firstName balance owed unallocated unearned credit
        guarantor { id }
        encounters { id provider { name } location { name } charges { id } }
        charges {
          id code amount owed insurancePending patientPaid
          provider { id } location { id } encounter { id } attachedTo { id } adjustments { id }
          splits {
            id amount code patient { id } provider { id } charge { id } unearnedType { name }
            receipt { id kind amount reversedBy { id } reverses { id } splits { id } }
          }
        }
      }
      charges { id owed }
      receipts { id kind }
    } }
  }
}`

// TestNestedQueryStatementCount runs the analyst query over pages of 10, 50
// and 100 of 120 families, twice, and requires the same number of SQL
// statements every time: every list hanging off an object is batched, and
// batching does not depend on timing. The same walk from the patients and
// receipts listings must be constant too.
func TestNestedQueryStatementCount(t *testing.T) {
	t.Parallel()
	db, statements := openCounting(t, ledgertest.NewDBURL(t))
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	f := ledgertest.AddPractice(t, l, "Counted")
	for i := range 120 {
		fam := f.Family(t, fmt.Sprintf("G%03d", i), "Kid")
		cs := f.Visit(t, fam[1], "2026-05-01", "100.00", "50.00")
		_, err := l.PostAdjustment(t.Context(), f.Actor, ledger.NewAdjustment{AttachedToID: &cs[1].ID, Amount: ledger.MustMoney("-5.00")})
		require.NoError(t, err)
		pay := f.Pay(t, fam[0], "90.00", ledgertest.On("60.00", cs[0]), ledgertest.Unallocated("20.00"), ledgertest.Unearned("10.00", f.Prepayment))
		if i%3 == 0 {
			_, err := l.ReverseReceipt(t.Context(), f.Actor, ledger.Reversal{ReceiptID: pay.ID})
			require.NoError(t, err)
		}
	}
	h := serve(t, db, f)
	h.ok(t, h.analyst, `{ __typename }`, nil) // the key's first use records it

	// The analyst query, and the same walk from the two other entry points.
	entries := []struct {
		name, query string
		check       func(t *testing.T, d map[string]any, n int)
	}{
		{"guarantors", analystQuery, func(t *testing.T, d map[string]any, n int) {
			edges := list(t, d, "guarantors.edges")
			require.Len(t, edges, n)
			require.EqualValues(t, 120, at(t, d, "guarantors.totalCount"))
			for _, e := range edges { // spot-check that the data is all there
				require.Len(t, list(t, e, "node.patients"), 2)
				require.Len(t, list(t, e, "node.charges"), 3)
				reversed := len(list(t, e, "node.receipts")) == 2
				require.Len(t, list(t, e, "node.patients.1.charges.0.splits"), 1+boolInt(reversed))
				want := map[bool]string{false: "55.00", true: "145.00"}[reversed] // 100 + 50 − 5 − 60 − 20 − 10, or all reversed
				requireMoney(t, want, e, "node.balance")
			}
		}},
		{"nested connections", connectionsQuery, func(t *testing.T, d map[string]any, n int) {
			edges := list(t, d, "guarantors.edges")
			require.Len(t, edges, n)
			for _, e := range edges {
				require.Len(t, list(t, e, "node.patientsConnection.edges"), 2)
				require.Len(t, list(t, e, "node.chargesConnection.edges"), 2)
				require.Equal(t, true, at(t, e, "node.chargesConnection.pageInfo.hasNextPage"))
				require.EqualValues(t, 3, at(t, e, "node.patientsConnection.edges.1.node.chargesConnection.totalCount"))
			}
		}},
		{"patients", patientsQuery, func(t *testing.T, d map[string]any, n int) {
			edges := list(t, d, "patients.edges")
			require.Len(t, edges, n)
			for _, e := range edges {
				require.Len(t, list(t, e, "node.charges"), 3)
				require.Len(t, list(t, e, "node.encounters.0.charges"), 3)
			}
		}},
		{"receipts", receiptsQuery, func(t *testing.T, d map[string]any, n int) {
			edges := list(t, d, "receipts.edges")
			require.Len(t, edges, n)
			for _, e := range edges {
				require.Len(t, list(t, e, "node.splits"), 3)
			}
		}},
	}
	for _, e := range entries {
		counts := map[int][]int64{}
		for range 2 {
			for _, n := range []int{10, 50, 100} {
				statements.Store(0)
				d := h.ok(t, h.analyst, e.query, map[string]any{"first": n})
				counts[n] = append(counts[n], statements.Load())
				e.check(t, d, n)
			}
		}
		t.Logf("%s: statements per request by page size: %v", e.name, counts)
		want := counts[10][0]
		for n, c := range counts {
			for _, got := range c {
				require.Equal(t, want, got, "%s, page size %d: %v", e.name, n, counts)
			}
		}
	}
}

// connectionsQuery is the analyst walk through the nested connections.
const connectionsQuery = `query($first: Int!) {
  guarantors(first: $first) {
    edges { node {
      id
      patientsConnection(first: 10) { edges { node {
        id
        encountersConnection { edges { node { id chargesConnection(first: 1) { totalCount edges { node { id } } } } } }
        chargesConnection(last: 2) {
          totalCount
          edges { cursor node {
            id owed
            splitsConnection { edges { node { id amount receipt { id splitsConnection(first: 1) { totalCount } } } } }
          } }
        }
      } } }
      chargesConnection(first: 2) { pageInfo { hasNextPage endCursor } edges { node { id owed } } }
      receiptsConnection(last: 1) { totalCount edges { node { id kind } } }
    } }
  }
}`

const patientsQuery = `query($first: Int!) {
  patients(first: $first, filter: {name: "kid"}) { edges { node {
    id balance owed credit
    guarantor { id name balance selfPatient { id } patients { id } }
    encounters { id provider { id } location { id } charges { id owed } }
    charges {
      id owed patient { id } encounter { id kind } attachedTo { id owed } adjustments { id owed }
      splits { amount patient { id } receipt { id kind patient { id } batch { id } } }
    }
  } } }
}`

const receiptsQuery = `query($first: Int!) {
  receipts(first: $first) { edges { node {
    id kind amount patient { id lastName guarantor { id balance } } reverses { id splits { id } } reversedBy { id amount }
    splits {
      id amount code patient { id owed } provider { id } location { id } unearnedType { name } receipt { id }
      charge { id owed patient { id } encounter { id provider { id } } splits { id receipt { id } } }
    }
  } } }
}`

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Receipt statement budgets: what one postReceipt sends to the database,
// once its key has authenticated (docs/benchmarks.md, "The write path"). An
// auto-split reads the payer, its family and the policy defaults and writes
// the receipt with its splits, its plan, and the mutation's record; the
// explicit form checks its references and the charges' balances instead.
const (
	autoSplitStatements = 13
	explicitStatements  = 11
)

// TestReceiptStatementCount holds a receipt, auto-split or explicit, to its
// statement budget, through the handler, the second and later times a key
// is used (authentication comes from the cache, touching the key's last use
// at most once a minute).
func TestReceiptStatementCount(t *testing.T) {
	t.Parallel()
	db, statements := openCounting(t, ledgertest.NewDBURL(t))
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	l.CacheKeys() // as serve, whose listener makes it forget revoked keys
	f := ledgertest.AddPractice(t, l, "Counted")
	fam := f.Family(t, "Payer", "Kid")
	cs := f.Visit(t, fam[1], "2026-05-01", "100.00", "50.00")
	h := serve(t, db, f)
	h.ok(t, h.admin, `{ __typename }`, nil) // the key's first use records it

	auto := obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": fam[0].ID.String(), "amount": "10.00", "allocation": obj{}}}
	explicit := obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": fam[0].ID.String(), "amount": "10.00",
		"splits": []any{obj{"amount": "9.00", "chargeId": cs[0].ID.String()}, obj{"amount": "1.00"}}}}
	for range 2 {
		for _, c := range []struct {
			name   string
			vars   obj
			budget int64
		}{{"auto-split", auto, autoSplitStatements}, {"explicit", explicit, explicitStatements}} {
			statements.Store(0)
			h.ok(t, h.admin, postReceiptDoc, c.vars)
			t.Logf("%s: %d statements", c.name, statements.Load())
			require.LessOrEqual(t, statements.Load(), c.budget, c.name)
		}
	}
}
