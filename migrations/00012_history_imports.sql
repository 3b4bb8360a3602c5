-- History imports (issue 18): a prior system's transaction history, as it
-- was, through the same import machinery as balance forwards.
--
-- An import records its kind. A history import records each entity row it
-- posted under the old system's id, so the same rows are never posted twice
-- (a second batch adds only new rows) and later batches may refer to rows
-- of earlier ones; and per family what the file said (its own balance, if
-- given) and what its rows come to, for the reconciliation.
-- The converted rows themselves are ordinary ledger rows, under every
-- constraint of the ledger's tables (docs/design.md §5, "converted history").

-- +goose Up
ALTER TABLE balance_imports ADD COLUMN kind text NOT NULL DEFAULT 'BALANCE_FORWARD';
ALTER TABLE balance_imports ADD CONSTRAINT balance_imports_kind_check CHECK (kind IN ('BALANCE_FORWARD', 'HISTORY'));

CREATE TABLE history_import_rows (
    practice_id  uuid    NOT NULL,
    import_id    uuid    NOT NULL,
    entity       text    NOT NULL,
    old_id       text    NOT NULL,
    row_number   integer NOT NULL,
    ledger_id    uuid    NOT NULL,
    file_balance numeric,
    file_total   numeric,
    undone       boolean NOT NULL DEFAULT false,
    CONSTRAINT history_import_rows_pkey PRIMARY KEY (practice_id, import_id, entity, old_id),
    CONSTRAINT history_import_rows_import_fkey FOREIGN KEY (practice_id, import_id) REFERENCES balance_imports (practice_id, id),
    CONSTRAINT history_import_rows_entity_check CHECK (entity IN (
        'provider', 'location', 'unearned_type', 'family', 'patient', 'procedure', 'adjustment', 'receipt')),
    CONSTRAINT history_import_rows_old_id_not_blank CHECK (btrim(old_id) <> ''),
    CONSTRAINT history_import_rows_row_number_check CHECK (row_number >= 2),
    CONSTRAINT history_import_rows_money_scale CHECK (file_balance = round(file_balance, 2) AND file_total = round(file_total, 2)),
    CONSTRAINT history_import_rows_family_money CHECK (entity = 'family' OR file_balance IS NULL AND file_total IS NULL)
);
-- An old id posts at most once while its import stands (undo frees it).
CREATE UNIQUE INDEX history_import_rows_old_id ON history_import_rows (practice_id, entity, old_id) WHERE NOT undone;
CREATE INDEX history_import_rows_ledger_idx ON history_import_rows (practice_id, ledger_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON history_import_rows TO paysplit_app;
ALTER TABLE history_import_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_import_rows_tenant ON history_import_rows TO paysplit_app
    USING (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid)
    WITH CHECK (practice_id = nullif(current_setting('app.practice_id', true), '')::uuid);

-- A history import grows these too: it analyzes them as it does the others.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paysplit_analyze(tbl text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF tbl NOT IN ('patients', 'guarantors', 'encounters', 'charges', 'receipts', 'splits', 'balance_import_lines',
                   'insurance_write_offs', 'history_import_rows') THEN
        RAISE EXCEPTION 'paysplit_analyze: % is not analyzed by the service', tbl;
    END IF;
    EXECUTE format('ANALYZE %I', tbl);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paysplit_analyze(tbl text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF tbl NOT IN ('patients', 'guarantors', 'encounters', 'charges', 'receipts', 'splits', 'balance_import_lines') THEN
        RAISE EXCEPTION 'paysplit_analyze: % is not analyzed by the service', tbl;
    END IF;
    EXECUTE format('ANALYZE %I', tbl);
END
$$;
-- +goose StatementEnd
DROP TABLE history_import_rows;
ALTER TABLE balance_imports DROP CONSTRAINT balance_imports_kind_check;
ALTER TABLE balance_imports DROP COLUMN kind;
