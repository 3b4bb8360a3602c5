package ledger

import "context"

// PracticeSettings changes a practice's ledger settings; nil fields stay as
// they are.
type PracticeSettings struct {
	// PrePayAllowedForTpProcs lets prepayments be attached to planned
	// procedures (AttachPrepayment, or a split naming a planned charge and
	// the treatment-plan type).
	PrePayAllowedForTpProcs *bool
	// BalancesDontSubtractIns: balances set no pending insurance estimate
	// aside (Practice.BalancesDontSubtractIns).
	BalancesDontSubtractIns *bool
	IdempotencyKey          string `json:"-"`
}

// UpdatePracticeSettings changes the practice's ledger settings. Only ADMIN
// keys may change them.
func (l *Ledger) UpdatePracticeSettings(ctx context.Context, a Actor, in PracticeSettings) (Practice, error) {
	_, err := l.mutate(ctx, a, mutation{op: "updatePracticeSettings", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		return a.PracticeID, tx.UpdatePracticeSettings(ctx, a.PracticeID, in)
	})
	if err != nil {
		return Practice{}, err
	}
	return l.store.Practice(ctx, a.PracticeID)
}
