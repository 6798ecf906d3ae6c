-- The float8 overloads (075-numeric-overloads.sql) are invoker-rights wrappers that call the
-- numeric functions: they have no rights of their own, so EXECUTE on them goes to PUBLIC and
-- what counts is EXECUTE on the numeric function they call (checked for the caller, as for a
-- direct call: a role that may not quote gets "permission denied for function nyop_quote").
-- Without this, an integer bid (nyop_quote('paper_a', 1000, …)) -- which PostgreSQL resolves
-- to the float8 overload -- would be refused to buyers that may call the numeric function.
-- (After 090-privileges.sql, which revokes every nyop_* function from PUBLIC.)
GRANT EXECUTE ON FUNCTION
    @extschema@.nyop_register_offering(text, regclass, float8, text[], text, interval, float8, text, text, int),
    @extschema@.nyop_set_criterion(text, text, float8, text[], text, float8, int),
    @extschema@.nyop_quote(text, float8, jsonb, text[], text, text),
    @extschema@.nyop_explain(text, float8, jsonb, text[], text, text),
    @extschema@.nyop_set_commission(float8)
TO PUBLIC;
