package main

import (
	"context"
	"fmt"
	"time"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/synth"
)

// loadSynthetic is "paysplit demo --size S [--seed N]": it generates a
// synthetic practice as of today, loads it with COPY, and prints an ADMIN
// key for it.
func loadSynthetic(ctx context.Context, d *database, size string, seed uint64) error {
	sz, err := synth.ParseSize(size)
	if err != nil {
		return fmt.Errorf("--size: %w", err)
	}
	l := ledger.New(d.store)
	t0 := time.Now()
	p, err := synth.Generate(synth.Config{Size: sz, Seed: seed, AsOf: l.Today()})
	if err != nil {
		return err
	}
	st, err := synth.Load(ctx, d.owner.DB, p)
	if err != nil {
		return err
	}
	_, token, err := l.IssueKey(ctx, p.Practice.ID, "synthetic admin", ledger.RoleAdmin)
	if err != nil {
		return err
	}
	n := p.Counts()
	fmt.Printf("practice %s: %s\n", p.Practice.ID, p.Practice.Name)
	fmt.Printf("  %d guarantors, %d patients, %d encounters, %d charges, %d receipts, %d splits (%d rows; load %s, in all %s)\n",
		n.Guarantors, n.Patients, n.Encounters, n.Charges, n.Receipts, n.Splits, n.Total(),
		st.Total.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	fmt.Printf("ADMIN key %s\n", token)
	return nil
}
