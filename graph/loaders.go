package graph

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/paysplit/paysplit/ledger"
)

// loaders batch every lookup that hangs off an object, so a nested query
// runs a fixed number of SQL statements whatever the page size. A fresh set
// is made for each request (and each subscription event), scoped to the
// caller's practice, so nothing is cached across requests.
//
// Batching does not rest on timing. Objects sit at sites: a place in the
// query, its path without list indexes ("guarantors.edges.node.patients").
// The objects delivered at a site announce, before any resolver sees them,
// the ids their fields lead to (a guarantor announces its id to the loaders
// keyed by guarantor and its self-patient's id to the patient loader). The
// first Load of an id announced at a site fetches every id announced there in
// one query, which the other resolvers at that site share. So each loader
// runs one query per site of the query, however many objects sit there and
// however the scheduler spreads their resolvers. Ids nothing announced (a
// root field's argument, a mutation's payload) are batched by dataloadgen's
// time window.
type loaders struct {
	provider     *loader[ledger.Provider]
	location     *loader[ledger.Location]
	guarantor    *loader[ledger.Guarantor]
	patient      *loader[ledger.Patient]
	encounter    *loader[ledger.Encounter]
	charge       *loader[ledger.Charge]
	receipt      *loader[ledger.Receipt]
	batch        *loader[ledger.Batch]
	unearnedType *loader[ledger.UnearnedType]

	patientsOfGuarantor *loader[[]ledger.Patient]
	encountersOfPatient *loader[[]ledger.Encounter]
	chargesOfEncounter  *loader[[]ledger.Charge]
	chargesOfPatient    *loader[[]ledger.Charge]
	adjustmentsOf       *loader[[]ledger.Charge]
	splitsOfCharge      *loader[[]ledger.Split]
	splitsOfReceipt     *loader[[]ledger.Split]
	splitsOfPatient     *loader[[]ledger.Split]
	reversalOf          *loader[ledger.ID]
	transfersOfPatient  *loader[[]ledger.TransferRow]    // Txfr rows (credits.graphqls)
	reallocationOf      *loader[ledger.Reallocation]     // by the re-split receipt
	reallocationsOf     *loader[[]ledger.Reallocation]   // by the payment re-split
	outcomeOf           *loader[[]ledger.PlannedOutcome] // by the planned line (treatment_plans.graphqls)
	completionOf        *loader[[]ledger.PlannedOutcome] // by the completed line

	chargeBalance    *loader[ledger.ChargeBalance]
	patientBalance   *loader[ledger.Balance]
	guarantorBalance *loader[ledger.Balance]
	lastStatement    *loader[ledger.StatementRecord] // by guarantor (reports.graphqls)
}

// loaderWait is how long a loader collects ids nothing announced before it
// queries.
const loaderWait = 2 * time.Millisecond

func newLoaders(s ledger.Reader, pid ledger.ID) *loaders {
	ls := &loaders{
		provider:  byKey(s.Providers, pid, func(v ledger.Provider) ledger.ID { return v.ID }),
		location:  byKey(s.Locations, pid, func(v ledger.Location) ledger.ID { return v.ID }),
		guarantor: byKey(s.Guarantors, pid, func(v ledger.Guarantor) ledger.ID { return v.ID }),
		patient:   byKey(s.Patients, pid, func(v ledger.Patient) ledger.ID { return v.ID }),
		encounter: byKey(s.Encounters, pid, func(v ledger.Encounter) ledger.ID { return v.ID }),
		charge:    byKey(s.Charges, pid, func(v ledger.Charge) ledger.ID { return v.ID }),
		receipt:   byKey(s.Receipts, pid, func(v ledger.Receipt) ledger.ID { return v.ID }),
		batch:     byKey(s.Batches, pid, func(v ledger.Batch) ledger.ID { return v.ID }),
		unearnedType: byKey(func(ctx context.Context, pid ledger.ID, _ []ledger.ID) ([]ledger.UnearnedType, error) {
			return s.UnearnedTypes(ctx, pid)
		}, pid, func(v ledger.UnearnedType) ledger.ID { return v.ID }),

		patientsOfGuarantor: groupedBy(s.PatientsOfGuarantors, pid, func(v ledger.Patient) ledger.ID { return v.GuarantorID }),
		encountersOfPatient: groupedBy(s.EncountersOfPatients, pid, func(v ledger.Encounter) ledger.ID { return v.PatientID }),
		chargesOfEncounter:  groupedBy(s.ChargesOfEncounters, pid, func(v ledger.Charge) ledger.ID { return *v.EncounterID }),
		chargesOfPatient:    groupedBy(s.ChargesOfPatients, pid, func(v ledger.Charge) ledger.ID { return v.PatientID }),
		adjustmentsOf:       groupedBy(s.AdjustmentsOf, pid, func(v ledger.Charge) ledger.ID { return *v.AttachedToID }),
		splitsOfCharge:      groupedBy(s.SplitsOfCharges, pid, func(v ledger.Split) ledger.ID { return *v.ChargeID }),
		splitsOfReceipt:     groupedBy(s.SplitsOfReceipts, pid, func(v ledger.Split) ledger.ID { return v.ReceiptID }),
		splitsOfPatient:     groupedBy(s.SplitsOfPatients, pid, func(v ledger.Split) ledger.ID { return v.PatientID }),
		reversalOf:          mapped(s.ReversalsOf, pid),
		transfersOfPatient:  groupedBy(s.TransferRows, pid, func(v ledger.TransferRow) ledger.ID { return v.PatientID }),
		reallocationOf:      byKey(s.Reallocations, pid, func(v ledger.Reallocation) ledger.ID { return v.ReceiptID }),
		reallocationsOf:     groupedBy(s.ReallocationsOf, pid, func(v ledger.Reallocation) ledger.ID { return v.OriginalID }),
		outcomeOf:           groupedBy(s.PlannedOutcomes, pid, func(v ledger.PlannedOutcome) ledger.ID { return v.ChargeID }),
		completionOf: groupedBy(s.PlannedOutcomes, pid, func(v ledger.PlannedOutcome) ledger.ID {
			if v.CompletedChargeID == nil {
				return ledger.ID{}
			}
			return *v.CompletedChargeID
		}),

		chargeBalance:    mapped(s.ChargeBalances, pid),
		patientBalance:   mapped(s.PatientBalances, pid),
		guarantorBalance: mapped(s.GuarantorBalances, pid),
		lastStatement:    mapped(s.LastStatements, pid),
	}

	// What the fields of each kind of object load, by id: the object
	// announces these ids at the site it is delivered to.
	guarantor := func(site string, g ledger.Guarantor) {
		ls.patientsOfGuarantor.expect(site, g.ID)
		ls.guarantorBalance.expect(site, g.ID)
		ls.patient.expect(site, opt(g.SelfPatientID)...)
	}
	patient := func(site string, p ledger.Patient) {
		ls.guarantor.expect(site, p.GuarantorID)
		ls.patientBalance.expect(site, p.ID)
		ls.encountersOfPatient.expect(site, p.ID)
		ls.chargesOfPatient.expect(site, p.ID)
		ls.splitsOfPatient.expect(site, p.ID)
		ls.transfersOfPatient.expect(site, p.ID)
	}
	encounter := func(site string, e ledger.Encounter) {
		ls.patient.expect(site, e.PatientID)
		ls.provider.expect(site, e.ProviderID)
		ls.location.expect(site, e.LocationID)
		ls.chargesOfEncounter.expect(site, e.ID)
	}
	charge := func(site string, c ledger.Charge) {
		ls.patient.expect(site, c.PatientID)
		ls.provider.expect(site, opt(c.ProviderID)...)
		ls.location.expect(site, opt(c.LocationID)...)
		ls.encounter.expect(site, opt(c.EncounterID)...)
		ls.charge.expect(site, opt(c.AttachedToID)...)
		ls.chargeBalance.expect(site, c.ID)
		ls.adjustmentsOf.expect(site, c.ID)
		ls.splitsOfCharge.expect(site, c.ID)
		if c.Status == ledger.StatusPlanned {
			ls.outcomeOf.expect(site, c.ID)
		}
	}
	receipt := func(site string, r ledger.Receipt) {
		ls.patient.expect(site, opt(r.PatientID)...)
		ls.batch.expect(site, opt(r.BatchID)...)
		ls.receipt.expect(site, opt(r.ReversesID)...)
		ls.encounter.expect(site, opt(r.EncounterID)...)
		ls.splitsOfReceipt.expect(site, r.ID)
		ls.reversalOf.expect(site, r.ID)
		ls.reallocationOf.expect(site, r.ID)
		ls.reallocationsOf.expect(site, r.ID)
	}
	split := func(site string, sp ledger.Split) {
		ls.receipt.expect(site, sp.ReceiptID)
		ls.patient.expect(site, sp.PatientID)
		ls.provider.expect(site, opt(sp.ProviderID)...)
		ls.location.expect(site, opt(sp.LocationID)...)
		ls.charge.expect(site, opt(sp.ChargeID)...)
		ls.unearnedType.expect(site, opt(sp.UnearnedTypeID)...)
	}
	ls.guarantor.announce = guarantor
	ls.patient.announce, ls.patientsOfGuarantor.announce = patient, each(patient)
	ls.encounter.announce, ls.encountersOfPatient.announce = encounter, each(encounter)
	ls.charge.announce, ls.chargesOfEncounter.announce, ls.chargesOfPatient.announce, ls.adjustmentsOf.announce =
		charge, each(charge), each(charge), each(charge)
	ls.receipt.announce = receipt
	ls.splitsOfCharge.announce, ls.splitsOfReceipt.announce, ls.splitsOfPatient.announce = each(split), each(split), each(split)
	ls.reversalOf.announce = func(site string, reversal ledger.ID) { ls.receipt.expect(site, reversal) }
	ls.transfersOfPatient.announce = each(func(site string, t ledger.TransferRow) {
		ls.receipt.expect(site, t.ReceiptID)
		ls.patient.expect(site, t.PatientID)
		ls.provider.expect(site, opt(t.ProviderID)...)
		ls.location.expect(site, opt(t.LocationID)...)
	})
	ls.reallocationOf.announce = func(site string, rl ledger.Reallocation) { ls.receipt.expect(site, rl.OriginalID) }
	ls.reallocationsOf.announce = each(func(site string, rl ledger.Reallocation) { ls.receipt.expect(site, rl.ReceiptID) })
	return ls
}

// opt lists an optional id: none or one.
func opt(id *ledger.ID) []ledger.ID {
	if id == nil {
		return nil
	}
	return []ledger.ID{*id}
}

// each announces every object of a list.
func each[T any](f func(string, T)) func(string, []T) {
	return func(site string, rows []T) {
		for _, r := range rows {
			f(site, r)
		}
	}
}

// place is where a Load happens: the site its values are delivered to, and
// the site of the object whose field asks (the parent).
type place struct{ site, parent string }

type placeKey struct{}

// placeOf returns the place of the field being resolved on ctx.
func placeOf(ctx context.Context) place {
	if p, ok := ctx.Value(placeKey{}).(place); ok {
		return p
	}
	var names []string
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Index == nil && fc.Field.Field != nil {
			names = append(names, fc.Field.Alias)
		}
	}
	slices.Reverse(names)
	if len(names) == 0 {
		return place{}
	}
	return place{site: strings.Join(names, "."), parent: strings.Join(names[:len(names)-1], ".")}
}

// step places one of several loads a resolver chains (a guarantor's
// charges are the charges of its patients): the objects loaded on the way
// sit at sites of their own, named after the field's site and the step, so
// that the next step batches over all of them. from and to name the steps
// the load starts from and delivers to; "" is the field's parent and the
// field itself.
func step(ctx context.Context, from, to string) context.Context {
	p := placeOf(ctx)
	at := func(name, otherwise string) string {
		if name == "" {
			return otherwise
		}
		return p.site + "#" + name
	}
	return context.WithValue(ctx, placeKey{}, place{site: at(to, p.site), parent: at(from, p.parent)})
}

// listSite is the site of the nodes of the connection being resolved on ctx.
func listSite(ctx context.Context) string { return placeOf(ctx).site + ".edges.node" }

// loader loads values by id for one request (see loaders).
type loader[V any] struct {
	fetch    func(ctx context.Context, ids []ledger.ID) (map[ledger.ID]V, error)
	window   *dataloadgen.Loader[ledger.ID, V]
	announce func(site string, v V) // what a value's fields will load

	mu        sync.Mutex
	expected  map[string]map[ledger.ID]struct{}   // by parent site: announced, not yet loaded
	flights   map[string]map[ledger.ID]*flight[V] // by parent site: loading or loaded
	announced map[announcement]*sync.Once         // values announced at a site
}

// flight is one fetch; done is closed when rows and err are set.
type flight[V any] struct {
	done chan struct{}
	rows map[ledger.ID]V
	err  error
}

type announcement struct {
	site   string
	flight any
}

func newLoader[V any](fetch func(context.Context, []ledger.ID) (map[ledger.ID]V, error)) *loader[V] {
	return &loader[V]{
		fetch:     fetch,
		window:    dataloadgen.NewMappedLoader(fetch, dataloadgen.WithWait(loaderWait)),
		expected:  map[string]map[ledger.ID]struct{}{},
		flights:   map[string]map[ledger.ID]*flight[V]{},
		announced: map[announcement]*sync.Once{},
	}
}

// expect announces ids that the fields of objects at site will Load.
func (l *loader[V]) expect(site string, ids ...ledger.ID) {
	if len(ids) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	exp := l.expected[site]
	if exp == nil {
		exp = map[ledger.ID]struct{}{}
		l.expected[site] = exp
	}
	for _, id := range ids {
		if _, ok := l.flights[site][id]; !ok {
			exp[id] = struct{}{}
		}
	}
}

// deliver announces values delivered at site by other means than a Load
// (a connection's nodes).
func (l *loader[V]) deliver(site string, vs ...V) {
	if l.announce != nil {
		for _, v := range vs {
			l.announce(site, v)
		}
	}
}

// Load returns the value for id; a missing id is dataloadgen.ErrNotFound.
func (l *loader[V]) Load(ctx context.Context, id ledger.ID) (V, error) {
	p := placeOf(ctx)
	f := l.flight(ctx, p.parent, id)
	<-f.done
	var zero V
	if f.err != nil {
		return zero, f.err
	}
	l.announceAt(p.site, f)
	v, found := f.rows[id]
	if !found {
		return zero, dataloadgen.ErrNotFound
	}
	return v, nil
}

// flight returns the fetch that loads id for a field of an object at
// parent, starting it if need be: with every id announced at parent, or
// through the time window if nothing announced id.
func (l *loader[V]) flight(ctx context.Context, parent string, id ledger.ID) *flight[V] {
	l.mu.Lock()
	fl := l.flights[parent]
	if fl == nil {
		fl = map[ledger.ID]*flight[V]{}
		l.flights[parent] = fl
	}
	if f, ok := fl[id]; ok {
		l.mu.Unlock()
		return f
	}
	f := &flight[V]{done: make(chan struct{})}
	var ids []ledger.ID
	if exp := l.expected[parent]; exp != nil {
		if _, ok := exp[id]; ok {
			for k := range exp {
				ids = append(ids, k)
				fl[k] = f
			}
			delete(l.expected, parent)
		}
	}
	fl[id] = f
	l.mu.Unlock()

	if ids != nil {
		f.rows, f.err = l.fetch(ctx, ids)
		l.mu.Lock()
		for k := range f.rows { // a fetch may return more than it was asked for
			if _, ok := fl[k]; !ok {
				fl[k] = f
			}
		}
		l.mu.Unlock()
	} else {
		v, err := l.window.Load(ctx, id)
		f.rows = map[ledger.ID]V{}
		switch {
		case err == nil:
			f.rows[id] = v
		case !errors.Is(err, dataloadgen.ErrNotFound):
			f.err = err
		}
	}
	close(f.done)
	return f
}

// announceAt announces, once, the values of f delivered at site, before any
// resolver at site returns one of them.
func (l *loader[V]) announceAt(site string, f *flight[V]) {
	if l.announce == nil {
		return
	}
	key := announcement{site, f}
	l.mu.Lock()
	once := l.announced[key]
	if once == nil {
		once = new(sync.Once)
		l.announced[key] = once
	}
	l.mu.Unlock()
	once.Do(func() {
		for _, v := range f.rows {
			l.announce(site, v)
		}
	})
}

// LoadAll loads ids together: it announces them first.
func (l *loader[V]) LoadAll(ctx context.Context, ids []ledger.ID) ([]V, error) {
	l.expect(placeOf(ctx).parent, ids...)
	out := make([]V, len(ids))
	for i, id := range ids {
		v, err := l.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// byKey loads rows by id; a missing id is dataloadgen.ErrNotFound.
func byKey[T any](fetch func(context.Context, ledger.ID, []ledger.ID) ([]T, error), pid ledger.ID, id func(T) ledger.ID) *loader[T] {
	return newLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID]T, error) {
		rows, err := fetch(ctx, pid, ids)
		if err != nil {
			return nil, err
		}
		m := make(map[ledger.ID]T, len(rows))
		for _, r := range rows {
			m[id(r)] = r
		}
		return m, nil
	})
}

// groupedBy loads the rows belonging to each parent; a parent with none gets
// an empty list. Rows keep the store's order.
func groupedBy[T any](fetch func(context.Context, ledger.ID, []ledger.ID) ([]T, error), pid ledger.ID, parent func(T) ledger.ID) *loader[[]T] {
	return newLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID][]T, error) {
		rows, err := fetch(ctx, pid, ids)
		if err != nil {
			return nil, err
		}
		m := make(map[ledger.ID][]T, len(ids))
		for _, id := range ids {
			m[id] = []T{}
		}
		for _, r := range rows {
			m[parent(r)] = append(m[parent(r)], r)
		}
		return m, nil
	})
}

// mapped wraps a store method that already returns a map.
func mapped[V any](fetch func(context.Context, ledger.ID, []ledger.ID) (map[ledger.ID]V, error), pid ledger.ID) *loader[V] {
	return newLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID]V, error) {
		return fetch(ctx, pid, ids)
	})
}

// optional loads the row for an optional id: nil id, nil row.
func optional[T any](ctx context.Context, l *loader[T], id *ledger.ID) (*T, error) {
	if id == nil {
		return nil, nil
	}
	v, err := l.Load(ctx, *id)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
