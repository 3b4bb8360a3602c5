package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/paysplit/paysplit/ledger"
)

// loaders batch every lookup that hangs off an object, so a nested query
// runs a fixed number of SQL statements whatever the page size. A fresh set
// is made for each request (and each subscription event), scoped to the
// caller's practice, so nothing is cached across requests.
type loaders struct {
	provider     *dataloadgen.Loader[ledger.ID, ledger.Provider]
	location     *dataloadgen.Loader[ledger.ID, ledger.Location]
	guarantor    *dataloadgen.Loader[ledger.ID, ledger.Guarantor]
	patient      *dataloadgen.Loader[ledger.ID, ledger.Patient]
	encounter    *dataloadgen.Loader[ledger.ID, ledger.Encounter]
	charge       *dataloadgen.Loader[ledger.ID, ledger.Charge]
	receipt      *dataloadgen.Loader[ledger.ID, ledger.Receipt]
	batch        *dataloadgen.Loader[ledger.ID, ledger.Batch]
	unearnedType *dataloadgen.Loader[ledger.ID, ledger.UnearnedType]

	patientsOfGuarantor *dataloadgen.Loader[ledger.ID, []ledger.Patient]
	encountersOfPatient *dataloadgen.Loader[ledger.ID, []ledger.Encounter]
	chargesOfEncounter  *dataloadgen.Loader[ledger.ID, []ledger.Charge]
	chargesOfPatient    *dataloadgen.Loader[ledger.ID, []ledger.Charge]
	adjustmentsOf       *dataloadgen.Loader[ledger.ID, []ledger.Charge]
	splitsOfCharge      *dataloadgen.Loader[ledger.ID, []ledger.Split]
	splitsOfReceipt     *dataloadgen.Loader[ledger.ID, []ledger.Split]
	splitsOfPatient     *dataloadgen.Loader[ledger.ID, []ledger.Split]
	reversalOf          *dataloadgen.Loader[ledger.ID, ledger.ID]

	chargeBalance    *dataloadgen.Loader[ledger.ID, ledger.ChargeBalance]
	patientBalance   *dataloadgen.Loader[ledger.ID, ledger.Balance]
	guarantorBalance *dataloadgen.Loader[ledger.ID, ledger.Balance]
}

// loaderWait is how long a loader collects keys before it queries. Resolvers
// of one level run concurrently and ask within microseconds of each other.
const loaderWait = 2 * time.Millisecond

func newLoaders(s ledger.Reader, pid ledger.ID) *loaders {
	return &loaders{
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

		chargeBalance:    mapped(s.ChargeBalances, pid),
		patientBalance:   mapped(s.PatientBalances, pid),
		guarantorBalance: mapped(s.GuarantorBalances, pid),
	}
}

// byKey loads rows by id; a missing id is dataloadgen.ErrNotFound.
func byKey[T any](fetch func(context.Context, ledger.ID, []ledger.ID) ([]T, error), pid ledger.ID, id func(T) ledger.ID) *dataloadgen.Loader[ledger.ID, T] {
	return dataloadgen.NewMappedLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID]T, error) {
		rows, err := fetch(ctx, pid, ids)
		if err != nil {
			return nil, err
		}
		m := make(map[ledger.ID]T, len(rows))
		for _, r := range rows {
			m[id(r)] = r
		}
		return m, nil
	}, dataloadgen.WithWait(loaderWait))
}

// groupedBy loads the rows belonging to each parent; a parent with none gets
// an empty list. Rows keep the store's order.
func groupedBy[T any](fetch func(context.Context, ledger.ID, []ledger.ID) ([]T, error), pid ledger.ID, parent func(T) ledger.ID) *dataloadgen.Loader[ledger.ID, []T] {
	return dataloadgen.NewMappedLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID][]T, error) {
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
	}, dataloadgen.WithWait(loaderWait))
}

// mapped wraps a store method that already returns a map.
func mapped[V any](fetch func(context.Context, ledger.ID, []ledger.ID) (map[ledger.ID]V, error), pid ledger.ID) *dataloadgen.Loader[ledger.ID, V] {
	return dataloadgen.NewMappedLoader(func(ctx context.Context, ids []ledger.ID) (map[ledger.ID]V, error) {
		return fetch(ctx, pid, ids)
	}, dataloadgen.WithWait(loaderWait))
}

// optional loads the row for an optional id: nil id, nil row.
func optional[T any](ctx context.Context, l *dataloadgen.Loader[ledger.ID, T], id *ledger.ID) (*T, error) {
	if id == nil {
		return nil, nil
	}
	v, err := l.Load(ctx, *id)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
