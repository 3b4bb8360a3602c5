-- The ledger schema. Every tenant table carries practice_id, which leads its
-- primary key, every unique constraint and every foreign key, so the schema can
-- be distributed by practice (Citus) without change. Money is numeric with a
-- check on two decimal places: a third place is an error, never rounded away.
-- Charges, receipts and splits are append-only (triggers below).

-- +goose Up

CREATE TABLE practices (
    id            uuid        NOT NULL,
    name          text        NOT NULL,
    require_batch boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    CONSTRAINT practices_pkey PRIMARY KEY (id),
    CONSTRAINT practices_name_not_blank CHECK (btrim(name) <> '')
);

CREATE TABLE providers (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    code        text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT providers_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT providers_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT providers_code_key UNIQUE (practice_id, code),
    CONSTRAINT providers_name_not_blank CHECK (btrim(name) <> '')
);

CREATE TABLE locations (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    code        text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT locations_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT locations_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT locations_code_key UNIQUE (practice_id, code),
    CONSTRAINT locations_name_not_blank CHECK (btrim(name) <> '')
);

-- A guarantor is the responsible party; a family is the guarantor and its
-- patients. self_patient_id is set when the guarantor is also a patient.
CREATE TABLE guarantors (
    practice_id     uuid        NOT NULL,
    id              uuid        NOT NULL,
    name            text        NOT NULL,
    external_id     text,
    self_patient_id uuid,
    created_at      timestamptz NOT NULL,
    CONSTRAINT guarantors_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT guarantors_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT guarantors_external_id_key UNIQUE (practice_id, external_id),
    CONSTRAINT guarantors_self_patient_key UNIQUE (practice_id, self_patient_id),
    CONSTRAINT guarantors_name_not_blank CHECK (btrim(name) <> '')
);

CREATE TABLE patients (
    practice_id  uuid        NOT NULL,
    id           uuid        NOT NULL,
    guarantor_id uuid        NOT NULL,
    first_name   text        NOT NULL,
    last_name    text        NOT NULL,
    birth_date   date,
    external_id  text,
    created_at   timestamptz NOT NULL,
    CONSTRAINT patients_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT patients_guarantor_fkey FOREIGN KEY (practice_id, guarantor_id) REFERENCES guarantors (practice_id, id),
    CONSTRAINT patients_external_id_key UNIQUE (practice_id, external_id),
    CONSTRAINT patients_name_not_blank CHECK (btrim(first_name) <> '' AND btrim(last_name) <> '')
);
CREATE INDEX patients_guarantor_idx ON patients (practice_id, guarantor_id, id);
CREATE INDEX patients_name_idx ON patients (practice_id, lower(last_name), lower(first_name));

ALTER TABLE guarantors ADD CONSTRAINT guarantors_self_patient_fkey
    FOREIGN KEY (practice_id, self_patient_id) REFERENCES patients (practice_id, id)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE unearned_types (
    practice_id uuid    NOT NULL,
    id          uuid    NOT NULL,
    name        text    NOT NULL,
    hidden      boolean NOT NULL DEFAULT false,
    is_default  boolean NOT NULL DEFAULT false,
    CONSTRAINT unearned_types_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT unearned_types_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT unearned_types_name_key UNIQUE (practice_id, name),
    CONSTRAINT unearned_types_default_visible CHECK (NOT (is_default AND hidden))
);
-- At most one default unearned type per practice.
CREATE UNIQUE INDEX unearned_types_one_default ON unearned_types (practice_id) WHERE is_default;

CREATE TABLE batches (
    practice_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    opened_on   date        NOT NULL,
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL,
    CONSTRAINT batches_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT batches_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id)
);

CREATE TABLE encounters (
    practice_id  uuid        NOT NULL,
    id           uuid        NOT NULL,
    patient_id   uuid        NOT NULL,
    provider_id  uuid        NOT NULL,
    location_id  uuid        NOT NULL,
    kind         text        NOT NULL,
    service_from date        NOT NULL,
    service_to   date        NOT NULL,
    note         text,
    created_at   timestamptz NOT NULL,
    CONSTRAINT encounters_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT encounters_patient_fkey FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    CONSTRAINT encounters_provider_fkey FOREIGN KEY (practice_id, provider_id) REFERENCES providers (practice_id, id),
    CONSTRAINT encounters_location_fkey FOREIGN KEY (practice_id, location_id) REFERENCES locations (practice_id, id),
    CONSTRAINT encounters_kind_check CHECK (kind IN ('VISIT', 'BALANCE_FORWARD')),
    CONSTRAINT encounters_service_dates_check CHECK (service_from <= service_to)
);
CREATE INDEX encounters_patient_idx ON encounters (practice_id, patient_id, service_from, id);

-- One line of production. Adjustments may be negative, may attach to another
-- charge, and may have no encounter, provider or location.
CREATE TABLE charges (
    practice_id        uuid        NOT NULL,
    id                 uuid        NOT NULL,
    encounter_id       uuid,
    patient_id         uuid        NOT NULL,
    provider_id        uuid,
    location_id        uuid,
    kind               text        NOT NULL,
    status             text        NOT NULL,
    code               text        NOT NULL,
    service_date       date        NOT NULL,
    amount             numeric     NOT NULL,
    insurance_estimate numeric     NOT NULL DEFAULT 0,
    attached_to_id     uuid,
    note               text,
    posted_at          timestamptz NOT NULL,
    CONSTRAINT charges_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT charges_encounter_fkey FOREIGN KEY (practice_id, encounter_id) REFERENCES encounters (practice_id, id),
    CONSTRAINT charges_patient_fkey FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    CONSTRAINT charges_provider_fkey FOREIGN KEY (practice_id, provider_id) REFERENCES providers (practice_id, id),
    CONSTRAINT charges_location_fkey FOREIGN KEY (practice_id, location_id) REFERENCES locations (practice_id, id),
    CONSTRAINT charges_attached_to_fkey FOREIGN KEY (practice_id, attached_to_id) REFERENCES charges (practice_id, id),
    CONSTRAINT charges_kind_check CHECK (kind IN ('PROCEDURE', 'ADJUSTMENT', 'BALANCE_FORWARD')),
    CONSTRAINT charges_status_check CHECK (status IN ('COMPLETED', 'PLANNED')),
    CONSTRAINT charges_code_not_blank CHECK (btrim(code) <> ''),
    CONSTRAINT charges_amount_scale CHECK (amount = round(amount, 2)),
    CONSTRAINT charges_insurance_estimate_scale CHECK (insurance_estimate = round(insurance_estimate, 2)),
    CONSTRAINT charges_insurance_estimate_nonnegative CHECK (insurance_estimate >= 0),
    CONSTRAINT charges_amount_sign CHECK (kind = 'ADJUSTMENT' AND amount <> 0 OR kind <> 'ADJUSTMENT' AND amount >= 0),
    CONSTRAINT charges_encounter_required CHECK (kind = 'ADJUSTMENT' OR encounter_id IS NOT NULL),
    CONSTRAINT charges_provider_required CHECK (kind = 'ADJUSTMENT' OR provider_id IS NOT NULL),
    CONSTRAINT charges_attach_only_adjustments CHECK (attached_to_id IS NULL OR kind = 'ADJUSTMENT'),
    CONSTRAINT charges_adjustment_completed CHECK (kind <> 'ADJUSTMENT' OR status = 'COMPLETED')
);
CREATE INDEX charges_patient_idx ON charges (practice_id, patient_id, service_date, id);
CREATE INDEX charges_encounter_idx ON charges (practice_id, encounter_id, id);
CREATE INDEX charges_attached_to_idx ON charges (practice_id, attached_to_id) WHERE attached_to_id IS NOT NULL;

CREATE TABLE receipts (
    practice_id    uuid        NOT NULL,
    id             uuid        NOT NULL,
    kind           text        NOT NULL,
    amount         numeric     NOT NULL,
    received_on    date        NOT NULL,
    patient_id     uuid,
    method         text,
    reference      text,
    note           text,
    batch_id       uuid,
    reverses_id    uuid,
    policy_name    text,
    policy_version integer,
    posted_at      timestamptz NOT NULL,
    CONSTRAINT receipts_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT receipts_patient_fkey FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    CONSTRAINT receipts_batch_fkey FOREIGN KEY (practice_id, batch_id) REFERENCES batches (practice_id, id),
    CONSTRAINT receipts_reverses_fkey FOREIGN KEY (practice_id, reverses_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT receipts_reverses_key UNIQUE (practice_id, reverses_id),
    CONSTRAINT receipts_kind_check CHECK (kind IN ('PATIENT_PAYMENT', 'INSURANCE_PAYMENT', 'REFUND', 'TRANSFER', 'CREDIT_REAPPLY', 'REVERSAL')),
    CONSTRAINT receipts_amount_scale CHECK (amount = round(amount, 2)),
    CONSTRAINT receipts_amount_sign CHECK (
        kind IN ('PATIENT_PAYMENT', 'INSURANCE_PAYMENT') AND amount > 0
        OR kind = 'REFUND' AND amount < 0
        OR kind IN ('TRANSFER', 'CREDIT_REAPPLY') AND amount = 0
        OR kind = 'REVERSAL'),
    CONSTRAINT receipts_reversal_link CHECK ((kind = 'REVERSAL') = (reverses_id IS NOT NULL))
);
CREATE INDEX receipts_received_idx ON receipts (practice_id, received_on, id);
CREATE INDEX receipts_patient_idx ON receipts (practice_id, patient_id, received_on, id);

-- A signed part of a receipt. Its target is a charge, an unearned type, or
-- nothing (unallocated money).
CREATE TABLE splits (
    practice_id      uuid    NOT NULL,
    id               uuid    NOT NULL,
    receipt_id       uuid    NOT NULL,
    amount           numeric NOT NULL,
    code             text    NOT NULL,
    patient_id       uuid    NOT NULL,
    provider_id      uuid,
    location_id      uuid,
    charge_id        uuid,
    unearned_type_id uuid,
    CONSTRAINT splits_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT splits_receipt_fkey FOREIGN KEY (practice_id, receipt_id) REFERENCES receipts (practice_id, id),
    CONSTRAINT splits_patient_fkey FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    CONSTRAINT splits_provider_fkey FOREIGN KEY (practice_id, provider_id) REFERENCES providers (practice_id, id),
    CONSTRAINT splits_location_fkey FOREIGN KEY (practice_id, location_id) REFERENCES locations (practice_id, id),
    CONSTRAINT splits_charge_fkey FOREIGN KEY (practice_id, charge_id) REFERENCES charges (practice_id, id),
    CONSTRAINT splits_unearned_type_fkey FOREIGN KEY (practice_id, unearned_type_id) REFERENCES unearned_types (practice_id, id),
    CONSTRAINT splits_one_target CHECK (charge_id IS NULL OR unearned_type_id IS NULL),
    CONSTRAINT splits_amount_scale CHECK (amount = round(amount, 2)),
    CONSTRAINT splits_amount_nonzero CHECK (amount <> 0),
    CONSTRAINT splits_code_check CHECK (code IN ('PAY', 'INS', 'REF', 'TXFR', 'PD', 'PCA', 'REV'))
);
CREATE INDEX splits_receipt_idx ON splits (practice_id, receipt_id, id);
CREATE INDEX splits_charge_idx ON splits (practice_id, charge_id) WHERE charge_id IS NOT NULL;
CREATE INDEX splits_patient_idx ON splits (practice_id, patient_id);

-- +goose StatementBegin
-- Ledger rows are append-only: corrections are reversals.
CREATE FUNCTION ledger_rows_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only; post a reversal instead', TG_TABLE_NAME
        USING ERRCODE = 'P0001', CONSTRAINT = TG_TABLE_NAME || '_append_only';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER charges_append_only BEFORE UPDATE OR DELETE ON charges
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER charges_append_only_truncate BEFORE TRUNCATE ON charges
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER receipts_append_only_truncate BEFORE TRUNCATE ON receipts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER splits_append_only BEFORE UPDATE OR DELETE ON splits
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();
CREATE TRIGGER splits_append_only_truncate BEFORE TRUNCATE ON splits
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- +goose StatementBegin
-- At commit, each receipt inserted in the transaction must have at least one
-- split and its splits must sum to its amount (docs/design.md, invariant 1).
CREATE FUNCTION receipts_splits_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    n     bigint;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, n
      FROM splits WHERE practice_id = NEW.practice_id AND receipt_id = NEW.id;
    IF n = 0 OR total <> NEW.amount THEN
        RAISE EXCEPTION 'receipt % has % split(s) summing to %, not its amount %', NEW.id, n, total, NEW.amount
            USING ERRCODE = '23514', CONSTRAINT = 'receipts_splits_balance';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER receipts_splits_balance AFTER INSERT ON receipts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION receipts_splits_balance();

-- +goose StatementBegin
-- Splits may only be added to a receipt created in the same transaction, so
-- the deferred check above sees every split a receipt will ever have.
CREATE FUNCTION splits_join_new_receipts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT r.id INTO bad
      FROM (SELECT DISTINCT practice_id, receipt_id FROM new_splits) s
      JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
     WHERE r.xmin <> pg_current_xact_id()::xid
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'receipt % is already posted; its splits cannot change', bad
            USING ERRCODE = '23514', CONSTRAINT = 'splits_receipt_posted';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER splits_join_new_receipts AFTER INSERT ON splits
    REFERENCING NEW TABLE AS new_splits
    FOR EACH STATEMENT EXECUTE FUNCTION splits_join_new_receipts();

CREATE TABLE api_keys (
    practice_id  uuid        NOT NULL,
    id           uuid        NOT NULL,
    name         text        NOT NULL,
    role         text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT api_keys_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT api_keys_role_check CHECK (role IN ('ADMIN', 'BILLER', 'ANALYST')),
    CONSTRAINT api_keys_hash_length CHECK (length(secret_hash) = 32)
);

CREATE TABLE audit_events (
    practice_id    uuid        NOT NULL,
    id             uuid        NOT NULL,
    at             timestamptz NOT NULL,
    key_id         uuid,
    role           text,
    operation      text        NOT NULL,
    input_digest   text        NOT NULL,
    created_ids    uuid[]      NOT NULL DEFAULT '{}',
    policy_name    text,
    policy_version integer,
    CONSTRAINT audit_events_pkey PRIMARY KEY (practice_id, id),
    CONSTRAINT audit_events_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id)
);
CREATE INDEX audit_events_at_idx ON audit_events (practice_id, at, id);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION ledger_rows_are_append_only();

-- A replayed mutation returns its first result; the same key with a different
-- input is a conflict.
CREATE TABLE idempotency_records (
    practice_id  uuid        NOT NULL,
    key          text        NOT NULL,
    operation    text        NOT NULL,
    request_hash text        NOT NULL,
    result_id    uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (practice_id, key),
    CONSTRAINT idempotency_records_practice_fkey FOREIGN KEY (practice_id) REFERENCES practices (id),
    CONSTRAINT idempotency_records_key_length CHECK (length(key) BETWEEN 1 AND 200)
);

-- +goose Down
DROP TABLE idempotency_records, audit_events, api_keys, splits, receipts, charges,
    encounters, batches, unearned_types, patients, guarantors, locations, providers, practices CASCADE;
DROP FUNCTION splits_join_new_receipts(), receipts_splits_balance(), ledger_rows_are_append_only();
