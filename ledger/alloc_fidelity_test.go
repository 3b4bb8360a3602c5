package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
	"github.com/paysplit/paysplit/rules/rulestest"
)

// TestEngineNeverContradictsItsPolicies: over random families written as
// rows (rulestest.Family: buckets of both signs, attached and loose
// adjustments of any provider, negative-fee procedures, hidden unearned,
// planned procedures, insurance estimated, paid and written off), every
// built-in policy and every operation of the engine —
// auto-split (back-dated), income transfer (some past-dated), allocate
// unearned, re-apply, and the family
// balancer's two methods — one after the other on the same family: each
// plan passes the engine's checks (preview and commit give the same plan),
// a transfer is zero-sum pair by pair, the family's total changes only by a
// new receipt, a rerun right after a transfer or a balancer run proposes
// nothing, and a refusal is RULE_REJECTED with its requirement, never an
// invariant violation. PAYSPLIT_PROPERTY_SCALE multiplies the number of
// families (docs/reliability.md).
func TestEngineNeverContradictsItsPolicies(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	l := ledger.New(ledgertest.NewPractice(t, db).Store, ledger.WithClock(ledgertest.Clock))
	r := rand.New(rand.NewPCG(16, 2026))
	policies := rules.BuiltinNames()
	families := 6 * len(policies) * rulestest.Scale()
	var refused, moved int
	for i := range families {
		in := rulestest.Family(r, rulestest.Options{Rows: true})
		require.Empty(t, ledgertest.Representable(in), "family %d", i)
		fc := &fidelityCase{t: t, l: l, r: r, s: ledgertest.LoadScenario(t, l, in), in: in, policy: policies[i%len(policies)],
			where: fmt.Sprintf("family %d (%s)", i, policies[i%len(policies)])}
		if fc.policy == "rigorous" || fc.policy == "fifo" {
			fc.params = in.Request.Params
		}
		fc.autoSplit()
		fc.transfer()
		fc.allocateUnearned()
		fc.reapply()
		fc.balance(ledger.MethodIncomeTransfer)
		fc.balance(ledger.MethodRecreateSplits)
		refused += fc.refused
		moved += fc.moved
	}
	t.Logf("%d families, %d operations moved money, %d refused", families, moved, refused)
	require.Greater(t, moved, families, "the families give the operations money to move")
}

// fidelityCase is one family going through every operation.
type fidelityCase struct {
	t              *testing.T
	l              *ledger.Ledger
	r              *rand.Rand
	s              *ledgertest.ScenarioPractice
	in             rules.Input
	policy, where  string
	params         map[string]string
	refused, moved int
}

func (fc *fidelityCase) guarantor() ledger.ID { return *fc.s.ID("pt0") }

// total is what the family owes less all its money, hidden unearned
// included (a family transfer may spend it, rule 7).
func (fc *fidelityCase) total() ledger.Money {
	b, err := fc.s.Store.GuarantorBalances(context.Background(), fc.s.Actor.PracticeID, []ledger.ID{fc.guarantor()})
	require.NoError(fc.t, err)
	g := b[fc.guarantor()]
	return g.Balance.Sub(g.HiddenUnearned)
}

// refusal accepts err when it is a policy's refusal naming its
// requirement; anything else fails the test.
func (fc *fidelityCase) refusal(op string, err error) bool {
	fc.t.Helper()
	if err == nil {
		return false
	}
	var re *rules.RejectedError
	require.True(fc.t, errors.As(err, &re), "%s, %s: %v", fc.where, op, err)
	require.NotEmpty(fc.t, re.Requirement, "%s, %s", fc.where, op)
	fc.refused++
	return true
}

// completed returns the ids of the family's completed charges.
func (fc *fidelityCase) completed() []ledger.ID {
	var ids []ledger.ID
	for _, c := range fc.in.Charges {
		if c.Status != rules.Planned {
			ids = append(ids, *fc.s.ID(c.ID))
		}
	}
	return ids
}

func (fc *fidelityCase) autoSplit() {
	ctx, t := context.Background(), fc.t
	pat := fc.s.ID(fc.in.Request.PatientID)
	amount, kind := ledger.Cents(int64(1+fc.r.IntN(50000))), ledger.ReceiptPatientPayment
	if fc.r.IntN(4) == 0 {
		amount, kind = amount.Neg(), ledger.ReceiptRefund // rule 2
	}
	on := ledger.MustDate(rulestest.AsOf.String()).AddDays(-fc.r.IntN(60)) // back-dated: rule 1
	rc := ledger.NewReceipt{Kind: kind, PatientID: pat, Amount: amount, ReceivedOn: &on}
	alloc := ledger.Allocation{Policy: fc.policy, Params: fc.params}
	before := fc.total()
	plan, err := fc.l.PreviewReceipt(ctx, fc.s.Actor, rc, alloc)
	if fc.refusal("auto-split", err) {
		return
	}
	_, posted, err := fc.l.PostAllocatedReceipt(ctx, fc.s.Actor, rc, alloc)
	if plan.Empty() {
		var ie *ledger.InputError
		require.ErrorAs(t, err, &ie, "%s: a refund not split while a charge owes takes explicit splits", fc.where)
		require.Negative(t, amount.Sign(), fc.where)
		return
	}
	require.NoError(t, err, fc.where)
	requireSamePlan(t, plan, posted)
	requireMoney(t, amount.String(), plan.Total, fc.where)
	requireMoney(t, before.Sub(amount).String(), fc.total(), "%s: an auto-split changes the total by its amount", fc.where)
	fc.moved++
}

func (fc *fidelityCase) transfer() {
	ctx, t := context.Background(), fc.t
	req := ledger.TransferRequest{GuarantorID: fc.guarantor(), Policy: fc.policy, Params: fc.params}
	if fc.r.IntN(3) == 0 {
		on := ledger.MustDate(rulestest.AsOf.String()).AddDays(-fc.r.IntN(90)) // past-dated: later splits still count
		req.AsOf = &on
	}
	before := fc.total()
	plan, err := fc.l.PreviewTransfer(ctx, fc.s.Actor, req)
	if fc.refusal("transfer", err) {
		return
	}
	checkZeroSumPairs(t, plan)
	res, err := fc.l.TransferIncome(ctx, fc.s.Actor, req)
	require.NoError(t, err, fc.where)
	requireSamePlan(t, plan, res.Plan)
	requireMoney(t, before.String(), fc.total(), "%s: a transfer leaves the total\n%s\n%s", fc.where, dump(fc.in), dump(plan))
	again, err := fc.l.PreviewTransfer(ctx, fc.s.Actor, req)
	require.NoError(t, err, fc.where)
	require.Empty(t, again.Moves, "%s: a transfer re-run right after its commit proposes nothing", fc.where)
	if !plan.Empty() {
		fc.moved++
	}
}

func (fc *fidelityCase) allocateUnearned() {
	ctx, t := context.Background(), fc.t
	var chosen []ledger.ID
	for _, id := range fc.completed() {
		if fc.r.IntN(2) == 0 {
			chosen = append(chosen, id)
		}
	}
	if len(chosen) == 0 {
		return
	}
	in := ledger.UnearnedAllocation{GuarantorID: fc.guarantor(), ChargeIDs: chosen, Policy: fc.policy, Params: fc.params, Preview: true}
	before := fc.total()
	prev, err := fc.l.AllocateUnearned(ctx, fc.s.Actor, in)
	if fc.refusal("allocate unearned", err) {
		return
	}
	checkZeroSumPairs(t, prev.Plan)
	in.Preview = false
	res, err := fc.l.AllocateUnearned(ctx, fc.s.Actor, in)
	require.NoError(t, err, fc.where)
	requireSamePlan(t, prev.Plan, res.Plan)
	requireMoney(t, before.String(), fc.total(), "%s: allocating unearned leaves the total", fc.where)
	if !res.Plan.Empty() {
		fc.moved++
	}
}

func (fc *fidelityCase) reapply() {
	ctx, t := context.Background(), fc.t
	pat := *fc.s.ID(fc.in.Request.PatientID)
	cands, err := fc.l.ReapplyCandidates(ctx, fc.s.Actor, ledger.CandidateQuery{PatientID: pat, SameGuarantor: true, Show: ledger.CandidatesAll})
	require.NoError(t, err, fc.where)
	in := ledger.ReapplyRequest{PatientID: pat, Policy: fc.policy, Params: fc.params, Force: fc.r.IntN(4) == 0}
	for _, c := range cands.Credits {
		if fc.r.IntN(3) > 0 {
			in.Sources = append(in.Sources, c.ID)
		}
	}
	for _, line := range cands.Lines {
		if fc.r.IntN(3) == 0 {
			in.Targets = append(in.Targets, ledger.ReapplyTarget{ChargeID: line.ChargeID})
		}
	}
	if len(in.Sources) == 0 || len(in.Targets) == 0 {
		return
	}
	before := fc.total()
	plan, err := fc.l.PreviewReapply(ctx, fc.s.Actor, in)
	var ie *ledger.InputError
	if errors.As(err, &ie) && ie.Field != "" {
		return // a random request the screen would not send (a line that owes nothing, a credit the policy keeps)
	}
	if fc.refusal("re-apply", err) {
		return
	}
	res, err := fc.l.ReapplyCredit(ctx, fc.s.Actor, in)
	require.NoError(t, err, fc.where)
	requireSamePlan(t, plan, res.Plan)
	requireMoney(t, "0.00", plan.Total, fc.where)
	requireMoney(t, before.String(), fc.total(), "%s: a re-apply leaves the total", fc.where)
	if !plan.Empty() {
		fc.moved++
	}
}

// balance runs the family balancer by method, then again: the second run
// changes nothing.
func (fc *fidelityCase) balance(method ledger.BalanceMethod) {
	ctx, t := context.Background(), fc.t
	in := ledger.FamilyBalancing{GuarantorID: fc.guarantor(), Method: method, Policy: fc.policy, Params: fc.params, Note: "property"}
	before := fc.total()
	for run := range 2 {
		_, fam, err := fc.l.BalanceFamily(ctx, fc.s.Actor, in)
		require.NoError(t, err, fc.where)
		where := fmt.Sprintf("%s, %s run %d", fc.where, method, run+1)
		switch fam.Status {
		case ledger.FamilyFailed:
			refused := strings.HasPrefix(fam.Reason, "the policy refused the plan (") || strings.Contains(fam.Reason, "needs a person")
			require.True(t, refused, "%s: failed with %q", where, fam.Reason)
			fc.refused++
			return
		case ledger.FamilyChanged:
			require.Zero(t, run, "%s: a second run changes nothing: %+v %s", where, fam, fam.Detail)
			fc.moved++
		}
		requireMoney(t, before.String(), fc.total(), "%s: the balancer leaves the total", where)
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}
