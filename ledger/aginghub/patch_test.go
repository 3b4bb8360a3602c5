package aginghub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// familyLog is a postgres.FamilySink in front of a hub that records the
// families each notification named.
type familyLog struct {
	*aginghub.Hub
	mu    sync.Mutex
	named map[ledger.ID]int
	whole int
}

func (f *familyLog) Changed(p ledger.ID) {
	f.mu.Lock()
	f.whole++
	f.mu.Unlock()
	f.Hub.Changed(p)
}

func (f *familyLog) ChangedFamilies(p ledger.ID, fams []ledger.ID) {
	f.mu.Lock()
	for _, id := range fams {
		f.named[id]++
	}
	f.mu.Unlock()
	f.Hub.ChangedFamilies(p, fams)
}

// Two servers on one database, each with its hub and listener: commits
// made through one ledger name the families they touched, each hub
// re-reads only those families' rows of its reports by family and by
// patient, and every
// report it hands out equals the report computed afresh — summaries, pages
// and sorts — after each of a sequence of receipts, visits and reversals
// in several families.
func TestAgingHubPatchesFamilies(t *testing.T) {
	t.Parallel()
	db, url := ledgertest.NewDBAndURL(t)
	f := ledgertest.NewPractice(t, db)
	s := ledgertest.BuildAging(t, f)
	var fams [][]ledger.Patient
	for i := range 4 {
		fams = append(fams, f.Family(t, fmt.Sprint("F", i), "Kid"))
	}
	queries := []ledger.AgingQuery{
		{Page: ledger.Page{First: 0}},
		{Page: ledger.Page{First: 2}},
		{Page: ledger.Page{First: 3}, Sort: ledger.SortOldestDesc, CreditsToOldest: true},
		{Page: ledger.Page{First: 10}, Basis: ledger.AgingResponsibilityDate, MinBalance: ptr(ledger.MustMoney("0.01"))},
		{GroupBy: ledger.AgingByPatient, Page: ledger.Page{First: 0}},
		{GroupBy: ledger.AgingByPatient, Page: ledger.Page{First: 4}, Sort: ledger.SortOldestDesc, CreditsToOldest: true},
	}
	type server struct {
		log     *familyLog
		watches []<-chan ledger.AgingReport
		last    []string // the last report each watch received, as JSON
	}
	var servers []*server
	for range 2 {
		h := aginghub.New(f.Ledger)
		t.Cleanup(h.Close)
		sv := &server{log: &familyLog{Hub: h, named: map[ledger.ID]int{}}}
		ln, err := postgres.Listen(url, sv.log, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, ln.Close()) })
		for _, q := range queries {
			ch, err := h.Watch(context.Background(), f.Actor, q)
			require.NoError(t, err)
			sv.watches, sv.last = append(sv.watches, ch), append(sv.last, "")
		}
		servers = append(servers, sv)
	}
	step := -1
	converge := func() {
		for i, q := range queries {
			want, err := f.Ledger.Aging(context.Background(), f.Actor, q)
			require.NoError(t, err)
			wantJSON, err := json.Marshal(want)
			require.NoError(t, err)
			for _, sv := range servers {
				for sv.last[i] != string(wantJSON) { // a report that did not change is not sent again
					select {
					case r := <-sv.watches[i]:
						got, err := json.Marshal(r)
						require.NoError(t, err)
						sv.last[i] = string(got)
					case <-time.After(hubWait):
						t.Fatalf("step %d, query %d: the hub's report is not the report computed afresh:\n got %s\nwant %s", step, i, sv.last[i], wantJSON)
					}
				}
			}
		}
	}
	converge()

	var receipts []ledger.Receipt
	for i := range 12 {
		step = i
		fam := fams[i%len(fams)]
		switch i % 4 {
		case 0:
			f.Visit(t, fam[1], fmt.Sprintf("2026-0%d-10", 2+i%4), fmt.Sprintf("%d.00", 40+i))
		case 1, 2:
			receipts = append(receipts, f.Receive(t, ledger.ReceiptPatientPayment, &fam[0], "15.00", "2026-06-14", ledgertest.Unallocated("15.00")))
		case 3:
			_, err := f.Ledger.ReverseReceipt(context.Background(), f.Actor, ledger.Reversal{ReceiptID: receipts[len(receipts)-1].ID})
			require.NoError(t, err)
		}
		converge()
	}
	f.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "7.00", "2026-06-15", ledgertest.Unallocated("7.00"))
	converge()

	for _, sv := range servers {
		sv.log.mu.Lock()
		require.Positive(t, sv.log.named[s.Kid.GuarantorID], "a receipt names its family")
		require.Positive(t, sv.log.named[fams[1][0].GuarantorID])
		require.Zero(t, sv.log.whole, "every commit named its families: the hub only patched")
		sv.log.mu.Unlock()
	}
}

func ptr[T any](v T) *T { return &v }
