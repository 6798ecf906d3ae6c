"""Holdings combine; no column-splitting (issue 14 item 6, MODEL §8): a buyer's re-bid on an
offering it holds (same scope) is an upgrade to the union of the held and the newly wanted
columns, accepted only if everything paid for the offering covers that version."""

import json

import pytest

from conftest import one
from nyop_pg import paper

AOD = json.dumps({"amount_of_data": 1})
FOUR = ["airpressure", "humidity", "temperature", "lastupdated"]
KEYS = ["station", "date"]


def bid(conn, amount, columns=None, prefs=AOD, offering="paper_a", scope=None):
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences, columns, scope) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING bid_id, status, quote, view::text",
                        (offering, amount, prefs, columns, scope)).fetchone()


def view_columns(conn, view):
    return [d.name for d in conn.execute(f"SELECT * FROM {view} LIMIT 0").description]


def test_four_bids_of_37_do_not_buy_what_392_67_buys(paper_db, buyer):
    """The issue's reproduction: four bids of 37, each naming one column. Only the first is a
    purchase (its level delivers the keys alone); every re-bid is an upgrade that must pay for
    the union, so the three others are refused with the minimum that buys it."""
    _, conn = buyer()
    b1, st, q, v = bid(conn, 37, ["airpressure"])
    assert st == "accepted" and set(view_columns(conn, v)) == set(KEYS)      # 37 buys the keys only
    for col in FOUR[1:]:
        _, st, q, v2 = bid(conn, 37, [col])
        assert st == "rejected" and v2 is None and q["upgrade_of"] == b1
        assert q["minimum_bid"] > 37
    assert one(paper_db, "SELECT count(*) FROM nyop.purchases") == 1
    assert set(view_columns(conn, v)) == set(KEYS)


def test_buying_columns_one_bid_at_a_time_costs_at_least_buying_them_together(paper_db, buyer):
    # one bid naming all four: the cheapest version that holds them
    _, whole = buyer("whole")
    _, st, single, v = bid(whole, 392.67, FOUR)
    assert st == "accepted" and set(FOUR) <= set(view_columns(whole, v))
    _, st, q, _ = bid(buyer("whole2")[1], 392.66, FOUR)
    assert st == "rejected" or not set(FOUR) <= set(q["columns"])

    # the same columns bought one at a time, each time paying no more than the quote asks
    _, conn = buyer()
    paid, view, first = 0.0, None, None
    for col in FOUR:
        for _ in range(3):
            b, st, q, v = bid(conn, 37, [col])
            if st == "rejected":
                assert "minimum_bid" in q
                b, st, q, v = bid(conn, q["minimum_bid"] + 1e-6, [col])
            assert st == "accepted"
            paid += float(q["bid"])
            first = first or b
            view = view or v
            assert v == view and q.get("upgrade_of", first) <= b          # always the same view
            if col in view_columns(conn, view):
                break
        assert q.get("paid_total", paid) == pytest.approx(paid)
        assert q.get("paid_total", paid) >= q["cost"] - 1e-6                # paid covers the version held
    held = view_columns(conn, view)
    assert set(KEYS + FOUR) <= set(held)                                     # the union
    assert single["cost"] == pytest.approx(360 + 6 + 240 / 9)                 # 392.67: the figure
    assert paid >= single["cost"] - 1e-6                                     # never less than together
    assert one(paper_db, "SELECT count(*) FROM nyop.purchases WHERE superseded_by IS NULL AND view = %s::regclass",
               (view,)) == 1


def test_rebid_naming_a_new_column_upgrades_to_the_union_in_place(paper_db, buyer):
    _, conn = buyer()
    b1, st, q1, v1 = bid(conn, 170, ["airpressure"])                         # level 6: keys + one column
    assert st == "accepted"
    before = view_columns(conn, v1)
    assert set(before) == set(KEYS + ["airpressure"])
    oid = one(paper_db, "SELECT %s::regclass::oid", (v1,))
    b2, st, q2, v2 = bid(conn, 1, ["humidity"])                              # the union needs level 8
    assert st == "rejected" and q2["upgrade_of"] == b1
    need = q2["minimum_bid"]
    # everything paid covers the union's version: 170 + minimum = cost of level 8 + minimum levels
    assert 170 + need == pytest.approx(230.4 + 6 + 240 / 9, abs=1e-6)
    b3, st, q3, v3 = bid(conn, need + 1e-6, ["humidity"])
    assert st == "accepted" and v3 == v1 and q3["upgrade_of"] == b1
    assert one(paper_db, "SELECT %s::regclass::oid", (v3,)) == oid
    after = view_columns(conn, v3)
    assert after[:len(before)] == before and "humidity" in after               # old columns keep their places
    assert q3["paid_total"] == pytest.approx(170 + need + 1e-6)
    assert one(paper_db, "SELECT superseded_by FROM nyop.purchases WHERE bid_id = %s", (b1,)) == b3


@pytest.mark.parametrize("columns", [["airpressure"], ["station"], None])
def test_rebid_that_buys_nothing_more_is_refused_with_the_minimum(paper_db, buyer, columns):
    _, conn = buyer()
    b1, st, q1, v1 = bid(conn, 170, ["airpressure"])
    assert st == "accepted"
    _, st, q, v = bid(conn, 1, columns)
    assert st == "rejected" and v is None and "nothing beyond" in q["reason"]
    assert q["minimum_bid"] > 0
    _, st, q, v = bid(conn, q["minimum_bid"] + 1e-6, columns)
    assert st == "accepted" and v == v1


def test_another_scope_is_another_purchase(paper_db, buyer):
    _, conn = buyer()
    bid(conn, 170, ["airpressure"])
    _, st, q, v = bid(conn, 170, ["humidity"], scope="station = 'FRA'")
    assert st == "accepted" and "upgrade_of" not in q


def test_audit_checks_column_sets(paper_db):
    a = one(paper_db, "SELECT nyop_audit('paper_a')")
    assert a["ok"] and a["column_sets"]["ok"]
    assert a["column_sets"]["columns"] == [1, 1, 1, 1, 2, 3, 3, 4, 5, 6]
    # a threshold on amount of data: level 1 already sells four of six columns for 1 % of the price,
    # so two buyers naming different columns hold all six for far less than a version that has them
    paper_db.execute("SELECT nyop_register_offering('split', 'weather_a', 1200, ARRAY['station', 'date'])")
    paper_db.execute("SELECT nyop_set_criterion('split', 'amount_of_data', 1, threshold => 0.5)")
    a = one(paper_db, "SELECT nyop_audit('split')")
    assert not a["ok"] and not a["column_sets"]["ok"]
    assert any("name different columns" in p for p in a["problems"])
