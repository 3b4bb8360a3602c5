-- Security (issue 8): the audit trail is append-only against TRUNCATE too
-- (00001 refuses UPDATE and DELETE row by row).

-- +goose Up

CREATE TRIGGER audit_events_append_only_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_rows_are_append_only();

-- +goose Down
DROP TRIGGER audit_events_append_only_truncate ON audit_events;
