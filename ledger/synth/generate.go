package synth

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/paysplit/paysplit/ledger"
)

// Generate builds the practice cfg describes. The same cfg always gives the
// same rows.
func Generate(cfg Config) (*Practice, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sh := shapes[cfg.Size]
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.stream(0)))
	opened := cfg.AsOf.AddDays(-historyDays - 1)
	at := stampOn(rng, opened)
	p := &Practice{Config: cfg, Families: make(map[ledger.ID]ledger.Balance, sh.families)}
	p.Practice = ledger.Practice{ID: newID(rng, at), Name: fmt.Sprintf("Synthetic %s practice (seed %d, as of %s)", cfg.Size, cfg.Seed, cfg.AsOf),
		CreatedAt: at}
	p.UnearnedTypes = []ledger.UnearnedType{
		{ID: newID(rng, at), Name: "PREPAYMENT", IsDefault: true},
		{ID: newID(rng, at), Name: "TP_PREPAYMENT", Hidden: true, IsTreatmentPlan: true},
	}
	for i := range sh.providers {
		d := providerNames[i%len(providerNames)]
		p.Providers = append(p.Providers, ledger.Provider{ID: newID(rng, at), Name: d.name, Code: fmt.Sprintf("%s%d", d.code, i/len(providerNames)+1), CreatedAt: at})
	}
	for i := range sh.locations {
		l := locationNames[i%len(locationNames)]
		p.Locations = append(p.Locations, ledger.Location{ID: newID(rng, at), Name: l.name, Code: fmt.Sprintf("%s%d", l.code, i/len(locationNames)+1), CreatedAt: at})
	}

	// Families are independent: generate them in parallel, each from its
	// own stream, and concatenate them in order.
	fams := make([]*family, sh.families)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				f := newFamily(p, i, rand.New(rand.NewPCG(cfg.Seed, cfg.stream(uint64(i)+1))))
				f.generate()
				fams[i] = f
			}
		})
	}
	for i := range fams {
		next <- i
	}
	close(next)
	wg.Wait()

	var n Counts
	for _, f := range fams {
		n.Patients += len(f.patients)
		n.Encounters += len(f.encounters)
		n.Charges += len(f.charges)
		n.Receipts += len(f.receipts)
		n.Splits += len(f.splits)
	}
	p.Guarantors = make([]ledger.Guarantor, 0, len(fams))
	p.Patients = make([]ledger.Patient, 0, n.Patients)
	p.Encounters = make([]ledger.Encounter, 0, n.Encounters)
	p.Charges = make([]ledger.Charge, 0, n.Charges)
	p.Receipts = make([]ledger.Receipt, 0, n.Receipts)
	p.Splits = make([]ledger.Split, 0, n.Splits)
	for _, f := range fams {
		p.Guarantors = append(p.Guarantors, f.guarantor)
		p.Patients = append(p.Patients, f.patients...)
		p.Encounters = append(p.Encounters, f.encounters...)
		for _, c := range f.charges {
			p.Charges = append(p.Charges, c.Charge)
		}
		p.Receipts = append(p.Receipts, f.receipts...)
		p.Splits = append(p.Splits, f.splits...)
		p.Families[f.guarantor.ID] = f.balance()
		p.Forced = append(p.Forced, f.forced...)
	}
	// A real ledger's rows arrive in time order, and so do their UUIDv7 ids:
	// sort the busy tables by id so they load like that, appending to the
	// right edge of each primary-key index instead of all over it.
	slices.SortFunc(p.Encounters, func(a, b ledger.Encounter) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(p.Charges, func(a, b ledger.Charge) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(p.Receipts, func(a, b ledger.Receipt) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(p.Splits, func(a, b ledger.Split) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return p, nil
}
