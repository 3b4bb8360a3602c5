-- Row-level security (issue 8): a second wall between practices. The
-- service's statements run as paysplit_app, a role that owns nothing; every
-- table with a practice_id column (and practices itself, by id) lets that
-- role see and write only the rows of the practice named by the
-- transaction-local setting app.practice_id. A statement that never sets it
-- sees no rows and can write none. Migrations and operator tooling (demo,
-- bench loading) run as the owner, which the policies do not restrict.

-- +goose Up

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    -- Roles belong to the server, not the database: another database's
    -- migration may be creating it at the same moment.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'paysplit_app') THEN
        BEGIN
            CREATE ROLE paysplit_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'paysplit_app', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT paysplit_app TO %I', current_user);
        EXCEPTION WHEN unique_violation OR object_in_use THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO paysplit_app', current_database());
    GRANT USAGE ON SCHEMA public TO paysplit_app;
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND (c.relname = 'practices' OR EXISTS (
                SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'practice_id' AND NOT a.attisdropped))
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO paysplit_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY %I ON %I TO paysplit_app
                USING (%I = nullif(current_setting('app.practice_id', true), '')::uuid)
                WITH CHECK (%I = nullif(current_setting('app.practice_id', true), '')::uuid)$p$,
            t || '_tenant', t,
            CASE WHEN t = 'practices' THEN 'id' ELSE 'practice_id' END,
            CASE WHEN t = 'practices' THEN 'id' ELSE 'practice_id' END);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The one question the service asks across practices: which runs were left
-- RUNNING (by a server that died), so that it can mark them interrupted.
-- +goose StatementBegin
CREATE FUNCTION paysplit_running_runs() RETURNS TABLE (practice_id uuid, id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT practice_id, id FROM runs WHERE status = 'RUNNING' ORDER BY practice_id, id
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION paysplit_running_runs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION paysplit_running_runs() TO paysplit_app;

-- Whether the database holds any practice yet (serve loads the demo practice
-- into an empty private database).
-- +goose StatementBegin
CREATE FUNCTION paysplit_practice_count() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*) FROM practices
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION paysplit_practice_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION paysplit_practice_count() TO paysplit_app;

-- ANALYZE needs the owner; imports analyze the tables they grew a lot.
-- +goose StatementBegin
CREATE FUNCTION paysplit_analyze(tbl text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF tbl NOT IN ('patients', 'guarantors', 'encounters', 'charges', 'receipts', 'splits', 'balance_import_lines') THEN
        RAISE EXCEPTION 'paysplit_analyze: % is not analyzed by the service', tbl;
    END IF;
    EXECUTE format('ANALYZE %I', tbl);
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION paysplit_analyze(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION paysplit_analyze(text) TO paysplit_app;

-- +goose Down
DROP FUNCTION paysplit_analyze(text);
DROP FUNCTION paysplit_practice_count();
DROP FUNCTION paysplit_running_runs();
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = tablename || '_tenant' LOOP
        EXECUTE format('DROP POLICY %I ON %I', t || '_tenant', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON %I FROM paysplit_app', t);
    END LOOP;
    REVOKE USAGE ON SCHEMA public FROM paysplit_app;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM paysplit_app', current_database());
END
$$;
-- +goose StatementEnd
