"""Market features beyond the paper, through SQL as the roles involved (issue 7)."""

import json

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
LATER = "2017-05-08 02:00+00"


def bid(conn, offering="paper_a", amount=1000, prefs=PREFS, now=paper.PAPER_NOW, **kw):
    conn.execute(f"SET nyop.now = '{now}'")
    cols = ", ".join(["offering", "bid", "preferences"] + list(kw))
    vals = ", ".join(["%s"] * (3 + len(kw)))
    return conn.execute(f"INSERT INTO nyop.bids ({cols}) VALUES ({vals}) "
                        "RETURNING bid_id, status, quote, view::text, provider_share, operator_share",
                        (offering, amount, prefs, *kw.values())).fetchone()


def cells(conn, view, now=LATER):
    conn.execute(f"SET nyop.now = '{now}'")
    cur = conn.execute(f"SELECT * FROM {view}")
    names = [d.name for d in cur.description]
    keys = [names.index(k) for k in (("id",) if "id" in names else ("station", "date"))]
    return {(tuple(r[j] for j in keys), names[i]): v for r in cur.fetchall() for i, v in enumerate(r)}


# -- explain ---------------------------------------------------------------------------

def test_explain_says_what_more_would_buy(paper_db, buyer):
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    e = one(conn, "SELECT nyop_explain('paper_a', 900, %s::jsonb)", (PREFS,))
    assert e["accepted"]
    for crit, nxt in e["next"].items():
        if nxt["next_level"] is None:
            assert e["levels"][crit]["level"] == {"customer_support": 9}.get(crit, 10)
            continue
        assert nxt["bid"] == pytest.approx(e["cost"] + nxt["extra"])
        better = one(conn, "SELECT nyop_quote('paper_a', %s::numeric, %s::jsonb)", (nxt["bid"] + 1e-6, PREFS))
        assert better["utility"] >= e["utility"] + nxt["utility_gain"] - 1e-9
    assert e["full_quality_bid"] == pytest.approx(1200)
    full = one(conn, "SELECT nyop_quote('paper_a', %s::numeric, %s::jsonb)", (e["full_quality_bid"], PREFS))
    assert full["full_quality"]


def test_explain_reveals_no_hidden_reserve(paper_db, buyer):
    paper_db.execute("SELECT nyop_register_offering('hidden', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours', reserve_price => 1000)")
    paper_db.execute("SELECT nyop_set_criterion('hidden', 'timeliness', 1)")
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    e = one(conn, "SELECT nyop_explain('hidden', 500, '{\"timeliness\": 1}'::jsonb)")
    text = json.dumps(e)
    assert "reserve" not in text and "1200" not in text
    # what explain says full quality costs, bidding reveals as well
    assert one(conn, "SELECT nyop_quote('hidden', %s::numeric, '{\"timeliness\": 1}'::jsonb)",
               (e["full_quality_bid"],))["full_quality"]


# -- upgrades ----------------------------------------------------------------------------

def test_upgrade_pays_the_difference_in_place(paper_db, buyer):
    _, conn = buyer()
    prefs = json.dumps({"timeliness": 0.4, "amount_of_data": 0.2, "customer_support": 0.4})
    b1, st1, q1, v1, *_ = bid(conn, amount=400, prefs=prefs)
    assert st1 == "accepted"
    oid1 = one(paper_db, "SELECT %s::regclass::oid", (v1,))
    before = cells(conn, v1)
    b2, st2, q2, v2, *_ = bid(conn, amount=300, prefs=prefs)
    assert st2 == "accepted" and v2 == v1 and q2["upgrade_of"] == b1
    assert one(paper_db, "SELECT %s::regclass::oid", (v2,)) == oid1          # same view, in place
    assert q2["paid_total"] == pytest.approx(700)
    for k, v in q1["levels"].items():
        assert q2["levels"][k]["level"] >= v["level"]
    assert q2["utility"] > q1["utility"]
    after = cells(conn, v2)
    for k, v in before.items():                                              # every old cell is kept
        assert after.get(k) == v or v is None
    assert one(paper_db, "SELECT superseded_by FROM nyop.purchases WHERE bid_id = %s", (b1,)) == b2


def test_upgrade_that_buys_nothing_more_is_refused(paper_db, buyer):
    _, conn = buyer()
    b1, st1, q1, v1, *_ = bid(conn, amount=1200)                              # full quality
    b2, st2, q2, v2, *_ = bid(conn, amount=1)
    assert st2 == "rejected" and v2 is None and "nothing beyond" in q2["reason"]
    assert one(paper_db, "SELECT superseded_by FROM nyop.purchases WHERE bid_id = %s", (b1,)) is None
    # another scope is another product: a new purchase, not an upgrade
    b3, st3, q3, v3, *_ = bid(conn, amount=1000, scope="station = 'FRA'")
    assert st3 == "accepted" and v3 != v1 and "upgrade_of" not in q3


def test_upgraded_masks_hold_the_old_cells(db, buyer):
    db.execute("""CREATE TABLE big (id int PRIMARY KEY, a int, b int, c text, lu timestamptz NOT NULL);
                  INSERT INTO big SELECT i, i, i * 2, 'x' || i, '2017-05-07 12:00+00' FROM generate_series(1, 300) i;
                  SELECT nyop_register_offering('big', 'big', 1000, ARRAY['id'], last_updated => 'lu',
                                                volatility => '24 hours');
                  SELECT nyop_set_criterion('big', 'completeness', 1);""")
    _, conn = buyer()
    _, _, q1, v1, *_ = bid(conn, "big", 200, '{"completeness": 1}')
    old = {k for k, v in cells(conn, v1).items() if v is not None}
    _, st, q2, v2, *_ = bid(conn, "big", 300, '{"completeness": 1}')
    assert st == "accepted" and v2 == v1
    new = {k for k, v in cells(conn, v2).items() if v is not None}
    assert old < new


# -- audit -------------------------------------------------------------------------------------

def test_audit_passes_for_the_paper(paper_db, buyer, make_role):
    a = one(paper_db, "SELECT nyop_audit('paper_a')")
    assert a["ok"] and a["problems"] == []
    crit = {c["criterion"]: c for c in a["criteria"]}
    assert crit["customer_support"]["levels"] == [3, 6, 9]
    prices = crit["timeliness"]["prices"]
    assert prices == sorted(prices)


def test_audit_finds_a_non_monotone_table():
    from nyop_server import audit as market
    from nyop_server.model import Criterion
    c = Criterion("x", 1.0)
    c.levels, c.prices = [1.0, 2.0, 3.0], [10.0, 5.0, 20.0]
    d = Criterion("y", 1.0)
    d.levels, d.prices = [1.0, 2.0], [1.0, 2.0]
    out = market.audit([c, d])
    assert not out["ok"] and "costs 5.00, less than level 1" in out["problems"][0]


def test_registration_warns_when_audit_fails(paper_db, monkeypatch):
    notices = []
    paper_db.add_notice_handler(lambda d: notices.append(d.message_primary))
    paper_db.execute("SELECT nyop_set_criterion('paper_a', 'timeliness', 0.5)")
    assert not [n for n in notices if "audit" in n]      # the model's prices always pass


# -- seller analytics ---------------------------------------------------------------------------

def test_seller_analytics_and_weights(paper_db, buyer, make_role):
    prov, dsn = make_role("seller")
    paper_db.execute(f'ALTER TABLE weather_a OWNER TO "{prov}"')
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours')")
    paper_db.execute(paper.SINGLE_SQL.split(";", 1)[1])          # the criteria again
    paper_db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    paper_db.execute("SELECT nyop_set_commission(0.1)")
    conns = [buyer(f"b{i}")[1] for i in range(6)]
    for i, c in enumerate(conns):
        w = {"timeliness": 0.2 + 0.1 * i, "amount_of_data": 0.5, "customer_support": 0.3}
        _, status, q, _, ps, os_ = bid(c, amount=[5, 1000, 900, 800, 700, 600][i], prefs=json.dumps(w))
        if status == "accepted":
            assert float(ps) + float(os_) == pytest.approx(q["bid"]) and float(os_) == pytest.approx(0.1 * q["bid"])
    with psycopg.connect(dsn, autocommit=True) as p:         # today is not over: no weights yet
        assert p.execute("SELECT count(*) FROM nyop.seller_weights").fetchone()[0] == 0
    paper_db.execute("ALTER TABLE nyop.bids DISABLE TRIGGER bids_immutable; "
                     "UPDATE nyop.bids SET placed_at = placed_at - interval '1 day'; "
                     "ALTER TABLE nyop.bids ENABLE TRIGGER bids_immutable")
    with psycopg.connect(dsn, autocommit=True) as p:
        a = p.execute("SELECT bids, bids_below_ask, accepted, acceptance_rate, revenue, provider_revenue, "
                      "operator_revenue, utility_delivered, utility_greedy, revenue_greedy_leaves_on_table "
                      "FROM nyop.seller_analytics WHERE offering = 'paper_a'").fetchone()
        assert a[:3] == (6, 6, 5) and float(a[3]) == pytest.approx(5 / 6, abs=1e-4)
        assert float(a[4]) == 4000 and float(a[5]) == pytest.approx(3600) and float(a[6]) == pytest.approx(400)
        assert a[7] >= a[8] and a[9] >= -1e-9
        w = dict((r[0], r[1:]) for r in p.execute(
            "SELECT criterion, buyers, mean_weight FROM nyop.seller_weights WHERE offering = 'paper_a'"))
        expected = sum(0.5 / (1.0 + 0.1 * i) for i in range(6)) / 6      # each buyer's ω normalised
        assert w["amount_of_data"][0] == 6 and w["amount_of_data"][1] == pytest.approx(expected)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            p.execute("SELECT preferences FROM nyop.bids")
    # with fewer than 5 buyers nothing is shown
    paper_db.execute("DELETE FROM nyop.purchases")
    paper_db.execute("DELETE FROM nyop.bids WHERE bid_id IN (SELECT bid_id FROM nyop.bids ORDER BY bid_id LIMIT 2)")
    with psycopg.connect(dsn, autocommit=True) as p:
        assert p.execute("SELECT count(*) FROM nyop.seller_weights").fetchone()[0] == 0


def test_commission_is_validated(paper_db):
    for bad in ("-0.1", "1", "'NaN'"):
        with pytest.raises(psycopg.Error) as e:
            paper_db.execute(f"SELECT nyop_set_commission({bad})")
        assert e.value.sqlstate == "22023"


# -- free preview -----------------------------------------------------------------------------

def test_free_preview_contained_in_every_paid_version(db, buyer, make_role):
    prov, dsn = make_role("previewer")
    db.execute(f"""CREATE TABLE big (id int PRIMARY KEY, a int, b int, c text, lu timestamptz NOT NULL);
                   INSERT INTO big SELECT i, i, CASE WHEN i % 4 = 0 THEN NULL ELSE i END, 'x' || i,
                          '2017-05-08 06:00+00' FROM generate_series(1, 200) i;
                   ALTER TABLE big OWNER TO "{prov}";""")
    db.execute("SELECT nyop_register_offering('big', 'big', 1000, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    for crit in ("completeness", "timeliness", "amount_of_data"):
        db.execute(f"SELECT nyop_set_criterion('big', '{crit}', 1)")
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    _, early = buyer("early")
    bid(early, "big", 600, '{"completeness": 1, "timeliness": 1, "amount_of_data": 1}', now="2017-05-08 12:00+00")
    with psycopg.connect(dsn, autocommit=True) as p:
        p.execute("SET nyop.now = '2017-05-08 12:00+00'")
        view = p.execute("SELECT nyop_publish_preview('big')::text").fetchone()[0]
    assert view == "nyop_views.big_preview"
    _, late = buyer("late")
    buyers = [early, late]
    bid(late, "big", 300, '{"completeness": 0.2, "timeliness": 1, "amount_of_data": 0.1}',
        columns=["c"], now="2017-05-08 12:00+00")
    now = "2017-05-09 08:00+00"            # past the preview's delay (level 1: 0.99 × 24 h)
    pv = cells(late, view, now)
    assert pv, "the preview shows rows"
    for c in buyers:
        held = one(c, "SELECT view::text FROM nyop.bids WHERE status = 'accepted'")
        paid = cells(c, held, now)
        for k, v in pv.items():
            if v is not None:
                assert paid.get(k) == v, (held, k)
    with psycopg.connect(dsn, autocommit=True) as p:
        p.execute("SELECT nyop_unpublish_preview('big')")
    assert one(db, "SELECT to_regclass('nyop_views.big_preview')") is None


def test_preview_only_by_its_provider(paper_db, make_role):
    other, dsn = make_role("stranger")
    paper_db.execute(f"SELECT nyop_add_provider('\"{other}\"')")
    with psycopg.connect(dsn, autocommit=True) as p:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            p.execute("SELECT nyop_publish_preview('paper_a')")


def test_rebid_on_a_group_upgrades_the_member_held(paper_db, buyer):
    _, conn = buyer()
    prefs = json.dumps({"completeness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15})
    b1, st1, q1, v1, *_ = bid(conn, "weather", 700, prefs)
    assert st1 == "accepted" and q1["offering"] == "wb"
    b2, st2, q2, v2, *_ = bid(conn, "weather", 200, prefs)
    assert st2 == "accepted" and q2["offering"] == "wb" and q2["upgrade_of"] == b1 and v2 == v1
    assert one(paper_db, "SELECT sold FROM nyop.bids WHERE bid_id = %s", (b2,)) == "wb"


def test_upgrade_refusal_names_the_minimum(paper_db, buyer):
    _, conn = buyer()
    bid(conn, amount=900)
    _, st, q, *_ = bid(conn, amount=0.01)
    assert st == "rejected" and q["minimum_bid"] > 0.01
    _, st, q, *_ = bid(conn, amount=q["minimum_bid"] + 1e-6)
    assert st == "accepted"
