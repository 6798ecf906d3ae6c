"""The extension's life: ALTER EXTENSION UPDATE from the previous version, pg_dump/restore,
the installer (issue 5: faults; issue 2: nyop-pg install)."""

import json
import os
import uuid

import psycopg
import pytest

from conftest import one
from nyop_pg import EXTENSION_VERSION, paper
from nyop_pg.install import install

PREVIOUS = "0.1.0"
PREFS = json.dumps(paper.PAPER_BID["preferences"])
LATER = "2017-05-08 02:00+00"


def extension_objects(conn):
    """Everything the extension owns, with a fingerprint of its definition and PUBLIC's privileges
    (grants to buyers are data, not schema)."""
    return sorted(conn.execute("""
        SELECT pg_describe_object(d.classid, d.objid, 0),
               CASE WHEN d.classid = 'pg_proc'::regclass
                    THEN md5(pg_get_functiondef(d.objid)) || coalesce((SELECT string_agg(privilege_type, ',')
                                   FROM aclexplode(p.proacl) WHERE grantee = 0), '')
                    WHEN d.classid = 'pg_class'::regclass
                    THEN (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
                          FROM pg_attribute WHERE attrelid = d.objid AND attnum > 0 AND NOT attisdropped)
                         || coalesce(pg_get_viewdef(d.objid), '') || coalesce((SELECT string_agg(privilege_type, ',')
                                   FROM aclexplode(c.relacl) WHERE grantee = 0), '')
               END
        FROM pg_depend d
        LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
        LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
        WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
          AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'nyop')""").fetchall())


def new_database(server):
    name = "nyop_life_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(server, name):
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def buy(conn):
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s) "
                        "RETURNING bid_id, view::text", (PREFS,)).fetchone()


def read(conn, view, now=LATER):
    conn.execute(f"SET nyop.now = '{now}'")
    return conn.execute(f"SELECT * FROM {view} ORDER BY station, date").fetchall()


@pytest.mark.parametrize("previous", ["0.1.0", "0.2.0"])
def test_update_from_previous_version_keeps_everything(server, make_role, dbname, previous):
    name, dsn = make_role("upgrader")
    old = new_database(server)
    try:
        with psycopg.connect(server.dsn_for(old), autocommit=True) as conn:
            conn.execute(f"CREATE EXTENSION nyop VERSION '{previous}' CASCADE")
            paper.load(conn)
            conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
            conn.execute(f"SELECT nyop_add_buyer('\"{name}\"')")
        with psycopg.connect(server.dsn_for(old, user=name), password="nyop-test", autocommit=True) as b:
            bid_id, view = buy(b)
            before = read(b, view)
        with psycopg.connect(server.dsn_for(old), autocommit=True) as conn:
            conn.execute("SET nyop.now = '2017-05-08 01:30+00'")
            conn.execute("UPDATE weather_a SET temperature = 21, lastupdated = '2017-05-08 01:30+00' "
                         "WHERE station = 'FRA' AND date = '2017-05-08'")
            history = one(conn, "SELECT count(*) FROM nyop.histories h, LATERAL (SELECT 1) x")
            conn.execute("ALTER EXTENSION nyop UPDATE")
            assert one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'nyop'") == EXTENSION_VERSION
            upgraded = extension_objects(conn)
            assert one(conn, "SELECT count(*) FROM nyop.offerings") == 3
            assert one(conn, "SELECT count(*) FROM nyop.histories") == history
            # history capture goes on through the migrated triggers
            hist = one(conn, "SELECT history::text FROM nyop.histories WHERE relation = 'weather_a'::regclass")
            kept = one(conn, f"SELECT count(*) FROM {hist}")
            conn.execute("UPDATE weather_a SET humidity = humidity + 1, lastupdated = '2017-05-08 01:30+00' "
                         "WHERE station = 'LHR'")
            conn.execute("DELETE FROM weather_a WHERE station = 'LHR' AND date = '2017-05-10'")
            assert one(conn, f"SELECT count(*) FROM {hist}") == kept + 4
            # capture now runs as the table's owner, through functions that are not the extension's
            assert one(conn, "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                             "WHERE t.tgrelid = 'weather_a'::regclass AND t.tgname LIKE 'nyop_history_%' "
                             "AND p.proname LIKE 'capture\\_%' AND p.prosecdef") == 3
            # the purchase's price and levels left the world-readable COMMENT
            assert "levels" not in one(conn, "SELECT obj_description(%s::regclass, 'pg_class')", (view,))
        with psycopg.connect(server.dsn_for(old, user=name), password="nyop-test", autocommit=True) as b:
            assert read(b, view) == before                       # still delayed: the old version
            assert one(b, "SELECT count(*) FROM nyop.my_purchases") == 1     # granted to buyers of before
            assert one(b, "SELECT count(*) FROM nyop.bids") == 1
            _, view2 = buy(b)                                    # new bids work after the update
            assert len(read(b, view2)) == 5         # an upgrade to full quality: current rows, one deleted
            # the bare solver's internal function changed its arguments in 0.3.0: buyers may call it
            assert one(b, "SELECT nyop_solve_mckp('{{0,1}}', '{{0,1}}', 1)")["choice"] == [2]
        with psycopg.connect(server.dsn_for(dbname), autocommit=True) as fresh:
            assert extension_objects(fresh) == upgraded          # same objects as a fresh install
    finally:
        drop_database(server, old)


def pg_tool(server, tool):
    if server.cluster is None:
        pytest.skip("pg_dump/pg_restore of the local cluster's major version are needed")
    return server.cluster.bin(tool)


def test_dump_and_restore(server, paper_db, buyer, dbname):
    name, conn = buyer("dumped")
    bid_id, view = buy(conn)
    before = read(conn, view)
    target = new_database(server)
    # pg_dump runs as the cluster's owner: the dump goes where it may write
    dump = os.path.join(server.cluster.tmp, f"{dbname}.dump")
    try:
        run = server.cluster._run
        run(pg_tool(server, "pg_dump"), "-Fc", "-f", dump, "-d", server.dsn_for(dbname))
        out = run(pg_tool(server, "pg_restore"), "--exit-on-error", "-d", server.dsn_for(target), dump,
                  check=False)
        assert out.returncode == 0, out.stderr
        with psycopg.connect(server.dsn_for(target), autocommit=True) as r:
            assert one(r, "SELECT count(*) FROM nyop.offerings") == 3
            assert one(r, "SELECT count(*) FROM nyop.bids") == 1
            assert one(r, "SELECT count(*) FROM nyop.purchases") == 1
            assert one(r, "SELECT secret FROM nyop.offering_secrets WHERE offering = 'paper_a'") == \
                one(paper_db, "SELECT secret FROM nyop.offering_secrets WHERE offering = 'paper_a'")
        with psycopg.connect(server.dsn_for(target, user=name), password="nyop-test", autocommit=True) as b:
            assert read(b, view) == before                       # same rows, same masks
            bid2, view2 = buy(b)                                 # bidding works; ids continue
            assert bid2 > bid_id
    finally:
        drop_database(server, target)


def test_installer(server):
    target = new_database(server)
    try:
        assert install(server.dsn_for(target)) == EXTENSION_VERSION
        assert install(server.dsn_for(target)) == EXTENSION_VERSION      # idempotent
        with psycopg.connect(server.dsn_for(target), autocommit=True) as c:
            c.execute("DROP EXTENSION nyop")
            c.execute(f"CREATE EXTENSION nyop VERSION '{PREVIOUS}' CASCADE")
        assert install(server.dsn_for(target)) == EXTENSION_VERSION      # updates
    finally:
        drop_database(server, target)


def test_installer_says_what_is_wrong(server):
    from nyop_pg.install import InstallError
    target = new_database(server)
    try:
        with pytest.raises(InstallError) as e:
            install(server.dsn_for(target), version="9.9.9")
        assert "9.9.9" in str(e.value)
    finally:
        drop_database(server, target)


def test_masks_made_before_the_update_stay_nested_after_it(server, make_role):
    """An offering masked under 0.1.0 keeps its mask scheme, so purchases made after
    ALTER EXTENSION UPDATE still nest with the ones made before (delivery.py: schemes)."""
    early, _ = make_role("early")
    late, _ = make_role("late")
    old = new_database(server)
    try:
        with psycopg.connect(server.dsn_for(old), autocommit=True) as conn:
            conn.execute(f"CREATE EXTENSION nyop VERSION '{PREVIOUS}' CASCADE")
            conn.execute("""CREATE TABLE big (id int PRIMARY KEY, a int, b text, lu timestamptz NOT NULL);
                            INSERT INTO big SELECT i, i, 'x' || i, '2017-05-07 12:00+00' FROM generate_series(1, 300) i;
                            SELECT nyop_register_offering('big', 'big', 1000, ARRAY['id'], last_updated => 'lu',
                                                          volatility => '24 hours');
                            SELECT nyop_set_criterion('big', 'completeness', 1);""")
            for role in (early, late):
                conn.execute(f"SELECT nyop_add_buyer('\"{role}\"')")
            conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")

            def kept(role, amount):
                conn.execute(f'SET ROLE "{role}"')
                try:
                    view = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) "
                                        "VALUES ('big', %s, '{\"completeness\": 1}') RETURNING view::text",
                                        (amount,)).fetchone()[0]
                    return {(r[0], i) for r in conn.execute(f"SELECT * FROM {view}").fetchall()
                            for i, v in enumerate(r) if v is not None}
                finally:
                    conn.execute("RESET ROLE")

            before = kept(early, 200)
            conn.execute("ALTER EXTENSION nyop UPDATE")
            assert one(conn, "SELECT mask_scheme FROM nyop.offering_secrets WHERE offering = 'big'") == 1
            after = kept(late, 600)
            assert before < after
    finally:
        drop_database(server, old)
