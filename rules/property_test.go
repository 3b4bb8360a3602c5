package rules_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
	"github.com/paysplit/paysplit/rules/rulestest"
)

// family generates a random family (rulestest.Family).
func family(r *rand.Rand) rules.Input { return rulestest.Family(r, rulestest.Options{}) }

// request sets a random operation on in.
func request(r *rand.Rand, p *rules.Policy, in *rules.Input) {
	ops := []rules.Operation{rules.AutoSplit, rules.Transfer, rules.CreditManagement, rules.AllocateUnearned, rules.Reapply}
	in.Request.Operation = ops[r.IntN(len(ops))]
	if in.Request.Operation != rules.AutoSplit && r.IntN(4) == 0 {
		in.Request.AsOf = rules.NewDate(2024, 5, 1) // past-dated: later splits still count against their buckets
	}
	if p.Name() == "same-guarantor" || p.Name() == "additional-patient" {
		in.Request.Params = nil
		if r.IntN(2) == 0 {
			in.Request.Scope = rules.ScopePatient
		}
	}
	switch in.Request.Operation {
	case rules.AutoSplit:
		in.Request.Amount = decimal.NewNullDecimal(decimal.New(int64(r.IntN(60000)-10000), -2))
	case rules.AllocateUnearned:
		for _, c := range in.Charges {
			if r.IntN(2) == 0 && !c.Date.After(in.Request.AsOf) {
				in.Request.ChargeIDs = append(in.Request.ChargeIDs, c.ID)
			}
		}
		if r.IntN(2) == 0 {
			in.Request.Amount = decimal.NewNullDecimal(decimal.New(int64(r.IntN(30000)), -2))
		}
	case rules.Reapply:
		b, err := p.Balances(*in)
		if err != nil {
			return
		}
		for _, c := range b.Credits {
			if c.Amount.IsPositive() && !c.Hidden && r.IntN(3) > 0 {
				in.Request.Sources = append(in.Request.Sources, c.Bucket.ID)
			}
		}
		for _, c := range in.Charges {
			if c.Status != rules.Planned && !c.Date.After(in.Request.AsOf) && r.IntN(3) == 0 {
				t := rules.Target{ChargeID: c.ID}
				if r.IntN(2) == 0 {
					t.Amount = decimal.NewNullDecimal(decimal.New(int64(r.IntN(10000)), -2))
				}
				in.Request.Force = r.IntN(4) == 0
				in.Request.Targets = append(in.Request.Targets, t)
			}
		}
	}
}

// apply posts the plan's splits into the snapshot.
func apply(in rules.Input, plan rules.Plan) rules.Input {
	out := in
	out.Splits = append([]rules.Split(nil), in.Splits...)
	for i, s := range plan.Splits {
		out.Splits = append(out.Splits, rules.Split{
			ID: fmt.Sprintf("new%03d", i), ReceiptID: "new", Date: in.Request.AsOf, Amount: s.Amount,
			PatientID: s.PatientID, ProviderID: s.ProviderID, LocationID: s.LocationID,
			ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID,
		})
	}
	return out
}

func sum(splits []rules.ProposedSplit) decimal.Decimal {
	total := decimal.Zero
	for _, s := range splits {
		total = total.Add(s.Amount)
	}
	return total
}

// familyTotal is what the family owes: patient portions less patient money.
func familyTotal(in rules.Input) decimal.Decimal {
	total := decimal.Zero
	for _, c := range in.Charges {
		total = total.Add(c.Amount).Sub(c.InsuranceEstimate).Sub(c.InsurancePaid).Sub(c.InsuranceWriteOff)
	}
	for _, s := range in.Splits {
		total = total.Sub(s.Amount)
	}
	return total
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2026))
	var planned, rejected, moved int
	for n := range 3000 * rulestest.Scale() {
		for _, name := range rules.BuiltinNames() {
			p, _ := rules.Builtin(name)
			in := family(r)
			request(r, p, &in)
			where := fmt.Sprintf("case %d, %s, %s", n, name, in.Request.Operation)
			plan, err := p.Plan(in)
			if errors.Is(err, rules.ErrRejected) || (in.Request.Operation == rules.Reapply && errors.Is(err, rules.ErrInvalidInput)) {
				rejected++
				continue
			}
			require.NoError(t, err, where)
			planned++
			if len(plan.Moves) > 0 {
				moved++
			}
			checkPlan(t, in, plan, where)

			// Determinism: again, and with every slice reversed.
			again, err := p.Plan(reversed(in))
			require.NoError(t, err, where)
			a, _ := json.Marshal(plan)
			b, _ := json.Marshal(again)
			require.Equal(t, string(a), string(b), where)

			// Idempotence (docs/design.md, invariant 6): after a transfer or credit
			// management posts, planning it again proposes nothing.
			if in.Request.Operation == rules.Transfer || in.Request.Operation == rules.CreditManagement {
				next, err := p.Plan(apply(in, plan))
				require.NoError(t, err, where)
				require.Empty(t, next.Moves, "%s: second run moved money", where)
			}
		}
	}
	t.Logf("%d plans (%d with moves), %d refused", planned, moved, rejected)
	require.Greater(t, moved, planned/3, "the generator should produce families where money moves")
}

func checkPlan(t *testing.T, in rules.Input, plan rules.Plan, where string) {
	t.Helper()
	// Invariant 1: the splits sum to the receipt; transfers to zero.
	want := decimal.Zero
	if in.Request.Operation == rules.AutoSplit {
		want = in.Request.Amount.Decimal
		if want.IsNegative() && len(plan.Splits) == 0 {
			want = decimal.Zero // rule 2: a refund is not split while a charge owes
		}
	}
	require.True(t, sum(plan.Splits).Equal(want), "%s: splits sum to %s, want %s", where, sum(plan.Splits), want)
	if in.Request.Operation != rules.AutoSplit {
		require.Len(t, plan.Splits, 2*len(plan.Moves), where)
		for i := 0; i < len(plan.Splits); i += 2 {
			require.True(t, plan.Splits[i].Amount.Add(plan.Splits[i+1].Amount).IsZero(), "%s: split pair %d is not zero-sum", where, i/2)
		}
	}
	// Invariant 5: family totals change only by a receipt's amount.
	after := apply(in, plan)
	require.True(t, familyTotal(after).Equal(familyTotal(in).Sub(want)), where)

	// Invariant 4: no source gives more than it has, no charge gets more
	// than it owes (unless forced).
	start := map[string]decimal.Decimal{}
	for _, c := range plan.Balances.Credits {
		start[c.Bucket.ID] = decimal.Max(c.Amount, decimal.Zero)
	}
	flow := map[string]decimal.Decimal{}
	for _, m := range plan.Moves {
		require.True(t, m.Amount.IsPositive() || m.From.Kind == rules.PaymentBucket, "%s: move of %s", where, m.Amount)
		if m.Stage != "shortfall" { // drawn beyond what there is, by the policy's choice
			flow[m.From.ID] = flow[m.From.ID].Sub(m.Amount)
		}
		flow[m.To.ID] = flow[m.To.ID].Add(m.Amount)
	}
	// ... and, as the engine judges loose money, no bucket gives more than
	// its splits of any date hold.
	held := map[string]decimal.Decimal{}
	for _, s := range in.Splits {
		id := rules.SplitBucket(s).ID
		held[id] = held[id].Add(s.Amount)
	}
	for _, m := range plan.Moves {
		if m.From.Kind == rules.PaymentBucket || m.Stage == "shortfall" {
			continue
		}
		id := m.From.ID
		require.False(t, start[id].Add(flow[id]).IsNegative(), "%s: source %s over-drawn (start %s, net %s)", where, id, start[id], flow[id])
		if m.From.Kind != rules.ChargeBucket && flow[id].IsNegative() {
			require.False(t, decimal.Max(held[id], decimal.Zero).Add(flow[id]).IsNegative(), "%s: source %s over-drawn against every split (held %s, net %s)", where, id, held[id], flow[id])
		}
	}
	// Hidden unearned moves only in a transfer's FamilyHidden stage.
	for _, m := range plan.Moves {
		if m.From.Kind == rules.UnearnedBucket && m.From.UnearnedTypeID == "tp" {
			require.Equal(t, rules.Transfer, in.Request.Operation, "%s: hidden unearned moved", where)
			require.Equal(t, "FamilyHidden", m.Stage, where)
		}
	}
	if !in.Request.Force {
		for _, c := range plan.Balances.Charges {
			if flow[c.ChargeID].IsPositive() {
				require.False(t, c.Owed.IsNegative(), "%s: charge %s over-paid (owes %s)", where, c.ChargeID, c.Owed)
			}
		}
	}
}

func reversed(in rules.Input) rules.Input {
	rev := func(n int, swap func(i, j int)) {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			swap(i, j)
		}
	}
	out := in
	out.Charges = append([]rules.Charge(nil), in.Charges...)
	out.Splits = append([]rules.Split(nil), in.Splits...)
	out.Patients = append([]rules.Patient(nil), in.Patients...)
	rev(len(out.Charges), func(i, j int) { out.Charges[i], out.Charges[j] = out.Charges[j], out.Charges[i] })
	rev(len(out.Splits), func(i, j int) { out.Splits[i], out.Splits[j] = out.Splits[j], out.Splits[i] })
	rev(len(out.Patients), func(i, j int) { out.Patients[i], out.Patients[j] = out.Patients[j], out.Patients[i] })
	return out
}
