package postgres

import (
	"context"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// Writes and reads of the allocation engine: receipts in bulk and the plans
// it committed.

// InsertReceipts writes receipts and their splits in one statement (the
// receipts in a data-modifying CTE), passing each column as an array. The
// deferred receipts_splits_balance trigger checks every receipt at commit.
func (t *txStore) InsertReceipts(ctx context.Context, practiceID ledger.ID, rs []ledger.Receipt, splits []ledger.Split) error {
	if len(rs) == 0 {
		return nil
	}
	const q = `
WITH receipt AS (
INSERT INTO receipts (practice_id, id, kind, amount, received_on, patient_id, method, reference, note, batch_id,
                      reverses_id, policy_name, policy_version, posted_at)
SELECT $1, u.id, u.kind, u.amount, u.received_on, u.patient_id, NULLIF(u.method, ''), NULLIF(u.reference, ''),
       NULLIF(u.note, ''), u.batch_id, u.reverses_id, NULLIF(u.policy_name, ''), NULLIF(u.policy_version, 0), u.posted_at
  FROM unnest($2::uuid[], $3::text[], $4::numeric[], $5::date[], $6::uuid[], $7::text[], $8::text[], $9::text[],
              $10::uuid[], $11::uuid[], $12::text[], $13::int[], $14::timestamptz[])
       AS u(id, kind, amount, received_on, patient_id, method, reference, note, batch_id, reverses_id,
            policy_name, policy_version, posted_at)
)
INSERT INTO splits (practice_id, id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id)
SELECT $1, u.id, u.receipt_id, u.amount, u.code, u.patient_id, u.provider_id, u.location_id, u.charge_id, u.unearned_type_id
  FROM unnest($15::uuid[], $16::uuid[], $17::numeric[], $18::text[], $19::uuid[], $20::uuid[], $21::uuid[], $22::uuid[], $23::uuid[])
       AS u(id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id)`
	n := len(rs)
	ids, pats, batches, revs := make([]ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n)
	kinds, amounts, dates, methods, refs, notes, pols := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	vers, posted := make([]int64, n), make([]string, n)
	for i, r := range rs {
		ids[i], pats[i], batches[i], revs[i] = r.ID, r.PatientID, r.BatchID, r.ReversesID
		kinds[i], amounts[i], dates[i] = string(r.Kind), r.Amount.String(), r.ReceivedOn.String()
		methods[i], refs[i], notes[i], pols[i] = r.Method, r.Reference, r.Note, r.PolicyName
		vers[i], posted[i] = int64(r.PolicyVersion), r.PostedAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	}
	m := len(splits)
	sids, rids, spats := make([]ledger.ID, m), make([]ledger.ID, m), make([]ledger.ID, m)
	provs, locs, chs, uts := make([]*ledger.ID, m), make([]*ledger.ID, m), make([]*ledger.ID, m), make([]*ledger.ID, m)
	samounts, codes := make([]string, m), make([]string, m)
	for i, s := range splits {
		sids[i], rids[i], spats[i] = s.ID, s.ReceiptID, s.PatientID
		provs[i], locs[i], chs[i], uts[i] = s.ProviderID, s.LocationID, s.ChargeID, s.UnearnedTypeID
		samounts[i], codes[i] = s.Amount.String(), string(s.Code)
	}
	_, err := t.exec(ctx, prepared(q), practiceID, idArray(ids), pq.Array(kinds), pq.Array(amounts), pq.Array(dates),
		nullableIDArray(pats), pq.Array(methods), pq.Array(refs), pq.Array(notes), nullableIDArray(batches),
		nullableIDArray(revs), pq.Array(pols), pq.Array(vers), pq.Array(posted),
		idArray(sids), idArray(rids), pq.Array(samounts), pq.Array(codes),
		idArray(spats), nullableIDArray(provs), nullableIDArray(locs), nullableIDArray(chs), nullableIDArray(uts))
	return translate(err)
}

func (t *txStore) InsertAllocationRecords(ctx context.Context, practiceID ledger.ID, recs []ledger.AllocationRecord) error {
	if len(recs) == 0 {
		return nil
	}
	const q = `
INSERT INTO allocation_plans (practice_id, id, receipt_id, operation, guarantor_id, policy_name, policy_version, as_of, plan, created_at)
SELECT $1, u.id, u.receipt_id, u.operation, u.guarantor_id, u.policy_name, u.policy_version, u.as_of, u.plan::jsonb, $2
  FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::date[], $10::text[])
       AS u(id, receipt_id, operation, guarantor_id, policy_name, policy_version, as_of, plan)`
	n := len(recs)
	ids, rids, gids := make([]ledger.ID, n), make([]*ledger.ID, n), make([]ledger.ID, n)
	ops, names, dates, plans := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	vers := make([]int64, n)
	for i, r := range recs {
		ids[i], rids[i], gids[i] = r.ID, r.ReceiptID, r.GuarantorID
		ops[i], names[i], dates[i], plans[i] = string(r.Operation), r.PolicyName, r.AsOf.String(), string(r.Plan)
		vers[i] = int64(r.PolicyVersion)
	}
	_, err := t.exec(ctx, prepared(q), practiceID, recs[0].CreatedAt, idArray(ids), nullableIDArray(rids), pq.Array(ops),
		idArray(gids), pq.Array(names), pq.Array(vers), pq.Array(dates), pq.Array(plans))
	return translate(err)
}

func (s queries) AllocationRecords(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.AllocationRecord, error) {
	const q = `
SELECT id, receipt_id, operation, guarantor_id, policy_name, policy_version, as_of, plan::text AS plan, created_at
  FROM allocation_plans
 WHERE practice_id = $1 AND (id = ANY($2::uuid[]) OR receipt_id = ANY($2::uuid[]))`
	var rows []ledger.AllocationRecord
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}
