// Package demo loads a small, realistic demo practice through the ledger's
// own operations: a few families with visits over the last six months,
// insurance estimates and payments, adjustments, unallocated money, a
// guarantor holding a credit while a child owes, an overpaid line, a
// prepayment, planned treatment with a treatment-plan prepayment, a refund
// and a reversal. Every posting goes through the same validation as the API.
package demo

import (
	"context"
	"fmt"

	"github.com/paysplit/paysplit/ledger"
)

// Load creates the demo practice and returns it.
func Load(ctx context.Context, l *ledger.Ledger, name string) (ledger.Practice, error) {
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: name})
	if err != nil {
		return p, err
	}
	b := &builder{ctx: ctx, l: l, a: ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}, today: l.Today()}
	b.load()
	return p, b.err
}

// builder posts the demo, keeping the first error so the script reads
// top to bottom.
type builder struct {
	ctx   context.Context
	l     *ledger.Ledger
	a     ledger.Actor
	today ledger.Date
	err   error

	prepay, tpPrepay ledger.ID
}

func (b *builder) daysAgo(n int) *ledger.Date { d := b.today.AddDays(-n); return &d }

func (b *builder) load() {
	drChen := b.provider("Dr. Avery Chen", "CHEN")
	drLopez := b.provider("Dr. Maria Lopez", "LOPEZ")
	main := b.location("Main Street Dental", "MAIN")
	river := b.location("Riverside Clinic", "RIVER")
	if b.err == nil {
		types, err := b.l.Store().UnearnedTypes(b.ctx, b.a.PracticeID)
		b.err = err
		for _, t := range types {
			if t.IsDefault {
				b.prepay = t.ID
			} else if t.Hidden {
				b.tpPrepay = t.ID
			}
		}
	}

	// The Smiths: the guarantor paid for the family at the front desk, so
	// he holds a credit while his daughter owes.
	john := b.patientSelf("John", "Smith", "1978-04-12", "SMITH-J")
	jane := b.patient(john.GuarantorID, "Jane", "Smith", "1980-09-30", "SMITH-JA")
	emma := b.patient(john.GuarantorID, "Emma", "Smith", "2012-02-17", "SMITH-E")
	b.visit(john, drChen, main, 150, line("D0120", "65.00", "52.00"), line("D1110", "110.00", "88.00"))
	b.visit(jane, drLopez, main, 120, line("D0150", "95.00", "76.00"))
	e1 := b.visit(emma, drChen, main, 90, line("D0120", "65.00", "0.00"), line("D1120", "85.00", "0.00"), line("D1208", "40.00", "0.00"))
	b.visit(emma, drChen, river, 30, line("D2391", "180.00", "0.00"))
	b.receipt(ledger.ReceiptPatientPayment, john, "250.00", 88, "check", split("250.00", nil, nil))
	b.receipt(ledger.ReceiptPatientPayment, emma, "40.00", 89, "card", split("40.00", e1[2], nil))

	// Maria Garcia is her own guarantor; insurance paid, she paid the rest.
	maria := b.patientSelf("Maria", "Garcia", "1965-11-03", "GARCIA-M")
	m1 := b.visit(maria, drLopez, river, 140, line("D2740", "1200.00", "600.00"), line("D0220", "35.00", "28.00"))
	b.receipt(ledger.ReceiptInsurancePayment, nil, "628.00", 110, "eft",
		split("600.00", m1[0], nil), split("28.00", m1[1], nil))
	b.receipt(ledger.ReceiptPatientPayment, maria, "607.00", 100, "card",
		split("600.00", m1[0], nil), split("7.00", m1[1], nil))

	// The Nguyens: the guarantor is not a patient. A courtesy discount is
	// attached to Bao's filling; An's cleaning was paid twice, leaving a
	// credit on the line.
	nguyen := b.guarantor("Linh Nguyen", "NGUYEN")
	bao := b.patient(nguyen, "Bao", "Nguyen", "2010-06-21", "NGUYEN-B")
	an := b.patient(nguyen, "An", "Nguyen", "2014-01-09", "NGUYEN-A")
	b1 := b.visit(bao, drLopez, main, 60, line("D2330", "210.00", "120.00"))
	a1 := b.visit(an, drChen, main, 45, line("D1120", "85.00", "0.00"))
	b.adjust(b1[0], "-25.00", "DISC", 60)
	b.receipt(ledger.ReceiptPatientPayment, an, "85.00", 44, "card", split("85.00", a1[0], nil))
	b.receiptForced(an, "85.00", 40, a1[0])

	// Oluwaseun Okafor prepaid, then was refunded part of it; a mistaken
	// payment was reversed.
	olu := b.patientSelf("Oluwaseun", "Okafor", "1990-07-14", "OKAFOR-O")
	b.visit(olu, drLopez, river, 20, line("D0140", "75.00", "0.00"))
	b.receipt(ledger.ReceiptPatientPayment, olu, "300.00", 25, "card", split("300.00", nil, &b.prepay))
	b.receipt(ledger.ReceiptRefund, olu, "-100.00", 10, "card", split("-100.00", nil, &b.prepay))
	wrong := b.receipt(ledger.ReceiptPatientPayment, olu, "75.00", 18, "card", split("75.00", nil, nil))
	if b.err == nil {
		_, b.err = b.l.ReverseReceipt(b.ctx, b.a, ledger.Reversal{ReceiptID: wrong.ID, ReceivedOn: b.daysAgo(17), Note: "keyed on the wrong patient"})
	}

	// Priya Patel has planned treatment and a treatment-plan prepayment.
	priya := b.patientSelf("Priya", "Patel", "1985-03-28", "PATEL-P")
	b.visit(priya, drChen, main, 15, line("D0150", "95.00", "76.00"))
	if b.err == nil {
		_, b.err = b.l.PostEncounter(b.ctx, b.a, ledger.NewEncounter{PatientID: priya.ID, ProviderID: drChen, LocationID: main,
			Note: "treatment plan", Charges: []ledger.NewCharge{{Code: "D2750", Amount: ledger.MustMoney("1100.00"),
				InsuranceEstimate: ledger.MustMoney("550.00"), Status: ledger.StatusPlanned, ServiceDate: b.daysAgo(-30)}},
			ServiceFrom: b.daysAgo(-30)})
	}
	b.receipt(ledger.ReceiptPatientPayment, priya, "200.00", 14, "card", split("200.00", nil, &b.tpPrepay))
}

type lineSpec struct{ code, amount, estimate string }

func line(code, amount, estimate string) lineSpec { return lineSpec{code, amount, estimate} }

type splitSpec struct {
	amount string
	charge *ledger.ID
	typ    *ledger.ID
}

func split(amount string, charge *ledger.ID, typ *ledger.ID) splitSpec {
	return splitSpec{amount, charge, typ}
}

func (b *builder) provider(name, code string) ledger.ID {
	if b.err != nil {
		return ledger.ID{}
	}
	p, err := b.l.CreateProvider(b.ctx, b.a, ledger.NewProvider{Name: name, Code: code})
	b.err = err
	return p.ID
}

func (b *builder) location(name, code string) ledger.ID {
	if b.err != nil {
		return ledger.ID{}
	}
	l, err := b.l.CreateLocation(b.ctx, b.a, ledger.NewLocation{Name: name, Code: code})
	b.err = err
	return l.ID
}

func (b *builder) guarantor(name, ext string) ledger.ID {
	if b.err != nil {
		return ledger.ID{}
	}
	g, err := b.l.CreateGuarantor(b.ctx, b.a, ledger.NewGuarantor{Name: name, ExternalID: ext})
	b.err = err
	return g.ID
}

func (b *builder) patientSelf(first, last, born, ext string) ledger.Patient {
	return b.newPatient(ledger.NewPatient{SelfGuarantor: true, GuarantorExternalID: ext, FirstName: first, LastName: last, BirthDate: date(born), ExternalID: ext})
}

func (b *builder) patient(g ledger.ID, first, last, born, ext string) ledger.Patient {
	return b.newPatient(ledger.NewPatient{GuarantorID: &g, FirstName: first, LastName: last, BirthDate: date(born), ExternalID: ext})
}

func (b *builder) newPatient(in ledger.NewPatient) ledger.Patient {
	if b.err != nil {
		return ledger.Patient{}
	}
	p, err := b.l.CreatePatient(b.ctx, b.a, in)
	b.err = err
	return p
}

func date(s string) *ledger.Date { d := ledger.MustDate(s); return &d }

// visit posts an encounter n days ago and returns its charge ids in order.
func (b *builder) visit(p ledger.Patient, prov, loc ledger.ID, n int, lines ...lineSpec) []*ledger.ID {
	if b.err != nil {
		return make([]*ledger.ID, len(lines))
	}
	in := ledger.NewEncounter{PatientID: p.ID, ProviderID: prov, LocationID: loc, ServiceFrom: b.daysAgo(n)}
	for _, ln := range lines {
		in.Charges = append(in.Charges, ledger.NewCharge{Code: ln.code, Amount: ledger.MustMoney(ln.amount), InsuranceEstimate: ledger.MustMoney(ln.estimate)})
	}
	e, err := b.l.PostEncounter(b.ctx, b.a, in)
	if err != nil {
		b.err = fmt.Errorf("demo visit: %w", err)
		return make([]*ledger.ID, len(lines))
	}
	cs, err := b.l.Store().ChargesOfEncounters(b.ctx, b.a.PracticeID, []ledger.ID{e.ID})
	b.err = err
	ids := make([]*ledger.ID, len(lines))
	for i := range cs {
		ids[i] = &cs[i].ID
	}
	return ids
}

func (b *builder) adjust(charge *ledger.ID, amount, code string, n int) {
	if b.err != nil {
		return
	}
	_, b.err = b.l.PostAdjustment(b.ctx, b.a, ledger.NewAdjustment{AttachedToID: charge, Amount: ledger.MustMoney(amount), Code: code, ServiceDate: b.daysAgo(n)})
}

func (b *builder) receipt(kind ledger.ReceiptKind, p any, amount string, n int, method string, splits ...splitSpec) ledger.Receipt {
	if b.err != nil {
		return ledger.Receipt{}
	}
	in := ledger.NewReceipt{Kind: kind, Amount: ledger.MustMoney(amount), ReceivedOn: b.daysAgo(n), Method: method}
	if pat, ok := p.(ledger.Patient); ok {
		in.PatientID = &pat.ID
	}
	for _, s := range splits {
		in.Splits = append(in.Splits, ledger.NewSplit{Amount: ledger.MustMoney(s.amount), ChargeID: s.charge, UnearnedTypeID: s.typ})
	}
	r, err := b.l.PostReceipt(b.ctx, b.a, in)
	if err != nil {
		b.err = fmt.Errorf("demo receipt: %w", err)
	}
	return r
}

// receiptForced pays a line that is already paid, leaving a credit on it
// (force apply, docs/allocation.md §4.1).
func (b *builder) receiptForced(p ledger.Patient, amount string, n int, charge *ledger.ID) {
	if b.err != nil {
		return
	}
	_, b.err = b.l.PostReceipt(b.ctx, b.a, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &p.ID,
		Amount: ledger.MustMoney(amount), ReceivedOn: b.daysAgo(n), Method: "card",
		Splits: []ledger.NewSplit{{Amount: ledger.MustMoney(amount), ChargeID: charge, Force: true}}})
}
