package graph

import (
	"context"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// node is what node(id:) answers for a loaded object (NOT_FOUND when it
// is gone).
func node[T any](v T, err error) (model.Node, error) {
	p, err := found(v, err)
	if p == nil {
		return nil, err
	}
	return *p, nil
}

// atNodes places the load of a nested connection (relay.graphqls): its
// objects sit at the connection's node site, asked for by the field's
// parent, so their own fields batch as the list field's do.
func atNodes(ctx context.Context) context.Context {
	p := placeOf(ctx)
	return context.WithValue(ctx, placeKey{}, place{site: listSite(ctx), parent: p.parent})
}

// nestedConnection pages a nested list loaded whole (rows, in the list
// field's order) and builds its connection: first/after forward, last/before
// backward; a row's cursor names its id.
func nestedConnection[N, E, C any](rows []N, err error, id func(N) ledger.ID, first *int, after *string, last *int, before *string,
	edge func(string, N) E, conn func(model.PageInfo, int, []E) C) (C, error) {
	var zero C
	if err != nil {
		return zero, err
	}
	lo, hi := 0, len(rows)
	at := func(name string, cursor *string) (int, error) {
		c, err := toLedgerCursor(name, cursor)
		if err != nil || c == nil {
			return -1, err
		}
		for i, r := range rows {
			if id(r) == c.ID {
				return i, nil
			}
		}
		return -1, ledger.Invalid(name, "is not a cursor from this listing")
	}
	if i, err := at("after", after); err != nil {
		return zero, err
	} else if i >= 0 {
		lo = i + 1
	}
	if i, err := at("before", before); err != nil {
		return zero, err
	} else if i >= 0 {
		hi = max(lo, i)
	}
	n, err := pageSize("first", first)
	if err != nil {
		return zero, err
	}
	if first != nil || last == nil {
		hi = min(hi, lo+n)
	}
	if last != nil {
		if n, err = pageSize("last", last); err != nil {
			return zero, err
		}
		lo = max(lo, hi-n)
	}
	page := rows[lo:hi]
	cursors := make([]string, len(page))
	for i, r := range page {
		cursors[i] = fromLedgerCursor(ledger.Cursor{Key: "id", ID: id(r)})
	}
	info := model.PageInfo{HasNextPage: hi < len(rows), HasPreviousPage: lo > 0}
	if len(cursors) > 0 {
		info.StartCursor, info.EndCursor = &cursors[0], &cursors[len(cursors)-1]
	}
	return conn(info, len(rows), edgesOf(page, cursors, edge)), nil
}

// connectionOf builds the connection of a page of a listing: every listing
// and nested list of the API is built by it or nestedConnection.
func connectionOf[N, E, C any](res ledger.Paged[N], page ledger.Page, edge func(string, N) E, conn func(model.PageInfo, int, []E) C) C {
	info, cursors := fromLedgerPageInfo(res, page)
	return conn(info, res.Total, edgesOf(res.Rows, cursors, edge))
}

// edgesOf makes a connection's edges: each row with its cursor.
func edgesOf[N, E any](rows []N, cursors []string, edge func(string, N) E) []E {
	out := make([]E, len(rows))
	for i, r := range rows {
		out[i] = edge(cursors[i], r)
	}
	return out
}

func patientID(p ledger.Patient) ledger.ID     { return p.ID }
func encounterID(e ledger.Encounter) ledger.ID { return e.ID }
func chargeID(c ledger.Charge) ledger.ID       { return c.ID }
func receiptID(r ledger.Receipt) ledger.ID     { return r.ID }
func splitID(s ledger.Split) ledger.ID         { return s.ID }

func patientEdge(c string, n ledger.Patient) model.PatientEdge {
	return model.PatientEdge{Cursor: c, Node: n}
}
func encounterEdge(c string, n ledger.Encounter) model.EncounterEdge {
	return model.EncounterEdge{Cursor: c, Node: n}
}
func chargeEdge(c string, n ledger.Charge) model.ChargeEdge {
	return model.ChargeEdge{Cursor: c, Node: n}
}
func receiptEdge(c string, n ledger.Receipt) model.ReceiptEdge {
	return model.ReceiptEdge{Cursor: c, Node: n}
}
func splitEdge(c string, n ledger.Split) model.SplitEdge { return model.SplitEdge{Cursor: c, Node: n} }

func patientConnection(i model.PageInfo, total int, e []model.PatientEdge) model.PatientConnection {
	return model.PatientConnection{PageInfo: i, TotalCount: total, Edges: e}
}
func encounterConnection(i model.PageInfo, total int, e []model.EncounterEdge) model.EncounterConnection {
	return model.EncounterConnection{PageInfo: i, TotalCount: total, Edges: e}
}
func chargeConnection(i model.PageInfo, total int, e []model.ChargeEdge) model.ChargeConnection {
	return model.ChargeConnection{PageInfo: i, TotalCount: total, Edges: e}
}
func receiptConnection(i model.PageInfo, total int, e []model.ReceiptEdge) model.ReceiptConnection {
	return model.ReceiptConnection{PageInfo: i, TotalCount: total, Edges: e}
}
func splitConnection(i model.PageInfo, total int, e []model.SplitEdge) model.SplitConnection {
	return model.SplitConnection{PageInfo: i, TotalCount: total, Edges: e}
}
