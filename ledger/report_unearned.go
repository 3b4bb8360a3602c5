package ledger

import (
	"cmp"
	"context"
	"encoding/csv"
	"io"
	"slices"
)

// The Net Unearned Income report (docs/reports.md): the money held for each
// family and patient on unearned types — visible prepayments and hidden
// types such as treatment-plan prepayments — by type, provider and
// location, as of a date. Its visible part is the unearned money of the
// balances and of aging's credits; its hidden part is the balances'
// hiddenUnearned, which no other report shows.

// UnearnedVisibility chooses which unearned types a report shows.
type UnearnedVisibility string

const (
	UnearnedAll     UnearnedVisibility = "ALL" // the default
	UnearnedVisible UnearnedVisibility = "VISIBLE"
	UnearnedHidden  UnearnedVisibility = "HIDDEN"
)

// NetUnearnedQuery asks for the report. Nil filters keep everything.
type NetUnearnedQuery struct {
	AsOf           *Date // default today; never after today
	GuarantorID    *ID
	ProviderID     *ID
	LocationID     *ID
	UnearnedTypeID *ID
	Visibility     UnearnedVisibility
}

// NetUnearnedLine is the money of one bucket: a patient's unearned type at
// a provider and location (rules.NewBucket's UNEARNED bucket), summed as of
// the report's date. Lines that sum to zero are left out.
type NetUnearnedLine struct {
	GuarantorID    ID
	GuarantorName  string
	PatientID      ID
	PatientName    string // "Last, First"
	UnearnedTypeID ID
	UnearnedType   string
	// Hidden: the type is hidden, or the money is attached to a planned
	// procedure (ChargeID), which holds it apart whatever the type.
	Hidden       bool
	ChargeID     *ID
	ProviderID   *ID
	ProviderName string // "" when none
	LocationID   *ID
	LocationName string
	Amount       Money
}

// UnearnedTotals splits an amount into its visible and hidden parts.
type UnearnedTotals struct {
	Total, Visible, Hidden Money
}

func (t *UnearnedTotals) add(l NetUnearnedLine) {
	t.Total = t.Total.Add(l.Amount)
	if l.Hidden {
		t.Hidden = t.Hidden.Add(l.Amount)
	} else {
		t.Visible = t.Visible.Add(l.Amount)
	}
}

// NetUnearnedPatient is one patient's lines and totals.
type NetUnearnedPatient struct {
	PatientID   ID
	PatientName string
	UnearnedTotals
	Lines []NetUnearnedLine
}

// NetUnearnedFamily is one family's patients and totals.
type NetUnearnedFamily struct {
	GuarantorID   ID
	GuarantorName string
	UnearnedTotals
	Patients []NetUnearnedPatient
}

// NetUnearnedTypeTotal is the practice's money on one unearned type.
type NetUnearnedTypeTotal struct {
	UnearnedTypeID ID
	Name           string
	Hidden         bool
	Amount         Money
}

// NetUnearnedReport is the report: families (by name) with their patients
// and lines, the practice's totals and its total per type.
type NetUnearnedReport struct {
	AsOf       Date
	Visibility UnearnedVisibility
	UnearnedTotals
	ByType   []NetUnearnedTypeTotal
	Families []NetUnearnedFamily
}

// ReportReader is the read side of the practice reports in the Store.
type ReportReader interface {
	// NetUnearned returns the report's lines, ordered by family name,
	// guarantor id, patient name, patient id, type name, provider and
	// location names. The query is complete (AsOf and Visibility set).
	NetUnearned(ctx context.Context, practiceID ID, q NetUnearnedQuery) ([]NetUnearnedLine, error)
}

// NetUnearned computes the Net Unearned Income report (any role may).
func (l *Ledger) NetUnearned(ctx context.Context, a Actor, q NetUnearnedQuery) (NetUnearnedReport, error) {
	if q.Visibility == "" {
		q.Visibility = UnearnedAll
	}
	if !slices.Contains([]UnearnedVisibility{UnearnedAll, UnearnedVisible, UnearnedHidden}, q.Visibility) {
		return NetUnearnedReport{}, Invalid("visibility", "must be ALL, VISIBLE or HIDDEN")
	}
	asOf, err := l.reportDate("asOf", q.AsOf)
	if err != nil {
		return NetUnearnedReport{}, err
	}
	q.AsOf = &asOf
	if err := l.checkReportFilters(ctx, a.PracticeID, q.GuarantorID, q.ProviderID, q.LocationID, q.UnearnedTypeID); err != nil {
		return NetUnearnedReport{}, err
	}
	lines, err := l.store.NetUnearned(ctx, a.PracticeID, q)
	if err != nil {
		return NetUnearnedReport{}, err
	}
	return buildNetUnearned(asOf, q.Visibility, lines), nil
}

// reportDate is a report's as-of date: default today, never after it (a
// report of the future would show what has not happened).
func (l *Ledger) reportDate(field string, d *Date) (Date, error) {
	today := l.Today()
	if d == nil {
		return today, nil
	}
	if d.After(today) {
		return Date{}, Invalid(field, "%s is in the future (today is %s)", d, today)
	}
	return *d, nil
}

// checkReportFilters refuses a filter naming a guarantor, provider, location
// or unearned type the practice does not have.
func (l *Ledger) checkReportFilters(ctx context.Context, pid ID, guarantor, provider, location, unearnedType *ID) error {
	if guarantor != nil {
		rows, err := l.store.Guarantors(ctx, pid, []ID{*guarantor})
		if _, err := ref(rows, err, "guarantorId", "guarantor", *guarantor); err != nil {
			return err
		}
	}
	if provider != nil {
		rows, err := l.store.Providers(ctx, pid, []ID{*provider})
		if _, err := ref(rows, err, "providerId", "provider", *provider); err != nil {
			return err
		}
	}
	if location != nil {
		rows, err := l.store.Locations(ctx, pid, []ID{*location})
		if _, err := ref(rows, err, "locationId", "location", *location); err != nil {
			return err
		}
	}
	if unearnedType != nil {
		types, err := l.store.UnearnedTypes(ctx, pid)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(types, func(u UnearnedType) bool { return u.ID == *unearnedType }) {
			return Invalid("unearnedTypeId", "no unearned type with id %s", *unearnedType)
		}
	}
	return nil
}

// buildNetUnearned groups ordered lines into families and patients and
// totals them.
func buildNetUnearned(asOf Date, v UnearnedVisibility, lines []NetUnearnedLine) NetUnearnedReport {
	r := NetUnearnedReport{AsOf: asOf, Visibility: v}
	byType := map[ID]int{}
	for _, ln := range lines {
		r.add(ln)
		if n := len(r.Families); n == 0 || r.Families[n-1].GuarantorID != ln.GuarantorID {
			r.Families = append(r.Families, NetUnearnedFamily{GuarantorID: ln.GuarantorID, GuarantorName: ln.GuarantorName})
		}
		fam := &r.Families[len(r.Families)-1]
		fam.add(ln)
		if n := len(fam.Patients); n == 0 || fam.Patients[n-1].PatientID != ln.PatientID {
			fam.Patients = append(fam.Patients, NetUnearnedPatient{PatientID: ln.PatientID, PatientName: ln.PatientName})
		}
		pat := &fam.Patients[len(fam.Patients)-1]
		pat.add(ln)
		pat.Lines = append(pat.Lines, ln)
		i, ok := byType[ln.UnearnedTypeID]
		if !ok {
			i = len(r.ByType)
			byType[ln.UnearnedTypeID] = i
			r.ByType = append(r.ByType, NetUnearnedTypeTotal{UnearnedTypeID: ln.UnearnedTypeID, Name: ln.UnearnedType, Hidden: ln.Hidden})
		}
		r.ByType[i].Amount = r.ByType[i].Amount.Add(ln.Amount)
	}
	slices.SortFunc(r.ByType, func(a, b NetUnearnedTypeTotal) int { return cmp.Compare(a.Name, b.Name) })
	return r
}

// NetUnearnedCSVHeader is the first row of the report's CSV.
var NetUnearnedCSVHeader = []string{"guarantor_id", "guarantor", "patient_id", "patient", "unearned_type", "hidden",
	"provider", "location", "amount"}

// WriteCSV writes the report as CSV: one row per line, then one TOTAL row
// per type and the practice's total (visible and hidden apart).
func (r NetUnearnedReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(NetUnearnedCSVHeader)
	for _, f := range r.Families {
		for _, p := range f.Patients {
			for _, ln := range p.Lines {
				_ = cw.Write([]string{f.GuarantorID.String(), f.GuarantorName, p.PatientID.String(), p.PatientName,
					ln.UnearnedType, yesNo(ln.Hidden), ln.ProviderName, ln.LocationName, ln.Amount.String()})
			}
		}
	}
	for _, t := range r.ByType {
		_ = cw.Write([]string{"", "TOTAL", "", "", t.Name, yesNo(t.Hidden), "", "", t.Amount.String()})
	}
	_ = cw.Write([]string{"", "TOTAL VISIBLE", "", "", "", "no", "", "", r.Visible.String()})
	_ = cw.Write([]string{"", "TOTAL HIDDEN", "", "", "", "yes", "", "", r.Hidden.String()})
	_ = cw.Write([]string{"", "TOTAL", "", "", "", "", "", "", r.Total.String()})
	cw.Flush()
	return cw.Error()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
