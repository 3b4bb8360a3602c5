-- paysplit_key_stands refuses the transaction, SQLSTATE 28000 (the store
-- translates it to ledger.ErrUnauthenticated), if API key k of practice p
-- has been revoked; a null k checks nothing. The statement that scopes each
-- transaction to its practice calls it (docs/security.md#keys): a function,
-- compiled once per connection, where an inline DO block was compiled on
-- every transaction.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION paysplit_key_stands(p uuid, k uuid) RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF k IS NOT NULL AND NOT EXISTS (SELECT FROM api_keys WHERE practice_id = p AND id = k AND revoked_at IS NULL) THEN
        RAISE SQLSTATE '28000' USING MESSAGE = 'the API key was revoked';
    END IF;
END
$$;
-- +goose StatementEnd
-- Executable by any role (PostgreSQL's default): the scoping statement
-- checks the privilege as the login role, before it takes paysplit_app, and
-- the function tells nothing but whether a key it is given stands.

-- +goose Down
DROP FUNCTION paysplit_key_stands(uuid, uuid);
