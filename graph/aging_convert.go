package graph

import (
	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// toLedgerAgingQuery checks and converts an aging input. The ledger checks
// the rest (bucket limits, balance range, the cursor's sort).
func toLedgerAgingQuery(in model.AgingInput) (ledger.AgingQuery, error) {
	page, err := toLedgerPage(in.First, in.After)
	if err != nil {
		return ledger.AgingQuery{}, err
	}
	q := ledger.AgingQuery{
		AsOf: in.AsOf, BucketLimits: in.Buckets, CreditsToOldest: flag(in.CreditsToOldestBucket),
		MinBalance: in.MinBalance, MaxBalance: in.MaxBalance, MinAgeDays: in.MinAgeDays,
		ProviderID: in.ProviderID, LocationID: in.LocationID, Page: page,
	}
	if in.Buckets != nil && len(in.Buckets) == 0 {
		return q, ledger.Invalid("buckets", "give at least one limit, or leave buckets out for the practice's")
	}
	if in.Basis != nil {
		q.Basis = *in.Basis
	}
	if in.GroupBy != nil {
		q.GroupBy = *in.GroupBy
	}
	if in.Coverage != nil {
		q.Coverage = *in.Coverage
	}
	if in.Sort != nil {
		q.Sort = *in.Sort
	}
	return q, nil
}

// fromLedgerAgingRows builds the rows connection of a report.
func fromLedgerAgingRows(r *ledger.AgingReport) model.AgingRowConnection {
	conn := model.AgingRowConnection{TotalCount: r.Summary.Accounts, Edges: make([]model.AgingRowEdge, len(r.Rows)),
		PageInfo: model.PageInfo{HasNextPage: r.HasNext, HasPreviousPage: r.HasPrevious}}
	for i, row := range r.Rows {
		c := fromLedgerCursor(r.Cursors[i])
		conn.Edges[i] = model.AgingRowEdge{Cursor: c, Node: row}
		if i == 0 {
			conn.PageInfo.StartCursor = &c
		}
		if i == len(r.Rows)-1 {
			conn.PageInfo.EndCursor = &c
		}
	}
	return conn
}

// agingComplexity weighs an aging report by its page size, like a listing.
func agingComplexity(childComplexity int, in model.AgingInput) int {
	n := defaultPageSize
	if in.First != nil && *in.First >= 0 {
		n = *in.First
	}
	return 1 + n*childComplexity
}

// agingKey is the row's key as a list: none for "no provider/location".
func agingKey(row ledger.AgingRow) []ledger.ID {
	if row.Key == (ledger.ID{}) {
		return nil
	}
	return []ledger.ID{row.Key}
}
