-- Unearned types a practice manages (issue 17): besides the default type,
-- a practice may name one treatment-plan type, the type prepayments for
-- planned work go on. Existing TP_PREPAYMENT types take that role.

-- +goose Up
ALTER TABLE unearned_types ADD COLUMN is_treatment_plan boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX unearned_types_one_treatment_plan ON unearned_types (practice_id) WHERE is_treatment_plan;
UPDATE unearned_types SET is_treatment_plan = true WHERE name = 'TP_PREPAYMENT';
ALTER TABLE unearned_types ADD CONSTRAINT unearned_types_name_not_blank CHECK (btrim(name) <> '');

-- +goose Down
ALTER TABLE unearned_types DROP CONSTRAINT unearned_types_name_not_blank;
DROP INDEX unearned_types_one_treatment_plan;
ALTER TABLE unearned_types DROP COLUMN is_treatment_plan;
