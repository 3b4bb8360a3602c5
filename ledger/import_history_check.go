package ledger

import (
	"context"
	"strings"
)

// The check pass of a history import: every file again, in HistoryFiles
// order, each row checked against the rows before it and the ledger, and
// what posts summed where the findings and the reconciliation need it.

// check reads the set a second time and settles each row.
func (p *historyPlan) check(ctx context.Context, r Reader) error {
	if err := p.ledgerDirectories(ctx, r); err != nil {
		return err
	}
	checks := map[string]func(*historyRow){
		EntityProvider: p.checkProvider, EntityLocation: p.checkLocation, EntityUnearnedType: p.checkUnearnedType,
		EntityFamily: p.checkFamily, EntityPatient: p.checkPatient, EntityProcedure: p.checkProcedure,
		EntityAdjustment: p.checkAdjustment, EntityReceipt: p.checkReceipt, EntitySplit: p.checkSplit,
	}
	for i := range HistoryFiles {
		f := &HistoryFiles[i]
		seen := map[string]int{}
		_, err := p.job.set.scan(f, nil, func(row *historyRow) error {
			if first, dup := seen[row.key()]; dup {
				p.bad(row, f.Columns[0].Name, IssueDuplicateKey, "%s %q is also on row %d", f.Columns[0].Name, row.key(), first)
				return nil
			}
			seen[row.key()] = row.Row
			if !row.bad {
				checks[f.Entity](row)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	p.findings()
	return p.before(ctx, r)
}

// ledgerDirectories loads the practice's providers (by code), locations
// (by code) and unearned types (by name), which a set's rows match
// before creating their own.
func (p *historyPlan) ledgerDirectories(ctx context.Context, r Reader) error {
	provs, err := r.ProvidersOfPractice(ctx, p.pid)
	if err != nil {
		return err
	}
	locs, err := r.LocationsOfPractice(ctx, p.pid)
	if err != nil {
		return err
	}
	types, err := r.UnearnedTypes(ctx, p.pid)
	if err != nil {
		return err
	}
	p.known["provider_code"], p.known["location_code"], p.known["type_name"] = map[string]*knownRef{}, map[string]*knownRef{}, map[string]*knownRef{}
	for _, v := range provs {
		p.known["provider_code"][strings.ToLower(v.Code)] = &knownRef{LedgerID: v.ID}
	}
	for _, v := range locs {
		p.known["location_code"][strings.ToLower(v.Code)] = &knownRef{LedgerID: v.ID}
	}
	for _, v := range types {
		p.known["type_name"][strings.ToLower(v.Name)] = &knownRef{LedgerID: v.ID, Planned: v.IsTreatmentPlan}
		if v.IsTreatmentPlan {
			p.tpType = &v.ID
		}
	}
	pr, err := r.Practice(ctx, p.pid)
	p.prepayAllowed = pr.PrePayAllowedForTpProcs
	return err
}

// directoryRow settles a provider's or location's row: an earlier
// import's, the practice's with its code, or a new one.
func (p *historyPlan) directoryRow(row *historyRow, m map[string]ID, byCode string) (ID, bool) {
	if ref := p.earlier(row); ref != nil {
		m[row.key()] = ref.LedgerID
		return ID{}, false
	}
	code := row.get("code")
	if code == "" {
		code = row.key()
	}
	p.postRow(row)
	if ref := p.known[byCode][strings.ToLower(code)]; ref != nil {
		m[row.key()] = ref.LedgerID
		return ID{}, false
	}
	id := newID()
	m[row.key()] = id
	return id, true
}

func (p *historyPlan) checkProvider(row *historyRow) {
	if id, isNew := p.directoryRow(row, p.providers, "provider_code"); isNew {
		p.newProviders = append(p.newProviders, Provider{ID: id, Name: row.get("name"), Code: codeOf(row)})
	}
}

func (p *historyPlan) checkLocation(row *historyRow) {
	if id, isNew := p.directoryRow(row, p.locations, "location_code"); isNew {
		p.newLocations = append(p.newLocations, Location{ID: id, Name: row.get("name"), Code: codeOf(row)})
	}
}

func codeOf(row *historyRow) string {
	if c := row.get("code"); c != "" {
		return c
	}
	return row.key()
}

func (p *historyPlan) checkUnearnedType(row *historyRow) {
	hidden, tp := p.flag(row, "hidden"), p.flag(row, "treatment_plan")
	if row.bad {
		return
	}
	if ref := p.earlier(row); ref != nil {
		p.utypes[row.key()] = ref.LedgerID
		return
	}
	p.postRow(row)
	if ref := p.known["type_name"][strings.ToLower(row.get("name"))]; ref != nil {
		p.utypes[row.key()] = ref.LedgerID
		return
	}
	if tp {
		for _, ref := range p.known["type_name"] {
			if ref.Planned {
				p.bad(row, "treatment_plan", IssueBadValue, "the practice has a treatment-plan type already; a practice has at most one")
				return
			}
		}
		p.known["type_name"]["\x00tp"] = &knownRef{Planned: true}
	}
	u := UnearnedType{ID: newID(), Name: row.get("name"), Hidden: hidden, IsTreatmentPlan: tp}
	if tp {
		p.tpType = &u.ID
	}
	p.utypes[row.key()] = u.ID
	p.newTypes = append(p.newTypes, u)
}

func (p *historyPlan) checkFamily(row *historyRow) {
	bal, ok := p.money(row, "balance", false)
	if !ok {
		return
	}
	f := &hfam{row: row.Row, line: row.Line, old: row.key()}
	if row.get("balance") != "" {
		f.balance = &bal
	}
	if ref := p.earlier(row); ref != nil {
		f.id = ref.LedgerID
	} else {
		f.id = newID()
		f.g = &Guarantor{ID: f.id, Name: row.get("name"), ExternalID: row.key()}
		p.postRow(row)
	}
	if prev := p.famByID[f.id]; prev != nil {
		prev.row, prev.line, prev.old, prev.balance = f.row, f.line, f.old, f.balance
		f = prev
	}
	p.families[row.key()] = f
	p.famByID[f.id] = f
}

func (p *historyPlan) checkPatient(row *historyRow) {
	var birth *Date
	if row.get("birth_date") != "" {
		d, ok := p.date(row, "birth_date", false)
		if !ok {
			return
		}
		birth = &d
	}
	self := p.flag(row, "guarantor")
	fam := p.families[row.get("family_id")]
	if fam == nil {
		if ref := p.known[EntityFamily][row.get("family_id")]; ref != nil {
			fam = p.ledgerFamily(ref.LedgerID)
		} else {
			p.unknown(row, "family_id", EntityFamily)
		}
	}
	if row.bad {
		return
	}
	if ref := p.earlier(row); ref != nil {
		pt := p.ledgerPatient(ref.LedgerID, ref.GuarantorID)
		if pt.fam != fam {
			p.issue(row, "family_id", SeverityWarning, IssueGuarantor, "the ledger has patient %q in another family; the history posts to that family", row.key())
		}
		p.patients[row.key()] = pt
		return
	}
	pt := &hpat{id: newID(), fam: fam, p: &Patient{FirstName: row.get("first_name"), LastName: row.get("last_name"), BirthDate: birth,
		ExternalID: row.key(), GuarantorID: fam.id}}
	pt.p.ID = pt.id
	if self && fam.g != nil && fam.g.SelfPatientID == nil {
		fam.g.SelfPatientID = &pt.id
	}
	p.patients[row.key()] = pt
	p.patByID[pt.id] = pt
	p.postRow(row)
}

// ledgerFamily is the plan's entry for a family the ledger has.
func (p *historyPlan) ledgerFamily(id ID) *hfam {
	f := p.famByID[id]
	if f == nil {
		f = &hfam{id: id}
		p.famByID[id] = f
	}
	return f
}

func (p *historyPlan) checkProcedure(row *historyRow) {
	pt := p.patient(row, "patient_id")
	prov, okP := refID(p, row, "provider_id", EntityProvider, p.providers)
	loc, okL := refID(p, row, "location_id", EntityLocation, p.locations)
	fee, okF := p.money(row, "fee", true)
	est, okE := p.money(row, "insurance_estimate", false)
	wo, okW := p.money(row, "insurance_write_off", false)
	status := StatusCompleted
	switch s := strings.ToUpper(row.get("status")); s {
	case "", "COMPLETED", "C":
	case "PLANNED", "TP":
		status = StatusPlanned
	default:
		p.bad(row, "status", IssueBadValue, "status must be COMPLETED or PLANNED, not %q", row.get("status"))
	}
	d, okD := p.date(row, "service_date", status == StatusPlanned)
	if est.Sign() < 0 {
		p.bad(row, "insurance_estimate", IssueBadSign, "an insurance estimate cannot be negative")
	}
	if fee.Sign() < 0 && est.Sign() > 0 {
		p.bad(row, "insurance_estimate", IssueBadValue, "a procedure with a negative fee expects no insurance")
	}
	if row.bad || pt == nil || !okP || !okL || !okF || !okE || !okW || !okD {
		return
	}
	if ref := p.earlier(row); ref != nil {
		p.procs[row.key()] = p.earlierProc(ref)
		return
	}
	x := &hproc{id: newID(), pat: pt, provider: prov, location: loc, planned: status == StatusPlanned, row: row.Row, line: row.Line,
		worth: centsOf(fee.Sub(wo)), est: centsOf(est)}
	x.enc = p.encounterOf(row, x, d)
	if x.enc == nil {
		return
	}
	if fee.Sign() < 0 {
		p.issue(row, "fee", SeverityWarning, FindingNegativeProduction, "a negative fee (%s): negative production, kept as it is", fee)
	}
	if !x.planned {
		pt.fam.add(x.worth)
	}
	p.procs[row.key()] = x
	p.postRow(row)
}

// earlierProc is the plan's entry for a procedure an earlier import posted.
func (p *historyPlan) earlierProc(ref *knownRef) *hproc {
	return &hproc{id: ref.LedgerID, pat: p.ledgerPatient(ref.PatientID, ref.GuarantorID), provider: ref.ProviderID,
		location: ref.LocationID, planned: ref.Planned, earlier: true}
}

// encounterOf puts a procedure in its encounter: the row's encounter id,
// or without one the patient's visit that day with that provider and
// location.
func (p *historyPlan) encounterOf(row *historyRow, x *hproc, d Date) *henc {
	key := row.get("encounter_id")
	if key == "" {
		key = "\x00" + row.get("patient_id") + "\x00" + d.String() + "\x00" + x.provider.String() + "\x00" + x.location.String()
	}
	e := p.encounters[key]
	if e == nil {
		e = &henc{id: newID(), pat: x.pat, provider: x.provider, location: x.location, from: dayOf(d), to: dayOf(d)}
		p.encounters[strings.Clone(key)] = e
		p.encList = append(p.encList, e)
		return e
	}
	if e.pat != x.pat {
		p.bad(row, "encounter_id", IssueBadValue, "encounter %q is another patient's", row.get("encounter_id"))
		return nil
	}
	e.from, e.to = min(e.from, dayOf(d)), max(e.to, dayOf(d))
	return e
}

func (p *historyPlan) checkAdjustment(row *historyRow) {
	pt := p.patient(row, "patient_id")
	amount, okA := p.money(row, "amount", true)
	_, okD := p.date(row, "date", false)
	_, okP := optRefID(p, row, "provider_id", EntityProvider, p.providers)
	_, okL := optRefID(p, row, "location_id", EntityLocation, p.locations)
	var root *hproc
	if v := row.get("procedure_id"); v != "" {
		if root = p.procs[v]; root == nil {
			if ref := p.known[EntityProcedure][v]; ref != nil {
				root = p.earlierProc(ref)
				p.procs[strings.Clone(v)] = root
			} else {
				p.unknown(row, "procedure_id", EntityProcedure)
			}
		}
	}
	if okA && amount.IsZero() {
		p.bad(row, "amount", IssueBadAmount, "an adjustment of 0.00 adjusts nothing")
	}
	if row.bad || pt == nil || !okA || !okD || !okP || !okL {
		return
	}
	if root != nil && root.pat != pt {
		p.bad(row, "procedure_id", IssueBadValue, "procedure %q is another patient's", row.get("procedure_id"))
		return
	}
	if ref := p.earlier(row); ref != nil {
		p.adjs[row.key()] = &hadj{id: ref.LedgerID, pat: p.ledgerPatient(ref.PatientID, ref.GuarantorID)}
		return
	}
	a := &hadj{id: newID(), pat: pt, root: root, row: row.Row}
	switch {
	case root == nil:
		pt.fam.add(centsOf(amount))
	case root.earlier:
		pt.fam.approximate = true
		pt.fam.add(centsOf(amount))
	case !root.planned:
		root.worth = root.worth.add(centsOf(amount))
		pt.fam.add(centsOf(amount))
	}
	p.adjs[row.key()] = a
	p.postRow(row)
}

// receiptSigns says which amounts each kind of receipt may have (the
// database's receipts_amount_sign).
var receiptKinds = map[string]ReceiptKind{
	"PATIENT_PAYMENT": ReceiptPatientPayment, "INSURANCE_PAYMENT": ReceiptInsurancePayment, "REFUND": ReceiptRefund, "TRANSFER": ReceiptTransfer,
}

func (p *historyPlan) checkReceipt(row *historyRow) {
	if ref := p.earlier(row); ref != nil {
		p.receipts[row.key()] = &hrec{id: ref.LedgerID, earlier: true}
		return
	}
	kind, okK := receiptKinds[strings.ToUpper(row.get("kind"))]
	if !okK {
		p.bad(row, "kind", IssueBadValue, "kind must be PATIENT_PAYMENT, INSURANCE_PAYMENT, REFUND or TRANSFER, not %q", row.get("kind"))
	}
	amount, okA := p.money(row, "amount", true)
	_, okD := p.date(row, "date", false)
	var pt *hpat
	if row.get("patient_id") != "" {
		pt = p.patient(row, "patient_id")
	}
	if e := row.get("claim_encounter_id"); e != "" {
		if p.encounters[e] == nil {
			p.unknown(row, "claim_encounter_id", "encounter")
		} else if kind != ReceiptInsurancePayment {
			p.bad(row, "claim_encounter_id", IssueBadValue, "only an INSURANCE_PAYMENT pays a claim")
		}
	}
	if okK && okA {
		switch {
		case (kind == ReceiptPatientPayment || kind == ReceiptInsurancePayment) && amount.Sign() <= 0:
			p.bad(row, "amount", IssueBadSign, "a %s is positive (a negative one is a REFUND)", kind)
		case kind == ReceiptRefund && amount.Sign() >= 0:
			p.bad(row, "amount", IssueBadSign, "a REFUND is negative")
		case kind == ReceiptTransfer && !amount.IsZero():
			p.bad(row, "amount", IssueBadSign, "a TRANSFER moves money and is 0.00")
		}
	}
	if row.bad || !okD {
		p.receipts[row.key()] = &hrec{bad: true}
		return
	}
	p.receipts[row.key()] = &hrec{id: newID(), pat: pt, kind: kind, amount: centsOf(amount), row: row.Row, line: row.Line}
	p.postRow(row)
}

func (p *historyPlan) checkSplit(row *historyRow) {
	rec := p.receipts[row.get("receipt_id")]
	if rec == nil {
		if p.known[EntityReceipt][row.get("receipt_id")] != nil {
			rec = &hrec{earlier: true}
		} else {
			p.unknown(row, "receipt_id", EntityReceipt)
			return
		}
	}
	if rec.earlier {
		p.files[row.file.Name].RowsSkipped++ // its receipt's splits were posted with it
		return
	}
	amount, okA := p.money(row, "amount", true)
	if okA && amount.IsZero() {
		p.bad(row, "amount", IssueBadAmount, "a split of 0.00 moves nothing")
	}
	t, ok := p.splitTarget(row)
	if rec.bad || row.bad || !okA || !ok {
		return
	}
	cents := centsOf(amount)
	rec.sum, rec.splits = rec.sum.add(cents), rec.splits+1
	if rec.pat != nil && t.pat.fam != rec.pat.fam {
		p.issue(row, "patient_id", SeverityWarning, FindingCrossFamily, "the split is on a patient of another family than the receipt's")
	}
	t.pat.fam.add(cents.neg())
	switch {
	case t.proc != nil:
		t.proc.paid = t.proc.paid.add(cents)
		t.proc.insured = t.proc.insured || rec.kind == ReceiptInsurancePayment
		if t.proc.earlier {
			t.pat.fam.approximate = true
		}
	case t.charge == nil:
		b := hbucket{patient: t.pat.id, utype: deref(t.utype)}
		b.provider, b.location = deref(t.provider), deref(t.location)
		s := p.buckets[b]
		if s == nil {
			s = &hbucketSum{row: row.Row, line: row.Line}
			p.buckets[b] = s
		}
		s.sum = s.sum.add(cents)
		if t.utype == nil {
			p.issue(row, "", SeverityWarning, FindingUnallocated, "%s on no procedure, adjustment or unearned type: unallocated, as the old system had it", amount)
		}
	}
	p.postRow(row)
}

// splitTarget is where a split puts its money.
type splitTarget struct {
	pat                       *hpat
	proc                      *hproc // on a procedure, or on an adjustment attached to one
	charge                    *ID    // the procedure or adjustment; nil: loose money
	utype, provider, location *ID
}

// splitTarget resolves a split's target, patient, provider and location.
func (p *historyPlan) splitTarget(row *historyRow) (splitTarget, bool) {
	var t splitTarget
	targets := 0
	for _, c := range []string{"procedure_id", "adjustment_id", "unearned_type_id"} {
		if row.get(c) != "" {
			targets++
		}
	}
	prepay := targets == 2 && row.get("adjustment_id") == "" // a planned procedure's, checked by chargeTarget
	if targets > 1 && !prepay {
		p.bad(row, "", IssueBadValue, "a split goes on one procedure, adjustment or unearned type, not two")
		return t, false
	}
	prov, okP := optRefID(p, row, "provider_id", EntityProvider, p.providers)
	loc, okL := optRefID(p, row, "location_id", EntityLocation, p.locations)
	ut, okU := optRefID(p, row, "unearned_type_id", EntityUnearnedType, p.utypes)
	t.provider, t.location, t.utype = prov, loc, ut
	if !okP || !okL || !okU || !p.chargeTarget(row, &t) {
		return t, false
	}
	if t.pat != nil {
		return t, p.samePatient(row, t.pat)
	}
	return t, p.loosePatient(row, &t)
}

// chargeTarget puts a split on its procedure or adjustment, if it names
// one; false (with an issue) when that is unknown or planned.
func (p *historyPlan) chargeTarget(row *historyRow, t *splitTarget) bool {
	if v := row.get("procedure_id"); v != "" {
		x := p.procs[v]
		if x == nil {
			ref := p.known[EntityProcedure][v]
			if ref == nil {
				p.unknown(row, "procedure_id", EntityProcedure)
				return false
			}
			x = p.earlierProc(ref)
			p.procs[strings.Clone(v)] = x
		}
		if !p.prepayType(row, x, t) {
			return false
		}
		if (t.provider != nil && *t.provider != x.provider) || (t.location != nil && *t.location != x.location) {
			p.issue(row, "provider_id", SeverityWarning, FindingOtherProvider, "the split's provider or location is not procedure %q's; kept as it is", v)
		}
		t.pat, t.proc, t.charge = x.pat, x, &x.id
		if t.provider == nil {
			t.provider, t.location = &x.provider, &x.location
		}
	}
	if v := row.get("adjustment_id"); v != "" {
		a := p.adjs[v]
		if a == nil {
			ref := p.known[EntityAdjustment][v]
			if ref == nil {
				p.unknown(row, "adjustment_id", EntityAdjustment)
				return false
			}
			a = &hadj{id: ref.LedgerID, pat: p.ledgerPatient(ref.PatientID, ref.GuarantorID)}
			p.adjs[strings.Clone(v)] = a
		}
		t.pat, t.proc, t.charge = a.pat, a.root, &a.id
	}
	return true
}

// prepayType settles the unearned type of a split on procedure x: none on
// a completed one; on a planned one, the practice's treatment-plan type (a
// prepayment attached to planned work), named or implied.
func (p *historyPlan) prepayType(row *historyRow, x *hproc, t *splitTarget) bool {
	switch {
	case !x.planned && t.utype != nil:
		p.bad(row, "unearned_type_id", IssueBadValue, "a split on a completed procedure pays it; an unearned type goes with a procedure only as prepayment on a planned one")
		return false
	case !x.planned:
		return true
	case p.tpType == nil:
		p.bad(row, "procedure_id", IssuePlannedSplit, "money on a planned procedure is a prepayment on the treatment-plan unearned type, and the practice has none: add one (treatment_plan yes in unearned_types.csv)")
		return false
	case t.utype != nil && *t.utype != *p.tpType:
		p.bad(row, "unearned_type_id", IssuePlannedSplit, "prepayment on a planned procedure goes on the practice's treatment-plan unearned type, not %q", row.get("unearned_type_id"))
		return false
	}
	t.utype = p.tpType
	if !p.prepayAllowed {
		p.issue(row, "procedure_id", SeverityWarning, FindingPrepayNotAllowed, "a prepayment on planned procedure %q, which the practice does not take (prepayAllowedForTpProcs is off); kept as it is", row.get("procedure_id"))
	}
	return true
}

// samePatient checks that a split on a line names no other patient.
func (p *historyPlan) samePatient(row *historyRow, pat *hpat) bool {
	v := row.get("patient_id")
	if v == "" {
		return true
	}
	if p.patients[v] == nil && p.known[EntityPatient][v] == nil {
		p.unknown(row, "patient_id", EntityPatient)
		return false
	}
	if p.patient(row, "patient_id") != pat {
		p.bad(row, "patient_id", IssueBadValue, "the split's patient is not its procedure's (or adjustment's)")
		return false
	}
	return true
}

// loosePatient gives money on no line its patient: the split's, else its
// receipt's.
func (p *historyPlan) loosePatient(row *historyRow, t *splitTarget) bool {
	if row.get("patient_id") != "" {
		t.pat = p.patient(row, "patient_id")
		return t.pat != nil
	}
	if rec := p.receipts[row.get("receipt_id")]; rec != nil && rec.pat != nil {
		t.pat = rec.pat
		return true
	}
	p.bad(row, "patient_id", IssueMissingValue, "a split on no procedure or adjustment needs a patient (here or on its receipt)")
	return false
}
