package ledger

import (
	"context"

	"github.com/paysplit/paysplit/rules"
)

// Manual income transfers (docs/credits.md, "Manual income transfers"): a
// TRANSFER posted with explicit splits. Besides the checks every receipt
// gets (receipts.go), the income must exist where it is taken from — per
// patient, provider, location and unearned type, or charge (checkMoney) —
// and the splits must meet the requirements of the practice's default
// TRANSFER policy, as a plan would: rigorous refuses a split left
// unattached (on no charge and no unearned type).

// checkManualTransfer checks a manual transfer's splits against the
// requirements of the practice's default TRANSFER policy, reading the
// families the splits touch. A refusal is a *rules.RejectedError
// (RULE_REJECTED, naming the requirement).
func (l *Ledger) checkManualTransfer(ctx context.Context, tx Tx, pid ID, r Receipt, splits []Split) error {
	pol, err := l.resolvePolicy(ctx, tx, pid, "", OperationTransfer, "policy")
	if err != nil {
		return err
	}
	patientIDs := make([]ID, len(splits))
	for i, s := range splits {
		patientIDs[i] = s.PatientID
	}
	pats, err := tx.Patients(ctx, pid, patientIDs)
	if err != nil {
		return err
	}
	var gids []ID
	seen := map[ID]bool{}
	for _, p := range pats {
		if !seen[p.GuarantorID] {
			seen[p.GuarantorID] = true
			gids = append(gids, p.GuarantorID)
		}
	}
	snaps, err := loadSnapshots(ctx, tx, pid, gids, "patientId")
	if err != nil {
		return err
	}
	req := rules.Request{Operation: rules.Transfer, AsOf: rulesDate(r.ReceivedOn), GuarantorID: gids[0].String()}
	var in rules.Input
	for i, s := range snaps {
		one := s.input(req)
		if i == 0 {
			in = one
			continue
		}
		in.Patients, in.Charges, in.Splits = append(in.Patients, one.Patients...), append(in.Charges, one.Charges...), append(in.Splits, one.Splits...)
	}
	proposed := make([]rules.ProposedSplit, len(splits))
	for i, s := range splits {
		proposed[i] = rules.ProposedSplit{Amount: s.Amount.Decimal(), PatientID: s.PatientID.String(), ProviderID: idString(s.ProviderID),
			LocationID: idString(s.LocationID), ChargeID: idString(s.ChargeID), UnearnedTypeID: idString(s.UnearnedTypeID),
			Code: string(CodeTransfer), Stage: "manual"}
	}
	ctx, cancel := pol.planning(ctx)
	defer cancel()
	return rulesError(pol.p.CheckSplits(ctx, in, proposed))
}
