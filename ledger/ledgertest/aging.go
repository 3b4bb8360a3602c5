package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// AgingScenario is a small practice, built by BuildAging, whose aging is
// worked out by hand in docs/aging.md ("A worked example"). Today is
// 2026-06-15.
//
// The Smith family (guarantor Pat, and Kid):
//   - C1: Pat, 100.00, served 2026-01-25 but entered 2026-03-20, Dr. One at Main;
//   - C2: Pat, 80.00 with a 60.00 insurance estimate, served 2026-04-10, Dr. One
//     at Main; insurance paid 50.00 on 2026-06-01 (which settles the estimate);
//   - C3: Kid, 200.00, served 2026-04-01, Dr. Two at Annex; Kid paid 50.00 on it
//     on 2026-04-20;
//   - Pat paid 25.00 on nothing (unallocated) on 2026-06-10;
//   - Kid prepaid 50.00 on 2026-06-12: 10.00 visible prepayment and 40.00 on the
//     hidden treatment-plan type.
//
// Solo (self-pay, own guarantor): 3.00 served 2026-03-01, Dr. One at Main.
// Credit (own guarantor): 20.00 served 2026-06-01, overpaid by a forced 30.00
// payment that day: a line credit of 10.00.
type AgingScenario struct {
	*Practice
	ProviderTwo, Annex ledger.ID
	Pat, Kid           ledger.Patient
	Solo, Credit       ledger.Patient
	C1, C2, C3         ledger.Charge
	SoloCharge         ledger.Charge
	CreditCharge       ledger.Charge
	InsurancePayment   ledger.Receipt
}

// BuildAging creates the scenario in a new practice of f's ledger.
func BuildAging(t testing.TB, f *Practice) *AgingScenario {
	t.Helper()
	ctx := context.Background()
	s := &AgingScenario{Practice: f}
	prov, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Two"})
	must(t, err)
	loc, err := f.Ledger.CreateLocation(ctx, f.Actor, ledger.NewLocation{Name: "Annex"})
	must(t, err)
	s.ProviderTwo, s.Annex = prov.ID, loc.ID

	smith := f.Family(t, "Pat", "Kid")
	s.Pat, s.Kid = smith[0], smith[1]
	s.Solo = f.Family(t, "Solo")[0]
	s.Credit = f.Family(t, "Credit")[0]

	// C1 is entered on 2026-03-20 by a ledger whose clock stands then.
	earlier := ledger.New(f.Store, ledger.WithClock(func() time.Time { return time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC) }))
	s.C1 = visit(t, earlier, f, s.Pat, "2026-01-25", ledger.NewCharge{Code: "D0150", Amount: ledger.MustMoney("100.00")})
	s.C2 = visit(t, f.Ledger, f, s.Pat, "2026-04-10", ledger.NewCharge{Code: "D2740", Amount: ledger.MustMoney("80.00"),
		InsuranceEstimate: ledger.MustMoney("60.00")})
	s.C3 = visit(t, f.Ledger, f, s.Kid, "2026-04-01", ledger.NewCharge{Code: "D2391", Amount: ledger.MustMoney("200.00"),
		ProviderID: &s.ProviderTwo, LocationID: &s.Annex})
	s.SoloCharge = visit(t, f.Ledger, f, s.Solo, "2026-03-01", ledger.NewCharge{Code: "D1110", Amount: ledger.MustMoney("3.00")})
	s.CreditCharge = visit(t, f.Ledger, f, s.Credit, "2026-06-01", ledger.NewCharge{Code: "D1110", Amount: ledger.MustMoney("20.00")})

	s.InsurancePayment = f.Receive(t, ledger.ReceiptInsurancePayment, nil, "50.00", "2026-06-01", On("50.00", s.C2))
	f.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "50.00", "2026-04-20", On("50.00", s.C3))
	f.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "25.00", "2026-06-10", Unallocated("25.00"))
	f.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "50.00", "2026-06-12",
		Unearned("10.00", f.Prepayment), Unearned("40.00", f.TPPrepay))
	forced := On("30.00", s.CreditCharge)
	forced.Force = true
	f.Receive(t, ledger.ReceiptPatientPayment, &s.Credit, "30.00", "2026-06-01", forced)
	return s
}

// Receive posts a receipt of kind dated on with the given splits.
func (f *Practice) Receive(t testing.TB, kind ledger.ReceiptKind, p *ledger.Patient, amount, on string, splits ...ledger.NewSplit) ledger.Receipt {
	t.Helper()
	d := ledger.MustDate(on)
	in := ledger.NewReceipt{Kind: kind, Amount: ledger.MustMoney(amount), ReceivedOn: &d, Splits: splits}
	if p != nil {
		in.PatientID = &p.ID
	}
	r, err := f.Ledger.PostReceipt(context.Background(), f.Actor, in)
	must(t, err)
	return r
}

// visit posts a one-line encounter through l (which may have its own clock).
func visit(t testing.TB, l *ledger.Ledger, f *Practice, p ledger.Patient, date string, c ledger.NewCharge) ledger.Charge {
	t.Helper()
	ctx := context.Background()
	d := ledger.MustDate(date)
	prov, loc := f.Provider, f.Location
	if c.ProviderID != nil {
		prov = *c.ProviderID
	}
	if c.LocationID != nil {
		loc = *c.LocationID
	}
	e, err := l.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: p.ID, ProviderID: prov, LocationID: loc,
		ServiceFrom: &d, Charges: []ledger.NewCharge{c}})
	must(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	must(t, err)
	return cs[0]
}
