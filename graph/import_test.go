package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

const bfHeader = "patient_external_id,patient_last_name,patient_first_name,patient_birth_date,guarantor_external_id,guarantor_name,service_date,amount,provider,location,code,responsibility,memo\r\n"

// importDoc asks for everything a report says.
const importDoc = `mutation($input: ImportBalancesInput!) { importBalances(input: $input) {
	report { mode outcome message fileName fileSha256 delimiter rows rowsToPost rowsSkipped errors warnings issuesTruncated
		issues { row line column severity code message }
		issueCounts { code severity count }
		totals { rows patientDebits patientCredits insurance patientBalance total }
		patients { patient { id } created externalId lastName firstName birthDate guarantor { id } guarantorName firstRow
			totals { rows patientDebits patientCredits insurance patientBalance total } }
		patientCount patientsTruncated patientsCreated guarantorsCreated encounters
		reconciliation { matches filePatient ledgerPatient fileInsurance ledgerInsurance patientCount guarantorCount differing truncated
			patients { patient { id } guarantor { id } rows filePatient ledgerPatient fileInsurance ledgerInsurance matches }
			guarantors { patient { id } guarantor { id name } rows filePatient ledgerPatient matches } }
		duplicateOf { id } }
	import { id status fileName fileSha256 importDate rowsRead rowsPosted rowsSkipped patientsCreated guarantorsCreated encounters
		patientDebits patientCredits insurance createdAt undoneAt
		options { createMissingPatients encounterPerProviderLocation delimiter defaultProvider defaultLocation }
		reconciliation { matches ledgerPatient } } } }`

// upload posts importBalances as a multipart request (the GraphQL multipart
// request spec: operations, map, then the file) with the given extra headers.
func upload(t *testing.T, url, token string, headers map[string]string, name string, file []byte, input map[string]any) response {
	t.Helper()
	return send(t, uploadRequest(t, url, token, headers, name, file, input))
}

// uploadRequest is upload's request.
func uploadRequest(t *testing.T, url, token string, headers map[string]string, name string, file []byte, input map[string]any) *http.Request {
	t.Helper()
	return uploadDocRequest(t, url, token, headers, importDoc, name, file, input)
}

// uploadDocRequest posts doc with input (its file set to the upload).
func uploadDocRequest(t *testing.T, url, token string, headers map[string]string, doc, name string, file []byte, input map[string]any) *http.Request {
	t.Helper()
	in := map[string]any{"file": nil}
	for k, v := range input {
		in[k] = v
	}
	ops, err := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"input": in}})
	require.NoError(t, err)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("operations", string(ops)))
	require.NoError(t, mw.WriteField("map", `{"0": ["variables.input.file"]}`))
	fw, err := mw.CreateFormFile("0", name)
	require.NoError(t, err)
	_, err = fw.Write(file)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	// The body goes only once the server reads it: a refusal comes unread.
	req.Header.Set("Expect", "100-continue")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

var csrf = map[string]string{"X-Paysplit-CSRF": "1"}

func (h *harness) importFile(t *testing.T, mode, file string, input map[string]any) map[string]any {
	t.Helper()
	in := map[string]any{"mode": mode}
	for k, v := range input {
		in[k] = v
	}
	r := upload(t, h.srv.URL, h.admin, csrf, "balances.csv", []byte(file), in)
	require.Empty(t, r.Errors, r.Raw)
	return r.Data
}

// importRows counts the rows of every table an import writes.
func importRows(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	out := rowCounts(t, db)
	for _, tbl := range []string{"balance_imports", "balance_import_lines"} {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM `+tbl))
		out[tbl] = n
	}
	return out
}

func newPatient(t *testing.T, h *harness, first, last, birth, ext string) ledger.Patient {
	t.Helper()
	d := ledger.MustDate(birth)
	p, err := h.f.Ledger.CreatePatient(context.Background(), h.f.Actor, ledger.NewPatient{SelfGuarantor: true, FirstName: first,
		LastName: last, BirthDate: &d, ExternalID: ext})
	require.NoError(t, err)
	return p
}

// TestImportBalancesFourCopays runs the four-copays example of
// docs/allocation.md §7 through the API:
// four $30 copays import as four lines with their dates and a $120 balance;
// VALIDATE first (nothing written), COMMIT, the same file again (nothing
// posted), the import read back, then undone.
func TestImportBalancesFourCopays(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	jane := newPatient(t, h, "Jane", "Doe", "1985-04-12", "A1001")
	file := bfHeader +
		"A1001,Doe,Jane,04/12/1985,,,01/01/2024,$30.00,,,PREV BAL,PATIENT,copay\r\n" +
		"A1001,Doe,Jane,04/12/1985,,,02/01/2024,30.00,,,,,copay\r\n" +
		"A1001,,,,,,2024-03-01,30,,,,,copay\r\n" +
		"A1001,,,,,,2024-04-01,30.00,,,,,copay\r\n"

	before := importRows(t, h.db)
	d := h.importFile(t, "VALIDATE", file, nil)
	rep := at(t, d, "importBalances.report")
	require.Equal(t, "VALIDATE", str(t, rep, "mode"))
	require.Equal(t, "VALID", str(t, rep, "outcome"))
	require.Equal(t, "balances.csv", str(t, rep, "fileName"))
	require.Equal(t, ",", str(t, rep, "delimiter"))
	require.EqualValues(t, 4, at(t, rep, "rowsToPost"))
	require.Empty(t, list(t, rep, "issues"))
	requireMoney(t, "120.00", rep, "totals.patientBalance")
	require.Equal(t, jane.ID.String(), str(t, rep, "patients.0.patient.id"))
	require.Equal(t, jane.GuarantorID.String(), str(t, rep, "patients.0.guarantor.id"))
	requireMoney(t, "120.00", rep, "patients.0.totals.patientDebits")
	require.Nil(t, at(t, rep, "reconciliation"))
	require.Nil(t, at(t, d, "importBalances.import"))
	require.Equal(t, before, importRows(t, h.db), "VALIDATE writes nothing")

	d = h.importFile(t, "COMMIT", file, nil)
	rep = at(t, d, "importBalances.report")
	require.Equal(t, "COMMITTED", str(t, rep, "outcome"), "%v", rep)
	imp := at(t, d, "importBalances.import")
	impID := str(t, imp, "id")
	require.Equal(t, "COMMITTED", str(t, imp, "status"))
	require.Equal(t, "2026-06-15", str(t, imp, "importDate"))
	require.EqualValues(t, 4, at(t, imp, "rowsPosted"))
	requireMoney(t, "120.00", imp, "patientDebits")
	require.Equal(t, false, at(t, imp, "options.createMissingPatients"))
	require.Nil(t, at(t, imp, "options.delimiter"))
	require.Equal(t, true, at(t, rep, "reconciliation.matches"))
	requireMoney(t, "120.00", rep, "reconciliation.ledgerPatient")
	require.Equal(t, jane.ID.String(), str(t, rep, "reconciliation.patients.0.patient.id"))
	require.Nil(t, at(t, rep, "reconciliation.guarantors.0.patient"))
	require.Equal(t, "Jane Doe", str(t, rep, "reconciliation.guarantors.0.guarantor.name"))
	require.Equal(t, true, at(t, imp, "reconciliation.matches"))

	p := h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { balance charges { kind code serviceDate amount owed note encounter { kind serviceFrom serviceTo } } } }`,
		map[string]any{"id": jane.ID.String()})
	requireMoney(t, "120.00", p, "patient.balance")
	charges := list(t, p, "patient.charges")
	require.Len(t, charges, 4)
	for i, dos := range []string{"2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"} {
		require.Equal(t, "BALANCE_FORWARD", str(t, charges[i], "kind"))
		require.Equal(t, "PREV BAL", str(t, charges[i], "code"))
		require.Equal(t, dos, str(t, charges[i], "serviceDate"))
		requireMoney(t, "30.00", charges[i], "owed")
		require.Equal(t, "BALANCE_FORWARD", str(t, charges[i], "encounter.kind"))
		require.Equal(t, "2024-04-01", str(t, charges[i], "encounter.serviceTo"))
	}

	// The same file again: nothing posted, and the report says so.
	after := importRows(t, h.db)
	d = h.importFile(t, "COMMIT", file, nil)
	rep = at(t, d, "importBalances.report")
	require.Equal(t, "ALREADY_IMPORTED", str(t, rep, "outcome"))
	require.Equal(t, impID, str(t, rep, "duplicateOf.id"))
	require.Equal(t, impID, str(t, d, "importBalances.import.id"))
	require.Contains(t, str(t, rep, "message"), impID)
	require.Equal(t, after, importRows(t, h.db))

	l := h.ok(t, h.analyst, `{ balanceImports { id status rowsPosted } }`, nil)
	require.Equal(t, []string{impID}, ids(t, l, "balanceImports"))
	one := h.ok(t, h.analyst, `query($id: ID!) { balanceImport(id: $id) { id fileName reconciliation { matches filePatient } } }`, map[string]any{"id": impID})
	require.Equal(t, "balances.csv", str(t, one, "balanceImport.fileName"))
	requireMoney(t, "120.00", one, "balanceImport.reconciliation.filePatient")
	requireCode(t, h.do(t, h.analyst, `query($id: ID!) { balanceImport(id: $id) { id } }`, map[string]any{"id": newID()}), "NOT_FOUND")

	// Undo: an analyst may not; an admin may, once.
	undo := `mutation($id: ID!) { undoBalanceImport(input: {importId: $id}) { import { id status undoneAt reconciliation { ledgerPatient } } } }`
	requireCode(t, h.do(t, h.analyst, undo, map[string]any{"id": impID}), "FORBIDDEN")
	u := h.ok(t, h.admin, undo, map[string]any{"id": impID})
	require.Equal(t, "UNDONE", str(t, u, "undoBalanceImport.import.status"))
	require.NotNil(t, at(t, u, "undoBalanceImport.import.undoneAt"))
	requireMoney(t, "0.00", u, "undoBalanceImport.import.reconciliation.ledgerPatient")
	requireMoney(t, "0.00", h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { balance } }`, map[string]any{"id": jane.ID.String()}), "patient.balance")
	requireCode(t, h.do(t, h.admin, undo, map[string]any{"id": impID}), "CONFLICT")
}

// TestImportBalancesCreditsOptionsAndUndoRefused: a credit, created
// patients, per-provider encounters and the options through the API; undo
// refused once a payment was posted against a line.
func TestImportBalancesCreditsOptionsAndUndoRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	_, err := h.f.Ledger.CreateProvider(ctx, h.f.Actor, ledger.NewProvider{Name: "Dr. Two", Code: "DR2"})
	require.NoError(t, err)
	file := strings.ReplaceAll(bfHeader, ",", ";") +
		"N1;New;Nora;1990-01-01;G7;Gus New;2024-01-01;(25.00);;;;;overpaid\r\n" +
		"N1;New;Nora;1990-01-01;G7;Gus New;;40,00;DR2;;;;\r\n"
	// 40,00 is not an amount; fixed below.
	d := h.importFile(t, "VALIDATE", file, map[string]any{"options": map[string]any{"createMissingPatients": true, "defaultProvider": "Dr. One"}})
	rep := at(t, d, "importBalances.report")
	require.Equal(t, "INVALID", str(t, rep, "outcome"))
	require.Equal(t, ";", str(t, rep, "delimiter"))
	require.EqualValues(t, 1, at(t, rep, "errors"), "%v", list(t, rep, "issues"))
	require.True(t, hasIssue(t, rep, 3, "amount", "BAD_AMOUNT", "ERROR"))
	require.True(t, hasIssue(t, rep, 3, "service_date", "NO_SERVICE_DATE", "WARNING"))
	for _, is := range list(t, rep, "issues") {
		require.Positive(t, at(t, is, "line"))
		require.NotEmpty(t, str(t, is, "message"))
	}
	require.Nil(t, at(t, rep, "patients.0.patient"), "a patient VALIDATE would create has no id yet")
	require.Equal(t, true, at(t, rep, "patients.0.created"))

	file = strings.Replace(file, "40,00", "40.00", 1)
	opts := map[string]any{"createMissingPatients": true, "encounterPerProviderLocation": true, "delimiter": ";", "defaultProvider": "Dr. One"}
	d = h.importFile(t, "COMMIT", file, map[string]any{"options": opts, "idempotencyKey": "bf-1"})
	rep = at(t, d, "importBalances.report")
	require.Equal(t, "COMMITTED", str(t, rep, "outcome"), "%v", rep)
	require.EqualValues(t, 1, at(t, rep, "patientsCreated"))
	require.EqualValues(t, 1, at(t, rep, "guarantorsCreated"))
	require.EqualValues(t, 2, at(t, rep, "encounters"), "two providers: two encounters")
	requireMoney(t, "25.00", rep, "totals.patientCredits")
	requireMoney(t, "15.00", rep, "totals.patientBalance")
	imp := at(t, d, "importBalances.import")
	require.Equal(t, true, at(t, imp, "options.encounterPerProviderLocation"))
	require.Equal(t, ";", str(t, imp, "options.delimiter"))
	require.Equal(t, "Dr. One", str(t, imp, "options.defaultProvider"))
	nora := str(t, rep, "patients.0.patient.id")

	p := h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { externalId balance owed credit guarantor { name externalId }
		charges { id serviceDate amount owed provider { code } }
		guarantor { receipts { kind amount splits { code amount charge { id } } } } } }`, map[string]any{"id": nora})
	require.Equal(t, "N1", str(t, p, "patient.externalId"))
	require.Equal(t, "Gus New", str(t, p, "patient.guarantor.name"))
	require.Equal(t, "G7", str(t, p, "patient.guarantor.externalId"))
	requireMoney(t, "15.00", p, "patient.balance")
	requireMoney(t, "25.00", p, "patient.credit")
	cs := list(t, p, "patient.charges")
	require.Len(t, cs, 2)
	requireMoney(t, "0.00", cs[0], "amount")
	requireMoney(t, "-25.00", cs[0], "owed")
	require.Equal(t, "2026-06-15", str(t, cs[1], "serviceDate"), "no DOS: the import date")
	require.Equal(t, "DR2", str(t, cs[1], "provider.code"))
	rcpt := at(t, p, "patient.guarantor.receipts.0")
	require.Equal(t, "BALANCE_FORWARD", str(t, rcpt, "kind"))
	requireMoney(t, "25.00", rcpt, "amount")
	require.Equal(t, "BF", str(t, rcpt, "splits.0.code"))
	require.Equal(t, str(t, cs[0], "id"), str(t, rcpt, "splits.0.charge.id"))

	// Only imports post BALANCE_FORWARD receipts.
	e, _ := h.fail(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`, map[string]any{"in": map[string]any{
		"kind": "BALANCE_FORWARD", "patientId": nora, "amount": "5.00", "splits": []any{map[string]any{"amount": "5.00"}}}})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "kind", e.field())

	// A payment on the 40.00 line: undo is refused with the reason.
	pay := h.ok(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`, map[string]any{"in": map[string]any{
		"kind": "PATIENT_PAYMENT", "patientId": nora, "amount": "10.00", "splits": []any{map[string]any{"amount": "10.00", "chargeId": str(t, cs[1], "id")}}}})
	before := importRows(t, h.db)
	e, _ = h.fail(t, h.admin, `mutation($id: ID!) { undoBalanceImport(input: {importId: $id}) { import { id } } }`, map[string]any{"id": str(t, imp, "id")})
	require.Equal(t, "INVARIANT_VIOLATION", e.code())
	require.Equal(t, "import_untouched", e.Extensions["invariant"])
	require.Contains(t, e.Message, "row 3")
	require.Contains(t, e.Message, str(t, pay, "postReceipt.receipt.id"))
	require.Equal(t, before, importRows(t, h.db))

	// The idempotency key replays the first result.
	d = h.importFile(t, "COMMIT", file, map[string]any{"options": opts, "idempotencyKey": "bf-1"})
	require.Equal(t, str(t, imp, "id"), str(t, d, "importBalances.import.id"))
	require.Equal(t, before, importRows(t, h.db))
}

// TestImportBalancesCSRFAndLimits: an upload without a non-simple header is
// refused, and so is a file over the size limit, before it is read;
// nothing is written either way. Analysts may not import.
func TestImportBalancesCSRFAndLimits(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	srv := graph.NewServer(f.Ledger, func(ctx context.Context) error { return db.PingContext(ctx) })
	srv.SetMaxUploadBytes(2000)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	admin, analyst := issueKey(t, f, ledger.RoleAdmin), issueKey(t, f, ledger.RoleAnalyst)
	_, err := f.Ledger.CreatePatient(context.Background(), f.Actor, ledger.NewPatient{SelfGuarantor: true, FirstName: "Jane", LastName: "Doe", ExternalID: "A1"})
	require.NoError(t, err)
	small := []byte(bfHeader + "A1,,,,,,2024-01-01,30.00,,,,,\r\n")
	in := map[string]any{"mode": "COMMIT"}
	before := importRows(t, db)

	for _, headers := range []map[string]string{nil, {"X-Paysplit-CSRF": " "}, {"Apollo-Require-Preflight": ""}, {"X-Requested-With": "x"}} {
		r := upload(t, ts.URL, admin, headers, "b.csv", small, in)
		require.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
		e := requireCode(t, r, "BAD_REQUEST")
		require.Contains(t, e.Message, "X-Paysplit-CSRF")
		require.Equal(t, before, importRows(t, db))
	}

	// Over the limit, declared in the request's length: refused unread.
	big := []byte(bfHeader + strings.Repeat("A1,,,,,,2024-01-01,30.00,,,,,\r\n", 40_000))
	r := upload(t, ts.URL, admin, csrf, "big.csv", big, in)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, r.Raw)
	e := requireCode(t, r, "BAD_USER_INPUT")
	require.Equal(t, "file", e.field())
	// Over the file limit but within the form's allowance: refused by its size.
	r = upload(t, ts.URL, admin, csrf, "big.csv", big[:3000], in)
	e = requireCode(t, r, "BAD_USER_INPUT")
	require.Equal(t, "file", e.field())
	require.Contains(t, e.Message, "limit is 2000")
	require.Equal(t, before, importRows(t, db))

	requireCode(t, upload(t, ts.URL, analyst, csrf, "b.csv", small, in), "FORBIDDEN")
	requireCode(t, upload(t, ts.URL, analyst, csrf, "b.csv", small, map[string]any{"mode": "VALIDATE"}), "FORBIDDEN")
	requireCode(t, upload(t, ts.URL, "", csrf, "b.csv", small, in), "UNAUTHENTICATED")
	require.Equal(t, before, importRows(t, db))

	for _, h := range []map[string]string{{"Apollo-Require-Preflight": "true"}, {"X-Paysplit-CSRF": "1"}} {
		r = upload(t, ts.URL, admin, h, "b.csv", small, map[string]any{"mode": "VALIDATE"})
		require.Empty(t, r.Errors, r.Raw)
		require.Equal(t, "VALID", str(t, r.Data, "importBalances.report.outcome"))
	}
}

// TestImportBalancesBadInput: one file with every bad-input case gives a
// clean report, by row and column, and writes nothing; files that cannot be
// read at all say why.
func TestImportBalancesBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	newPatient(t, h, "Jane", "Doe", "1985-04-12", "A1")
	file := "\uFEFF" + strings.TrimSuffix(bfHeader, "\r\n") + ",old_system_notes\r\n" + // 1: BOM, CRLF, an extra column
		"A1,Doe,Jane,04/12/1985,,\"Doe, John\",01/31/2024,\"1,234.50\",,,,,\"a memo, with\r\na line break\",x\r\n" + // 2: fine
		"A1,,,,,,2024-02-01,$30.00,,,,,,\r\n" + // 3: fine
		"A1,,,,,,2024-02-02,(30.00),,,,,,\r\n" + // 4: fine: a credit
		"A1,,,,,,2024-02-03,30.005,,,,,,\r\n" + // 5: three decimals
		"A1,,,,,,2024-02-30,30.00,,,,,,\r\n" + // 6: no such date
		"A1,,,,,,12/01/2026,30.00,,,,,,\r\n" + // 7: in the future
		"A1,,,,,,2024-02-04,0.00,,,,,,\r\n" + // 8: zero: warning
		"A1,,,,,,2024-02-01,$30.00,,,,,,\r\n" + // 9: duplicate of 3: warning
		"A1,,,,,,2024-02-05,30.00,Dr. Nobody,,,,,\r\n" + // 10: unknown provider
		"A1,,,,,,2024-02-06,30.00,,Nowhere,,,,\r\n" + // 11: unknown location
		"A1,Doe,J\xF6rg,,,,2024-02-07,30.00,,,,,,\r\n" + // 12: not UTF-8
		"A1,,,,,,31/01/2024,30.00,,,,,,\r\n" // 13: day first
	before := importRows(t, h.db)
	d := h.importFile(t, "COMMIT", file, nil)
	rep := at(t, d, "importBalances.report")
	require.Equal(t, "REJECTED", str(t, rep, "outcome"))
	require.Nil(t, at(t, d, "importBalances.import"))
	require.Equal(t, before, importRows(t, h.db), "a rejected commit writes nothing")
	type want struct {
		row       int
		col, code string
		sev       string
	}
	for _, w := range []want{
		{1, "old_system_notes", "EXTRA_COLUMN", "WARNING"},
		{5, "amount", "BAD_AMOUNT", "ERROR"},
		{6, "service_date", "BAD_DATE", "ERROR"},
		{7, "service_date", "FUTURE_DATE", "ERROR"},
		{8, "amount", "ZERO_AMOUNT", "WARNING"},
		{9, "", "DUPLICATE_ROW", "WARNING"},
		{10, "provider", "UNKNOWN_PROVIDER", "ERROR"},
		{11, "location", "UNKNOWN_LOCATION", "ERROR"},
		{12, "patient_first_name", "BAD_ENCODING", "ERROR"},
		{13, "service_date", "BAD_DATE", "ERROR"},
	} {
		require.True(t, hasIssue(t, rep, w.row, w.col, w.code, w.sev), "no %+v in %v", w, list(t, rep, "issues"))
	}
	require.EqualValues(t, 7, at(t, rep, "errors"), "%v", list(t, rep, "issues"))
	require.EqualValues(t, 3, at(t, rep, "warnings"))
	require.EqualValues(t, 12, at(t, rep, "rows"))
	require.EqualValues(t, 2, at(t, rep, "rowsSkipped"))
	// The good rows (2, 3, 4) would post 1,234.50 + 30.00 − 30.00.
	requireMoney(t, "1234.50", rep, "totals.patientBalance")
	require.EqualValues(t, 3, at(t, rep, "totals.rows"))

	// Files that cannot be read.
	for _, c := range []struct {
		file      string
		row       int
		col, code string
	}{
		{"", 0, "", "EMPTY_FILE"},
		{bfHeader, 0, "", "EMPTY_FILE"},
		{strings.Replace(bfHeader, "amount", "balance", 1) + "A1,,,,,,2024-01-01,30.00,,,,,\r\n", 1, "amount", "MISSING_COLUMN"},
		{"\xFF\xFEp\x00", 0, "", "BAD_ENCODING"},
	} {
		d := h.importFile(t, "COMMIT", c.file, nil)
		rep := at(t, d, "importBalances.report")
		require.Equal(t, "REJECTED", str(t, rep, "outcome"))
		require.True(t, hasIssue(t, rep, c.row, c.col, c.code, "ERROR"), "%q: %v", c.file, list(t, rep, "issues"))
		require.Equal(t, before, importRows(t, h.db))
	}

	// A tab-separated file, its delimiter given.
	tabbed := strings.ReplaceAll(bfHeader, ",", "\t") + "A1\t\t\t\t\t\t2024-01-01\t30.00\t\t\t\t\t\r\n"
	d = h.importFile(t, "VALIDATE", tabbed, map[string]any{"options": map[string]any{"delimiter": "tab"}})
	require.Equal(t, "VALID", str(t, d, "importBalances.report.outcome"))
	require.Equal(t, "tab", str(t, d, "importBalances.report.delimiter"))
	e, _ := func() (gqlError, response) {
		r := upload(t, h.srv.URL, h.admin, csrf, "b.csv", []byte(tabbed), map[string]any{"mode": "VALIDATE", "options": map[string]any{"delimiter": "|"}})
		require.Len(t, r.Errors, 1, r.Raw)
		return r.Errors[0], r
	}()
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "options.delimiter", e.field())
}

// hasIssue reports whether a report lists an issue at row and column (""
// for none) with code and severity.
func hasIssue(t *testing.T, rep any, row int, col, code, sev string) bool {
	t.Helper()
	for _, is := range list(t, rep, "issues") {
		c, _ := at(t, is, "column").(string)
		if int(at(t, is, "row").(float64)) == row && c == col && str(t, is, "code") == code && str(t, is, "severity") == sev {
			return true
		}
	}
	return false
}

// TestBalanceForwardTemplate: the template from GraphQL and over HTTP.
func TestBalanceForwardTemplate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(t, "", `{ balanceForwardTemplate }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	require.Equal(t, ledger.BalanceForwardTemplate(), str(t, r.Data, "balanceForwardTemplate"))

	res, err := http.Get(h.srv.URL + graph.TemplatePath)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, res.Header.Get("Content-Disposition"), "balance-forward.csv")
	require.Equal(t, ledger.BalanceForwardTemplate(), string(b))
	lines := strings.Split(strings.TrimSpace(string(b)), "\r\n")
	require.Len(t, lines, 4, "a header and three examples")
	require.Contains(t, lines[0], "(MM/DD/YYYY)", "the template states the US date order")

	res, err = http.Post(h.srv.URL+graph.TemplatePath, "text/plain", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

// TestImportStatementCount: an import and its report run the same number of
// SQL statements for 5 patients as for 60 (set-based writes, batched
// lookups of the report's patients and guarantors).
func TestImportStatementCount(t *testing.T) {
	t.Parallel()
	db, statements := openCounting(t, ledgertest.NewDBURL(t))
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	h := serve(t, db, ledgertest.AddPractice(t, l, "Counted"))
	h.ok(t, h.admin, `{ practice { name } }`, nil) // the key's first use is recorded once
	counts := map[string]int64{}
	for _, n := range []int{5, 60} {
		var b strings.Builder
		b.WriteString(bfHeader)
		for i := range n {
			fmt.Fprintf(&b, "C%d-%03d,Last%d,First%d,2000-01-01,G%d-%d,Guar %d,2024-01-01,10.00,,,,,\r\n", n, i, n, i, n, i/2, i/2)
			fmt.Fprintf(&b, "C%d-%03d,Last%d,First%d,2000-01-01,G%d-%d,Guar %d,2024-02-01,-1.00,,,,,\r\n", n, i, n, i, n, i/2, i/2)
		}
		for _, mode := range []string{"VALIDATE", "COMMIT"} {
			start := statements.Load()
			d := h.importFile(t, mode, b.String(), map[string]any{"options": map[string]any{"createMissingPatients": true}})
			counts[fmt.Sprint(mode, n)] = statements.Load() - start
			require.Len(t, list(t, d, "importBalances.report.patients"), n)
		}
		require.Equal(t, true, at(t, h.ok(t, h.admin, `{ balanceImports(first: 1) { reconciliation { matches } } }`, nil), "balanceImports.0.reconciliation.matches"))
	}
	require.Equal(t, counts["VALIDATE5"], counts["VALIDATE60"], "%v", counts)
	require.Equal(t, counts["COMMIT5"], counts["COMMIT60"], "%v", counts)
}

// TestImportBalancesChunkedUpload: an upload sent chunked, without a
// declared length, is read like any other (the server spools it to a
// temporary file rather than memory, see declareUploadLength), and the
// report counts its issues by code.
func TestImportBalancesChunkedUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	newPatient(t, h, "Jane", "Doe", "1985-04-12", "A1")
	file := bfHeader + "A1,,,,,,2024-01-01,30.00,,,,,\r\n" + "A9,,,,,,2024-01-01,5.00,,,,,\r\n" + "A1,,,,,,2024-13-01,5.00,,,,,\r\n"
	req := uploadRequest(t, h.srv.URL, h.admin, csrf, "chunked.csv", []byte(file), map[string]any{"mode": "VALIDATE"})
	req.ContentLength = -1
	req.Body = io.NopCloser(io.MultiReader(req.Body)) // a reader of unknown length: sent chunked
	r := send(t, req)
	require.Empty(t, r.Errors, r.Raw)
	rep := at(t, r.Data, "importBalances.report").(map[string]any)
	require.Equal(t, "INVALID", rep["outcome"])
	require.Equal(t, []any{
		map[string]any{"code": "BAD_DATE", "severity": "ERROR", "count": float64(1)},
		map[string]any{"code": "UNKNOWN_PATIENT", "severity": "ERROR", "count": float64(1)},
	}, rep["issueCounts"])
	require.Equal(t, float64(1), rep["patientCount"])
	require.Equal(t, false, rep["patientsTruncated"])
}

// TestImportBalancesNegativeProduction (issue 17, docs/import.md): through
// the upload, a NEGATIVE_PRODUCTION row becomes a PROCEDURE line with its
// negative fee — negative production, as postEncounter holds it — while a
// negative BALANCE row stays a credit held as money. The report counts
// negative production apart; balances and the family ledger hold it; and a
// policy treats it as negative production, not money: with
// negativeProductionIsIncome off, fifo moves only the money credit. A bad
// kind is an error on its row and column, and nothing is written.
func TestImportBalancesNegativeProduction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ann := newPatient(t, h, "Ann", "Neg", "1980-02-03", "A1")
	visit := h.f.Visit(t, ann, "2026-05-01", "100.00")[0]
	header := strings.TrimSuffix(bfHeader, "\r\n") + ",kind\r\n"
	file := header +
		"A1,,,,,,2024-02-01,-10.00,,,,,overpaid,\r\n" +
		"A1,,,,,,2024-03-01,-40.00,,,D9999,,courtesy,NEGATIVE_PRODUCTION\r\n"
	const totals = `totals { patientCredits negativeProduction patientBalance }`
	doc := strings.Replace(importDoc, "totals { rows patientDebits patientCredits insurance patientBalance total }", totals, 1)
	run := func(mode, file string) map[string]any {
		t.Helper()
		r := send(t, uploadDocRequest(t, h.srv.URL, h.admin, csrf, doc, "balances.csv", []byte(file), map[string]any{"mode": mode}))
		require.Empty(t, r.Errors, r.Raw)
		return at(t, r.Data, "importBalances.report").(map[string]any)
	}

	rep := run("VALIDATE", file)
	require.Equal(t, "VALID", str(t, rep, "outcome"), "%v", rep)
	requireMoney(t, "50.00", rep, "totals.patientCredits")
	requireMoney(t, "40.00", rep, "totals.negativeProduction")
	requireMoney(t, "-50.00", rep, "totals.patientBalance")
	rep = run("COMMIT", file)
	require.Equal(t, "COMMITTED", str(t, rep, "outcome"), "%v", rep)
	require.Equal(t, true, at(t, rep, "reconciliation.matches"))

	d := h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { balance owed unallocated unearned credit
		charges { id kind code amount owed insuranceEstimate serviceDate } } }`, obj{"id": ann.ID.String()})
	requireBalances(t, at(t, d, "patient"), "50.00", "100.00", "0.00", "0.00", "50.00")
	var neg map[string]any
	for _, c := range list(t, d, "patient.charges") {
		if str(t, c, "code") == "D9999" {
			neg = c.(map[string]any)
		}
	}
	require.NotNil(t, neg)
	require.Equal(t, "PROCEDURE", str(t, neg, "kind"))
	requireMoney(t, "-40.00", neg, "amount")
	requireMoney(t, "-40.00", neg, "owed")
	requireMoney(t, "0.00", neg, "insuranceEstimate")
	require.Equal(t, "2024-03-01", str(t, neg, "serviceDate"))
	d = h.ok(t, h.analyst, `query($g: ID!) { familyLedger(guarantorId: $g, policy: "fifo") { charges { charge { id } portion } } }`,
		obj{"g": ann.GuarantorID.String()})
	found := false
	for _, c := range list(t, d, "familyLedger.charges") {
		if str(t, c, "charge.id") == str(t, neg, "id") {
			found = true
			requireMoney(t, "-40.00", c, "portion")
		}
	}
	require.True(t, found, "the family ledger holds the negative line")

	// Negative production is not money: with negativeProductionIsIncome
	// off, fifo moves only the 10.00 credit held as money onto the visit.
	moved := func(params obj) string {
		t.Helper()
		d := h.ok(t, h.admin, `query($g: ID!, $params: PolicyParams) { previewTransfer(input: {guarantorId: $g, policy: "fifo", params: $params}) {
			moves { amount to { charge { id } } } } }`, obj{"g": ann.GuarantorID.String(), "params": params})
		sum := ledger.Money{}
		for _, m := range list(t, d, "previewTransfer.moves") {
			if c, ok := m.(map[string]any)["to"].(map[string]any)["charge"].(map[string]any); ok && c["id"] == visit.ID.String() {
				sum = sum.Add(ledger.MustMoney(str(t, m, "amount")))
			}
		}
		return sum.String()
	}
	require.Equal(t, "50.00", moved(nil), "by default negative production is income, as a policy reads it")
	require.Equal(t, "10.00", moved(obj{"negativeProductionIsIncome": "false"}), "only the money credit moves")

	// A bad kind, or a positive NEGATIVE_PRODUCTION row: errors, nothing written.
	before := importRows(t, h.db)
	rep = run("COMMIT", header+"A1,,,,,,2024-04-01,-5.00,,,,,,CREDIT\r\nA1,,,,,,2024-04-02,5.00,,,,,,NEGATIVE_PRODUCTION\r\n")
	require.Equal(t, "REJECTED", str(t, rep, "outcome"))
	require.True(t, hasIssue(t, rep, 2, "kind", "BAD_VALUE", "ERROR"), "%v", list(t, rep, "issues"))
	require.True(t, hasIssue(t, rep, 3, "amount", "BAD_SIGN", "ERROR"), "%v", list(t, rep, "issues"))
	require.Equal(t, before, importRows(t, h.db))
}
