-- Delivery: history capture, the bid trigger, the provider's view of bids, buyer and
-- provider roles. Tables and policies are in incremental/; this file is idempotent.

-- History capture: statement-level, set-based, one INSERT per statement.
-- TG_ARGV: history table, column list, key join condition (o = old, n = new), LU column,
-- the column list prefixed with o. (passed whole: names may hold commas).
CREATE OR REPLACE FUNCTION nyop._capture_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) '
                   'SELECT %s, nyop.clock(), n.%s FROM nyop_old o LEFT JOIN nyop_new n ON %s',
                   TG_ARGV[0], TG_ARGV[1],
                   TG_ARGV[4],
                   TG_ARGV[3], TG_ARGV[2]);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION nyop._capture_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) SELECT %s, nyop.clock(), NULL FROM nyop_old',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION nyop._capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) SELECT %s, nyop.clock(), NULL FROM %s',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1], TG_RELID::regclass);
    RETURN NULL;
END
$$;

-- The bid trigger: price the bid with the exact solver and, if accepted, create
-- the buyer's view -- all in the inserting transaction, or nothing at all.
CREATE OR REPLACE FUNCTION nyop._place_bid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
BEGIN
    -- A row that arrives already priced comes from pg_restore (or the operator): buyers
    -- cannot insert into status (column privileges), so keep it as it is.
    IF NEW.status IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.bid IS NULL OR NEW.bid IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'bid must be a finite number > 0, got %', coalesce(NEW.bid::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    r := nyop._unwrap(nyop._call('place_bid', jsonb_build_object(
        'bid_id', NEW.bid_id, 'offering', NEW.offering, 'buyer', NEW.buyer::text, 'bid', NEW.bid,
        'preferences', NEW.preferences, 'columns', NEW.columns, 'scope', NEW.scope, 'solver', NEW.solver)));
    NEW.status := r->>'status';
    NEW.quote := r->'quote';
    NEW.sold := r->'quote'->>'offering';
    NEW.view := (r->>'view')::oid::regclass;
    NEW.provider_share := (r->>'provider_share')::numeric;
    NEW.operator_share := (r->>'operator_share')::numeric;
    NEW.placed_at := now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER place_bid BEFORE INSERT ON nyop.bids FOR EACH ROW EXECUTE FUNCTION nyop._place_bid();

-- Bids are immutable once placed (the view and the price depend on them).
CREATE OR REPLACE FUNCTION nyop._bids_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'bids cannot be changed once placed; place a new bid instead' USING ERRCODE = '55000';
END
$$;
CREATE OR REPLACE TRIGGER bids_immutable BEFORE UPDATE ON nyop.bids FOR EACH ROW EXECUTE FUNCTION nyop._bids_immutable();

-- What a provider sees of the bids on its offerings: price, levels, status --
-- not the buyer's weights, column list or scope ("protect the buyer").
CREATE OR REPLACE VIEW nyop.provider_bids WITH (security_barrier) AS
SELECT b.bid_id, b.sold AS offering, b.buyer, b.bid, b.status,
       (b.quote->>'cost')::numeric AS cost,
       (SELECT jsonb_object_agg(k, v - 'utility') FROM jsonb_each(b.quote->'levels') AS l(k, v)) AS levels,
       b.quote->>'delay' AS delay, (b.quote->>'completeness_target')::float8 AS completeness_target,
       b.placed_at
FROM nyop.bids b JOIN nyop.offerings o ON o.name = b.sold
WHERE pg_has_role(current_user, o.provider, 'USAGE');
COMMENT ON VIEW nyop.provider_bids IS 'Bids on the offerings you provide (without the buyers'' preferences, columns or scope)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_add_buyer(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'nyop_add_buyer: role must be given' USING ERRCODE = '22023';
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE oid = role) THEN
        RAISE EXCEPTION 'nyop_add_buyer: % is a superuser; buyers must be ordinary roles', role USING ERRCODE = '22023';
    END IF;
    INSERT INTO nyop.buyers (buyer) VALUES (role) ON CONFLICT DO NOTHING;
    EXECUTE format('GRANT USAGE ON SCHEMA nyop, nyop_views TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT (offering, bid, preferences, columns, scope, solver) ON nyop.bids TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._call_definer(text, jsonb), nyop._unwrap(jsonb), nyop._solve_mckp(float8[], float8[], float8, text), '
                   '@extschema@.nyop_quote(text, numeric, jsonb, text[], text, text), '
                   '@extschema@.nyop_explain(text, numeric, jsonb, text[], text, text), '
                   '@extschema@.nyop_quality(text, text), '
                   '@extschema@.nyop_solve_mckp(float8[], float8[], float8, text) TO %s', role);
    PERFORM nyop._grant_previews(role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_buyer(regrole) IS 'Let a role quote and bid; it will read its own bids and views only';

CREATE OR REPLACE FUNCTION @extschema@.nyop_remove_buyer(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    DELETE FROM nyop.buyers WHERE buyer = role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'nyop_remove_buyer: % is not a buyer', role USING ERRCODE = '42704';
    END IF;
    FOR v IN SELECT p.view FROM nyop.purchases p WHERE p.buyer = role LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE ALL ON nyop.bids FROM %s', role);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION nyop._call_definer(text, jsonb), nyop._unwrap(jsonb), nyop._solve_mckp(float8[], float8[], float8, text), '
                   '@extschema@.nyop_quote(text, numeric, jsonb, text[], text, text), '
                   '@extschema@.nyop_explain(text, numeric, jsonb, text[], text, text), '
                   '@extschema@.nyop_quality(text, text), '
                   '@extschema@.nyop_solve_mckp(float8[], float8[], float8, text) FROM %s', role);
    FOR v IN SELECT p.view FROM nyop.previews p LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE USAGE ON SCHEMA nyop, nyop_views FROM %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_remove_buyer(regrole) IS 'Stop a role from bidding; it loses access to its views (its bids are kept)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_add_provider(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'nyop_add_provider: role must be given' USING ERRCODE = '22023';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA nyop, nyop_views TO %s', role);
    EXECUTE format('GRANT SELECT ON nyop.provider_bids, nyop.seller_analytics, nyop.seller_weights TO %s', role);
    EXECUTE format('GRANT SELECT, DELETE, INSERT (offering) ON nyop.previews TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._call_definer(text, jsonb), nyop._unwrap(jsonb), '
                   'nyop._provides(regrole, text), '
                   '@extschema@.nyop_quality(text, text), @extschema@.nyop_audit(text), '
                   '@extschema@.nyop_publish_preview(text), @extschema@.nyop_unpublish_preview(text) TO %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_provider(regrole) IS
    'Let a role see bids and analytics of the offerings it provides, audit them and publish previews';
