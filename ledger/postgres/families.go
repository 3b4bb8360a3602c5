package postgres

import (
	"context"
	"slices"

	"github.com/paysplit/paysplit/ledger"
)

// FamilySnapshots loads each family's patients, charges with their
// balances, and splits: three statements whatever the number of families
// (four when the family has planned lines). Planned lines
// that were completed or removed are left out: they are no longer planned
// work (the completed line is the production).
func (s queries) FamilySnapshots(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID) ([]ledger.FamilySnapshot, error) {
	pats, err := s.PatientsOfGuarantors(ctx, practiceID, guarantorIDs)
	if err != nil {
		return nil, err
	}
	patIDs := make([]ledger.ID, len(pats))
	family := make(map[ledger.ID]ledger.ID, len(pats)) // patient → guarantor
	for i, p := range pats {
		patIDs[i], family[p.ID] = p.ID, p.GuarantorID
	}
	charges, err := s.openCharges(ctx, practiceID, patIDs)
	if err != nil {
		return nil, err
	}
	const q = `
SELECT s.id, s.receipt_id, s.amount, s.code, s.patient_id, s.provider_id, s.location_id, s.charge_id, s.unearned_type_id,
       r.kind AS receipt_kind, r.received_on
  FROM splits s
  JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
 WHERE s.practice_id = $1 AND s.patient_id = ANY($2::uuid[])
 ORDER BY r.received_on, s.receipt_id, s.id`
	var splits []ledger.PostedSplit
	if err := s.sel(ctx, &splits, prepared(q), practiceID, idArray(patIDs)); err != nil {
		return nil, translate(err)
	}

	out := make([]ledger.FamilySnapshot, len(guarantorIDs))
	at := make(map[ledger.ID]int, len(guarantorIDs))
	for i, g := range guarantorIDs {
		out[i] = ledger.FamilySnapshot{GuarantorID: g, Balances: map[ledger.ID]ledger.ChargeBalance{}}
		at[g] = i
	}
	for _, p := range pats {
		f := &out[at[p.GuarantorID]]
		f.Patients = append(f.Patients, p)
	}
	for _, c := range charges {
		f := &out[at[family[c.PatientID]]]
		f.Charges = append(f.Charges, c.Charge)
		f.Balances[c.ID] = c.ChargeBalance
	}
	for _, sp := range splits {
		f := &out[at[family[sp.PatientID]]]
		f.Splits = append(f.Splits, sp)
	}
	return out, nil
}

// balancedCharge is a charge and its balance, read together.
type balancedCharge struct {
	ledger.Charge
	ledger.ChargeBalance
}

// openCharges reads the patients' charges with their balances in one
// statement, without the planned lines that have an outcome.
func (s queries) openCharges(ctx context.Context, practiceID ledger.ID, patIDs []ledger.ID) ([]balancedCharge, error) {
	const q = `
WITH fam AS (
    SELECT ` + chargeColumns + ` FROM charges WHERE practice_id = $1 AND patient_id = ANY($2::uuid[])
), ch AS (SELECT id FROM fam), ` + lineBalanceCTEs + `
SELECT fam.*, ` + balColumns + `
  FROM fam JOIN bal USING (id)
 ORDER BY patient_id, service_date, id`
	var charges []balancedCharge
	if err := s.sel(ctx, &charges, prepared(q), practiceID, idArray(patIDs)); err != nil {
		return nil, translate(err)
	}
	var planned []ledger.ID
	for _, c := range charges {
		if c.Status == ledger.StatusPlanned {
			planned = append(planned, c.ID)
		}
	}
	if len(planned) == 0 {
		return charges, nil
	}
	outs, err := s.PlannedOutcomes(ctx, practiceID, planned)
	if err != nil {
		return nil, err
	}
	closed := make(map[ledger.ID]bool, len(outs))
	for _, o := range outs {
		closed[o.ChargeID] = true
	}
	return slices.DeleteFunc(charges, func(c balancedCharge) bool { return closed[c.ID] }), nil
}
