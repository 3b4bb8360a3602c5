package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// PlannedOutcomes lists the outcomes whose planned or completed line is
// among chargeIDs.
func (s queries) PlannedOutcomes(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) ([]ledger.PlannedOutcome, error) {
	const q = `SELECT charge_id, outcome, outcome_on AS "on", completed_charge_id, coalesce(note, '') AS note, posted_at
	             FROM planned_outcomes
	            WHERE practice_id = $1 AND (charge_id = ANY($2::uuid[]) OR completed_charge_id = ANY($2::uuid[]))`
	var rows []ledger.PlannedOutcome
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)))
}

// InsertPlannedOutcome records what became of a planned line; a second
// outcome for one line violates the primary key.
func (t *txStore) InsertPlannedOutcome(ctx context.Context, practiceID ledger.ID, o ledger.PlannedOutcome) error {
	const q = `INSERT INTO planned_outcomes (practice_id, charge_id, outcome, outcome_on, completed_charge_id, note, posted_at)
	           VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)`
	_, err := t.exec(ctx, q, practiceID, o.ChargeID, string(o.Outcome), o.On, o.CompletedChargeID, o.Note, o.PostedAt)
	return translate(err)
}

// UpdatePracticeSettings writes the settings given; nil fields stay.
func (t *txStore) UpdatePracticeSettings(ctx context.Context, practiceID ledger.ID, s ledger.PracticeSettings) error {
	const q = `UPDATE practices SET prepay_allowed_for_tp_procs = coalesce($2, prepay_allowed_for_tp_procs),
	                                balances_dont_subtract_ins = coalesce($3, balances_dont_subtract_ins) WHERE id = $1`
	_, err := t.exec(ctx, q, practiceID, s.PrePayAllowedForTpProcs, s.BalancesDontSubtractIns)
	return translate(err)
}
