package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// uploadImport posts importBalances in COMMIT mode as a multipart request
// and decodes the answer.
func uploadImport(addr, key string, file []byte) (int, map[string]any, error) {
	ops, _ := json.Marshal(map[string]any{
		"query": `mutation($in: ImportBalancesInput!) { importBalances(input: $in) {
			report { outcome rowsToPost rowsSkipped errors totals { total } } import { id rowsPosted } } }`,
		"variables": map[string]any{"in": map[string]any{"file": nil, "mode": "COMMIT",
			"options": map[string]any{"createMissingPatients": true}}}})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.in.file"]}`)
	fw, _ := mw.CreateFormFile("0", "prior-system.csv")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", &body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Paysplit-CSRF", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	err = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out, err
}

// SIGKILL in the middle of a balance-forward import's commit: the commit is
// all or nothing, so after a restart the ledger holds none of the file (no
// patient, line, credit or import record), and sending the file again posts
// every row exactly once; a third time posts nothing.
//
// "In the middle" is made certain, not left to timing: the test holds a
// SHARE lock on balance_import_lines, the import's last write, so the
// commit's transaction has written its patients, encounters, lines and
// credits and waits there when the server is killed.
func TestCrashMidImportCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server")
	}
	p := newPracticeDB(t)
	bin := buildPaysplit(t)
	addr := freeAddr(t)
	srv := startServe(t, bin, p.url, addr)

	const families = 300 // two patients each, two dates of service each: 1,200 rows
	var csv strings.Builder
	csv.WriteString("patient_external_id,patient_last_name,patient_first_name,patient_birth_date,guarantor_external_id,guarantor_name,service_date,amount,provider,location,code,responsibility,memo\n")
	for f := range families {
		for k := range 2 {
			for m := range 2 {
				amount := "30.00"
				if f%10 == 0 && k == 1 && m == 1 {
					amount = "-12.50" // some credits
				}
				fmt.Fprintf(&csv, "P%d-%d,Family%d,Kid%d,01/0%d/2010,G%d,Parent %d,0%d/01/2024,%s,,,PREV BAL,PATIENT,\n",
					f, k, f, k, k+1, f, f, m+1, amount)
			}
		}
	}
	file := []byte(csv.String())
	count := func(q string) int {
		var n int
		require.NoError(t, p.db.Get(&n, q, p.f.Actor.PracticeID))
		return n
	}
	patientsBefore := count(`SELECT count(*) FROM patients WHERE practice_id = $1`)

	lock, err := p.db.Beginx()
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.Exec(`LOCK TABLE balance_import_lines IN SHARE MODE`)
	require.NoError(t, err)
	answered := make(chan error, 1)
	early := make(chan map[string]any, 1)
	go func() {
		_, body, err := uploadImport(addr, p.key, file)
		if err == nil {
			early <- body
		}
		answered <- err
	}()
	eventually(t, "the import's commit to wait on the lock", func() bool {
		select {
		case body := <-early:
			t.Fatalf("the import answered while its commit should be waiting: %v", body)
		default:
		}
		var n int
		require.NoError(t, p.db.Get(&n, `SELECT count(*) FROM pg_stat_activity
		    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%balance_import_lines%'`))
		return n > 0
	})
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGKILL))
	<-srv.done
	require.Error(t, <-answered, "the client got no answer")
	require.NoError(t, lock.Rollback())

	// The killed server's session ends and its transaction rolls back.
	eventually(t, "the dead server's sessions to end", func() bool {
		var n int
		require.NoError(t, p.db.Get(&n, `SELECT count(*) FROM pg_stat_activity
		    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`))
		return n == 0
	})
	require.Equal(t, patientsBefore, count(`SELECT count(*) FROM patients WHERE practice_id = $1`), "no patient of the file was kept")
	require.Zero(t, count(`SELECT count(*) FROM charges WHERE practice_id = $1 AND kind = 'BALANCE_FORWARD'`), "no line of the file was kept")
	require.Zero(t, count(`SELECT count(*) FROM receipts WHERE practice_id = $1`), "no credit of the file was kept")
	require.Zero(t, count(`SELECT count(*) FROM balance_imports WHERE practice_id = $1`), "no record of the import was kept")

	startServe(t, bin, p.url, addr)
	status, body, err := uploadImport(addr, p.key, file)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, body["errors"], "%v", body)
	report := body["data"].(map[string]any)["importBalances"].(map[string]any)["report"].(map[string]any)
	require.Equal(t, "COMMITTED", report["outcome"], "%v", report)
	require.EqualValues(t, families*4, report["rowsToPost"])
	require.Equal(t, families*4, count(`SELECT count(*) FROM balance_import_lines WHERE practice_id = $1`))
	require.Equal(t, patientsBefore+families*2, count(`SELECT count(*) FROM patients WHERE practice_id = $1`))
	var total string
	require.NoError(t, p.db.Get(&total, `
		SELECT (coalesce((SELECT sum(amount) FROM charges WHERE practice_id = $1 AND kind = 'BALANCE_FORWARD'), 0)
		      - coalesce((SELECT sum(amount) FROM receipts WHERE practice_id = $1), 0))::text`, p.f.Actor.PracticeID))
	// 1,170 rows of 30.00 and 30 credits of 12.50.
	require.Equal(t, "34725.00", total)

	_, body, err = uploadImport(addr, p.key, file)
	require.NoError(t, err)
	require.Nil(t, body["errors"], "%v", body)
	report = body["data"].(map[string]any)["importBalances"].(map[string]any)["report"].(map[string]any)
	require.EqualValues(t, 0, report["rowsToPost"], "the second upload posts nothing: %v", report)
	require.Equal(t, families*4, count(`SELECT count(*) FROM balance_import_lines WHERE practice_id = $1`))
}
