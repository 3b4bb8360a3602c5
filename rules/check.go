package rules

import "context"

// CheckSplits evaluates the policy's requirements on splits proposed by
// hand (a manual income transfer) against the ledger in: the first
// requirement a split fails refuses them with a *RejectedError, as it would
// refuse a plan. in.Request needs an Operation and an AsOf; a requirement
// reading a split's charge sees the charge it names.
func (p *Policy) CheckSplits(ctx context.Context, in Input, splits []ProposedSplit) error {
	pl, err := newPlanner(ctx, p, &in)
	if err != nil {
		return err
	}
	return pl.check(splits, make([]*item, len(splits)))
}
