"""Faults: failed bids leave nothing, killed backends lose nothing, DDL on what was sold
is refused or handled as documented (issue 5)."""

import json
import threading
import time

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])


def state(conn):
    return (one(conn, "SELECT count(*) FROM nyop.bids"), one(conn, "SELECT count(*) FROM nyop.purchases"),
            one(conn, "SELECT count(*) FROM pg_class WHERE relnamespace = 'nyop_views'::regnamespace"),
            one(conn, "SELECT count(*) FROM nyop.mask_seeds"))


def place(conn, amount=1000):
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', %s, %s) "
                        "RETURNING bid_id, view::text", (amount, PREFS)).fetchone()


def test_failed_view_creation_leaves_nothing(paper_db, buyer):
    _, first = buyer("first")
    place(first)
    _, conn = buyer("second")
    before = state(paper_db)
    nxt = one(paper_db, "SELECT last_value + 1 FROM nyop.bids_bid_id_seq")
    paper_db.execute(f'CREATE TABLE nyop_views."paper_a_{nxt}" (x int)')      # the name the view would take
    with pytest.raises(psycopg.Error) as e:
        place(conn)
    assert e.value.sqlstate == "42P07" and "Traceback" not in str(e.value)
    paper_db.execute(f'DROP TABLE nyop_views."paper_a_{nxt}"')
    assert state(paper_db) == before


def test_killed_backend_loses_no_committed_bid_and_leaves_no_orphan(paper_db, buyer):
    _, conn = buyer()
    committed = place(conn)
    before = state(paper_db)
    pid = one(conn, "SELECT pg_backend_pid()")
    with psycopg.connect(paper_db.info.dsn) as locker:              # stall the trigger after CREATE VIEW
        locker.execute("LOCK TABLE nyop.purchases IN ACCESS EXCLUSIVE MODE")
        err = []
        t = threading.Thread(target=lambda: _try(lambda: place(conn), err))
        t.start()
        for _ in range(100):
            waiting = one(paper_db, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
            if waiting == "Lock":
                break
            time.sleep(0.05)
        assert waiting == "Lock"
        assert one(paper_db, "SELECT pg_terminate_backend(%s)", (pid,))
        t.join(10)
        locker.rollback()
    assert err and isinstance(err[0], psycopg.OperationalError)
    assert state(paper_db) == before
    assert one(paper_db, "SELECT count(*) FROM nyop.bids WHERE bid_id = %s", (committed[0],)) == 1


def _try(fn, err):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the test inspects it
        err.append(e)


@pytest.mark.parametrize("ddl, sqlstate", [
    ("DROP TABLE weather_a", "2BP01"),                                   # PostgreSQL: views depend on it
    ("DROP TABLE weather_a CASCADE", "55006"),                           # nyop: it is sold
    ("ALTER TABLE weather_a DROP COLUMN humidity", "2BP01"),
    ("ALTER TABLE weather_a DROP COLUMN humidity CASCADE", "55006"),
    ("ALTER TABLE weather_a RENAME COLUMN humidity TO hum", "55006"),
    ("ALTER TABLE weather_a ALTER COLUMN humidity TYPE bigint", "0A000"),
    ("SELECT nyop_drop_offering('paper_a')", "55006"),
])
def test_ddl_on_what_was_sold_is_refused(paper_db, buyer, ddl, sqlstate):
    _, conn = buyer()
    _, view = place(conn)
    before = state(paper_db)
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute(ddl)
    assert e.value.sqlstate == sqlstate, str(e.value)
    assert state(paper_db) == before
    conn.execute("SET nyop.now = '2017-05-08 02:00+00'")
    assert len(conn.execute(f"SELECT * FROM {view}").fetchall()) == 6


def test_drop_view_of_a_purchase_is_refused(paper_db, buyer):
    _, conn = buyer()
    _, view = place(conn)
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute(f"DROP VIEW {view}")
    assert e.value.sqlstate == "55006"


def test_force_drop_offering_removes_views_keeps_bids(paper_db, buyer):
    _, conn = buyer()
    bid_id, view = place(conn)
    paper_db.execute("SELECT nyop_drop_offering('paper_a', force => true)")
    assert one(paper_db, "SELECT to_regclass(%s)", (view,)) is None
    assert one(paper_db, "SELECT count(*) FROM nyop.bids WHERE bid_id = %s", (bid_id,)) == 1
    assert one(paper_db, "SELECT count(*) FROM nyop.purchases") == 0
    # weather_a is still sold as 'wa': its history stays; dropping 'wa' too removes it
    assert one(paper_db, "SELECT count(*) FROM nyop.histories WHERE relation = 'weather_a'::regclass") == 1
    paper_db.execute("SELECT nyop_drop_offering('wa')")
    assert one(paper_db, "SELECT count(*) FROM nyop.histories WHERE relation = 'weather_a'::regclass") == 0
    paper_db.execute("DROP TABLE weather_a")


def test_added_column_extends_history_on_reregistration(paper_db, buyer):
    paper_db.execute("ALTER TABLE weather_a ADD COLUMN visibility int DEFAULT 10")
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours')")
    paper_db.execute(paper.SINGLE_SQL.split(";", 1)[1])
    paper_db.execute("SET nyop.now = '2017-05-08 01:00+00'")
    paper_db.execute("UPDATE weather_a SET visibility = 3, lastupdated = '2017-05-08 01:00+00' "
                     "WHERE station = 'FRA'")
    assert one(paper_db, "SELECT count(*) FROM nyop.history_%s WHERE visibility = 10"
               % one(paper_db, "SELECT 'weather_a'::regclass::oid")) == 3
    _, conn = buyer()
    conn.execute("SET nyop.now = '2017-05-08 02:00+00'")
    _, _, q, view = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s) "
                                 "RETURNING bid_id, status, quote, view::text", (PREFS,)).fetchone()
    assert "visibility" in q["columns"]
    conn.execute("SET nyop.now = '2017-05-08 09:00+00'")       # 8.6 h delay: FRA shows the old versions
    vis = {r[0] for r in conn.execute(f"SELECT visibility FROM {view} WHERE station = 'FRA'").fetchall()}
    assert vis == {10}


def test_provider_may_drop_not_null_after_history_exists(paper_db, buyer):
    paper_db.execute("ALTER TABLE weather_a ALTER COLUMN lastupdated DROP NOT NULL")
    paper_db.execute("UPDATE weather_a SET temperature = NULL, lastupdated = NULL WHERE station = 'FRA'")
    paper_db.execute("UPDATE weather_a SET temperature = 1 WHERE station = 'FRA'")       # old NULLs go to history
    paper_db.execute("DELETE FROM weather_a WHERE station = 'FRA'")
    hist = one(paper_db, "SELECT history::text FROM nyop.histories WHERE relation = 'weather_a'::regclass")
    assert one(paper_db, f"SELECT count(*) FROM {hist} WHERE lastupdated IS NULL") == 6


def test_names_with_a_trailing_newline_are_refused_cleanly(paper_db):
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute("SELECT nyop_register_offering(E'paper_x\\n', 'weather_a', 100, ARRAY['station'])")
    assert e.value.sqlstate == "22023"
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute("SELECT nyop_set_criterion('paper_a', E'documentation\\n', 1, tiers => ARRAY['x'])")
    assert e.value.sqlstate == "22023"
