package synth

import (
	"archive/zip"
	"encoding/csv"
	"io"

	"github.com/paysplit/paysplit/ledger"
)

// WriteHistory writes the practice as a history set (docs/conversion.md):
// a zip with one CSV per entity, keyed as an old system would key them —
// providers and locations by code, unearned types by name, families and
// patients by external id, everything else by the row's id — and each
// family's balance as the generator computed it. Rows are written as they
// are read from the practice, so the zip streams to w.
func WriteHistory(w io.Writer, p *Practice) error {
	zw := zip.NewWriter(w)
	h := &historyWriter{p: p, provCode: map[ledger.ID]string{}, locCode: map[ledger.ID]string{}, typeName: map[ledger.ID]string{},
		patExt: map[ledger.ID]string{}, adjustment: map[ledger.ID]bool{}}
	for _, f := range ledger.HistoryFiles {
		fw, err := zw.Create(f.Name)
		if err != nil {
			return err
		}
		cw := csv.NewWriter(fw)
		header := make([]string, len(f.Columns))
		for i, c := range f.Columns {
			header[i] = c.Name
		}
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := h.rows(f.Entity, func(vals map[string]string) error {
			rec := make([]string, len(f.Columns))
			for i, c := range f.Columns {
				rec[i] = vals[c.Name]
			}
			return cw.Write(rec)
		}); err != nil {
			return err
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return zw.Close()
}

// historyWriter maps the practice's rows to a history set's.
type historyWriter struct {
	p                 *Practice
	provCode, locCode map[ledger.ID]string
	typeName, patExt  map[ledger.ID]string
	adjustment        map[ledger.ID]bool
}

func idOr(m map[ledger.ID]string, id *ledger.ID) string {
	if id == nil {
		return ""
	}
	return m[*id]
}

func ref(id *ledger.ID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// rows hands each row of an entity's file to put.
func (h *historyWriter) rows(entity string, put func(map[string]string) error) error {
	p := h.p
	switch entity {
	case ledger.EntityProvider:
		for _, v := range p.Providers {
			h.provCode[v.ID] = v.Code
			if err := put(map[string]string{"provider_id": v.Code, "name": v.Name, "code": v.Code}); err != nil {
				return err
			}
		}
	case ledger.EntityLocation:
		for _, v := range p.Locations {
			h.locCode[v.ID] = v.Code
			if err := put(map[string]string{"location_id": v.Code, "name": v.Name, "code": v.Code}); err != nil {
				return err
			}
		}
	case ledger.EntityUnearnedType:
		for _, v := range p.UnearnedTypes {
			h.typeName[v.ID] = v.Name
			if err := put(map[string]string{"unearned_type_id": v.Name, "name": v.Name, "hidden": yes(v.Hidden), "treatment_plan": yes(v.IsTreatmentPlan)}); err != nil {
				return err
			}
		}
	case ledger.EntityFamily:
		for _, g := range p.Guarantors {
			b := p.Families[g.ID]
			if err := put(map[string]string{"family_id": g.ExternalID, "name": g.Name, "balance": b.Balance.Sub(b.HiddenUnearned).String()}); err != nil {
				return err
			}
		}
	case ledger.EntityPatient:
		return h.patients(put)
	case ledger.EntityProcedure, ledger.EntityAdjustment:
		return h.charges(entity, put)
	case ledger.EntityReceipt:
		for _, r := range p.Receipts {
			v := map[string]string{"receipt_id": r.ID.String(), "kind": string(r.Kind), "date": r.ReceivedOn.String(), "amount": r.Amount.String(),
				"patient_id": idOr(h.patExt, r.PatientID), "method": r.Method, "reference": r.Reference}
			if err := put(v); err != nil {
				return err
			}
		}
	case ledger.EntitySplit:
		for _, s := range p.Splits {
			v := map[string]string{"split_id": s.ID.String(), "receipt_id": s.ReceiptID.String(), "amount": s.Amount.String(),
				"unearned_type_id": idOr(h.typeName, s.UnearnedTypeID), "patient_id": h.patExt[s.PatientID],
				"provider_id": idOr(h.provCode, s.ProviderID), "location_id": idOr(h.locCode, s.LocationID)}
			if s.ChargeID != nil && h.adjustment[*s.ChargeID] {
				v["adjustment_id"] = s.ChargeID.String()
			} else {
				v["procedure_id"] = ref(s.ChargeID)
			}
			if err := put(v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *historyWriter) patients(put func(map[string]string) error) error {
	fam := make(map[ledger.ID]ledger.Guarantor, len(h.p.Guarantors))
	for _, g := range h.p.Guarantors {
		fam[g.ID] = g
	}
	for _, pt := range h.p.Patients {
		h.patExt[pt.ID] = pt.ExternalID
		g := fam[pt.GuarantorID]
		v := map[string]string{"patient_id": pt.ExternalID, "family_id": g.ExternalID, "last_name": pt.LastName, "first_name": pt.FirstName,
			"guarantor": yes(g.SelfPatientID != nil && *g.SelfPatientID == pt.ID)}
		if pt.BirthDate != nil {
			v["birth_date"] = pt.BirthDate.String()
		}
		if err := put(v); err != nil {
			return err
		}
	}
	return nil
}

// charges writes the procedures (entity procedure) or the adjustments.
func (h *historyWriter) charges(entity string, put func(map[string]string) error) error {
	for _, c := range h.p.Charges {
		var v map[string]string
		switch {
		case entity == ledger.EntityProcedure && c.Kind == ledger.ChargeProcedure:
			v = map[string]string{"procedure_id": c.ID.String(), "encounter_id": ref(c.EncounterID), "patient_id": h.patExt[c.PatientID],
				"provider_id": idOr(h.provCode, c.ProviderID), "location_id": idOr(h.locCode, c.LocationID), "service_date": c.ServiceDate.String(),
				"code": c.Code, "fee": c.Amount.String(), "status": string(c.Status), "insurance_estimate": c.InsuranceEstimate.String(), "memo": c.Note}
		case entity == ledger.EntityAdjustment && c.Kind == ledger.ChargeAdjustment:
			h.adjustment[c.ID] = true
			v = map[string]string{"adjustment_id": c.ID.String(), "patient_id": h.patExt[c.PatientID], "date": c.ServiceDate.String(),
				"amount": c.Amount.String(), "procedure_id": ref(c.AttachedToID), "code": c.Code,
				"provider_id": idOr(h.provCode, c.ProviderID), "location_id": idOr(h.locCode, c.LocationID), "memo": c.Note}
		default:
			continue
		}
		if err := put(v); err != nil {
			return err
		}
	}
	return nil
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
