-- Pricing: quotes for a bid, and the bare MCKP solver. SECURITY DEFINER lives in
-- nyop._call_buyer only: these wrappers add no rights of their own.

-- The door of nyop_quote and nyop_explain: refuses non-finite bids (jsonb cannot carry
-- them) and hands the rest to the read-only handler of that name.
CREATE OR REPLACE FUNCTION nyop._priced(handler text, offering text, bid numeric, preferences jsonb,
    columns text[], scope text, solver text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF bid IS NULL OR bid IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'nyop_%: bid must be a finite number > 0, got %', handler, coalesce(bid::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN nyop._unwrap(nyop._call_buyer(handler, jsonb_build_object(
        'offering', offering, 'bid', bid, 'preferences', preferences, 'columns', columns,
        'scope', scope, 'solver', solver)));
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.nyop_quote(offering text, bid numeric, preferences jsonb,
    columns text[] DEFAULT NULL, scope text DEFAULT NULL, solver text DEFAULT 'exact') RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nyop._priced('quote', offering, bid, preferences, columns, scope, solver)
$$;
COMMENT ON FUNCTION @extschema@.nyop_quote(text, numeric, jsonb, text[], text, text) IS
    'Quote a bid: the best version of an offering (or of a comparison group) the bid buys, as jsonb';

-- Arrays go to PL/Python in their binary form (array_send): no jsonb round trip, and no
-- Python float per element -- numpy reads a large array straight from the bytes
-- (nyop_server/pgarray.py). This is the hot path of users with their own MCKP, and of the
-- solver benchmark. (nyop._solve_mckp(float8[], ...) of 0.1.0/0.2.0 is dropped by the
-- 0.3.0 upgrade.)
CREATE OR REPLACE FUNCTION nyop._solve_mckp(weights bytea, profits bytea, capacity float8, method text) RETURNS jsonb
LANGUAGE plpython3u IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
if 'nyop' not in GD:
    try:
        plpy.execute('SELECT nyop._load()')
    except plpy.SPIError as e:      # a cancel or timeout while loading: an envelope, not a traceback
        import json
        return json.dumps({'error': {'sqlstate': getattr(e, 'sqlstate', None) or 'XX000',
                                     'message': str(e.args[0]) if e.args else str(e),
                                     'hint': getattr(e, 'hint', None), 'detail': None}})
return GD['nyop'].solve_mckp_sent(weights, profits, capacity, method)
$$;

CREATE OR REPLACE FUNCTION @extschema@.nyop_solve_mckp(weights float8[], profits float8[], capacity float8,
    method text DEFAULT 'exact') RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nyop._unwrap(nyop._solve_mckp(pg_catalog.array_send(weights), pg_catalog.array_send(profits),
                                           capacity, method))
$$;
COMMENT ON FUNCTION @extschema@.nyop_solve_mckp(float8[], float8[], float8, text) IS
    'Solve a multiple-choice knapsack problem: one item per row (class), maximum profit within capacity';
