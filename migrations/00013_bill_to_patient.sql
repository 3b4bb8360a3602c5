-- Bill to patient (issue 20): a line's pending insurance estimate moved to
-- the patient, and back. Each move is a fact of its own, never an edit: a
-- row saying who is responsible for the line from a date on. Moves on one
-- line alternate (to the patient, back to insurance, …) on dates that never
-- go backwards, so a line is billed to the patient as of a date when more
-- of its moves up to that date went to the patient than back.

-- +goose Up
CREATE TABLE responsibility_changes (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    charge_id   uuid        NOT NULL,
    responsible text        NOT NULL,
    changed_on  date        NOT NULL,
    note        text,
    posted_at   timestamptz NOT NULL,
    CONSTRAINT responsibility_changes_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT responsibility_changes_charge_fkey FOREIGN KEY (practice_id, charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT responsibility_changes_responsible CHECK (responsible IN ('PATIENT', 'INSURANCE'))
);
CREATE INDEX responsibility_changes_charge_idx ON responsibility_changes (practice_id, charge_id, changed_on);
CREATE TRIGGER responsibility_changes_append_only BEFORE UPDATE OR DELETE ON responsibility_changes
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER responsibility_changes_append_only_truncate BEFORE TRUNCATE ON responsibility_changes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- Row-level security, as 00007_rls.sql gives every practice table.
GRANT SELECT, INSERT, UPDATE, DELETE ON responsibility_changes TO paysplit_app;
ALTER TABLE responsibility_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY responsibility_changes_tenant ON responsibility_changes TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);

-- +goose Down
DROP TABLE responsibility_changes;
