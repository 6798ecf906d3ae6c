-- Pricing: quotes for a bid, and the bare MCKP solver. SECURITY DEFINER lives in
-- nyop._call_definer only: these wrappers add no rights of their own.

CREATE FUNCTION @extschema@.nyop_quote(offering text, bid numeric, preferences jsonb,
    columns text[] DEFAULT NULL, scope text DEFAULT NULL, solver text DEFAULT 'exact') RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF bid IS NULL OR bid IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'nyop_quote: bid must be a finite number > 0, got %', coalesce(bid::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN nyop._unwrap(nyop._call_definer('quote', jsonb_build_object(
        'offering', offering, 'bid', bid, 'preferences', preferences, 'columns', columns,
        'scope', scope, 'solver', solver)));
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_quote(text, numeric, jsonb, text[], text, text) IS
    'Quote a bid: the best version of an offering (or of a comparison group) the bid buys, as jsonb';

CREATE FUNCTION @extschema@.nyop_solve_mckp(weights float8[], profits float8[], capacity float8,
    method text DEFAULT 'exact') RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF weights IS NULL OR profits IS NULL OR capacity IS NULL THEN
        RAISE EXCEPTION 'nyop_solve_mckp: weights, profits and capacity must be given' USING ERRCODE = '22004';
    END IF;
    IF array_ndims(weights) IS DISTINCT FROM 2 OR array_ndims(profits) IS DISTINCT FROM 2 THEN
        RAISE EXCEPTION 'nyop_solve_mckp: weights and profits must be 2-dimensional arrays (one row per class)'
            USING ERRCODE = '2202E';
    END IF;
    IF array_dims(weights) <> array_dims(profits) THEN
        RAISE EXCEPTION 'nyop_solve_mckp: weights % and profits % differ in shape', array_dims(weights), array_dims(profits)
            USING ERRCODE = '2202E';
    END IF;
    IF capacity IN ('NaN', 'Infinity', '-Infinity') OR 'NaN' = ANY(weights) OR 'NaN' = ANY(profits)
       OR 'Infinity' = ANY(weights) OR 'Infinity' = ANY(profits)
       OR '-Infinity' = ANY(weights) OR '-Infinity' = ANY(profits) THEN
        RAISE EXCEPTION 'nyop_solve_mckp: weights, profits and capacity must be finite numbers'
            USING ERRCODE = '22023';
    END IF;
    RETURN nyop._unwrap(nyop._call_definer('solve_mckp', jsonb_build_object(
        'weights', to_jsonb(weights), 'profits', to_jsonb(profits), 'capacity', capacity, 'method', method)));
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_solve_mckp(float8[], float8[], float8, text) IS
    'Solve a multiple-choice knapsack problem: one item per row (class), maximum profit within capacity';
