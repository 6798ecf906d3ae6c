-- Delivery: history capture, the bid trigger, the provider's view of bids, buyer and
-- provider roles. Tables and policies are in incremental/; this file is idempotent.

-- The trigger functions a reinstall replaced (``stale``: those of the triggers it dropped; named
-- after another OID once restored by pg_restore), dropped once no trigger uses them. Shared by
-- the history capture and the maintained measures (055).
CREATE OR REPLACE FUNCTION nyop._drop_stale_functions(stale oid[], prefix text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.oid = ANY(coalesce(stale, '{}')) AND p.pronamespace = 'nyop'::regnamespace
               AND starts_with(p.proname, prefix) AND p.oid NOT IN (SELECT g.tgfoid FROM pg_trigger g) LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;

-- History capture: statement-level, set-based, one INSERT per statement, with the TABLE
-- OWNER's rights. Each sold table gets its own three trigger functions, owned by the table's
-- owner (SECURITY DEFINER as that owner): whatever provider code a write can reach -- casts,
-- domains, operators of the provider's types -- runs as the provider, never as nyop or as
-- the writer. The owner may INSERT into the history (nothing else); it cannot replace the
-- functions (no CREATE on schema nyop), and the guards (070-guards.sql) refuse dropping,
-- disabling or altering them. Columns: those of the history that the table still has.
CREATE OR REPLACE FUNCTION nyop._install_capture(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $$
DECLARE
    h record;
    owner text;
    owner_id oid;
    cols text;
    ocols text;
    keys text;
    fn text;
    marked boolean;
    stale oid[];
    t regclass;
BEGIN
    SELECT hs.history, hs.key_columns, hs.last_updated INTO h FROM nyop.histories hs WHERE hs.relation = rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% keeps no history', rel USING ERRCODE = '42704';
    END IF;
    SELECT quote_ident(r.rolname), r.oid INTO owner, owner_id FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
     WHERE c.oid = rel;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('o.' || quote_ident(a.attname), ', ' ORDER BY a.attnum)
      INTO cols, ocols
      FROM pg_attribute a
     WHERE a.attrelid = h.history AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN ('nyop_valid_to', 'nyop_next_lu')
       AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = rel AND b.attname = a.attname
                   AND b.attnum > 0 AND NOT b.attisdropped);
    -- NOT NULL keys (required at registration since 0.3.0) pair with "=", which PostgreSQL can
    -- hash-join: linear in the rows of a statement; IS NOT DISTINCT FROM only nested-loops
    SELECT string_agg(format(CASE WHEN a.attnotnull THEN 'o.%I = n.%I' ELSE 'o.%I IS NOT DISTINCT FROM n.%I' END,
                             k, k), ' AND ' ORDER BY n)
      INTO keys FROM unnest(h.key_columns) WITH ORDINALITY AS u(k, n)
      LEFT JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.k;
    -- our own DDL on a sold table: the guards let this transaction through
    INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
    -- functions of the triggers being replaced (named after another OID once restored by pg_restore)
    SELECT array_agg(g.tgfoid) INTO stale FROM pg_trigger g
     WHERE g.tgrelid = rel AND g.tgname IN ('nyop_history_update', 'nyop_history_delete', 'nyop_history_truncate');
    -- granted only when missing (every re-registration runs this): a GRANT rewrites the schema's
    -- catalog row, and one racing nyop_add_buyer / nyop_remove_buyer fails with XX000 "tuple
    -- concurrently updated"
    IF NOT has_schema_privilege(owner_id, 'nyop', 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', owner);
    END IF;
    IF NOT has_table_privilege(owner_id, h.history, 'INSERT') THEN
        EXECUTE format('GRANT INSERT ON %s TO %s', h.history, owner);
    END IF;
    FOR fn IN SELECT unnest(ARRAY['update', 'delete', 'truncate']) LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION nyop.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                       'SET search_path = pg_catalog, pg_temp AS %L',
                       'capture_' || rel::oid || '_' || fn,
                       'BEGIN ' || CASE fn
                           WHEN 'update' THEN format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) '
                                                     'SELECT %s, nyop.clock(), n.%I FROM nyop_old o '
                                                     'LEFT JOIN nyop_new n ON %s', h.history, cols, ocols,
                                                     h.last_updated, keys)
                           WHEN 'delete' THEN format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) '
                                                     'SELECT %s, nyop.clock(), NULL FROM nyop_old',
                                                     h.history, cols, cols)
                           -- TRUNCATE of a partitioned table fires the trigger of every partition
                           -- too: each keeps its own rows (ONLY), the parent holds none
                           ELSE format('EXECUTE format(%L, TG_RELID::regclass)',
                                       replace(format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) '
                                                      'SELECT %s, nyop.clock(), NULL FROM ONLY ',
                                                      h.history, cols, cols), '%', '%%') || '%s')
                       END || '; RETURN NULL; END');
        EXECUTE format('ALTER FUNCTION nyop.%I() OWNER TO %s', 'capture_' || rel::oid || '_' || fn, owner);
        EXECUTE format('REVOKE ALL ON FUNCTION nyop.%I() FROM PUBLIC', 'capture_' || rel::oid || '_' || fn);
        -- made by an extension script (the 0.3.0 update): it belongs with the table, not the
        -- extension, so that pg_dump keeps it as it keeps the table's triggers and history
        IF EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
                     AND d.objid = to_regprocedure(format('nyop.%I()', 'capture_' || rel::oid || '_' || fn))) THEN
            EXECUTE format('ALTER EXTENSION nyop DROP FUNCTION nyop.%I()', 'capture_' || rel::oid || '_' || fn);
        END IF;
    END LOOP;
    -- The table and, for a partitioned table, every partition at every level: a statement fires
    -- the statement triggers of the table it names only (with the rows of all its partitions).
    FOR t IN SELECT rel UNION ALL SELECT p.relid FROM pg_partition_tree(rel) p WHERE p.relid <> rel LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_update ON %s', t);
        EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_delete ON %s', t);
        EXECUTE format('DROP TRIGGER IF EXISTS nyop_history_truncate ON %s', t);
        EXECUTE format('CREATE TRIGGER nyop_history_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS nyop_old '
                       'NEW TABLE AS nyop_new FOR EACH STATEMENT EXECUTE FUNCTION nyop.%I()',
                       t, 'capture_' || rel::oid || '_update');
        EXECUTE format('CREATE TRIGGER nyop_history_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS nyop_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION nyop.%I()', t, 'capture_' || rel::oid || '_delete');
        EXECUTE format('CREATE TRIGGER nyop_history_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION nyop.%I()', t, 'capture_' || rel::oid || '_truncate');
    END LOOP;
    PERFORM nyop._drop_stale_functions(stale, 'capture_');
    IF marked THEN
        DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
    END IF;
END
$$;

-- Partitions follow their sold table (ddl_command_end of CREATE TABLE … PARTITION OF, ALTER
-- TABLE … ATTACH / DETACH PARTITION): a new partition gets the capture; a partition that left
-- the tree takes its rows out of the offering, so they are kept as deleted versions, and loses
-- nyop's triggers. (Dropping an attached partition is refused by the drop guard: its capture
-- triggers would go with it; detach it first.)
CREATE OR REPLACE FUNCTION nyop._follow_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h record;
    gone regclass;
    cols text;
    marked boolean;
BEGIN
    FOR h IN SELECT DISTINCT hs.relation, hs.history FROM nyop.histories hs
             JOIN pg_class c ON c.oid = hs.relation AND c.relkind = 'p'
             WHERE EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() e
                           WHERE e.classid = 'pg_class'::regclass
                             AND (e.objid = hs.relation
                                  OR e.objid IN (SELECT p.relid FROM pg_partition_tree(hs.relation) p))) LOOP
        IF EXISTS (SELECT 1 FROM pg_partition_tree(h.relation) p
                   WHERE NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = p.relid
                                     AND g.tgname = 'nyop_history_update')) THEN
            PERFORM nyop._install_capture(h.relation);
        END IF;
        FOR gone IN SELECT DISTINCT g.tgrelid::regclass FROM pg_trigger g
                    WHERE g.tgname = 'nyop_history_update'
                      AND g.tgfoid = (SELECT x.tgfoid FROM pg_trigger x WHERE x.tgrelid = h.relation
                                      AND x.tgname = 'nyop_history_update')
                      AND g.tgrelid NOT IN (SELECT p.relid FROM pg_partition_tree(h.relation) p) LOOP
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
              FROM pg_attribute a
             WHERE a.attrelid = h.history AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname NOT IN ('nyop_valid_to', 'nyop_next_lu')
               AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = gone AND b.attname = a.attname
                           AND b.attnum > 0 AND NOT b.attisdropped);
            INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
            EXECUTE format('INSERT INTO %s (%s, nyop_valid_to, nyop_next_lu) SELECT %s, nyop.clock(), NULL FROM ONLY %s',
                           h.history, cols, cols, gone);
            EXECUTE format('DROP TRIGGER nyop_history_update ON %s; DROP TRIGGER IF EXISTS nyop_history_delete ON %s; '
                           'DROP TRIGGER IF EXISTS nyop_history_truncate ON %s', gone, gone, gone);
            IF marked THEN
                DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
            END IF;
        END LOOP;
    END LOOP;
END
$$;
DROP EVENT TRIGGER IF EXISTS nyop_follow_partitions;
CREATE EVENT TRIGGER nyop_follow_partitions ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION nyop._follow_partitions();

-- Capture made before 0.3.0 ran with nyop's rights through shared functions: move every
-- history to its owner's capture, then drop those functions.
DO $$
DECLARE
    r regclass;
BEGIN
    IF to_regprocedure('nyop._capture_update()') IS NOT NULL THEN
        FOR r IN SELECT h.relation FROM nyop.histories h LOOP
            PERFORM nyop._install_capture(r);
        END LOOP;
    END IF;
END
$$;
DROP FUNCTION IF EXISTS nyop._capture_update();
DROP FUNCTION IF EXISTS nyop._capture_delete();
DROP FUNCTION IF EXISTS nyop._capture_truncate();

-- pg_restore brings purchases placed in another cluster: their transaction IDs mean nothing
-- here (and may lie in this cluster's future). A restored purchase was committed where it was
-- placed, so it is readable: NULL. Only nyop's bid path writes purchases.
CREATE OR REPLACE FUNCTION nyop._purchase_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.placed_xid IS DISTINCT FROM pg_current_xact_id() THEN
        NEW.placed_xid := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER purchase_restored BEFORE INSERT ON nyop.purchases
    FOR EACH ROW EXECUTE FUNCTION nyop._purchase_restored();

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

-- What a buyer may execute: the one list nyop_add_buyer grants and nyop_remove_buyer revokes.
CREATE OR REPLACE FUNCTION nyop._buyer_functions() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'nyop._call_definer(text, jsonb), nyop._call_buyer(text, jsonb), nyop._unwrap(jsonb), '
           'nyop._solve_mckp(bytea, bytea, float8, text), '
           'nyop._priced(text, text, numeric, jsonb, text[], text, text), '
           '@extschema@.nyop_quote(text, numeric, jsonb, text[], text, text), '
           '@extschema@.nyop_explain(text, numeric, jsonb, text[], text, text), '
           '@extschema@.nyop_quality(text, text), '
           '@extschema@.nyop_solve_mckp(float8[], float8[], float8, text)'
$$;

CREATE OR REPLACE FUNCTION @extschema@.nyop_add_buyer(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    -- role changes one at a time: concurrent GRANTs on one schema fail with "tuple concurrently
    -- updated"; bids lock the buyer's row, so a removal waits for them and they for it
    LOCK TABLE nyop.buyers IN SHARE ROW EXCLUSIVE MODE;
    IF role IS NULL THEN
        RAISE EXCEPTION 'nyop_add_buyer: role must be given' USING ERRCODE = '22023';
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE oid = role) THEN
        RAISE EXCEPTION 'nyop_add_buyer: % is a superuser; buyers must be ordinary roles', role USING ERRCODE = '22023';
    END IF;
    INSERT INTO nyop.buyers (buyer) VALUES (role) ON CONFLICT DO NOTHING;
    EXECUTE format('GRANT USAGE ON SCHEMA nyop, nyop_views TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT (offering, bid, preferences, columns, scope, solver) ON nyop.bids TO %s', role);
    EXECUTE format('GRANT SELECT ON nyop.my_purchases, nyop.market TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', nyop._buyer_functions(), role);
    PERFORM nyop._grant_previews(role);
    -- re-added: what it bought before its removal is readable again (its purchases stand; the
    -- removal only suspended them); the offerings locked as bids and removals lock them, so a
    -- forced drop in flight ends first
    PERFORM 1 FROM nyop.offerings o
     WHERE o.name IN (SELECT p.offering FROM nyop.purchases p WHERE p.buyer = role AND p.superseded_by IS NULL)
     ORDER BY o.name FOR KEY SHARE;
    FOR v IN SELECT p.view FROM nyop.purchases p WHERE p.buyer = role AND p.superseded_by IS NULL LOOP
        IF NOT has_table_privilege(role, v, 'SELECT') THEN
            EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_buyer(regrole) IS 'Let a role quote and bid; it will read its own bids and views only';

CREATE OR REPLACE FUNCTION @extschema@.nyop_remove_buyer(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
BEGIN
    -- role changes one at a time: concurrent GRANTs on one schema fail with "tuple concurrently
    -- updated"; bids lock the buyer's row, so a removal waits for them and they for it
    LOCK TABLE nyop.buyers IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM nyop.buyers WHERE buyer = role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'nyop_remove_buyer: % is not a buyer', role USING ERRCODE = '42704';
    END IF;
    -- the offerings of its views, in the order bids lock them (buyer, then offering): a forced
    -- nyop_drop_offering in flight drops those views first (a REVOKE on one fails with XX000
    -- "tuple concurrently deleted"), a later one waits; the loop below then reads what is left
    PERFORM 1 FROM nyop.offerings o
     WHERE o.name IN (SELECT p.offering FROM nyop.purchases p WHERE p.buyer = role)
     ORDER BY o.name FOR KEY SHARE;
    FOR v IN SELECT p.view FROM nyop.purchases p WHERE p.buyer = role LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE ALL ON nyop.bids, nyop.my_purchases, nyop.market FROM %s', role);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', nyop._buyer_functions(), role);
    -- (locked: nyop_unpublish_preview deletes the row, then drops the view)
    FOR v IN SELECT p.view FROM nyop.previews p FOR KEY SHARE LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', v, role);
    END LOOP;
    EXECUTE format('REVOKE USAGE ON SCHEMA nyop, nyop_views FROM %s', role);
    -- a privilege is one ACL entry whatever the reasons it was granted for: what the role also
    -- holds as a provider, or as the owner of a sold table (whose capture and measure triggers
    -- run as it and write into nyop), is not a buyer's to lose
    -- (its own grant, read from the ACL: has_table_privilege would also count a provider role it is
    -- merely a member of, and re-granting that to it directly would outlive the membership)
    IF EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid = 'nyop.provider_bids'::regclass AND a.grantee = role AND a.privilege_type = 'SELECT') THEN
        PERFORM @extschema@.nyop_add_provider(role);
    ELSIF EXISTS (SELECT 1 FROM nyop.histories hs, pg_partition_tree(hs.relation) t
                  JOIN pg_class c ON c.oid = t.relid WHERE c.relowner = role)
       OR EXISTS (SELECT 1 FROM nyop.offerings o JOIN pg_class c ON c.oid = o.relation WHERE c.relowner = role) THEN
        EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', role);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_remove_buyer(regrole) IS 'Stop a role from bidding; it loses access to its views until it is added again (its bids and purchases are kept)';

-- A buyer's own purchases with their terms: the only place a purchase's price and levels show
-- (view COMMENTs and definitions, readable by every role, carry none of them).
CREATE OR REPLACE VIEW nyop.my_purchases WITH (security_barrier) AS
SELECT p.bid_id, p.offering, p.view,
       coalesce((b.quote->>'paid_total')::numeric, b.bid) AS paid_total,
       (SELECT jsonb_object_agg(k, v) FROM jsonb_each(b.quote->'levels') AS l(k, v)) AS levels,
       coalesce(p.delay, make_interval(secs => (b.quote->>'delay_seconds')::float8)) AS delay,
       (b.quote->>'completeness_target')::float8 AS completeness_target,
       ARRAY(SELECT jsonb_array_elements_text(coalesce(b.quote->'view_columns', b.quote->'columns'))) AS columns,
       b.scope, p.created_at AS purchased_at, p.buyer
FROM nyop.purchases p JOIN nyop.bids b USING (bid_id)
WHERE p.superseded_by IS NULL AND pg_has_role(current_user, p.buyer, 'USAGE');
COMMENT ON VIEW nyop.my_purchases IS 'Your purchases (current versions) with their terms: price paid, levels, delay, completeness, columns, scope';

CREATE OR REPLACE FUNCTION @extschema@.nyop_add_provider(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- role changes one at a time: concurrent GRANTs on one schema fail with "tuple concurrently
    -- updated"; bids lock the buyer's row, so a removal waits for them and they for it
    LOCK TABLE nyop.buyers IN SHARE ROW EXCLUSIVE MODE;
    IF role IS NULL THEN
        RAISE EXCEPTION 'nyop_add_provider: role must be given' USING ERRCODE = '22023';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA nyop, nyop_views TO %s', role);
    EXECUTE format('GRANT SELECT ON nyop.provider_bids, nyop.seller_analytics, nyop.seller_weights, nyop.market TO %s', role);
    EXECUTE format('GRANT SELECT, DELETE, INSERT (offering) ON nyop.previews TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._call_definer(text, jsonb), nyop._unwrap(jsonb), '
                   'nyop._provides(regrole, text), '
                   '@extschema@.nyop_quality(text, text), @extschema@.nyop_audit(text), '
                   '@extschema@.nyop_publish_preview(text), @extschema@.nyop_unpublish_preview(text) TO %s', role);
END
$$;
COMMENT ON FUNCTION @extschema@.nyop_add_provider(regrole) IS
    'Let a role see bids and analytics of the offerings it provides, audit them and publish previews';

-- A purchase that hides rows (a delay, a scope) reads them through a security_barrier view of its
-- own, nyop.rows_<bid_id> (plpython/nyop_server/delivery.py, ROWS_SCHEMA): when its view is
-- dropped (nyop_drop_offering, an operator's DROP VIEW), that rows view goes too, once nothing
-- reads it. The purchases of the dropped view name it; failing them (the purchase row deleted
-- first), every rows view that no view reads.
CREATE OR REPLACE FUNCTION nyop._drop_unread_rows() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass;
    dropped oid[];
BEGIN
    SELECT array_agg(d.objid) INTO dropped FROM pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'view'
      AND d.schema_name = 'nyop_views';
    IF dropped IS NULL THEN
        RETURN;
    END IF;
    FOR v IN
        WITH named AS (
            SELECT to_regclass(format('nyop.%I', 'rows_' || p.bid_id)) AS r
            FROM nyop.purchases p                  -- (a replaced version's went when it was replaced)
            WHERE p.view = ANY (dropped::regclass[]) AND p.superseded_by IS NULL),
        candidates AS (
            SELECT r FROM named WHERE r IS NOT NULL
            UNION
            SELECT c.oid::regclass FROM pg_class c
            WHERE NOT EXISTS (SELECT 1 FROM named)
              AND c.relnamespace = 'nyop'::regnamespace AND c.relkind = 'v' AND c.relname ~ '^rows_[0-9]+$')
        SELECT r FROM candidates
        WHERE NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid
                          WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                            AND d.refobjid = r AND w.ev_class <> r)
    LOOP
        EXECUTE format('DROP VIEW IF EXISTS %s', v);
    END LOOP;
END
$$;
DROP EVENT TRIGGER IF EXISTS nyop_drop_unread_rows;
CREATE EVENT TRIGGER nyop_drop_unread_rows ON sql_drop WHEN TAG IN ('DROP VIEW')
    EXECUTE FUNCTION nyop._drop_unread_rows();
