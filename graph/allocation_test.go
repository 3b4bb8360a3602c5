package graph_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

// The selections the allocation tests read.
const (
	placeFields = `kind patient { id } provider { id } location { id } charge { id } unearnedType { id }`
	planFields  = `operation policy { name version builtin } asOf total warnings guarantor { id } patient { id }
		moves { from { ` + placeFields + ` } to { ` + placeFields + ` } amount stage }
		splits { amount code stage patient { id } provider { id } location { id } charge { id } unearnedType { id } }`
)

// allocationGolden is a golden file of rules/testdata/golden.
type allocationGolden struct {
	Policies  []string         `yaml:"policies"`
	Scenarios []rules.Scenario `yaml:"scenarios"`
}

// TestAllocationGoldenThroughGraphQL runs the rules package's golden
// scenarios (including every worked example of docs/allocation.md §7 the
// ledger can hold) through the API: each scenario's ledger is written as
// rows in a practice of its own, the request is previewed
// (previewReceipt, previewTransfer, allocateUnearned with preview) and
// committed (postReceipt with allocation, transferIncome, allocateUnearned),
// and the plan's splits and moves, the posted receipt's splits and a re-run
// after a transfer are checked.
func TestAllocationGoldenThroughGraphQL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	files, err := filepath.Glob("../rules/testdata/golden/*.yaml")
	require.NoError(t, err)
	ran := 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		var g allocationGolden
		require.NoError(t, yaml.UnmarshalWithOptions(src, &g, yaml.DisallowUnknownField()), file)
		for _, policy := range g.Policies {
			for _, sc := range g.Scenarios {
				name := filepath.Base(file) + "/" + policy + "/" + sc.Name
				if why := ledgertest.Representable(sc.Input) + ledgertest.UnsupportedRequest(policy, sc.Input); why != "" {
					t.Logf("%s: skipped: %s", name, why)
					continue
				}
				ran++
				t.Run(name, func(t *testing.T) { runGoldenGraphQL(t, h, policy, sc) })
			}
		}
	}
	require.GreaterOrEqual(t, ran, 30)
}

func runGoldenGraphQL(t *testing.T, h *harness, policy string, sc rules.Scenario) {
	s := ledgertest.LoadScenario(t, h.f.Ledger, sc.Input)
	key := issueKey(t, s.Practice, ledger.RoleAdmin)
	req := sc.Input.Request
	id := func(name string) any {
		if name == "" {
			return nil
		}
		return s.ID(name).String()
	}
	guarantor := ""
	for _, p := range sc.Input.Patients {
		if p.ID == req.PatientID {
			guarantor = s.ID(p.GuarantorID).String()
		}
	}
	params := map[string]any{}
	for k, v := range req.Params {
		params[k] = v
	}
	in := map[string]any{"policy": policy, "params": params, "asOf": req.AsOf.String()}
	var preview, commit, previewPath, planPath, receiptPath string
	switch req.Operation {
	case rules.AutoSplit:
		kind := "PATIENT_PAYMENT"
		if req.Amount.Decimal.IsNegative() {
			kind = "REFUND"
		}
		in = map[string]any{"kind": kind, "patientId": id(req.PatientID), "amount": req.Amount.Decimal.StringFixed(2),
			"receivedOn": req.AsOf.String(), "allocation": map[string]any{"policy": policy, "params": params, "preferPatientId": id(req.PreferPatientID)}}
		preview = `query($in: PostReceiptInput!) { previewReceipt(input: $in) { ` + planFields + ` } }`
		commit = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { allocation { ` + planFields + ` } receipt { id amount policy { name version } splits { amount code patient { id } provider { id } location { id } charge { id } unearnedType { id } } } } }`
		previewPath, planPath, receiptPath = "previewReceipt", "postReceipt.allocation", "postReceipt.receipt"
	case rules.Transfer:
		in["guarantorId"] = guarantor
		if req.Scope == rules.ScopePatient || req.PatientID != "" && id(req.PatientID) != guarantor {
			in["patientId"] = id(req.PatientID)
		}
		preview = `query($in: TransferInput!) { previewTransfer(input: $in) { ` + planFields + ` } }`
		commit = `mutation($in: TransferInput!) { transferIncome(input: $in) { plan { ` + planFields + ` } receipt { id amount policy { name version } splits { amount code patient { id } provider { id } location { id } charge { id } unearnedType { id } } } } }`
		previewPath, planPath, receiptPath = "previewTransfer", "transferIncome.plan", "transferIncome.receipt"
	case rules.AllocateUnearned:
		in["guarantorId"] = guarantor
		var charges []any
		for _, c := range req.ChargeIDs {
			charges = append(charges, id(c))
		}
		in["chargeIds"] = charges
		if req.Amount.Valid {
			in["amount"] = req.Amount.Decimal.StringFixed(2)
		}
		withPreview := map[string]any{"preview": true}
		for k, v := range in {
			withPreview[k] = v
		}
		const q = `mutation($in: AllocateUnearnedInput!) { allocateUnearned(input: $in) { plan { ` + planFields + ` } receipt { id amount policy { name version } splits { amount code patient { id } provider { id } location { id } charge { id } unearnedType { id } } } } }`
		preview, commit = q, q
		previewPath, planPath, receiptPath = "allocateUnearned.plan", "allocateUnearned.plan", "allocateUnearned.receipt"
		previewVars := map[string]any{"in": withPreview}
		if sc.Expect.Rejected != "" {
			e, _ := h.fail(t, key, q, previewVars)
			require.Equal(t, "RULE_REJECTED", e.code())
			require.Equal(t, sc.Expect.Rejected, e.Extensions["requirement"])
			return
		}
		d := h.ok(t, key, q, previewVars)
		require.Nil(t, at(t, d, "allocateUnearned.receipt"), "a preview posts nothing")
		checkGoldenPlan(t, s, sc, at(t, d, previewPath))
		d = h.ok(t, key, commit, map[string]any{"in": in})
		checkGoldenPlan(t, s, sc, at(t, d, planPath))
		checkGoldenReceipt(t, s, policy, at(t, d, planPath), at(t, d, receiptPath))
		return
	}
	vars := map[string]any{"in": in}
	if sc.Expect.Rejected != "" {
		e, _ := h.fail(t, key, preview, vars)
		require.Equal(t, "RULE_REJECTED", e.code())
		require.Equal(t, sc.Expect.Rejected, e.Extensions["requirement"])
		before := rowCounts(t, h.db)
		e, _ = h.fail(t, key, commit, vars)
		require.Equal(t, "RULE_REJECTED", e.code(), "the commit refuses as the preview did")
		require.Equal(t, before, rowCounts(t, h.db), "a refusal writes nothing")
		return
	}
	d := h.ok(t, key, preview, vars)
	plan := at(t, d, previewPath)
	checkGoldenPlan(t, s, sc, plan)
	if req.Operation == rules.AutoSplit && len(sc.Expect.Splits) == 0 {
		before := rowCounts(t, h.db)
		e, _ := h.fail(t, key, commit, vars)
		require.Equal(t, "BAD_USER_INPUT", e.code(), "a refund with nothing to split takes explicit splits")
		require.Equal(t, "allocation", e.field())
		require.Equal(t, before, rowCounts(t, h.db), "a refusal writes nothing")
		return
	}
	d = h.ok(t, key, commit, vars)
	require.Equal(t, plan, at(t, d, planPath), "the commit posts exactly the preview's plan")
	checkGoldenReceipt(t, s, policy, plan, at(t, d, receiptPath))
	if req.Operation == rules.Transfer {
		d = h.ok(t, key, preview, vars)
		require.Empty(t, list(t, d, previewPath+".moves"), "a transfer re-run right after its commit proposes nothing")
	}
}

// name maps an {id} object of a response to the scenario's name for it.
func scenarioName(t *testing.T, s *ledgertest.ScenarioPractice, v any, path string) string {
	t.Helper()
	o := at(t, v, path)
	if o == nil {
		return ""
	}
	id, err := ledger.ParseID(str(t, o, "id"))
	require.NoError(t, err)
	return s.Name(&id)
}

func checkGoldenPlan(t *testing.T, s *ledgertest.ScenarioPractice, sc rules.Scenario, plan any) {
	t.Helper()
	splits := list(t, plan, "splits")
	require.Len(t, splits, len(sc.Expect.Splits), "splits: %v", splits)
	for i, w := range sc.Expect.Splits {
		g := splits[i]
		want := []string{w.Amount.StringFixed(2), w.PatientID, w.ProviderID, w.LocationID, w.ChargeID, w.UnearnedTypeID}
		got := []string{str(t, g, "amount"), scenarioName(t, s, g, "patient"), scenarioName(t, s, g, "provider"),
			scenarioName(t, s, g, "location"), scenarioName(t, s, g, "charge"), scenarioName(t, s, g, "unearnedType")}
		if w.Code != "" {
			want, got = append(want, w.Code), append(got, str(t, g, "code"))
		}
		if w.Stage != "" {
			want, got = append(want, w.Stage), append(got, str(t, g, "stage"))
		}
		require.Equal(t, want, got, "split %d", i)
	}
	if len(sc.Expect.Moves) == 0 {
		return
	}
	moves := list(t, plan, "moves")
	require.Len(t, moves, len(sc.Expect.Moves))
	for i, w := range sc.Expect.Moves {
		m := moves[i]
		want := []string{w.From, w.To, w.Amount.StringFixed(2)}
		got := []string{bucketID(t, s, at(t, m, "from")), bucketID(t, s, at(t, m, "to")), str(t, m, "amount")}
		if w.Stage != "" {
			want, got = append(want, w.Stage), append(got, str(t, m, "stage"))
		}
		require.Equal(t, want, got, "move %d", i)
	}
}

// bucketID is the planner's id of a place in the response, in the
// scenario's names.
func bucketID(t *testing.T, s *ledgertest.ScenarioPractice, p any) string {
	esc := func(path string) string { return url.PathEscape(scenarioName(t, s, p, path)) }
	switch str(t, p, "kind") {
	case "PAYMENT":
		return "payment"
	case "CHARGE":
		return scenarioName(t, s, p, "charge")
	case "UNALLOCATED":
		return strings.Join([]string{"unallocated", esc("patient"), esc("provider"), esc("location")}, "/")
	case "UNEARNED":
		return strings.Join([]string{"unearned", esc("unearnedType"), esc("patient"), esc("provider"), esc("location")}, "/")
	}
	return strings.Join([]string{"misallocated", esc("charge"), esc("patient"), esc("provider"), esc("location")}, "/")
}

func checkGoldenReceipt(t *testing.T, s *ledgertest.ScenarioPractice, policy string, plan, receipt any) {
	t.Helper()
	splits := list(t, plan, "splits")
	if len(splits) == 0 {
		require.Nil(t, receipt, "nothing to move posts no receipt")
		return
	}
	require.NotNil(t, receipt)
	require.Equal(t, str(t, plan, "total"), str(t, receipt, "amount"))
	require.Equal(t, policy, str(t, receipt, "policy.name"))
	posted := list(t, receipt, "splits")
	require.Len(t, posted, len(splits))
	for i, p := range posted {
		w := splits[i]
		for _, f := range []string{"amount", "code"} {
			require.Equal(t, str(t, w, f), str(t, p, f))
		}
		for _, f := range []string{"patient", "provider", "location", "charge", "unearnedType"} {
			require.Equal(t, scenarioName(t, s, w, f), scenarioName(t, s, p, f), "split %d %s", i, f)
		}
	}
}

// TestAllocationCopyRigorousSaveAndUse is the issue's "done when": a
// practice copies rigorous, changes one stage, validates and saves it, and
// uses it for a transfer; a BILLER may not save.
func TestAllocationCopyRigorousSaveAndUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	biller := issueKey(t, h.f, ledger.RoleBiller)

	d := h.ok(t, h.analyst, `{ allocationPolicy(name: "rigorous") { name version builtin document stages params { name type default } } }`, nil)
	src := str(t, d, "allocationPolicy.document")
	builtin, _ := rules.BuiltinDocument("rigorous")
	require.Equal(t, string(builtin), src)
	require.Equal(t, true, at(t, d, "allocationPolicy.builtin"))
	stages := list(t, d, "allocationPolicy.stages")
	require.Equal(t, []any{"Park", "Payment", "ProvPatClinic", "ProvPat", "ProvClinic", "PatClinic", "Prov", "Pat", "Clinic", "Nothing", "FamilyHidden"}, stages)

	// The edit: rename it, and try the patient before the provider across
	// the family (PatClinic before ProvClinic).
	provClinic := "  - name: ProvClinic\n    match: '!credit.hidden && credit.providerId == charge.providerId && credit.locationId == charge.locationId'\n"
	patClinic := "  - name: PatClinic\n    match: '!credit.hidden && credit.patientId == charge.patientId && credit.locationId == charge.locationId'\n"
	require.Contains(t, src, provClinic+patClinic)
	edited := strings.Replace(src, "name: rigorous\n", "name: rigorous-patient-first\n", 1)
	edited = strings.Replace(edited, provClinic+patClinic, patClinic+provClinic, 1)

	d = h.ok(t, h.analyst, `query($doc: String!) { validatePolicy(document: $doc) { name stages } }`, map[string]any{"doc": edited})
	require.Equal(t, "rigorous-patient-first", str(t, d, "validatePolicy.name"))
	require.Equal(t, "PatClinic", at(t, d, "validatePolicy.stages.4"))

	const save = `mutation($in: SavePolicyInput!) { savePolicy(input: $in) { policy { name version builtin hash document savedAt savedBy versions } } }`
	before := rowCounts(t, h.db)
	e, _ := h.fail(t, biller, save, map[string]any{"in": map[string]any{"document": edited}})
	require.Equal(t, "FORBIDDEN", e.code())
	require.Equal(t, before, rowCounts(t, h.db))
	e, _ = h.fail(t, h.admin, save, map[string]any{"in": map[string]any{"document": src}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), "built-in names are reserved")

	d = h.ok(t, h.admin, save, map[string]any{"in": map[string]any{"name": "rigorous-patient-first", "document": edited, "idempotencyKey": "save-1"}})
	require.Equal(t, float64(1), at(t, d, "savePolicy.policy.version"))
	require.Equal(t, false, at(t, d, "savePolicy.policy.builtin"))
	require.Equal(t, edited, str(t, d, "savePolicy.policy.document"), "the document is kept as written")
	require.NotNil(t, at(t, d, "savePolicy.policy.savedBy"))
	replay := h.ok(t, h.admin, save, map[string]any{"in": map[string]any{"name": "rigorous-patient-first", "document": edited, "idempotencyKey": "save-1"}})
	require.Equal(t, d, replay, "a replayed save returns the first version")
	d = h.ok(t, h.admin, save, map[string]any{"in": map[string]any{"document": edited}})
	require.Equal(t, float64(2), at(t, d, "savePolicy.policy.version"), "saving again is a new version")
	require.Equal(t, []any{float64(1), float64(2)}, at(t, d, "savePolicy.policy.versions"))

	d = h.ok(t, h.analyst, `{ allocationPolicies { name version builtin } }`, nil)
	var names []string
	for _, p := range list(t, d, "allocationPolicies") {
		names = append(names, str(t, p, "name"))
	}
	require.Equal(t, []string{"fifo", "rigorous", "same-guarantor", "additional-patient", "rigorous-patient-first"}, names)

	// A family where the two orders differ: Kid's unallocated money, at
	// Dr. One, could pay Kid's own visit with Dr. Two (same patient) or the
	// parent's visit with Dr. One (same provider, other patient). Rigorous
	// prefers the provider; the copy prefers the patient.
	ctx := context.Background()
	fam := h.f.Family(t, "Parent", "Kid")
	parent, kid := fam[0], fam[1]
	drTwo, err := h.f.Ledger.CreateProvider(ctx, h.f.Actor, ledger.NewProvider{Name: "Dr. Two"})
	require.NoError(t, err)
	h.f.Visit(t, parent, "2026-05-01", "60.00")
	d0 := ledger.MustDate("2026-05-02")
	_, err = h.f.Ledger.PostEncounter(ctx, h.f.Actor, ledger.NewEncounter{PatientID: kid.ID, ProviderID: drTwo.ID, LocationID: h.f.Location,
		ServiceFrom: &d0, Charges: []ledger.NewCharge{{Code: "D1110", Amount: ledger.MustMoney("60.00")}}})
	require.NoError(t, err)
	h.f.Pay(t, kid, "60.00", ledger.NewSplit{Amount: ledger.MustMoney("60.00"), ProviderID: &h.f.Provider, LocationID: &h.f.Location})

	const previewQ = `query($in: TransferInput!) { previewTransfer(input: $in) { ` + planFields + ` } }`
	in := map[string]any{"guarantorId": parent.GuarantorID.String(), "policy": "rigorous"}
	d = h.ok(t, h.analyst, previewQ, map[string]any{"in": in})
	require.Equal(t, "ProvClinic", str(t, d, "previewTransfer.moves.0.stage"))
	require.Equal(t, parent.ID.String(), str(t, d, "previewTransfer.moves.0.to.patient.id"))
	in["policy"] = "rigorous-patient-first@1"
	d = h.ok(t, h.analyst, previewQ, map[string]any{"in": in})
	require.Equal(t, "PatClinic", str(t, d, "previewTransfer.moves.0.stage"))
	require.Equal(t, kid.ID.String(), str(t, d, "previewTransfer.moves.0.to.patient.id"))

	// Make it the practice's TRANSFER default, and transfer without naming it.
	d = h.ok(t, h.admin, `mutation { setDefaultPolicy(input: {operation: TRANSFER, policy: "rigorous-patient-first"}) { defaults { operation policy set } } }`, nil)
	require.Equal(t, []any{
		map[string]any{"operation": "AUTO_SPLIT", "policy": "rigorous", "set": false},
		map[string]any{"operation": "TRANSFER", "policy": "rigorous-patient-first", "set": true},
		map[string]any{"operation": "ALLOCATE_UNEARNED", "policy": "rigorous", "set": false},
	}, list(t, d, "setDefaultPolicy.defaults"))
	d = h.ok(t, h.admin, `mutation($in: TransferInput!) { transferIncome(input: $in) { plan { policy { name version } moves { stage } }
		receipt { kind amount policy { name version builtin } splits { amount code charge { patient { id } } } } } }`,
		map[string]any{"in": map[string]any{"guarantorId": parent.GuarantorID.String(), "note": "patient first"}})
	require.Equal(t, map[string]any{"name": "rigorous-patient-first", "version": float64(2)}, at(t, d, "transferIncome.plan.policy"))
	require.Equal(t, "TRANSFER", str(t, d, "transferIncome.receipt.kind"))
	requireMoney(t, "0.00", d, "transferIncome.receipt.amount")
	require.Equal(t, map[string]any{"name": "rigorous-patient-first", "version": float64(2), "builtin": false}, at(t, d, "transferIncome.receipt.policy"))
	require.Equal(t, kid.ID.String(), str(t, d, "transferIncome.receipt.splits.1.charge.patient.id"))

	// Clearing the default falls back to rigorous.
	d = h.ok(t, h.admin, `mutation { setDefaultPolicy(input: {operation: TRANSFER}) { defaults { operation policy set } } }`, nil)
	require.Equal(t, map[string]any{"operation": "TRANSFER", "policy": "rigorous", "set": false}, at(t, d, "setDefaultPolicy.defaults.1"))
	requireCode(t, h.do(t, biller, `mutation { setDefaultPolicy(input: {operation: TRANSFER, policy: "fifo"}) { defaults { policy } } }`, nil), "FORBIDDEN")
	e, _ = h.fail(t, h.admin, `mutation { setDefaultPolicy(input: {operation: TRANSFER, policy: "nope"}) { defaults { policy } } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "policy", e.field())
}

// TestAllocationCompileErrors: a document that does not compile is
// RULE_COMPILE_FAILED, one error per problem, each with its path, line,
// column and caret snippet; nothing is saved.
func TestAllocationCompileErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := `name: broken
stages:
  - name: First
    match: credit.providerID == charge.providerId
  - name: Second
    match: charge.owed > 10.5
`
	r := h.do(t, h.analyst, `query($doc: String!) { validatePolicy(document: $doc) { name } }`, map[string]any{"doc": doc})
	require.Len(t, r.Errors, 2, r.Raw)
	require.Nil(t, r.Data["validatePolicy"])
	first, second := r.Errors[0], r.Errors[1]
	for _, e := range r.Errors {
		require.Equal(t, "RULE_COMPILE_FAILED", e.code(), r.Raw)
	}
	require.Equal(t, "stages[0].match", first.Extensions["path"])
	require.Equal(t, float64(4), first.Extensions["line"])
	require.Equal(t, float64(19), first.Extensions["column"])
	require.Contains(t, first.Message, "stages[0].match: ")
	require.Contains(t, first.Message, "providerID")
	require.Contains(t, first.Message, "(4:19)")
	require.Equal(t, "\n | credit.providerID == charge.providerId\n | .......^", first.Extensions["snippet"])
	require.Equal(t, "stages[1].match", second.Extensions["path"])
	require.Equal(t, float64(6), second.Extensions["line"])
	require.Equal(t, float64(26), second.Extensions["column"])
	require.Contains(t, second.Message, "float literals are not allowed")

	before := rowCounts(t, h.db)
	r = h.do(t, h.admin, `mutation($doc: String!) { savePolicy(input: {document: $doc}) { policy { version } } }`, map[string]any{"doc": doc})
	require.Len(t, r.Errors, 2, r.Raw)
	require.Equal(t, "RULE_COMPILE_FAILED", r.Errors[0].code())
	require.Equal(t, before, rowCounts(t, h.db))

	// A failing example is bad input in the document.
	ex := `name: lazy
stages:
  - name: Never
    match: "false"
examples:
  - name: pays the charge
    input:
      patients: [{id: p, guarantorId: p}]
      unearnedTypes: [{id: u, name: Prepayment, default: true}]
      charges: [{id: c, kind: PROCEDURE, patientId: p, providerId: d, date: 2024-01-01, amount: "10.00"}]
      request: {operation: AUTO_SPLIT, asOf: 2024-01-02, patientId: p, amount: "10.00"}
    expect:
      splits: [{amount: "10.00", patientId: p, providerId: d, chargeId: c}]
`
	e, _ := h.fail(t, h.analyst, `query($doc: String!) { validatePolicy(document: $doc) { name } }`, map[string]any{"doc": ex})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "document", e.field())
	require.Contains(t, e.Message, "pays the charge")
}

// TestAllocationRefusalsAndBadInput: RULE_REJECTED carries the
// requirement; undeclared params, bad references and a receipt with both
// splits and an allocation are BAD_USER_INPUT; nothing is written.
func TestAllocationRefusalsAndBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pat := h.f.Family(t, "Pat")[0]
	c := h.f.Visit(t, pat, "2026-05-01", "100.00")[0]
	// An unattached negative adjustment with no income behind it.
	_, err := h.f.Ledger.PostAdjustment(ctx, h.f.Actor, ledger.NewAdjustment{PatientID: &pat.ID, Amount: ledger.MustMoney("-30.00"),
		ServiceDate: ptr(ledger.MustDate("2026-05-02")), ProviderID: &h.f.Provider, LocationID: &h.f.Location})
	require.NoError(t, err)
	other := h.f.Family(t, "Other")[0]
	before := rowCounts(t, h.db)

	transfer := `mutation($in: TransferInput!) { transferIncome(input: $in) { receipt { id } } }`
	in := map[string]any{"guarantorId": pat.GuarantorID.String(), "policy": "rigorous", "params": map[string]any{"negativeProductionIsIncome": "false"}}
	e, _ := h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "RULE_REJECTED", e.code())
	require.Equal(t, "leftover[0]", e.Extensions["requirement"])
	require.Equal(t, "negative production without linked patient income must be allocated manually", e.Message)

	in["params"] = map[string]any{"noSuchSwitch": "true"}
	e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "params.noSuchSwitch", e.field())
	in["params"] = map[string]any{"unearnedKeepsProvider": true}
	e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "params.unearnedKeepsProvider", e.field())
	in["params"] = map[string]any{"unearnedKeepsProvider": "maybe"}
	e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	in["params"] = nil
	for policy, field := range map[string]string{"nope": "policy", "rigorous@2": "policy", "fifo@x": "policy"} {
		in["policy"] = policy
		e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), policy)
		require.Equal(t, field, e.field(), policy)
	}
	in["policy"] = "rigorous"
	in["guarantorId"] = newID()
	e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "guarantorId", e.field())
	in["guarantorId"], in["asOf"] = pat.GuarantorID.String(), "2026-06-16"
	e, _ = h.fail(t, h.admin, transfer, map[string]any{"in": in})
	require.Equal(t, "asOf", e.field(), "no transfer dated in the future")
	delete(in, "asOf")
	requireCode(t, h.do(t, h.analyst, transfer, map[string]any{"in": in}), "FORBIDDEN")

	post := `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`
	both := map[string]any{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "10.00",
		"splits": []any{map[string]any{"amount": "10.00", "chargeId": c.ID.String()}}, "allocation": map[string]any{"policy": "fifo"}}
	e, _ = h.fail(t, h.admin, post, map[string]any{"in": both})
	require.Equal(t, "splits", e.field())
	refund := map[string]any{"kind": "REFUND", "patientId": pat.ID.String(), "amount": "-10.00", "allocation": map[string]any{}}
	e, _ = h.fail(t, h.admin, post, map[string]any{"in": refund})
	require.Equal(t, "allocation", e.field(), "a refund is not split while a charge still owes")
	insurance := map[string]any{"kind": "INSURANCE_PAYMENT", "amount": "10.00", "allocation": map[string]any{}}
	e, _ = h.fail(t, h.admin, post, map[string]any{"in": insurance})
	require.Equal(t, "kind", e.field())
	prefer := map[string]any{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "10.00",
		"allocation": map[string]any{"preferPatientId": other.ID.String()}}
	e, _ = h.fail(t, h.admin, post, map[string]any{"in": prefer})
	require.Equal(t, "allocation.preferPatientId", e.field())
	unknown := map[string]any{"kind": "PATIENT_PAYMENT", "patientId": pat.ID.String(), "amount": "10.00",
		"allocation": map[string]any{"params": map[string]any{"nope": "1"}}}
	e, _ = h.fail(t, h.admin, post, map[string]any{"in": unknown})
	require.Equal(t, "allocation.params.nope", e.field())

	alloc := `mutation($in: AllocateUnearnedInput!) { allocateUnearned(input: $in) { receipt { id } } }`
	e, _ = h.fail(t, h.admin, alloc, map[string]any{"in": map[string]any{"guarantorId": pat.GuarantorID.String(), "chargeIds": []any{}}})
	require.Equal(t, "chargeIds", e.field())
	e, _ = h.fail(t, h.admin, alloc, map[string]any{"in": map[string]any{"guarantorId": pat.GuarantorID.String(), "chargeIds": []any{newID()}}})
	require.Equal(t, "chargeIds[0]", e.field())
	require.Equal(t, before, rowCounts(t, h.db), "no refusal wrote anything")
}

// TestAllocationAutoSplitAndUnearned: postReceipt with allocation splits a
// payment as previewReceipt said; allocateUnearned moves the leftover
// prepayment to a later charge; familyLedger shows where things stand
// under a policy; transferIncome with nothing to move posts nothing; a
// replayed transfer returns its first result.
func TestAllocationAutoSplitAndUnearned(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fam := h.f.Family(t, "Parent", "Kid")
	parent, kid := fam[0], fam[1]
	old := h.f.Visit(t, parent, "2026-04-01", "60.00")[0]
	kidVisit := h.f.Visit(t, kid, "2026-04-02", "40.00")[0]

	in := map[string]any{"kind": "PATIENT_PAYMENT", "patientId": parent.ID.String(), "amount": "150.00", "receivedOn": "2026-05-01",
		"allocation": map[string]any{"policy": "fifo"}, "idempotencyKey": "pay-1"}
	d := h.ok(t, h.analyst, `query($in: PostReceiptInput!) { previewReceipt(input: $in) { `+planFields+` } }`, map[string]any{"in": in})
	preview := at(t, d, "previewReceipt")
	requireMoney(t, "150.00", preview, "total")
	require.Equal(t, "AUTO_SPLIT", str(t, preview, "operation"))
	require.Equal(t, []any{"60.00", "40.00", "50.00"}, []any{str(t, preview, "splits.0.amount"), str(t, preview, "splits.1.amount"), str(t, preview, "splits.2.amount")})
	require.Equal(t, old.ID.String(), str(t, preview, "splits.0.charge.id"))
	require.Equal(t, kidVisit.ID.String(), str(t, preview, "splits.1.charge.id"))
	require.Equal(t, h.f.Prepayment.String(), str(t, preview, "splits.2.unearnedType.id"), "the leftover is a prepayment")
	require.Equal(t, "PAYMENT", str(t, preview, "moves.0.from.kind"))

	const post = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { allocation { ` + planFields + ` }
		receipt { id kind amount receivedOn policy { name version builtin } splits { amount code charge { id } unearnedType { id } } } } }`
	d = h.ok(t, h.admin, post, map[string]any{"in": in})
	require.Equal(t, preview, at(t, d, "postReceipt.allocation"))
	require.Equal(t, "PATIENT_PAYMENT", str(t, d, "postReceipt.receipt.kind"))
	require.Equal(t, map[string]any{"name": "fifo", "version": float64(1), "builtin": true}, at(t, d, "postReceipt.receipt.policy"))
	require.Len(t, list(t, d, "postReceipt.receipt.splits"), 3)
	require.Equal(t, "PAY", str(t, d, "postReceipt.receipt.splits.0.code"))
	replay := h.ok(t, h.admin, post, map[string]any{"in": in})
	require.Equal(t, d, replay, "a replay returns the first receipt and plan")

	// A later charge; the prepayment is allocated to it.
	later := h.f.Visit(t, kid, "2026-05-10", "30.00")[0]
	const alloc = `mutation($in: AllocateUnearnedInput!) { allocateUnearned(input: $in) { plan { ` + planFields + ` } receipt { kind amount splits { amount } } } }`
	ain := map[string]any{"guarantorId": parent.GuarantorID.String(), "chargeIds": []any{later.ID.String()}, "preview": true}
	d = h.ok(t, h.analyst, alloc, map[string]any{"in": ain})
	require.Nil(t, at(t, d, "allocateUnearned.receipt"))
	require.Equal(t, "ALLOCATE_UNEARNED", str(t, d, "allocateUnearned.plan.operation"))
	require.Equal(t, "30.00", str(t, d, "allocateUnearned.plan.moves.0.amount"))
	require.Equal(t, "UNEARNED", str(t, d, "allocateUnearned.plan.moves.0.from.kind"))
	ain["preview"] = false
	requireCode(t, h.do(t, h.analyst, alloc, map[string]any{"in": ain}), "FORBIDDEN")
	d = h.ok(t, h.admin, alloc, map[string]any{"in": ain})
	require.Equal(t, "TRANSFER", str(t, d, "allocateUnearned.receipt.kind"))
	require.Equal(t, []any{map[string]any{"amount": "-30.00"}, map[string]any{"amount": "30.00"}}, list(t, d, "allocateUnearned.receipt.splits"))

	// The family under rigorous: everything paid, 20.00 of prepayment left.
	d = h.ok(t, h.analyst, `query($g: ID!) { familyLedger(guarantorId: $g, policy: "rigorous") {
		guarantor { id } policy { name version builtin } asOf owed unallocated unearned
		charges { charge { id } portion linked owed foldedInto { id } }
		credits { place { kind patient { id } unearnedType { id } } hidden amount remaining } } }`, map[string]any{"g": parent.GuarantorID.String()})
	fl := at(t, d, "familyLedger")
	require.Equal(t, parent.GuarantorID.String(), str(t, fl, "guarantor.id"))
	require.Equal(t, "2026-06-15", str(t, fl, "asOf"))
	requireMoney(t, "0.00", fl, "owed")
	requireMoney(t, "0.00", fl, "unallocated")
	requireMoney(t, "20.00", fl, "unearned")
	require.Len(t, list(t, fl, "charges"), 3)
	for _, c := range list(t, fl, "charges") {
		requireMoney(t, "0.00", c, "owed")
		require.Equal(t, str(t, c, "portion"), str(t, c, "linked"))
	}
	credits := list(t, fl, "credits")
	require.Len(t, credits, 1)
	require.Equal(t, "UNEARNED", str(t, credits[0], "place.kind"))
	requireMoney(t, "20.00", credits[0], "remaining")
	// As of before the payment, the charges owe what they cost.
	d = h.ok(t, h.analyst, `query($g: ID!) { familyLedger(guarantorId: $g, asOf: "2026-04-30") { owed unearned policy { name } charges { owed } } }`,
		map[string]any{"g": parent.GuarantorID.String()})
	requireMoney(t, "100.00", d, "familyLedger.owed")
	require.Equal(t, "rigorous", str(t, d, "familyLedger.policy.name"))
	require.Len(t, list(t, d, "familyLedger.charges"), 2, "charges dated after asOf are left out")

	// Nothing left to transfer: a clear result, and no receipt.
	const transfer = `mutation($in: TransferInput!) { transferIncome(input: $in) { plan { total moves { amount } splits { amount } } receipt { id } } }`
	tin := map[string]any{"guarantorId": parent.GuarantorID.String(), "idempotencyKey": "t-1"}
	receiptsBefore := rowCounts(t, h.db)["receipts"]
	d = h.ok(t, h.admin, transfer, map[string]any{"in": tin})
	require.Nil(t, at(t, d, "transferIncome.receipt"))
	require.Empty(t, list(t, d, "transferIncome.plan.moves"))
	requireMoney(t, "0.00", d, "transferIncome.plan.total")
	require.Equal(t, receiptsBefore, rowCounts(t, h.db)["receipts"])

	// Money appears; the same key still answers with its first result.
	h.f.Pay(t, kid, "5.00", ledgertest.Unallocated("5.00"))
	h.f.Visit(t, kid, "2026-05-20", "5.00")
	d = h.ok(t, h.admin, transfer, map[string]any{"in": tin})
	require.Nil(t, at(t, d, "transferIncome.receipt"), "a replay returns the first result")
	tin["idempotencyKey"] = "t-2"
	d = h.ok(t, h.admin, transfer, map[string]any{"in": tin})
	require.NotNil(t, at(t, d, "transferIncome.receipt"))
	again := h.ok(t, h.admin, transfer, map[string]any{"in": tin})
	require.Equal(t, d, again)
	tin["note"] = "different"
	requireCode(t, h.do(t, h.admin, transfer, map[string]any{"in": tin}), "CONFLICT")
}

func ptr[T any](v T) *T { return &v }
