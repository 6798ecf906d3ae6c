-- Providers describe what they sell. These run with the caller's rights: a
-- provider can only register a relation it can read.

-- The public wrapper has no SET search_path so that an unqualified name lands in
-- the caller's current schema, as CREATE VIEW would; it only hands that schema on.
CREATE OR REPLACE FUNCTION nyop._universal_relation(default_schema text, name text, relations regclass[]) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[] := parse_ident(name);
    target text;
    from_clause text;
    seen text[];
    cols text[];
    i int;
BEGIN
    IF relations IS NULL OR cardinality(relations) = 0 THEN
        RAISE EXCEPTION 'nyop_universal_relation: relations must name at least one relation'
            USING ERRCODE = '22023';
    END IF;
    IF cardinality(parts) > 2 THEN
        RAISE EXCEPTION 'nyop_universal_relation: % is not a valid relation name', name USING ERRCODE = '42602';
    END IF;
    IF cardinality(parts) = 1 THEN
        IF default_schema IS NULL THEN
            RAISE EXCEPTION 'nyop_universal_relation: no schema to create % in', name USING ERRCODE = '3F000';
        END IF;
        parts := ARRAY[default_schema] || parts;
    END IF;
    target := (SELECT string_agg(quote_ident(p), '.') FROM unnest(parts) p);
    FOR i IN 1 .. cardinality(relations) LOOP
        IF NOT has_table_privilege(relations[i], 'SELECT') THEN
            RAISE EXCEPTION 'permission denied for %', relations[i] USING ERRCODE = '42501';
        END IF;
        SELECT array_agg(attname::text ORDER BY attnum) INTO cols FROM pg_attribute
         WHERE attrelid = relations[i] AND attnum > 0 AND NOT attisdropped;
        IF i = 1 THEN
            from_clause := relations[i]::text;
        ELSE
            IF NOT (seen && cols) THEN
                RAISE EXCEPTION 'nyop_universal_relation: % shares no column with the relations before it', relations[i]
                    USING ERRCODE = '22023',
                          HINT = 'the universal relation joins on shared column names; rename columns so they match';
            END IF;
            from_clause := from_clause || ' NATURAL FULL JOIN ' || relations[i]::text;
        END IF;
        seen := coalesce(seen, '{}') || cols;
    END LOOP;
    EXECUTE format('CREATE VIEW %s AS SELECT * FROM %s', target, from_clause);
    EXECUTE format('COMMENT ON VIEW %s IS %L', target,
                   'nyop universal relation of ' || array_to_string(relations::text[], ', '));
    RETURN target::regclass;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.nyop_universal_relation(name text, relations regclass[]) RETURNS regclass
LANGUAGE sql AS $$
    SELECT nyop._universal_relation(pg_catalog.current_schema(), name, relations)
$$;
COMMENT ON FUNCTION @extschema@.nyop_universal_relation(text, regclass[]) IS
    'Create a view: the natural full outer join of a provider''s relations (its universal relation)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_register_offering(
    name text, relation regclass, ask_price numeric, key_columns text[],
    last_updated text DEFAULT NULL, volatility interval DEFAULT NULL,
    reserve_price numeric DEFAULT NULL, comparison_group text DEFAULT NULL,
    utility text DEFAULT 'sqrt', levels int DEFAULT 10) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF relation IS NULL THEN
        RAISE EXCEPTION 'nyop_register_offering: relation must be given' USING ERRCODE = '22023';
    END IF;
    IF volatility IS NOT NULL AND (volatility <= interval '0' OR volatility > interval '100 years') THEN
        RAISE EXCEPTION 'nyop_register_offering: volatility must be a positive interval of at most 100 years, got %',
            volatility USING ERRCODE = '22023';
    END IF;
    IF ask_price IS NULL OR ask_price IN ('NaN', 'Infinity', '-Infinity')
       OR reserve_price IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'nyop_register_offering: ask_price and reserve_price must be finite numbers > 0'
            USING ERRCODE = '22023';
    END IF;
    PERFORM nyop._unwrap(nyop._call('register_offering', jsonb_build_object(
        'name', name, 'relid', relation::oid, 'ask_price', ask_price, 'key_columns', key_columns,
        'last_updated', last_updated, 'volatility_seconds', extract(epoch FROM volatility),
        'reserve_price', reserve_price, 'comparison_group', comparison_group,
        'utility', utility, 'levels', levels)));
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_register_offering(text, regclass, numeric, text[], text, interval, numeric, text, text, int) IS
    'Register (or replace) an offering: a relation sold by quality at a public ask price';

CREATE OR REPLACE FUNCTION @extschema@.nyop_set_criterion(offering text, criterion text, provider_weight numeric,
    tiers text[] DEFAULT NULL, pricing text DEFAULT 'score',
    threshold numeric DEFAULT 0, min_level int DEFAULT 1) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF provider_weight IN ('NaN', 'Infinity', '-Infinity') OR threshold IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'nyop_set_criterion: provider_weight and threshold must be finite numbers'
            USING ERRCODE = '22023';
    END IF;
    PERFORM nyop._unwrap(nyop._call('set_criterion', jsonb_build_object(
        'offering', offering, 'criterion', criterion, 'provider_weight', provider_weight,
        'tiers', tiers, 'pricing', pricing, 'threshold', threshold, 'min_level', min_level)));
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_set_criterion(text, text, numeric, text[], text, numeric, int) IS
    'Price an offering on a quality criterion: measured (completeness, timeliness, amount_of_data) or contractual (tiers)';

-- SECURITY DEFINER (EXECUTE is the operator's alone): it marks its transaction for the drop guard.
-- Removes an offering with its criteria and secret; refused while buyers hold purchases
-- of it, unless force (their views are dropped; the bids stay, as a record of what was sold).
-- The history of its relation goes with the last offering on it.
CREATE OR REPLACE FUNCTION @extschema@.nyop_drop_offering(offering text, force boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
    held bigint;
    v regclass;
    h record;
BEGIN
    SELECT o.relation INTO rel FROM nyop.offerings o WHERE o.name = offering FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'offering % does not exist', quote_literal(offering) USING ERRCODE = '42704';
    END IF;
    SELECT count(*) INTO held FROM nyop.purchases p WHERE p.offering = nyop_drop_offering.offering;
    IF held > 0 AND NOT force THEN
        RAISE EXCEPTION 'offering % has % purchase(s); dropping it would break buyers'' views', quote_literal(offering), held
            USING ERRCODE = '55006', HINT = 'nyop_drop_offering(offering, force => true) drops their views too';
    END IF;
    INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
    FOR v IN SELECT DISTINCT p.view FROM nyop.purchases p WHERE p.offering = nyop_drop_offering.offering LOOP
        EXECUTE format('DROP VIEW IF EXISTS %s', v);
    END LOOP;
    DELETE FROM nyop.purchases p WHERE p.offering = nyop_drop_offering.offering;
    IF to_regclass('nyop.previews') IS NOT NULL THEN
        DELETE FROM nyop.previews p WHERE p.offering = nyop_drop_offering.offering;
    END IF;
    DELETE FROM nyop.offerings o WHERE o.name = offering;
    -- maintained measures count what the offerings left on the relation sell (none left: removed)
    PERFORM nyop._install_measures(rel);
    IF NOT EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = rel) THEN
        FOR h IN SELECT * FROM nyop.histories WHERE relation = rel LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_update ON %s', rel);
            EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_delete ON %s', rel);
            EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_truncate ON %s', rel);
            EXECUTE format('DROP FUNCTION IF EXISTS nyop.%I(), nyop.%I(), nyop.%I()',
                           'capture_' || rel::oid || '_update', 'capture_' || rel::oid || '_delete',
                           'capture_' || rel::oid || '_truncate');
            DELETE FROM nyop.histories WHERE relation = rel;
            EXECUTE format('DROP TABLE %s', h.history);
        END LOOP;
    END IF;
    DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_drop_offering(text, boolean) IS
    'Remove an offering with its criteria and secret (and, with force, its buyers'' views)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_quality(offering text, scope text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nyop._unwrap(nyop._call_definer('quality_of', jsonb_build_object('offering', offering, 'scope', scope)))
$$;
COMMENT ON FUNCTION @extschema@.nyop_quality(text, text) IS
    'Measured quality of an offering (optionally of the part selected by a scope predicate)';

-- Roles nyop's catalog refers to (regrole columns): a restore into a new cluster needs them
-- first (pg_dumpall --roles-only), or bids, purchases and buyers are not restored.
CREATE OR REPLACE FUNCTION @extschema@.nyop_roles() RETURNS TABLE (role text, as_what text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r::text, string_agg(DISTINCT w, ', ' ORDER BY w) FROM (
        SELECT buyer, 'buyer' FROM nyop.buyers
        UNION ALL SELECT provider, 'provider' FROM nyop.offerings
        UNION ALL SELECT buyer, 'bidder' FROM nyop.bids
        UNION ALL SELECT published_by, 'preview publisher' FROM nyop.previews) x(r, w)
    GROUP BY r ORDER BY 1
$$;
COMMENT ON FUNCTION @extschema@.nyop_roles() IS
    'Roles nyop''s catalog refers to: restore them first into a new cluster (pg_dumpall --roles-only)';
