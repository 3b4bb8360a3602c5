package ledgertest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// Today is the date the fixtures' clock stands at.
var Today = ledger.MustDate("2026-06-15")

// Clock returns the fixed instant the fixtures use: noon UTC on Today.
func Clock() time.Time { return time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC) }

// Practice is a practice ready for a test: a ledger with a fixed clock over
// its own database, an ADMIN actor, one provider and one location, and the
// ids of the default and hidden unearned types.
type Practice struct {
	Ledger     *ledger.Ledger
	Store      *postgres.Store
	Actor      ledger.Actor
	Provider   ledger.ID
	Location   ledger.ID
	Prepayment ledger.ID // the default (visible) unearned type
	TPPrepay   ledger.ID // the hidden treatment-plan unearned type
}

// NewPractice creates a practice in db (a database from NewDB).
func NewPractice(t testing.TB, db *sqlx.DB) *Practice {
	t.Helper()
	return AddPractice(t, ledger.New(postgres.NewStore(db), ledger.WithClock(Clock)), "Test Practice")
}

// AddPractice creates another practice on the same ledger.
func AddPractice(t testing.TB, l *ledger.Ledger, name string) *Practice {
	t.Helper()
	ctx := context.Background()
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: name})
	must(t, err)
	f := &Practice{Ledger: l, Store: l.Store().(*postgres.Store), Actor: ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}}
	prov, err := l.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. One"})
	must(t, err)
	loc, err := l.CreateLocation(ctx, f.Actor, ledger.NewLocation{Name: "Main"})
	must(t, err)
	f.Provider, f.Location = prov.ID, loc.ID
	types, err := l.Store().UnearnedTypes(ctx, p.ID)
	must(t, err)
	for _, u := range types {
		if u.IsDefault {
			f.Prepayment = u.ID
		} else if u.Hidden {
			f.TPPrepay = u.ID
		}
	}
	return f
}

// Family creates a guarantor who is the first patient, plus the other
// patients named, and returns all the patients.
func (f *Practice) Family(t testing.TB, first string, others ...string) []ledger.Patient {
	t.Helper()
	ctx := context.Background()
	g, err := f.Ledger.CreatePatient(ctx, f.Actor, ledger.NewPatient{SelfGuarantor: true, FirstName: first, LastName: "Family"})
	must(t, err)
	pats := []ledger.Patient{g}
	for _, o := range others {
		p, err := f.Ledger.CreatePatient(ctx, f.Actor, ledger.NewPatient{GuarantorID: &g.GuarantorID, FirstName: o, LastName: "Family"})
		must(t, err)
		pats = append(pats, p)
	}
	return pats
}

// Visit posts an encounter for p on date with one completed procedure line
// per amount, and returns the charges in order.
func (f *Practice) Visit(t testing.TB, p ledger.Patient, date string, amounts ...string) []ledger.Charge {
	t.Helper()
	ctx := context.Background()
	d := ledger.MustDate(date)
	in := ledger.NewEncounter{PatientID: p.ID, ProviderID: f.Provider, LocationID: f.Location, ServiceFrom: &d}
	for _, a := range amounts {
		in.Charges = append(in.Charges, ledger.NewCharge{Code: "D0120", Amount: ledger.MustMoney(a)})
	}
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, in)
	must(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	must(t, err)
	return cs
}

// Pay posts a patient payment entered on p with the given splits.
func (f *Practice) Pay(t testing.TB, p ledger.Patient, amount string, splits ...ledger.NewSplit) ledger.Receipt {
	t.Helper()
	r, err := f.Ledger.PostReceipt(context.Background(), f.Actor, ledger.NewReceipt{
		Kind: ledger.ReceiptPatientPayment, PatientID: &p.ID, Amount: ledger.MustMoney(amount), Splits: splits})
	must(t, err)
	return r
}

// On is a split of amount on a charge.
func On(amount string, c ledger.Charge) ledger.NewSplit {
	return ledger.NewSplit{Amount: ledger.MustMoney(amount), ChargeID: &c.ID}
}

// Unallocated is a split of amount on nothing.
func Unallocated(amount string) ledger.NewSplit {
	return ledger.NewSplit{Amount: ledger.MustMoney(amount)}
}

// Unearned is a split of amount on an unearned type.
func Unearned(amount string, typ ledger.ID) ledger.NewSplit {
	return ledger.NewSplit{Amount: ledger.MustMoney(amount), UnearnedTypeID: &typ}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
}

// NewID returns a fresh id for rows a test writes directly.
func NewID() ledger.ID { return uuid.Must(uuid.NewV7()) }
