package rules

import (
	"fmt"
	"reflect"

	"github.com/shopspring/decimal"
)

// The expression environment. Every expression of a policy is compiled
// against one root struct: the fixed values below plus a params struct built
// from the policy's declared params. The fields are the whole surface a rule
// author sees (docs/rules.md lists them); they are deliberately plain: ids,
// enums as strings, dates as "YYYY-MM-DD" strings plus ageDays, money as
// decimal.Decimal.

// creditEnv is `credit`: money that may move.
type creditEnv struct {
	ID             string          `expr:"id"`             // stable id of the credit (see Bucket.ID)
	Source         string          `expr:"source"`         // PAYMENT, UNALLOCATED, UNEARNED, MISALLOCATED or CHARGE
	Kind           string          `expr:"kind"`           // charge kind for CHARGE and MISALLOCATED credits, else ""
	Status         string          `expr:"status"`         // charge status for CHARGE and MISALLOCATED credits, else ""
	ChargeID       string          `expr:"chargeId"`       // the charge a CHARGE or MISALLOCATED credit sits on
	PatientID      string          `expr:"patientId"`      //
	GuarantorID    string          `expr:"guarantorId"`    //
	ProviderID     string          `expr:"providerId"`     // "" for none
	LocationID     string          `expr:"locationId"`     // "" for none
	EncounterID    string          `expr:"encounterId"`    // "" when the money is on no encounter
	UnearnedTypeID string          `expr:"unearnedTypeId"` // UNEARNED credits
	UnearnedType   string          `expr:"unearnedType"`   // its name
	Hidden         bool            `expr:"hidden"`         // hidden unearned type
	AttachedTo     string          `expr:"attachedTo"`     // CHARGE credits: the procedure an adjustment names
	Code           string          `expr:"code"`           // CHARGE credits: the charge code
	Date           string          `expr:"date"`           // YYYY-MM-DD
	AgeDays        int             `expr:"ageDays"`        // request.asOf minus date, in days
	Amount         decimal.Decimal `expr:"amount"`         // what is left of the credit (positive; negative for a refund receipt)
	Original       decimal.Decimal `expr:"original"`       // the credit when planning started
	LinkedIncome   decimal.Decimal `expr:"linkedIncome"`   // CHARGE credits: patient money explicitly linked to the charge
}

// chargeEnv is `charge` (and `adjustment` in links.adjustment): something
// that may receive money. Besides production it may be a deficit: an
// unallocated or unearned bucket whose splits sum below zero.
type chargeEnv struct {
	ID                string          `expr:"id"`
	Kind              string          `expr:"kind"`       // PROCEDURE, ADJUSTMENT, BALANCE_FORWARD; UNALLOCATED or UNEARNED for deficits
	Status            string          `expr:"status"`     // COMPLETED or PLANNED
	Production        bool            `expr:"production"` // PROCEDURE, ADJUSTMENT or BALANCE_FORWARD
	Code              string          `expr:"code"`
	PatientID         string          `expr:"patientId"`
	GuarantorID       string          `expr:"guarantorId"`
	ProviderID        string          `expr:"providerId"`
	LocationID        string          `expr:"locationId"`
	EncounterID       string          `expr:"encounterId"`
	AttachedTo        string          `expr:"attachedTo"`     // adjustments: the procedure it names
	UnearnedTypeID    string          `expr:"unearnedTypeId"` // deficits of unearned
	UnearnedType      string          `expr:"unearnedType"`
	Hidden            bool            `expr:"hidden"`   // deficit of a hidden unearned type
	Selected          bool            `expr:"selected"` // named by request.chargeIds or a re-apply target
	Date              string          `expr:"date"`
	AgeDays           int             `expr:"ageDays"`
	Amount            decimal.Decimal `expr:"amount"` // fee or adjustment amount (deficits: the deficit)
	InsuranceEstimate decimal.Decimal `expr:"insuranceEstimate"`
	InsurancePaid     decimal.Decimal `expr:"insurancePaid"`
	InsuranceWriteOff decimal.Decimal `expr:"insuranceWriteOff"`
	Portion           decimal.Decimal `expr:"portion"`      // patient portion: amount minus insurance, with folded adjustments
	LinkedIncome      decimal.Decimal `expr:"linkedIncome"` // patient money explicitly linked to it
	Owed              decimal.Decimal `expr:"owed"`         // what it still owes now (running)
}

// splitEnv is `split`: an existing split in links.split, a proposed split in
// requirements.
type splitEnv struct {
	ID             string          `expr:"id"`
	ReceiptID      string          `expr:"receiptId"`
	ReceiptKind    string          `expr:"receiptKind"`
	Code           string          `expr:"code"`
	Stage          string          `expr:"stage"` // proposed splits: the stage of the move
	Date           string          `expr:"date"`
	Amount         decimal.Decimal `expr:"amount"`
	PatientID      string          `expr:"patientId"`
	GuarantorID    string          `expr:"guarantorId"`
	ProviderID     string          `expr:"providerId"`
	LocationID     string          `expr:"locationId"`
	Target         string          `expr:"target"` // CHARGE, UNEARNED or NONE (unallocated)
	ChargeID       string          `expr:"chargeId"`
	UnearnedTypeID string          `expr:"unearnedTypeId"`
	UnearnedType   string          `expr:"unearnedType"`
	Hidden         bool            `expr:"hidden"`
}

// requestEnv is `request`.
type requestEnv struct {
	Operation            string          `expr:"operation"` // AUTO_SPLIT, TRANSFER, ALLOCATE_UNEARNED, REAPPLY, CREDIT_MANAGEMENT
	Scope                string          `expr:"scope"`     // PATIENT or GUARANTOR
	AsOf                 string          `expr:"asOf"`
	PatientID            string          `expr:"patientId"`
	GuarantorID          string          `expr:"guarantorId"`
	LocationID           string          `expr:"locationId"`
	EncounterID          string          `expr:"encounterId"`
	PreferPatientID      string          `expr:"preferPatientId"`
	Amount               decimal.Decimal `expr:"amount"`
	HasAmount            bool            `expr:"hasAmount"`
	Force                bool            `expr:"force"`
	ChargeIDs            []string        `expr:"chargeIds"`
	AdditionalPatientIDs []string        `expr:"additionalPatientIds"`
}

// The roots of the environment.
const (
	rootCredit     = "credit"
	rootCharge     = "charge"
	rootAdjustment = "adjustment"
	rootSplit      = "split"
	rootRequest    = "request"
	rootParams     = "params"
)

var rootTypes = map[string]reflect.Type{
	rootCredit:     reflect.TypeOf(creditEnv{}),
	rootCharge:     reflect.TypeOf(chargeEnv{}),
	rootAdjustment: reflect.TypeOf(chargeEnv{}),
	rootSplit:      reflect.TypeOf(splitEnv{}),
	rootRequest:    reflect.TypeOf(requestEnv{}),
}

// fieldNames returns the expr names of a view type's fields.
func fieldNames(t reflect.Type) map[string]bool {
	m := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		m[t.Field(i).Tag.Get("expr")] = true
	}
	return m
}

var rootFields = func() map[string]map[string]bool {
	m := make(map[string]map[string]bool, len(rootTypes))
	for name, t := range rootTypes {
		m[name] = fieldNames(t)
	}
	return m
}()

// layout is the root struct type of one policy's environment.
type layout struct {
	root   reflect.Type // struct { Credit *creditEnv; ...; Params *struct{...}; Dec func }
	params reflect.Type // struct of the declared params, fields P0, P1, ... tagged with their names
	index  map[string]int
	proto  any // a *root with Dec set and every pointer non-nil, for expr.Env
}

// root field indexes
const (
	fCredit = iota
	fCharge
	fAdjustment
	fSplit
	fRequest
	fParams
	fDec
)

func newLayout(params []param) *layout {
	pf := make([]reflect.StructField, len(params))
	index := make(map[string]int, len(params))
	for i, p := range params {
		pf[i] = reflect.StructField{
			Name: fmt.Sprintf("P%d", i),
			Type: p.typ.goType(),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q`, p.name)),
		}
		index[p.name] = i
	}
	pt := reflect.StructOf(pf)
	rt := reflect.StructOf([]reflect.StructField{
		{Name: "Credit", Type: reflect.TypeOf(&creditEnv{}), Tag: `expr:"credit"`},
		{Name: "Charge", Type: reflect.TypeOf(&chargeEnv{}), Tag: `expr:"charge"`},
		{Name: "Adjustment", Type: reflect.TypeOf(&chargeEnv{}), Tag: `expr:"adjustment"`},
		{Name: "Split", Type: reflect.TypeOf(&splitEnv{}), Tag: `expr:"split"`},
		{Name: "Request", Type: reflect.TypeOf(&requestEnv{}), Tag: `expr:"request"`},
		{Name: "Params", Type: reflect.PointerTo(pt), Tag: `expr:"params"`},
		{Name: "Dec", Type: reflect.TypeOf(dec), Tag: `expr:"dec"`},
	})
	l := &layout{root: rt, params: pt, index: index}
	v := reflect.New(rt)
	v.Elem().Field(fCredit).Set(reflect.ValueOf(&creditEnv{}))
	v.Elem().Field(fCharge).Set(reflect.ValueOf(&chargeEnv{}))
	v.Elem().Field(fAdjustment).Set(reflect.ValueOf(&chargeEnv{}))
	v.Elem().Field(fSplit).Set(reflect.ValueOf(&splitEnv{}))
	v.Elem().Field(fRequest).Set(reflect.ValueOf(&requestEnv{}))
	v.Elem().Field(fParams).Set(reflect.New(pt))
	v.Elem().Field(fDec).Set(reflect.ValueOf(dec))
	l.proto = v.Interface()
	return l
}

// env is one evaluation environment: a root value whose pointers the planner
// points at the current credit, charge, split, adjustment and request.
type env struct {
	value      any // *root
	credit     **creditEnv
	charge     **chargeEnv
	adjustment **chargeEnv
	split      **splitEnv
	request    **requestEnv
	params     []any // the params' values, in layout order, for the fast path

	meter *meter     // the plan's budget; nil counts nothing
	fault *overLimit // the fast path's first bounded operation that went over
}

// money bounds a money value the fast path computed (as the VM's operators
// do): a value over its bounds is recorded as the evaluation's fault and
// replaced by zero, so nothing grows further.
func (e *env) money(d decimal.Decimal) decimal.Decimal {
	b, ol := boundMoney(d)
	if ol != nil && e.fault == nil {
		e.fault = ol
	}
	return b
}

// takeFault returns the fast path's fault at path as a *BudgetError, and
// clears it.
func (e *env) takeFault(path string) error {
	if e.fault == nil {
		return nil
	}
	err := budgetOf(path, e.fault)
	e.fault = nil
	return err
}

func (l *layout) newEnv(req *requestEnv, params reflect.Value) *env {
	v := reflect.New(l.root)
	e := v.Elem()
	e.Field(fCredit).Set(reflect.ValueOf(&creditEnv{}))
	e.Field(fCharge).Set(reflect.ValueOf(&chargeEnv{}))
	e.Field(fAdjustment).Set(reflect.ValueOf(&chargeEnv{}))
	e.Field(fSplit).Set(reflect.ValueOf(&splitEnv{}))
	e.Field(fRequest).Set(reflect.ValueOf(req))
	e.Field(fParams).Set(params)
	e.Field(fDec).Set(reflect.ValueOf(dec))
	return &env{
		value:      v.Interface(),
		credit:     e.Field(fCredit).Addr().Interface().(**creditEnv),
		charge:     e.Field(fCharge).Addr().Interface().(**chargeEnv),
		adjustment: e.Field(fAdjustment).Addr().Interface().(**chargeEnv),
		split:      e.Field(fSplit).Addr().Interface().(**splitEnv),
		request:    e.Field(fRequest).Addr().Interface().(**requestEnv),
		params:     paramsOf(params),
	}
}

func paramsOf(v reflect.Value) []any {
	ps := make([]any, v.Elem().NumField())
	for i := range ps {
		ps[i] = v.Elem().Field(i).Interface()
	}
	return ps
}
