-- Maintained aging state (issue 21): what the aging report as of today
-- needs, kept up to date in the transaction that changes the ledger, so the
-- report and its live subscriptions read the open lines instead of folding
-- the practice's history (docs/aging.md, "The maintained state").
--
-- aging_lines    one row per root line (a charge not attached to another):
--                its amount with attached adjustments less insurance
--                write-offs (adjusted), all money on it and its adjustments
--                (paid; a prepayment attached to a planned procedure is
--                not money on it), the latest insurance payment on it not reversed
--                (insured_on), and what the report groups and ages by.
--                outstanding = adjusted − paid is the line's one definition.
-- aging_credits  money on no line, per patient × provider × location ×
--                unearned type (null: unallocated).
-- aging_horizons per practice, the latest date any row that aging reads is
--                dated (a completed charge's service date, a receipt's
--                received date, a write-off's date). The maintained state
--                answers a report as of a date on or after it; a report as of
--                an earlier date computes from history.
--
-- Statement-level triggers with transition tables keep the three tables in
-- step with charges, splits, receipts and insurance_write_offs on INSERT,
-- UPDATE and DELETE, set-based, in the same transaction. A changed line is
-- recomputed from its history (aging_refresh_lines) after its row is locked,
-- so two transactions changing one line cannot leave it computed from a
-- stale snapshot; credits move by deltas. aging_rebuild(practice) rebuilds
-- a practice's state from history (`paysplit aging rebuild`).

-- +goose Up
CREATE TABLE aging_lines (
    practice_id        uuid        NOT NULL,
    charge_id          uuid        NOT NULL,
    patient_id         uuid        NOT NULL,
    provider_id        uuid,
    location_id        uuid,
    status             text        NOT NULL,
    service_date       date        NOT NULL,
    posted_at          timestamptz NOT NULL,
    insurance_estimate numeric     NOT NULL,
    adjusted           numeric     NOT NULL,
    paid               numeric     NOT NULL,
    insured_on         date,
    outstanding        numeric     GENERATED ALWAYS AS (adjusted - paid) STORED,
    estimate           numeric     GENERATED ALWAYS AS (least(insurance_estimate, greatest(adjusted, 0))) STORED,
    CONSTRAINT aging_lines_pkey PRIMARY KEY (practice_id, charge_id)
);
-- The lines the report as of today reads: completed and still owing (or overpaid).
CREATE INDEX aging_lines_open_idx ON aging_lines (practice_id, service_date)
    WHERE status = 'COMPLETED' AND adjusted <> paid;

-- A family's open lines: the live hub re-reads the families a commit touched.
CREATE INDEX aging_lines_patient_idx ON aging_lines (practice_id, patient_id)
    WHERE status = 'COMPLETED' AND adjusted <> paid;

CREATE TABLE aging_credits (
    practice_id      uuid    NOT NULL,
    patient_id       uuid    NOT NULL,
    provider_id      uuid,
    location_id      uuid,
    unearned_type_id uuid,
    amount           numeric NOT NULL,
    CONSTRAINT aging_credits_key UNIQUE NULLS NOT DISTINCT (practice_id, patient_id, provider_id, location_id, unearned_type_id)
);

CREATE TABLE aging_horizons (
    practice_id uuid NOT NULL,
    horizon     date NOT NULL,
    CONSTRAINT aging_horizons_pkey PRIMARY KEY (practice_id)
);

-- +goose StatementBegin
-- aging_touch records, for the rest of the transaction, the families
-- (guarantors) of the patients given in the setting paysplit.aging_families
-- (comma-separated ids; '*' once more than 100): NotifyChanged sends them
-- with the practice, so the live hub re-reads only those families' rows.
CREATE FUNCTION aging_touch(p_practice uuid[], p_patient uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cur  text := coalesce(current_setting('paysplit.aging_families', true), '');
    fams text[];
BEGIN
    IF cur = '*' OR p_patient IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT g) INTO fams FROM (
        SELECT p.guarantor_id::text AS g
          FROM (SELECT DISTINCT * FROM unnest(p_practice, p_patient) AS t(practice_id, patient_id)) t
          JOIN patients p ON p.practice_id = t.practice_id AND p.id = t.patient_id
        UNION
        SELECT unnest(string_to_array(nullif(cur, ''), ','))) x;
    PERFORM set_config('paysplit.aging_families',
        CASE WHEN cardinality(fams) > 100 THEN '*' ELSE coalesce(array_to_string(fams, ','), '') END, true);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- aging_refresh_lines recomputes the root lines named by the pairs
-- (p_practice[i], p_charge[i]) from history; a pair naming no root line
-- (any more) removes its row.
CREATE FUNCTION aging_refresh_lines(p_practice uuid[], p_charge uuid[]) RETURNS void LANGUAGE plpgsql AS $$
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

-- +goose StatementBegin
-- aging_raise_horizon moves each practice's horizon up to the latest of the
-- dates given for it. It writes (and so locks the practice's row) only when
-- a date is later than the horizon, so the usual commit, dated today, takes
-- no lock that other commits of the practice would wait for.
CREATE FUNCTION aging_raise_horizon(p_practice uuid[], p_date date[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_practice, p_date) AS t(practice_id, d)
                LEFT JOIN aging_horizons h ON h.practice_id = t.practice_id
               WHERE t.d IS NOT NULL AND (h.horizon IS NULL OR t.d > h.horizon)) THEN
        INSERT INTO aging_horizons AS h (practice_id, horizon)
        SELECT practice_id, max(d) FROM unnest(p_practice, p_date) AS t(practice_id, d)
         WHERE d IS NOT NULL GROUP BY 1 ORDER BY 1
        ON CONFLICT ON CONSTRAINT aging_horizons_pkey DO UPDATE SET horizon = EXCLUDED.horizon
         WHERE h.horizon < EXCLUDED.horizon;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Charges: a changed charge refreshes its root line (itself, or the charge
-- an adjustment is attached to), before and after the change.
CREATE FUNCTION aging_charges_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    ch uuid[];
    ds date[];
BEGIN
    IF current_setting('paysplit.aging_bulk', true) = 'on' THEN
        RETURN NULL; -- a bulk load: aging_rebuild before it commits (aging_bulk_end)
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(practice_id), array_agg(coalesce(attached_to_id, id)),
               array_agg(service_date) FILTER (WHERE status = 'COMPLETED')
          INTO pr, ch, ds FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(practice_id), array_agg(root), array_agg(d) INTO pr, ch, ds FROM (
            SELECT practice_id, coalesce(attached_to_id, id) AS root,
                   CASE WHEN status = 'COMPLETED' THEN service_date END AS d FROM new_rows
            UNION ALL
            SELECT practice_id, coalesce(attached_to_id, id), NULL FROM old_rows) x;
    ELSE
        SELECT array_agg(practice_id), array_agg(coalesce(attached_to_id, id)) INTO pr, ch FROM old_rows;
    END IF;
    IF pr IS NOT NULL THEN
        PERFORM aging_refresh_lines(pr, ch);
        IF ds IS NOT NULL THEN
            PERFORM aging_raise_horizon(pr, ds);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Splits: money on a charge refreshes the charge's root line; money on no
-- line moves its credit bucket by the difference. Every split's family is
-- touched (its last payment may change).
CREATE FUNCTION aging_splits_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    ch uuid[];
BEGIN
    IF current_setting('paysplit.aging_bulk', true) = 'on' THEN
        RETURN NULL; -- a bulk load: aging_rebuild before it commits (aging_bulk_end)
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT array_agg(s.practice_id), array_agg(coalesce(c.attached_to_id, c.id)) INTO pr, ch
          FROM new_rows s JOIN charges c ON c.practice_id = s.practice_id AND c.id = s.charge_id;
        PERFORM aging_touch(array_agg(practice_id), array_agg(patient_id)) FROM new_rows;
        INSERT INTO aging_credits AS a (practice_id, patient_id, provider_id, location_id, unearned_type_id, amount)
        SELECT practice_id, patient_id, provider_id, location_id, unearned_type_id, sum(amount)
          FROM new_rows WHERE charge_id IS NULL
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT ON CONSTRAINT aging_credits_key DO UPDATE SET amount = a.amount + EXCLUDED.amount;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT array_agg(s.practice_id) || pr, array_agg(coalesce(c.attached_to_id, c.id)) || ch INTO pr, ch
          FROM old_rows s JOIN charges c ON c.practice_id = s.practice_id AND c.id = s.charge_id;
        PERFORM aging_touch(array_agg(practice_id), array_agg(patient_id)) FROM old_rows;
        INSERT INTO aging_credits AS a (practice_id, patient_id, provider_id, location_id, unearned_type_id, amount)
        SELECT practice_id, patient_id, provider_id, location_id, unearned_type_id, -sum(amount)
          FROM old_rows WHERE charge_id IS NULL
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT ON CONSTRAINT aging_credits_key DO UPDATE SET amount = a.amount + EXCLUDED.amount;
    END IF;
    IF pr IS NOT NULL THEN
        PERFORM aging_refresh_lines(pr, ch);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Receipts: a receipt's date raises the horizon; a reversal (or any change
-- to a receipt) refreshes the lines its splits and the reversed receipt's
-- splits are on, whose latest standing insurance payment it may change.
CREATE FUNCTION aging_receipts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    ch uuid[];
    ds date[];
BEGIN
    IF current_setting('paysplit.aging_bulk', true) = 'on' THEN
        RETURN NULL; -- a bulk load: aging_rebuild before it commits (aging_bulk_end)
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(practice_id), array_agg(received_on) INTO pr, ds FROM new_rows;
        PERFORM aging_raise_horizon(pr, ds);
        SELECT array_agg(s.practice_id), array_agg(coalesce(c.attached_to_id, c.id)) INTO pr, ch
          FROM new_rows v
          JOIN splits s ON s.practice_id = v.practice_id AND s.receipt_id = v.reverses_id
          JOIN charges c ON c.practice_id = s.practice_id AND c.id = s.charge_id
         WHERE v.kind = 'REVERSAL';
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(practice_id), array_agg(received_on) INTO pr, ds FROM new_rows;
        PERFORM aging_raise_horizon(pr, ds);
        SELECT array_agg(s.practice_id), array_agg(coalesce(c.attached_to_id, c.id)) INTO pr, ch
          FROM (SELECT practice_id, id FROM old_rows UNION SELECT practice_id, reverses_id FROM old_rows
                UNION SELECT practice_id, id FROM new_rows UNION SELECT practice_id, reverses_id FROM new_rows) v
          JOIN splits s ON s.practice_id = v.practice_id AND s.receipt_id = v.id
          JOIN charges c ON c.practice_id = s.practice_id AND c.id = s.charge_id;
    ELSE
        SELECT array_agg(s.practice_id), array_agg(coalesce(c.attached_to_id, c.id)) INTO pr, ch
          FROM (SELECT practice_id, id FROM old_rows UNION SELECT practice_id, reverses_id FROM old_rows) v
          JOIN splits s ON s.practice_id = v.practice_id AND s.receipt_id = v.id
          JOIN charges c ON c.practice_id = s.practice_id AND c.id = s.charge_id;
    END IF;
    IF pr IS NOT NULL THEN
        PERFORM aging_refresh_lines(pr, ch);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Insurance write-offs: refresh the line written off; the date raises the horizon.
CREATE FUNCTION aging_write_offs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pr uuid[];
    ch uuid[];
    ds date[];
BEGIN
    IF current_setting('paysplit.aging_bulk', true) = 'on' THEN
        RETURN NULL; -- a bulk load: aging_rebuild before it commits (aging_bulk_end)
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(practice_id), array_agg(charge_id), array_agg(written_on) INTO pr, ch, ds FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(practice_id), array_agg(charge_id), array_agg(d) INTO pr, ch, ds FROM (
            SELECT practice_id, charge_id, written_on AS d FROM new_rows
            UNION ALL SELECT practice_id, charge_id, NULL FROM old_rows) x;
    ELSE
        SELECT array_agg(practice_id), array_agg(charge_id) INTO pr, ch FROM old_rows;
    END IF;
    IF pr IS NOT NULL THEN
        PERFORM aging_refresh_lines(pr, ch);
        IF ds IS NOT NULL THEN
            PERFORM aging_raise_horizon(pr, ds);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER aging_charges_insert AFTER INSERT ON charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_charges_changed();
CREATE TRIGGER aging_charges_update AFTER UPDATE ON charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_charges_changed();
CREATE TRIGGER aging_charges_delete AFTER DELETE ON charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_charges_changed();
CREATE TRIGGER aging_splits_insert AFTER INSERT ON splits
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_splits_changed();
CREATE TRIGGER aging_splits_update AFTER UPDATE ON splits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_splits_changed();
CREATE TRIGGER aging_splits_delete AFTER DELETE ON splits
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_splits_changed();
CREATE TRIGGER aging_receipts_insert AFTER INSERT ON receipts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_receipts_changed();
CREATE TRIGGER aging_receipts_update AFTER UPDATE ON receipts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_receipts_changed();
CREATE TRIGGER aging_receipts_delete AFTER DELETE ON receipts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_receipts_changed();
CREATE TRIGGER aging_write_offs_insert AFTER INSERT ON insurance_write_offs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_write_offs_changed();
CREATE TRIGGER aging_write_offs_update AFTER UPDATE ON insurance_write_offs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_write_offs_changed();
CREATE TRIGGER aging_write_offs_delete AFTER DELETE ON insurance_write_offs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aging_write_offs_changed();

-- +goose StatementBegin
-- aging_rebuild replaces a practice's maintained state with one computed
-- from history (what the triggers would have kept).
CREATE FUNCTION aging_rebuild(p uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM aging_lines WHERE practice_id = p;
    DELETE FROM aging_credits WHERE practice_id = p;
    DELETE FROM aging_horizons WHERE practice_id = p;
    PERFORM aging_refresh_lines(array_agg(practice_id), array_agg(id))
       FROM charges WHERE practice_id = p AND attached_to_id IS NULL;
    INSERT INTO aging_credits (practice_id, patient_id, provider_id, location_id, unearned_type_id, amount)
    SELECT practice_id, patient_id, provider_id, location_id, unearned_type_id, sum(amount)
      FROM splits WHERE practice_id = p AND charge_id IS NULL
     GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO aging_horizons (practice_id, horizon)
    SELECT p, max(d) FROM (
        SELECT max(service_date) AS d FROM charges WHERE practice_id = p AND status = 'COMPLETED'
        UNION ALL SELECT max(received_on) FROM receipts WHERE practice_id = p
        UNION ALL SELECT max(written_on) FROM insurance_write_offs WHERE practice_id = p) x
    HAVING max(d) IS NOT NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A bulk load (a history or balance-forward import, a synthetic practice)
-- writes many rows per statement into tables the planner has not seen
-- grow; keeping the state row by row then costs more than the load. It sets
-- paysplit.aging_bulk to 'on' for its transaction (aging_bulk_begin), which
-- the triggers skip, and calls aging_bulk_end(practice) before it commits:
-- the practice's state is rebuilt from history in one pass, and its
-- families all count as touched.
CREATE FUNCTION aging_bulk_begin(p uuid) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('paysplit.aging_bulk', 'on', true) WHERE p IS NOT NULL;
$$;

CREATE FUNCTION aging_bulk_end(p uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    nestloop text := current_setting('enable_nestloop');
BEGIN
    PERFORM set_config('paysplit.aging_bulk', '', true);
    -- The planner has no statistics yet for the rows this transaction
    -- loaded and would join them by nested loops, scanning a table once
    -- per line; the rebuild reads them whole, which hash joins do in one pass.
    PERFORM set_config('enable_nestloop', 'off', true);
    PERFORM aging_rebuild(p);
    PERFORM set_config('enable_nestloop', nestloop, true);
    PERFORM set_config('paysplit.aging_families', '*', true);
END
$$;
-- +goose StatementEnd

-- Row-level security, as 00007_rls.sql gives every practice table.
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['aging_lines', 'aging_credits', 'aging_horizons'] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO paysplit_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY %I ON %I TO paysplit_app
                USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
                WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)$p$,
            t || '_tenant', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Backfill: every practice's state from its history.
SELECT aging_rebuild(id) FROM practices;

-- +goose Down
DROP TRIGGER aging_charges_insert ON charges;
DROP TRIGGER aging_charges_update ON charges;
DROP TRIGGER aging_charges_delete ON charges;
DROP TRIGGER aging_splits_insert ON splits;
DROP TRIGGER aging_splits_update ON splits;
DROP TRIGGER aging_splits_delete ON splits;
DROP TRIGGER aging_receipts_insert ON receipts;
DROP TRIGGER aging_receipts_update ON receipts;
DROP TRIGGER aging_receipts_delete ON receipts;
DROP TRIGGER aging_write_offs_insert ON insurance_write_offs;
DROP TRIGGER aging_write_offs_update ON insurance_write_offs;
DROP TRIGGER aging_write_offs_delete ON insurance_write_offs;
DROP FUNCTION aging_bulk_end(uuid);
DROP FUNCTION aging_bulk_begin(uuid);
DROP FUNCTION aging_rebuild(uuid);
DROP FUNCTION aging_write_offs_changed();
DROP FUNCTION aging_receipts_changed();
DROP FUNCTION aging_splits_changed();
DROP FUNCTION aging_charges_changed();
DROP FUNCTION aging_raise_horizon(uuid[], date[]);
DROP FUNCTION aging_refresh_lines(uuid[], uuid[]);
DROP FUNCTION aging_touch(uuid[], uuid[]);
DROP TABLE aging_horizons;
DROP TABLE aging_credits;
DROP TABLE aging_lines;
