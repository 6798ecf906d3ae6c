-- float8 arguments for every numeric parameter of the public functions (psycopg sends a Python
-- float as float8, and float8 -> numeric is not an implicit cast), by one float8 overload per
-- function that casts and calls the numeric one -- no logic, no rights of its own.
--
-- Resolution stays unambiguous (PostgreSQL's rules, "Function Overloading"):
--   * numeric arguments (1000.5, Decimal) match the numeric function exactly: it wins;
--   * float8 arguments can reach only the float8 overload;
--   * integer arguments (1000, Python ints: int2/int4/int8) and unknown literals ('1000') cast
--     implicitly to both; float8 is the preferred type of the numeric category, so they take
--     the float8 overload -- exact for integers below 2^53, and float8 -> numeric keeps 15
--     significant digits ('1000.10' stays 1000.1).
-- Mixed calls (a float8 ask and a numeric reserve) take the float8 overload: numeric -> float8
-- is implicit. Integer-only parameters (levels, min_level) stay int: Python ints arrive as
-- int2/int4, which cast to int implicitly.
-- nyop_solve_mckp already takes float8 (and integer and numeric arrays cast to it implicitly).

CREATE OR REPLACE FUNCTION @extschema@.nyop_register_offering(
    name text, relation regclass, ask_price float8, key_columns text[],
    last_updated text DEFAULT NULL, volatility interval DEFAULT NULL,
    reserve_price float8 DEFAULT NULL, comparison_group text DEFAULT NULL,
    utility text DEFAULT 'sqrt', levels int DEFAULT 10) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.nyop_register_offering(name, relation, ask_price::numeric, key_columns, last_updated,
                                              volatility, reserve_price::numeric, comparison_group, utility, levels)
$$;
COMMENT ON FUNCTION @extschema@.nyop_register_offering(text, regclass, float8, text[], text, interval, float8, text, text, int) IS
    'nyop_register_offering with float8 prices (cast to numeric)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_set_criterion(offering text, criterion text, provider_weight float8,
    tiers text[] DEFAULT NULL, pricing text DEFAULT 'score',
    threshold float8 DEFAULT 0, min_level int DEFAULT 1) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.nyop_set_criterion(offering, criterion, provider_weight::numeric, tiers, pricing,
                                          threshold::numeric, min_level)
$$;
COMMENT ON FUNCTION @extschema@.nyop_set_criterion(text, text, float8, text[], text, float8, int) IS
    'nyop_set_criterion with a float8 weight and threshold (cast to numeric)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_quote(offering text, bid float8, preferences jsonb,
    columns text[] DEFAULT NULL, scope text DEFAULT NULL, solver text DEFAULT 'exact') RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.nyop_quote(offering, bid::numeric, preferences, columns, scope, solver)
$$;
COMMENT ON FUNCTION @extschema@.nyop_quote(text, float8, jsonb, text[], text, text) IS
    'nyop_quote with a float8 bid (cast to numeric)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_explain(offering text, bid float8, preferences jsonb,
    columns text[] DEFAULT NULL, scope text DEFAULT NULL, solver text DEFAULT 'exact') RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.nyop_explain(offering, bid::numeric, preferences, columns, scope, solver)
$$;
COMMENT ON FUNCTION @extschema@.nyop_explain(text, float8, jsonb, text[], text, text) IS
    'nyop_explain with a float8 bid (cast to numeric)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_set_commission(rate float8) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT @extschema@.nyop_set_commission(rate::numeric)
$$;
COMMENT ON FUNCTION @extschema@.nyop_set_commission(float8) IS
    'nyop_set_commission with a float8 rate (cast to numeric)';
