package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestTenantIsolationEveryRootField calls every Query and Mutation root field
// the schema serves (found by introspection, so a new field is covered the
// day it is added) with practice B's ADMIN key and practice A's ids in every
// ID argument and input field. No answer carries A's data, and a field that
// requires an id answers NOT_FOUND, FORBIDDEN or BAD_USER_INPUT.
func TestTenantIsolationEveryRootField(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.f
	aFam := a.Family(t, "Alpha", "Alkid")
	aCharge := a.Visit(t, aFam[1], "2026-05-01", "100.00")[0]
	aPay := a.Pay(t, aFam[0], "60.00", ledgertest.On("40.00", aCharge), ledgertest.Unallocated("20.00"))
	aEnc := *aCharge.EncounterID

	b := ledgertest.AddPractice(t, a.Ledger, "Practice B")
	bKey := issueKey(t, b, ledger.RoleAdmin)
	b.Family(t, "Beta")

	// What A's rows look like on the wire: none of it may reach B.
	secrets := []string{"Alpha", "Alkid", a.Actor.PracticeID.String(), aFam[0].GuarantorID.String(), aFam[0].ID.String(),
		aFam[1].ID.String(), aCharge.ID.String(), aEnc.String(), aPay.ID.String(), a.Provider.String(), a.Location.String(),
		a.Prepayment.String(), a.TPPrepay.String()}
	idFor := func(root, name string) string {
		n := strings.ToLower(name)
		if n == "id" || n == "ids" {
			n = strings.ToLower(root)
		}
		for _, c := range []struct {
			part string
			id   ledger.ID
		}{
			{"guarantor", aFam[0].GuarantorID}, {"family", aFam[0].GuarantorID}, {"patient", aFam[1].ID},
			{"encounter", aEnc}, {"charge", aCharge.ID}, {"attached", aCharge.ID}, {"receipt", aPay.ID},
			{"provider", a.Provider}, {"location", a.Location}, {"unearned", a.Prepayment}, {"type", a.Prepayment},
		} {
			if strings.Contains(n, c.part) {
				return c.id.String()
			}
		}
		return aPay.ID.String() // an id of A that names nothing this field knows
	}

	s := introspect(t, h)
	withRequiredID := 0
	for _, obj := range []string{"Query", "Mutation"} {
		for _, f := range s.roots[obj] {
			t.Run(obj+"."+f.Name, func(t *testing.T) {
				if takesUpload(s, f) {
					// A file travels as multipart, which this JSON sweep
					// cannot send; see import_test.go.
					t.Skip("takes an Upload")
				}
				required := false
				q, vars := s.call(strings.ToLower(obj), f, func(name string, req bool) string {
					required = required || req
					return idFor(f.Name, name)
				})
				before := rowCounts(t, h.db)
				r := h.do(t, bKey, q, vars)
				data, err := json.Marshal(r.Data)
				require.NoError(t, err)
				for _, secret := range secrets {
					require.NotContains(t, string(data), secret, "%s leaks A's data: %s", f.Name, r.Raw)
				}
				codes := errorCodes(r)
				for _, c := range codes {
					require.Contains(t, []string{"NOT_FOUND", "FORBIDDEN", "BAD_USER_INPUT", "RULE_COMPILE_FAILED"}, c, "%s: %s", f.Name, r.Raw)
				}
				if required {
					withRequiredID++
					require.NotEmpty(t, codes, "%s with A's ids must be refused: %s", f.Name, r.Raw)
					if obj == "Mutation" {
						require.Equal(t, before, rowCounts(t, h.db), "%s wrote with A's ids", f.Name)
					}
				}
			})
		}
	}
	require.GreaterOrEqual(t, withRequiredID, 10, "the sweep must reach the fields that take ids")

	// A's ledger is untouched.
	bal, err := a.Store.GuarantorBalances(t.Context(), a.Actor.PracticeID, []ledger.ID{aFam[0].GuarantorID})
	require.NoError(t, err)
	require.Equal(t, "40.00", bal[aFam[0].GuarantorID].Balance.String())
}

// takesUpload reports whether a root field's arguments hold an Upload.
func takesUpload(s ischema, f ischemaFld) bool {
	var holds func(r ischemaRef, depth int) bool
	holds = func(r ischemaRef, depth int) bool {
		n := r.named()
		if n.Name == "Upload" {
			return true
		}
		if depth > 4 {
			return false
		}
		for _, in := range s.types[n.Name].InputFields {
			if holds(in.Type, depth+1) {
				return true
			}
		}
		return false
	}
	for _, a := range f.Args {
		if holds(a.Type, 0) {
			return true
		}
	}
	return false
}
