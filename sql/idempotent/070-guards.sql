-- Guards: DDL that would silently break what buyers bought, or make nyop run a provider's
-- code with someone else's rights, is refused, with a message that says what to do instead.
-- (What happens to existing views is in README.md; what an owner can still do, SECURITY.md.)
--
-- nyop's own DDL on a sold relation (registration re-creating the capture triggers,
-- nyop_drop_offering) marks its transaction in nyop.drop_marks, which only nyop's
-- SECURITY DEFINER code can write; the guards on the capture triggers and their functions
-- let a marked transaction through, and nothing else.

-- Whether nyop may read a relation with its elevated rights: the rule of catalog.SAFE_SQL
-- (reading a table or a materialized view runs nobody's code; a view, a foreign table or a
-- column type owned by an ordinary role would run that role's functions as nyop), with the
-- children checked at every depth (a partitioned child may have a foreign grandchild).
CREATE OR REPLACE FUNCTION nyop._relation_is_safe(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE descendants(oid) AS (
        SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = rel
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN descendants d ON i.inhparent = d.oid)
    SELECT (c.relkind IN ('r', 'p', 'm')
            OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = c.relowner))
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                         AND a.atttypid >= 16384
                         AND NOT (SELECT r.rolsuper FROM pg_type t JOIN pg_roles r ON r.oid = t.typowner
                                  WHERE t.oid = a.atttypid))
       AND NOT EXISTS (SELECT 1 FROM descendants d JOIN pg_class p ON p.oid = d.oid
                       WHERE p.relkind NOT IN ('r', 'p')
                         AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = p.relowner))
    FROM pg_class c WHERE c.oid = rel
$$;
COMMENT ON FUNCTION nyop._relation_is_safe(regclass) IS
    'Whether nyop may read the relation with its elevated rights (no view, foreign table or column type of an ordinary role)';

-- History capture runs with the table owner's rights: per-relation SECURITY DEFINER trigger
-- functions in schema nyop owned by the table's owner, who may INSERT into the history (and
-- use schema nyop). When the table changes owner, so do they. A no-op for the shared
-- functions of earlier versions (nyop._capture_update/_delete/_truncate, owned by nyop).
-- PostgreSQL fires no event trigger on REASSIGN OWNED: it moves table and functions
-- together, and the operator runs this function afterwards to move the grant on the history.
CREATE OR REPLACE FUNCTION nyop._sync_capture_owner(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner oid;
    super boolean;
    f record;
    h record;
    g record;
    tried boolean := false;
    marked boolean;
BEGIN
    SELECT c.relowner, r.rolsuper INTO owner, super
    FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.oid = rel;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF to_regprocedure('nyop._sync_measure_owner(regclass)') IS NOT NULL THEN
        PERFORM nyop._sync_measure_owner(rel);          -- the maintained measures' (055-summaries.sql)
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                   WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_history\_%' AND NOT t.tgisinternal
                     AND p.pronamespace = 'nyop'::regnamespace
                     AND p.proname NOT IN ('_capture_update', '_capture_delete', '_capture_truncate')) THEN
        RETURN;
    END IF;
    FOR f IN SELECT DISTINCT p.oid::regprocedure AS fn
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_history\_%' AND NOT t.tgisinternal
               AND p.pronamespace = 'nyop'::regnamespace
               AND p.proname NOT IN ('_capture_update', '_capture_delete', '_capture_truncate')
               AND p.proowner <> owner
    LOOP
        IF NOT tried THEN
            -- our own ALTER FUNCTION must pass the function guard: a mark of our own, removed below
            -- (a mark already there is the caller's, and stays)
            tried := true;
            INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
        END IF;
        EXECUTE format('ALTER FUNCTION %s OWNER TO %s', f.fn, owner::regrole);
    END LOOP;
    IF marked THEN
        DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
    END IF;
    FOR h IN SELECT hh.history, c.relowner AS howner
             FROM nyop.histories hh JOIN pg_class c ON c.oid = hh.history WHERE hh.relation = rel
    LOOP
        -- the previous owner (or anyone else) no longer writes this history
        FOR g IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                 WHERE c.oid = h.history AND a.privilege_type = 'INSERT'
                   AND a.grantee NOT IN (owner, h.howner)
        LOOP
            EXECUTE format('REVOKE INSERT ON %s FROM %s', h.history,
                           CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
        END LOOP;
        IF NOT super AND owner <> h.howner
           AND NOT EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a
                           WHERE c.oid = h.history AND a.privilege_type = 'INSERT' AND a.grantee = owner) THEN
            EXECUTE format('GRANT INSERT ON %s TO %s', h.history, owner::regrole);
        END IF;
    END LOOP;
    IF NOT super AND NOT has_schema_privilege(owner, 'nyop', 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', owner::regrole);
    END IF;
END
$$;
COMMENT ON FUNCTION nyop._sync_capture_owner(regclass) IS
    'Give a sold table''s history capture to its current owner (after REASSIGN OWNED, which fires no event trigger)';

-- The offerings on a relation, for messages: 'a', 'b'.
CREATE OR REPLACE FUNCTION nyop._offerings_on(rel oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(quote_literal(o.name), ', ' ORDER BY o.name) FROM nyop.offerings o WHERE o.relation = rel
$$;

-- ALTER TABLE (VIEW, MATERIALIZED VIEW, FOREIGN TABLE) on a sold relation, on one of its
-- parents or children, CREATE [FOREIGN] TABLE … INHERITS / PARTITION OF a sold relation, or
-- CREATE OR REPLACE VIEW of a sold view (which must stay a superuser's).
-- After the command, every sold relation it touched must still
--   * have every column an offering sells, under its name (history capture and views name them);
--   * have nyop's capture triggers enabled (tgenabled O or A: DISABLE TRIGGER [name|ALL|USER]
--     and ENABLE REPLICA TRIGGER would stop the history that delayed buyers read);
--   * be logged, children included (unlogged tables are empty on hot standbys and after a crash);
--   * be safe for nyop to read (nyop._relation_is_safe: ALTER COLUMN … TYPE to a type of an
--     ordinary role, ATTACH PARTITION / INHERIT of a foreign table, OWNER TO an ordinary role
--     of a view: 42501);
-- and its capture functions follow its owner (ALTER TABLE … OWNER TO: nyop._sync_capture_owner).
-- A history table must stay logged and owned by a superuser.
CREATE OR REPLACE FUNCTION nyop._guard_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel oid;
    bad record;
    h record;
BEGIN
    FOR rel IN
        WITH RECURSIVE cmd AS (
            SELECT DISTINCT e.objid FROM pg_event_trigger_ddl_commands() e WHERE e.classid = 'pg_class'::regclass),
        up(oid) AS (
            SELECT objid FROM cmd
            UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.oid),
        down(oid) AS (
            SELECT objid FROM cmd
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.oid)
        SELECT DISTINCT o.relation::oid FROM nyop.offerings o
        WHERE o.relation::oid IN (SELECT oid FROM up UNION SELECT oid FROM down)
    LOOP
        SELECT o.name AS offering, o.relation, c AS col INTO bad
        FROM nyop.offerings o CROSS JOIN LATERAL unnest(o.columns) c
        WHERE o.relation = rel
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = o.relation AND a.attname = c
                          AND a.attnum > 0 AND NOT a.attisdropped)
        ORDER BY o.name LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'column % of % is sold by offering %', quote_ident(bad.col), bad.relation, quote_literal(bad.offering)
                USING ERRCODE = '55006',
                      HINT = 'drop or rename it only after re-registering the offering without it (nyop_register_offering); '
                             'purchased views that use it keep the old definition';
        END IF;
        SELECT t.tgname INTO bad FROM pg_trigger t
        WHERE t.tgrelid = rel AND (t.tgname LIKE 'nyop\_history\_%' OR t.tgname LIKE 'nyop\_measure\_%')
          AND NOT t.tgisinternal AND t.tgenabled NOT IN ('O', 'A')
        ORDER BY t.tgname LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'trigger % on % keeps the % of offering %: it must stay enabled',
                quote_ident(bad.tgname), rel::regclass,
                CASE WHEN bad.tgname LIKE 'nyop\_measure\_%' THEN 'measures' ELSE 'history' END, nyop._offerings_on(rel)
                USING ERRCODE = '55006',
                      HINT = 'buyers who bought a delay read the old versions it keeps; disable or drop only your own '
                             'triggers (ALTER TABLE … DISABLE TRIGGER name), or stop selling the table: nyop_drop_offering()';
        END IF;
        SELECT c.oid::regclass AS r INTO bad FROM pg_class c
        WHERE c.relpersistence <> 'p'
          AND c.oid IN (WITH RECURSIVE d(oid) AS (SELECT rel UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid)
                        SELECT oid FROM d)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION '% is sold as offering % and must stay logged%', rel::regclass, nyop._offerings_on(rel),
                CASE WHEN bad.r::oid <> rel THEN format(' (so must its child %s)', bad.r) ELSE '' END
                USING ERRCODE = '55006',
                      HINT = 'an unlogged table is empty on hot standbys and after a crash: buyers reading there would '
                             'see nothing; keep it logged (ALTER TABLE … SET LOGGED)';
        END IF;
        IF NOT nyop._relation_is_safe(rel::regclass) THEN
            RAISE EXCEPTION '% is sold as offering %: after this change nyop would run its owner''s code with nyop''s rights',
                rel::regclass, nyop._offerings_on(rel)
                USING ERRCODE = '42501',
                      HINT = 'a sold relation stays a table (or a materialized view; a view or foreign table only if a '
                             'superuser owns it), with built-in or superuser-owned column types, and no child that is a '
                             'foreign table or view of an ordinary role';
        END IF;
        IF EXISTS (SELECT 1 FROM nyop.histories hh WHERE hh.relation = rel) THEN
            PERFORM nyop._sync_capture_owner(rel::regclass);
        END IF;
        IF to_regclass('nyop.measure_state') IS NOT NULL
           AND EXISTS (SELECT 1 FROM nyop.measure_state ms WHERE ms.relation = rel::regclass) THEN
            PERFORM nyop._sync_measure_owner(rel::regclass);      -- maintained measures (055-summaries.sql)
        END IF;
    END LOOP;
    FOR h IN SELECT hh.history, hh.relation, c.relpersistence, r.rolsuper
             FROM pg_event_trigger_ddl_commands() e
             JOIN nyop.histories hh ON hh.history = e.objid
             JOIN pg_class c ON c.oid = hh.history JOIN pg_roles r ON r.oid = c.relowner
             WHERE e.classid = 'pg_class'::regclass
    LOOP
        IF h.relpersistence <> 'p' THEN
            RAISE EXCEPTION '% keeps the history of sold relation % and must stay logged', h.history, h.relation
                USING ERRCODE = '55006', HINT = 'delayed buyers on hot standbys read it: ALTER TABLE … SET LOGGED';
        ELSIF NOT h.rolsuper THEN
            RAISE EXCEPTION '% keeps the history of sold relation % and must stay owned by a superuser', h.history, h.relation
                USING ERRCODE = '42501',
                      HINT = 'its owner could rewrite what delayed buyers read; the table owner may only INSERT (history capture)';
        END IF;
    END LOOP;
END
$$;

-- ALTER TYPE / ALTER DOMAIN (OWNER TO an ordinary role) of a column type of a sold relation.
CREATE OR REPLACE FUNCTION nyop._guard_type() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel oid;
BEGIN
    FOR rel IN SELECT DISTINCT o.relation::oid
               FROM pg_event_trigger_ddl_commands() e
               JOIN pg_type t ON (t.oid = e.objid OR t.typelem = e.objid)
               JOIN pg_attribute a ON a.atttypid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN nyop.offerings o ON o.relation = a.attrelid
               WHERE e.classid = 'pg_type'::regclass
    LOOP
        IF NOT nyop._relation_is_safe(rel::regclass) THEN
            RAISE EXCEPTION '% is sold as offering %: after this change nyop would run the type owner''s code with nyop''s rights',
                rel::regclass, nyop._offerings_on(rel)
                USING ERRCODE = '42501',
                      HINT = 'column types of a sold relation must be built in or owned by a superuser';
        END IF;
    END LOOP;
END
$$;

-- CREATE RULE on a sold relation or its history. A "_RETURN" rule turns an empty table into a
-- view (PostgreSQL 15): every read of a purchased view would then run the owner's code as the
-- reader; DO INSTEAD rules on writes bypass history capture. No rule is allowed there.
CREATE OR REPLACE FUNCTION nyop._guard_rule() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT w.rulename, w.ev_class FROM pg_event_trigger_ddl_commands() e
             JOIN pg_rewrite w ON w.oid = e.objid WHERE e.classid = 'pg_rewrite'::regclass
    LOOP
        IF EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = r.ev_class) THEN
            RAISE EXCEPTION 'cannot create rule % on %: it is sold as offering %',
                quote_ident(r.rulename), r.ev_class::regclass, nyop._offerings_on(r.ev_class)
                USING ERRCODE = '55006',
                      HINT = 'a rule would change what buyers read (an ON SELECT rule turns the table into a view) or '
                             'bypass nyop''s history capture; sell another relation, or drop the offering first: nyop_drop_offering()';
        ELSIF EXISTS (SELECT 1 FROM nyop.histories h WHERE h.history = r.ev_class) THEN
            RAISE EXCEPTION 'cannot create rule % on %: it keeps the history of sold relation %',
                quote_ident(r.rulename), r.ev_class::regclass,
                (SELECT h.relation FROM nyop.histories h WHERE h.history = r.ev_class)
                USING ERRCODE = '55006', HINT = 'delayed buyers read the history as nyop wrote it';
        END IF;
    END LOOP;
END
$$;

-- CREATE TRIGGER / ALTER TRIGGER on a sold relation: trigger names starting with nyop_ and
-- trigger functions of schema nyop are nyop's (its history capture); only nyop's own marked
-- transaction (or its extension scripts) may create or rename them. One exception: one of the
-- three capture triggers, on a relation with history, calling a function of schema nyop --
-- pg_restore re-creating them after the data (elsewhere they always exist, as they cannot be
-- dropped, so creating one fails on its name).
CREATE OR REPLACE FUNCTION nyop._guard_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
BEGIN
    IF EXISTS (SELECT 1 FROM nyop.drop_marks WHERE xid = pg_current_xact_id()) THEN
        RETURN;
    END IF;
    FOR t IN SELECT g.tgname, g.tgrelid, e.command_tag, p.pronamespace = 'nyop'::regnamespace AS nyops
             FROM pg_event_trigger_ddl_commands() e
             JOIN pg_trigger g ON g.oid = e.objid JOIN pg_proc p ON p.oid = g.tgfoid
             WHERE e.classid = 'pg_trigger'::regclass AND NOT e.in_extension
               AND (g.tgname LIKE 'nyop\_%' OR p.pronamespace = 'nyop'::regnamespace)
               AND (EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = g.tgrelid)
                    OR EXISTS (SELECT 1 FROM nyop.histories h WHERE h.relation = g.tgrelid OR h.history = g.tgrelid))
               AND NOT (e.command_tag = 'CREATE TRIGGER'
                        AND g.tgname IN ('nyop_history_update', 'nyop_history_delete', 'nyop_history_truncate')
                        AND p.pronamespace = 'nyop'::regnamespace
                        AND EXISTS (SELECT 1 FROM nyop.histories h WHERE h.relation = g.tgrelid))
               AND NOT (e.command_tag = 'CREATE TRIGGER'      -- the maintained measures' (055-summaries.sql)
                        AND g.tgname IN ('nyop_measure_insert', 'nyop_measure_update', 'nyop_measure_delete',
                                         'nyop_measure_truncate')
                        AND p.pronamespace = 'nyop'::regnamespace
                        AND EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = g.tgrelid))
    LOOP
        RAISE EXCEPTION '% refused: trigger % on % %', t.command_tag, quote_ident(t.tgname), t.tgrelid::regclass,
            CASE WHEN t.nyops THEN 'runs nyop''s history capture' ELSE 'has a name reserved for nyop''s history capture' END
            USING ERRCODE = '55006',
                  HINT = 'trigger names starting with nyop_ and trigger functions of schema nyop are nyop''s own on a sold '
                         'relation; name your triggers otherwise and leave nyop''s as they are';
    END LOOP;
END
$$;

-- ALTER FUNCTION / ROUTINE / PROCEDURE of a history-capture function (SECURITY INVOKER, SET
-- options, RENAME, SET SCHEMA, OWNER TO, DEPENDS ON EXTENSION): nyop keeps them as it made
-- them; their owner follows the table's (ALTER TABLE … OWNER TO).
CREATE OR REPLACE FUNCTION nyop._guard_function() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
BEGIN
    IF EXISTS (SELECT 1 FROM nyop.drop_marks WHERE xid = pg_current_xact_id()) THEN
        RETURN;
    END IF;
    FOR f IN SELECT e.objid::regprocedure AS fn, e.command_tag,
                    (SELECT t.tgrelid::regclass FROM pg_trigger t
                     WHERE t.tgfoid = e.objid AND (t.tgname LIKE 'nyop\_history\_%' OR t.tgname LIKE 'nyop\_measure\_%')
                     LIMIT 1) AS rel
             FROM pg_event_trigger_ddl_commands() e JOIN pg_proc p ON p.oid = e.objid
             WHERE e.classid = 'pg_proc'::regclass AND NOT e.in_extension
               AND (EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgfoid = e.objid
                            AND (t.tgname LIKE 'nyop\_history\_%' OR t.tgname LIKE 'nyop\_measure\_%'))
                    OR (p.pronamespace = 'nyop'::regnamespace
                        AND p.proname IN ('_capture_update', '_capture_delete', '_capture_truncate')))
    LOOP
        RAISE EXCEPTION '% refused: % is nyop''s history capture%', f.command_tag, f.fn,
            CASE WHEN f.rel IS NOT NULL THEN format(' for %s (offering %s)', f.rel, nyop._offerings_on(f.rel)) ELSE '' END
            USING ERRCODE = '55006',
                  HINT = 'nyop keeps its capture functions as it made them; their owner follows the table''s '
                         '(ALTER TABLE … OWNER TO), and they go with the last offering on the table: nyop_drop_offering()';
    END LOOP;
END
$$;

-- DROP … CASCADE must not take a sold relation, its history, or a buyer's view with it; nor
-- may DROP TRIGGER (or DROP FUNCTION … CASCADE) take nyop's capture triggers off a sold table.
-- nyop_drop_offering marks its own transaction in nyop.drop_marks (buyers and providers cannot).
CREATE OR REPLACE FUNCTION nyop._guard_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    rel regclass;
BEGIN
    IF EXISTS (SELECT 1 FROM nyop.drop_marks WHERE xid = pg_current_xact_id())
       OR EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects()
                  WHERE object_type IN ('extension', 'schema') AND object_identity IN ('nyop', 'nyop_views')) THEN
        RETURN;
    END IF;
    FOR d IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE classid = 'pg_class'::regclass AND objsubid = 0 LOOP
        IF EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = d.objid) THEN
            RAISE EXCEPTION '% is sold as offering %', d.object_identity,
                (SELECT string_agg(quote_literal(name), ', ') FROM nyop.offerings WHERE relation = d.objid)
                USING ERRCODE = '55006', HINT = 'drop the offering first: nyop_drop_offering()';
        ELSIF EXISTS (SELECT 1 FROM nyop.purchases p WHERE p.view = d.objid) THEN
            RAISE EXCEPTION '% is a buyer''s purchased view', d.object_identity
                USING ERRCODE = '55006', HINT = 'purchased views go with their offering: nyop_drop_offering(…, force => true)';
        ELSIF EXISTS (SELECT 1 FROM nyop.histories h WHERE h.history = d.objid) THEN
            RAISE EXCEPTION '% keeps the history of a sold relation', d.object_identity
                USING ERRCODE = '55006', HINT = 'it goes with the last offering on that relation: nyop_drop_offering()';
        END IF;
    END LOOP;
    -- the maintained measures' triggers (055-summaries.sql) on a table still sold
    FOR d IN SELECT * FROM pg_event_trigger_dropped_objects()
             WHERE object_type = 'trigger' AND address_names[3] LIKE 'nyop\_measure\_%' LOOP
        rel := to_regclass(format('%I.%I', d.address_names[1], d.address_names[2]));
        IF rel IS NOT NULL AND EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = rel) THEN
            RAISE EXCEPTION 'trigger % on % keeps the measures of offering %', quote_ident(d.address_names[3]), rel,
                nyop._offerings_on(rel)
                USING ERRCODE = '55006',
                      HINT = 'quotes and bids read the measures it keeps; it goes with the last offering on the table: '
                             'nyop_drop_offering()';
        END IF;
    END LOOP;
    -- a trigger's identity: {schema, table, trigger}; its table is still there unless dropped too
    FOR d IN SELECT * FROM pg_event_trigger_dropped_objects()
             WHERE object_type = 'trigger' AND address_names[3] LIKE 'nyop\_history\_%' LOOP
        rel := to_regclass(format('%I.%I', d.address_names[1], d.address_names[2]));
        IF rel IS NULL THEN
            -- its table went too: a partition of a sold table (a sold table itself is refused above)
            RAISE EXCEPTION '%.% is a partition of a sold table: its capture keeps history for delayed buyers',
                quote_ident(d.address_names[1]), quote_ident(d.address_names[2])
                USING ERRCODE = '55006',
                      HINT = 'ALTER TABLE … DETACH PARTITION it first (its rows stay in history as deleted), then drop it';
        END IF;
        IF EXISTS (SELECT 1 FROM nyop.histories h WHERE h.relation = rel) THEN
            RAISE EXCEPTION 'trigger % on % keeps the history of offering %', quote_ident(d.address_names[3]), rel,
                nyop._offerings_on(rel)
                USING ERRCODE = '55006',
                      HINT = 'buyers who bought a delay read the old versions it keeps; it goes with the last offering '
                             'on the table: nyop_drop_offering()';
        END IF;
    END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS nyop_guard_alter;
CREATE EVENT TRIGGER nyop_guard_alter ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE',
                 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'CREATE VIEW')
    EXECUTE FUNCTION nyop._guard_alter();
DROP EVENT TRIGGER IF EXISTS nyop_guard_type;
CREATE EVENT TRIGGER nyop_guard_type ON ddl_command_end WHEN TAG IN ('ALTER TYPE', 'ALTER DOMAIN')
    EXECUTE FUNCTION nyop._guard_type();
DROP EVENT TRIGGER IF EXISTS nyop_guard_rule;
CREATE EVENT TRIGGER nyop_guard_rule ON ddl_command_end WHEN TAG IN ('CREATE RULE')
    EXECUTE FUNCTION nyop._guard_rule();
DROP EVENT TRIGGER IF EXISTS nyop_guard_trigger;
CREATE EVENT TRIGGER nyop_guard_trigger ON ddl_command_end WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER')
    EXECUTE FUNCTION nyop._guard_trigger();
DROP EVENT TRIGGER IF EXISTS nyop_guard_function;
CREATE EVENT TRIGGER nyop_guard_function ON ddl_command_end
    WHEN TAG IN ('ALTER FUNCTION', 'ALTER ROUTINE', 'ALTER PROCEDURE')
    EXECUTE FUNCTION nyop._guard_function();
DROP EVENT TRIGGER IF EXISTS nyop_guard_drop;
CREATE EVENT TRIGGER nyop_guard_drop ON sql_drop EXECUTE FUNCTION nyop._guard_drop();
