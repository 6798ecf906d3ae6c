"""The model as docs/model.md states it, where nyop once departed from it (issue 14, items 2-5):
the column budget counts the keys, a stale offering (timeliness 0) still sells, contractual
tiers scale with the number of levels, and per-row timeliness is capped at 1.

Each item has a pure test (model.py / pricing.py, no server) and one through SQL.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from conftest import one
from nyop_pg import paper
from nyop_server import model, pricing, quality

SUPPORT = ["E-mail, 48 h response", "Phone 9-5 and e-mail 24 h response", "Phone and e-mail 24/7"]
B_COLUMNS = ["station", "airpressure", "humidity", "temperature", "windspeed", "cloudage", "precipitation",
             "date", "lastupdated"]


def crit(name, kappa=1.0, tiers=None, pricing_="score", threshold=0.0, min_level=1):
    return {"criterion": name, "provider_weight": kappa, "tiers": tiers, "pricing": pricing_,
            "threshold": threshold, "min_level": min_level}


def offering(columns=B_COLUMNS, keys=("station", "date"), P=100.0, m=10, utility="sqrt",
             last_updated="lastupdated", volatility=86400.0):
    return {"name": "o", "reserve_price": P, "utility": utility, "levels": m, "columns": list(columns),
            "key_columns": list(keys), "last_updated": last_updated, "volatility_seconds": volatility}


def quote(off, rows, measured, bid, prefs, wanted=(), reference=None, solver="exact"):
    omega = model.normalise_preferences(prefs, [r["criterion"] for r in rows])
    return pricing.quote_offering(off, rows, measured, dict(reference or measured), omega, bid, list(wanted),
                                  solver, len(off["columns"]))


def sql_quote(conn, offering, bid, prefs, **kw):
    args = "".join(f", {k} => %({k})s" for k in kw)
    return one(conn, f"SELECT nyop_quote(%(o)s, %(b)s::numeric, %(p)s::jsonb{args})",
               {"o": offering, "b": bid, "p": json.dumps(prefs), **kw})


# --------------------------------------------------------------------------
# item 2: naming columns changes which columns, never how many (keys count toward ⌈AoC·|X|⌉)
# --------------------------------------------------------------------------

def test_naming_a_column_buys_no_extra_column():
    off = offering()
    rows = [crit("amount_of_data")]
    measured = {"completeness": 1.0, "amount_of_data": 1.0, "timeliness": 1.0}
    # bid 25 of 100 buys AoC level 5: QS 0.25, ⌈0.25 · 9⌉ = 3 columns, two of them the key
    plain = quote(off, rows, measured, 25.0, {"amount_of_data": 1})
    named = quote(off, rows, measured, 25.0, {"amount_of_data": 1}, wanted=["precipitation"])
    assert plain["levels"]["amount_of_data"]["level"] == named["levels"]["amount_of_data"]["level"] == 5
    assert plain["columns"] == ["station", "airpressure", "date"]
    assert named["columns"] == ["precipitation", "station", "date"]
    # naming a key changes nothing; naming more columns than the budget takes the first ones
    assert quote(off, rows, measured, 25.0, {"amount_of_data": 1}, wanted=["date"])["columns"] == \
        ["date", "station", "airpressure"]
    assert quote(off, rows, measured, 25.0, {"amount_of_data": 1},
                 wanted=["cloudage", "humidity", "windspeed"])["columns"] == ["cloudage", "station", "date"]


def test_the_keys_alone_may_exceed_the_budget():
    """Level 0 (min_level 0) buys no columns but the keys, which are always delivered."""
    off = offering()
    rows = [crit("amount_of_data", min_level=0), crit("completeness", min_level=1)]
    measured = {"completeness": 1.0, "amount_of_data": 1.0, "timeliness": 1.0}
    q = quote(off, rows, measured, 1.0, {"completeness": 1}, wanted=["humidity"])
    assert q["levels"]["amount_of_data"]["level"] == 0
    assert q["columns"] == ["station", "date"]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_project_counts_keys_and_ignores_naming(data):
    ncols = data.draw(st.integers(1, 12))
    columns = ["c%d" % i for i in range(ncols)]
    keys = data.draw(st.lists(st.sampled_from(columns), unique=True, max_size=3))
    always = data.draw(st.lists(st.sampled_from(columns), unique=True, max_size=2))
    wanted = data.draw(st.lists(st.sampled_from(columns), unique=True))
    n = data.draw(st.integers(0, ncols))
    off = {"columns": columns, "key_columns": keys}
    out = pricing.project(off, n, wanted, always)
    kept = set(keys) | set(always)
    assert len(out) == len(set(out)) and kept <= set(out)
    assert len(out) == max(n, len(kept))
    assert len(out) == len(pricing.project(off, n, [], always))          # naming never buys more
    # the free slots go to the buyer's columns first, in the buyer's order, then the provider's
    free = [c for c in wanted + [c for c in columns if c not in wanted] if c not in kept]
    assert set(out) - kept == set(free[:max(0, n - len(kept))])
    order = wanted + [c for c in columns if c not in wanted]
    assert out == [c for c in order if c in set(out)]


def test_naming_a_column_through_sql(db):
    paper.load(db, single=False, group=False)
    db.execute("SELECT nyop_register_offering('b_aoc', 'weather_b', 100, ARRAY['station', 'date'])")
    db.execute("SELECT nyop_set_criterion('b_aoc', 'amount_of_data', 1)")
    prefs = {"amount_of_data": 1}
    plain = sql_quote(db, "b_aoc", 25, prefs)
    named = sql_quote(db, "b_aoc", 25, prefs, columns=["precipitation"])
    assert plain["levels"]["amount_of_data"]["level"] == named["levels"]["amount_of_data"]["level"] == 5
    assert plain["columns"] == ["station", "airpressure", "date"]
    assert named["columns"] == ["precipitation", "station", "date"]


# --------------------------------------------------------------------------
# item 3: a stale offering (timeliness 0) sells: a reference score of 0 leaves nothing to degrade
# --------------------------------------------------------------------------

STALE = {"completeness": 1.0, "amount_of_data": 1.0, "timeliness": 0.0}
PAPER_ROWS = [crit("timeliness", 0.5), crit("amount_of_data", 0.3), crit("customer_support", 0.2, SUPPORT)]
PAPER_PREFS = {"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}


def test_reference_zero_makes_every_level_deliverable():
    qs = model.data_level_scores(model.parse_utility("sqrt"), 10)
    assert model.level_cap(qs, 0.0, 0.0) == 10
    assert model.level_cap(qs, 0.3, 0.0) == 10         # (cannot happen: ref is a maximum) still all
    assert model.level_cap(qs, 0.0, 0.5) == 0          # behind a fresher peer: only level 0
    assert model.level_cap(qs, 0.9, 0.9) == 10


@pytest.mark.parametrize("bid", [1200.0, 5000.0])
def test_stale_offering_sells_at_the_ask(bid):
    off = offering(columns=["station", "airpressure", "humidity", "temperature", "date", "lastupdated"], P=1200.0)
    q = quote(off, PAPER_ROWS, STALE, bid, PAPER_PREFS)
    assert q["accepted"] and q["full_quality"], q.get("reason")
    assert {k: v["level"] for k, v in q["levels"].items()} == {
        "timeliness": 10, "amount_of_data": 10, "customer_support": 9}
    assert q["delay_seconds"] == 0 and q["columns"] == off["columns"] and q["completeness_target"] == 1.0
    assert q["cost"] == pytest.approx(1200.0)


def test_stale_offering_below_the_ask_is_priced_as_usual():
    """Every level is deliverable and priced as for a fresh offering: the paper's numbers."""
    off = offering(columns=["station", "airpressure", "humidity", "temperature", "date", "lastupdated"], P=1200.0)
    fresh = quote(off, PAPER_ROWS, {**STALE, "timeliness": 0.9}, 1000.0, PAPER_PREFS)
    stale = quote(off, PAPER_ROWS, STALE, 1000.0, PAPER_PREFS)
    assert stale["accepted"] and stale["utility"] == pytest.approx(9.15) and stale["cost"] == pytest.approx(984)
    for k in ("levels", "utility", "cost", "residual", "delay_seconds", "columns", "completeness_target"):
        assert stale[k] == fresh[k], k
    # every row is at least v old, so a delay of at most v shows it as it is
    assert 0 <= stale["delay_seconds"] <= off["volatility_seconds"]


def test_zero_weight_on_a_stale_timeliness_does_not_fail():
    off = offering(P=100.0)
    q = quote(off, [crit("timeliness"), crit("amount_of_data")], STALE, 30.0, {"amount_of_data": 1})
    assert q["accepted"], q.get("reason")
    assert q["levels"]["amount_of_data"]["level"] == 7          # 0.5 + 24.5 of 30 (level 8 would cost 32.5)


def test_stale_completeness_zero_sells_too():
    off = offering(P=100.0)
    q = quote(off, [crit("completeness", threshold=0.5)], {**STALE, "completeness": 0.0}, 100.0,
              {"completeness": 1})
    assert q["accepted"] and q["full_quality"] and q["completeness_target"] == 0.0


def test_stale_offering_through_sql(paper_db, buyer):
    month_later = "2017-06-07 17:00+00"            # every row of Table 1 is > 24 h old: timeliness 0
    paper_db.execute(f"SET nyop.now = '{month_later}'")
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == 0
    full = sql_quote(paper_db, "paper_a", 1200, PAPER_PREFS)
    assert full["accepted"] and full["full_quality"] and full["delay"] == "00:00:00"
    # no weight on timeliness: its cheapest level (6) + support tier 1 (26.67) + all columns (360)
    low = sql_quote(paper_db, "paper_a", 400, {"amount_of_data": 1})
    assert low["accepted"] and low["levels"]["timeliness"]["level"] == 1
    assert low["levels"]["amount_of_data"]["level"] == 10
    # bought and delivered: the buyer, delayed by 23.76 h, still sees every row as it is
    _, conn = buyer("historian")
    conn.execute(f"SET nyop.now = '{month_later}'")
    status, q, view = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 400, '{\"amount_of_data\": 1}') "
        "RETURNING status, quote, view::text").fetchone()
    assert status == "accepted" and q["delay_seconds"] == pytest.approx(0.99 * 86400)
    cols = ", ".join(q["columns"])
    got = conn.execute(f"SELECT {cols} FROM {view} ORDER BY station, date").fetchall()
    assert got == paper_db.execute(f"SELECT {cols} FROM weather_a ORDER BY station, date").fetchall()
    assert len(got) == 6


# --------------------------------------------------------------------------
# item 4: Goldilocks tiers scale with m — {0, 0.3m, 0.6m, 0.9m}
# --------------------------------------------------------------------------

def test_tier_levels_scale_with_m():
    assert [model.tier_level(t, 3, 10) for t in range(4)] == [0, 3, 6, 9]          # the paper's
    assert [model.tier_level(t, 3, 5) for t in range(4)] == [0, 1.5, 3, 4.5]
    assert model.contractual_top(5) == 4.5 and model.contractual_top(10) == 9


@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 1000), k=st.integers(1, 9), utility=st.sampled_from(["sqrt", "log", "linear"]),
       pricing_=st.sampled_from(["score", "utility"]))
def test_top_tier_never_outweighs_top_measured_level(m, k, utility, pricing_):
    rows = [crit("completeness", 1.0, pricing_=pricing_), crit("customer_support", 1.0,
                                                                ["t%d" % i for i in range(k)], pricing_=pricing_)]
    classes = model.build_classes(pricing.criteria_of(rows), 100.0, model.parse_utility(utility), m,
                                  {"completeness": 1.0}, {"completeness": 1.0})
    comp, sup = classes
    assert comp.levels[-1] == m and sup.levels[-1] == pytest.approx(0.9 * m) and sup.levels[-1] < m
    assert sup.levels == pytest.approx([0.9 * m * t / k for t in range(1, k + 1)])
    # prices do not depend on m: tier t of k costs P κ f⁻¹-share of t / k
    u = model.parse_utility(utility)
    assert sup.prices == pytest.approx([model.price(100.0, 0.5, u, pricing_, t, k) for t in range(1, k + 1)])


def test_five_levels_quote():
    off = offering(P=100.0, m=5)
    rows = [crit("completeness"), crit("customer_support", tiers=SUPPORT)]
    q = quote(off, rows, {"completeness": 1.0, "amount_of_data": 1.0, "timeliness": 1.0}, 100.0,
              {"completeness": 1, "customer_support": 1})
    assert q["levels"]["completeness"]["level"] == 5 and q["levels"]["customer_support"]["level"] == 4.5
    assert q["utility"] == pytest.approx(0.5 * 5 + 0.5 * 4.5)
    assert q["levels"]["customer_support"]["price"] == pytest.approx(50)      # priced on tier 3 of 3


def test_five_levels_through_sql(paper_db):
    paper_db.execute("SELECT nyop_register_offering('a5', 'weather_a', 100, ARRAY['station', 'date'], levels => 5)")
    paper_db.execute("SELECT nyop_set_criterion('a5', 'completeness', 1)")
    paper_db.execute("SELECT nyop_set_criterion('a5', 'customer_support', 1, tiers => %s)", (SUPPORT,))
    q = sql_quote(paper_db, "a5", 100, {"completeness": 1, "customer_support": 1})
    assert q["full_quality"]
    assert q["levels"]["completeness"]["level"] == 5 and q["levels"]["customer_support"]["level"] == 4.5
    assert q["levels"]["customer_support"]["utility"] == pytest.approx(2.25)
    assert q["levels"]["customer_support"]["price"] == pytest.approx(50)
    # the paper's m = 10 is unchanged: tiers at 3, 6, 9
    qa = sql_quote(paper_db, "paper_a", 1000, PAPER_PREFS)
    assert qa["levels"]["customer_support"]["level"] == 9 and qa["utility"] == pytest.approx(9.15)


# --------------------------------------------------------------------------
# item 5: timeliness per row is capped at 1 (rows updated after "now")
# --------------------------------------------------------------------------

def test_measure_sql_clamps_each_row():
    sql = quality.measure_sql("t", ["k", "lu"], "lu", 86400.0, None)
    clamp = sql.index("least(1.0::float8, greatest(0.0::float8, 1.0::float8 - ")
    total = sql.index("sum((coalesce(CASE WHEN isfinite(")
    assert total < clamp < sql.index("AS timeliness")        # per row inside the sum, then averaged
    assert "/ nullif(count(*), 0)" in sql[clamp:]


def test_measure_sql_on_the_server(db):
    """One row updated an hour after "now" (1, not 1 + 1/24), one half a window old (0.5), one
    two windows old (0, not -1), one without a last-updated value (0)."""
    rel = ("(VALUES (1, '2020-01-02 01:00+00'::timestamptz), (2, '2020-01-01 12:00+00'), "
           "(3, '2019-12-31 00:00+00'), (4, NULL)) AS t(k, lu)")
    row = db.execute(quality.measure_sql(rel, ["k", "lu"], "lu", 86400.0, None).replace("$1", "%(now)s"),
                     {"now": "2020-01-02 00:00+00"}).fetchone()
    assert row[0] == 4 and row[2] == pytest.approx((1 + 0.5 + 0 + 0) / 4)


def test_future_rows_count_as_fully_timely_through_sql(paper_db):
    # an hour before Table 1's first update: every row was updated after "now"
    paper_db.execute("SET nyop.now = '2017-05-07 13:00+00'")
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == 1.0
    # 16:00: rows updated at 14:00, 15:00, 16:00 (twice each): 1 - 2/24, 1 - 1/24, 1
    paper_db.execute("SET nyop.now = '2017-05-07 16:00+00'")
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == pytest.approx(1 - 1 / 24)
    paper_db.execute("SET nyop.now = '2017-05-07 15:00+00'")       # 14:00 → 1 - 1/24; 15:00, 16:00 → 1
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == pytest.approx(1 - 1 / 72)
    assert math.isfinite(one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"])


def test_upgrade_floor_of_a_tier_goes_by_tier():
    """A purchase holds tier 2; an upgrade keeps tiers 2 and 3 whatever utility level tier 2 had
    when it was bought (6 when tiers sat at 3, 6, 9 for any m; 3 with m = 5 now)."""
    off = offering(P=100.0, m=5)
    rows = [crit("completeness"), crit("customer_support", tiers=SUPPORT)]
    meas = {"completeness": 1.0, "amount_of_data": 1.0, "timeliness": 1.0}
    for held in ({"level": 6, "tier": 2}, {"level": 3.0, "tier": 2}):
        c = pricing.priced_classes(off, rows, meas, meas, {"customer_support": held, "completeness": {"level": 2}})
        assert c[1].tier_of == [2, 3] and c[1].levels == [3.0, 4.5]
        assert c[0].levels == [2.0, 3.0, 4.0, 5.0]
    # plain levels still work as before
    c = pricing.priced_classes(off, rows, meas, meas, {"customer_support": 3.0, "completeness": 4})
    assert c[1].tier_of == [2, 3] and c[0].levels == [4.0, 5.0]
