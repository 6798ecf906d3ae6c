"""Bids, the trigger and the buyer's tailored view, with real roles (issue 4)."""

import json

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
LATER = "2017-05-08 02:00+00"       # 17:00 + 9 h: the 8.64 h-delayed buyer sees all of Table 1


def place(conn, offering="paper_a", bid=1000, prefs=PREFS, columns=None, scope=None, now=paper.PAPER_NOW):
    conn.execute(f"SET nyop.now = '{now}'")
    return conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences, columns, scope) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING bid_id, buyer::text, status, quote, view::text",
        (offering, bid, prefs, columns, scope)).fetchone()


def rows(conn, view, now, order="station, date"):
    conn.execute(f"SET nyop.now = '{now}'")
    cur = conn.execute(f"SELECT * FROM {view} ORDER BY {order}")
    return [d.name for d in cur.description], cur.fetchall()


def test_paper_bid_end_to_end(paper_db, buyer):
    name, conn = buyer("airline")
    bid_id, who, status, quote, view = place(conn)
    assert (who, status) == (name, "accepted")
    assert quote["delay"] == "08:38:24" and quote["utility"] == pytest.approx(9.15)
    assert quote["levels"]["customer_support"]["terms"] == "Phone and e-mail 24/7"
    assert view == f"nyop_views.paper_a_{bid_id}"
    cols, data = rows(conn, view, paper.PAPER_NOW)
    assert cols == ["station", "airpressure", "humidity", "temperature", "date", "lastupdated"]
    assert data == []                                  # all of Table 1 is fresher than 17:00 − 8.64 h
    cols, data = rows(conn, view, LATER)
    assert len(data) == 6 and all(None not in r for r in data)   # completeness 1.0: nothing masked
    # the view's COMMENT says what it is, not what was paid (SPEC: figures only in nyop.my_purchases)
    comment = one(conn, "SELECT obj_description(%s::regclass, 'pg_class')", (view,))
    assert comment.startswith("nyop purchase") and "1000" not in comment and "level" not in comment
    mine = conn.execute("SELECT bid_id, offering, view::text, paid_total, levels, delay, completeness_target, "
                        "columns, scope FROM nyop.my_purchases").fetchall()
    assert len(mine) == 1 and mine[0][:4] == (bid_id, "paper_a", view, 1000)
    assert mine[0][4]["timeliness"]["level"] == 8 and str(mine[0][5]) == "8:38:24"
    assert mine[0][7] == cols and mine[0][8] is None


def test_rejected_bid_creates_nothing(paper_db, buyer):
    _, conn = buyer()
    _, _, status, quote, view = place(conn, bid=5)
    assert status == "rejected" and view is None and quote["minimum_bid"] > 5
    assert one(paper_db, "SELECT count(*) FROM pg_class WHERE relnamespace = 'nyop_views'::regnamespace") == 0
    assert one(paper_db, "SELECT count(*) FROM nyop.purchases") == 0


def test_isolation_between_buyers(paper_db, buyer):
    a, ca = buyer("a")
    b, cb = buyer("b")
    _, _, _, _, va = place(ca)
    _, _, _, _, vb = place(cb, bid=900)
    assert [r[0] for r in ca.execute("SELECT buyer::text FROM nyop.bids").fetchall()] == [a]
    assert [r[0] for r in cb.execute("SELECT buyer::text FROM nyop.bids").fetchall()] == [b]
    for conn, other in ((ca, vb), (cb, va)):
        for target in (other, "weather_a", "public.weather_b", "nyop.offering_secrets", "nyop.mask_seeds",
                       "nyop.purchases", "nyop.history_%d" % one(paper_db, "SELECT 'weather_a'::regclass::oid"),
                       "nyop.offerings"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {target}")
    # the secret is nowhere in the catalog a buyer can read
    secret = one(paper_db, "SELECT secret FROM nyop.offering_secrets WHERE offering = 'paper_a'")
    defs = ca.execute("SELECT string_agg(definition, ' ') FROM pg_views WHERE schemaname = 'nyop_views'").fetchone()[0]
    assert secret not in defs and "offering_secrets" not in defs


def test_buyer_cannot_forge_or_skip_the_trigger(paper_db, buyer, make_role):
    a, ca = buyer("a")
    b, _ = buyer("b")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ca.execute("INSERT INTO nyop.bids (offering, bid, preferences, buyer) VALUES ('paper_a', 1000, %s, %s)",
                   (PREFS, b))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ca.execute("INSERT INTO nyop.bids (offering, bid, preferences, status) VALUES ('paper_a', 1, %s, 'accepted')",
                   (PREFS,))
    with pytest.raises(psycopg.Error):
        ca.execute("SELECT nyop._call('place_bid', '{}'::jsonb)")
    r = one(ca, "SELECT nyop._call_definer('place_bid', '{}'::jsonb)")   # the definer door refuses it
    assert r["error"]["sqlstate"] == "42501" and "ok" not in r
    outsider, dsn = make_role("outsider")
    with psycopg.connect(dsn, autocommit=True) as co:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            co.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s)", (PREFS,))
    assert one(paper_db, "SELECT count(*) FROM nyop.bids") == 0


def test_projection_in_buyer_order(paper_db, buyer):
    _, conn = buyer()
    # amount of data level 8: ⌈0.64 · 6⌉ = 4 columns, the two keys among them (keys count toward the budget)
    prefs = json.dumps({"timeliness": 0.5, "amount_of_data": 0.3, "customer_support": 0.4})
    _, _, status, quote, view = place(conn, bid=700, prefs=prefs, columns=["temperature", "humidity"])
    assert status == "accepted"
    assert quote["columns"] == ["temperature", "humidity", "station", "date"]
    assert quote["columns"][0] == "temperature"              # most wanted first
    assert quote["columns"][-2:] == ["station", "date"]       # keys always kept, in the provider's order
    cols, _ = rows(conn, view, LATER, order="1")
    assert cols == quote["columns"]
    assert "station" in cols and "date" in cols            # keys always kept


def delay_setup(paper_db, buyer):
    name, conn = buyer()
    _, _, status, quote, view = place(conn)             # delay 8.64 h
    assert status == "accepted"
    return conn, view


def test_delay_update_shows_old_version(paper_db, buyer):
    conn, view = delay_setup(paper_db, buyer)
    paper_db.execute("SET nyop.now = '2017-05-08 03:00+00'")
    paper_db.execute("UPDATE weather_a SET temperature = 30, lastupdated = '2017-05-08 03:00+00' "
                     "WHERE station = 'FRA' AND date = '2017-05-08'")
    fra = lambda now: [r for r in rows(conn, view, now)[1] if r[0] == "FRA" and str(r[4]) == "2017-05-08"]
    assert [r[3] for r in fra("2017-05-08 03:00+00")] == [17]       # the old version, not nothing
    assert [r[3] for r in fra("2017-05-08 11:00+00")] == [17]       # 8 h later: still delayed
    assert [r[3] for r in fra("2017-05-08 11:39+00")] == [30]       # 8.64 h after the update
    assert len(rows(conn, view, "2017-05-08 11:39+00")[1]) == 6     # never twice, never nothing


def test_delay_delete_still_visible(paper_db, buyer):
    conn, view = delay_setup(paper_db, buyer)
    paper_db.execute("SET nyop.now = '2017-05-08 03:00+00'")
    paper_db.execute("DELETE FROM weather_a WHERE station = 'LHR'")
    assert len(rows(conn, view, "2017-05-08 03:00+00")[1]) == 6
    assert len(rows(conn, view, "2017-05-08 11:00+00")[1]) == 6
    assert len(rows(conn, view, "2017-05-08 11:39+00")[1]) == 3


def test_no_delay_sees_current_data(paper_db, buyer):
    _, conn = buyer()
    _, _, status, quote, view = place(conn, bid=1200)
    assert quote["full_quality"] and quote["delay"] == "00:00:00"
    assert len(rows(conn, view, paper.PAPER_NOW)[1]) == 6
    paper_db.execute("UPDATE weather_a SET temperature = 31 WHERE station = 'FRA' AND date = '2017-05-08'")
    assert rows(conn, view, paper.PAPER_NOW)[1][0][3] == 31


def big_offering(db, n=400):
    db.execute("""CREATE TABLE big (id int PRIMARY KEY, a int, b int, c text, d float8,
                                    lu timestamptz NOT NULL)""")
    db.execute("""INSERT INTO big SELECT i, i %% 7, CASE WHEN i %% 5 = 0 THEN NULL ELSE i END, 'x' || i,
                  i / 3.0, '2017-05-07 12:00+00' FROM generate_series(1, %s) i""", (n,))
    db.execute("SELECT nyop_register_offering('big', 'big', 1000, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    db.execute("SELECT nyop_set_criterion('big', 'completeness', 1)")
    db.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")


def delivered(conn, view):
    """Rows and their completeness over every column but the last-updated one."""
    cur = conn.execute(f"SELECT * FROM {view}")
    data = cur.fetchall()
    idx = [i for i, d in enumerate(cur.description) if d.name != "lu"]
    cells = len(data) * len(idx)
    return data, sum(r[i] is not None for r in data for i in idx) / cells


@pytest.mark.parametrize("bid", [100, 300, 640, 900])
def test_completeness_within_one_cell(db, buyer, bid):
    big_offering(db)
    _, conn = buyer()
    _, _, status, quote, view = place(conn, "big", bid=bid, prefs='{"completeness": 1}')
    assert status == "accepted"
    data, got = delivered(conn, view)
    cells = len(data) * 5
    floor = 1 / 5                      # the key column is never masked
    assert abs(got - max(quote["completeness_target"], floor)) <= 1 / cells + 1e-12
    assert got == pytest.approx(one(db, "SELECT completeness FROM nyop.purchases"))
    assert delivered(conn, view)[0] == data                  # same data on re-query


def test_masks_are_nested_across_buyers(db, buyer):
    big_offering(db)
    _, c1 = buyer("cheap")
    _, c2 = buyer("dear")
    v1 = place(c1, "big", bid=200, prefs='{"completeness": 1}')[4]
    v2 = place(c2, "big", bid=700, prefs='{"completeness": 1}')[4]
    d1 = {r[0]: r for r in delivered(c1, v1)[0]}
    d2 = {r[0]: r for r in delivered(c2, v2)[0]}
    assert d1.keys() == d2.keys()
    kept1 = {(k, i) for k, r in d1.items() for i, v in enumerate(r) if v is not None}
    kept2 = {(k, i) for k, r in d2.items() for i, v in enumerate(r) if v is not None}
    assert kept1 < kept2


def test_scope_is_part_of_the_view(paper_db, buyer):
    _, conn = buyer()
    _, _, status, _, view = place(conn, scope="station = 'FRA'")
    assert status == "accepted"
    assert {r[0] for r in rows(conn, view, LATER)[1]} == {"FRA"}


def test_scope_on_a_column_not_delivered(paper_db, buyer):
    _, conn = buyer()
    prefs = json.dumps({"timeliness": 0.5, "amount_of_data": 0.1, "customer_support": 0.4})
    _, _, status, quote, view = place(conn, bid=700, prefs=prefs, columns=["temperature"],
                                      scope="lastupdated <= '2017-05-07 15:00+00'")
    assert status == "accepted" and "lastupdated" not in quote["columns"]
    cols, data = rows(conn, view, LATER)
    assert "lastupdated" not in cols and len(data) == 4   # the rows last updated at 14:00 and 15:00


def test_scope_only_by_key_and_time(paper_db, buyer):
    _, conn = buyer()
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
        place(conn, scope="temperature = 17")          # an oracle for cell values before purchase
    assert "key and last-updated" in str(e.value)


def test_view_is_plain_and_listable(paper_db, buyer):
    name, conn = buyer()
    view = place(conn)[4]
    listed = conn.execute("SELECT table_schema || '.' || table_name FROM information_schema.views "
                          "WHERE table_schema = 'nyop_views'").fetchall()
    assert [r[0] for r in listed] == [view]
    types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = 'nyop_views'").fetchall())
    assert types["temperature"] == "integer" and types["date"] == "date"


def test_selective_query_uses_base_index(db, buyer):
    big_offering(db, n=20000)
    db.execute("ANALYZE big")
    _, conn = buyer()
    view = place(conn, "big", bid=500, prefs='{"completeness": 1}')[4]
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT * FROM {view} WHERE id = 42").fetchall())
    assert "Index Scan" in plan and "big_pkey" in plan


def test_provider_sees_bids_without_preferences(paper_db, buyer, make_role):
    _, conn = buyer()
    place(conn)
    prov, dsn = make_role("provider")
    paper_db.execute(f'ALTER TABLE weather_a OWNER TO "{prov}"')
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours')")
    paper_db.execute(f'GRANT USAGE ON SCHEMA nyop TO "{prov}"; GRANT SELECT ON nyop.provider_bids TO "{prov}"')
    with psycopg.connect(dsn, autocommit=True) as cp:
        cur = cp.execute("SELECT * FROM nyop.provider_bids")
        got = cur.fetchall()
        names = [d.name for d in cur.description]
        assert len(got) == 1 and "preferences" not in names and "columns" not in names and "scope" not in names
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cp.execute("SELECT preferences FROM nyop.bids")
