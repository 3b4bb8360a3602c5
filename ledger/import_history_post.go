package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What a history import reports, posts and reconciles.

// findings settles what needs every row: receipts whose splits do not sum
// to their amount (errors); overpaid lines and negative buckets (findings);
// and each line's pending insurance, which its family's total leaves out.
func (p *historyPlan) findings() {
	for _, x := range p.procs {
		if x.planned && !x.earlier && x.row != 0 {
			p.prepaid(x)
		}
		if x.earlier || x.planned || x.row == 0 {
			continue
		}
		pending := hcents{}
		if !x.insured {
			pending = x.est.min(x.worth.max(hcents{}))
		}
		x.pat.fam.add(pending.neg())
		if owed := x.worth.sub(x.paid).sub(pending); owed.sign() < 0 {
			p.finding("procedures.csv", x.row, x.line, "", FindingOverpaidCharge, "the line holds %s more than it is worth (worth %s, paid %s): an overpaid line, kept as it is",
				owed.neg(), x.worth, x.paid)
		}
	}
	for _, s := range p.buckets {
		if s.sum.sign() < 0 {
			p.finding("splits.csv", s.row, s.line, "", FindingNegativeBucket, "the loose money in this split's bucket (patient, provider, location, type) comes to %s: a negative bucket, kept as it is", s.sum)
		}
	}
	for _, rec := range p.receipts {
		if rec.bad || rec.earlier || rec.row == 0 {
			continue
		}
		if rec.splits == 0 || rec.sum.cmp(rec.amount) != 0 {
			p.log.add(ImportIssue{File: "receipts.csv", Row: rec.row, Line: rec.line, Column: "amount", Severity: SeverityError, Code: IssueSplitsSum,
				Message: fmt.Sprintf("the receipt's %d splits sum to %s, not its amount %s", rec.splits, rec.sum, rec.amount)})
		}
	}
}

// prepaid reports a planned procedure holding more prepayment than its
// fee, or less than none.
func (p *historyPlan) prepaid(x *hproc) {
	switch {
	case x.paid.cmp(x.worth.max(hcents{})) > 0:
		p.finding("procedures.csv", x.row, x.line, "", FindingOverpaidCharge, "the planned line holds %s of prepayment, more than its fee %s: kept as it is", x.paid, x.worth)
	case x.paid.sign() < 0:
		p.finding("procedures.csv", x.row, x.line, "", FindingNegativeBucket, "the prepayment attached to the planned line comes to %s: kept as it is", x.paid)
	}
}

// before reads the total of each family the ledger has that the set
// touches, and compares the old system's balances with what the ledger
// will hold.
func (p *historyPlan) before(ctx context.Context, r Reader) error {
	var ids []ID
	for id, f := range p.famByID {
		if f.g == nil && (f.touched || f.balance != nil) {
			ids = append(ids, id)
		}
	}
	for start := 0; start < len(ids); start += importBatch {
		bals, err := r.GuarantorBalances(ctx, p.pid, ids[start:min(len(ids), start+importBatch)])
		if err != nil {
			return err
		}
		for id, b := range bals {
			p.famByID[id].before = familyTotal(b)
		}
	}
	for _, f := range p.famByID {
		if f.balance != nil && !f.balance.Equal(f.after()) {
			p.finding("families.csv", f.row, f.line, "balance", FindingBalanceDiffers, "the old system says the family's balance is %s; the ledger will hold %s",
				*f.balance, f.after())
		}
	}
	return nil
}

// familyTotal is what a family owes net of every credit and all money it
// holds, visible or hidden: what moving money inside the family never
// changes.
func familyTotal(b Balance) Money { return b.Balance.Sub(b.HiddenUnearned) }

// finish settles the outcome and the report's counts.
func (p *historyPlan) finish(dup *BalanceImport) {
	r := &p.report
	for _, f := range HistoryFiles {
		if fi := p.files[f.Name]; fi != nil {
			r.Files = append(r.Files, *fi)
			r.RowsToPost += fi.RowsToPost
			r.RowsSkipped += fi.RowsSkipped
		}
	}
	for _, f := range p.famByID {
		if f.g != nil {
			r.GuarantorsCreated++
		}
	}
	for _, pt := range p.patients {
		if pt.p != nil {
			r.PatientsCreated++
		}
	}
	r.Encounters = len(p.encList)
	if dup == nil && r.RowsToPost == 0 && p.log.errors == 0 && r.RowsSkipped == 0 {
		p.log.add(ImportIssue{Severity: SeverityError, Code: IssueEmptyFile, Message: "nothing to post: the set has no rows"})
	}
	r.Errors, r.Warnings = p.log.errors, p.log.warnings
	r.Issues, r.IssuesTruncated, r.IssueCounts = p.log.list()
	commit := p.mode == ImportCommit
	switch {
	case dup != nil:
		r.Outcome, r.DuplicateOf = OutcomeAlreadyImported, &dup.ID
		r.Message = fmt.Sprintf("this history set was imported on %s as import %s: nothing is posted again", dup.ImportDate, dup.ID)
	case r.Errors > 0:
		r.refused(commit, "fix the files and import them again")
	case r.RowsToPost == 0:
		r.Outcome = OutcomeAlreadyImported
		r.Message = "every row of this set was posted by an earlier import: nothing is posted again"
	case commit:
		r.Outcome, r.Message = OutcomeCommitted, p.summary("posted")
	default:
		r.Outcome, r.Message = OutcomeValid, p.summary("a commit would post")
	}
}

// summary says what the set comes to.
func (p *historyPlan) summary(verb string) string {
	r := &p.report
	s := fmt.Sprintf("%s %s (new: %d families, %s; %s)", verb, plural(r.RowsToPost, "row"), r.GuarantorsCreated,
		plural(r.PatientsCreated, "patient"), plural(r.Encounters, "encounter"))
	if n := r.Warnings; n > 0 {
		s += fmt.Sprintf("; %s kept as they are (issueCounts)", plural(n, "finding"))
	}
	return s
}

// post writes the set: providers, locations and unearned types it adds one
// by one (a practice has few), then every file's rows that post in file
// order, postChunk at a time, with the record of each old id.
func (p *historyPlan) post(ctx context.Context, tx Tx, imp *BalanceImport) error {
	now := imp.CreatedAt
	for _, v := range p.newProviders {
		v.CreatedAt = now
		if err := tx.InsertProvider(ctx, p.pid, v); err != nil {
			return err
		}
	}
	for _, v := range p.newLocations {
		v.CreatedAt = now
		if err := tx.InsertLocation(ctx, p.pid, v); err != nil {
			return err
		}
	}
	for _, v := range p.newTypes {
		if err := tx.InsertUnearnedType(ctx, p.pid, v); err != nil {
			return err
		}
	}
	w := &historyWriter{p: p, tx: tx, ctx: ctx, importID: imp.ID, now: now}
	for i := range HistoryFiles {
		f := &HistoryFiles[i]
		if f.Entity == EntityProcedure {
			if err := w.encounters(); err != nil {
				return err
			}
		}
		posts := p.posts[f.Name]
		_, err := p.job.set.scan(f, nil, func(row *historyRow) error {
			if !posts.has(row.Row) {
				return nil
			}
			return w.row(row)
		})
		if err == nil {
			err = w.flush()
		}
		if err != nil {
			return err
		}
		p.job.progress(ImportProgress{Phase: "post", Rows: w.rows})
	}
	return nil
}

// historyWriter writes a history set's rows in chunks.
type historyWriter struct {
	p        *historyPlan
	tx       Tx
	ctx      context.Context
	importID ID
	now      time.Time
	b        Bulk
	recs     []HistoryRow
	rows     int
}

func (w *historyWriter) flush() error {
	b := &w.b
	if len(w.recs)+len(b.Encounters)+len(b.Guarantors)+len(b.Patients)+len(b.Charges)+len(b.Receipts)+len(b.Splits) == 0 {
		return nil
	}
	if err := w.tx.InsertBulk(w.ctx, w.p.pid, w.b); err != nil {
		return err
	}
	if err := w.tx.InsertHistoryRows(w.ctx, w.p.pid, w.importID, w.recs); err != nil {
		return err
	}
	w.b, w.recs = Bulk{}, w.recs[:0]
	return nil
}

// encounters writes the encounters the set's procedures make.
func (w *historyWriter) encounters() error {
	note := fmt.Sprintf("Converted from a prior system (history import %s)", w.importID)
	for _, e := range w.p.encList {
		w.b.Encounters = append(w.b.Encounters, Encounter{ID: e.id, PatientID: e.pat.id, ProviderID: e.provider, LocationID: e.location,
			Kind: EncounterVisit, ServiceFrom: e.from.date(), ServiceTo: e.to.date(), Note: note, CreatedAt: w.now})
		if len(w.b.Encounters) == postChunk {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return w.flush()
}

// row writes one row that posts, and records its old id.
func (w *historyWriter) row(row *historyRow) error {
	p := w.p
	var id ID
	switch row.file.Entity {
	case EntityProvider:
		id = p.providers[row.key()]
	case EntityLocation:
		id = p.locations[row.key()]
	case EntityUnearnedType:
		id = p.utypes[row.key()]
	case EntityFamily:
		f := p.families[row.key()]
		g := *f.g
		g.CreatedAt = w.now
		w.b.Guarantors = append(w.b.Guarantors, g)
		id = f.id
	case EntityPatient:
		pt := p.patients[row.key()]
		pp := *pt.p
		pp.CreatedAt = w.now
		w.b.Patients = append(w.b.Patients, pp)
		id = pt.id
	case EntityProcedure:
		id = w.procedure(row)
	case EntityAdjustment:
		id = w.adjustment(row)
	case EntityReceipt:
		id = w.receipt(row)
	case EntitySplit:
		w.split(row)
	}
	w.rows++
	if row.file.Entity != EntitySplit {
		rec := HistoryRow{Entity: row.file.Entity, OldID: row.key(), Row: row.Row, LedgerID: id}
		if row.file.Entity == EntityFamily {
			f := p.families[row.key()]
			total := f.after()
			rec.FileBalance, rec.FileTotal = f.balance, &total
		}
		w.recs = append(w.recs, rec)
	}
	if len(w.recs) >= postChunk || len(w.b.Splits) >= postChunk {
		return w.flush()
	}
	return nil
}

// mustMoney and mustDate read a value the check pass found good.
func mustMoney(row *historyRow, c string) Money {
	m, _ := parseFileAmount(row.get(c))
	return m
}

func mustDate(row *historyRow, c string) Date {
	d, _ := parseFileDate(row.get(c))
	return d
}

func (w *historyWriter) procedure(row *historyRow) ID {
	x := w.p.procs[row.key()]
	status := StatusCompleted
	if x.planned {
		status = StatusPlanned
	}
	c := Charge{ID: x.id, EncounterID: &x.enc.id, PatientID: x.pat.id, ProviderID: &x.provider, LocationID: &x.location, Kind: ChargeProcedure,
		Status: status, Code: row.get("code"), ServiceDate: mustDate(row, "service_date"), Amount: mustMoney(row, "fee"),
		InsuranceEstimate: mustMoney(row, "insurance_estimate"), Note: row.get("memo"), PostedAt: w.now}
	w.b.Charges = append(w.b.Charges, c)
	if wo := mustMoney(row, "insurance_write_off"); !wo.IsZero() {
		w.b.WriteOffs = append(w.b.WriteOffs, InsuranceWriteOff{ID: newID(), ChargeID: x.id, Amount: wo, WrittenOn: c.ServiceDate,
			Note: "converted from a prior system", PostedAt: w.now})
	}
	return x.id
}

func (w *historyWriter) adjustment(row *historyRow) ID {
	p := w.p
	a := p.adjs[row.key()]
	code := row.get("code")
	if code == "" {
		code = "ADJ"
	}
	c := Charge{ID: a.id, PatientID: a.pat.id, Kind: ChargeAdjustment, Status: StatusCompleted, Code: code, ServiceDate: mustDate(row, "date"),
		Amount: mustMoney(row, "amount"), Note: row.get("memo"), PostedAt: w.now}
	if a.root != nil {
		c.AttachedToID, c.ProviderID, c.LocationID = &a.root.id, &a.root.provider, &a.root.location
		if a.root.enc != nil {
			c.EncounterID = &a.root.enc.id
		}
	}
	if v, ok := p.providers[row.get("provider_id")]; ok {
		c.ProviderID = &v
	}
	if v, ok := p.locations[row.get("location_id")]; ok {
		c.LocationID = &v
	}
	w.b.Charges = append(w.b.Charges, c)
	return a.id
}

func (w *historyWriter) receipt(row *historyRow) ID {
	p := w.p
	rec := p.receipts[row.key()]
	r := Receipt{ID: rec.id, Kind: rec.kind, Amount: rec.amount.money(), ReceivedOn: mustDate(row, "date"), Method: row.get("method"),
		Reference: row.get("reference"), Note: row.get("memo"), PostedAt: w.now}
	if rec.pat != nil {
		r.PatientID = &rec.pat.id
	}
	if e := row.get("claim_encounter_id"); e != "" {
		r.EncounterID = &p.encounters[e].id
	}
	w.b.Receipts = append(w.b.Receipts, r)
	return rec.id
}

func (w *historyWriter) split(row *historyRow) {
	p := w.p
	rec := p.receipts[row.get("receipt_id")]
	t, _ := p.splitTarget(row)
	s := Split{ID: newID(), ReceiptID: rec.id, Amount: mustMoney(row, "amount"), Code: splitCodes[rec.kind], PatientID: t.pat.id,
		ProviderID: t.provider, LocationID: t.location, ChargeID: t.charge, UnearnedTypeID: t.utype}
	w.b.Splits = append(w.b.Splits, s)
}

// reconcile compares, per family the set touched or gave a balance for,
// the ledger's total after posting with what the set's rows come to (they
// must match to the cent, or the commit is refused) and with the old
// system's balance, when the file gives it (a difference is a finding, not
// a refusal: the old system may have counted otherwise).
func (p *historyPlan) reconcile(ctx context.Context, tx Tx) (*Reconciliation, error) {
	rec := &Reconciliation{Matches: true}
	var fams reconList
	var ids []ID
	for id, f := range p.famByID {
		if f.touched || f.balance != nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b ID) int {
		if d := p.famByID[a].row - p.famByID[b].row; d != 0 {
			return d
		}
		return strings.Compare(a.String(), b.String())
	})
	var bad []string
	for start := 0; start < len(ids); start += importBatch {
		chunk := ids[start:min(len(ids), start+importBatch)]
		bals, err := tx.GuarantorBalances(ctx, p.pid, chunk)
		if err != nil {
			return nil, err
		}
		for _, id := range chunk {
			f, after := p.famByID[id], familyTotal(bals[id])
			want := f.after()
			if !after.Equal(want) && !f.approximate && len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("family %s: the set comes to %s, the ledger holds %s", id, want, after))
			}
			rl := ReconciliationLine{GuarantorID: id, FilePatient: want, LedgerPatient: after}
			if f.balance != nil {
				rl.FilePatient = *f.balance
			}
			rl.Matches = rl.FilePatient.Equal(rl.LedgerPatient)
			addReconLine(rec, &fams, rl)
		}
	}
	if len(bad) > 0 {
		return nil, &InvariantError{Invariant: "import_reconciles", Message: "history import did not reconcile: " + strings.Join(bad, "; ") + "; nothing was posted"}
	}
	rec.Guarantors, rec.Truncated = fams.list()
	return rec, nil
}

// addReconLine counts a family's line into a reconciliation.
func addReconLine(rec *Reconciliation, fams *reconList, rl ReconciliationLine) {
	if !rl.Matches {
		rec.Matches = false
		rec.Differing++
	}
	rec.GuarantorCount++
	fams.add(rl)
	rec.FilePatient, rec.LedgerPatient = rec.FilePatient.Add(rl.FilePatient), rec.LedgerPatient.Add(rl.LedgerPatient)
}

// reconcileHistory compares, for each family a history import recorded,
// what the import said of it (the old system's balance, or what the set's
// rows came to) with what the ledger holds now: payments and transfers
// since show as differences only when they change a family's total.
func reconcileHistory(ctx context.Context, r Reader, pid, importID ID) (Reconciliation, error) {
	rows, err := r.HistoryFamilies(ctx, pid, importID)
	if err != nil {
		return Reconciliation{}, err
	}
	rec := Reconciliation{Matches: true}
	var fams reconList
	for start := 0; start < len(rows); start += importBatch {
		chunk := rows[start:min(len(rows), start+importBatch)]
		ids := make([]ID, len(chunk))
		for i, h := range chunk {
			ids[i] = h.LedgerID
		}
		bals, err := r.GuarantorBalances(ctx, pid, ids)
		if err != nil {
			return Reconciliation{}, err
		}
		for _, h := range chunk {
			rl := ReconciliationLine{GuarantorID: h.LedgerID, LedgerPatient: familyTotal(bals[h.LedgerID])}
			switch {
			case h.FileBalance != nil:
				rl.FilePatient = *h.FileBalance
			case h.FileTotal != nil:
				rl.FilePatient = *h.FileTotal
			}
			rl.Matches = rl.FilePatient.Equal(rl.LedgerPatient)
			addReconLine(&rec, &fams, rl)
		}
	}
	rec.Guarantors, rec.Truncated = fams.list()
	return rec, nil
}

// HistoryLedger is what a history import posted, for its undo.
type HistoryLedger struct {
	Charges      []Charge
	WriteOffs    []InsuranceWriteOff
	ReceiptIDs   []ID
	GuarantorIDs []ID
}

// undoHistory checks that a history import can be undone — nothing posted
// since for the patients it touched, under locks on their families and its
// lines — and builds what reverses it: an adjustment of minus each
// completed procedure's fee attached to it, of minus each adjustment's
// amount where that adjustment sits, a negative write-off for each of its
// write-offs, and a reversal of each receipt. Every line, and every family's
// total, is then back where it was; the rows stay, as history.
func (l *Ledger) undoHistory(ctx context.Context, tx Tx, pid ID, imp BalanceImport) (Bulk, error) {
	h, err := tx.HistoryImportLedger(ctx, pid, imp.ID)
	if err != nil {
		return Bulk{}, err
	}
	chargeIDs := make([]ID, len(h.Charges))
	for i, c := range h.Charges {
		chargeIDs[i] = c.ID
	}
	if err := lockAll(ctx, tx, pid, h.GuarantorIDs, chargeIDs); err != nil {
		return Bulk{}, err
	}
	acts, err := tx.HistoryImportActivity(ctx, pid, imp.ID, imp.CreatedAt, 5)
	if err != nil {
		return Bulk{}, err
	}
	if err := untouched(imp, acts); err != nil {
		return Bulk{}, err
	}
	now, today := l.stamp(), l.Today()
	note := fmt.Sprintf("undo of history import %s", imp.ID)
	var b Bulk
	for _, c := range h.Charges {
		target := &c.ID
		switch {
		case c.Kind == ChargeAdjustment:
			target = c.AttachedToID
		case c.Status == StatusPlanned || c.Amount.IsZero():
			continue
		}
		b.Charges = append(b.Charges, Charge{ID: newID(), EncounterID: c.EncounterID, PatientID: c.PatientID, ProviderID: c.ProviderID,
			LocationID: c.LocationID, Kind: ChargeAdjustment, Status: StatusCompleted, Code: c.Code, ServiceDate: today, Amount: c.Amount.Neg(),
			AttachedToID: target, Note: note, PostedAt: now})
	}
	for _, w := range h.WriteOffs {
		b.WriteOffs = append(b.WriteOffs, InsuranceWriteOff{ID: newID(), ChargeID: w.ChargeID, Amount: w.Amount.Neg(), WrittenOn: today,
			Note: note, PostedAt: now})
	}
	return b, l.reverseAll(ctx, tx, pid, h.ReceiptIDs, note, &b)
}
