-- Insurance facts (issue 17): write-offs on a charge, and insurance payments
-- made as a total on a claim (an encounter).
--
-- A write-off is insurance's: it lowers the line's patient portion and is
-- never money, so it is neither a split nor an adjustment. Write-offs are
-- append-only like the ledger's other rows; a correction is a negative
-- write-off. A receipt may name the encounter it pays as a claim total
-- (its splits are then the total spread over the encounter's lines).

-- +goose Up
CREATE TABLE insurance_write_offs (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    charge_id   uuid        NOT NULL,
    amount      numeric     NOT NULL,
    written_on  date        NOT NULL,
    note        text,
    posted_at   timestamptz NOT NULL,
    CONSTRAINT insurance_write_offs_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT insurance_write_offs_charge_fkey FOREIGN KEY (practice_id, charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT insurance_write_offs_amount_scale CHECK (amount = round(amount, 2)),
    CONSTRAINT insurance_write_offs_amount_nonzero CHECK (amount <> 0)
);
CREATE INDEX insurance_write_offs_charge_idx ON insurance_write_offs (practice_id, charge_id);
CREATE TRIGGER insurance_write_offs_append_only BEFORE UPDATE OR DELETE ON insurance_write_offs
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER insurance_write_offs_append_only_truncate BEFORE TRUNCATE ON insurance_write_offs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- Row-level security, as 00007_rls.sql gives every practice table.
GRANT SELECT, INSERT, UPDATE, DELETE ON insurance_write_offs TO paysplit_app;
ALTER TABLE insurance_write_offs ENABLE ROW LEVEL SECURITY;
CREATE POLICY insurance_write_offs_tenant ON insurance_write_offs TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);

ALTER TABLE receipts ADD COLUMN encounter_id uuid;
ALTER TABLE receipts ADD CONSTRAINT receipts_encounter_fkey
    FOREIGN KEY (practice_id, encounter_id) REFERENCES encounters (practice_id, id);
ALTER TABLE receipts ADD CONSTRAINT receipts_encounter_insurance
    CHECK (encounter_id IS NULL OR kind IN ('INSURANCE_PAYMENT', 'REVERSAL'));

-- +goose Down
ALTER TABLE receipts DROP COLUMN encounter_id;
DROP TABLE insurance_write_offs;
