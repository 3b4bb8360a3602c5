-- A balance-forward row of kind NEGATIVE_PRODUCTION (docs/import.md): a
-- negative-fee procedure carried over from a prior system, a credit on its
-- line that no money backs. Its line is a PROCEDURE with the negative
-- amount, and its import line has no credit receipt: only a negative
-- BALANCE row's credit is held as money. (Numbered 00016: 00015 is the
-- aging branch's.)

-- +goose Up
ALTER TABLE balance_import_lines ADD COLUMN negative_production boolean NOT NULL DEFAULT false;
ALTER TABLE balance_import_lines DROP CONSTRAINT balance_import_lines_credit_receipt;
ALTER TABLE balance_import_lines ADD CONSTRAINT balance_import_lines_credit_receipt
    CHECK ((receipt_id IS NOT NULL) = (amount < 0 AND NOT negative_production));
ALTER TABLE balance_import_lines ADD CONSTRAINT balance_import_lines_negative_production
    CHECK (NOT negative_production OR amount < 0 AND responsibility = 'PATIENT');

-- +goose Down
ALTER TABLE balance_import_lines DROP CONSTRAINT balance_import_lines_negative_production;
ALTER TABLE balance_import_lines DROP CONSTRAINT balance_import_lines_credit_receipt;
ALTER TABLE balance_import_lines ADD CONSTRAINT balance_import_lines_credit_receipt CHECK ((receipt_id IS NOT NULL) = (amount < 0));
ALTER TABLE balance_import_lines DROP COLUMN negative_production;
