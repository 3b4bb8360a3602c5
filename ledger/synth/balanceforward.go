package synth

import (
	"fmt"

	"github.com/paysplit/paysplit/ledger"
)

// BalanceForwardRows makes n rows of a balance-forward file for n/4
// patients (external ids P000000…, families of two under G000000…): four
// dates of service each within the 500 days before today, one row in twenty
// a credit, one in twenty an insurance balance. The same n and today give
// the same rows.
func BalanceForwardRows(n int, today ledger.Date) []ledger.BalanceForwardRow {
	rows := make([]ledger.BalanceForwardRow, n)
	first := today.AddDays(-500)
	for i := range rows {
		p := i / 4
		birth := ledger.MustDate("1950-01-01").AddDays(p % 20000)
		dos := first.AddDays(i % 500)
		amt := ledger.Cents(int64(100 + (i*7919)%50000))
		resp := ledger.ResponsibilityPatient
		switch i % 20 {
		case 7:
			amt = amt.Neg()
		case 13:
			resp = ledger.ResponsibilityInsurance
		}
		rows[i] = ledger.BalanceForwardRow{PatientExternalID: fmt.Sprintf("P%06d", p), PatientLastName: fmt.Sprintf("Last%d", p),
			PatientFirstName: fmt.Sprintf("First%d", p), PatientBirthDate: &birth, GuarantorExternalID: fmt.Sprintf("G%06d", p/2),
			GuarantorName: fmt.Sprintf("Guarantor %d", p/2), ServiceDate: &dos, Amount: amt, Code: "PREV BAL", Responsibility: resp,
			Memo: fmt.Sprintf("old system row %d", i)}
	}
	return rows
}
