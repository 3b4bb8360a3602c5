package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// Converters between GraphQL models and ledger values, named by direction.

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nullable is nil for an empty string: absent optional text is null on the wire.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flag(p *bool) bool { return p != nil && *p }

func toLedgerNewPatient(in model.CreatePatientInput) ledger.NewPatient {
	return ledger.NewPatient{
		GuarantorID: in.GuarantorID, SelfGuarantor: flag(in.SelfGuarantor), GuarantorExternalID: str(in.GuarantorExternalID),
		FirstName: in.FirstName, LastName: in.LastName, BirthDate: in.BirthDate, ExternalID: str(in.ExternalID),
		IdempotencyKey: str(in.IdempotencyKey),
	}
}

func toLedgerNewEncounter(in model.PostEncounterInput) ledger.NewEncounter {
	e := ledger.NewEncounter{
		PatientID: in.PatientID, ProviderID: in.ProviderID, LocationID: in.LocationID,
		ServiceFrom: in.ServiceFrom, ServiceTo: in.ServiceTo, Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}
	if in.Kind != nil {
		e.Kind = *in.Kind
	}
	e.Charges = make([]ledger.NewCharge, len(in.Charges))
	for i, c := range in.Charges {
		nc := ledger.NewCharge{Code: c.Code, ServiceDate: c.ServiceDate, Amount: c.Amount,
			ProviderID: c.ProviderID, LocationID: c.LocationID, Note: str(c.Note)}
		if c.Kind != nil {
			nc.Kind = *c.Kind
		}
		if c.Status != nil {
			nc.Status = *c.Status
		}
		if c.InsuranceEstimate != nil {
			nc.InsuranceEstimate = *c.InsuranceEstimate
		}
		e.Charges[i] = nc
	}
	return e
}

func toLedgerNewAdjustment(in model.PostAdjustmentInput) ledger.NewAdjustment {
	return ledger.NewAdjustment{
		PatientID: in.PatientID, AttachedToID: in.AttachedToID, EncounterID: in.EncounterID, Amount: in.Amount,
		Code: str(in.Code), ServiceDate: in.ServiceDate, ProviderID: in.ProviderID, LocationID: in.LocationID,
		Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}
}

func toLedgerNewReceipt(in model.PostReceiptInput) ledger.NewReceipt {
	r := ledger.NewReceipt{
		Kind: in.Kind, PatientID: in.PatientID, Amount: in.Amount, ReceivedOn: in.ReceivedOn, Method: str(in.Method),
		Reference: str(in.Reference), Note: str(in.Note), BatchID: in.BatchID, EncounterID: in.EncounterID,
		IdempotencyKey: str(in.IdempotencyKey),
	}
	r.Splits = make([]ledger.NewSplit, len(in.Splits))
	for i, s := range in.Splits {
		r.Splits[i] = ledger.NewSplit{
			Amount: s.Amount, PatientID: s.PatientID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID,
			ProviderID: s.ProviderID, LocationID: s.LocationID, CrossFamily: flag(s.CrossFamily), Force: flag(s.Force),
		}
	}
	return r
}

// toLedgerPage checks first (0..MaxPageSize) and decodes the cursor.
func toLedgerPage(first *int, after *string) (ledger.Page, error) {
	n, err := pageSize("first", first)
	if err != nil {
		return ledger.Page{First: defaultPageSize}, err
	}
	c, err := toLedgerCursor("after", after)
	return ledger.Page{First: n, After: c}, err
}

// pageSize is a page's size argument (first or last): between 0 and
// MaxPageSize, defaultPageSize when not given.
func pageSize(name string, n *int) (int, error) {
	if n == nil {
		return defaultPageSize, nil
	}
	if *n < 0 || *n > MaxPageSize {
		return 0, ledger.Invalid(name, "must be between 0 and %d", MaxPageSize)
	}
	return *n, nil
}

// toLedgerCursor decodes a cursor argument (after or before); nil when not
// given.
func toLedgerCursor(name string, s *string) (*ledger.Cursor, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*s)
	var c ledger.Cursor
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&c)
	}
	// Every listing's sort key is non-empty and every row has an id.
	if err != nil || c.Key == "" || c.ID == (ledger.ID{}) {
		return nil, ledger.Invalid(name, "is not a cursor from this listing")
	}
	return &c, nil
}

// maxFilterText bounds filter strings: no stored name or id is longer.
const maxFilterText = 200

// filterText checks a filter string: one no stored name or id could match
// (a control character, invalid UTF-8) or longer than anything stored is bad
// input.
func filterText(field string, p *string) (string, error) {
	s := str(p)
	if err := ledger.CheckText(s, false); err != nil {
		return "", ledger.Invalid(field, "%v", err)
	}
	if n := utf8.RuneCountInString(s); n > maxFilterText {
		return "", ledger.Invalid(field, "is %d characters long; the limit is %d", n, maxFilterText)
	}
	return s, nil
}

// toLedgerGuarantorFilter checks and converts a guarantors filter.
func toLedgerGuarantorFilter(in *model.GuarantorFilter) (ledger.GuarantorFilter, error) {
	var f ledger.GuarantorFilter
	if in == nil {
		return f, nil
	}
	var err error
	if f.Name, err = filterText("filter.name", in.Name); err != nil {
		return f, err
	}
	f.ExternalID, err = filterText("filter.externalId", in.ExternalID)
	return f, err
}

// toLedgerPatientFilter checks and converts a patients filter.
func toLedgerPatientFilter(in *model.PatientFilter) (ledger.PatientFilter, error) {
	var f ledger.PatientFilter
	if in == nil {
		return f, nil
	}
	f.GuarantorID, f.BirthDate = in.GuarantorID, in.BirthDate
	var err error
	if f.Name, err = filterText("filter.name", in.Name); err != nil {
		return f, err
	}
	f.ExternalID, err = filterText("filter.externalId", in.ExternalID)
	return f, err
}

// fromLedgerCursor encodes a keyset position as an opaque cursor.
func fromLedgerCursor(c ledger.Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fromLedgerPageInfo builds Relay page info for a page.
func fromLedgerPageInfo[T any](p ledger.Paged[T], page ledger.Page) (model.PageInfo, []string) {
	cursors := make([]string, len(p.Cursors))
	for i, c := range p.Cursors {
		cursors[i] = fromLedgerCursor(c)
	}
	info := model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: page.After != nil}
	if n := len(cursors); n > 0 {
		info.StartCursor, info.EndCursor = &cursors[0], &cursors[n-1]
	}
	return info, cursors
}
