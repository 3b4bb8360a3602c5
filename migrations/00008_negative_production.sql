-- Negative production (issue 17): a procedure may have a negative fee, as
-- real fee schedules and converted histories do; it is production below
-- zero, a credit on its line (docs/ledger.md). Balance-forward lines stay
-- non-negative (a credit is brought forward as a receipt) and adjustments
-- non-zero. A line below zero expects no insurance.

-- +goose Up
ALTER TABLE charges DROP CONSTRAINT charges_amount_sign;
ALTER TABLE charges ADD CONSTRAINT charges_amount_sign CHECK (
    kind = 'ADJUSTMENT' AND amount <> 0
    OR kind = 'PROCEDURE'
    OR kind = 'BALANCE_FORWARD' AND amount >= 0);
ALTER TABLE charges ADD CONSTRAINT charges_negative_no_estimate CHECK (amount >= 0 OR insurance_estimate = 0);

-- +goose Down
ALTER TABLE charges DROP CONSTRAINT charges_negative_no_estimate;
ALTER TABLE charges DROP CONSTRAINT charges_amount_sign;
ALTER TABLE charges ADD CONSTRAINT charges_amount_sign CHECK (
    kind = 'ADJUSTMENT' AND amount <> 0 OR kind <> 'ADJUSTMENT' AND amount >= 0);
