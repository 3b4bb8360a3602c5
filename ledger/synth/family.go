package synth

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/paysplit/paysplit/ledger"
)

// historyDays is how far back visits go.
const historyDays = 730

// line is a charge and what has happened to it so far.
type line struct {
	ledger.Charge
	posted  bool         // its visit has happened
	adj     ledger.Money // adjustments attached to it
	paid    ledger.Money // every split on it, patient and insurance
	insured bool         // an insurance payment has settled its estimate
}

// owed is what the line still owes (its patient portion), as the database
// computes it: amount plus attached adjustments, minus money on it, minus the
// insurance estimate until insurance has paid. Planned lines and attached
// adjustments owe nothing themselves.
func (l *line) owed() ledger.Money {
	if l.Status == ledger.StatusPlanned || l.AttachedToID != nil {
		return ledger.Money{}
	}
	o := l.Amount.Add(l.adj).Sub(l.paid)
	if !l.insured {
		o = o.Sub(l.InsuranceEstimate)
	}
	return o
}

// pending is the estimate insurance has not settled yet.
func (l *line) pending() ledger.Money {
	if l.insured || l.Status == ledger.StatusPlanned || l.AttachedToID != nil {
		return ledger.Money{}
	}
	return l.InsuranceEstimate
}

// heldKey names money a patient holds off any line: unallocated (zero typ) or
// unearned of one type.
type heldKey struct {
	patient ledger.ID
	typ     ledger.ID
}

// event is something that happens to a family on a date. Events run in date
// order, then rank, then the order they were planned in.
type event struct {
	date ledger.Date
	rank int
	run  func(ledger.Date)
}

const (
	rankVisit = iota
	rankAdjustment
	rankInsurance
	rankPayment
	rankRefund
)

// family generates one guarantor's family and its history.
type family struct {
	p   *Practice
	idx int
	rng *rand.Rand

	guarantor  ledger.Guarantor
	patients   []ledger.Patient
	encounters []ledger.Encounter
	charges    []*line
	receipts   []ledger.Receipt
	splits     []ledger.Split
	held       map[heldKey]ledger.Money
	forced     []ledger.ID
	events     []event
	plan       *[3]int64 // insurance coverage by category; nil when uninsured
}

func newFamily(p *Practice, idx int, rng *rand.Rand) *family {
	return &family{p: p, idx: idx, rng: rng, held: make(map[heldKey]ledger.Money)}
}

func (f *family) asOf() ledger.Date { return f.p.Config.AsOf }

// pct reports true with probability n%.
func (f *family) pct(n int) bool { return f.rng.IntN(100) < n }

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// generate plans the family's people and history, then plays the history in
// date order.
func (f *family) generate() {
	f.people()
	if f.pct(65) {
		plan := plans[f.rng.IntN(len(plans))]
		f.plan = &plan
	}
	loc := pick(f.rng, f.p.Locations)
	for i := range f.patients {
		f.history(&f.patients[i], loc)
	}
	if f.pct(12) {
		f.prepayment()
	}
	slices.SortStableFunc(f.events, func(a, b event) int {
		return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.rank, b.rank))
	})
	for _, e := range f.events {
		e.run(e.date)
	}
}

// people creates the guarantor and patients: one to six patients; most
// guarantors are a patient themselves, the rest are a parent who is not.
func (f *family) people() {
	sizes := []int{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6}
	n := pick(f.rng, sizes)
	last := pick(f.rng, lastNames)
	joined := f.asOf().AddDays(-historyDays + f.rng.IntN(historyDays*2/3))
	created := stampOn(f.rng, joined)
	selfPatient := f.pct(85)

	g := ledger.Guarantor{Name: pick(f.rng, adultFirstNames) + " " + last, ExternalID: fmt.Sprintf("G%06d", f.idx+1), CreatedAt: created}
	g.ID = newID(f.rng, created)
	for k := range n {
		first, born := pick(f.rng, childFirstNames), f.born(2, 17)
		switch {
		case k == 0 && selfPatient: // the guarantor
			first, born = g.Name[:len(g.Name)-len(last)-1], f.born(25, 75)
		case k == 1 && selfPatient && f.pct(50): // a spouse
			first, born = pick(f.rng, adultFirstNames), f.born(25, 75)
		}
		p := ledger.Patient{ID: newID(f.rng, created), GuarantorID: g.ID, FirstName: first, LastName: last, BirthDate: &born,
			ExternalID: fmt.Sprintf("P%06d-%d", f.idx+1, k+1), CreatedAt: created}
		f.patients = append(f.patients, p)
	}
	if selfPatient {
		g.SelfPatientID = &f.patients[0].ID
	}
	f.guarantor = g
}

// born returns a birth date between lo and hi years before the as-of date.
func (f *family) born(lo, hi int) ledger.Date {
	return f.asOf().AddDays(-(lo*365 + f.rng.IntN((hi-lo)*365)))
}

// payer is who enters a payment for p: often the guarantor, when a patient.
func (f *family) payer(p *ledger.Patient) *ledger.Patient {
	if f.guarantor.SelfPatientID != nil && f.pct(60) {
		return &f.patients[0]
	}
	return p
}

// history plans a patient's visits and what follows them, treatment plans
// and stand-alone adjustments.
func (f *family) history(p *ledger.Patient, loc ledger.Location) {
	prov := pick(f.rng, f.p.Providers)
	from := ledger.DateOf(p.CreatedAt)
	span := f.asOf().DaysSince(from) - 1
	if span < 1 {
		span = 1
	}
	visits := 1 + f.rng.IntN(7)
	dates := make([]ledger.Date, visits)
	for i := range dates {
		dates[i] = from.AddDays(1 + f.rng.IntN(span))
	}
	slices.SortFunc(dates, ledger.Date.Compare)
	for _, d := range dates {
		where := loc
		if f.pct(20) {
			where = pick(f.rng, f.p.Locations)
		}
		f.visit(p, prov, where, d)
	}
	if f.pct(4) {
		f.treatmentPlan(p, prov, loc)
	}
	if f.pct(5) {
		f.standaloneAdjustment(p, from.AddDays(1+f.rng.IntN(span)))
	}
}

// visit creates an encounter of one to four completed lines on d and plans
// what follows it: insurance paying the claim, adjustments, the patient
// paying.
func (f *family) visit(p *ledger.Patient, prov ledger.Provider, loc ledger.Location, d ledger.Date) {
	n := pick(f.rng, []int{1, 1, 1, 2, 2, 2, 3, 3, 4})
	lines := f.encounter(p, prov, loc, d, d, n, ledger.StatusCompleted, []int{60, 30, 10})
	f.at(d, rankVisit, func(ledger.Date) {
		for _, l := range lines {
			l.posted = true
		}
	})
	if f.plan != nil && f.pct(90) {
		f.at(d.AddDays(14+f.rng.IntN(47)), rankInsurance, func(d ledger.Date) { f.insurancePayment(lines, d) })
	}
	for _, l := range lines {
		switch {
		case f.pct(6):
			f.at(d.AddDays(f.rng.IntN(31)), rankAdjustment, func(d ledger.Date) { f.discount(l, d) })
		case f.pct(2):
			f.at(d.AddDays(f.rng.IntN(31)), rankAdjustment, func(d ledger.Date) { f.labFee(l, d) })
		}
	}
	if f.pct(80) {
		f.at(d.AddDays(f.rng.IntN(61)), rankPayment, func(d ledger.Date) { f.patientPayment(p, lines, d) })
	}
}

// encounter creates an encounter from..to with n lines whose codes are drawn
// with the given weights per category (preventive, basic, major).
func (f *family) encounter(p *ledger.Patient, prov ledger.Provider, loc ledger.Location, from, to ledger.Date, n int,
	status ledger.ChargeStatus, weights []int) []*line {
	posted := stampOn(f.rng, from)
	if status == ledger.StatusPlanned {
		posted = stampOn(f.rng, f.asOf().AddDays(-1-f.rng.IntN(30)))
	}
	e := ledger.Encounter{ID: newID(f.rng, posted), PatientID: p.ID, ProviderID: prov.ID, LocationID: loc.ID,
		Kind: ledger.EncounterVisit, ServiceFrom: from, ServiceTo: to, CreatedAt: posted}
	if status == ledger.StatusPlanned {
		e.Note = "treatment plan"
	}
	f.encounters = append(f.encounters, e)
	lines := make([]*line, n)
	for i := range lines {
		proc := f.procedure(weights)
		fee := proc.fee
		if f.pct(25) { // this provider charges 10% more, to the dollar
			fee = (fee + fee/10) / 100 * 100
		}
		var est int64
		if f.plan != nil {
			est = fee * f.plan[proc.cat] / 100
		}
		day := from
		if span := to.DaysSince(from); span > 0 {
			day = from.AddDays(f.rng.IntN(span + 1))
		}
		l := &line{Charge: ledger.Charge{ID: newID(f.rng, posted), EncounterID: &e.ID, PatientID: p.ID, ProviderID: &prov.ID,
			LocationID: &loc.ID, Kind: ledger.ChargeProcedure, Status: status, Code: proc.code, ServiceDate: day,
			Amount: ledger.Cents(fee), InsuranceEstimate: ledger.Cents(est), PostedAt: posted}}
		f.charges = append(f.charges, l)
		lines[i] = l
	}
	return lines
}

// procedure draws a procedure, first its category by weight.
func (f *family) procedure(weights []int) procedure {
	r := f.rng.IntN(weights[0] + weights[1] + weights[2])
	cat := major
	switch {
	case r < weights[0]:
		cat = preventive
	case r < weights[0]+weights[1]:
		cat = basic
	}
	return pick(f.rng, byCategory[cat])
}

// at plans an event on d, unless d is after the as-of date.
func (f *family) at(d ledger.Date, rank int, run func(ledger.Date)) {
	if d.After(f.asOf()) {
		return
	}
	f.events = append(f.events, event{date: d, rank: rank, run: run})
}

// insurancePayment pays a claim: 85-100% of each line's estimate (sometimes
// all of it), never more than the line can take.
func (f *family) insurancePayment(lines []*line, d ledger.Date) {
	r := f.newReceipt(ledger.ReceiptInsurancePayment, d, nil, pick(f.rng, []string{"eft", "eft", "check"}))
	r.Reference = fmt.Sprintf("EOB %d-%d", f.idx+1, len(f.receipts)+1)
	for _, l := range lines {
		if l.InsuranceEstimate.IsZero() || l.insured {
			continue
		}
		share := int64(100)
		if f.pct(70) {
			share = 85 + f.rng.Int64N(16)
		}
		pay := ledger.Cents(cents(l.InsuranceEstimate) * share / 100).Min(l.owed().Add(l.pending()))
		if pay.Sign() > 0 {
			f.payLine(r, l, pay, false)
		}
	}
	f.post(r)
}

// discount attaches a courtesy discount of 5-15% of the fee to a line, no
// more than it still owes.
func (f *family) discount(l *line, d ledger.Date) {
	off := ledger.Cents(cents(l.Amount) * (5 + f.rng.Int64N(11)) / 100).Min(l.owed())
	if off.Sign() <= 0 {
		return
	}
	f.attach(l, d, "DISC", off.Neg())
}

// labFee attaches a lab fee of $10-$40 to a line.
func (f *family) labFee(l *line, d ledger.Date) {
	f.attach(l, d, "LAB", ledger.Cents(1000+100*f.rng.Int64N(31)))
}

// attach posts an adjustment on l.
func (f *family) attach(l *line, d ledger.Date, code string, amount ledger.Money) {
	at := stampOn(f.rng, d)
	a := &line{Charge: ledger.Charge{ID: newID(f.rng, at), EncounterID: l.EncounterID, PatientID: l.PatientID,
		ProviderID: l.ProviderID, LocationID: l.LocationID, Kind: ledger.ChargeAdjustment, Status: ledger.StatusCompleted,
		Code: code, ServiceDate: d, Amount: amount, AttachedToID: &l.ID, PostedAt: at}, posted: true}
	f.charges = append(f.charges, a)
	l.adj = l.adj.Add(amount)
}

// standaloneAdjustment plans an adjustment on no line: a courtesy credit
// (negative, leaving a credit) or a finance charge (positive, owed).
func (f *family) standaloneAdjustment(p *ledger.Patient, d ledger.Date) {
	f.at(d, rankAdjustment, func(d ledger.Date) {
		at := stampOn(f.rng, d)
		c := ledger.Charge{ID: newID(f.rng, at), PatientID: p.ID, Kind: ledger.ChargeAdjustment, Status: ledger.StatusCompleted,
			ServiceDate: d, PostedAt: at}
		if f.pct(55) {
			c.Code, c.Amount, c.Note = "CREDIT", ledger.Cents(-(1000 + 100*f.rng.Int64N(41))), "courtesy credit"
		} else {
			c.Code, c.Amount, c.Note = "FIN", ledger.Cents(500+100*f.rng.Int64N(21)), "finance charge"
		}
		f.charges = append(f.charges, &line{Charge: c, posted: true})
	})
}

// treatmentPlan creates planned lines a few weeks ahead and, half the time,
// a treatment-plan prepayment on the hidden unearned type.
func (f *family) treatmentPlan(p *ledger.Patient, prov ledger.Provider, loc ledger.Location) {
	from := f.asOf().AddDays(7 + f.rng.IntN(54))
	lines := f.encounter(p, prov, loc, from, from.AddDays(f.rng.IntN(31)), 1+f.rng.IntN(3), ledger.StatusPlanned, []int{0, 40, 60})
	if !f.pct(50) {
		return
	}
	var total int64
	for _, l := range lines {
		total += cents(l.Amount) - cents(l.InsuranceEstimate)
	}
	amount := max(total*(30+f.rng.Int64N(21))/100/1000*1000, 5000)
	posted := ledger.DateOf(lines[0].PostedAt)
	f.at(posted.AddDays(f.rng.IntN(f.asOf().DaysSince(posted)+1)), rankPayment, func(d ledger.Date) {
		r := f.newReceipt(ledger.ReceiptPatientPayment, d, &p.ID, pick(f.rng, paymentMethods))
		r.Note = "treatment plan deposit"
		f.hold(r, p.ID, f.p.UnearnedTypes[1].ID, ledger.Cents(amount))
		f.post(r)
	})
}

// prepayment plans a prepayment on the default unearned type and, some of
// the time, a refund of part of it later.
func (f *family) prepayment() {
	p := f.payer(&f.patients[f.rng.IntN(len(f.patients))])
	from := ledger.DateOf(f.guarantor.CreatedAt)
	d := from.AddDays(1 + f.rng.IntN(max(f.asOf().DaysSince(from), 1)))
	prepay := f.p.UnearnedTypes[0].ID
	f.at(d, rankPayment, func(d ledger.Date) {
		r := f.newReceipt(ledger.ReceiptPatientPayment, d, &p.ID, pick(f.rng, paymentMethods))
		f.hold(r, p.ID, prepay, ledger.Cents(10000+5000*f.rng.Int64N(9)))
		f.post(r)
	})
	if f.pct(50) {
		f.at(d.AddDays(1+f.rng.IntN(60)), rankRefund, func(d ledger.Date) {
			have := f.held[heldKey{p.ID, prepay}]
			back := ledger.Cents(cents(have) / 2 / 100 * 100)
			if back.Sign() <= 0 {
				return
			}
			r := f.newReceipt(ledger.ReceiptRefund, d, &p.ID, "card")
			f.hold(r, p.ID, prepay, back.Neg())
			f.post(r)
		})
	}
}

// patientPayment is the family paying after a visit, in one of the ways
// front desks take money.
func (f *family) patientPayment(p *ledger.Patient, visit []*line, d ledger.Date) {
	payer := f.payer(p)
	r := f.newReceipt(ledger.ReceiptPatientPayment, d, &payer.ID, pick(f.rng, paymentMethods))
	if r.Method == "check" {
		r.Reference = fmt.Sprintf("CHK %d", 1000+f.rng.IntN(9000))
	}
	switch n := f.rng.IntN(100); {
	case n < 55: // the visit, in full
		for _, l := range visit {
			if o := l.owed(); o.Sign() > 0 {
				f.payLine(r, l, o, false)
			}
		}
	case n < 70: // half of each line of the visit
		for _, l := range visit {
			if half := ledger.Cents(cents(l.owed()) / 2); half.Sign() > 0 {
				f.payLine(r, l, half, false)
			}
		}
	case n >= 98: // a line paid twice: forced, leaving a credit on it
		l := visit[f.rng.IntN(len(visit))]
		f.payLine(r, l, l.owed().Max(ledger.Money{}).Add(ledger.Cents(500+100*f.rng.Int64N(46))), true)
		f.forced = append(f.forced, l.ID)
	case n < 85 || f.guarantor.SelfPatientID == nil || len(f.patients) == 1: // a round sum, oldest lines first
		f.payOldest(r, payer, ledger.Cents(100*pick(f.rng, []int64{20, 25, 50, 75, 100, 150, 200, 250, 300})))
	default: // the guarantor leaves money on account while dependants owe
		r.PatientID = &f.patients[0].ID
		f.hold(r, f.patients[0].ID, ledger.ID{}, ledger.Cents(100*pick(f.rng, []int64{50, 100, 150, 200})))
	}
	f.post(r)
}

// payOldest spreads amount over the family's lines that owe, oldest first,
// and leaves what is left unallocated on the payer.
func (f *family) payOldest(r *ledger.Receipt, payer *ledger.Patient, amount ledger.Money) {
	var open []*line
	for _, l := range f.charges {
		if l.posted && !l.ServiceDate.After(r.ReceivedOn) && l.owed().Sign() > 0 {
			open = append(open, l)
		}
	}
	slices.SortStableFunc(open, func(a, b *line) int { return a.ServiceDate.Compare(b.ServiceDate) })
	for _, l := range open {
		if amount.Sign() == 0 {
			break
		}
		pay := l.owed().Min(amount)
		f.payLine(r, l, pay, false)
		amount = amount.Sub(pay)
	}
	if amount.Sign() > 0 {
		f.hold(r, payer.ID, ledger.ID{}, amount)
	}
}

// newReceipt starts a receipt; splits are added with payLine and hold, and
// post finishes it.
func (f *family) newReceipt(kind ledger.ReceiptKind, d ledger.Date, patient *ledger.ID, method string) *ledger.Receipt {
	at := stampOn(f.rng, d)
	return &ledger.Receipt{ID: newID(f.rng, at), Kind: kind, ReceivedOn: d, PatientID: patient, Method: method, PostedAt: at}
}

var splitCodes = map[ledger.ReceiptKind]ledger.SplitCode{
	ledger.ReceiptPatientPayment:   ledger.CodePayment,
	ledger.ReceiptInsurancePayment: ledger.CodeInsurance,
	ledger.ReceiptRefund:           ledger.CodeRefund,
}

// payLine puts a positive split of amount on l. Only a forced split may pay
// more than the line owes (for insurance: owes plus its pending estimate).
func (f *family) payLine(r *ledger.Receipt, l *line, amount ledger.Money, force bool) {
	room := l.owed()
	if r.Kind == ledger.ReceiptInsurancePayment {
		room = room.Add(l.pending())
	}
	if amount.Sign() <= 0 || l.Status != ledger.StatusCompleted || amount.Cmp(room) > 0 && !force {
		panic(fmt.Sprintf("synth: %s of %s on line %s, which can take %s", r.Kind, amount, l.ID, room))
	}
	f.split(r, amount, l.PatientID, func(s *ledger.Split) {
		s.ChargeID, s.ProviderID, s.LocationID = &l.ID, l.ProviderID, l.LocationID
	})
	l.paid = l.paid.Add(amount)
	if r.Kind == ledger.ReceiptInsurancePayment {
		l.insured = true
	}
}

// hold puts amount on a patient's unallocated money (zero typ) or unearned
// money of a type; a negative amount takes it back, never more than is there.
func (f *family) hold(r *ledger.Receipt, patient, typ ledger.ID, amount ledger.Money) {
	k := heldKey{patient, typ}
	if amount.IsZero() || amount.Sign() < 0 && amount.Neg().Cmp(f.held[k]) > 0 {
		panic(fmt.Sprintf("synth: %s of %s from patient %s's %s, which holds %s", r.Kind, amount, patient, typ, f.held[k]))
	}
	f.split(r, amount, patient, func(s *ledger.Split) {
		if typ != (ledger.ID{}) {
			s.UnearnedTypeID = &typ
		}
	})
	f.held[k] = f.held[k].Add(amount)
}

func (f *family) split(r *ledger.Receipt, amount ledger.Money, patient ledger.ID, target func(*ledger.Split)) {
	s := ledger.Split{ID: newID(f.rng, r.PostedAt), ReceiptID: r.ID, Amount: amount, Code: splitCodes[r.Kind], PatientID: patient}
	target(&s)
	f.splits = append(f.splits, s)
	r.Amount = r.Amount.Add(amount)
}

// post records r if it has any splits; its amount is their sum.
func (f *family) post(r *ledger.Receipt) {
	if !r.Amount.IsZero() {
		f.receipts = append(f.receipts, *r)
	}
}

// balance is the family's balance as the database computes it.
func (f *family) balance() ledger.Balance {
	var b ledger.Balance
	var lineCredit ledger.Money
	for _, l := range f.charges {
		if o := l.owed(); o.Sign() > 0 {
			b.Owed = b.Owed.Add(o)
		} else {
			lineCredit = lineCredit.Sub(o)
		}
	}
	for k, m := range f.held {
		switch k.typ {
		case ledger.ID{}:
			b.Unallocated = b.Unallocated.Add(m)
		case f.p.UnearnedTypes[0].ID:
			b.Unearned = b.Unearned.Add(m)
		default:
			b.HiddenUnearned = b.HiddenUnearned.Add(m)
		}
	}
	b.Credit = lineCredit.Add(b.Unallocated).Add(b.Unearned)
	b.Balance = b.Owed.Sub(b.Credit)
	return b
}

// cents is m in cents; m has two places, so this is exact.
func cents(m ledger.Money) int64 { return m.Decimal().Shift(2).IntPart() }
