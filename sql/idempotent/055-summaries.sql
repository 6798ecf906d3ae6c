-- Maintained measures (tables in incremental/0.3.0/002-summaries.sql): per sold plain table,
-- statement-level triggers with transition tables append what each INSERT, UPDATE, DELETE or
-- TRUNCATE changed to nyop.measure_deltas, in the writer's transaction; nyop folds the deltas
-- into the summary lazily (a writer now and then, a reader when many are pending), one folder at
-- a time, never waiting for another. A quote or bid reads summary + pending deltas in one
-- statement (one snapshot): exact and transactional, without scanning the table.
--
-- As history capture (050-delivery.sql): each table gets its own trigger functions, owned by the
-- table's owner (SECURITY DEFINER as that owner), who may append deltas for its own tables only
-- (row-level security) and nothing else; the guards (070-guards.sql) keep the triggers
-- nyop_measure_* and their functions as nyop made them.

-- A last-updated value as integer microseconds (see 002-summaries.sql): the epoch of a
-- timestamptz, of a date or timestamp read as UTC; ±infinity as the int8 extremes.
CREATE OR REPLACE FUNCTION nyop._measure_us_sql(col text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    -- (finite values clamped inside the extremes: a value near the end of time must not fail a write)
    SELECT format('CASE WHEN pg_catalog.isfinite(%1$s) THEN least(greatest('
                  'extract(epoch FROM %1$s) * 1000000, -9223372036854775807), 9223372036854775806)::int8 '
                  'WHEN %1$s > ''epoch'' THEN 9223372036854775807 ELSE -9223372036854775808 END', col)
$$;

-- Add signed counts of last-updated values (us, c: sorted, distinct) to a relation's folded
-- values, rewriting only the level-0 buckets they fall in, and to the per-level counts and sums
-- (computed from the level-0 aggregates).
CREATE OR REPLACE FUNCTION nyop._measure_merge(rel oid, shift int, levels int, us int8[], c int8[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    touched int8[] := ARRAY(SELECT DISTINCT u.us >> shift FROM unnest(us) AS u(us));
BEGIN
    -- one statement: the touched buckets' old values, deleted, come back merged with the new ones
    WITH old AS (DELETE FROM nyop.measure_values m WHERE m.relation = rel AND m.b = ANY(touched)
                 RETURNING m.b, m.us, m.c),
         x AS (SELECT p.us >> shift AS b, p.us, p.c FROM unnest(us, c) AS p(us, c)
               UNION ALL
               SELECT old.b, u.us, u.c FROM old, unnest(old.us, old.c) AS u(us, c)),
         g AS (SELECT x.b, x.us, sum(x.c)::int8 AS c FROM x GROUP BY x.b, x.us HAVING sum(x.c) <> 0)
    INSERT INTO nyop.measure_values (relation, b, us, c)
    SELECT rel, g.b, array_agg(g.us ORDER BY g.us), array_agg(g.c ORDER BY g.us) FROM g GROUP BY g.b;
    WITH b0 AS (SELECT p.us >> shift AS k, sum(p.c) AS cnt, sum(p.c::numeric * p.us) AS s
                FROM unnest(us, c) AS p(us, c)
                WHERE p.us > -9223372036854775808 AND p.us < 9223372036854775807
                GROUP BY 1)
    INSERT INTO nyop.measure_buckets AS b (relation, lvl, b, cnt, s)
    SELECT rel, l, b0.k >> (6 * l), sum(b0.cnt), sum(b0.s)
    FROM b0, generate_series(0, levels - 1) AS l GROUP BY 2, 3
    ON CONFLICT (relation, lvl, b) DO UPDATE SET cnt = b.cnt + excluded.cnt, s = b.s + excluded.s;
    DELETE FROM nyop.measure_buckets b
     USING (SELECT DISTINCT l, t.k >> (6 * l) AS k FROM unnest(touched) AS t(k), generate_series(0, levels - 1) AS l) t
     WHERE b.relation = rel AND b.lvl = t.l AND b.b = t.k AND b.cnt = 0;
END
$$;

-- Fold the committed (and this transaction's) deltas of a relation into its summary. Returns
-- whether it folded: not on a standby, in a read-only or REPEATABLE READ / SERIALIZABLE
-- transaction (whose snapshot may miss deltas already folded), nor while another transaction
-- folds it (SKIP LOCKED: nobody waits), nor on a stale summary.
CREATE OR REPLACE FUNCTION nyop._measure_fold(rel oid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st record;
    agg record;
BEGIN
    IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
       OR current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN false;
    END IF;
    SELECT s.* INTO st FROM nyop.measure_state s WHERE s.relation = rel::regclass FOR UPDATE SKIP LOCKED;
    IF NOT FOUND OR st.stale THEN
        RETURN false;
    END IF;
    -- one statement, one snapshot: what is deleted is what is folded
    WITH d AS (DELETE FROM nyop.measure_deltas x WHERE x.relation = rel
               RETURNING x.id, x.reset, x.rows, x.nonnull, x.lus, x.cnts),
         r AS (SELECT max(d.id) AS rid FROM d WHERE d.reset),
         live AS (SELECT d.* FROM d WHERE NOT d.reset AND d.id > coalesce((SELECT r.rid FROM r), -1)),
         pairs AS (SELECT u.us, sum(u.c)::int8 AS c FROM live, unnest(live.lus, live.cnts) AS u(us, c)
                   GROUP BY u.us HAVING sum(u.c) <> 0)
    SELECT (SELECT count(*) FROM d) AS n, (SELECT r.rid FROM r) IS NOT NULL AS reset,
           (SELECT coalesce(sum(live.rows), 0) FROM live)::int8 AS rows,
           (SELECT array_agg(q.s ORDER BY q.i) FROM (
                SELECT u.i, sum(u.x)::int8 AS s FROM live, unnest(live.nonnull) WITH ORDINALITY AS u(x, i)
                GROUP BY u.i) q) AS nn,
           (SELECT array_agg(p.us ORDER BY p.us) FROM pairs p) AS us,
           (SELECT array_agg(p.c ORDER BY p.us) FROM pairs p) AS c
      INTO agg;
    IF agg.n = 0 THEN
        RETURN true;
    END IF;
    IF agg.reset THEN
        DELETE FROM nyop.measure_values m WHERE m.relation = rel;
        DELETE FROM nyop.measure_buckets b WHERE b.relation = rel;
        st.rows := 0;
        st.nonnull := array_fill(0::int8, ARRAY[cardinality(st.columns)]);
    END IF;
    UPDATE nyop.measure_state s
       SET rows = st.rows + agg.rows,
           nonnull = ARRAY(SELECT coalesce(u.a, 0) + coalesce(u.b, 0)
                           FROM unnest(st.nonnull, agg.nn) AS u(a, b))
     WHERE s.relation = rel::regclass;
    IF agg.us IS NOT NULL THEN
        PERFORM nyop._measure_merge(rel, st.shift, st.levels, agg.us, agg.c);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION nyop._measure_fold(oid) IS 'Fold a sold table''s pending measure deltas into its summary (never waits)';

-- (Re)compute a relation's summary with one scan of the table. The table is locked against
-- writers (SHARE) so that the scan and the deltas it replaces agree; ``nowait``: give up
-- rather than wait for them (a reader then scans instead). Not in a REPEATABLE READ /
-- SERIALIZABLE transaction (its snapshot may predate committed writes): marked stale instead.
CREATE OR REPLACE FUNCTION nyop._measure_seed(rel oid, nowait boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st record;
    n int8;
    nn int8[];
    lus int8[];
    cnts int8[];
BEGIN
    IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' THEN
        RETURN false;
    END IF;
    SELECT s.* INTO st FROM nyop.measure_state s WHERE s.relation = rel::regclass;
    IF NOT FOUND OR to_regclass(rel::regclass::text) IS NULL THEN
        RETURN false;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        UPDATE nyop.measure_state s SET stale = true WHERE s.relation = rel::regclass;
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('LOCK TABLE ONLY %s IN SHARE MODE%s', rel::regclass, CASE WHEN nowait THEN ' NOWAIT' ELSE '' END);
        IF nowait THEN
            PERFORM 1 FROM nyop.measure_state s WHERE s.relation = rel::regclass FOR UPDATE NOWAIT;
        ELSE
            PERFORM 1 FROM nyop.measure_state s WHERE s.relation = rel::regclass FOR UPDATE;
        END IF;
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
    DELETE FROM nyop.measure_deltas x WHERE x.relation = rel;
    DELETE FROM nyop.measure_values m WHERE m.relation = rel;
    DELETE FROM nyop.measure_buckets b WHERE b.relation = rel;
    EXECUTE format('SELECT count(*), ARRAY[%s]::int8[] FROM ONLY %s',
                   (SELECT coalesce(string_agg(format('count(%I)', c), ', '), '') FROM unnest(st.columns) c),
                   rel::regclass) INTO n, nn;
    UPDATE nyop.measure_state s SET rows = n, nonnull = coalesce(nn, '{}'), stale = false, seeded_at = now()
     WHERE s.relation = rel::regclass;
    IF st.last_updated IS NOT NULL THEN
        EXECUTE format('SELECT array_agg(g.us ORDER BY g.us), array_agg(g.c ORDER BY g.us) FROM '
                       '(SELECT %s AS us, count(*) AS c FROM ONLY %s WHERE %I IS NOT NULL GROUP BY 1) g',
                       nyop._measure_us_sql(quote_ident(st.last_updated)), rel::regclass, st.last_updated)
           INTO lus, cnts;
        IF lus IS NOT NULL THEN
            PERFORM nyop._measure_merge(rel, st.shift, st.levels, lus, cnts);
        END IF;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION nyop._measure_seed(oid, boolean) IS 'Recompute a sold table''s maintained measures with one scan';

-- Rows of nyop.measure_state come from nyop._install_measures (stale until seeded) or from
-- pg_restore, whose counts would miss the deltas that were not dumped: stale either way.
CREATE OR REPLACE FUNCTION nyop._measure_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.stale := true;
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER measure_restored BEFORE INSERT ON nyop.measure_state
    FOR EACH ROW EXECUTE FUNCTION nyop._measure_restored();

-- Stop maintaining a relation's measures: triggers, their functions, the summary.
CREATE OR REPLACE FUNCTION nyop._remove_measures(rel oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    marked boolean;
    trg text;
    fns oid[];
    f regprocedure;
BEGIN
    INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
    -- (only what is there: no NOTICE)
    SELECT array_agg(t.tgfoid) INTO fns FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%';
    FOR trg IN SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trg, rel::regclass);
    END LOOP;
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'nyop'::regnamespace AND p.proname LIKE 'measure\_%'
               AND (p.oid = ANY(coalesce(fns, '{}')) OR p.proname IN ('measure_' || rel || '_insert', 'measure_' || rel || '_update',
                                                                     'measure_' || rel || '_delete', 'measure_' || rel || '_truncate'))
               AND p.oid NOT IN (SELECT t.tgfoid FROM pg_trigger t) LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
    DELETE FROM nyop.measure_state s WHERE s.relation = rel::regclass;
    DELETE FROM nyop.measure_deltas x WHERE x.relation = rel;
    DELETE FROM nyop.measure_values m WHERE m.relation = rel;
    DELETE FROM nyop.measure_buckets b WHERE b.relation = rel;
    IF marked THEN
        DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
    END IF;
END
$$;

-- Maintain the measures of a sold relation (plain tables only: partitioned tables, views and
-- materialized views are measured by a scan), counting the columns its offerings sell and the
-- last-updated column they share; re-seeded with one scan. Idempotent: registration calls it
-- each time, nyop_drop_offering when the offerings on a table change.
CREATE OR REPLACE FUNCTION nyop._install_measures(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner text;
    owner_id oid;
    kind "char";
    cols text[];
    lus text[];
    lu text;
    vol float8;
    sh int;
    counts text;
    news text;
    olds text;
    luagg text;
    body text;
    ev text;
    sgn text;
    marked boolean;
    fn text;
    stale oid[];
BEGIN
    SELECT c.relkind, quote_ident(r.rolname), r.oid INTO kind, owner, owner_id
      FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.oid = rel;
    IF kind IS DISTINCT FROM 'r' OR NOT EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = rel) THEN
        PERFORM nyop._remove_measures(rel);
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT o.last_updated) FILTER (WHERE o.last_updated IS NOT NULL),
           min(extract(epoch FROM o.volatility))::float8
      INTO lus, vol FROM nyop.offerings o WHERE o.relation = rel;
    lu := CASE WHEN cardinality(lus) = 1 THEN lus[1] END;       -- offerings that disagree: no timeliness kept
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname IS DISTINCT FROM lu
       AND EXISTS (SELECT 1 FROM nyop.offerings o WHERE o.relation = rel AND a.attname = ANY(o.columns));
    cols := coalesce(cols, '{}');
    -- level-0 buckets between v/256 and v/128 wide; coarser levels up to ~2^54 us (570 years)
    sh := greatest(0, floor(log(2::numeric, greatest(vol * 1e6, 1)::numeric))::int - 7);
    -- already maintained so (re-registration with the same columns): nothing to do
    IF EXISTS (SELECT 1 FROM nyop.measure_state s
               WHERE s.relation = rel AND s.columns = cols AND s.last_updated IS NOT DISTINCT FROM lu
                 AND s.shift = sh AND NOT s.stale)
       AND (SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%'
              AND p.proname = 'measure_' || rel::oid || '_' || substr(t.tgname, 14)) = 4 THEN
        RETURN;
    END IF;
    INSERT INTO nyop.measure_state AS s (relation, columns, last_updated, shift, levels, nonnull, stale)
    VALUES (rel, cols, lu, sh,
            1 + ceil(greatest(0, 54 - sh) / 6.0)::int, array_fill(0::int8, ARRAY[cardinality(cols)]), true)
    ON CONFLICT (relation) DO UPDATE SET columns = excluded.columns, last_updated = excluded.last_updated,
        shift = excluded.shift, levels = excluded.levels,
        nonnull = excluded.nonnull, rows = 0, stale = true;

    counts := (SELECT coalesce(string_agg(format('count(%I)', c), ', '), '') FROM unnest(cols) c);
    news := format('(SELECT count(*) AS n, ARRAY[%s]::int8[] AS nn FROM nyop_new)', counts);
    olds := format('(SELECT count(*) AS n, ARRAY[%s]::int8[] AS nn FROM nyop_old)', counts);
    IF lu IS NOT NULL THEN
        luagg := 'LATERAL (SELECT array_agg(g.us) AS us, array_agg(g.c) AS c FROM (SELECT x.us, sum(x.c)::int8 AS c '
                 'FROM (%s) x GROUP BY x.us HAVING sum(x.c) <> 0) g) l';
    END IF;
    INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
    -- functions of the triggers being replaced (named after another OID once restored by pg_restore)
    SELECT array_agg(t.tgfoid) INTO stale FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%';
    FOR fn IN SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', fn, rel);       -- (only those there: no NOTICE)
    END LOOP;
    -- granted only when missing: a GRANT rewrites the object's catalog row, and one racing another
    -- GRANT (nyop_add_buyer, a registration in another session) fails with XX000 "tuple
    -- concurrently updated"
    IF NOT has_schema_privilege(owner_id, 'nyop', 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', owner);
    END IF;
    IF NOT has_table_privilege(owner_id, 'nyop.measure_deltas', 'INSERT') THEN
        EXECUTE format('GRANT INSERT ON nyop.measure_deltas TO %s', owner);
    END IF;
    IF NOT has_function_privilege(owner_id, 'nyop._measure_fold(oid)', 'EXECUTE') THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._measure_fold(oid) TO %s', owner);
    END IF;
    FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
        fn := 'measure_' || rel::oid || '_' || ev;
        IF ev = 'truncate' THEN
            body := 'INSERT INTO nyop.measure_deltas (relation, reset) VALUES (TG_RELID, true)';
        ELSIF ev IN ('insert', 'delete') THEN
            -- the rows a statement added (+1) or removed (-1), from its transition table
            sgn := CASE ev WHEN 'insert' THEN '1' ELSE '-1' END;
            body := format('INSERT INTO nyop.measure_deltas (relation, rows, nonnull, lus, cnts) '
                           'SELECT TG_RELID, %2$s * t.n, ARRAY(SELECT %2$s * x FROM unnest(t.nn) x), %1$s '
                           'FROM %3$s t%4$s WHERE t.n > 0',
                           CASE WHEN lu IS NULL THEN 'NULL, NULL' ELSE 'l.us, l.c' END, sgn,
                           CASE ev WHEN 'insert' THEN news ELSE olds END,
                           CASE WHEN lu IS NULL THEN '' ELSE ', ' || format(luagg, format(
                               'SELECT %s AS us, %s AS c FROM %I WHERE %I IS NOT NULL',
                               nyop._measure_us_sql(quote_ident(lu)), sgn,
                               CASE ev WHEN 'insert' THEN 'nyop_new' ELSE 'nyop_old' END, lu)) END);
        ELSE
            body := format('INSERT INTO nyop.measure_deltas (relation, rows, nonnull, lus, cnts) '
                           'SELECT TG_RELID, t.n - o.n, ARRAY(SELECT a - b FROM unnest(t.nn, o.nn) AS u(a, b)), %s '
                           'FROM %s t, %s o%s WHERE t.n <> o.n OR t.nn <> o.nn%s',
                           CASE WHEN lu IS NULL THEN 'NULL, NULL' ELSE 'l.us, l.c' END, news, olds,
                           CASE WHEN lu IS NULL THEN '' ELSE ', ' || format(luagg, format(
                               'SELECT %1$s AS us, 1 AS c FROM nyop_new WHERE %2$I IS NOT NULL UNION ALL '
                               'SELECT %1$s, -1 FROM nyop_old WHERE %2$I IS NOT NULL',
                               nyop._measure_us_sql(quote_ident(lu)), lu)) END,
                           CASE WHEN lu IS NULL THEN '' ELSE ' OR l.us IS NOT NULL' END);
        END IF;
        -- now and then the writer folds (about one statement in 50; it never waits for that)
        EXECUTE format('CREATE OR REPLACE FUNCTION nyop.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                       'SET search_path = pg_catalog, pg_temp AS %L', fn,
                       'BEGIN ' || body || '; IF random() < 0.02 THEN PERFORM nyop._measure_fold(TG_RELID); END IF; '
                       'RETURN NULL; END');
        EXECUTE format('ALTER FUNCTION nyop.%I() OWNER TO %s', fn, owner);
        EXECUTE format('REVOKE ALL ON FUNCTION nyop.%I() FROM PUBLIC', fn);
        -- made by an extension script (an update): it belongs with the table, as capture does
        IF EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
                     AND d.objid = to_regprocedure(format('nyop.%I()', fn))) THEN
            EXECUTE format('ALTER EXTENSION nyop DROP FUNCTION nyop.%I()', fn);
        END IF;
        EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION nyop.%I()',
                       'nyop_measure_' || ev, upper(ev), rel,
                       CASE ev WHEN 'insert' THEN 'REFERENCING NEW TABLE AS nyop_new'
                               WHEN 'delete' THEN 'REFERENCING OLD TABLE AS nyop_old'
                               WHEN 'update' THEN 'REFERENCING OLD TABLE AS nyop_old NEW TABLE AS nyop_new'
                               ELSE '' END, fn);
    END LOOP;
    PERFORM nyop._drop_stale_functions(stale, 'measure_');
    IF marked THEN
        DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
    END IF;
    PERFORM nyop._measure_seed(rel);
END
$$;
COMMENT ON FUNCTION nyop._install_measures(regclass) IS
    'Maintain a sold table''s measures from statement-level triggers (one scan to seed)';

-- The maintenance functions follow the table's owner (ALTER TABLE … OWNER TO: the guard on ALTER
-- TABLE calls this; after REASSIGN OWNED, which fires no event trigger, the operator runs
-- nyop._sync_capture_owner, which calls it).
CREATE OR REPLACE FUNCTION nyop._sync_measure_owner(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner oid;
    super boolean;
    f regprocedure;
    marked boolean;
    tried boolean := false;
BEGIN
    SELECT c.relowner, r.rolsuper INTO owner, super FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
     WHERE c.oid = rel;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%') THEN
        RETURN;
    END IF;
    FOR f IN SELECT DISTINCT p.oid::regprocedure FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE t.tgrelid = rel AND t.tgname LIKE 'nyop\_measure\_%' AND NOT t.tgisinternal
               AND p.pronamespace = 'nyop'::regnamespace AND p.proowner <> owner LOOP
        IF NOT tried THEN
            tried := true;
            INSERT INTO nyop.drop_marks VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING true INTO marked;
        END IF;
        EXECUTE format('ALTER FUNCTION %s OWNER TO %s', f, owner::regrole);
    END LOOP;
    IF marked THEN
        DELETE FROM nyop.drop_marks WHERE xid = pg_current_xact_id();
    END IF;
    -- what the owner's trigger functions need (granted only when missing: this runs on every
    -- ALTER TABLE of a sold table)
    IF NOT super THEN
        IF NOT has_schema_privilege(owner, 'nyop', 'USAGE') THEN
            EXECUTE format('GRANT USAGE ON SCHEMA nyop TO %s', owner::regrole);
        END IF;
        IF NOT has_table_privilege(owner, 'nyop.measure_deltas', 'INSERT') THEN
            EXECUTE format('GRANT INSERT ON nyop.measure_deltas TO %s', owner::regrole);
        END IF;
        IF NOT has_function_privilege(owner, 'nyop._measure_fold(oid)', 'EXECUTE') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION nyop._measure_fold(oid) TO %s', owner::regrole);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION nyop._sync_measure_owner(regclass) IS
    'Give a sold table''s measure maintenance to its current owner (nyop._sync_capture_owner calls it too)';

-- A table rewrite (ALTER TABLE … ALTER COLUMN … TYPE … USING, …) changes values without DML:
-- the summary is re-seeded on its next use.
CREATE OR REPLACE FUNCTION nyop._measure_rewrite() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE nyop.measure_state s SET stale = true WHERE s.relation = pg_event_trigger_table_rewrite_oid()::regclass;
END
$$;
DROP EVENT TRIGGER IF EXISTS nyop_measure_rewrite;
CREATE EVENT TRIGGER nyop_measure_rewrite ON table_rewrite EXECUTE FUNCTION nyop._measure_rewrite();

-- Sold plain tables registered before maintained measures (0.3.0): maintain them now.
DO $$
DECLARE
    r regclass;
BEGIN
    FOR r IN SELECT DISTINCT o.relation FROM nyop.offerings o JOIN pg_class c ON c.oid = o.relation
             WHERE c.relkind = 'r'
               AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = o.relation AND t.tgname = 'nyop_measure_insert')
    LOOP
        PERFORM nyop._install_measures(r);
    END LOOP;
END
$$;
