-- Privileges, PostgreSQL Anonymizer style: revoke everything from PUBLIC, then
-- grant case by case. Buyers get theirs from nyop_add_buyer(); providers'
-- registration functions are granted by the operator.

REVOKE ALL ON ALL TABLES IN SCHEMA nyop FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA nyop FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA nyop FROM PUBLIC;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = '@extschema@'::regnamespace AND p.proname LIKE 'nyop\_%'
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- Views call the clock with the reader's rights; it reveals nothing.
GRANT EXECUTE ON FUNCTION nyop.clock() TO PUBLIC;
-- Loading nyop's Python modules is harmless and needed by every invoker-rights entry point.
GRANT EXECUTE ON FUNCTION nyop._load() TO PUBLIC;
-- Row-level security on previews asks this with the reader's rights.
GRANT EXECUTE ON FUNCTION nyop._provides(regrole, text) TO PUBLIC;
-- Every purchased view asks it, once per query, with the reader's rights; it reveals nothing.
GRANT EXECUTE ON FUNCTION nyop._paid(bigint, xid8) TO PUBLIC;

-- Buyers added by an earlier version get what nyop_add_buyer grants today (quotes go through
-- nyop._call_buyer since 0.3.0; nyop.my_purchases is new).
DO $$
DECLARE
    b regrole;
BEGIN
    FOR b IN SELECT buyer FROM nyop.buyers LOOP
        EXECUTE format('GRANT SELECT ON nyop.my_purchases TO %s', b);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', nyop._buyer_functions(), b);
    END LOOP;
END
$$;
