// Package rulestest generates random families for the property tests of
// package rules (planner alone) and package ledger (engine and database):
// one generator, so both test the same shapes of ledger.
package rulestest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// AsOf is the date of every generated family's request; every entry is
// dated on or before it.
var AsOf = rules.NewDate(2024, 6, 30)

// Options choose what a generated family may hold.
type Options struct {
	// Rows keeps to what the ledger's schema holds as rows
	// (ledgertest.Representable): procedures and balance forwards have a
	// provider, balance forwards a non-negative amount, and every split is
	// its own receipt (a payment when positive, a refund when negative).
	Rows bool
}

// Family generates a random family: a guarantor and up to three more
// patients; procedures (some planned, some with negative fees, some with
// insurance estimated, paid or written off) and balance forwards; adjustments of either sign, attached
// (under the procedure's provider or another) or loose; splits of every
// kind — on charges with matching or mismatched buckets, unallocated,
// unearned visible and hidden, refunds — and, in some families, a patient
// whose loose money is positive in one bucket and negative in another
// (converted history, an old refund).
func Family(r *rand.Rand, o Options) rules.Input {
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
	chargeProviders := providers
	if o.Rows {
		chargeProviders = providers[:2]
	}
	var procs []rules.Charge
	for i := range r.IntN(10) {
		c := rules.Charge{
			ID: fmt.Sprintf("c%02d", i), Kind: rules.Procedure, PatientID: pick(patients...),
			ProviderID: pick(chargeProviders...), LocationID: pick(locations...), EncounterID: pick("e1", "e2", "e3"),
			Date: day(), Amount: money(30000),
		}
		switch r.IntN(12) {
		case 0:
			c.Amount = c.Amount.Neg() // negative production
		case 1:
			c.Status = rules.Planned
		case 2:
			c.InsuranceEstimate = money(20000)
		case 3:
			c.InsurancePaid = money(20000)
		case 4:
			c.Kind = rules.BalanceForward
		case 5:
			c.InsuranceWriteOff = money(10000)
		}
		if o.Rows {
			c.EncounterID = "" // one encounter per line
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
			a.PatientID, a.LocationID = p.PatientID, p.LocationID
			if r.IntN(3) > 0 {
				a.ProviderID = p.ProviderID
			}
		}
		in.Charges = append(in.Charges, a)
	}
	split := func(i int) rules.Split {
		s := rules.Split{
			ID: fmt.Sprintf("s%02d", i), ReceiptID: fmt.Sprintf("r%d", r.IntN(4)), Date: day(), Amount: money(25000),
			PatientID: pick(patients...), ProviderID: pick(providers...), LocationID: pick(locations...),
		}
		if o.Rows {
			s.ReceiptID = ""
		}
		return s
	}
	n := r.IntN(9)
	for i := range n {
		s := split(i)
		switch k := r.IntN(10); {
		case k < 4 && len(in.Charges) > 0:
			c := in.Charges[r.IntN(len(in.Charges))]
			s.ChargeID = c.ID
			s.PatientID = c.PatientID
			if r.IntN(3) > 0 {
				s.ProviderID, s.LocationID = c.ProviderID, c.LocationID
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
	// Buckets of both signs: money in one bucket of a patient, a debt in
	// another bucket of the same patient or type.
	if r.IntN(3) == 0 {
		plus, minus := split(n), split(n+1)
		minus.PatientID = pick(plus.PatientID, pick(patients...))
		for minus.ProviderID == plus.ProviderID && minus.LocationID == plus.LocationID {
			minus.ProviderID, minus.LocationID = pick(providers...), pick(locations...)
		}
		if r.IntN(3) == 0 {
			plus.UnearnedTypeID = "prepay"
		}
		if r.IntN(3) == 0 {
			minus.UnearnedTypeID = "prepay"
		}
		minus.Amount = minus.Amount.Neg()
		in.Splits = append(in.Splits, plus, minus)
	}
	in.Request = rules.Request{AsOf: AsOf, PatientID: pick(patients...), GuarantorID: "pt0"}
	if r.IntN(3) == 0 {
		in.Request.Params = map[string]string{
			"negativeProductionIsIncome": fmt.Sprint(r.IntN(2) == 0),
			"unearnedKeepsProvider":      fmt.Sprint(r.IntN(2) == 0),
			"adjustmentsOffset":          fmt.Sprint(r.IntN(2) == 0),
			"allocateBeyondUnearned":     fmt.Sprint(r.IntN(2) == 0),
		}
	}
	return in
}

// Scale is how many times the property tests multiply their number of
// cases: PAYSPLIT_PROPERTY_SCALE, 1 when unset (what CI runs).
func Scale() int {
	n, err := strconv.Atoi(os.Getenv("PAYSPLIT_PROPERTY_SCALE"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
