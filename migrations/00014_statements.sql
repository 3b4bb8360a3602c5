-- Guarantor statement runs (issue 20): what was stated to which family,
-- when, for which period and with which balances, so a later run can say
-- what is new and a practice can see when each family was last billed.
-- Append-only like the ledger: a statement sent is a fact.

-- +goose Up
CREATE TABLE statement_runs (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    as_of       date        NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT statement_runs_pkey PRIMARY KEY (practice_id, id)
);
CREATE TABLE statements (
    practice_id       uuid        NOT NULL,
    id                uuid        NOT NULL,
    run_id            uuid        NOT NULL,
    guarantor_id      uuid        NOT NULL,
    period_from       date        NOT NULL,
    as_of             date        NOT NULL,
    previous_balance  numeric     NOT NULL,
    new_balance       numeric     NOT NULL,
    insurance_pending numeric     NOT NULL,
    amount_due        numeric     NOT NULL,
    created_at        timestamptz NOT NULL,
    CONSTRAINT statements_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT statements_run_fkey FOREIGN KEY (practice_id, run_id) REFERENCES statement_runs (practice_id, id),
    CONSTRAINT statements_guarantor_fkey FOREIGN KEY (practice_id, guarantor_id) REFERENCES guarantors (practice_id, id),
    CONSTRAINT statements_period CHECK (period_from <= as_of)
);
CREATE INDEX statements_guarantor_idx ON statements (practice_id, guarantor_id, as_of DESC, created_at DESC);
CREATE INDEX statements_run_idx ON statements (practice_id, run_id);

CREATE TRIGGER statement_runs_append_only BEFORE UPDATE OR DELETE ON statement_runs
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER statement_runs_append_only_truncate BEFORE TRUNCATE ON statement_runs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER statements_append_only_truncate BEFORE TRUNCATE ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- Row-level security, as 00007_rls.sql gives every practice table.
GRANT SELECT, INSERT, UPDATE, DELETE ON statement_runs, statements TO paysplit_app;
ALTER TABLE statement_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY statement_runs_tenant ON statement_runs TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);
ALTER TABLE statements ENABLE ROW LEVEL SECURITY;
CREATE POLICY statements_tenant ON statements TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);

-- +goose Down
DROP TABLE statements;
DROP TABLE statement_runs;
