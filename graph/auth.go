package graph

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paysplit/paysplit/ledger"
)

// rootRoles is the one table of the role each root field needs, checked by
// authorize before the field's resolver runs. ANALYST reads; BILLER also
// posts, imports, transfers and re-applies; ADMIN also manages policies,
// settings and keys. A root field missing from the table is refused for
// every role (and TestEveryRootFieldHasARole fails), so a new field cannot
// be left open by mistake. The ledger checks mutations again (ledger.RoleFor).
var rootRoles = map[string]map[string]ledger.Role{
	"Query": {
		"practice":                 ledger.RoleAnalyst,
		"guarantor":                ledger.RoleAnalyst,
		"guarantors":               ledger.RoleAnalyst,
		"patient":                  ledger.RoleAnalyst,
		"patients":                 ledger.RoleAnalyst,
		"encounter":                ledger.RoleAnalyst,
		"charge":                   ledger.RoleAnalyst,
		"receipt":                  ledger.RoleAnalyst,
		"node":                     ledger.RoleAnalyst,
		"receipts":                 ledger.RoleAnalyst,
		"aging":                    ledger.RoleAnalyst,
		"netUnearned":              ledger.RoleAnalyst,
		"statement":                ledger.RoleAnalyst,
		"statementRun":             ledger.RoleAnalyst,
		"agingSettings":            ledger.RoleAnalyst,
		"previewReceipt":           ledger.RoleAnalyst,
		"previewTransfer":          ledger.RoleAnalyst,
		"familyLedger":             ledger.RoleAnalyst,
		"allocationPolicies":       ledger.RoleAnalyst,
		"allocationPolicy":         ledger.RoleAnalyst,
		"validatePolicy":           ledger.RoleAnalyst,
		"allocationPolicyDefaults": ledger.RoleAnalyst,
		"balanceForwardTemplate":   public, // a static CSV template, also served without a key
		"balanceImport":            ledger.RoleAnalyst,
		"balanceImports":           ledger.RoleAnalyst,
		"apiKeys":                  ledger.RoleAdmin,
		"auditEvents":              ledger.RoleAdmin,
		"reapplyCandidates":        ledger.RoleAnalyst,
		"previewReapplyCredit":     ledger.RoleAnalyst,
		"batches":                  ledger.RoleAnalyst,
		"run":                      ledger.RoleAnalyst,
		"runs":                     ledger.RoleAnalyst,
	},
	"Mutation": {
		"createProvider":         ledger.RoleBiller,
		"createLocation":         ledger.RoleBiller,
		"createGuarantor":        ledger.RoleBiller,
		"createPatient":          ledger.RoleBiller,
		"postEncounter":          ledger.RoleBiller,
		"postAdjustment":         ledger.RoleBiller,
		"postReceipt":            ledger.RoleBiller,
		"postInsuranceWriteOff":  ledger.RoleBiller,
		"billToPatient":          ledger.RoleBiller,
		"billToInsurance":        ledger.RoleBiller,
		"runStatements":          ledger.RoleBiller,
		"reverseReceipt":         ledger.RoleBiller,
		"transferIncome":         ledger.RoleBiller,
		"allocateUnearned":       ledger.RoleBiller,
		"importBalances":         ledger.RoleBiller,
		"importHistory":          ledger.RoleBiller,
		"undoBalanceImport":      ledger.RoleBiller,
		"savePolicy":             ledger.RoleAdmin,
		"createUnearnedType":     ledger.RoleAdmin,
		"updateUnearnedType":     ledger.RoleAdmin,
		"setDefaultPolicy":       ledger.RoleAdmin,
		"updateAgingSettings":    ledger.RoleAdmin,
		"createApiKey":           ledger.RoleAdmin,
		"revokeApiKey":           ledger.RoleAdmin,
		"reapplyCredit":          ledger.RoleBiller,
		"startRun":               ledger.RoleBiller,
		"cancelRun":              ledger.RoleBiller,
		"resumeRun":              ledger.RoleBiller,
		"balanceFamily":          ledger.RoleBiller,
		"openBatch":              ledger.RoleAdmin,
		"closeBatch":             ledger.RoleAdmin,
		"updateBatchSettings":    ledger.RoleAdmin,
		"updatePracticeSettings": ledger.RoleAdmin,
		"completePlannedCharge":  ledger.RoleBiller,
		"removePlannedCharge":    ledger.RoleBiller,
		"attachPrepayment":       ledger.RoleBiller,
		"detachPrepayment":       ledger.RoleBiller,
	},
	"Subscription": {
		"agingUpdated": ledger.RoleAnalyst,
		"runProgress":  ledger.RoleAnalyst,
	},
}

// public marks a root field that needs no key.
const public ledger.Role = ""

// previews are the mutations that only plan, writing nothing, when their
// input says preview: true; a preview needs only ANALYST.
var previews = map[string]bool{"allocateUnearned": true}

// RootFieldRole returns the role a root field of object ("Query",
// "Mutation" or "Subscription") needs, "" for a field open without a key;
// ok is false if the table has none.
func RootFieldRole(object, field string) (ledger.Role, bool) {
	r, ok := rootRoles[object][field]
	return r, ok
}

// authorize is the root field middleware that enforces rootRoles.
// Introspection (__schema, __type, __typename) is open to anyone.
func authorize(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rc := graphql.GetRootFieldContext(ctx)
	if rc == nil || strings.HasPrefix(rc.Field.Name, "__") {
		return next(ctx)
	}
	// gqlgen puts the field's name in rc.Object; the operation says which
	// root type the field belongs to.
	object := "Query"
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		object = "Mutation"
	}
	preview := false
	if object == "Mutation" && previews[rc.Field.Name] {
		in, _ := rc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)["input"].(map[string]any)
		preview, _ = in["preview"].(bool)
	}
	if err := allowed(ctx, object, rc.Field.Name, preview); err != nil {
		graphql.AddError(ctx, &gqlerror.Error{Err: err, Message: err.Error(), Path: ast.Path{ast.PathName(rc.Field.Alias)}})
		return graphql.Null
	}
	return next(ctx)
}

// allowed reports why the caller may not run a root field, or nil. A
// preview (see previews) needs only ANALYST.
func allowed(ctx context.Context, object, field string, preview bool) error {
	need, ok := RootFieldRole(object, field)
	if ok && need == public {
		return nil
	}
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if preview {
		need = ledger.RoleAnalyst
	}
	if !ok {
		slog.ErrorContext(ctx, "root field has no role in graph/auth.go; refused", "object", object, "field", field,
			"request_id", requestID(ctx))
		return fmt.Errorf("%s.%s: no role may run it: %w", object, field, ledger.ErrForbidden)
	}
	if !a.Role.Allows(need) {
		return fmt.Errorf("%s.%s: role %s needs %s: %w", object, field, a.Role, need, ledger.ErrForbidden)
	}
	return nil
}

// authorizeSubscriptions is the operation middleware that enforces rootRoles
// on subscriptions, whose root fields gqlgen runs without root field
// middleware: a refused subscription ends with one error and no stream.
func authorizeSubscriptions(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Subscription"}) {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		if err := allowed(ctx, "Subscription", f.Name, false); err != nil {
			e := presentError(ctx, &gqlerror.Error{Err: err, Message: err.Error(), Path: ast.Path{ast.PathName(f.Alias)}})
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{e}})
		}
	}
	return next(ctx)
}
