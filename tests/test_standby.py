"""Reading a tailored view never writes: a buyer reads it on a hot standby (issue: read-only replicas).

A primary (the session's local cluster) and a hot standby made with
pg_basebackup, streaming on localhost. Bids go to the primary; the buyer reads
its view, and quotes, on the standby -- same rows, same delay, same masks.
"""

import json

import psycopg
import pytest

from conftest import one
from test_delivery import big_offering, rows
from nyop_pg import paper
from nyop_pg.cluster import LocalCluster

PREFS = json.dumps(paper.PAPER_BID["preferences"])
LATER = "2017-05-08 02:00+00"          # 17:00 + 9 h: the 8.64 h-delayed buyer sees all of Table 1
BETWEEN = "2017-05-07 23:00+00"        # 14:00 + 8.64 h = 22:38 < 23:00 < 15:00 + 8.64 h: two rows


@pytest.fixture(scope="module")
def standby(server):
    if not isinstance(server.cluster, LocalCluster):
        pytest.skip("a hot standby needs the throwaway local cluster (not NYOP_TEST_DSN or Docker)")
    from nyop_pg.replica import start_standby
    sb = start_standby(server.cluster)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def on_standby(server, standby, dbname):
    """on_standby(primary_conn, user) -> an autocommit connection to the test database on the
    standby, as ``user``, once the standby has replayed everything ``primary_conn`` wrote."""
    from nyop_pg.replica import wait_for_replay
    conns = []

    def connect(primary_conn, user="postgres"):
        with psycopg.connect(standby.dsn, autocommit=True) as sconn:
            wait_for_replay(primary_conn, sconn)
        conn = psycopg.connect(standby.dsn_for(dbname, user=user), autocommit=True)
        conns.append(conn)
        assert one(conn, "SELECT pg_is_in_recovery()")
        return conn

    def sync(primary_conn):
        with psycopg.connect(standby.dsn, autocommit=True) as sconn:
            wait_for_replay(primary_conn, sconn)

    connect.sync = sync
    yield connect
    for c in conns:
        c.close()


def place(conn, offering="paper_a", bid=1000, prefs=PREFS, now=paper.PAPER_NOW):
    conn.execute(f"SET nyop.now = '{now}'")
    return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                        "RETURNING bid_id, status, quote, view::text", (offering, bid, prefs)).fetchone()


def test_delayed_view_read_on_standby(paper_db, buyer, on_standby):
    name, conn = buyer("airline")
    bid_id, status, quote, view = place(conn)
    assert status == "accepted" and quote["delay"] == "08:38:24"
    sconn = on_standby(paper_db, name)
    assert one(sconn, "SELECT current_user") == name
    for now, expected in ((paper.PAPER_NOW, 0), (BETWEEN, 2), (LATER, 6)):
        on_primary, on_replica = rows(conn, view, now), rows(sconn, view, now)
        assert on_replica == on_primary, now
        assert len(on_replica[1]) == expected, now
    assert all(None not in r for r in rows(sconn, view, LATER)[1])      # completeness 1.0: nothing masked
    # the buyer sees its own bid, and nothing else, on the standby too
    assert sconn.execute("SELECT bid_id, buyer::text, view::text FROM nyop.bids").fetchall() == \
        [(bid_id, name, view)]


def test_quote_on_standby(paper_db, buyer, on_standby):
    name, conn = buyer()
    sconn = on_standby(paper_db, name)
    q = "SELECT nyop_quote('paper_a', 1000, %s)"
    for c in (conn, sconn):
        c.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    on_replica = one(sconn, q, (PREFS,))
    assert on_replica == one(conn, q, (PREFS,))
    assert on_replica["delay"] == "08:38:24" and on_replica["utility"] == pytest.approx(9.15)
    group = one(sconn, "SELECT nyop_quote('weather', 1000, %s)",
                (json.dumps({"completeness": 0.5, "amount_of_data": 0.3, "customer_support": 0.2}),))
    assert group["offering"] in ("wa", "wb")
    assert one(sconn, "SELECT nyop_quote('paper_a', 1000, %s)", (PREFS,)) == on_replica   # again (cached)


def test_bids_go_to_the_primary(paper_db, buyer, on_standby):
    name, conn = buyer()
    sconn = on_standby(paper_db, name)
    sconn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as err:
        sconn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s)",
                      (PREFS,))
    assert err.value.sqlstate == "25006"
    assert sconn.execute("SELECT count(*) FROM nyop.bids").fetchone()[0] == 0
    # the same bid on the primary is accepted and reaches the standby
    bid_id, status, _, view = place(conn)
    assert status == "accepted"
    on_standby.sync(paper_db)
    assert sconn.execute("SELECT bid_id, status FROM nyop.bids").fetchall() == [(bid_id, "accepted")]
    assert rows(sconn, view, LATER) == rows(conn, view, LATER)


def test_masked_view_on_standby(db, buyer, on_standby):
    big_offering(db)
    name, conn = buyer()
    _, status, quote, view = place(conn, "big", bid=300, prefs='{"completeness": 1}')
    assert status == "accepted" and quote["completeness_target"] < 1
    sconn = on_standby(db, name)
    cols, on_primary = rows(conn, view, paper.PAPER_NOW, order="id")
    assert rows(sconn, view, paper.PAPER_NOW, order="id") == (cols, on_primary)
    nulls = sum(v is None for r in on_primary for v in r)
    assert len(on_primary) == 400 and nulls > 80          # masked cells beyond big's own NULLs (80)
    assert rows(sconn, view, LATER, order="id") == rows(conn, view, LATER, order="id")   # the same cells, again


def test_provider_update_reaches_delayed_buyer_on_standby(paper_db, buyer, on_standby):
    name, conn = buyer()
    _, status, _, view = place(conn)                       # delay 8.64 h
    assert status == "accepted"
    sconn = on_standby(paper_db, name)
    paper_db.execute("SET nyop.now = '2017-05-08 03:00+00'")
    paper_db.execute("UPDATE weather_a SET temperature = 30, lastupdated = '2017-05-08 03:00+00' "
                     "WHERE station = 'FRA' AND date = '2017-05-08'")
    on_standby.sync(paper_db)

    def fra(now):
        return [r[3] for r in rows(sconn, view, now)[1] if r[0] == "FRA" and str(r[4]) == "2017-05-08"]

    assert fra("2017-05-08 03:00+00") == [17]              # the old version, not nothing
    assert fra("2017-05-08 11:00+00") == [17]              # 8 h later: still delayed
    assert fra("2017-05-08 11:39+00") == [30]              # 8.64 h after the update
    for now in ("2017-05-08 03:00+00", "2017-05-08 11:00+00", "2017-05-08 11:39+00"):
        assert rows(sconn, view, now) == rows(conn, view, now), now
    assert len(rows(sconn, view, "2017-05-08 11:39+00")[1]) == 6
