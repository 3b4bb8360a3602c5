-- Patient credits and family balancing (issue 5): reference batches opened
-- and closed by hand, long runs (credit management, the family balancer)
-- with their per-family results, and the link between a re-split payment
-- and the zero-sum receipts that re-allocated it.

-- +goose Up

-- Batches existed (00001) without a way to open or close them; the API now
-- does both. A batch's name is not blank and is unique among the practice's
-- open batches. A receipt may only be inserted into an open batch: the
-- service checks it, and a trigger checks it again under a share lock on the
-- batch, so a posting racing a close either commits first or is refused.
ALTER TABLE batches ADD CONSTRAINT batches_name_not_blank CHECK (btrim(name) <> '');
ALTER TABLE batches ADD CONSTRAINT batches_closed_after_created CHECK (closed_at IS NULL OR closed_at >= created_at);
CREATE UNIQUE INDEX batches_open_name_key ON batches (practice_id, lower(name)) WHERE closed_at IS NULL;
CREATE INDEX batches_opened_idx ON batches (practice_id, opened_on, id);

-- +goose StatementBegin
CREATE FUNCTION receipts_batch_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM batches
      WHERE practice_id = NEW.practice_id AND id = NEW.batch_id AND closed_at IS NULL
      FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % is closed; post into an open batch', NEW.batch_id
            USING ERRCODE = 'P0001', CONSTRAINT = 'receipts_batch_open';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER receipts_batch_open BEFORE INSERT ON receipts
    FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL) EXECUTE FUNCTION receipts_batch_open();

-- A long operation over many families: credit management (CREDIT_MANAGEMENT)
-- or the family balancer (BALANCE, by method). Its request is stored as given
-- (with the policy version pinned), so a resumed run does exactly what the
-- first start asked, over the same families: guarantor_ids is the run's
-- scope frozen when it starts (the families named, or every family of the
-- practice then, all_families), in id order. Status moves RUNNING → COMPLETED | FAILED | CANCELLED | INTERRUPTED;
-- a run that is not RUNNING or COMPLETED may be resumed (back to RUNNING).
CREATE TABLE runs (
    practice_id      uuid        NOT NULL,
    id               uuid        NOT NULL,
    kind             text        NOT NULL,
    method           text,
    preview          boolean     NOT NULL,
    status           text        NOT NULL,
    request          jsonb       NOT NULL,
    guarantor_ids    uuid[]      NOT NULL,
    all_families     boolean     NOT NULL,
    policy_name      text        NOT NULL,
    policy_version   integer     NOT NULL,
    as_of            date        NOT NULL,
    families_total   integer     NOT NULL,
    families_done    integer     NOT NULL DEFAULT 0,
    families_changed integer     NOT NULL DEFAULT 0,
    families_skipped integer     NOT NULL DEFAULT 0,
    families_failed  integer     NOT NULL DEFAULT 0,
    receipts         integer     NOT NULL DEFAULT 0,
    credits_found    numeric     NOT NULL DEFAULT 0,
    amount_moved     numeric     NOT NULL DEFAULT 0,
    credits_left     numeric     NOT NULL DEFAULT 0,
    cancel_requested boolean     NOT NULL DEFAULT false,
    attempts         integer     NOT NULL DEFAULT 1,
    error            text,
    created_by       uuid,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    CONSTRAINT runs_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT runs_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT runs_kind_check CHECK (kind IN ('CREDIT_MANAGEMENT', 'BALANCE')),
    CONSTRAINT runs_method_check CHECK (
        kind = 'BALANCE' AND method IN ('INCOME_TRANSFER', 'RECREATE_SPLITS')
        OR kind = 'CREDIT_MANAGEMENT' AND method IS NULL),
    CONSTRAINT runs_status_check CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'INTERRUPTED')),
    CONSTRAINT runs_finished_check CHECK ((status = 'RUNNING') = (finished_at IS NULL)),
    CONSTRAINT runs_scope_size CHECK (families_total = cardinality(guarantor_ids)),
    CONSTRAINT runs_progress_check CHECK (families_total >= 0 AND families_done BETWEEN 0 AND families_total
        AND families_changed >= 0 AND families_skipped >= 0 AND families_failed >= 0
        AND families_changed + families_skipped + families_failed = families_done AND receipts >= 0),
    CONSTRAINT runs_money_scale CHECK (credits_found = round(credits_found, 2) AND amount_moved = round(amount_moved, 2)
        AND credits_left = round(credits_left, 2)),
    CONSTRAINT runs_attempts_positive CHECK (attempts >= 1)
);
CREATE INDEX runs_created_idx ON runs (practice_id, created_at, id);
CREATE INDEX runs_running_idx ON runs (practice_id, id) WHERE status = 'RUNNING';

-- One row per family a run has finished with, written in the same
-- transaction as what the run posted for that family: a resumed run skips
-- exactly the families that have a row. status: CHANGED (receipts posted,
-- or would be in a preview), UNCHANGED (nothing to do), SKIPPED (left alone
-- on purpose: reversed encounters, nothing to apply credit to), FAILED (the
-- policy refused, or the family could not be written).
CREATE TABLE run_families (
    practice_id   uuid    NOT NULL,
    run_id        uuid    NOT NULL,
    guarantor_id  uuid    NOT NULL,
    status        text    NOT NULL,
    credits_found numeric NOT NULL DEFAULT 0,
    amount_moved  numeric NOT NULL DEFAULT 0,
    credits_left  numeric NOT NULL DEFAULT 0,
    receipt_ids   uuid[]  NOT NULL DEFAULT '{}',
    reason        text,
    detail        jsonb,
    CONSTRAINT run_families_pkey PRIMARY KEY (practice_id, run_id, guarantor_id),
    CONSTRAINT run_families_run_fkey FOREIGN KEY (practice_id, run_id) REFERENCES runs (practice_id, id),
    CONSTRAINT run_families_guarantor_fkey FOREIGN KEY (practice_id, guarantor_id) REFERENCES guarantors (practice_id, id),
    CONSTRAINT run_families_status_check CHECK (status IN ('CHANGED', 'UNCHANGED', 'SKIPPED', 'FAILED')),
    CONSTRAINT run_families_money_scale CHECK (credits_found = round(credits_found, 2)
        AND amount_moved = round(amount_moved, 2) AND credits_left = round(credits_left, 2))
);
CREATE TRIGGER run_families_append_only BEFORE UPDATE OR DELETE ON run_families
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();

-- The family balancer's RECREATE_SPLITS method keeps the ledger append-only:
-- instead of deleting a payment's unallocated splits it posts a zero-sum
-- TRANSFER receipt, dated with the payment, that takes the money off
-- unallocated and puts it on production (and any excess on unearned). This
-- links each such receipt to the payment it re-split.
CREATE TABLE reallocations (
    practice_id         uuid NOT NULL,
    receipt_id          uuid NOT NULL,
    original_receipt_id uuid NOT NULL,
    run_id              uuid,
    CONSTRAINT reallocations_pkey PRIMARY KEY (practice_id, receipt_id),
    CONSTRAINT reallocations_receipt_fkey FOREIGN KEY (practice_id, receipt_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT reallocations_original_fkey FOREIGN KEY (practice_id, original_receipt_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT reallocations_run_fkey FOREIGN KEY (practice_id, run_id) REFERENCES runs (practice_id, id),
    CONSTRAINT reallocations_not_itself CHECK (receipt_id <> original_receipt_id)
);
CREATE INDEX reallocations_original_idx ON reallocations (practice_id, original_receipt_id);
CREATE TRIGGER reallocations_append_only BEFORE UPDATE OR DELETE ON reallocations
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();

-- +goose Down
DROP TABLE reallocations, run_families, runs;
DROP TRIGGER receipts_batch_open ON receipts;
DROP FUNCTION receipts_batch_open();
DROP INDEX batches_opened_idx, batches_open_name_key;
ALTER TABLE batches DROP CONSTRAINT batches_closed_after_created, DROP CONSTRAINT batches_name_not_blank;
