-- Balance-forward imports: balances carried over from a prior system.
--
-- What an import posts is ordinary ledger rows (encounters and charges of kind
-- BALANCE_FORWARD; for credits, a receipt of kind BALANCE_FORWARD with BF
-- splits). These tables record the import itself: the file it came from, its
-- options and totals, and one row per file row that was posted, keyed by a
-- hash of the row's content so the same rows are never posted twice.

-- +goose Up

-- A credit the patient held in the prior system is a receipt of kind
-- BALANCE_FORWARD: money on the patient's account that was not collected
-- here, so collection reports can leave it out by its kind, as production
-- reports leave out BALANCE_FORWARD charges by theirs.
ALTER TABLE receipts DROP CONSTRAINT receipts_kind_check;
ALTER TABLE receipts ADD CONSTRAINT receipts_kind_check CHECK (kind IN (
    'PATIENT_PAYMENT', 'INSURANCE_PAYMENT', 'REFUND', 'TRANSFER', 'CREDIT_REAPPLY', 'REVERSAL', 'BALANCE_FORWARD'));
ALTER TABLE receipts DROP CONSTRAINT receipts_amount_sign;
ALTER TABLE receipts ADD CONSTRAINT receipts_amount_sign CHECK (
    kind IN ('PATIENT_PAYMENT', 'INSURANCE_PAYMENT', 'BALANCE_FORWARD') AND amount > 0
    OR kind = 'REFUND' AND amount < 0
    OR kind IN ('TRANSFER', 'CREDIT_REAPPLY') AND amount = 0
    OR kind = 'REVERSAL');
ALTER TABLE splits DROP CONSTRAINT splits_code_check;
ALTER TABLE splits ADD CONSTRAINT splits_code_check CHECK (code IN ('PAY', 'INS', 'REF', 'TXFR', 'PD', 'PCA', 'REV', 'BF'));

CREATE TABLE balance_imports (
    practice_id        uuid        NOT NULL,
    id                 uuid        NOT NULL,
    status             text        NOT NULL,
    file_name          text,
    file_sha256        text        NOT NULL,
    import_date        date        NOT NULL,
    options            jsonb       NOT NULL,
    rows_read          integer     NOT NULL,
    rows_posted        integer     NOT NULL,
    rows_skipped       integer     NOT NULL,
    patients_created   integer     NOT NULL,
    guarantors_created integer     NOT NULL,
    encounters         integer     NOT NULL,
    patient_debits     numeric     NOT NULL,
    patient_credits    numeric     NOT NULL,
    insurance          numeric     NOT NULL,
    key_id             uuid,
    created_at         timestamptz NOT NULL,
    undone_at          timestamptz,
    undone_key_id      uuid,
    CONSTRAINT balance_imports_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT balance_imports_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT balance_imports_status_check CHECK (status IN ('COMMITTED', 'UNDONE')),
    CONSTRAINT balance_imports_undone_check CHECK ((status = 'UNDONE') = (undone_at IS NOT NULL)),
    CONSTRAINT balance_imports_sha256_check CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT balance_imports_counts_check CHECK (rows_read >= 0 AND rows_posted >= 0 AND rows_skipped >= 0
        AND patients_created >= 0 AND guarantors_created >= 0 AND encounters >= 0),
    CONSTRAINT balance_imports_totals_scale CHECK (patient_debits = round(patient_debits, 2)
        AND patient_credits = round(patient_credits, 2) AND insurance = round(insurance, 2)),
    CONSTRAINT balance_imports_totals_sign CHECK (patient_debits >= 0 AND patient_credits >= 0 AND insurance >= 0)
);
-- A file is imported at most once while its import stands (undo frees it).
CREATE UNIQUE INDEX balance_imports_file_key ON balance_imports (practice_id, file_sha256) WHERE status = 'COMMITTED';
CREATE INDEX balance_imports_created_idx ON balance_imports (practice_id, created_at, id);

-- One row per file row posted: which line it became and, for a credit, the
-- BALANCE_FORWARD receipt holding it. row_key is the SHA-256 of the row's
-- content as it posts (patient, date of service as given, amount, code,
-- responsibility, provider, location, memo); a row is posted at most once
-- while its import stands.
CREATE TABLE balance_import_lines (
    practice_id    uuid    NOT NULL,
    import_id      uuid    NOT NULL,
    row_number     integer NOT NULL,
    row_key        bytea   NOT NULL,
    charge_id      uuid    NOT NULL,
    receipt_id     uuid,
    amount         numeric NOT NULL,
    responsibility text    NOT NULL,
    undone         boolean NOT NULL DEFAULT false,
    CONSTRAINT balance_import_lines_pkey PRIMARY KEY (practice_id, import_id, row_number),
    CONSTRAINT balance_import_lines_import_fkey FOREIGN KEY (practice_id, import_id) REFERENCES balance_imports (practice_id, id),
    CONSTRAINT balance_import_lines_charge_fkey FOREIGN KEY (practice_id, charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT balance_import_lines_receipt_fkey FOREIGN KEY (practice_id, receipt_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT balance_import_lines_row_number_check CHECK (row_number >= 2),
    CONSTRAINT balance_import_lines_row_key_length CHECK (length(row_key) = 32),
    CONSTRAINT balance_import_lines_amount_scale CHECK (amount = round(amount, 2)),
    CONSTRAINT balance_import_lines_amount_nonzero CHECK (amount <> 0),
    CONSTRAINT balance_import_lines_responsibility_check CHECK (responsibility IN ('PATIENT', 'INSURANCE')),
    CONSTRAINT balance_import_lines_insurance_debit CHECK (responsibility = 'PATIENT' OR amount > 0),
    CONSTRAINT balance_import_lines_credit_receipt CHECK ((receipt_id IS NOT NULL) = (amount < 0))
);
CREATE UNIQUE INDEX balance_import_lines_row_key ON balance_import_lines (practice_id, row_key) WHERE NOT undone;

-- +goose Down
DROP TABLE balance_import_lines, balance_imports;
ALTER TABLE splits DROP CONSTRAINT splits_code_check;
ALTER TABLE splits ADD CONSTRAINT splits_code_check CHECK (code IN ('PAY', 'INS', 'REF', 'TXFR', 'PD', 'PCA', 'REV'));
ALTER TABLE receipts DROP CONSTRAINT receipts_amount_sign;
ALTER TABLE receipts ADD CONSTRAINT receipts_amount_sign CHECK (
    kind IN ('PATIENT_PAYMENT', 'INSURANCE_PAYMENT') AND amount > 0
    OR kind = 'REFUND' AND amount < 0
    OR kind IN ('TRANSFER', 'CREDIT_REAPPLY') AND amount = 0
    OR kind = 'REVERSAL');
ALTER TABLE receipts DROP CONSTRAINT receipts_kind_check;
ALTER TABLE receipts ADD CONSTRAINT receipts_kind_check CHECK (kind IN (
    'PATIENT_PAYMENT', 'INSURANCE_PAYMENT', 'REFUND', 'TRANSFER', 'CREDIT_REAPPLY', 'REVERSAL'));
