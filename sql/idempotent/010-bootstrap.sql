-- Plumbing shared by every function: loading the server-side Python, raising
-- errors with their SQLSTATE, and the clock that `SET nyop.now` freezes.

-- Puts our modules (and the sqlglot shipped with them) on the server Python's
-- sys.path once per session and keeps the package in GD. The path is fixed at
-- build time, never taken from a setting a user could change. It is a symlink that
-- a reinstall switches atomically to a new version directory: the session puts the
-- directory it resolves on sys.path and keeps it for life, so what it imports later
-- (sqlglot, lazily, for a scope) comes from the same files, which a reinstall leaves.
CREATE OR REPLACE FUNCTION nyop._load() RETURNS void
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
import os, sys
lib = '@NYOP_LIB_DIR@'
here = GD.get('nyop_lib') or os.path.realpath(lib)
if here not in sys.path:
    sys.path.insert(0, here)
try:
    import nyop_server.door as door
except ImportError as e:
    if 'nyop_lib' not in GD and here in sys.path:
        sys.path.remove(here)
    plpy.error('nyop: the server-side Python modules cannot be imported: %s' % e,
               hint='run "nyop-pg install-server" as root on the database host, or "make install" in a checkout (nyop_server and sqlglot go into %s; numpy from python3-numpy)' % lib,
               sqlstate='58P01')
GD['nyop_lib'] = here
GD['nyop'] = door
$$;

-- Turns the error envelope of an internal function into a proper PostgreSQL
-- error (message, SQLSTATE, hint) -- no Python traceback reaches the client.
CREATE OR REPLACE FUNCTION nyop._unwrap(r jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e jsonb := r->'error';
BEGIN
    IF e IS NULL THEN
        RETURN r->'ok';
    END IF;
    -- RAISE … USING refuses NULL options, hence the cases.
    IF e->>'hint' IS NOT NULL AND e->>'detail' IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = e->>'message', ERRCODE = coalesce(e->>'sqlstate', '22023'),
                              HINT = e->>'hint', DETAIL = e->>'detail';
    ELSIF e->>'hint' IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = e->>'message', ERRCODE = coalesce(e->>'sqlstate', '22023'),
                              HINT = e->>'hint';
    ELSIF e->>'detail' IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = e->>'message', ERRCODE = coalesce(e->>'sqlstate', '22023'),
                              DETAIL = e->>'detail';
    ELSE
        RAISE EXCEPTION USING MESSAGE = e->>'message', ERRCODE = coalesce(e->>'sqlstate', '22023');
    END IF;
END
$$;

-- "now" for timeliness and delays: `SET nyop.now = '2017-05-07 17:00+00'` freezes it
-- (tests, demos, back-testing); unset, the transaction time. Only the past: a buyer who
-- set a future "now" would skip the delay it paid for.
-- No SET search_path here on purpose: a SET clause stops PostgreSQL from inlining
-- the function into the tailored views; the body is fully schema-qualified instead.
CREATE OR REPLACE FUNCTION nyop.clock() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT LEAST(coalesce(CASE WHEN pg_catalog.current_setting('nyop.now', true) OPERATOR(pg_catalog.<>) ''
                               THEN pg_catalog.current_setting('nyop.now', true)::pg_catalog.timestamptz END,
                          pg_catalog.now()), pg_catalog.now())
$$;

-- The doors into nyop's Python. `_call` runs with the caller's rights. The two SECURITY
-- DEFINER doors run with the extension owner's and accept only read-only handlers (see
-- nyop_server.handlers.registry.DOORS): `_call_definer` measures and audits (buyers and providers), `_call_buyer` quotes
-- (buyers and the operator only: a quote probes prices, which is a buyer's business).
CREATE OR REPLACE FUNCTION nyop._call(handler text, payload jsonb) RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $$
if 'nyop' not in GD:
    try:
        plpy.execute('SELECT nyop._load()')
    except plpy.SPIError as e:      # a cancel or timeout while loading: an envelope, not a traceback
        import json
        return json.dumps({'error': {'sqlstate': getattr(e, 'sqlstate', None) or 'XX000',
                                     'message': str(e.args[0]) if e.args else str(e),
                                     'hint': getattr(e, 'hint', None), 'detail': None}})
return GD['nyop'].call(plpy, GD, handler, payload)
$$;

CREATE OR REPLACE FUNCTION nyop._call_definer(handler text, payload jsonb) RETURNS jsonb
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if 'nyop' not in GD:
    try:
        plpy.execute('SELECT nyop._load()')
    except plpy.SPIError as e:      # a cancel or timeout while loading: an envelope, not a traceback
        import json
        return json.dumps({'error': {'sqlstate': getattr(e, 'sqlstate', None) or 'XX000',
                                     'message': str(e.args[0]) if e.args else str(e),
                                     'hint': getattr(e, 'hint', None), 'detail': None}})
return GD['nyop'].call(plpy, GD, handler, payload, definer='measures')
$$;

CREATE OR REPLACE FUNCTION nyop._call_buyer(handler text, payload jsonb) RETURNS jsonb
LANGUAGE plpython3u SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
if 'nyop' not in GD:
    try:
        plpy.execute('SELECT nyop._load()')
    except plpy.SPIError as e:      # a cancel or timeout while loading: an envelope, not a traceback
        import json
        return json.dumps({'error': {'sqlstate': getattr(e, 'sqlstate', None) or 'XX000',
                                     'message': str(e.args[0]) if e.args else str(e),
                                     'hint': getattr(e, 'hint', None), 'detail': None}})
return GD['nyop'].call(plpy, GD, handler, payload, definer='quotes')
$$;

-- Nothing before payment (docs/model.md §8): every purchased view filters on this once per query,
-- with the transaction that placed the purchase. The purchase row it reads is visible to the
-- reader, so that transaction has committed -- unless it is the reader's own (the placing
-- transaction, a subtransaction of it, a function it calls): then reading is refused. From
-- another session an uncommitted or prepared purchase is invisible (the view returns no rows).
-- NULL (restored, or placed before 0.3.0) and IDs this cluster does not know (a restore with
-- triggers disabled) are transactions that committed elsewhere.
-- (No subtransaction, no pg_xact_status: in a parallel plan even the leader runs in parallel
-- mode, where no subtransaction may start. PARALLEL RESTRICTED: it runs once, in the leader,
-- which knows its own transaction ID.)
CREATE OR REPLACE FUNCTION nyop._paid(bid_id bigint, placed xid8) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF placed = pg_current_xact_id_if_assigned() THEN
        RAISE EXCEPTION 'purchase % is not paid yet: the transaction that placed its bid has not committed', bid_id
            USING ERRCODE = '55000',
                  HINT = 'COMMIT the transaction that placed the bid, then read the view';
    END IF;
    RETURN true;
END
$$;
