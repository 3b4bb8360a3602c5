-- Treatment plans that move, and two practice settings (issue 17): a planned procedure is completed
-- (it becomes production, a completed line dated when the work was done) or
-- removed (it will not be done). Charges are append-only, so neither edits
-- the planned line: its outcome is a row of its own, and a completion's
-- production is a new completed line that names the planned one.
--
-- Prepayments attached to a planned procedure are splits on the practice's
-- treatment-plan unearned type that also name the planned charge: the
-- money stays unearned (held for the work, never a credit) and is tied to
-- the procedure until it is detached, or follows it when it is completed.
-- Whether planned procedures may take prepayments at all is the practice's
-- prepay_allowed_for_tp_procs (Open Dental's PrePayAllowedForTpProcs).

-- +goose Up
CREATE TABLE planned_outcomes (
    practice_id         uuid        NOT NULL,
    charge_id           uuid        NOT NULL,
    outcome             text        NOT NULL,
    outcome_on          date        NOT NULL,
    completed_charge_id uuid,
    note                text,
    posted_at           timestamptz NOT NULL,
    CONSTRAINT planned_outcomes_pkey PRIMARY KEY (practice_id, charge_id),
    CONSTRAINT planned_outcomes_charge_fkey FOREIGN KEY (practice_id, charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT planned_outcomes_completed_fkey FOREIGN KEY (practice_id, completed_charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT planned_outcomes_completed_key UNIQUE (practice_id, completed_charge_id),
    CONSTRAINT planned_outcomes_outcome_check CHECK (outcome IN ('COMPLETED', 'REMOVED')),
    CONSTRAINT planned_outcomes_completed_link CHECK ((outcome = 'COMPLETED') = (completed_charge_id IS NOT NULL))
);
CREATE TRIGGER planned_outcomes_append_only BEFORE UPDATE OR DELETE ON planned_outcomes
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER planned_outcomes_append_only_truncate BEFORE TRUNCATE ON planned_outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- Row-level security, as 00007_rls.sql gives every practice table.
GRANT SELECT, INSERT, UPDATE, DELETE ON planned_outcomes TO paysplit_app;
ALTER TABLE planned_outcomes ENABLE ROW LEVEL SECURITY;
CREATE POLICY planned_outcomes_tenant ON planned_outcomes TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);

-- A split may name a charge and an unearned type together: a prepayment
-- attached to a planned procedure (the service checks the charge is planned
-- and the type is the treatment-plan type).
ALTER TABLE splits DROP CONSTRAINT splits_one_target;

ALTER TABLE practices ADD COLUMN prepay_allowed_for_tp_procs boolean NOT NULL DEFAULT false;
-- Open Dental's BalancesDontSubtractIns: the practice's balances do not set
-- pending insurance estimates aside (the patient portion is the whole line
-- until insurance pays).
ALTER TABLE practices ADD COLUMN balances_dont_subtract_ins boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE practices DROP COLUMN prepay_allowed_for_tp_procs, DROP COLUMN balances_dont_subtract_ins;
ALTER TABLE splits ADD CONSTRAINT splits_one_target CHECK (charge_id IS NULL OR unearned_type_id IS NULL);
DROP TABLE planned_outcomes;
