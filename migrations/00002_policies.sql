-- Allocation policies (issue 4). A practice's policies are versioned
-- documents of the rules DSL: saving a name again creates the next version,
-- and a version is never changed. The built-in policies (fifo, rigorous,
-- same-guarantor, additional-patient) are not stored: they are compiled into
-- the binary as version 1 of their reserved names, read-only. Each practice
-- may name a default policy per operation. Every plan the engine commits is
-- kept with the receipt it posted (or alone, when it moved nothing), so the
-- stage behind each split stays explainable and an idempotent replay returns
-- the plan it committed.

-- +goose Up

CREATE TABLE policies (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    version     integer     NOT NULL,
    -- The document as written (YAML or JSON), and its canonical JSON (what
    -- plans depend on) with that JSON's SHA-256.
    source      text        NOT NULL,
    document    text        NOT NULL,
    hash        text        NOT NULL,
    saved_at    timestamptz NOT NULL,
    saved_by    uuid,
    saved_role  text,
    CONSTRAINT policies_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT policies_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT policies_name_version_key UNIQUE (practice_id, name, version),
    CONSTRAINT policies_version_positive CHECK (version >= 1),
    CONSTRAINT policies_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    CONSTRAINT policies_name_not_builtin CHECK (name NOT IN ('fifo', 'rigorous', 'same-guarantor', 'additional-patient')),
    CONSTRAINT policies_document_is_json CHECK (document::jsonb IS NOT NULL),
    CONSTRAINT policies_hash_format CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE TRIGGER policies_append_only BEFORE UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();

-- The practice's default policy per operation. version NULL follows the
-- latest version of the name. A built-in name may be a default too.
CREATE TABLE policy_defaults (
    practice_id uuid        NOT NULL,
    operation   text        NOT NULL,
    name        text        NOT NULL,
    version     integer,
    set_at      timestamptz NOT NULL,
    set_by      uuid,
    CONSTRAINT policy_defaults_pkey PRIMARY KEY (practice_id, operation),
    CONSTRAINT policy_defaults_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT policy_defaults_operation_check CHECK (operation IN ('AUTO_SPLIT', 'TRANSFER', 'ALLOCATE_UNEARNED', 'REAPPLY', 'CREDIT_MANAGEMENT')),
    CONSTRAINT policy_defaults_version_positive CHECK (version IS NULL OR version >= 1)
);

-- A plan the engine committed: the moves with the stage that produced each,
-- as JSON. receipt_id is the receipt it posted; NULL when it moved nothing.
CREATE TABLE allocation_plans (
    practice_id    uuid        NOT NULL,
    id             uuid        NOT NULL,
    receipt_id     uuid,
    operation      text        NOT NULL,
    guarantor_id   uuid        NOT NULL,
    policy_name    text        NOT NULL,
    policy_version integer     NOT NULL,
    as_of          date        NOT NULL,
    plan           jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    CONSTRAINT allocation_plans_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT allocation_plans_receipt_fkey FOREIGN KEY (practice_id, receipt_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT allocation_plans_guarantor_fkey FOREIGN KEY (practice_id, guarantor_id) REFERENCES guarantors (practice_id, id),
    CONSTRAINT allocation_plans_receipt_key UNIQUE (practice_id, receipt_id),
    CONSTRAINT allocation_plans_operation_check CHECK (operation IN ('AUTO_SPLIT', 'TRANSFER', 'ALLOCATE_UNEARNED', 'REAPPLY', 'CREDIT_MANAGEMENT'))
);

CREATE TRIGGER allocation_plans_append_only BEFORE UPDATE OR DELETE ON allocation_plans
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();

-- +goose Down
DROP TABLE allocation_plans, policy_defaults, policies;
