package aginghub

import (
	"bytes"
	"context"
	"maps"
	"math"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/ledger"
)

// familyRows is every row of a report by family (GUARANTOR, no cursor),
// kept by the hub so that a change in a few families costs a re-read of
// their rows only: the summary and the page are then made from the rows
// here, as the report's statement makes them from all rows.
type familyRows struct {
	base ledger.AgingReport // AsOf, basis, buckets and the rest but rows, summary and page
	rows map[ledger.ID]familyRow
}

// familyRow is a row with its sort keys.
type familyRow struct {
	row    ledger.AgingRow
	cursor ledger.Cursor
	k1, k2 decimal.Decimal
}

// patchable reports whether the group's report is by family and its rows
// can be kept here: grouped by guarantor, from the first page.
func patchable(q ledger.AgingQuery) bool {
	return (q.GroupBy == "" || q.GroupBy == ledger.AgingByGuarantor) && q.Page.After == nil
}

// compute returns the group's report: for a report by family whose rows are
// kept, and a change limited to known families, by re-reading only those
// families' rows; otherwise by computing the whole report.
func (h *Hub) compute(ctx context.Context, a ledger.Actor, g *agingGroup) (ledger.AgingReport, error) {
	g.mu.Lock()
	full, fams := g.full, slices.Collect(maps.Keys(g.families))
	g.full, g.families = false, map[ledger.ID]struct{}{}
	g.mu.Unlock()
	if !patchable(g.query) {
		return h.ledger.Aging(ctx, a, g.query)
	}
	q := g.query
	q.Page = ledger.Page{First: math.MaxInt32}
	stale := g.rows == nil || full || q.AsOf == nil && g.rows.base.AsOf != h.ledger.Today()
	if !stale && len(fams) == 0 { // a new watcher: nothing changed
		return g.rows.report(g.query), nil
	}
	if !stale {
		q.GuarantorIDs = fams
	}
	rep, err := h.ledger.Aging(ctx, a, q)
	if err != nil {
		g.rows = nil // start afresh next time
		return rep, err
	}
	if stale {
		g.rows = &familyRows{base: rep, rows: map[ledger.ID]familyRow{}}
	}
	for _, f := range fams {
		delete(g.rows.rows, f)
	}
	sort := q.Sort
	if sort == "" {
		sort = ledger.SortTotalDesc // the ledger's default
	}
	for i, r := range rep.Rows {
		k1, k2, err := ledger.ParseAgingCursor(sort, rep.Cursors[i].Key)
		if err != nil {
			g.rows = nil
			return rep, err
		}
		g.rows.rows[r.Key] = familyRow{row: r, cursor: rep.Cursors[i], k1: k1, k2: k2}
	}
	return g.rows.report(g.query), nil
}

// report makes the report q asks for from the rows: the summary totals
// every row, the page is the first q.Page.First in the statement's order.
func (f *familyRows) report(q ledger.AgingQuery) ledger.AgingReport {
	rep := f.base
	rep.Rows, rep.Cursors, rep.HasNext, rep.HasPrevious = nil, nil, false, false
	all := slices.SortedFunc(maps.Values(f.rows), func(a, b familyRow) int {
		if c := a.k1.Cmp(b.k1); c != 0 {
			return c
		}
		if c := a.k2.Cmp(b.k2); c != 0 {
			return c
		}
		return bytes.Compare(a.row.Key[:], b.row.Key[:])
	})
	sm := ledger.AgingSummary{Buckets: make([]ledger.Money, len(rep.Buckets)), Accounts: len(all)}
	for _, r := range all {
		for i, b := range r.row.Buckets {
			sm.Buckets[i] = sm.Buckets[i].Add(b)
		}
		sm.Total, sm.InsurancePortion = sm.Total.Add(r.row.Total), sm.InsurancePortion.Add(r.row.InsurancePortion)
		sm.Unallocated, sm.Unearned = sm.Unallocated.Add(r.row.Unallocated), sm.Unearned.Add(r.row.Unearned)
		sm.Credit, sm.Over90 = sm.Credit.Add(r.row.Credit), sm.Over90.Add(r.row.Over90)
	}
	sm.PatientPortion = sm.Total.Sub(sm.InsurancePortion)
	rep.Summary = sm
	if len(all) > 0 { // as the store returns them: nil only when there are no rows
		rep.Rows, rep.Cursors = []ledger.AgingRow{}, []ledger.Cursor{}
	}
	for _, r := range all[:min(len(all), q.Page.First)] {
		rep.Rows, rep.Cursors = append(rep.Rows, r.row), append(rep.Cursors, r.cursor)
	}
	rep.HasNext = len(all) > q.Page.First
	return rep
}
