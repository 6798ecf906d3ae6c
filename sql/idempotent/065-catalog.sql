-- The catalog buyers (and providers) browse: what is for sale, one row per offering.
--
-- Only what an offering makes public anyway: its ask price, its columns with their types and
-- the provider's comments, the criteria it is priced on (with the terms of contractual ones),
-- its measured quality (as nyop_quality, through the same door) and its free preview. Never
-- the reserve price, the provider's weights, the secret, or anything of any bid.
-- Descriptions are the provider's own COMMENTs on the relation and its columns.
-- SELECT is granted by nyop_add_buyer and nyop_add_provider (nothing to PUBLIC: 090).
-- Not a security_barrier view: it filters no rows, and an unselected column (quality) is
-- not computed.
CREATE OR REPLACE VIEW nyop.market AS
SELECT o.name AS offering,
       pg_catalog.obj_description(o.relation, 'pg_class') AS description,
       o.provider::text AS provider,
       o.ask_price,
       o.comparison_group,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', c.col,
                   'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                   'comment', pg_catalog.col_description(o.relation, a.attnum),
                   'key', c.col = ANY (o.key_columns),
                   'scope', c.col = ANY (o.key_columns) OR c.col IS NOT DISTINCT FROM o.last_updated)
                 ORDER BY c.n), '[]'::jsonb)
          FROM unnest(o.columns) WITH ORDINALITY AS c(col, n)
          LEFT JOIN pg_catalog.pg_attribute a
                 ON a.attrelid = o.relation AND a.attname = c.col AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'criterion', k.criterion,
                   'kind', CASE WHEN k.criterion IN ('completeness', 'timeliness', 'amount_of_data')
                                THEN 'measured' ELSE 'contractual' END,
                   'tiers', to_jsonb(k.tiers))
                 ORDER BY k.ordinal), '[]'::jsonb)
          FROM nyop.criteria k WHERE k.offering = o.name) AS criteria,
       @extschema@.nyop_quality(o.name) AS quality,
       (SELECT p.view FROM nyop.previews p WHERE p.offering = o.name) AS preview
FROM nyop.offerings o;

COMMENT ON VIEW nyop.market IS
    'What is for sale: one row per offering, with its columns, criteria, measured quality and free preview';
COMMENT ON COLUMN nyop.market.offering IS 'The offering''s name: nyop_quote(offering, bid, preferences) and INSERT INTO nyop.bids take it';
COMMENT ON COLUMN nyop.market.description IS 'The provider''s description (its COMMENT on the offered relation)';
COMMENT ON COLUMN nyop.market.provider IS 'The providing role';
COMMENT ON COLUMN nyop.market.ask_price IS 'The public ask price: a bid of at least this buys full quality';
COMMENT ON COLUMN nyop.market.comparison_group IS 'Competing offerings share a group; quoting the group quotes its best member';
COMMENT ON COLUMN nyop.market.columns IS
    'jsonb list of {"name", "type", "comment", "key", "scope"}: "scope" marks the columns a scope predicate may use';
COMMENT ON COLUMN nyop.market.criteria IS
    'jsonb list of {"criterion", "kind": "measured"|"contractual", "tiers"}: what preferences may weight';
COMMENT ON COLUMN nyop.market.quality IS 'Measured quality, as nyop_quality(offering)';
COMMENT ON COLUMN nyop.market.preview IS 'The free preview view (readable by every buyer), or NULL';

-- Buyers and providers added by an earlier version may browse it too (providers are the roles
-- nyop_add_provider granted nyop.provider_bids to).
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT b.buyer FROM nyop.buyers b
             UNION
             SELECT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = 'nyop.provider_bids'::regclass AND a.privilege_type = 'SELECT'
                AND a.grantee <> 0 AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT SELECT ON nyop.market TO %s', r);
    END LOOP;
END
$$;
