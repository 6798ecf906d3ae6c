-- Market features beyond the paper: explain, audit, commission, free previews, seller analytics.

CREATE OR REPLACE FUNCTION nyop._provides(role regrole, offering text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.name = offering AND pg_has_role(role, o.provider, 'USAGE'))
$$;
COMMENT ON FUNCTION nyop._provides(regrole, text) IS 'Whether a role provides an offering (for row-level security)';

CREATE OR REPLACE FUNCTION @extschema@.nyop_explain(offering text, bid numeric, preferences jsonb,
    columns text[] DEFAULT NULL, scope text DEFAULT NULL, solver text DEFAULT 'exact') RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nyop._priced('explain', offering, bid, preferences, columns, scope, solver)
$$;
COMMENT ON FUNCTION @extschema@.nyop_explain(text, numeric, jsonb, text[], text, text) IS
    'The quote plus what more would buy: per criterion the next level, its price and the bid that reaches it';

CREATE OR REPLACE FUNCTION @extschema@.nyop_audit(offering text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT nyop._unwrap(nyop._call_definer('audit_offering', jsonb_build_object('offering', offering)))
$$;
COMMENT ON FUNCTION @extschema@.nyop_audit(text) IS
    'Arbitrage audit of an offering''s price table: monotone levels, no cheaper combination of versions';

CREATE OR REPLACE FUNCTION @extschema@.nyop_set_commission(rate numeric) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF rate IS NULL OR rate IN ('NaN', 'Infinity', '-Infinity') OR rate < 0 OR rate >= 1 THEN
        RAISE EXCEPTION 'nyop_set_commission: rate must be in [0, 1), got %', coalesce(rate::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO nyop.settings VALUES ('commission_rate', to_jsonb(rate))
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_set_commission(numeric) IS
    'Operator: the share of each accepted bid that goes to the operator (recorded per bid)';

-- Free previews: INSERT publishes (the trigger builds the view), DELETE withdraws.
CREATE OR REPLACE FUNCTION nyop._publish_preview() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
BEGIN
    IF NEW.view IS NOT NULL THEN          -- restored by pg_restore: already built
        RETURN NEW;
    END IF;
    -- published_by defaults to the inserting role and providers may not set it (column
    -- privileges); row-level security checks it again after this trigger.
    IF NOT (nyop._provides(NEW.published_by, NEW.offering)
            OR (SELECT rolsuper FROM pg_roles WHERE oid = NEW.published_by)) THEN
        RAISE EXCEPTION 'permission denied: % does not provide offering %', NEW.published_by, quote_literal(NEW.offering)
            USING ERRCODE = '42501';
    END IF;
    r := nyop._unwrap(nyop._call('publish_preview', jsonb_build_object('offering', NEW.offering)));
    NEW.view := (r->>'view')::oid::regclass;
    NEW.threshold := (r->>'threshold')::bigint;
    NEW.quote := r->'quote';
    NEW.published_at := now();
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER publish_preview BEFORE INSERT ON nyop.previews
    FOR EACH ROW EXECUTE FUNCTION nyop._publish_preview();

CREATE OR REPLACE FUNCTION nyop._unpublish_preview() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('DROP VIEW IF EXISTS %s', OLD.view);
    RETURN OLD;
END
$$;
CREATE OR REPLACE TRIGGER unpublish_preview AFTER DELETE ON nyop.previews
    FOR EACH ROW EXECUTE FUNCTION nyop._unpublish_preview();

CREATE OR REPLACE FUNCTION @extschema@.nyop_publish_preview(offering text) RETURNS regclass
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO nyop.previews (offering) VALUES (offering) RETURNING view
$$;
COMMENT ON FUNCTION @extschema@.nyop_publish_preview(text) IS
    'Provider: publish the offering''s lowest version as a free preview readable by every buyer';

CREATE OR REPLACE FUNCTION @extschema@.nyop_unpublish_preview(offering text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM nyop.previews p WHERE p.offering = nyop_unpublish_preview.offering;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no preview of % is published (or it is not yours)', quote_literal(offering)
            USING ERRCODE = '42704';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_unpublish_preview(text) IS 'Provider: withdraw a free preview';

-- Grants a buyer SELECT on every published preview (called by nyop_add_buyer). The rows are
-- locked: nyop_unpublish_preview deletes the row, then drops the view (a GRANT on a view being
-- dropped fails with XX000 "tuple concurrently updated").
CREATE OR REPLACE FUNCTION nyop._grant_previews(role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT p.view FROM nyop.previews p FOR KEY SHARE LOOP
        EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
    END LOOP;
END
$$;

-- Seller analytics: per offering and day, for the offering's provider (and the operator).
-- "Revenue greedy leaves on the table": of what buyers paid, what the paper's greedy
-- would not have turned into quality (its residual minus the exact solver's).
CREATE OR REPLACE VIEW nyop.seller_analytics WITH (security_barrier) AS
SELECT o.name AS offering, date_trunc('day', b.placed_at) AS period,
       count(*) AS bids,
       count(*) FILTER (WHERE b.bid < o.ask_price) AS bids_below_ask,
       count(*) FILTER (WHERE b.status = 'accepted') AS accepted,
       round(count(*) FILTER (WHERE b.status = 'accepted')::numeric / count(*), 4) AS acceptance_rate,
       coalesce(sum(b.bid) FILTER (WHERE b.status = 'accepted'), 0) AS revenue,
       coalesce(sum(b.provider_share) FILTER (WHERE b.status = 'accepted'), 0) AS provider_revenue,
       coalesce(sum(b.operator_share) FILTER (WHERE b.status = 'accepted'), 0) AS operator_revenue,
       -- Utilities and the greedy comparison derive from buyers' weights: like seller_weights,
       -- shown only for closed days with at least 5 distinct buyers accepted, so no single
       -- buyer's figures can be read off, not even by differencing.
       CASE WHEN date_trunc('day', b.placed_at) < date_trunc('day', now())
                 AND count(DISTINCT b.buyer) FILTER (WHERE b.status = 'accepted') >= 5 THEN
           sum((b.quote->>'utility')::float8) FILTER (WHERE b.status = 'accepted') END AS utility_delivered,
       CASE WHEN date_trunc('day', b.placed_at) < date_trunc('day', now())
                 AND count(DISTINCT b.buyer) FILTER (WHERE b.status = 'accepted') >= 5 THEN
           sum((b.quote->'greedy'->>'utility')::float8) FILTER (WHERE b.status = 'accepted') END AS utility_greedy,
       CASE WHEN date_trunc('day', b.placed_at) < date_trunc('day', now())
                 AND count(DISTINCT b.buyer) FILTER (WHERE b.status = 'accepted') >= 5 THEN
           sum((b.quote->'greedy'->>'residual')::float8 - (b.quote->>'residual')::float8)
               FILTER (WHERE b.status = 'accepted') END AS revenue_greedy_leaves_on_table
FROM nyop.bids b JOIN nyop.offerings o ON o.name = coalesce(b.sold, b.offering)
WHERE pg_has_role(current_user, o.provider, 'USAGE')
GROUP BY o.name, date_trunc('day', b.placed_at);
COMMENT ON VIEW nyop.seller_analytics IS
    'Per offering and day: bids, acceptance, revenue and shares; utilities only for closed days over 5+ buyers';

-- Buyers' revealed weights, per offering, criterion and closed day, only over at least 5
-- buyers that day (each buyer's bids averaged first): no single buyer's weights can be read,
-- not even by differencing — a day is shown only once it is over, and never changes after.
CREATE OR REPLACE VIEW nyop.seller_weights WITH (security_barrier) AS
WITH per_bid AS (
    SELECT coalesce(b.sold, b.offering) AS offering, date_trunc('day', b.placed_at) AS period, b.buyer,
           w.key AS criterion, w.value::numeric / nullif(t.total, 0) AS weight
    FROM nyop.bids b
    CROSS JOIN LATERAL (SELECT sum(value::numeric) AS total FROM jsonb_each_text(b.preferences)) t
    CROSS JOIN LATERAL jsonb_each_text(b.preferences) w
    WHERE b.placed_at < date_trunc('day', now())
), per_buyer AS (
    SELECT offering, period, buyer, criterion, avg(weight) AS weight FROM per_bid GROUP BY 1, 2, 3, 4
)
SELECT p.offering, p.period, p.criterion, count(*) AS buyers, round(avg(p.weight), 6)::float8 AS mean_weight,
       round(stddev_samp(p.weight), 6)::float8 AS stddev_weight
FROM per_buyer p JOIN nyop.offerings o ON o.name = p.offering
WHERE pg_has_role(current_user, o.provider, 'USAGE')
GROUP BY p.offering, p.period, p.criterion
HAVING count(*) >= 5;
COMMENT ON VIEW nyop.seller_weights IS 'Distribution of buyers'' revealed weights (closed days, groups of at least 5 buyers)';
