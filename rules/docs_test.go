package rules_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/rules.md")
	require.NoError(t, err)
	return string(b)
}

// docs/rules.md documents every field of the expression environment.
func TestDocsListEveryEnvField(t *testing.T) {
	docs := readDocs(t)
	for _, name := range rules.EnvFields() {
		require.Contains(t, docs, "`"+name+"`", "docs/rules.md does not document %s", name)
	}
}

// docs/rules.md lists the builtins a policy may call and the budgets'
// sizes.
func TestDocsListBudgets(t *testing.T) {
	docs := readDocs(t)
	allowed := make([]string, len(rules.AllowedBuiltins()))
	for i, b := range rules.AllowedBuiltins() {
		allowed[i] = "`" + b + "`"
	}
	require.Contains(t, strings.Join(strings.Fields(docs), " "), strings.Join(allowed, ", "))
	for _, size := range []string{
		fmt.Sprintf("%d KiB (`rules.MaxDocumentBytes`)", rules.MaxDocumentBytes>>10),
		fmt.Sprintf("%d levels (`rules.MaxDocumentDepth`)", rules.MaxDocumentDepth),
		"20,000,000 expression evaluations", "50,000 (`rules.MaxPlanMoves`)",
	} {
		require.Contains(t, docs, size)
	}
	require.Equal(t, 20_000_000, rules.MaxPlanSteps)
	require.Equal(t, 50_000, rules.MaxPlanMoves)
}

// docs/rules.md shows the built-in policies exactly as shipped.
func TestDocsShowBuiltinPolicies(t *testing.T) {
	docs := readDocs(t)
	for _, name := range rules.BuiltinNames() {
		src, ok := rules.BuiltinDocument(name)
		require.True(t, ok)
		require.Contains(t, docs, "<!-- policy: "+name+" -->\n```yaml\n"+string(src)+"```\n", "docs/rules.md is out of date for %s", name)
	}
}

// The walkthrough of docs/rules.md: copy rigorous, move one stage, save it
// under a new name, and use it.
func TestCopyRigorousChangeAStage(t *testing.T) {
	src, _ := rules.BuiltinDocument("rigorous")
	prov := "  - name: ProvClinic\n    match: '!credit.hidden && credit.providerId == charge.providerId && credit.locationId == charge.locationId'\n"
	pat := "  - name: PatClinic\n    match: '!credit.hidden && credit.patientId == charge.patientId && credit.locationId == charge.locationId'\n"
	edited := strings.Replace(string(src), "name: rigorous\n", "name: rigorous-patient-first\n", 1)
	require.Contains(t, edited, prov+pat)
	edited = strings.Replace(edited, prov+pat, pat+prov, 1)

	typo := strings.Replace(edited, "ProvClinic\n    match: '!credit.hidden && credit.providerId", "ProvClinic\n    match: '!credit.hidden && credit.providerID", 1)
	_, err := rules.Compile([]byte(typo))
	require.Error(t, err)
	require.Contains(t, readDocs(t), "`"+strings.SplitN(err.Error(), "\n", 2)[0]+"`")

	mine, err := rules.Compile([]byte(edited))
	require.NoError(t, err)
	require.Equal(t, "rigorous-patient-first", mine.Name())
	require.NotEqual(t, mine.Hash(), mustBuiltin("rigorous").Hash())

	// Andy's Dr1 money: rigorous gives it to his daughter's Dr1 charge
	// (ProvClinic) before his own Dr2 charge; the copy does the opposite.
	d := rules.NewDate(2024, 1, 1)
	in := rules.Input{
		Patients:      []rules.Patient{{ID: "andy", GuarantorID: "andy"}, {ID: "judy", GuarantorID: "andy"}},
		UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}},
		Charges: []rules.Charge{
			{ID: "pj", Kind: rules.Procedure, PatientID: "judy", ProviderID: "dr1", Date: d, Amount: decimal.NewFromInt(100)},
			{ID: "pa", Kind: rules.Procedure, PatientID: "andy", ProviderID: "dr2", Date: d, Amount: decimal.NewFromInt(100)},
		},
		Splits:  []rules.Split{{ID: "s1", Date: d, Amount: decimal.NewFromInt(100), PatientID: "andy", ProviderID: "dr1"}},
		Request: rules.Request{Operation: rules.Transfer, AsOf: d, PatientID: "andy"},
	}
	before, err := mustBuiltin("rigorous").Plan(in)
	require.NoError(t, err)
	after, err := mine.Plan(in)
	require.NoError(t, err)
	require.Equal(t, []string{"unallocated/andy/dr1/>pj 100.00 ProvClinic"}, movesOf(before))
	require.Equal(t, []string{"unallocated/andy/dr1/>pa 100.00 PatClinic"}, movesOf(after))
}

func mustBuiltin(name string) *rules.Policy {
	p, ok := rules.Builtin(name)
	if !ok {
		panic(name)
	}
	return p
}

// The YAML snippets of docs/rules.md compile: whole policies on their own,
// the examples snippet appended to rigorous, and its examples hold.
func TestDocsSnippets(t *testing.T) {
	docs := readDocs(t)
	blocks := strings.Split(docs, "```yaml\n")[1:]
	var policies, examples int
	for _, b := range blocks {
		b = b[:strings.Index(b, "```")]
		switch {
		case strings.HasPrefix(b, "name:") || strings.HasPrefix(b, "# "):
			_, err := rules.Compile([]byte(b))
			require.NoError(t, err, b)
			policies++
		case strings.HasPrefix(b, "examples:"):
			src, _ := rules.BuiltinDocument("rigorous")
			p, err := rules.Compile(append(src, b...))
			require.NoError(t, err)
			require.Len(t, p.Document().Examples, 1)
			require.NoError(t, p.CheckExamples())
			examples++
		}
	}
	require.Equal(t, 5, policies)
	require.Equal(t, 1, examples)
}
