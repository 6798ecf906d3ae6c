-- Guards: DDL that would silently break what buyers bought is refused, with a message
-- that says what to do instead. (What happens to existing views is in README.md.)

-- ALTER TABLE on a sold relation: every column an offering sells must still be there
-- under its name (history capture and the views name them).
CREATE OR REPLACE FUNCTION nyop._guard_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT o.name AS offering, o.relation, c AS col INTO bad
    FROM pg_event_trigger_ddl_commands() e
    JOIN nyop.offerings o ON o.relation = e.objid
    CROSS JOIN LATERAL unnest(o.columns) c
    WHERE e.classid = 'pg_class'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = o.relation AND a.attname = c
                      AND a.attnum > 0 AND NOT a.attisdropped)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is sold by offering %', quote_ident(bad.col), bad.relation, quote_literal(bad.offering)
            USING ERRCODE = '55006',
                  HINT = 'drop or rename it only after re-registering the offering without it (nyop_register_offering); '
                         'purchased views that use it keep the old definition';
    END IF;
END
$$;

-- DROP … CASCADE must not take a sold relation, its history, or a buyer's view with it.
-- nyop_drop_offering marks its own transaction in nyop.drop_marks (buyers and providers cannot).
CREATE OR REPLACE FUNCTION nyop._guard_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
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
END
$$;

DROP EVENT TRIGGER IF EXISTS nyop_guard_alter;
CREATE EVENT TRIGGER nyop_guard_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION nyop._guard_alter();
DROP EVENT TRIGGER IF EXISTS nyop_guard_drop;
CREATE EVENT TRIGGER nyop_guard_drop ON sql_drop EXECUTE FUNCTION nyop._guard_drop();
