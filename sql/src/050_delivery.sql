-- Delivery: history capture on base tables, bids with their trigger, purchases
-- (the buyer's tailored views), buyer roles and who sees what.

CREATE SCHEMA nyop_views;
COMMENT ON SCHEMA nyop_views IS 'nyop: buyers'' tailored views, one per accepted bid, readable by that buyer only';
REVOKE ALL ON SCHEMA nyop_views FROM PUBLIC;

-- Which base tables keep history, keyed how. Several offerings may share one.
CREATE TABLE nyop.histories (
    relation     regclass PRIMARY KEY,
    history      regclass NOT NULL,
    key_columns  text[] NOT NULL,
    last_updated text NOT NULL
);

-- Per-offering, per-column seeds of the cell masks, derived from the offering's secret.
CREATE TABLE nyop.mask_seeds (
    offering    text NOT NULL REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    column_name text NOT NULL,
    seed        bigint NOT NULL,
    PRIMARY KEY (offering, column_name)
);

CREATE TABLE nyop.bids (
    bid_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    offering    text NOT NULL,                 -- an offering or a comparison group
    buyer       regrole NOT NULL DEFAULT current_user::regrole,
    bid         numeric NOT NULL,
    preferences jsonb NOT NULL,
    columns     text[],
    scope       text,
    solver      text NOT NULL DEFAULT 'exact',
    status      text CHECK (status IN ('accepted', 'rejected')),
    quote       jsonb,
    view        regclass,
    sold        text,                          -- the offering sold (a member, for a group)
    placed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON nyop.bids (buyer);
CREATE INDEX ON nyop.bids (sold);
COMMENT ON TABLE nyop.bids IS 'Bids: INSERT one to buy; a trigger prices it and, if accepted, creates your tailored view';

-- What an accepted bid bought: its view and the mask threshold chosen at purchase time.
CREATE TABLE nyop.purchases (
    bid_id       bigint PRIMARY KEY REFERENCES nyop.bids ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    offering     text NOT NULL REFERENCES nyop.offerings ON UPDATE CASCADE,
    buyer        regrole NOT NULL,
    view         regclass NOT NULL,
    threshold    bigint,                       -- keep a cell iff its hash <= threshold
    completeness float8,                       -- delivered at purchase time
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Registered buyers.
CREATE TABLE nyop.buyers (
    buyer    regrole PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- History capture: statement-level, set-based, one INSERT per statement.
-- TG_ARGV: history table, column list, key join condition (o = old, n = new), LU column.
CREATE FUNCTION nyop._capture_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) '
                   'SELECT %s, nyop.clock(), n.%s FROM nyop_old o LEFT JOIN nyop_new n ON %s',
                   TG_ARGV[0], TG_ARGV[1],
                   (SELECT string_agg('o.' || c, ', ') FROM unnest(string_to_array(TG_ARGV[1], ',')) c),
                   TG_ARGV[3], TG_ARGV[2]);
    RETURN NULL;
END
$$;

CREATE FUNCTION nyop._capture_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) SELECT %s, nyop.clock(), NULL FROM nyop_old',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
    RETURN NULL;
END
$$;

CREATE FUNCTION nyop._capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) SELECT %s, nyop.clock(), NULL FROM %s',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1], TG_RELID::regclass);
    RETURN NULL;
END
$$;

-- The bid trigger: price the bid with the exact solver and, if accepted, create
-- the buyer's view -- all in the inserting transaction, or nothing at all.
CREATE FUNCTION nyop._place_bid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
BEGIN
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
    NEW.placed_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER place_bid BEFORE INSERT ON nyop.bids FOR EACH ROW EXECUTE FUNCTION nyop._place_bid();

-- Bids are immutable once placed (the view and the price depend on them).
CREATE FUNCTION nyop._bids_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'bids cannot be changed once placed; place a new bid instead' USING ERRCODE = '55000';
END
$$;
CREATE TRIGGER bids_immutable BEFORE UPDATE ON nyop.bids FOR EACH ROW EXECUTE FUNCTION nyop._bids_immutable();

-- Row-level security: a buyer sees and places only its own bids.
ALTER TABLE nyop.bids ENABLE ROW LEVEL SECURITY;
CREATE POLICY buyer_reads_own ON nyop.bids FOR SELECT USING (buyer = current_user::regrole);
CREATE POLICY buyer_bids_as_itself ON nyop.bids FOR INSERT WITH CHECK (buyer = current_user::regrole);

-- What a provider sees of the bids on its offerings: price, levels, status --
-- not the buyer's weights, column list or scope ("protect the buyer").
CREATE VIEW nyop.provider_bids WITH (security_barrier) AS
SELECT b.bid_id, b.sold AS offering, b.buyer, b.bid, b.status,
       (b.quote->>'cost')::numeric AS cost,
       (SELECT jsonb_object_agg(k, v - 'utility') FROM jsonb_each(b.quote->'levels') AS l(k, v)) AS levels,
       b.quote->>'delay' AS delay, (b.quote->>'completeness_target')::float8 AS completeness_target,
       b.placed_at
FROM nyop.bids b JOIN nyop.offerings o ON o.name = b.sold
WHERE pg_has_role(current_user, o.provider, 'USAGE');
COMMENT ON VIEW nyop.provider_bids IS 'Bids on the offerings you provide (without the buyers'' preferences, columns or scope)';

CREATE FUNCTION @extschema@.nyop_add_buyer(role regrole) RETURNS void
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
                   '@extschema@.nyop_quality(text, text), '
                   '@extschema@.nyop_solve_mckp(float8[], float8[], float8, text) TO %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_buyer(regrole) IS 'Let a role quote and bid; it will read its own bids and views only';

CREATE FUNCTION @extschema@.nyop_remove_buyer(role regrole) RETURNS void
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
                   '@extschema@.nyop_quality(text, text), '
                   '@extschema@.nyop_solve_mckp(float8[], float8[], float8, text) FROM %s', role);
    EXECUTE format('REVOKE USAGE ON SCHEMA nyop, nyop_views FROM %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_remove_buyer(regrole) IS 'Stop a role from bidding; it loses access to its views (its bids are kept)';

CREATE FUNCTION @extschema@.nyop_add_provider(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'nyop_add_provider: role must be given' USING ERRCODE = '22023';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', role);
    EXECUTE format('GRANT SELECT ON nyop.provider_bids TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._call_definer(text, jsonb), nyop._unwrap(jsonb), nyop._solve_mckp(float8[], float8[], float8, text), '
                   '@extschema@.nyop_quality(text, text) TO %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_provider(regrole) IS
    'Let a role see the bids on the offerings it provides (offerings are registered by the operator)';
