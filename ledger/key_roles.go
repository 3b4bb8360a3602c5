package ledger

import "fmt"

// Roles are ordered: ANALYST reads; BILLER also posts, imports, transfers,
// re-applies and runs the balancer; ADMIN also manages policies, batches,
// settings and keys. A role may do everything a lower one may.
var roleRank = map[Role]int{RoleAnalyst: 1, RoleBiller: 2, RoleAdmin: 3}

// Allows reports whether r may do what needs the role need.
func (r Role) Allows(need Role) bool {
	have, ok := roleRank[r]
	return ok && have >= roleRank[need]
}

// opRoles is the one table of which role each mutation needs: mutate checks
// it before anything else. An operation missing from the table needs BILLER,
// the rule for every change to the ledger; the API's own table
// (graph/auth.go) refuses any root field it does not list.
var opRoles = map[string]Role{
	"createProvider":         RoleBiller,
	"createLocation":         RoleBiller,
	"createGuarantor":        RoleBiller,
	"createPatient":          RoleBiller,
	"postEncounter":          RoleBiller,
	"postAdjustment":         RoleBiller,
	"postReceipt":            RoleBiller,
	"postInsuranceWriteOff":  RoleBiller,
	"billToPatient":          RoleBiller,
	"billToInsurance":        RoleBiller,
	"runStatements":          RoleBiller,
	"reverseReceipt":         RoleBiller,
	"transferIncome":         RoleBiller,
	"transferFamilies":       RoleBiller,
	"allocateUnearned":       RoleBiller,
	"importBalances":         RoleBiller,
	"undoBalanceImport":      RoleBiller,
	"reapplyCredit":          RoleBiller,
	"startRun":               RoleBiller,
	"cancelRun":              RoleBiller,
	"resumeRun":              RoleBiller,
	"creditManagement":       RoleBiller,
	"balanceFamilies":        RoleBiller,
	"openBatch":              RoleAdmin,
	"closeBatch":             RoleAdmin,
	"updateBatchSettings":    RoleAdmin,
	"updatePracticeSettings": RoleAdmin,
	"completePlannedCharge":  RoleBiller,
	"removePlannedCharge":    RoleBiller,
	"attachPrepayment":       RoleBiller,
	"detachPrepayment":       RoleBiller,
	"savePolicy":             RoleAdmin,
	"createUnearnedType":     RoleAdmin,
	"updateUnearnedType":     RoleAdmin,
	"setDefaultPolicy":       RoleAdmin,
	"updateAgingSettings":    RoleAdmin,
	"createApiKey":           RoleAdmin,
	"revokeApiKey":           RoleAdmin,
	// Reads that need more than ANALYST, checked by their Ledger methods.
	"apiKeys":     RoleAdmin,
	"auditEvents": RoleAdmin,
}

// RoleFor returns the role operation op needs.
func RoleFor(op string) Role {
	if r, ok := opRoles[op]; ok {
		return r
	}
	return RoleBiller
}

// authorize refuses a with ErrForbidden unless its role may run op.
func authorize(a Actor, op string) error {
	if need := RoleFor(op); !a.Role.Allows(need) {
		return fmt.Errorf("%s: role %s may not do this (needs %s): %w", op, a.Role, need, ErrForbidden)
	}
	return nil
}
