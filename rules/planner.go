package rules

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// planner is the working state of one Plan or Balances call. Money is in
// cents. Nothing here is shared: a Policy is read-only.
type planner struct {
	p        *Policy
	in       *Input
	req      Request
	asOf     Date
	cutoff   Date // entries dated after it are not seen: asOf, or EnteredOn for AUTO_SPLIT
	env      *env
	vm       vm.VM
	reqView  requestEnv
	warnings []string

	guarantor map[string]string
	types     map[string]*UnearnedType // by id
	defType   *UnearnedType
	items     []*item           // charges, sorted
	attached  map[*item][]*item // adjustments attached to a procedure and not folded into it, in order
	later     map[string]int64  // per bucket id, the splits dated after the cutoff
	byID      map[string]*item
	pools     []*pool
	poolByID  map[string]*pool
	deficits  []*item
	credits   []*credit // every credit, sorted
	creditIDs map[string]*credit
	seq       int

	moves  []rawMove
	groups map[groupKey]*group // reused by match stages
	steps  int                 // pairings tried and keys evaluated, for the complexity test
	limit  *int64              // ALLOCATE_UNEARNED: what may still be allocated
	phase  []*credit           // the credits of the running phase, with any parked ones

	// flow is the net change of every unallocated, unearned and
	// misallocated bucket, for Balances.
	flow       map[string]int64
	flowOrder  []string
	flowBucket map[string]Bucket
}

// item is something that may receive money: a charge, or a deficit (an
// unallocated or unearned bucket below zero).
type item struct {
	view    chargeEnv
	bucket  Bucket
	kind    ChargeKind
	deficit *pool

	value    int64 // what it owes now; negative when overpaid
	portion  int64 // patient portion with folded adjustments
	linked   int64 // linked patient money, on it and its folded adjustments
	direct   int64 // linked patient money on this charge itself
	owner    *item // the procedure an adjustment is folded into
	capacity int64 // what it may still receive in the current phase
	passes   bool
	insOver  int64 // insurance overpayment, left alone

	order
}

// pool is a bucket of split money: unallocated, unearned (per type) or
// misallocated (per charge), keyed by patient, provider and location.
type pool struct {
	bucket Bucket
	amount int64
	hidden bool
	date   Date
	typ    *UnearnedType
	target *item // misallocated: the charge the splits name, if present
}

// credit is money that may move.
type credit struct {
	view      creditEnv
	bucket    Bucket
	amount    int64 // what is left; negative only for a negative receipt
	spendable int64 // what an emitting phase may still move
	charge    *item // CHARGE credits
	pool      *pool
	passes    bool

	order
}

// order is the sort position of an item or credit.
type order struct {
	keys []sortKey
	date Date
	rank int
	id   string
	seq  int
}

type rawMove struct {
	from, to Bucket
	into     *item // the receiver of a match stage's move
	amount   int64
	stage    string
}

func kindRank(k ChargeKind) int {
	switch k {
	case Procedure:
		return 0
	case Adjustment:
		return 1
	}
	return 2
}

func compareOrder(a, b *order) int {
	for i := range a.keys {
		if c := a.keys[i].compare(b.keys[i]); c != 0 {
			return c
		}
	}
	return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.rank, b.rank), strings.Compare(a.id, b.id), cmp.Compare(a.seq, b.seq))
}

// poolID builds a stable id from a bucket's key.
func poolID(kind BucketKind, parts ...string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(string(kind)))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// newPlanner builds the planner of one plan, within the budget ctx and the
// package's limits set (budget.go).
func newPlanner(ctx context.Context, p *Policy, in *Input) (*planner, error) {
	m := newMeter(ctx)
	if err := m.check(""); err != nil {
		return nil, err
	}
	pl := &planner{
		p: p, in: in, req: in.Request, asOf: in.Request.AsOf,
		guarantor: map[string]string{}, types: map[string]*UnearnedType{},
		byID: map[string]*item{}, poolByID: map[string]*pool{}, creditIDs: map[string]*credit{},
		flow: map[string]int64{}, flowBucket: map[string]Bucket{}, later: map[string]int64{},
	}
	if pl.asOf.IsZero() {
		return nil, invalidInput("request.asOf is required")
	}
	pl.cutoff = pl.asOf
	if pl.req.Operation == AutoSplit && pl.req.EnteredOn.After(pl.asOf) {
		pl.cutoff = pl.req.EnteredOn
	}
	switch pl.req.Operation {
	case AutoSplit, Transfer, AllocateUnearned, Reapply, CreditManagement:
	default:
		return nil, invalidInput("unknown operation %q", pl.req.Operation)
	}
	params, err := p.paramValues(pl.req.Params)
	if err != nil {
		return nil, err
	}
	for _, pt := range in.Patients {
		if g, dup := pl.guarantor[pt.ID]; dup && g != pt.GuarantorID {
			return nil, invalidInput("patient %s has two guarantors, %s and %s", pt.ID, g, pt.GuarantorID)
		}
		pl.guarantor[pt.ID] = pt.GuarantorID
	}
	for i := range in.UnearnedTypes {
		t := &in.UnearnedTypes[i]
		if _, dup := pl.types[t.ID]; dup {
			return nil, invalidInput("unearned type %s appears twice", t.ID)
		}
		pl.types[t.ID] = t
		if t.Default && (pl.defType == nil || t.ID < pl.defType.ID) {
			pl.defType = t
		}
	}
	if pl.req.GuarantorID == "" {
		pl.req.GuarantorID = pl.guarantor[pl.req.PatientID]
	}
	if pl.req.Scope == "" {
		pl.req.Scope = ScopeGuarantor
	}
	if err := pl.requestView(); err != nil {
		return nil, err
	}
	pl.env = p.layout.newEnv(&pl.reqView, params)
	pl.env.meter = m
	if err := pl.build(); err != nil {
		return nil, err
	}
	return pl, nil
}

func (pl *planner) requestView() error {
	r := pl.req
	v := requestEnv{
		Operation: string(r.Operation), Scope: string(r.Scope), AsOf: r.AsOf.String(),
		PatientID: r.PatientID, GuarantorID: r.GuarantorID, LocationID: r.LocationID,
		EncounterID: r.EncounterID, PreferPatientID: r.PreferPatientID,
		HasAmount: r.Amount.Valid, Force: r.Force,
		ChargeIDs: slices.Clone(r.ChargeIDs), AdditionalPatientIDs: slices.Clone(r.AdditionalPatientIDs),
	}
	if v.ChargeIDs == nil {
		v.ChargeIDs = []string{}
	}
	if v.AdditionalPatientIDs == nil {
		v.AdditionalPatientIDs = []string{}
	}
	if r.Amount.Valid {
		c, err := toCents(r.Amount.Decimal)
		if err != nil {
			return invalidInput("request.amount: %v", err)
		}
		v.Amount = fromCents(c)
	}
	pl.reqView = v
	return nil
}

func (pl *planner) guarantorOf(patient, explicit string) string {
	if explicit != "" {
		return explicit
	}
	return pl.guarantor[patient]
}

// ConversionPlaceholderCode is the procedure code of a conversion's
// placeholder line: the one procedure whose insurance excess counts as a
// credit (docs/allocation.md §2.1 step 3). Any other procedure that insurance
// alone overpays owes nothing, and the excess is left alone with a warning.
const ConversionPlaceholderCode = "ZZZFIX"

// build turns the snapshot into items, pools and credits, applying explicit
// linking (docs/allocation.md §2.1–2.3), in four phases: the charges, the
// adjustments folded into their procedures, the splits linked to what they
// name, then the credits and deficits that result.
func (pl *planner) build() error {
	if err := pl.buildCharges(); err != nil {
		return err
	}
	if err := pl.foldAdjustments(); err != nil {
		return err
	}
	if err := pl.linkSplits(); err != nil {
		return err
	}
	pl.collectCredits()
	return pl.filterAndSort()
}

// buildCharges validates the snapshot's charges and makes an item of each
// one dated by the cutoff, sorted.
func (pl *planner) buildCharges() error {
	for i := range pl.in.Charges {
		ch := &pl.in.Charges[i]
		it, err := pl.chargeItem(i, ch)
		if err != nil {
			return err
		}
		pl.byID[ch.ID] = it // nil: known, but not as of this date
		if it != nil {
			pl.items = append(pl.items, it)
		}
	}
	slices.SortFunc(pl.items, func(a, b *item) int { return compareOrder(&a.order, &b.order) })
	selected := map[string]bool{}
	for _, id := range pl.req.ChargeIDs {
		selected[id] = true
	}
	for _, t := range pl.req.Targets {
		selected[t.ChargeID] = true
	}
	for i, it := range pl.items {
		it.view.Selected = selected[it.id]
		it.seq = i
		if it.insOver > 0 {
			pl.warnings = append(pl.warnings, fmt.Sprintf("charge %s: insurance overpaid it by %s; the excess is left alone", it.id, fromCents(it.insOver).StringFixed(2)))
		}
	}
	pl.refreshItems()
	return nil
}

// checkCharge validates charge i of the snapshot and returns its status
// (COMPLETED when empty).
func (pl *planner) checkCharge(i int, ch *Charge) (ChargeStatus, error) {
	if ch.ID == "" {
		return "", invalidInput("charge %d has no id", i)
	}
	if _, dup := pl.byID[ch.ID]; dup {
		return "", invalidInput("charge %s appears twice", ch.ID)
	}
	switch ch.Kind {
	case Procedure, Adjustment, BalanceForward:
	default:
		return "", invalidInput("charge %s: unknown kind %q", ch.ID, ch.Kind)
	}
	if ch.Date.IsZero() {
		return "", invalidInput("charge %s has no date", ch.ID)
	}
	switch ch.Status {
	case "":
		return Completed, nil
	case Completed, Planned:
		return ch.Status, nil
	}
	return "", invalidInput("charge %s: unknown status %q", ch.ID, ch.Status)
}

// chargeItem is charge i as an item, or nil when it is dated after the
// cutoff. Its patient portion is the amount less insurance; insurance
// alone never takes a positive charge below zero, except on the conversion
// placeholder.
func (pl *planner) chargeItem(i int, ch *Charge) (*item, error) {
	status, err := pl.checkCharge(i, ch)
	if err != nil {
		return nil, err
	}
	amount, err := toCents(ch.Amount)
	if err != nil {
		return nil, invalidInput("charge %s: amount %v", ch.ID, err)
	}
	var ins int64
	var insCents [3]int64 // estimate, paid, written off
	for i, d := range []decimal.Decimal{ch.InsuranceEstimate, ch.InsurancePaid, ch.InsuranceWriteOff} {
		c, err := toCents(d)
		if err != nil {
			return nil, invalidInput("charge %s: insurance %v", ch.ID, err)
		}
		insCents[i] = c
		ins += c
	}
	if ch.Date.After(pl.cutoff) {
		return nil, nil
	}
	portion, insOver := amount-ins, int64(0)
	if amount >= 0 && portion < 0 && ch.Code != ConversionPlaceholderCode {
		portion, insOver = 0, -portion
	}
	return &item{
		kind: ch.Kind, value: portion, portion: portion, insOver: insOver,
		bucket: Bucket{Kind: ChargeBucket, ID: ch.ID, ChargeID: ch.ID, PatientID: ch.PatientID, ProviderID: ch.ProviderID, LocationID: ch.LocationID, EncounterID: ch.EncounterID},
		view: chargeEnv{
			ID: ch.ID, Kind: string(ch.Kind), Status: string(status), Production: true, Code: ch.Code,
			PatientID: ch.PatientID, GuarantorID: pl.guarantorOf(ch.PatientID, ch.GuarantorID),
			ProviderID: ch.ProviderID, LocationID: ch.LocationID, EncounterID: ch.EncounterID, AttachedTo: ch.AttachedTo,
			Date: ch.Date.String(), AgeDays: pl.asOf.DaysSince(ch.Date),
			Amount: fromCents(amount), InsuranceEstimate: fromCents(insCents[0]), InsurancePaid: fromCents(insCents[1]),
			InsuranceWriteOff: fromCents(insCents[2]),
		},
		order: order{date: ch.Date, rank: kindRank(ch.Kind), id: ch.ID},
	}, nil
}

// foldAdjustments folds each adjustment attached to a procedure into it when
// the policy honours the attachment (links.adjustment); the others stay
// items of their own, listed under the procedure in pl.attached. One
// attached to planned work is planned work too, whether or not it folds: it
// owes nothing and its money moves with the procedure's.
func (pl *planner) foldAdjustments() error {
	pl.attached = map[*item][]*item{}
	for _, it := range pl.items {
		if it.kind != Adjustment || it.view.AttachedTo == "" {
			continue
		}
		target := pl.byID[it.view.AttachedTo]
		if target == nil || target.kind == Adjustment {
			continue
		}
		if target.view.Status == string(Planned) {
			it.view.Status = string(Planned)
		}
		ok, err := pl.linked(pl.p.linkAdjustment, it, target, true)
		if err != nil {
			return err
		}
		if !ok {
			pl.attached[target] = append(pl.attached[target], it)
			continue
		}
		it.owner = target
		target.value += it.value
		target.portion += it.value
		it.value = 0
	}
	return nil
}

// linked evaluates a link expression over adjustment adj and charge target;
// a nil expression gives def.
func (pl *planner) linked(p *program, adj, target *item, def bool) (bool, error) {
	if p == nil {
		return def, nil
	}
	*pl.env.adjustment, *pl.env.charge = &adj.view, &target.view
	return p.bool(&pl.vm, pl.env)
}

// linkSplits applies the splits, oldest first: a split pays the charge it
// names when the policy honours the link (links.split); one on a procedure
// it may not pay pays an adjustment attached to that procedure whose bucket
// it matches (docs/allocation.md §2.3 step 2c); anything else lands in a
// pool. Money on an adjustment folded into its procedure counts for the
// procedure, unless links.relink says a transfer re-links it (relinkFolded).
func (pl *planner) linkSplits() error {
	in := pl.in
	idx := make([]int, len(in.Splits))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		sa, sb := &in.Splits[a], &in.Splits[b]
		return cmp.Or(sa.Date.Compare(sb.Date), strings.Compare(sa.ID, sb.ID), cmp.Compare(a, b))
	})
	for _, i := range idx {
		s := &in.Splits[i]
		if s.Date.IsZero() {
			return invalidInput("split %s has no date", s.ID)
		}
		amount, err := toCents(s.Amount)
		if err != nil {
			return invalidInput("split %s: amount %v", s.ID, err)
		}
		if s.Date.After(pl.cutoff) {
			pl.later[SplitBucket(*s).ID] += amount
			continue
		}
		if it, known := pl.byID[s.ChargeID]; known && it == nil {
			continue // money on a line dated after the cutoff stays with that line: it is not loose
		}
		target, err := pl.splitTarget(s, amount)
		if err != nil {
			return err
		}
		if target == nil {
			pl.pool(s).amount += amount
			continue
		}
		owner := target
		if target.owner != nil {
			owner = target.owner
		}
		owner.value -= amount
		owner.linked += amount
		target.direct += amount
	}
	if err := pl.relinkFolded(); err != nil {
		return err
	}
	pl.refreshItems()
	return nil
}

// splitTarget is the item split s pays, or nil when its money is loose.
func (pl *planner) splitTarget(s *Split, amount int64) (*item, error) {
	if s.ChargeID == "" {
		return nil, nil
	}
	target := pl.byID[s.ChargeID]
	if target == nil {
		return nil, nil
	}
	ok, err := pl.splitLinks(s, amount, target)
	if err != nil || ok {
		return target, err
	}
	for _, adj := range pl.attached[target] {
		if ok, err := pl.splitLinks(s, amount, adj); err != nil || ok {
			return adj, err
		}
	}
	return nil, nil
}

// splitLinks evaluates links.split for split s and charge target.
func (pl *planner) splitLinks(s *Split, amount int64, target *item) (bool, error) {
	if pl.p.linkSplit == nil {
		return true, nil
	}
	sv := pl.splitView(s, amount)
	*pl.env.split, *pl.env.charge = &sv, &target.view
	return pl.p.linkSplit.bool(&pl.vm, pl.env)
}

// relinkFolded takes the patient money on an adjustment folded into its
// procedure back from the procedure when links.relink holds: it is then a
// credit on the adjustment, which a transfer re-links to the procedure
// (transfer's relink phase, docs/allocation.md §3.3 step 2).
func (pl *planner) relinkFolded() error {
	if pl.p.relink == nil {
		return nil
	}
	for _, it := range pl.items {
		if it.owner == nil || it.direct <= 0 {
			continue
		}
		ok, err := pl.linked(pl.p.relink, it, it.owner, false)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		it.owner.value += it.direct
		it.owner.linked -= it.direct
		it.value -= it.direct
		it.linked += it.direct
	}
	return nil
}

// collectCredits makes the credits (pools holding money, overpaid or
// negative charges) and the deficits (unallocated and unearned pools below
// zero).
func (pl *planner) collectCredits() {
	for _, pp := range pl.pools {
		switch {
		case pp.amount > 0:
			pl.addCredit(pl.poolCredit(pp))
		case pp.amount < 0 && pp.bucket.Kind != MisallocatedBucket:
			pl.deficits = append(pl.deficits, pl.deficitItem(pp))
		}
	}
	for _, it := range pl.items {
		if it.value < 0 {
			pl.addCredit(pl.chargeCredit(it))
		}
	}
}

func (pl *planner) splitView(s *Split, amount int64) splitEnv {
	v := splitEnv{
		ID: s.ID, ReceiptID: s.ReceiptID, ReceiptKind: s.ReceiptKind, Code: s.Code, Date: s.Date.String(),
		Amount: fromCents(amount), PatientID: s.PatientID, GuarantorID: pl.guarantor[s.PatientID],
		ProviderID: s.ProviderID, LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID,
	}
	switch {
	case s.ChargeID != "":
		v.Target = "CHARGE"
	case s.UnearnedTypeID != "":
		v.Target = "UNEARNED"
		if t := pl.types[s.UnearnedTypeID]; t != nil {
			v.UnearnedType, v.Hidden = t.Name, t.Hidden
		}
	default:
		v.Target = "NONE"
	}
	return v
}

// pool returns the pool a split belongs to (SplitBucket), creating it on
// first use.
func (pl *planner) pool(s *Split) *pool {
	b := SplitBucket(*s)
	if pp, ok := pl.poolByID[b.ID]; ok {
		return pp
	}
	kind := b.Kind
	pp := &pool{bucket: b, date: s.Date}
	if kind == UnearnedBucket {
		pp.typ = pl.types[b.UnearnedTypeID]
		pp.hidden = pp.typ != nil && pp.typ.Hidden
	}
	if kind == MisallocatedBucket {
		pp.target = pl.byID[b.ChargeID]
		if pp.target != nil {
			pp.bucket.EncounterID = pp.target.view.EncounterID
		}
	}
	pl.poolByID[b.ID] = pp
	pl.pools = append(pl.pools, pp)
	return pp
}

func (pl *planner) nextSeq() int {
	pl.seq++
	return pl.seq
}

func (pl *planner) creditView(b Bucket, source BucketKind, amount int64, date Date) creditEnv {
	return creditEnv{
		ID: b.ID, Source: string(source), PatientID: b.PatientID, GuarantorID: pl.guarantor[b.PatientID],
		ProviderID: b.ProviderID, LocationID: b.LocationID, EncounterID: b.EncounterID, ChargeID: b.ChargeID,
		UnearnedTypeID: b.UnearnedTypeID, Date: date.String(), AgeDays: pl.asOf.DaysSince(date),
		Amount: fromCents(amount), Original: fromCents(amount), LinkedIncome: decimal.Zero,
	}
}

func (pl *planner) poolCredit(pp *pool) *credit {
	c := &credit{bucket: pp.bucket, amount: pp.amount, pool: pp, order: order{date: pp.date, rank: 2, id: pp.bucket.ID}}
	c.view = pl.creditView(pp.bucket, pp.bucket.Kind, pp.amount, pp.date)
	if pp.typ != nil {
		c.view.UnearnedType, c.view.Hidden = pp.typ.Name, pp.typ.Hidden
	}
	if t := pp.target; t != nil {
		c.view.Kind, c.view.Status, c.view.Code = t.view.Kind, t.view.Status, t.view.Code
		c.view.GuarantorID = pl.guarantorOf(pp.bucket.PatientID, "")
	}
	return c
}

func (pl *planner) chargeCredit(it *item) *credit {
	c := &credit{bucket: it.bucket, amount: -it.value, charge: it, order: order{date: it.date, rank: it.rank, id: it.id}}
	c.view = pl.creditView(it.bucket, ChargeBucket, -it.value, it.date)
	c.view.Kind, c.view.Status, c.view.Code, c.view.AttachedTo = it.view.Kind, it.view.Status, it.view.Code, it.view.AttachedTo
	c.view.GuarantorID = it.view.GuarantorID
	c.view.LinkedIncome = fromCents(it.linked)
	return c
}

func (pl *planner) deficitItem(pp *pool) *item {
	it := &item{
		deficit: pp, bucket: pp.bucket, value: -pp.amount, portion: -pp.amount,
		order: order{date: pp.date, rank: 2, id: pp.bucket.ID},
	}
	it.view = chargeEnv{
		ID: pp.bucket.ID, Kind: string(pp.bucket.Kind), Status: string(Completed),
		PatientID: pp.bucket.PatientID, GuarantorID: pl.guarantor[pp.bucket.PatientID],
		ProviderID: pp.bucket.ProviderID, LocationID: pp.bucket.LocationID, UnearnedTypeID: pp.bucket.UnearnedTypeID,
		Hidden: pp.hidden, Date: pp.date.String(), AgeDays: pl.asOf.DaysSince(pp.date),
		Amount: fromCents(-pp.amount), Portion: fromCents(-pp.amount), Owed: fromCents(-pp.amount),
	}
	if pp.typ != nil {
		it.view.UnearnedType = pp.typ.Name
	}
	return it
}

func (pl *planner) addCredit(c *credit) {
	c.spendable = c.amount
	c.seq = pl.nextSeq()
	pl.credits = append(pl.credits, c)
	if _, dup := pl.creditIDs[c.bucket.ID]; !dup {
		pl.creditIDs[c.bucket.ID] = c
	}
}

// refreshItems copies the items' money into their views.
func (pl *planner) refreshItems() {
	for _, it := range pl.items {
		it.view.Portion = fromCents(it.portion)
		it.view.LinkedIncome = fromCents(it.linked)
		it.view.Owed = fromCents(it.value)
	}
}

// filterAndSort evaluates the policy's filters, spendable amounts and order
// keys, and sorts credits and receivers.
func (pl *planner) filterAndSort() error {
	for _, c := range pl.credits {
		if err := pl.prepareCredit(c); err != nil {
			return err
		}
	}
	slices.SortFunc(pl.credits, func(a, b *credit) int { return compareOrder(&a.order, &b.order) })
	pl.capHidden()
	all := append(slices.Clone(pl.items), pl.deficits...)
	for _, it := range all {
		if err := pl.prepareItem(it); err != nil {
			return err
		}
	}
	slices.SortFunc(pl.deficits, func(a, b *item) int { return compareOrder(&a.order, &b.order) })
	slices.SortFunc(pl.items, func(a, b *item) int { return compareOrder(&a.order, &b.order) })
	return nil
}

// capHidden limits what hidden unearned credits may move to what the
// family holds of their type, net: a hidden −x in one bucket and +y in
// another give at most y−x, in credit order (docs/allocation.md §3.3,
// hidden unearned).
func (pl *planner) capHidden() {
	type key struct{ guarantor, typ string }
	net := map[key]int64{}
	for _, pp := range pl.pools {
		if pp.hidden {
			net[key{pl.guarantor[pp.bucket.PatientID], pp.bucket.UnearnedTypeID}] += pp.amount
		}
	}
	for _, c := range pl.credits {
		if c.pool == nil || !c.pool.hidden {
			continue
		}
		k := key{pl.guarantor[c.bucket.PatientID], c.bucket.UnearnedTypeID}
		c.spendable = max(0, min(c.spendable, net[k]))
		net[k] -= c.spendable
	}
}

func (pl *planner) prepareCredit(c *credit) error {
	*pl.env.credit = &c.view
	c.passes = true
	if pl.p.creditFilter != nil {
		ok, err := pl.p.creditFilter.bool(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		c.passes = ok
	}
	c.spendable = c.amount
	if pl.p.spendable != nil && c.bucket.Kind != PaymentBucket {
		s, err := pl.p.spendable.cents(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		c.spendable = max(0, min(s, c.amount))
	}
	if c.pool != nil {
		// A plan dated in the past sees the ledger as of its date, but may
		// move only money still there today: splits dated later (a refund,
		// a later transfer) count against the bucket, as the engine counts
		// them (docs/allocation.md §1.2).
		c.spendable = max(0, min(c.spendable, c.pool.amount+pl.later[c.bucket.ID]))
	}
	c.keys = make([]sortKey, len(pl.p.creditOrder))
	for i, k := range pl.p.creditOrder {
		v, err := k.sortKey(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		c.keys[i] = v
	}
	return nil
}

func (pl *planner) prepareItem(it *item) error {
	*pl.env.charge = &it.view
	it.passes = true
	if pl.p.chargeFilter != nil {
		ok, err := pl.p.chargeFilter.bool(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		it.passes = ok
	}
	it.keys = make([]sortKey, len(pl.p.chargeOrder))
	for i, k := range pl.p.chargeOrder {
		v, err := k.sortKey(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		it.keys[i] = v
	}
	return nil
}
