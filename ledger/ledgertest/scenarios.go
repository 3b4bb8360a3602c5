package ledgertest

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/rules"
)

// ScenarioPractice is a practice holding the ledger of a rules scenario
// (rules/testdata/golden): every id of the scenario mapped to a UUID. The
// UUIDs sort as the scenario's ids do, so the planner's final tie-break
// (by id) orders them the same way.
type ScenarioPractice struct {
	*Practice
	ids   map[string]ledger.ID
	names map[ledger.ID]string
}

// ID returns the UUID of a scenario id ("" is none).
func (s *ScenarioPractice) ID(name string) *ledger.ID {
	if name == "" {
		return nil
	}
	id, ok := s.ids[name]
	if !ok {
		panic(fmt.Sprintf("ledgertest: scenario has no id %q", name))
	}
	return &id
}

// Name returns the scenario id of a UUID (nil is "").
func (s *ScenarioPractice) Name(id *ledger.ID) string {
	if id == nil {
		return ""
	}
	if n, ok := s.names[*id]; ok {
		return n
	}
	return id.String()
}

// Representable says why the ledger of in cannot be written as rows (the
// schema forbids a negative balance-forward line, a procedure without a
// provider, and write-offs off completed lines), or "" when it can.
func Representable(in rules.Input) string {
	if why := representable(in); why != "" {
		return why + "; "
	}
	return ""
}

func representable(in rules.Input) string {
	guarantor := map[string]string{}
	for _, p := range in.Patients {
		guarantor[p.ID] = p.GuarantorID
	}
	for _, c := range in.Charges {
		switch {
		case c.Kind == rules.BalanceForward && c.Amount.Sign() < 0:
			return "a negative " + string(c.Kind)
		case c.Amount.Sign() < 0 && !c.InsuranceEstimate.IsZero():
			return "an insurance estimate on a negative line"
		case c.Kind != rules.Adjustment && c.ProviderID == "":
			return "a " + string(c.Kind) + " without a provider"
		case c.Kind == rules.Adjustment && c.Status == rules.Planned:
			return "a planned adjustment"
		case !c.InsuranceWriteOff.IsZero() && (c.Kind == rules.Adjustment || c.Status == rules.Planned):
			return "an insurance write-off on an adjustment or planned line"
		case !c.InsurancePaid.IsZero() && !c.InsuranceEstimate.IsZero():
			return "an insurance estimate still pending after insurance paid"
		case c.GuarantorID != "" && c.GuarantorID != guarantor[c.PatientID]:
			return "a charge whose guarantor is not its patient's"
		}
	}
	byReceipt := map[string][]rules.Split{}
	for _, s := range in.Splits {
		if s.ReceiptID != "" {
			byReceipt[s.ReceiptID] = append(byReceipt[s.ReceiptID], s)
		}
	}
	for id, ss := range byReceipt {
		for _, s := range ss[1:] {
			if s.Date != ss[0].Date {
				return "receipt " + id + " has splits on different dates"
			}
		}
		if _, _, ok := receiptKind(ss); !ok {
			return "receipt " + id + " has a kind its amount cannot have"
		}
	}
	return ""
}

// receiptKind is the kind and amount of the receipt holding ss.
func receiptKind(ss []rules.Split) (ledger.ReceiptKind, decimal.Decimal, bool) {
	sum := decimal.Zero
	for _, s := range ss {
		sum = sum.Add(s.Amount)
	}
	kind := ledger.ReceiptKind(ss[0].ReceiptKind)
	if kind == "" {
		switch sum.Sign() {
		case 1:
			kind = ledger.ReceiptPatientPayment
		case -1:
			kind = ledger.ReceiptRefund
		default:
			kind = ledger.ReceiptTransfer
		}
	}
	ok := false
	switch kind {
	case ledger.ReceiptPatientPayment, ledger.ReceiptInsurancePayment:
		ok = sum.Sign() > 0
	case ledger.ReceiptRefund:
		ok = sum.Sign() < 0
	case ledger.ReceiptTransfer, ledger.ReceiptCreditReapply:
		ok = sum.IsZero()
	}
	return kind, sum, ok
}

var splitCodeOf = map[ledger.ReceiptKind]ledger.SplitCode{
	ledger.ReceiptPatientPayment: ledger.CodePayment, ledger.ReceiptInsurancePayment: ledger.CodeInsurance,
	ledger.ReceiptRefund: ledger.CodeRefund, ledger.ReceiptTransfer: ledger.CodeTransfer, ledger.ReceiptCreditReapply: ledger.CodeApplied,
}

// LoadScenario writes the ledger of in (patients, guarantors, providers,
// locations, unearned types, charges on encounters, and receipts holding
// the splits) into a new practice on l, as rows, and returns it with an
// ADMIN actor. Insurance paid on a charge becomes an insurance payment on
// it, and an insurance write-off a write-off row dated with the charge. The input must be Representable.
func LoadScenario(t testing.TB, l *ledger.Ledger, in rules.Input) *ScenarioPractice {
	t.Helper()
	if why := Representable(in); why != "" {
		t.Fatalf("ledgertest: scenario not representable: %s", why)
	}
	ctx := context.Background()
	s := &ScenarioPractice{ids: map[string]ledger.ID{}, names: map[ledger.ID]string{}}

	// Every id of the scenario, in order.
	var all []string
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" {
				all = append(all, id)
			}
		}
	}
	for _, p := range in.Patients {
		add(p.ID, p.GuarantorID)
	}
	for _, c := range in.Charges {
		add(c.ID, c.PatientID, c.ProviderID, c.LocationID, c.EncounterID)
	}
	for _, sp := range in.Splits {
		add(sp.ID, sp.ReceiptID, sp.PatientID, sp.ProviderID, sp.LocationID, sp.UnearnedTypeID)
	}
	for _, u := range in.UnearnedTypes {
		add(u.ID)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	for i, name := range all {
		id, _ := ledger.ParseID(fmt.Sprintf("00000000-0000-7000-8000-%012x", i+1))
		s.ids[name], s.names[id] = id, name
	}
	provs, locs := map[string]bool{}, map[string]bool{}
	for _, c := range in.Charges {
		provs[c.ProviderID], locs[c.LocationID] = true, true
	}
	for _, sp := range in.Splits {
		provs[sp.ProviderID], locs[sp.LocationID] = true, true
	}
	delete(provs, "")
	delete(locs, "")

	now := Clock()
	p := ledger.Practice{ID: NewID(), Name: "Scenario", CreatedAt: now}
	noLocation := NewID() // the location of encounters whose lines have none
	err := l.Store().InTx(ctx, func(tx ledger.Tx) error {
		if err := tx.InsertPractice(ctx, p); err != nil {
			return err
		}
		for _, u := range in.UnearnedTypes {
			if err := tx.InsertUnearnedType(ctx, p.ID, ledger.UnearnedType{ID: s.ids[u.ID], Name: u.Name, Hidden: u.Hidden, IsDefault: u.Default}); err != nil {
				return err
			}
		}
		for _, name := range slices.Sorted(maps.Keys(provs)) {
			if err := tx.InsertProvider(ctx, p.ID, ledger.Provider{ID: s.ids[name], Name: name, CreatedAt: now}); err != nil {
				return err
			}
		}
		for _, name := range slices.Sorted(maps.Keys(locs)) {
			if err := tx.InsertLocation(ctx, p.ID, ledger.Location{ID: s.ids[name], Name: name, CreatedAt: now}); err != nil {
				return err
			}
		}
		if err := tx.InsertLocation(ctx, p.ID, ledger.Location{ID: noLocation, Name: "none", CreatedAt: now}); err != nil {
			return err
		}
		// Guarantors (with their own patient record when a patient has the
		// guarantor's id), then patients.
		var gs []string
		for _, pt := range in.Patients {
			if !slices.Contains(gs, pt.GuarantorID) {
				gs = append(gs, pt.GuarantorID)
			}
		}
		for _, g := range gs {
			row := ledger.Guarantor{ID: s.ids[g], Name: g, CreatedAt: now}
			for _, pt := range in.Patients {
				if pt.ID == g {
					row.SelfPatientID = s.ID(g)
				}
			}
			if err := tx.InsertGuarantor(ctx, p.ID, row); err != nil {
				return err
			}
		}
		for _, pt := range in.Patients {
			if err := tx.InsertPatient(ctx, p.ID, ledger.Patient{ID: s.ids[pt.ID], GuarantorID: s.ids[pt.GuarantorID], FirstName: pt.ID, LastName: "Scenario", CreatedAt: now}); err != nil {
				return err
			}
		}
		// Encounters: the scenario's, or one per line.
		type enc struct {
			row   ledger.Encounter
			dates []ledger.Date
		}
		encs := map[ledger.ID]*enc{}
		var encOrder []ledger.ID
		var lines, attached []ledger.Charge
		for _, c := range in.Charges {
			row := ledger.Charge{ID: s.ids[c.ID], PatientID: s.ids[c.PatientID], ProviderID: s.ID(c.ProviderID), LocationID: s.ID(c.LocationID),
				Kind: ledger.ChargeKind(c.Kind), Status: ledger.ChargeStatus(c.Status), Code: c.Code, ServiceDate: fromRulesDate(c.Date),
				Amount: money(t, c.Amount), InsuranceEstimate: money(t, c.InsuranceEstimate), AttachedToID: s.ID(c.AttachedTo), PostedAt: now}
			if row.Status == "" {
				row.Status = ledger.StatusCompleted
			}
			if row.Code == "" {
				row.Code = map[ledger.ChargeKind]string{ledger.ChargeAdjustment: "ADJ", ledger.ChargeBalanceForward: "PREV BAL"}[row.Kind]
				if row.Code == "" {
					row.Code = "D0120"
				}
			}
			if c.Kind != rules.Adjustment || c.EncounterID != "" {
				eid := NewID()
				if c.EncounterID != "" {
					eid = s.ids[c.EncounterID]
				}
				e := encs[eid]
				if e == nil {
					loc := noLocation
					if row.LocationID != nil {
						loc = *row.LocationID
					}
					prov := s.ids[c.ProviderID]
					e = &enc{row: ledger.Encounter{ID: eid, PatientID: row.PatientID, ProviderID: prov, LocationID: loc, Kind: ledger.EncounterVisit, CreatedAt: now}}
					encs[eid] = e
					encOrder = append(encOrder, eid)
				}
				e.dates = append(e.dates, row.ServiceDate)
				row.EncounterID = &eid
			}
			if row.AttachedToID != nil {
				attached = append(attached, row)
			} else {
				lines = append(lines, row)
			}
		}
		for _, eid := range encOrder {
			e := encs[eid]
			slices.SortFunc(e.dates, ledger.Date.Compare)
			e.row.ServiceFrom, e.row.ServiceTo = e.dates[0], e.dates[len(e.dates)-1]
			if err := tx.InsertEncounter(ctx, p.ID, e.row); err != nil {
				return err
			}
		}
		if err := tx.InsertCharges(ctx, p.ID, lines); err != nil {
			return err
		}
		if err := tx.InsertCharges(ctx, p.ID, attached); err != nil {
			return err
		}
		for _, c := range in.Charges {
			if !c.InsuranceWriteOff.IsZero() {
				w := ledger.InsuranceWriteOff{ID: NewID(), ChargeID: s.ids[c.ID], Amount: money(t, c.InsuranceWriteOff),
					WrittenOn: fromRulesDate(c.Date), PostedAt: now}
				if err := tx.InsertInsuranceWriteOff(ctx, p.ID, w); err != nil {
					return err
				}
			}
		}
		// Receipts: the scenario's splits grouped by receipt, and an
		// insurance payment for insurance paid on a charge.
		type group struct {
			id     string
			splits []rules.Split
		}
		var groups []group
		at := map[string]int{}
		for _, sp := range in.Splits {
			key := sp.ReceiptID
			if key == "" {
				key = "split:" + sp.ID
			}
			if i, ok := at[key]; ok && sp.ReceiptID != "" {
				groups[i].splits = append(groups[i].splits, sp)
				continue
			}
			at[key] = len(groups)
			groups = append(groups, group{id: sp.ReceiptID, splits: []rules.Split{sp}})
		}
		for _, g := range groups {
			kind, sum, _ := receiptKind(g.splits)
			rid := NewID()
			if g.id != "" {
				rid = s.ids[g.id]
			}
			pat := s.ids[g.splits[0].PatientID]
			r := ledger.Receipt{ID: rid, Kind: kind, Amount: money(t, sum), ReceivedOn: fromRulesDate(g.splits[0].Date), PatientID: &pat, PostedAt: now}
			rows := make([]ledger.Split, len(g.splits))
			for i, sp := range g.splits {
				sid := NewID()
				if sp.ID != "" {
					sid = s.ids[sp.ID]
				}
				code := ledger.SplitCode(sp.Code)
				if code == "" {
					code = splitCodeOf[kind]
				}
				rows[i] = ledger.Split{ID: sid, ReceiptID: rid, Amount: money(t, sp.Amount), Code: code, PatientID: s.ids[sp.PatientID],
					ProviderID: s.ID(sp.ProviderID), LocationID: s.ID(sp.LocationID), ChargeID: s.ID(sp.ChargeID), UnearnedTypeID: s.ID(sp.UnearnedTypeID)}
			}
			if err := tx.InsertReceipt(ctx, p.ID, r, rows); err != nil {
				return err
			}
		}
		for _, c := range in.Charges {
			if c.InsurancePaid.IsZero() {
				continue
			}
			r := ledger.Receipt{ID: NewID(), Kind: ledger.ReceiptInsurancePayment, Amount: money(t, c.InsurancePaid), ReceivedOn: fromRulesDate(c.Date), PostedAt: now}
			sp := ledger.Split{ID: NewID(), ReceiptID: r.ID, Amount: r.Amount, Code: ledger.CodeInsurance, PatientID: s.ids[c.PatientID],
				ProviderID: s.ID(c.ProviderID), LocationID: s.ID(c.LocationID), ChargeID: s.ID(c.ID)}
			if err := tx.InsertReceipt(ctx, p.ID, r, []ledger.Split{sp}); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	s.Practice = &Practice{Ledger: l, Store: l.Store().(*postgres.Store), Actor: ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}}
	for _, u := range in.UnearnedTypes {
		switch {
		case u.Default:
			s.Prepayment = s.ids[u.ID]
		case u.Hidden:
			s.TPPrepay = s.ids[u.ID]
		}
	}
	return s
}

func fromRulesDate(d rules.Date) ledger.Date { return ledger.MustDate(d.String()) }

func money(t testing.TB, d decimal.Decimal) ledger.Money {
	t.Helper()
	m, err := ledger.MoneyFromDecimal(d)
	must(t, err)
	return m
}

// UnsupportedRequest says why a scenario's request cannot be made through
// the engine's operations under policy (previewReceipt/postReceipt with an
// allocation, previewTransfer/transferIncome, allocateUnearned), or "".
func UnsupportedRequest(policy string, in rules.Input) string {
	if why := unsupportedRequest(policy, in); why != "" {
		return why + "; "
	}
	return ""
}

func unsupportedRequest(policy string, in rules.Input) string {
	r := in.Request
	self := false
	for _, p := range in.Patients {
		if p.ID == r.PatientID && p.GuarantorID == p.ID {
			self = true
		}
	}
	switch {
	case r.Operation != rules.AutoSplit && r.Operation != rules.Transfer && r.Operation != rules.AllocateUnearned:
		return "operation " + string(r.Operation) + " is not an operation of this API yet"
	case r.LocationID != "" || r.EncounterID != "":
		return "a receipt has no location or encounter in the API"
	case len(r.AdditionalPatientIDs) > 0:
		return "additional patients are not an input of these operations"
	case r.Force:
		return "force is not an input of these operations"
	case r.Operation == rules.AutoSplit && (!r.Amount.Valid || r.Amount.Decimal.IsZero()):
		return "an auto-split splits a payment or a refund"
	case r.Operation == rules.AutoSplit && r.EnteredOn.IsZero() && datedAfter(in, r.AsOf):
		return "the engine's auto-split sees the ledger as it stands today"
	case r.Operation == rules.AllocateUnearned && len(r.ChargeIDs) == 0:
		return "allocateUnearned needs chosen charges"
	case r.Operation == rules.Transfer && r.PatientID != "" && !self && r.Scope != rules.ScopePatient &&
		policy != "rigorous" && policy != "fifo":
		return "a transfer entered on a patient has scope PATIENT"
	case r.Operation == rules.Transfer && r.Scope == rules.ScopePatient && r.PatientID == "":
		return "scope PATIENT needs a patient"
	}
	return ""
}

// datedAfter reports whether a charge or split of in is dated after d.
func datedAfter(in rules.Input, d rules.Date) bool {
	for _, c := range in.Charges {
		if c.Date.After(d) {
			return true
		}
	}
	for _, s := range in.Splits {
		if s.Date.After(d) {
			return true
		}
	}
	return false
}

// BucketID is the planner's id of a place (rules.Bucket.ID), in the
// scenario's names: what scenarios' expected moves name.
func BucketID(s *ScenarioPractice, p ledger.Place) string {
	esc := func(id *ledger.ID) string { return url.PathEscape(s.Name(id)) }
	switch p.Kind {
	case ledger.PlacePayment:
		return "payment"
	case ledger.PlaceCharge:
		return s.Name(p.ChargeID)
	case ledger.PlaceUnallocated:
		return "unallocated/" + esc(p.PatientID) + "/" + esc(p.ProviderID) + "/" + esc(p.LocationID)
	case ledger.PlaceUnearned:
		return "unearned/" + esc(p.UnearnedTypeID) + "/" + esc(p.PatientID) + "/" + esc(p.ProviderID) + "/" + esc(p.LocationID)
	case ledger.PlaceMisallocated:
		return "misallocated/" + esc(p.ChargeID) + "/" + esc(p.PatientID) + "/" + esc(p.ProviderID) + "/" + esc(p.LocationID)
	}
	return string(p.Kind)
}
