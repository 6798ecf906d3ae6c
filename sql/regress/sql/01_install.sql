-- CREATE EXTENSION pulls in PL/Python and loads nyop's server-side Python.
CREATE EXTENSION nyop CASCADE;
SELECT e.extversion = a.default_version AS is_default_version, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'nyop';
SELECT nyop._load();
-- the public functions: name, argument types, SECURITY DEFINER or not
SELECT p.oid::regprocedure::text AS function, p.prosecdef AS definer
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'nyop\_%'
 ORDER BY 1;
-- what buyers and providers browse
SELECT c.oid::regclass::text AS relation, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'nyop'::regnamespace AND c.relkind = 'v'
 ORDER BY 1;
-- nothing is granted to PUBLIC but the clock and the harmless helpers
SELECT p.oid::regprocedure::text AS public_function
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('nyop', 'public') AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'
                  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'nyop'))
 ORDER BY 1;
SELECT c.oid::regclass::text AS public_relation
  FROM pg_class c
 WHERE c.relnamespace = 'nyop'::regnamespace AND has_table_privilege('public', c.oid, 'SELECT')
 ORDER BY 1;
-- a helper for the other files: an error's SQLSTATE and message, or 'ok'
CREATE FUNCTION regress_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION regress_try(text) TO PUBLIC;
