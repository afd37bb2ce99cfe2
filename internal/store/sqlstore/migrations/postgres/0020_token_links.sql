-- The links of tokens and codes to their family, without foreign-key
-- checks on the grants' write path (issue 17).
--
-- A foreign-key check costs every inserted token (and every burned code) a
-- query of its own inside the server, with a row lock on the family: on a
-- refresh rotation, a seventh of the server's CPU. Every statement that
-- writes a token writes it with its family: the family is inserted by the
-- same statement or transaction, or is locked by it (a rotation's UPDATE,
-- or the transactional path's SELECT ... FOR UPDATE), so a concurrent
-- deletion of the family waits for the write and then sees its tokens. And
-- every read of a token joins its family: a token without one is never
-- served. What the constraint still did is its cascade, which the trigger
-- below does instead, once per deleting statement.
--
-- A code's family_id names the family its redemption created, for the
-- revocation of that family when the code is presented again; the cleaner
-- keeps a family while a code names it. A family deleted another way (its
-- client's or user's deletion, which deletes the codes too) leaves at most
-- a name that revokes nothing.
ALTER TABLE tokens DROP CONSTRAINT tokens_family_id_fkey;
ALTER TABLE auth_codes DROP CONSTRAINT auth_codes_family_id_fkey;

CREATE FUNCTION latchkey_family_tokens_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tokens WHERE family_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;

CREATE TRIGGER token_families_tokens AFTER DELETE ON token_families
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION latchkey_family_tokens_gone();
