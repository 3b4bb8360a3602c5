package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// agingWorld is a practice a random operation sequence runs on, with what the
// operations pick from.
type agingWorld struct {
	t        *testing.T
	rng      *rand.Rand
	f        *ledgertest.Practice
	db       *sqlx.DB
	families [][]ledger.Patient
	charges  []ledger.Charge
	receipts []ledger.Receipt
	provs    []ledger.ID
	locs     []ledger.ID
	done     map[string]int // successful operations by kind
	imports  int
	// chrono keeps money and adjustments on a line dated on or after its
	// date of service, and plain money off planned lines, as practices post
	// them (aging as of an earlier date counts neither the line nor the
	// money on it).
	chrono bool
}

// The maintained aging state equals the state recomputed from history, and
// the report read from it equals the report computed from history (every
// grouping, basis, credit option and a filter of each kind), after random
// sequences of receipts (explicit and auto-split), reversals, insurance
// payments, adjustments, write-offs, transfers, unearned allocations,
// balancer runs, imports, bills to the patient and back, and treatment-plan moves (complete, remove, attach
// and detach prepayment), and after transactions that abort mid-way.
func TestAgingMaintainedEqualsRecomputed(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			w := newAgingWorld(t, seed)
			kinds := []string{"visit", "pay", "auto", "insurance", "reverse", "adjust", "writeoff", "import", "plan", "bill"}
			covered := func() bool {
				return !slices.ContainsFunc(kinds, func(k string) bool { return w.done[k] == 0 })
			}
			for i := 0; i < 90 || !covered(); i++ {
				require.Less(t, i, 400, "not every kind of operation succeeded: %v", w.done)
				w.step()
				if i%30 == 29 {
					w.compare([]ledger.AgingBasis{ledger.AgingServiceDate, ledger.AgingPostDate, ledger.AgingResponsibilityDate}[i/30%3])
				}
			}
			w.abortMidway()
			w.compare(ledger.AgingServiceDate, ledger.AgingPostDate, ledger.AgingResponsibilityDate)
			t.Logf("operations: %v", w.done)
		})
	}
}

func newAgingWorld(t *testing.T, seed uint64) *agingWorld {
	db := ledgertest.NewDB(t)
	w := &agingWorld{t: t, rng: rand.New(rand.NewPCG(seed, 21)), f: ledgertest.NewPractice(t, db), db: db, done: map[string]int{}}
	ctx := context.Background()
	prov, err := w.f.Ledger.CreateProvider(ctx, w.f.Actor, ledger.NewProvider{Name: "Dr. Two"})
	require.NoError(t, err)
	loc, err := w.f.Ledger.CreateLocation(ctx, w.f.Actor, ledger.NewLocation{Name: "Annex"})
	require.NoError(t, err)
	w.provs, w.locs = []ledger.ID{w.f.Provider, prov.ID}, []ledger.ID{w.f.Location, loc.ID}
	_, err = db.Exec(`UPDATE practices SET prepay_allowed_for_tp_procs = true WHERE id = $1`, w.f.Actor.PracticeID)
	require.NoError(t, err)
	for i := range 5 {
		w.families = append(w.families, w.f.Family(t, fmt.Sprint("G", i), "Kid")[:1+i%2])
	}
	return w
}

func (w *agingWorld) money(lo, hi int) ledger.Money {
	return ledger.MustMoney(fmt.Sprintf("%d.%02d", lo+w.rng.IntN(hi-lo), w.rng.IntN(100)))
}

func (w *agingWorld) date() *ledger.Date {
	d := ledgertest.Today.AddDays(-w.rng.IntN(400))
	return &d
}

// dateFrom is a random date from d (with chrono; any date without).
func (w *agingWorld) dateFrom(d ledger.Date) *ledger.Date {
	if !w.chrono {
		return w.date()
	}
	days := int(ledgertest.Today.Time().Sub(d.Time()).Hours() / 24)
	on := d.AddDays(w.rng.IntN(max(days, 0) + 1))
	return &on
}

// planned says whether chrono keeps plain money off c.
func (w *agingWorld) planned(c ledger.Charge) bool {
	return w.chrono && c.Status == ledger.StatusPlanned
}

func (w *agingWorld) patient() ledger.Patient {
	fam := w.families[w.rng.IntN(len(w.families))]
	return fam[w.rng.IntN(len(fam))]
}

func (w *agingWorld) charge() (ledger.Charge, bool) {
	if len(w.charges) == 0 {
		return ledger.Charge{}, false
	}
	return w.charges[w.rng.IntN(len(w.charges))], true
}

var errNoCharge = errors.New("no charge yet")

// step runs one random operation; the ledger may refuse it (an overpayment,
// a reversal of moved money), which changes nothing.
func (w *agingWorld) step() {
	ctx, l, a := context.Background(), w.f.Ledger, w.f.Actor
	kinds := []string{"visit", "visit", "pay", "pay", "auto", "insurance", "reverse", "adjust", "writeoff",
		"transfer", "unearned", "balance", "import", "plan", "plan", "bill", "unbill"}
	kind := kinds[w.rng.IntN(len(kinds))]
	var err error
	switch kind {
	case "visit":
		err = w.visit(ctx)
	case "pay":
		err = w.pay(ctx)
	case "auto":
		p := w.patient()
		in := ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &p.ID, Amount: w.money(1, 120), ReceivedOn: w.date()}
		if w.chrono { // the allocation picks lines, whatever their dates
			in.ReceivedOn = &ledgertest.Today
		}
		_, _, err = l.PostAllocatedReceipt(ctx, a, in, ledger.Allocation{})
	case "insurance":
		c, ok := w.charge()
		if !ok || w.planned(c) {
			return
		}
		var r ledger.Receipt
		amt := w.money(1, 80)
		r, err = l.PostReceipt(ctx, a, ledger.NewReceipt{Kind: ledger.ReceiptInsurancePayment, Amount: amt,
			ReceivedOn: w.dateFrom(c.ServiceDate), Splits: []ledger.NewSplit{{Amount: amt, ChargeID: &c.ID, Force: true}}})
		if err == nil {
			w.receipts = append(w.receipts, r)
		}
	case "reverse":
		if len(w.receipts) == 0 {
			return
		}
		r := w.receipts[w.rng.IntN(len(w.receipts))]
		_, err = l.ReverseReceipt(ctx, a, ledger.Reversal{ReceiptID: r.ID, ReceivedOn: w.dateFrom(r.ReceivedOn)})
	case "adjust":
		c, ok := w.charge()
		if !ok {
			return
		}
		amt := w.money(1, 40)
		if w.rng.IntN(3) > 0 {
			amt = amt.Neg()
		}
		_, err = l.PostAdjustment(ctx, a, ledger.NewAdjustment{AttachedToID: &c.ID, Amount: amt, ServiceDate: w.dateFrom(c.ServiceDate)})
	case "writeoff":
		err = errNoCharge
		for range 5 { // a planned or paid line refuses; try another
			if c, ok := w.charge(); ok && err != nil {
				_, err = l.PostInsuranceWriteOff(ctx, a, ledger.NewInsuranceWriteOff{ChargeID: c.ID, Amount: w.money(1, 10), WrittenOn: &ledgertest.Today})
			}
		}
	case "transfer":
		_, err = l.TransferIncome(ctx, a, ledger.TransferRequest{GuarantorID: w.patient().GuarantorID})
	case "unearned":
		_, err = l.AllocateUnearned(ctx, a, ledger.UnearnedAllocation{GuarantorID: w.patient().GuarantorID})
	case "balance":
		m := []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits}[w.rng.IntN(2)]
		_, _, err = l.BalanceFamily(ctx, a, ledger.FamilyBalancing{GuarantorID: w.patient().GuarantorID, Method: m})
	case "import":
		err = w.importRows(ctx)
	case "plan":
		err = w.plan(ctx)
	case "bill", "unbill": // move a line's pending estimate to the patient, or back (read at report time)
		c, ok := w.charge()
		if !ok {
			return
		}
		move := l.BillToPatient
		if kind == "unbill" {
			move = l.BillToInsurance
		}
		_, err = move(ctx, a, ledger.ResponsibilityMove{ChargeID: &c.ID, On: w.date()})
	}
	if err == nil {
		w.done[kind]++
	}
}

func (w *agingWorld) visit(ctx context.Context) error {
	p, d := w.patient(), w.date()
	in := ledger.NewEncounter{PatientID: p.ID, ProviderID: w.provs[w.rng.IntN(2)], LocationID: w.locs[w.rng.IntN(2)], ServiceFrom: d}
	for range 1 + w.rng.IntN(3) {
		c := ledger.NewCharge{Code: "D0120", Amount: w.money(10, 300)}
		if w.rng.IntN(3) == 0 {
			c.InsuranceEstimate = w.money(1, 200)
		}
		if w.rng.IntN(8) == 0 {
			c.Status = ledger.StatusPlanned
		}
		in.Charges = append(in.Charges, c)
	}
	e, err := w.f.Ledger.PostEncounter(ctx, w.f.Actor, in)
	if err != nil {
		return err
	}
	cs, err := w.f.Store.ChargesOfEncounters(ctx, w.f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(w.t, err)
	w.charges = append(w.charges, cs...)
	return nil
}

// plan completes, removes, attaches prepayment to or detaches it from a
// planned procedure (one the ledger will refuse changes nothing).
func (w *agingWorld) plan(ctx context.Context) error {
	var planned []ledger.Charge
	for _, c := range w.charges {
		if c.Status == ledger.StatusPlanned {
			planned = append(planned, c)
		}
	}
	if len(planned) == 0 {
		return errNoCharge
	}
	c, l, a := planned[w.rng.IntN(len(planned))], w.f.Ledger, w.f.Actor
	switch w.rng.IntN(4) {
	case 0:
		done, err := l.CompletePlanned(ctx, a, ledger.PlannedCompletion{ChargeID: c.ID, CompletedOn: w.date()})
		if err == nil {
			w.charges = append(w.charges, done)
		}
		return err
	case 1:
		_, err := l.RemovePlanned(ctx, a, ledger.PlannedRemoval{ChargeID: c.ID})
		return err
	case 2:
		_, err := l.AttachPrepayment(ctx, a, ledger.PrepaymentAttachment{ChargeID: c.ID, Amount: w.money(1, 20), UnearnedTypeID: &w.f.Prepayment})
		return err
	}
	_, err := l.DetachPrepayment(ctx, a, ledger.PrepaymentDetachment{ChargeID: c.ID})
	return err
}

// pay posts a patient payment: on a line (forced now and then, leaving a
// credit), unallocated, or unearned of the visible or hidden type.
func (w *agingWorld) pay(ctx context.Context) error {
	p, amt := w.patient(), w.money(1, 100)
	var on *ledger.Date
	s := ledger.NewSplit{Amount: amt}
	switch w.rng.IntN(4) {
	case 0, 1:
		c, ok := w.charge()
		if !ok || w.planned(c) {
			return nil
		}
		s.ChargeID, s.CrossFamily, s.Force = &c.ID, true, w.rng.IntN(3) == 0
		on = w.dateFrom(c.ServiceDate)
	case 2:
		typ := []ledger.ID{w.f.Prepayment, w.f.TPPrepay}[w.rng.IntN(2)]
		s.UnearnedTypeID = &typ
	}
	if on == nil {
		on = w.date()
	}
	r, err := w.f.Ledger.PostReceipt(ctx, w.f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &p.ID,
		Amount: amt, ReceivedOn: on, Splits: []ledger.NewSplit{s}})
	if err == nil {
		w.receipts = append(w.receipts, r)
	}
	return err
}

// importRows imports a balance-forward file of a few rows for new patients.
func (w *agingWorld) importRows(ctx context.Context) error {
	var rows []ledger.BalanceForwardRow
	for range 1 + w.rng.IntN(3) {
		w.imports++
		rows = append(rows, ledger.BalanceForwardRow{PatientExternalID: fmt.Sprint("X", w.imports), PatientLastName: "Imported",
			PatientFirstName: fmt.Sprint("N", w.imports), ServiceDate: w.date(), Amount: w.money(1, 90),
			Provider: []string{"Dr. One", "Dr. Two"}[w.rng.IntN(2)], Location: []string{"Main", "Annex"}[w.rng.IntN(2)]})
	}
	var sb strings.Builder
	require.NoError(w.t, ledger.WriteBalanceForwardCSV(&sb, rows))
	res, err := w.f.Ledger.ImportBalances(ctx, w.f.Actor, ledger.ImportRequest{File: strings.NewReader(sb.String()),
		Mode: ledger.ImportCommit, Options: ledger.ImportOptions{CreateMissingPatients: true}})
	if res.Report.Outcome != ledger.OutcomeCommitted {
		return fmt.Errorf("import: %s %+v", res.Report.Message, res.Report.Issues)
	}
	return err
}

// abortMidway writes a receipt with splits on a line and on nothing straight
// into the tables, so the triggers change the maintained state, and then
// kills the connection before the transaction commits; and does the same
// again ending in a rollback. Neither may leave a trace.
func (w *agingWorld) abortMidway() {
	ctx := context.Background()
	c, ok := w.charge()
	require.True(w.t, ok)
	for _, kill := range []bool{true, false} {
		before := w.report(ledger.AgingQuery{GroupBy: ledger.AgingByPatient}, false)
		tx, err := w.db.BeginTxx(ctx, nil)
		require.NoError(w.t, err)
		var backend int
		require.NoError(w.t, tx.GetContext(ctx, &backend, `SELECT pg_backend_pid()`))
		rid, pid := ledgertest.NewID(), w.f.Actor.PracticeID
		_, err = tx.ExecContext(ctx, `INSERT INTO receipts (practice_id, id, kind, amount, received_on, patient_id, posted_at)
		    VALUES ($1, $2, 'PATIENT_PAYMENT', 30.00, $3, $4, now())`, pid, rid, ledgertest.Today.String(), c.PatientID)
		require.NoError(w.t, err)
		_, err = tx.ExecContext(ctx, `INSERT INTO splits (practice_id, id, receipt_id, amount, code, patient_id, charge_id)
		    VALUES ($1, $2, $3, 20.00, 'PAY', $4, $5), ($1, $6, $3, 10.00, 'PAY', $4, NULL)`,
			pid, ledgertest.NewID(), rid, c.PatientID, c.ID, ledgertest.NewID())
		require.NoError(w.t, err)
		var moved int
		require.NoError(w.t, tx.GetContext(ctx, &moved, `SELECT count(*) FROM aging_lines WHERE practice_id = $1 AND charge_id = $2 AND paid <> 0`, pid, c.ID))
		require.Equal(w.t, 1, moved, "the triggers ran inside the transaction")
		if kill {
			_, err = w.db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, backend)
			require.NoError(w.t, err)
			require.Error(w.t, tx.Commit())
		} else {
			require.NoError(w.t, tx.Rollback())
		}
		require.Equal(w.t, before, w.report(ledger.AgingQuery{GroupBy: ledger.AgingByPatient}, false))
	}
	w.done["abort"]++
}

// report computes q (completed with defaults, as of today) from the
// maintained state or from history.
func (w *agingWorld) report(q ledger.AgingQuery, fromHistory bool) ledger.AgingReport {
	today := ledgertest.Today
	q.AsOf, q.BucketLimits, q.Page = &today, ledger.DefaultBucketLimits, ledger.Page{First: 500}
	for p, v := range map[*string]string{(*string)(&q.Basis): string(ledger.AgingServiceDate), (*string)(&q.GroupBy): string(ledger.AgingByGuarantor),
		(*string)(&q.Coverage): string(ledger.CoverageAll), (*string)(&q.Sort): string(ledger.SortTotalDesc)} {
		if *p == "" {
			*p = v
		}
	}
	get := w.f.Store.Aging
	if fromHistory {
		get = w.f.Store.AgingFromHistory
	}
	rep, err := get(context.Background(), w.f.Actor.PracticeID, q)
	require.NoError(w.t, err)
	return rep
}

// compare checks the maintained state against a rebuild and the maintained
// report against the recomputed one, by the bases given.
func (w *agingWorld) compare(bases ...ledger.AgingBasis) {
	t := w.t
	var horizon ledger.Date
	require.NoError(t, w.db.Get(&horizon, `SELECT horizon FROM aging_horizons WHERE practice_id = $1`, w.f.Actor.PracticeID))
	require.False(t, ledgertest.Today.Before(horizon), "as of today the maintained state answers")
	drift, err := w.f.Store.AgingCheck(context.Background(), w.f.Actor.PracticeID)
	require.NoError(t, err)
	require.True(t, drift.InStep(), "drift: %+v", drift)
	w.compareBalances()
	minAge, minBal := 31, ledger.MustMoney("0.01")
	for _, g := range []ledger.AgingGroup{ledger.AgingByGuarantor, ledger.AgingByPatient, ledger.AgingByProvider, ledger.AgingByLocation, ledger.AgingByPractice} {
		for _, b := range bases {
			for _, q := range []ledger.AgingQuery{
				{GroupBy: g, Basis: b},
				{GroupBy: g, Basis: b, CreditsToOldest: true, Sort: ledger.SortOldestDesc},
				{GroupBy: g, Basis: b, ProviderID: &w.provs[1], Coverage: ledger.CoverageInsured},
				{GroupBy: g, Basis: b, LocationID: &w.locs[0], Coverage: ledger.CoverageSelfPay, MinAgeDays: &minAge, MinBalance: &minBal},
			} {
				require.Equal(t, w.report(q, true), w.report(q, false), "%s %s %+v", g, b, q)
			}
		}
	}
}

// compareBalances holds every line's balance read from the maintained state,
// and each family's and patient's balance summed from them, to the same
// computed from history.
func (w *agingWorld) compareBalances() {
	t, ctx, pid := w.t, context.Background(), w.f.Actor.PracticeID
	var rows []struct {
		ID, PatientID, GuarantorID ledger.ID
	}
	require.NoError(t, w.db.Select(&rows, `SELECT c.id, c.patient_id, p.guarantor_id FROM charges c
	    JOIN patients p ON p.practice_id = c.practice_id AND p.id = c.patient_id WHERE c.practice_id = $1`, pid))
	ids := make([]ledger.ID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	got, err := w.f.Store.ChargeBalances(ctx, pid, ids)
	require.NoError(t, err)
	want, err := w.f.Store.ChargeBalancesFromHistory(ctx, pid, ids)
	require.NoError(t, err)
	require.Len(t, want, len(ids))
	require.Len(t, got, len(ids))
	for id, b := range want {
		require.Equal(t, fmt.Sprintf("%+v", b), fmt.Sprintf("%+v", got[id]), "line %s", id)
	}

	// Per family: the lines' sums, and the money on no line or held for a
	// planned line, from the splits themselves.
	type sums struct{ owed, lineCredit, unallocated, unearned, hidden ledger.Money }
	fams := map[ledger.ID]*sums{}
	at := func(g ledger.ID) *sums {
		if fams[g] == nil {
			fams[g] = &sums{}
		}
		return fams[g]
	}
	for _, r := range rows {
		f, owed := at(r.GuarantorID), want[r.ID].Owed
		if owed.Sign() < 0 {
			f.lineCredit = f.lineCredit.Sub(owed)
		} else {
			f.owed = f.owed.Add(owed)
		}
	}
	var money []struct {
		GuarantorID ledger.ID
		Amount      ledger.Money
		Kind        string
	}
	require.NoError(t, w.db.Select(&money, `
SELECT p.guarantor_id, s.amount,
       CASE WHEN s.unearned_type_id IS NULL THEN 'unallocated'
            WHEN s.charge_id IS NULL AND NOT u.hidden THEN 'unearned' ELSE 'hidden' END AS kind
  FROM splits s JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id
  LEFT JOIN unearned_types u ON u.practice_id = s.practice_id AND u.id = s.unearned_type_id
 WHERE s.practice_id = $1 AND (s.charge_id IS NULL OR s.unearned_type_id IS NOT NULL)`, pid))
	for _, m := range money {
		f := at(m.GuarantorID)
		switch m.Kind {
		case "unallocated":
			f.unallocated = f.unallocated.Add(m.Amount)
		case "unearned":
			f.unearned = f.unearned.Add(m.Amount)
		default:
			f.hidden = f.hidden.Add(m.Amount)
		}
	}
	gids := make([]ledger.ID, 0, len(fams))
	for g := range fams {
		gids = append(gids, g)
	}
	bals, err := w.f.Store.GuarantorBalances(ctx, pid, gids)
	require.NoError(t, err)
	for g, f := range fams {
		credit := f.lineCredit.Add(f.unallocated).Add(f.unearned)
		require.Equal(t, fmt.Sprintf("%+v", ledger.Balance{Balance: f.owed.Sub(credit), Owed: f.owed, Unallocated: f.unallocated,
			Unearned: f.unearned, Credit: credit, HiddenUnearned: f.hidden}), fmt.Sprintf("%+v", bals[g]), "family %s", g)
	}
}
