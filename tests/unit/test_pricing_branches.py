"""pricing.py branches that otherwise run only through SQL: input checks, the free-preview
minimum, upgrades (budget and floors), with_greedy, the trace, explain, product, best_of."""

from __future__ import annotations

import math

import pytest

from nyop_server import pricing
from nyop_server.errors import InvalidParameter, UndefinedColumn
from test_model_oracle import PAPER_OMEGA as OMEGA, PAPER_ROWS as ROWS     # the paper's criteria (Table 3)

OFF = {"name": "A", "reserve_price": 1200.0, "utility": "sqrt", "levels": 10,
       "columns": ["station", "date", "temp", "rain", "lu"], "key_columns": ["station", "date"],
       "volatility_seconds": 86400.0}
MEAS = {"timeliness": 1.0, "amount_of_data": 1.0, "completeness": 0.9}
MIN_COST = 6 + 3.6 + 240 / 9


def quote(bid, **kw):
    args = dict(off=OFF, crit_rows=ROWS, measured=MEAS, reference=MEAS, omega=OMEGA, bid=bid, wanted=[],
                solver="exact", n_reference_columns=5)
    args.update(kw)
    return pricing.quote_offering(**args)


def lv(q):
    return {k: v["level"] for k, v in q["levels"].items()}


# -- input checks -------------------------------------------------------------------

@pytest.mark.parametrize("bid, want", [(1, 1.0), (0.01, 0.01), (1e300, 1e300), (1000, 1000.0)])
def test_check_bid_accepts(bid, want):
    assert pricing.check_bid(bid) == want and isinstance(pricing.check_bid(bid), float)


@pytest.mark.parametrize("bid, match", [
    (None, "bid must be a number, got None"), (True, "bid must be a number, got True"),
    ("5", "bid must be a number, got '5'"), ([5], "must be a number"),
    (0, "bid must be a finite number > 0, got 0"), (-1, "got -1"), (math.nan, "got nan"),
    (math.inf, "got inf"), (10 ** 400, "finite number > 0"),
])
def test_check_bid_refuses(bid, match):
    with pytest.raises(InvalidParameter, match=match) as ei:
        pricing.check_bid(bid)
    assert ei.value.sqlstate == "22023"


def test_check_solver():
    assert pricing.check_solver("exact") == "exact" and pricing.check_solver("greedy") == "greedy"
    assert pricing.SOLVERS == ("exact", "greedy")
    for bad in ("Exact", None, "dp", ""):
        with pytest.raises(InvalidParameter, match="solver must be 'exact' or 'greedy', got"):
            pricing.check_solver(bad)


def test_check_columns():
    cols = ["a", "b", "c"]
    assert pricing.check_columns(None, cols) == []
    wanted = ["c", "a"]
    got = pricing.check_columns(wanted, cols)
    assert got == ["c", "a"] and got is not wanted
    assert pricing.check_columns([], cols) == []
    with pytest.raises(InvalidParameter, match="columns must be an array of column names"):
        pricing.check_columns("a", cols)
    with pytest.raises(UndefinedColumn, match="column 'z' is not offered") as ei:
        pricing.check_columns(["a", "z"], cols)
    assert ei.value.sqlstate == "42703" and ei.value.hint == "offered: a, b, c"
    with pytest.raises(UndefinedColumn, match="column 1 is not offered"):
        pricing.check_columns([1], cols)
    with pytest.raises(InvalidParameter, match="column 'a' is listed twice in columns"):
        pricing.check_columns(["a", "b", "a"], cols)


@pytest.mark.parametrize("secs, text", [
    (0, "00:00:00"), (16416, "04:33:36"), (0.5, "00:00:00.5"), (1.000001, "00:00:01.000001"),
    (360000, "100:00:00"), (59.9999996, "00:01:00"), (3599.25, "00:59:59.25"), (61, "00:01:01"),
])
def test_format_interval(secs, text):
    assert pricing.format_interval(secs) == text


def test_criteria_of():
    (c,) = pricing.criteria_of([{"criterion": "documentation", "provider_weight": 2.0, "pricing": "utility",
                                 "threshold": 0.1, "min_level": 0, "tiers": ["x"]}])
    assert (c.name, c.kappa, c.pricing, c.threshold, c.min_level, c.tiers) == \
        ("documentation", 2.0, "utility", 0.1, 0, ["x"])


def test_num():
    assert [pricing._num(x) for x in (30, 30.5, 30.25, 0, 1234.567, 0.001)] == \
        ["30", "30.5", "30.25", "0", "1234.57", "0"]


# -- project ------------------------------------------------------------------------

def test_project_keeps_keys_and_preview_columns():
    off = {"columns": ["k", "a", "b", "c", "d"], "key_columns": ["k"]}
    assert pricing.project(off, 5, []) == ["k", "a", "b", "c", "d"]
    assert pricing.project(off, 3, []) == ["k", "a", "b"]
    assert pricing.project(off, 0, []) == ["k"]                        # keys always kept
    assert set(pricing.project(off, 3, ["d"])) >= {"k", "d"}
    assert pricing.project(off, 3, ["d"])[0] == "d"                   # the buyer's order first
    p = pricing.project(off, 2, [], always=("c",))
    assert "c" in p and "k" in p
    assert pricing.project(off, 10, ["b"]) == ["b", "k", "a", "c", "d"]


# -- free preview: the minimum --------------------------------------------------------

def test_minimum_prices_the_lowest_version_whatever_the_bid():
    for bid in (0.01, 1000.0, 5000.0):
        q = quote(bid, minimum=True)
        assert q["accepted"] is True and q["full_quality"] is False
        assert lv(q) == {"timeliness": 1, "amount_of_data": 1, "customer_support": 3}
        assert q["levels"]["customer_support"]["tier"] == 1 and q["levels"]["customer_support"]["terms"] == "E-mail 48 h"
        assert q["cost"] == pytest.approx(MIN_COST) and q["optimal"] is True and q["gap"] == 0.0
        assert "trace" not in q
        assert q["residual"] == pytest.approx(bid - MIN_COST)


# -- full quality, rejection, upgrade budget ------------------------------------------

def test_full_quality_at_or_above_the_reserve():
    for bid in (1200.0, 1500.0):
        q = quote(bid)
        assert q["full_quality"] is True and q["optimal"] is True and q["gap"] == 0.0
        assert lv(q) == {"timeliness": 10, "amount_of_data": 10, "customer_support": 9}
        assert q["cost"] == pytest.approx(1200.0) and q["residual"] == pytest.approx(bid - 1200.0)
        assert q["delay"] == "00:00:00" and q["columns"] == OFF["columns"]
    assert quote(1199.99)["full_quality"] is False


def test_rejection_names_the_minimum():
    q = quote(30.0)
    assert q == {"offering": "A", "solver": "exact", "bid": 30.0, "accepted": False, "full_quality": False,
                 "reason": "bid 30 is below the cheapest admissible version",
                 "minimum_bid": pytest.approx(MIN_COST)}
    assert quote(MIN_COST)["accepted"] is True


def test_upgrade_budget_is_the_capacity():
    # paid 1000 before, bids 100 now: the knapsack holds 1100, the bid is still 100
    q = quote(100.0, budget=1100.0)
    assert q["bid"] == 100.0 and q["accepted"] is True
    assert q["cost"] <= 1100.0 + 1e-9 and q["cost"] > 1000.0
    assert q["residual"] == pytest.approx(1100.0 - q["cost"])
    assert quote(1.0, budget=1200.0)["full_quality"] is True
    # too little in all: the minimum *this* bid must be, given what was paid
    r = quote(5.0, budget=20.0)
    assert r["accepted"] is False and r["minimum_bid"] == pytest.approx(MIN_COST - 15.0)
    assert r["reason"] == "bid 5 is below the cheapest admissible version"


def test_upgrade_floors_drop_lower_levels():
    q = quote(700.0, floors={"timeliness": 9, "customer_support": 6})
    assert lv(q) == {"timeliness": 9, "amount_of_data": 5, "customer_support": 6}     # 486 + 90 + 106.67
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": 9, "customer_support": 6})
    t, a, s = crits
    assert t.levels == [9.0, 10.0] and t.prices == pytest.approx([486.0, 600.0])
    assert t.scores == pytest.approx([0.81, 1.0])
    assert a.levels == [float(j) for j in range(1, 11)]
    assert s.levels == [6.0, 9.0] and s.tier_of == [2, 3] and s.prices == pytest.approx([106.6666667, 240.0])
    # a floor within round-off of a level keeps it; a floor above the cap empties the class
    (t2, _, _) = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": 9 + 5e-10})
    assert t2.levels[0] == 9.0
    (t3, _, _) = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": 11})
    assert t3.levels == [] and t3.scores == [] and t3.prices == []
    q = quote(500.0, floors={"timeliness": 11})
    assert q["accepted"] is False and q["reason"] == "offering A cannot deliver timeliness at the minimum level"
    # a floor exactly 1e-9 above a level still keeps it (round-off), at the boundary too
    (t4, _, _) = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": 9.0 + 1e-9})
    assert t4.levels[0] == 9.0
    # floors of None are no floors
    assert len(pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": None})[0].levels) == 10


def test_upgrade_floors_as_held_entries():
    """A floor may be the held quote's level entry: a contractual criterion's tier decides."""
    held = quote(1000.0, solver="greedy")["levels"]          # timeliness 9, amount 10, support tier 2
    t, a, s = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, held)
    assert t.levels == [9.0, 10.0] and a.levels == [10.0]
    assert s.tier_of == [2, 3] and s.levels == [6.0, 9.0] and s.prices == pytest.approx([106.6666667, 240.0])
    # the tier decides even when the held entry's level is from another scale (bought with other m)
    (s2,) = pricing.priced_classes(OFF, [ROWS[2]], MEAS, MEAS, {"customer_support": {"level": 99, "tier": 2}})
    assert s2.tier_of == [2, 3]
    (s3,) = pricing.priced_classes(OFF, [ROWS[2]], MEAS, MEAS, {"customer_support": {"level": 0, "tier": 3}})
    assert s3.tier_of == [3] and s3.levels == [9.0]
    # an entry without a tier falls back to its level; a data criterion's entry goes by its level
    (s4,) = pricing.priced_classes(OFF, [ROWS[2]], MEAS, MEAS, {"customer_support": {"level": 6, "tier": None}})
    assert s4.tier_of == [2, 3]
    (t5,) = pricing.priced_classes(OFF, [ROWS[0]], MEAS, MEAS, {"timeliness": {"level": 8, "tier": 9}})
    assert t5.levels == [8.0, 9.0, 10.0]
    (t6,) = pricing.priced_classes(OFF, [ROWS[0]], MEAS, MEAS, {"timeliness": {"level": None}})
    assert len(t6.levels) == 10


def test_criteria_without_a_weight_buy_their_cheapest_level():
    q = quote(700.0, omega={"timeliness": 1.0})
    assert lv(q) == {"timeliness": 10, "amount_of_data": 1, "customer_support": 3}
    assert q["levels"]["amount_of_data"]["utility"] == 0.0 and q["utility"] == pytest.approx(10.0)
    assert q["levels"]["customer_support"]["terms"] == "E-mail 48 h"


def test_preview_columns_are_always_delivered():
    rows = [ROWS[1]]
    q = quote(1.0, crit_rows=rows, minimum=True, always=("rain",))
    assert q["columns"] == ["station", "date", "rain"]          # AoC level 1: the keys and the preview's
    q = quote(1.0, crit_rows=rows, minimum=True)
    assert q["columns"] == ["station", "date"]


def test_column_counts_per_amount_level():
    """Each amount-of-data level's column count, as product() computes it (keys counted)."""
    if not hasattr(pricing, "column_counts"):
        pytest.skip("pricing.column_counts arrives with issue 14 (holdings)")
    rows = [ROWS[1]]
    # alone: own AoC 1 over 5 columns; level j of 10 needs (j/10)² → ⌈(j/10)² · 5⌉ columns
    (a,) = pricing.priced_classes(OFF, rows, MEAS, MEAS)
    assert a.columns == [math.ceil((j / 10) ** 2 * 5 - 1e-9) for j in range(1, 11)] == [1, 1, 1, 1, 2, 2, 3, 4, 5, 5]
    assert (a.kept, a.n_columns) == (2, 5)
    # in a group: 5 of the group's 9 columns (AoC 5/9, reference 1): ⌈(j/10)² · 9⌉, capped at 5, up to the cap 7
    meas = {"amount_of_data": 5 / 9, "columns": 5}
    (g,) = pricing.priced_classes(OFF, rows, meas, {"amount_of_data": 1.0})
    assert g.levels == [float(j) for j in range(1, 8)]
    assert g.columns == [1, 1, 1, 2, 3, 4, 5]
    # |X_ref| from the offering's own column count when the measures do not say
    (h,) = pricing.priced_classes(OFF, rows, {"amount_of_data": 5 / 9}, {"amount_of_data": 1.0})
    assert h.columns == g.columns
    # the reference AoC scales the counts: the group's best holds 8 of its 10 columns, this one 5
    (r,) = pricing.priced_classes(OFF, rows, {"amount_of_data": 0.5, "columns": 5}, {"amount_of_data": 0.8})
    assert r.levels == [float(j) for j in range(1, 8)]                      # 0.49 ≤ 0.5 / 0.8 < 0.64
    assert r.columns == [min(5, math.ceil((j / 10) ** 2 * 0.8 * 10 - 1e-9)) for j in range(1, 8)] \
        == [1, 1, 1, 2, 2, 3, 4]
    # an exact multiple is not rounded up: level 5 of 4 columns alone is (1/2)² · 4 = 1 column
    four = dict(OFF, columns=["station", "date", "temp", "rain"])
    (f,) = pricing.priced_classes(four, rows, MEAS, MEAS)
    assert f.columns[4] == 1 and f.columns == [1, 1, 1, 1, 1, 2, 2, 3, 4, 4]
    # no amount of data measured: the offering's own columns are the reference
    assert pricing.column_counts(OFF, a, {}, {}) == a.columns
    # quotes deliver what the counts say (never fewer than the keys)
    for bid in (20.0, 100.0, 500.0, 900.0):
        q = quote(bid, crit_rows=rows, omega={"amount_of_data": 1.0})
        j = int(q["levels"]["amount_of_data"]["level"]) - 1
        assert len(q["columns"]) == max(a.columns[j], 2)


def test_upgrade_floor_on_columns():
    """An upgrade keeps only the amount-of-data levels delivering the columns the buyer will hold."""
    if not hasattr(pricing, "column_counts"):
        pytest.skip("pricing.column_counts arrives with issue 14 (holdings)")
    rows = [ROWS[1]]
    (a,) = pricing.priced_classes(OFF, rows, MEAS, MEAS, {"amount_of_data": {"columns": 4, "kept": 2}})
    assert a.columns == [4, 5, 5] and a.levels == [8.0, 9.0, 10.0] and len(a.scores) == len(a.prices) == 3
    assert a.prices == pytest.approx([1200 * 0.3 / 0.3 * 0.64, 1200 * 0.81, 1200.0])
    # no more columns than the keys: no floor
    (b,) = pricing.priced_classes(OFF, rows, MEAS, MEAS, {"amount_of_data": {"columns": 2, "kept": 2}})
    assert len(b.levels) == 10
    # what was kept when the buyer bought (1 key column then) decides whether columns were added
    (k,) = pricing.priced_classes(OFF, rows, MEAS, MEAS, {"amount_of_data": {"columns": 2, "kept": 1}})
    assert k.columns[0] == 2 and k.levels[0] == 5.0
    (c,) = pricing.priced_classes(OFF, rows, MEAS, MEAS, {"amount_of_data": {"columns": 3}})     # kept: the keys
    assert c.columns[0] == 3 and c.levels[0] == 7.0
    (d,) = pricing.priced_classes(OFF, rows, MEAS, MEAS, {"amount_of_data": {"level": 9}})
    assert d.levels == [9.0, 10.0] and d.columns == [5, 5]


def test_no_criteria_and_undeliverable_classes(monkeypatch):
    # unreachable through build_classes today (no criteria: "provider weights … all zero"), so stubbed
    with monkeypatch.context() as mp:
        mp.setattr(pricing, "priced_classes", lambda *a, **k: [])
        q = quote(100.0)
    assert q["accepted"] is False and q["reason"] == "offering A has no quality criteria to price"
    rows = [dict(ROWS[0]), dict(ROWS[1], min_level=9)]
    meas = {"timeliness": 1.0, "amount_of_data": 0.5}
    ref = {"timeliness": 1.0, "amount_of_data": 1.0}            # cap 7 < min level 9
    q = quote(100.0, crit_rows=rows, measured=meas, reference=ref)
    assert q["reason"] == "offering A cannot deliver amount_of_data at the minimum level"
    rows = [dict(ROWS[0], min_level=9), dict(ROWS[1], min_level=9)]
    meas = {"timeliness": 0.5, "amount_of_data": 0.5}
    q = quote(100.0, crit_rows=rows, measured=meas, reference=ref)
    assert q["reason"] == "offering A cannot deliver timeliness, amount_of_data at the minimum level"


# -- solvers, trace, with_greedy ------------------------------------------------------

def test_exact_has_no_trace_greedy_has_one():
    e = quote(1000.0)
    assert "trace" not in e and "greedy" not in e
    g = quote(1000.0, solver="greedy")
    assert g["solver"] == "greedy"
    assert g["trace"][0] == {"criterion": "amount_of_data", "level": 2, "residual": pytest.approx(963.7333333 - 10.8)}
    assert g["trace"][-1]["residual"] == pytest.approx(47.3333333)
    assert [s["criterion"] for s in g["trace"]].count("timeliness") == 8
    assert {s["level"] for s in g["trace"] if s["criterion"] == "customer_support"} == {6}


def test_with_greedy_records_the_papers_greedy():
    q = quote(1000.0, with_greedy=True)
    assert q["utility"] == pytest.approx(9.15)
    assert q["greedy"] == {"utility": pytest.approx(9.05), "residual": pytest.approx(47.3333333)}
    g = quote(1000.0, solver="greedy", with_greedy=True)
    assert g["greedy"] == {"utility": pytest.approx(9.05), "residual": pytest.approx(47.3333333)}
    assert g["utility"] == pytest.approx(9.05)
    # full quality or the minimum: the greedy delivers the same
    f = quote(1300.0, with_greedy=True)
    assert f["greedy"] == {"utility": pytest.approx(f["utility"]), "residual": pytest.approx(100.0)}
    m = quote(50.0, minimum=True, with_greedy=True)
    assert m["greedy"] == {"utility": pytest.approx(m["utility"]), "residual": pytest.approx(50.0 - MIN_COST)}
    assert "greedy" not in quote(1300.0)


def test_levels_entries():
    q = quote(1000.0)
    s = q["levels"]["customer_support"]
    assert s == {"level": 9, "utility": pytest.approx(0.15 * 9), "price": 240.0, "tier": 3, "terms": "24/7"}
    t = q["levels"]["timeliness"]
    assert t == {"level": 8, "utility": pytest.approx(0.35 * 8), "price": pytest.approx(384.0),
                 "score": pytest.approx(0.64)}
    assert isinstance(t["level"], int)


def test_tier_zero_has_no_terms():
    rows = [ROWS[0], dict(ROWS[2], min_level=0)]
    q = quote(1.0, crit_rows=rows, minimum=True)
    assert q["levels"]["customer_support"] == {"level": 0, "utility": 0.0, "price": 0.0, "tier": 0, "terms": None}


# -- product --------------------------------------------------------------------------

def test_product_columns_delay_completeness():
    q = quote(1000.0)          # exact: timeliness 8 (0.64), amount 10
    assert q["columns"] == OFF["columns"]
    assert q["delay_seconds"] == pytest.approx(0.36 * 86400) and q["delay"] == "08:38:24"
    assert q["completeness_target"] == 0.9             # no completeness criterion: as measured
    rows = ROWS[:2] + [{"criterion": "completeness", "provider_weight": 0.2, "pricing": "score", "threshold": 0.0,
                        "min_level": 1, "tiers": None}]
    q = quote(1.0, crit_rows=rows, minimum=True, omega={"completeness": 1.0})
    assert q["completeness_target"] == pytest.approx(0.01 * 0.9)
    # AoC level 1 of 10 with 5 columns: ⌈0.01 · 5⌉ = 1 slot — the two keys are kept anyway
    assert q["columns"] == ["station", "date"]


def test_product_direct():
    levels = {"amount_of_data": {"score": 0.64}, "timeliness": {"score": 0.25}, "completeness": {"score": 0.5}}
    off = dict(OFF, volatility_seconds=100.0)
    p = pricing.product(off, levels, {"completeness": 0.8}, {"amount_of_data": 0.5, "completeness": 1.0}, [], 10)
    # 0.64 · 0.5 · 10 = 3.2 → 4 columns (the two keys among them)
    assert len(p["columns"]) == 4 and p["columns"][:2] == ["station", "date"]
    assert p["delay_seconds"] == pytest.approx(75.0) and p["delay"] == "00:01:15"
    assert p["completeness_target"] == pytest.approx(0.5)
    # the buyer's columns first, the preview's always
    p = pricing.product(off, {"amount_of_data": {"score": 0.6}}, {}, {"amount_of_data": 1.0}, ["rain"], 5)
    assert p["columns"] == ["rain", "station", "date"]
    p = pricing.product(off, {"amount_of_data": {"score": 0.6}}, {}, {"amount_of_data": 1.0}, [], 5, always=("lu",))
    assert p["columns"] == ["station", "date", "lu"]
    # no reference AoC: the level score alone; completeness capped at what is measured
    p = pricing.product(off, levels, {"completeness": 0.3}, {}, [], 5)
    assert len(p["columns"]) == 4 and p["completeness_target"] == pytest.approx(0.15)
    p = pricing.product(off, {"completeness": {"score": 1.0}}, {"completeness": 0.3}, {"completeness": 0.9}, [], 5)
    assert p["completeness_target"] == pytest.approx(0.3)
    # exact multiples do not round up: 0.6 · 10 = 6
    p = pricing.product(dict(OFF, columns=["c%d" % i for i in range(10)], key_columns=["c0"]),
                        {"amount_of_data": {"score": 0.6}}, {}, {"amount_of_data": 1.0}, [], 10)
    assert len(p["columns"]) == 6
    # never more columns than offered; no volatility: no delay; no completeness measured: None
    p = pricing.product(dict(OFF, volatility_seconds=None), {"amount_of_data": {"score": 1.0},
                        "timeliness": {"score": 0.0}}, {}, {"amount_of_data": 1.0}, [], 50)
    assert len(p["columns"]) == 5 and p["delay_seconds"] == 0.0 and p["completeness_target"] is None
    p = pricing.product(OFF, {"completeness": {"score": 0.5}}, {"completeness": None}, {}, [], 5)
    assert p["completeness_target"] is None
    p = pricing.product(OFF, {"timeliness": {"score": 1.0}}, {}, {}, [], 5)
    assert p["delay_seconds"] == 0.0 and p["delay"] == "00:00:00"


# -- explain --------------------------------------------------------------------------

def test_explain_after_an_accepted_quote():
    q = quote(1000.0)                        # timeliness 8, amount 10, support tier 3
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS)
    e = pricing.explain(q, crits, OMEGA)
    assert e["full_quality_bid"] == pytest.approx(1200.0)
    t = e["next"]["timeliness"]
    assert t == {"next_level": 9, "price": pytest.approx(486.0), "extra": pytest.approx(102.0),
                 "utility_gain": pytest.approx(0.35), "bid": pytest.approx(984.0 + 102.0)}
    assert e["next"]["amount_of_data"] == {"next_level": None, "reason": "at the highest level this offering delivers"}
    assert e["next"]["customer_support"]["next_level"] is None


def test_explain_contractual_terms_and_rejected_quotes():
    q = quote(1000.0, solver="greedy")        # support tier 2
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS)
    s = pricing.explain(q, crits, OMEGA)["next"]["customer_support"]
    assert s["next_level"] == 9 and s["terms"] == "24/7" and s["extra"] == pytest.approx(240 - 106.6666667)
    assert s["utility_gain"] == pytest.approx(0.45)
    r = quote(30.0)
    e = pricing.explain(r, crits, OMEGA)
    # nothing held: the next level is the first one, priced in full, no bid (no cost to add to)
    assert e["next"]["timeliness"] == {"next_level": 1, "price": pytest.approx(6.0), "extra": pytest.approx(6.0),
                                       "utility_gain": pytest.approx(0.35)}
    assert e["next"]["customer_support"]["terms"] == "E-mail 48 h"
    assert e["next"]["customer_support"]["utility_gain"] == pytest.approx(0.45)


def test_explain_from_the_first_level_and_unweighted_criteria():
    q = quote(1.0, minimum=True)                 # every criterion at its first admissible level
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS)
    e = pricing.explain(q, crits, {"timeliness": 1.0})
    t = e["next"]["timeliness"]
    assert t["next_level"] == 2 and t["extra"] == pytest.approx(24.0 - 6.0) and t["utility_gain"] == 1.0
    assert t["bid"] == pytest.approx(MIN_COST + 18.0)
    a = e["next"]["amount_of_data"]
    assert a["utility_gain"] == 0.0 and a["extra"] == pytest.approx(14.4 - 3.6)      # no weight: no gain
    s = e["next"]["customer_support"]
    assert s["terms"] == "Phone 9-5" and s["utility_gain"] == 0.0


def test_explain_tier_zero_terms_and_edge_cases():
    rows = [dict(ROWS[2], min_level=0)]
    crits = pricing.priced_classes(OFF, rows, MEAS, MEAS)
    e = pricing.explain({"accepted": False}, crits, OMEGA)
    assert e["next"]["customer_support"]["next_level"] == 0 and e["next"]["customer_support"]["terms"] is None
    assert pricing.explain({"accepted": False}, [], OMEGA) == {"next": {}, "full_quality_bid": None}
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS, {"timeliness": 11})
    assert pricing.explain({"accepted": False}, crits, OMEGA)["full_quality_bid"] is None
    # accepted, but the held level is not among the classes' levels: nothing to offer
    crits = pricing.priced_classes(OFF, ROWS, MEAS, MEAS)
    e = pricing.explain({"accepted": True, "levels": {"timeliness": {"level": 8.5}}, "cost": 1.0}, crits, OMEGA)
    assert e["next"]["timeliness"]["next_level"] is None
    assert e["next"]["amount_of_data"]["next_level"] is None


# -- best_of --------------------------------------------------------------------------

def test_best_of_ranks_and_lists_alternatives():
    qs = [{"offering": "b", "accepted": True, "utility": 5.0, "cost": 10.0},
          {"offering": "a", "accepted": True, "utility": 5.0, "cost": 10.0},
          {"offering": "c", "accepted": True, "utility": 5.0, "cost": 9.0},
          {"offering": "d", "accepted": True, "utility": 6.0, "cost": 99.0, "extra": 1},
          {"offering": "e", "accepted": False, "reason": "no", "minimum_bid": 3.0}]
    best = pricing.best_of(qs)
    assert best["offering"] == "d" and best["extra"] == 1
    assert [a["offering"] for a in best["alternatives"]] == ["c", "a", "b", "e"]
    assert best["alternatives"][3] == {"offering": "e", "accepted": False, "reason": "no", "minimum_bid": 3.0}
    assert best["alternatives"][0] == {"offering": "c", "accepted": True, "utility": 5.0, "cost": 9.0}
    assert "minimum_bid" not in best
    assert qs[3].get("alternatives") is None                  # the input is not modified


def test_best_of_none_accepted_names_the_smallest_minimum():
    qs = [{"offering": "a", "accepted": False, "reason": "x", "minimum_bid": 7.0},
          {"offering": "b", "accepted": False, "reason": "y", "minimum_bid": 5.0},
          {"offering": "c", "accepted": False, "reason": "z"}]
    best = pricing.best_of(qs)
    assert best["offering"] == "a" and best["minimum_bid"] == 5.0
    best = pricing.best_of([{"offering": "c", "accepted": False, "reason": "z"}])
    assert "minimum_bid" not in best and best["alternatives"] == []
