package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

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

// BalanceForwardPosting is what committing a balance-forward file into a
// new practice writes, built in Go: the rows ImportBalances posts, in the
// ledger's own shape, for a benchmark to COPY into the ledger's tables.
type BalanceForwardPosting struct {
	// Practice is the practice (one provider, one location, no unearned
	// types) with what the import adds to it: a guarantor per new family, a
	// patient per new patient, an encounter per patient, a
	// BALANCE_FORWARD line per row, and for a patient holding credits a
	// credit receipt with a BF split per credit row.
	Practice *Practice
	Import   ledger.BalanceImport // the import's record
	Lines    []ledger.ImportLine  // a line per row: which charge (and credit receipt) it became
}

// PostBalanceForward builds what committing rows (as BalanceForwardRows
// makes them: valid, distinct, every patient and family new and named by
// external id) into a new practice posts, dated today and stamped now,
// following ImportBalances: each patient's encounter spans its dates of
// service; a positive row is owed by the patient, or pending from
// insurance (its estimate); a credit is a 0.00 line paid by a BF split of
// the patient's credit receipt, which holds the patient's credits; negative
// production is a PROCEDURE line with the negative fee. A row's key is a
// SHA-256 of the patient and the row number (the import hashes the row's
// content): the same length, as unique. The ids are drawn from seed.
func PostBalanceForward(rows []ledger.BalanceForwardRow, today ledger.Date, now time.Time, seed uint64) *BalanceForwardPosting {
	b := &bfBuilder{rng: rand.New(rand.NewPCG(seed, 0)), now: now, today: today,
		guarantors: map[string]ledger.ID{}, patients: map[string]int{}}
	p := &Practice{Practice: ledger.Practice{ID: b.id(), Name: "Balance-forward practice", CreatedAt: now}}
	p.Providers = []ledger.Provider{{ID: b.id(), Name: "Dr. Prior", CreatedAt: now}}
	p.Locations = []ledger.Location{{ID: b.id(), Name: "Main", CreatedAt: now}}
	b.p, b.out = p, &BalanceForwardPosting{Practice: p}
	for i := range rows {
		b.post(&rows[i], i+2) // the header is row 1
	}
	b.settle()
	return b.out
}

// bfBuilder builds a BalanceForwardPosting row by row.
type bfBuilder struct {
	rng        *rand.Rand
	now        time.Time
	today      ledger.Date
	p          *Practice
	out        *BalanceForwardPosting
	guarantors map[string]ledger.ID // by external id
	patients   map[string]int       // index in p.Patients and p.Encounters, by external id
	receipts   []int                // per patient: its credit receipt's index in p.Receipts + 1, or 0
}

func (b *bfBuilder) id() ledger.ID { return newID(b.rng, b.now) }

// post adds the row numbered row: its line, and its patient's family,
// patient, encounter and credit receipt if it is their first.
func (b *bfBuilder) post(r *ledger.BalanceForwardRow, row int) {
	p, imp := b.p, &b.out.Import
	dos := b.today
	if r.ServiceDate != nil {
		dos = *r.ServiceDate
	}
	i := b.patient(r, dos)
	pat, enc, prov, loc := p.Patients[i].ID, p.Encounters[i].ID, p.Providers[0].ID, p.Locations[0].ID
	c := ledger.Charge{ID: b.id(), EncounterID: &enc, PatientID: pat, ProviderID: &prov, LocationID: &loc,
		Kind: ledger.ChargeBalanceForward, Status: ledger.StatusCompleted, Code: r.Code, ServiceDate: dos, Note: r.Memo, PostedAt: b.now}
	key := sha256.Sum256(fmt.Appendf(nil, "%s/%d", pat, row))
	ln := ledger.ImportLine{Row: row, RowKey: key[:], ChargeID: c.ID, Amount: r.Amount, Responsibility: r.Responsibility}
	switch {
	case r.Responsibility == ledger.ResponsibilityInsurance:
		c.Amount, c.InsuranceEstimate = r.Amount, r.Amount
		imp.Insurance = imp.Insurance.Add(r.Amount)
	case r.Amount.Sign() > 0:
		c.Amount = r.Amount
		imp.PatientDebits = imp.PatientDebits.Add(r.Amount)
	case r.Kind == ledger.RowNegativeProduction:
		c.Kind, c.Amount, ln.NegativeProduction = ledger.ChargeProcedure, r.Amount, true
		imp.PatientCredits = imp.PatientCredits.Sub(r.Amount)
	default:
		rc := b.creditReceipt(i)
		rc.Amount = rc.Amount.Sub(r.Amount)
		p.Splits = append(p.Splits, ledger.Split{ID: b.id(), ReceiptID: rc.ID, Amount: r.Amount.Neg(), Code: ledger.CodeBalanceForward,
			PatientID: pat, ProviderID: &prov, LocationID: &loc, ChargeID: &c.ID})
		ln.ReceiptID = &rc.ID
		imp.PatientCredits = imp.PatientCredits.Sub(r.Amount)
	}
	p.Charges = append(p.Charges, c)
	b.out.Lines = append(b.out.Lines, ln)
}

// patient returns the index of the row's patient, adding the patient, its
// family and its encounter on its first row; the encounter spans the
// patient's dates of service.
func (b *bfBuilder) patient(r *ledger.BalanceForwardRow, dos ledger.Date) int {
	p := b.p
	if i, ok := b.patients[r.PatientExternalID]; ok {
		e := &p.Encounters[i]
		if dos.Before(e.ServiceFrom) {
			e.ServiceFrom = dos
		}
		if dos.After(e.ServiceTo) {
			e.ServiceTo = dos
		}
		return i
	}
	g, ok := b.guarantors[r.GuarantorExternalID]
	if !ok {
		g = b.id()
		b.guarantors[r.GuarantorExternalID] = g
		p.Guarantors = append(p.Guarantors, ledger.Guarantor{ID: g, Name: r.GuarantorName, ExternalID: r.GuarantorExternalID, CreatedAt: b.now})
	}
	i := len(p.Patients)
	b.patients[r.PatientExternalID] = i
	p.Patients = append(p.Patients, ledger.Patient{ID: b.id(), GuarantorID: g, FirstName: r.PatientFirstName, LastName: r.PatientLastName,
		BirthDate: r.PatientBirthDate, ExternalID: r.PatientExternalID, CreatedAt: b.now})
	p.Encounters = append(p.Encounters, ledger.Encounter{ID: b.id(), PatientID: p.Patients[i].ID, ProviderID: p.Providers[0].ID,
		LocationID: p.Locations[0].ID, Kind: ledger.EncounterBalanceForward, ServiceFrom: dos, ServiceTo: dos,
		Note: "Balance forward from a prior system", CreatedAt: b.now})
	b.receipts = append(b.receipts, 0)
	return i
}

// creditReceipt returns patient i's credit receipt, adding it (for 0.00:
// its credits add up to its amount) on the patient's first credit.
func (b *bfBuilder) creditReceipt(i int) *ledger.Receipt {
	p := b.p
	if b.receipts[i] == 0 {
		pat := p.Patients[i].ID
		p.Receipts = append(p.Receipts, ledger.Receipt{ID: b.id(), Kind: ledger.ReceiptBalanceForward, ReceivedOn: b.today, PatientID: &pat,
			Note: "Credit carried over from a prior system", PostedAt: b.now})
		b.receipts[i] = len(p.Receipts)
	}
	return &p.Receipts[b.receipts[i]-1]
}

// settle writes the import's record.
func (b *bfBuilder) settle() {
	imp, n := &b.out.Import, len(b.out.Lines)
	digest := sha256.Sum256(b.p.Practice.ID[:])
	imp.ID, imp.Kind, imp.Status, imp.FileName, imp.FileSHA256 = b.id(), ledger.KindBalanceForward, ledger.ImportCommitted, "balances.csv", hex.EncodeToString(digest[:])
	imp.ImportDate, imp.Options, imp.CreatedAt = b.today, ledger.ImportOptions{CreateMissingPatients: true}, b.now
	imp.RowsRead, imp.RowsPosted, imp.PatientsCreated, imp.GuarantorsCreated, imp.Encounters = n, n, len(b.p.Patients), len(b.p.Guarantors), len(b.p.Encounters)
}

// Copies lists the posting's tables in load order: the practice's
// (Copies), then the import's record and its lines.
func (bf *BalanceForwardPosting) Copies() []Copy {
	pid, imp := bf.Practice.Practice.ID.String(), &bf.Import
	options, _ := json.Marshal(imp.Options) // a struct of strings and booleans: it always marshals
	return append(Copies(bf.Practice),
		Copy{Table: "balance_imports", Columns: "practice_id, id, kind, status, file_name, file_sha256, import_date, options, rows_read, rows_posted, " +
			"rows_skipped, patients_created, guarantors_created, encounters, patient_debits, patient_credits, insurance, created_at", Width: 18, Len: 1,
			Row: func(_ int, v []any) {
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, imp.ID.String(), string(imp.Kind), string(imp.Status), text(imp.FileName),
					imp.FileSHA256, imp.ImportDate.String(), string(options)
				v[8], v[9], v[10], v[11], v[12], v[13] = int64(imp.RowsRead), int64(imp.RowsPosted), int64(imp.RowsSkipped),
					int64(imp.PatientsCreated), int64(imp.GuarantorsCreated), int64(imp.Encounters)
				v[14], v[15], v[16], v[17] = imp.PatientDebits.String(), imp.PatientCredits.String(), imp.Insurance.String(), stamp(imp.CreatedAt)
			}},
		Copy{Table: "balance_import_lines", Columns: "practice_id, import_id, row_number, row_key, charge_id, receipt_id, amount, responsibility, negative_production",
			Width: 9, Len: len(bf.Lines),
			Row: func(i int, v []any) {
				r := &bf.Lines[i]
				v[0], v[1], v[2], v[3], v[4], v[5] = pid, imp.ID.String(), int64(r.Row), r.RowKey, r.ChargeID.String(), id(r.ReceiptID)
				v[6], v[7], v[8] = r.Amount.String(), string(r.Responsibility), fmt.Sprint(r.NegativeProduction)
			}})
}
