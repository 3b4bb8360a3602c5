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

// familyRows is every row of a report by family or by patient (GUARANTOR or
// PATIENT, no cursor), kept by the hub so that a change in a few families
// costs a re-read of their rows only. The rows are kept in the statement's order and their
// sums kept with them, so that patching a family moves one row and adjusts
// the sums, and the summary and the page are then read off, whatever the
// number of rows.
type familyRows struct {
	base   ledger.AgingReport // AsOf, basis, buckets and the rest but rows, summary and page
	rows   map[ledger.ID]*familyRow
	sorted []*familyRow        // in the statement's order
	sum    ledger.AgingSummary // over every row, but Accounts and PatientPortion
}

// familyRow is a row with its sort keys.
type familyRow struct {
	row    ledger.AgingRow
	cursor ledger.Cursor
	k1, k2 decimal.Decimal
}

// compareRows orders rows as the report's statement does: by the sort's
// keys, then by key.
func compareRows(a, b *familyRow) int {
	if c := a.k1.Cmp(b.k1); c != 0 {
		return c
	}
	if c := a.k2.Cmp(b.k2); c != 0 {
		return c
	}
	return bytes.Compare(a.row.Key[:], b.row.Key[:])
}

// patchable reports whether the group's report has rows that belong to one
// family each, and they can be kept here: grouped by guarantor or patient,
// from the first page.
func patchable(q ledger.AgingQuery) bool {
	switch q.GroupBy {
	case "", ledger.AgingByGuarantor, ledger.AgingByPatient:
		return q.Page.After == nil
	}
	return false
}

// rowKeys returns the keys of the rows the families fams may have in a
// report grouped as q is: the families themselves, or their patients.
func (h *Hub) rowKeys(ctx context.Context, a ledger.Actor, q ledger.AgingQuery, fams []ledger.ID) ([]ledger.ID, error) {
	if q.GroupBy != ledger.AgingByPatient {
		return fams, nil
	}
	pats, err := h.ledger.Store().PatientsOfGuarantors(ctx, a.PracticeID, fams)
	keys := make([]ledger.ID, len(pats))
	for i, p := range pats {
		keys[i] = p.ID
	}
	return keys, err
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
	add, err := keyedRows(rep, q.Sort)
	if err != nil {
		g.rows = nil
		return rep, err
	}
	if stale {
		g.rows = newFamilyRows(rep, add)
		return g.rows.report(g.query), nil
	}
	keys, err := h.rowKeys(ctx, a, q, fams)
	if err != nil {
		g.rows = nil
		return rep, err
	}
	g.rows.patch(keys, add)
	return g.rows.report(g.query), nil
}

// keyedRows returns rep's rows with their sort keys.
func keyedRows(rep ledger.AgingReport, sort ledger.AgingSort) ([]*familyRow, error) {
	if sort == "" {
		sort = ledger.SortTotalDesc // the ledger's default
	}
	rows := make([]*familyRow, len(rep.Rows))
	for i, r := range rep.Rows {
		k1, k2, err := ledger.ParseAgingCursor(sort, rep.Cursors[i].Key)
		if err != nil {
			return nil, err
		}
		rows[i] = &familyRow{row: r, cursor: rep.Cursors[i], k1: k1, k2: k2}
	}
	return rows, nil
}

// newFamilyRows keeps every row of rep (given with their keys in rows).
func newFamilyRows(rep ledger.AgingReport, rows []*familyRow) *familyRows {
	f := &familyRows{base: rep, rows: make(map[ledger.ID]*familyRow, len(rows)), sorted: rows,
		sum: ledger.AgingSummary{Buckets: make([]ledger.Money, len(rep.Buckets))}}
	slices.SortFunc(f.sorted, compareRows)
	for _, r := range rows {
		f.rows[r.row.Key] = r
		addRow(&f.sum, r.row, false)
	}
	return f
}

// patch replaces the rows with the keys given by rows (a key without one
// has no row any more). A row read has its key among keys.
func (f *familyRows) patch(keys []ledger.ID, rows []*familyRow) {
	for _, r := range rows {
		keys = append(keys, r.row.Key) // a patient read in its new family
	}
	for _, id := range keys {
		old := f.rows[id]
		if old == nil {
			continue
		}
		if i, ok := slices.BinarySearchFunc(f.sorted, old, compareRows); ok {
			f.sorted = slices.Delete(f.sorted, i, i+1)
		}
		delete(f.rows, id)
		addRow(&f.sum, old.row, true)
	}
	for _, r := range rows {
		i, _ := slices.BinarySearchFunc(f.sorted, r, compareRows)
		f.sorted = slices.Insert(f.sorted, i, r)
		f.rows[r.row.Key] = r
		addRow(&f.sum, r.row, false)
	}
}

// report makes the report q asks for from the rows: the summary totals
// every row, the page is the first q.Page.First in the statement's order.
func (f *familyRows) report(q ledger.AgingQuery) ledger.AgingReport {
	rep := f.base
	rep.Rows, rep.Cursors, rep.HasNext, rep.HasPrevious = nil, nil, false, false
	sm := f.sum
	sm.Buckets = slices.Clone(sm.Buckets) // the report outlives the next patch
	sm.Accounts, sm.PatientPortion = len(f.sorted), sm.Total.Sub(sm.InsurancePortion)
	rep.Summary = sm
	if len(f.sorted) > 0 { // as the store returns them: nil only when there are no rows
		rep.Rows, rep.Cursors = []ledger.AgingRow{}, []ledger.Cursor{}
	}
	for _, r := range f.sorted[:min(len(f.sorted), q.Page.First)] {
		rep.Rows, rep.Cursors = append(rep.Rows, r.row), append(rep.Cursors, r.cursor)
	}
	rep.HasNext = len(f.sorted) > q.Page.First
	return rep
}

// addRow adds a row's amounts to a summary's sums, or takes them off.
func addRow(sm *ledger.AgingSummary, r ledger.AgingRow, remove bool) {
	add := ledger.Money.Add
	if remove {
		add = ledger.Money.Sub
	}
	for i, b := range r.Buckets {
		sm.Buckets[i] = add(sm.Buckets[i], b)
	}
	sm.Total, sm.InsurancePortion = add(sm.Total, r.Total), add(sm.InsurancePortion, r.InsurancePortion)
	sm.Unallocated, sm.Unearned = add(sm.Unallocated, r.Unallocated), add(sm.Unearned, r.Unearned)
	sm.Credit, sm.Over90 = add(sm.Credit, r.Credit), add(sm.Over90, r.Over90)
}
