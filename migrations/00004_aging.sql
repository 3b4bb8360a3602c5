-- Aging: a practice's own default buckets. Without a row the report uses
-- 0–30, 31–60, 61–90, 91–120 and 120+ days. Reports themselves are computed
-- from the ledger as of a date and never stored.

-- +goose Up

CREATE TABLE aging_settings (
    practice_id   uuid        NOT NULL,
    bucket_limits integer[]   NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT aging_settings_pkey PRIMARY KEY (practice_id),
    CONSTRAINT aging_settings_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    -- 1 to 7 limits (2 to 8 buckets), each a positive number of days.
    CONSTRAINT aging_settings_bucket_limits_count CHECK (cardinality(bucket_limits) BETWEEN 1 AND 7),
    CONSTRAINT aging_settings_bucket_limits_positive CHECK (0 < ALL (bucket_limits))
);

-- +goose Down
DROP TABLE aging_settings;
