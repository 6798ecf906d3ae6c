-- 0.2.0: market features -- operator commission, upgrades of purchases, free previews.

-- Operator settings (commission_rate, …): one jsonb value per key; a missing key means
-- its default (no default rows: pg_dump restores exactly what the operator set).
CREATE TABLE nyop.settings (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('nyop.settings', '');

-- Each accepted bid records who gets what.
ALTER TABLE nyop.bids ADD COLUMN provider_share numeric, ADD COLUMN operator_share numeric;

-- An upgrade replaces a purchase's view in place; the purchase it replaces is kept, superseded.
ALTER TABLE nyop.purchases ADD COLUMN superseded_by bigint REFERENCES nyop.bids DEFERRABLE INITIALLY DEFERRED;
CREATE UNIQUE INDEX purchases_current_view ON nyop.purchases (view) WHERE superseded_by IS NULL;

-- Free previews: the lowest version of an offering, readable by every buyer.
CREATE TABLE nyop.previews (
    offering  text PRIMARY KEY REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    view      regclass NOT NULL,
    published_by regrole NOT NULL DEFAULT quote_ident(current_user)::regrole,
    threshold bigint,
    quote     jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('nyop.previews', '');

-- A purchase's view masks cells (threshold set) or delivers them all. 0.1.0 kept NULL for
-- "keep none"; 0.2.0 writes the smallest int8 for that and NULL only for unmasked views.
ALTER TABLE nyop.purchases ADD COLUMN masked boolean NOT NULL DEFAULT false;
UPDATE nyop.purchases SET masked = pg_get_viewdef(view) LIKE '%hashint8extended%';
UPDATE nyop.purchases SET threshold = -9223372036854775808 WHERE masked AND threshold IS NULL;

-- Previews are published by providers through INSERT (RLS says whose offerings). The
-- policy's test is defined here because policies need it now; idempotent/060 keeps it current.
CREATE FUNCTION nyop._provides(role regrole, offering text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.name = offering AND pg_has_role(role, o.provider, 'USAGE'))
$$;
ALTER TABLE nyop.previews ENABLE ROW LEVEL SECURITY;
CREATE POLICY provider_publishes ON nyop.previews FOR ALL
    USING (nyop._provides(current_user::regrole, offering))
    WITH CHECK (nyop._provides(current_user::regrole, offering));

-- Purchases hold their offering (nyop_drop_offering refuses with a clear message first).
ALTER TABLE nyop.purchases DROP CONSTRAINT purchases_offering_fkey,
    ADD CONSTRAINT purchases_offering_fkey FOREIGN KEY (offering) REFERENCES nyop.offerings
        ON UPDATE CASCADE ON DELETE RESTRICT;

-- nyop_drop_offering gained a force argument.
DROP FUNCTION IF EXISTS @extschema@.nyop_drop_offering(text);

-- Role names that need quoting ("Airline"): current_user::regrole would fold or fail.
ALTER TABLE nyop.bids ALTER COLUMN buyer SET DEFAULT quote_ident(current_user)::regrole;
DROP POLICY buyer_reads_own ON nyop.bids;
DROP POLICY buyer_bids_as_itself ON nyop.bids;
CREATE POLICY buyer_reads_own ON nyop.bids FOR SELECT USING (buyer = quote_ident(current_user)::regrole);
CREATE POLICY buyer_bids_as_itself ON nyop.bids FOR INSERT WITH CHECK (buyer = quote_ident(current_user)::regrole);
DROP POLICY provider_publishes ON nyop.previews;
CREATE POLICY provider_publishes ON nyop.previews FOR ALL
    USING (nyop._provides(quote_ident(current_user)::regrole, offering))
    WITH CHECK (nyop._provides(quote_ident(current_user)::regrole, offering));

-- nyop_drop_offering marks its own transaction here; the drop guard lets only that through
-- (a setting would not do: any session can set one).
CREATE TABLE nyop.drop_marks (xid xid8 PRIMARY KEY);

-- The bid trigger looks up what a buyer holds of an offering with the same scope (an
-- upgrade) on every bid; scopes can be long, so the index holds their md5.
CREATE INDEX bids_held ON nyop.bids (buyer, offering, md5(coalesce(scope, ''))) WHERE status = 'accepted';

-- Mask scheme per offering (plpython/nyop_server/delivery.py): offerings masked before 0.2.0
-- keep scheme 1 so that their masks stay nested; new offerings use the cheaper scheme 2.
ALTER TABLE nyop.offering_secrets ADD COLUMN mask_scheme int NOT NULL DEFAULT 1 CHECK (mask_scheme IN (1, 2));
ALTER TABLE nyop.offering_secrets ALTER COLUMN mask_scheme SET DEFAULT 2;

-- Histories made by 0.1.0 copied the base table's NOT NULL constraints (CREATE TABLE … LIKE):
-- a provider who later drops one and stores NULLs must not make its own updates fail.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT h.history, a.attname
             FROM nyop.histories h JOIN pg_attribute a ON a.attrelid = h.history
             WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND a.attname <> 'nyop_valid_to' LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', r.history, r.attname);
    END LOOP;
END
$$;

-- History capture triggers made by 0.1.0 passed the column list comma-joined (names holding
-- commas broke it); re-create them with the prefixed list that 0.2.0's capture expects.
DO $$
DECLARE
    h record;
    cols text;
    ocols text;
    keys text;
BEGIN
    FOR h IN SELECT hs.relation, hs.history, hs.key_columns, hs.last_updated,
                    (SELECT o.columns FROM nyop.offerings o WHERE o.relation = hs.relation LIMIT 1) AS columns
             FROM nyop.histories hs LOOP
        SELECT string_agg(quote_ident(c), ', ' ORDER BY n), string_agg('o.' || quote_ident(c), ', ' ORDER BY n)
          INTO cols, ocols FROM unnest(h.columns) WITH ORDINALITY AS u(c, n);
        SELECT string_agg(format('o.%I IS NOT DISTINCT FROM n.%I', k, k), ' AND ' ORDER BY n)
          INTO keys FROM unnest(h.key_columns) WITH ORDINALITY AS u(k, n);
        EXECUTE format('DROP TRIGGER nyop_history_update ON %s; DROP TRIGGER nyop_history_delete ON %s; '
                       'DROP TRIGGER nyop_history_truncate ON %s', h.relation, h.relation, h.relation);
        EXECUTE format('CREATE TRIGGER nyop_history_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS nyop_old '
                       'NEW TABLE AS nyop_new FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_update(%L, %L, %L, %L, %L)',
                       h.relation, h.history, cols, keys, quote_ident(h.last_updated), ocols);
        EXECUTE format('CREATE TRIGGER nyop_history_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS nyop_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_delete(%L, %L, %L, %L, %L)',
                       h.relation, h.history, cols, keys, quote_ident(h.last_updated), ocols);
        EXECUTE format('CREATE TRIGGER nyop_history_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_truncate(%L, %L, %L, %L, %L)',
                       h.relation, h.history, cols, keys, quote_ident(h.last_updated), ocols);
    END LOOP;
END
$$;
