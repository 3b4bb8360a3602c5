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
)

// family generates a random family: a guarantor and up to three more
// patients, procedures (some planned, some with negative fees, some with
// insurance), adjustments (some attached, some negative), balance forwards,
// and splits of every kind (on charges with matching or mismatched buckets,
// unallocated, unearned visible and hidden, refunds).
func family(r *rand.Rand) rules.Input {
	asOf := rules.NewDate(2024, 6, 30)
	day := func() rules.Date { return rules.NewDate(2024, 1, 1+r.IntN(180)) }
	money := func(maxCents int) decimal.Decimal { return decimal.New(int64(1+r.IntN(maxCents)), -2) }
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	in := rules.Input{
		UnearnedTypes: []rules.UnearnedType{
			{ID: "prepay", Name: "Prepayment", Default: true},
			{ID: "tp", Name: "TP prepayment", Hidden: true},
		},
	}
	np := 1 + r.IntN(4)
	patients := make([]string, np)
	for i := range patients {
		patients[i] = fmt.Sprintf("pt%d", i)
		in.Patients = append(in.Patients, rules.Patient{ID: patients[i], GuarantorID: "pt0"})
	}
	providers := []string{"dr1", "dr2", ""}
	locations := []string{"", "loc1"}
	var procs []rules.Charge
	for i := range r.IntN(10) {
		c := rules.Charge{
			ID: fmt.Sprintf("c%02d", i), Kind: rules.Procedure, PatientID: pick(patients...),
			ProviderID: pick(providers...), LocationID: pick(locations...), EncounterID: pick("e1", "e2", "e3"),
			Date: day(), Amount: money(30000),
		}
		switch r.IntN(12) {
		case 0:
			c.Amount = c.Amount.Neg()
		case 1:
			c.Status = rules.Planned
		case 2:
			c.InsuranceEstimate = money(20000)
		case 3:
			c.InsurancePaid = money(20000)
		case 4:
			c.Kind = rules.BalanceForward
		}
		procs = append(procs, c)
	}
	in.Charges = append(in.Charges, procs...)
	for i := range r.IntN(5) {
		a := rules.Charge{
			ID: fmt.Sprintf("a%02d", i), Kind: rules.Adjustment, PatientID: pick(patients...),
			ProviderID: pick(providers...), LocationID: pick(locations...), Date: day(), Amount: money(8000),
		}
		if r.IntN(2) == 0 {
			a.Amount = a.Amount.Neg()
		}
		if len(procs) > 0 && r.IntN(2) == 0 {
			p := procs[r.IntN(len(procs))]
			a.AttachedTo = p.ID
			if r.IntN(3) > 0 {
				a.PatientID, a.ProviderID, a.LocationID = p.PatientID, p.ProviderID, p.LocationID
			}
		}
		in.Charges = append(in.Charges, a)
	}
	for i := range r.IntN(9) {
		s := rules.Split{
			ID: fmt.Sprintf("s%02d", i), ReceiptID: fmt.Sprintf("r%d", r.IntN(4)), Date: day(), Amount: money(25000),
			PatientID: pick(patients...), ProviderID: pick(providers...), LocationID: pick(locations...),
		}
		switch k := r.IntN(10); {
		case k < 4 && len(in.Charges) > 0:
			c := in.Charges[r.IntN(len(in.Charges))]
			s.ChargeID = c.ID
			if r.IntN(3) > 0 {
				s.PatientID, s.ProviderID, s.LocationID = c.PatientID, c.ProviderID, c.LocationID
			}
		case k < 6:
			s.UnearnedTypeID = "prepay"
		case k < 7:
			s.UnearnedTypeID = "tp"
		}
		if r.IntN(8) == 0 {
			s.Amount = s.Amount.Neg()
		}
		in.Splits = append(in.Splits, s)
	}
	in.Request = rules.Request{AsOf: asOf, PatientID: pick(patients...), GuarantorID: "pt0"}
	if r.IntN(3) == 0 {
		in.Request.Params = map[string]string{
			"negativeProductionIsIncome": fmt.Sprint(r.IntN(2) == 0),
			"unearnedKeepsProvider":      fmt.Sprint(r.IntN(2) == 0),
			"adjustmentsOffset":          fmt.Sprint(r.IntN(2) == 0),
		}
	}
	return in
}

// request sets a random operation on in.
func request(r *rand.Rand, p *rules.Policy, in *rules.Input) {
	ops := []rules.Operation{rules.AutoSplit, rules.Transfer, rules.CreditManagement, rules.AllocateUnearned, rules.Reapply}
	in.Request.Operation = ops[r.IntN(len(ops))]
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
			if r.IntN(2) == 0 {
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
			if c.Status != rules.Planned && r.IntN(3) == 0 {
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
	for n := range 3000 {
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
		flow[m.From.ID] = flow[m.From.ID].Sub(m.Amount)
		flow[m.To.ID] = flow[m.To.ID].Add(m.Amount)
	}
	for _, m := range plan.Moves {
		if m.From.Kind == rules.PaymentBucket || m.Stage == "shortfall" {
			continue
		}
		id := m.From.ID
		require.False(t, start[id].Add(flow[id]).IsNegative(), "%s: source %s over-drawn (start %s, net %s)", where, id, start[id], flow[id])
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
