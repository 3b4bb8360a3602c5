package postgres

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

func (t *txStore) LockFamilies(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID) error {
	const q = `SELECT id FROM guarantors WHERE practice_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE`
	var locked []ledger.ID
	return translate(t.sel(ctx, &locked, prepared(q), practiceID, idArray(guarantorIDs)))
}

func (t *txStore) LockIdempotencyKey(ctx context.Context, practiceID ledger.ID, key string) error {
	const q = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))`
	_, err := t.exec(ctx, q, practiceID, key)
	return translate(err)
}

func (t *txStore) IdempotencyRecord(ctx context.Context, practiceID ledger.ID, key string) (ledger.IdempotencyRecord, bool, error) {
	const q = `SELECT key, operation, request_hash, result_id, created_at FROM idempotency_records
	            WHERE practice_id = $1 AND key = $2`
	var rec ledger.IdempotencyRecord
	err := t.get(ctx, &rec, q, practiceID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	return rec, err == nil, translate(err)
}

// RecordMutation writes a mutation's audit event and idempotency record
// (none when rec is nil) and queues the change notification (NotifyChanged)
// in one statement of data-modifying CTEs.
func (t *txStore) RecordMutation(ctx context.Context, practiceID ledger.ID, rec *ledger.IdempotencyRecord, e ledger.AuditEvent) error {
	const q = `
WITH audit AS (
    INSERT INTO audit_events (practice_id, id, at, key_id, role, operation, input_digest, created_ids, policy_name, policy_version)
    VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8::uuid[], NULLIF($9, ''), NULLIF($10, 0))
), idem AS (
    INSERT INTO idempotency_records (practice_id, key, operation, request_hash, result_id, created_at)
    SELECT $1, $11, $12, $13, $14, $15 WHERE $11 <> ''
)
SELECT pg_notify($16, $1::text || ` + changedFamilies
	var r ledger.IdempotencyRecord
	if rec != nil {
		r = *rec
	}
	_, err := t.exec(ctx, prepared(q), practiceID, e.ID, e.At, e.KeyID, string(e.Role), e.Operation, e.InputDigest,
		idArray(e.CreatedIDs), e.PolicyName, e.PolicyVersion, r.Key, r.Operation, r.RequestHash, r.ResultID, r.CreatedAt,
		ChangesChannel)
	return translate(err)
}

func (t *txStore) InsertPractice(ctx context.Context, p ledger.Practice) error {
	const q = `INSERT INTO practices (id, name, require_batch, created_at) VALUES ($1, $2, $3, $4)`
	_, err := t.exec(ctx, q, p.ID, p.Name, p.RequireBatch, p.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertUnearnedType(ctx context.Context, practiceID ledger.ID, u ledger.UnearnedType) error {
	const q = `INSERT INTO unearned_types (practice_id, id, name, hidden, is_default, is_treatment_plan) VALUES ($1, $2, $3, $4, $5, $6)`
	_, err := t.exec(ctx, q, practiceID, u.ID, u.Name, u.Hidden, u.IsDefault, u.IsTreatmentPlan)
	return translate(err)
}

// UpdateUnearnedType writes a type's name, visibility and roles. Taking the
// default or treatment-plan role takes it from the type that had it first
// (two statements: the one-per-practice indexes are checked row by row).
func (t *txStore) UpdateUnearnedType(ctx context.Context, practiceID ledger.ID, u ledger.UnearnedType) error {
	const clear = `UPDATE unearned_types SET is_default = is_default AND NOT $3, is_treatment_plan = is_treatment_plan AND NOT $4
	                WHERE practice_id = $1 AND id <> $2 AND (is_default AND $3 OR is_treatment_plan AND $4)`
	if _, err := t.exec(ctx, clear, practiceID, u.ID, u.IsDefault, u.IsTreatmentPlan); err != nil {
		return translate(err)
	}
	const q = `UPDATE unearned_types SET name = $3, hidden = $4, is_default = $5, is_treatment_plan = $6
	            WHERE practice_id = $1 AND id = $2`
	_, err := t.exec(ctx, q, practiceID, u.ID, u.Name, u.Hidden, u.IsDefault, u.IsTreatmentPlan)
	return translate(err)
}

// InsertInsuranceWriteOff writes an insurance write-off on a charge.
func (t *txStore) InsertInsuranceWriteOff(ctx context.Context, practiceID ledger.ID, w ledger.InsuranceWriteOff) error {
	const q = `INSERT INTO insurance_write_offs (practice_id, id, charge_id, amount, written_on, note, posted_at)
	           VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)`
	_, err := t.exec(ctx, q, practiceID, w.ID, w.ChargeID, w.Amount, w.WrittenOn, w.Note, w.PostedAt)
	return translate(err)
}

func (t *txStore) InsertAPIKey(ctx context.Context, k ledger.APIKey) error {
	const q = `INSERT INTO api_keys (practice_id, id, name, role, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`
	_, err := t.exec(ctx, q, k.PracticeID, k.ID, k.Name, string(k.Role), k.SecretHash, k.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertProvider(ctx context.Context, practiceID ledger.ID, p ledger.Provider) error {
	const q = `INSERT INTO providers (practice_id, id, name, code, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`
	_, err := t.exec(ctx, q, practiceID, p.ID, p.Name, p.Code, p.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertLocation(ctx context.Context, practiceID ledger.ID, l ledger.Location) error {
	const q = `INSERT INTO locations (practice_id, id, name, code, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`
	_, err := t.exec(ctx, q, practiceID, l.ID, l.Name, l.Code, l.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertGuarantor(ctx context.Context, practiceID ledger.ID, g ledger.Guarantor) error {
	const q = `INSERT INTO guarantors (practice_id, id, name, external_id, self_patient_id, created_at)
	           VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6)`
	_, err := t.exec(ctx, q, practiceID, g.ID, g.Name, g.ExternalID, g.SelfPatientID, g.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertPatient(ctx context.Context, practiceID ledger.ID, p ledger.Patient) error {
	const q = `INSERT INTO patients (practice_id, id, guarantor_id, first_name, last_name, birth_date, external_id, created_at)
	           VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8)`
	_, err := t.exec(ctx, q, practiceID, p.ID, p.GuarantorID, p.FirstName, p.LastName, p.BirthDate, p.ExternalID, p.CreatedAt)
	return translate(err)
}

func (t *txStore) InsertEncounter(ctx context.Context, practiceID ledger.ID, e ledger.Encounter) error {
	const q = `INSERT INTO encounters (practice_id, id, patient_id, provider_id, location_id, kind, service_from, service_to, note, created_at)
	           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10)`
	_, err := t.exec(ctx, q, practiceID, e.ID, e.PatientID, e.ProviderID, e.LocationID, string(e.Kind),
		e.ServiceFrom, e.ServiceTo, e.Note, e.CreatedAt)
	return translate(err)
}

// InsertCharges writes charges with one multi-row statement per call,
// passing each column as an array.
func (t *txStore) InsertCharges(ctx context.Context, practiceID ledger.ID, cs []ledger.Charge) error {
	const q = `
INSERT INTO charges (practice_id, id, encounter_id, patient_id, provider_id, location_id, kind, status, code,
                     service_date, amount, insurance_estimate, attached_to_id, note, posted_at)
SELECT $1, u.id, u.encounter_id, u.patient_id, u.provider_id, u.location_id, u.kind, u.status, u.code,
       u.service_date, u.amount, u.insurance_estimate, u.attached_to_id, NULLIF(u.note, ''), $2
  FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::text[], $10::text[],
              $11::date[], $12::numeric[], $13::numeric[], $14::uuid[], $15::text[])
       AS u(id, encounter_id, patient_id, provider_id, location_id, kind, status, code,
            service_date, amount, insurance_estimate, attached_to_id, note)`
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	ids, encs, pats, provs, locs, atts := make([]ledger.ID, n), make([]*ledger.ID, n), make([]ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n)
	kinds, statuses, codes, dates, amounts, ests, notes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, c := range cs {
		ids[i], encs[i], pats[i], provs[i], locs[i], atts[i] = c.ID, c.EncounterID, c.PatientID, c.ProviderID, c.LocationID, c.AttachedToID
		kinds[i], statuses[i], codes[i], dates[i] = string(c.Kind), string(c.Status), c.Code, c.ServiceDate.String()
		amounts[i], ests[i], notes[i] = c.Amount.String(), c.InsuranceEstimate.String(), c.Note
	}
	_, err := t.exec(ctx, q, practiceID, cs[0].PostedAt, idArray(ids), nullableIDArray(encs), idArray(pats),
		nullableIDArray(provs), nullableIDArray(locs), pq.Array(kinds), pq.Array(statuses), pq.Array(codes),
		pq.Array(dates), pq.Array(amounts), pq.Array(ests), nullableIDArray(atts), pq.Array(notes))
	return translate(err)
}

// InsertReceipt writes a receipt and all of its splits in one statement:
// the receipt in a data-modifying CTE, its splits from arrays.
func (t *txStore) InsertReceipt(ctx context.Context, practiceID ledger.ID, r ledger.Receipt, splits []ledger.Split) error {
	const q = `
WITH receipt AS (
    INSERT INTO receipts (practice_id, id, kind, amount, received_on, patient_id, method, reference, note, batch_id,
                          reverses_id, policy_name, policy_version, posted_at, encounter_id)
    VALUES ($1, $2, $11, $12, $13, $14, NULLIF($15, ''), NULLIF($16, ''), NULLIF($17, ''), $18, $19, NULLIF($20, ''), NULLIF($21, 0), $22, $23)
    RETURNING id
)
INSERT INTO splits (practice_id, id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id)
SELECT $1, u.id, receipt.id, u.amount, u.code, u.patient_id, u.provider_id, u.location_id, u.charge_id, u.unearned_type_id
  FROM receipt,
       unnest($3::uuid[], $4::numeric[], $5::text[], $6::uuid[], $7::uuid[], $8::uuid[], $9::uuid[], $10::uuid[])
       AS u(id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id)`
	n := len(splits)
	ids, pats, provs, locs, chs, uts := make([]ledger.ID, n), make([]ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n), make([]*ledger.ID, n)
	amounts, codes := make([]string, n), make([]string, n)
	for i, s := range splits {
		ids[i], pats[i], provs[i], locs[i], chs[i], uts[i] = s.ID, s.PatientID, s.ProviderID, s.LocationID, s.ChargeID, s.UnearnedTypeID
		amounts[i], codes[i] = s.Amount.String(), string(s.Code)
	}
	_, err := t.exec(ctx, prepared(q), practiceID, r.ID, idArray(ids), pq.Array(amounts), pq.Array(codes), idArray(pats),
		nullableIDArray(provs), nullableIDArray(locs), nullableIDArray(chs), nullableIDArray(uts),
		string(r.Kind), r.Amount, r.ReceivedOn, r.PatientID, r.Method, r.Reference, r.Note, r.BatchID, r.ReversesID,
		r.PolicyName, r.PolicyVersion, r.PostedAt, r.EncounterID)
	return translate(err)
}

// nullableIDArray passes optional ids as a uuid[] with NULL elements.
func nullableIDArray(ids []*ledger.ID) any {
	s := make([]sql.NullString, len(ids))
	for i, id := range ids {
		if id != nil {
			s[i] = sql.NullString{String: id.String(), Valid: true}
		}
	}
	return pq.Array(s)
}
