-- One maintained balance for aging and posting (issue 22): aging_lines
-- also keeps what a line's balance (ledger.ChargeBalance) is made of, so a
-- receipt, a run, a balance and an import's reconciliation read each line
-- as the aging report does instead of folding its history again
-- (docs/aging.md, "The maintained state"; docs/design.md §3).
--
-- adjustments     the adjustments attached to the line
-- insurance_paid  the part of paid that is insurance money (an insurance
--                 payment, or the reversal of one)
-- write_off       insurance write-offs on the line (adjusted is already
--                 net of them)
-- prepaid         prepayment attached to the line while it is planned:
--                 unearned money held for it, not in paid

-- +goose Up
ALTER TABLE aging_lines
    ADD COLUMN adjustments    numeric NOT NULL DEFAULT 0,
    ADD COLUMN insurance_paid numeric NOT NULL DEFAULT 0,
    ADD COLUMN write_off      numeric NOT NULL DEFAULT 0,
    ADD COLUMN prepaid        numeric NOT NULL DEFAULT 0;

-- +goose StatementBegin
-- aging_refresh_lines recomputes the root lines named by the pairs
-- (p_practice[i], p_charge[i]) from history; a pair naming no root line
-- (any more) removes its row.
CREATE OR REPLACE FUNCTION aging_refresh_lines(p_practice uuid[], p_charge uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    pa uuid[];
BEGIN
    -- Lock first, in key order: a concurrent writer of the same line waits
    -- here, and the statements below see what it committed.
    SELECT array_agg(practice_id), array_agg(patient_id) INTO pr, pa FROM (
        SELECT l.practice_id, l.patient_id FROM aging_lines l
          JOIN (SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)) t
            ON l.practice_id = t.practice_id AND l.charge_id = t.charge_id
         ORDER BY l.practice_id, l.charge_id
           FOR UPDATE OF l) x;
    PERFORM aging_touch(pr, pa);

    -- A static statement, so its plan is cached per connection (planning it
    -- afresh was most of a receipt's aging time). Bulk loads, whose rows the
    -- planner has no statistics for yet, do not come here row set by row set:
    -- they rebuild once with hash joins (aging_bulk_end).
    WITH t AS (
        SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)
    ), c AS (
        SELECT c.* FROM t JOIN charges c ON c.practice_id = t.practice_id AND c.id = t.charge_id
         WHERE c.attached_to_id IS NULL
    ), adjs AS (
        SELECT a.practice_id, a.attached_to_id AS root, a.id, a.amount
          FROM c JOIN charges a ON a.practice_id = c.practice_id AND a.attached_to_id = c.id
    ), adj AS (
        SELECT practice_id, root, sum(amount) AS amount FROM adjs GROUP BY 1, 2
    ), parts AS (
        SELECT practice_id, id AS root, id FROM c
        UNION ALL
        SELECT practice_id, root, id FROM adjs
    ), paid AS (       -- a prepayment attached to a planned line is not money on it
        SELECT p.practice_id, p.root,
               coalesce(sum(s.amount) FILTER (WHERE s.unearned_type_id IS NULL), 0) AS paid,
               coalesce(sum(s.amount) FILTER (WHERE s.unearned_type_id IS NULL
                                                AND (r.kind = 'INSURANCE_PAYMENT' OR o.kind = 'INSURANCE_PAYMENT')), 0) AS insurance_paid,
               coalesce(sum(s.amount) FILTER (WHERE s.unearned_type_id IS NOT NULL AND p.id = p.root), 0) AS prepaid,
               max(r.received_on) FILTER (WHERE s.unearned_type_id IS NULL AND r.kind = 'INSURANCE_PAYMENT' AND v.id IS NULL) AS insured_on
          FROM parts p
          JOIN splits s ON s.practice_id = p.practice_id AND s.charge_id = p.id
          JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
          LEFT JOIN receipts o ON o.practice_id = r.practice_id AND o.id = r.reverses_id
          LEFT JOIN receipts v ON v.practice_id = r.practice_id AND v.reverses_id = r.id
         GROUP BY 1, 2
    ), wo AS (
        SELECT w.practice_id, w.charge_id AS root, sum(w.amount) AS amount
          FROM c JOIN insurance_write_offs w ON w.practice_id = c.practice_id AND w.charge_id = c.id
         GROUP BY 1, 2
    ), up AS (
    INSERT INTO aging_lines AS l (practice_id, charge_id, patient_id, provider_id, location_id, status, service_date,
                                  posted_at, insurance_estimate, adjusted, paid, insured_on,
                                  adjustments, insurance_paid, write_off, prepaid)
    SELECT c.practice_id, c.id, c.patient_id, c.provider_id, c.location_id, c.status, c.service_date,
           c.posted_at, c.insurance_estimate, c.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0),
           coalesce(m.paid, 0), m.insured_on,
           coalesce(adj.amount, 0), coalesce(m.insurance_paid, 0), coalesce(wo.amount, 0), coalesce(m.prepaid, 0)
      FROM c
      LEFT JOIN adj ON adj.practice_id = c.practice_id AND adj.root = c.id
      LEFT JOIN wo ON wo.practice_id = c.practice_id AND wo.root = c.id
      LEFT JOIN paid m ON m.practice_id = c.practice_id AND m.root = c.id
     ORDER BY c.practice_id, c.id
    ON CONFLICT ON CONSTRAINT aging_lines_pkey DO UPDATE SET
           patient_id = EXCLUDED.patient_id, provider_id = EXCLUDED.provider_id, location_id = EXCLUDED.location_id,
           status = EXCLUDED.status, service_date = EXCLUDED.service_date, posted_at = EXCLUDED.posted_at,
           insurance_estimate = EXCLUDED.insurance_estimate, adjusted = EXCLUDED.adjusted, paid = EXCLUDED.paid,
           insured_on = EXCLUDED.insured_on, adjustments = EXCLUDED.adjustments,
           insurance_paid = EXCLUDED.insurance_paid, write_off = EXCLUDED.write_off, prepaid = EXCLUDED.prepaid
     WHERE (l.patient_id, l.provider_id, l.location_id, l.status, l.service_date, l.posted_at, l.insurance_estimate,
            l.adjusted, l.paid, l.insured_on, l.adjustments, l.insurance_paid, l.write_off, l.prepaid)
           IS DISTINCT FROM
           (EXCLUDED.patient_id, EXCLUDED.provider_id, EXCLUDED.location_id, EXCLUDED.status, EXCLUDED.service_date,
            EXCLUDED.posted_at, EXCLUDED.insurance_estimate, EXCLUDED.adjusted, EXCLUDED.paid, EXCLUDED.insured_on,
            EXCLUDED.adjustments, EXCLUDED.insurance_paid, EXCLUDED.write_off, EXCLUDED.prepaid)
    RETURNING practice_id, patient_id
    )
    SELECT array_agg(practice_id), array_agg(patient_id) INTO pr, pa FROM up;
    PERFORM aging_touch(pr, pa);

    DELETE FROM aging_lines l
     USING (SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)) t
     WHERE l.practice_id = t.practice_id AND l.charge_id = t.charge_id
       AND NOT EXISTS (SELECT 1 FROM charges c
                        WHERE c.practice_id = l.practice_id AND c.id = l.charge_id AND c.attached_to_id IS NULL);
END
$$;
-- +goose StatementEnd

-- Backfill: every practice's lines with the new columns.
SELECT aging_rebuild(id) FROM practices;

-- +goose Down
-- The refresh as 00015 wrote it, before the columns go.
-- +goose StatementBegin
-- aging_refresh_lines recomputes the root lines named by the pairs
-- (p_practice[i], p_charge[i]) from history; a pair naming no root line
-- (any more) removes its row.
CREATE OR REPLACE FUNCTION aging_refresh_lines(p_practice uuid[], p_charge uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    pa uuid[];
BEGIN
    -- Lock first, in key order: a concurrent writer of the same line waits
    -- here, and the statements below see what it committed.
    SELECT array_agg(practice_id), array_agg(patient_id) INTO pr, pa FROM (
        SELECT l.practice_id, l.patient_id FROM aging_lines l
          JOIN (SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)) t
            ON l.practice_id = t.practice_id AND l.charge_id = t.charge_id
         ORDER BY l.practice_id, l.charge_id
           FOR UPDATE OF l) x;
    PERFORM aging_touch(pr, pa);

    -- A static statement, so its plan is cached per connection (planning it
    -- afresh was most of a receipt's aging time). Bulk loads, whose rows the
    -- planner has no statistics for yet, do not come here row set by row set:
    -- they rebuild once with hash joins (aging_bulk_end).
    WITH t AS (
        SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)
    ), c AS (
        SELECT c.* FROM t JOIN charges c ON c.practice_id = t.practice_id AND c.id = t.charge_id
         WHERE c.attached_to_id IS NULL
    ), adjs AS (
        SELECT a.practice_id, a.attached_to_id AS root, a.id, a.amount
          FROM c JOIN charges a ON a.practice_id = c.practice_id AND a.attached_to_id = c.id
    ), adj AS (
        SELECT practice_id, root, sum(amount) AS amount FROM adjs GROUP BY 1, 2
    ), parts AS (
        SELECT practice_id, id AS root, id FROM c
        UNION ALL
        SELECT practice_id, root, id FROM adjs
    ), paid AS (
        SELECT p.practice_id, p.root, sum(s.amount) AS paid,
               max(r.received_on) FILTER (WHERE r.kind = 'INSURANCE_PAYMENT' AND v.id IS NULL) AS insured_on
          FROM parts p
          JOIN splits s ON s.practice_id = p.practice_id AND s.charge_id = p.id
                       AND s.unearned_type_id IS NULL   -- a prepayment attached to a planned line is not on it
          JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
          LEFT JOIN receipts v ON v.practice_id = r.practice_id AND v.reverses_id = r.id
         GROUP BY 1, 2
    ), wo AS (
        SELECT w.practice_id, w.charge_id AS root, sum(w.amount) AS amount
          FROM c JOIN insurance_write_offs w ON w.practice_id = c.practice_id AND w.charge_id = c.id
         GROUP BY 1, 2
    ), up AS (
    INSERT INTO aging_lines AS l (practice_id, charge_id, patient_id, provider_id, location_id, status, service_date,
                                  posted_at, insurance_estimate, adjusted, paid, insured_on)
    SELECT c.practice_id, c.id, c.patient_id, c.provider_id, c.location_id, c.status, c.service_date,
           c.posted_at, c.insurance_estimate, c.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0),
           coalesce(m.paid, 0), m.insured_on
      FROM c
      LEFT JOIN adj ON adj.practice_id = c.practice_id AND adj.root = c.id
      LEFT JOIN wo ON wo.practice_id = c.practice_id AND wo.root = c.id
      LEFT JOIN paid m ON m.practice_id = c.practice_id AND m.root = c.id
     ORDER BY c.practice_id, c.id
    ON CONFLICT ON CONSTRAINT aging_lines_pkey DO UPDATE SET
           patient_id = EXCLUDED.patient_id, provider_id = EXCLUDED.provider_id, location_id = EXCLUDED.location_id,
           status = EXCLUDED.status, service_date = EXCLUDED.service_date, posted_at = EXCLUDED.posted_at,
           insurance_estimate = EXCLUDED.insurance_estimate, adjusted = EXCLUDED.adjusted, paid = EXCLUDED.paid,
           insured_on = EXCLUDED.insured_on
     WHERE (l.patient_id, l.provider_id, l.location_id, l.status, l.service_date, l.posted_at, l.insurance_estimate,
            l.adjusted, l.paid, l.insured_on)
           IS DISTINCT FROM
           (EXCLUDED.patient_id, EXCLUDED.provider_id, EXCLUDED.location_id, EXCLUDED.status, EXCLUDED.service_date,
            EXCLUDED.posted_at, EXCLUDED.insurance_estimate, EXCLUDED.adjusted, EXCLUDED.paid, EXCLUDED.insured_on)
    RETURNING practice_id, patient_id
    )
    SELECT array_agg(practice_id), array_agg(patient_id) INTO pr, pa FROM up;
    PERFORM aging_touch(pr, pa);

    DELETE FROM aging_lines l
     USING (SELECT DISTINCT * FROM unnest(p_practice, p_charge) AS t(practice_id, charge_id)) t
     WHERE l.practice_id = t.practice_id AND l.charge_id = t.charge_id
       AND NOT EXISTS (SELECT 1 FROM charges c
                        WHERE c.practice_id = l.practice_id AND c.id = l.charge_id AND c.attached_to_id IS NULL);
END
$$;
-- +goose StatementEnd
ALTER TABLE aging_lines DROP COLUMN adjustments, DROP COLUMN insurance_paid, DROP COLUMN write_off, DROP COLUMN prepaid;
