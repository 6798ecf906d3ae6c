"""Property tests of the pricing model (model.py, pricing.py, mckp.py) over random
offerings and bids — plain Python, no PostgreSQL server needed.

Instances are generated the way the edge builds them (edge.quote): measured scores
in [0, 1], reference scores the group maximum (or the offering's own when alone),
amount of data = |X| / |X_ref|, ω from model.normalise_preferences.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from nyop_server import model, pricing
from nyop_server.errors import InvalidParameter
from nyop_server.mckp import capacity_limit

DATA = list(model.MEASURED)
CONTRACTUAL = ["customer_support", "documentation", "security"]
UTILITIES = ["sqrt", "log", "linear", "root:1.5", "root:3"]

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def tol(bid: float) -> float:
    """The solvers' feasibility slack (mckp.capacity_limit) above the bid."""
    return capacity_limit(bid) - bid + 1e-12 * abs(bid)


# --------------------------------------------------------------------------
# instances
# --------------------------------------------------------------------------

class Inst:
    """One offering as quote_offering sees it, plus the buyer's ω and wanted columns."""

    def __init__(self, off, crit_rows, measured, reference, omega, wanted, n_ref):
        self.off, self.crit_rows, self.measured, self.reference = off, crit_rows, measured, reference
        self.omega, self.wanted, self.n_ref = omega, wanted, n_ref

    def quote(self, bid, solver="exact"):
        return pricing.quote_offering(self.off, self.crit_rows, self.measured, self.reference, self.omega,
                                      bid, self.wanted, solver, self.n_ref)

    def classes(self):
        return model.build_classes(pricing.criteria_of(self.crit_rows), self.off["reserve_price"],
                                   model.parse_utility(self.off["utility"]), self.off["levels"],
                                   self.measured, self.reference)

    def min_cost(self):
        """Σ over criteria of the price of its cheapest admissible level (computed from model.price)."""
        total = sum(r["provider_weight"] for r in self.crit_rows)
        u = model.parse_utility(self.off["utility"])
        P, m = self.off["reserve_price"], self.off["levels"]
        s = 0.0
        for r in self.crit_rows:
            kappa = r["provider_weight"] / total
            if r["criterion"] in DATA:
                s += model.price(P, kappa, u, r["pricing"], max(r["min_level"], 0), m)
            else:
                k = len(r["tiers"])
                s += model.price(P, kappa, u, r["pricing"], max(r["min_level"], 0), k)
        return s

    def __repr__(self):
        return "Inst(off=%r, crit_rows=%r, measured=%r, reference=%r, omega=%r, wanted=%r, n_ref=%r)" % (
            self.off, self.crit_rows, self.measured, self.reference, self.omega, self.wanted, self.n_ref)


def unit():
    """A score in [0, 1], with the boundaries and round values likely."""
    return st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.64, 0.81]), st.floats(0.0, 1.0))


@st.composite
def instances(draw, max_crit=5, max_m=12, utilities=tuple(UTILITIES), pricings=("score", "utility"),
              thresholds=True, min_levels=(0, 1, 2), max_tiers=4, names=None):
    m = draw(st.integers(1, max_m))
    util = draw(st.sampled_from(utilities))
    P = draw(st.one_of(st.sampled_from([1.0, 100.0, 1200.0]), st.floats(0.5, 1e5)))
    crit_names = names or draw(st.lists(st.sampled_from(DATA + CONTRACTUAL), min_size=1, max_size=max_crit,
                                        unique=True))
    lone = draw(st.booleans())
    ncols = draw(st.integers(2, 9))
    n_ref = ncols if lone else ncols + draw(st.integers(0, 4))
    columns = ["c%d" % i for i in range(ncols)]
    has_lu = "timeliness" in crit_names or draw(st.booleans())
    last_updated = columns[-1] if has_lu else None
    volatility = draw(st.sampled_from([86400.0, 3600.0]) | st.floats(1.0, 1e7)) if has_lu else None
    keys = draw(st.permutations(columns[:-1]))[:draw(st.integers(0, 2))]

    measured, reference = {}, {}
    measured["amount_of_data"] = ncols / n_ref
    peer_cols = draw(st.integers(1, n_ref))
    reference["amount_of_data"] = max(ncols, ncols if lone else peer_cols) / n_ref
    measured["completeness"] = draw(unit())
    reference["completeness"] = measured["completeness"] if lone else max(measured["completeness"], draw(unit()))
    if has_lu:
        measured["timeliness"] = draw(unit())
        reference["timeliness"] = measured["timeliness"] if lone else max(measured["timeliness"], draw(unit()))
    else:
        measured["timeliness"] = None

    rows = []
    for name in crit_names:
        kappa = draw(st.one_of(st.sampled_from([0.0, 0.2, 0.5, 1.0]), st.floats(0.0, 1.0)))
        pr = draw(st.sampled_from(pricings))
        if name in DATA:
            thr = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9))) if thresholds else 0.0
            ml = draw(st.sampled_from([x for x in min_levels if x <= m]))
            tiers = None
        else:
            thr = 0.0
            k = draw(st.integers(1, max_tiers))
            tiers = ["tier %d of %s" % (t, name) for t in range(1, k + 1)]
            ml = draw(st.sampled_from([x for x in min_levels if x <= k]))
        rows.append({"criterion": name, "provider_weight": kappa, "tiers": tiers, "pricing": pr,
                     "threshold": thr, "min_level": ml})
    if sum(r["provider_weight"] for r in rows) <= 0:
        rows[0]["provider_weight"] = 1.0

    prefs = {}
    for name in crit_names:
        if draw(st.booleans()) or not prefs:
            prefs[name] = draw(st.one_of(st.sampled_from([0.0, 1.0, 0.35]), st.floats(0.0, 10.0)))
    if sum(prefs.values()) <= 0:
        prefs[crit_names[0]] = 1.0
    omega = model.normalise_preferences(prefs, crit_names)

    wanted = draw(st.lists(st.sampled_from(columns), unique=True, max_size=ncols))
    off = {"name": "o", "reserve_price": P, "utility": util, "levels": m, "columns": columns,
           "key_columns": keys, "last_updated": last_updated, "volatility_seconds": volatility}
    return Inst(off, rows, measured, reference, omega, wanted, n_ref)


def bid_for(draw, inst):
    """A bid anywhere from far below the minimum to above the reserve price."""
    P = inst.off["reserve_price"]
    lo = inst.min_cost()
    kind = draw(st.sampled_from(["fraction", "between", "between", "min", "reserve"]))
    if kind == "fraction":
        b = P * draw(st.floats(0.0, 1.3))
    elif kind == "between":
        b = lo + (P - lo) * draw(st.floats(0.0, 1.0))
    elif kind == "min":
        b = lo * draw(st.sampled_from([0.5, 0.999, 1.0, 1.001]))
    else:
        b = P * draw(st.sampled_from([1.0, 1.0 - 1e-9, 2.0]))
    return max(b, 1e-6)


def has_empty_class(inst):
    return any(not c.levels for c in inst.classes())


def caps(inst):
    """{criterion: (min level, cap level)}: levels for data criteria, tiers for contractual ones."""
    u = model.parse_utility(inst.off["utility"])
    out = {}
    for r in inst.crit_rows:
        name = r["criterion"]
        if name in DATA:
            qs = model.data_level_scores(u, inst.off["levels"], r["threshold"])
            out[name] = (max(r["min_level"], 0), model.level_cap(qs, inst.measured.get(name), inst.reference.get(name)))
        else:
            out[name] = (max(r["min_level"], 0), len(r["tiers"]))
    return out


def check_levels(inst, q):
    """Every chosen level lies in [min_level, cap] and carries the model's price, utility and score."""
    u = model.parse_utility(inst.off["utility"])
    P, m = inst.off["reserve_price"], inst.off["levels"]
    total_kappa = sum(r["provider_weight"] for r in inst.crit_rows)
    bounds = caps(inst)
    assert set(q["levels"]) == {r["criterion"] for r in inst.crit_rows}
    for r in inst.crit_rows:
        name = r["criterion"]
        e = q["levels"][name]
        lo, cap = bounds[name]
        kappa = r["provider_weight"] / total_kappa
        if name in DATA:
            j = e["level"]
            assert isinstance(j, int) and lo <= j <= cap, (name, j, lo, cap)
            top, lv = m, j
            qs = model.data_level_scores(u, m, r["threshold"])[j]
            assert e["score"] == pytest.approx(qs, rel=1e-12, abs=1e-15)
            # independently of level_cap: the offering reaches the score it sells, QS_j <= own / ref
            # (a reference score of 0 leaves nothing to degrade: every level is the as-is data)
            own, ref = inst.measured.get(name), inst.reference.get(name)
            assert j == 0 or own is None or not ref or qs <= own / ref + 1e-9, (name, j, qs, own, ref)
        else:
            t = e["tier"]
            assert lo <= t <= cap, (name, t, lo, cap)
            top, lv = 0.9 * m, 0.9 * m * t / len(r["tiers"])       # Goldilocks levels scale with m
            assert e["level"] == pytest.approx(lv)
            assert e["terms"] == (r["tiers"][t - 1] if t >= 1 else None)
        assert e["price"] == pytest.approx(model.price(P, kappa, u, r["pricing"], lv, top), rel=1e-12, abs=1e-12)
        assert e["utility"] == pytest.approx(inst.omega[name] * lv, rel=1e-12, abs=1e-15)


def check_accepted(inst, q, bid):
    assert q["accepted"] is True
    assert q["cost"] <= bid + tol(bid), (q["cost"], bid)
    assert q["residual"] == pytest.approx(bid - q["cost"], rel=0, abs=1e-9 * max(1.0, bid))
    assert q["residual"] >= -tol(bid)
    assert q["utility"] == pytest.approx(sum(e["utility"] for e in q["levels"].values()), rel=1e-12, abs=1e-12)
    assert q["cost"] == pytest.approx(sum(e["price"] for e in q["levels"].values()), rel=1e-12, abs=1e-9)
    check_levels(inst, q)


# --------------------------------------------------------------------------
# 1. an accepted quote respects the bid; levels, prices and utility follow the model
# --------------------------------------------------------------------------

@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_accepted_quote_is_consistent(data):
    inst = data.draw(instances())
    bid = bid_for(data.draw, inst)
    solver = data.draw(st.sampled_from(["exact", "greedy"]))
    q = inst.quote(bid, solver)
    assert q["bid"] == bid and q["solver"] == solver
    if has_empty_class(inst):
        # a criterion below its minimum level: no version at any price, and no minimum bid to name
        empty = [c.name for c in inst.classes() if not c.levels]
        assert q["accepted"] is False and "minimum_bid" not in q
        assert all(name in q["reason"] for name in empty)
        return
    if bid < inst.min_cost() * (1 - 1e-12):
        assert q["accepted"] is False
        return
    check_accepted(inst, q, bid)


# --------------------------------------------------------------------------
# 2. raising the bid never lowers utility (exact); acceptance is monotone
# --------------------------------------------------------------------------

def monotone(inst, fracs):
    P = inst.off["reserve_price"]
    lo = inst.min_cost()
    bids = sorted({max(1e-6, f * P) for f in fracs} | {max(1e-6, lo), max(1e-6, lo * 0.99), P, P * 1.1})
    quotes = [inst.quote(b) for b in bids]
    accepted_seen = False
    prev = -math.inf
    for b, q in zip(bids, quotes):
        if accepted_seen:
            assert q["accepted"], "bid %r rejected although a lower bid was accepted" % b
        if q["accepted"]:
            accepted_seen = True
            check_accepted(inst, q, b)
            assert q["utility"] >= prev - 1e-9, (b, q["utility"], prev)
            prev = q["utility"]
    if not has_empty_class(inst):
        assert quotes[-1]["accepted"] and quotes[-1]["full_quality"]


@settings(max_examples=50, **SETTINGS)
@given(st.data())
def test_utility_monotone_in_bid_convex(data):
    """Score pricing, sqrt utility: every class has convex prices."""
    inst = data.draw(instances(utilities=("sqrt",), pricings=("score",), thresholds=False, min_levels=(1,)))
    fracs = data.draw(st.lists(st.floats(0.0, 1.2), min_size=3, max_size=10))
    monotone(inst, fracs)


@settings(max_examples=50, **SETTINGS)
@given(st.data())
def test_utility_monotone_in_bid_nonconvex(data):
    """Utility pricing, log utility, thresholds, min level 0 (free level-0 items)."""
    inst = data.draw(instances(utilities=("log", "linear", "root:1.5"), pricings=("utility", "score"),
                               thresholds=True, min_levels=(0, 0, 1, 2)))
    fracs = data.draw(st.lists(st.floats(0.0, 1.2), min_size=3, max_size=10))
    monotone(inst, fracs)


# --------------------------------------------------------------------------
# 3. greedy never beats exact; both respect the bid
# --------------------------------------------------------------------------

@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_greedy_never_beats_exact(data):
    inst = data.draw(instances())
    assume(not has_empty_class(inst))
    lo, P = inst.min_cost(), inst.off["reserve_price"]
    bid = max(lo, 1e-6) + (P - lo) * data.draw(st.floats(0.0, 1.0))
    qe, qg = inst.quote(bid, "exact"), inst.quote(bid, "greedy")
    check_accepted(inst, qe, bid)
    check_accepted(inst, qg, bid)
    assert qg["utility"] <= qe["utility"] + 1e-9, (qg["levels"], qe["levels"])
    assert qe["optimal"] is True and qe["gap"] == 0.0


# --------------------------------------------------------------------------
# 4. rejection names the minimum bid, and bidding it is accepted
# --------------------------------------------------------------------------

@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_rejection_names_minimum_bid(data):
    inst = data.draw(instances())
    assume(not has_empty_class(inst))
    lo = inst.min_cost()
    assume(lo > 1e-9)
    bid = lo * data.draw(st.floats(1e-6, 0.999))
    solver = data.draw(st.sampled_from(["exact", "greedy"]))
    q = inst.quote(bid, solver)
    assert q["accepted"] is False and q["full_quality"] is False
    assert "reason" in q and "below" in q["reason"]
    assert q["minimum_bid"] == pytest.approx(lo, rel=1e-12)
    for b in (q["minimum_bid"], q["minimum_bid"] * (1 + 1e-9), q["minimum_bid"] + 0.01):
        qa = inst.quote(b, solver)
        check_accepted(inst, qa, b)
        # at exactly the minimum, every criterion stands at its minimum level (up to free upgrades)
        assert qa["cost"] >= lo - tol(b)


# --------------------------------------------------------------------------
# 5. a bid at or above the reserve price buys full quality
# --------------------------------------------------------------------------

@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_bid_at_reserve_buys_full_quality(data):
    inst = data.draw(instances())
    assume(not has_empty_class(inst))
    P = inst.off["reserve_price"]
    bid = P * data.draw(st.one_of(st.just(1.0), st.floats(1.0, 10.0)))
    q = inst.quote(bid, data.draw(st.sampled_from(["exact", "greedy"])))
    check_accepted(inst, q, bid)
    assert q["full_quality"] is True and q["optimal"] is True
    bounds = caps(inst)
    for name, e in q["levels"].items():
        assert (e["level"] if name in DATA else e["tier"]) == bounds[name][1]
    assert q["cost"] <= P * (1 + 1e-12)          # Σ κ = 1: full quality never prices above P


def test_bid_below_reserve_is_not_full_quality():
    inst = paper_inst()
    assert inst.quote(1200 * (1 - 1e-9))["full_quality"] is False
    assert inst.quote(1200.0)["full_quality"] is True


# --------------------------------------------------------------------------
# 6. exact optimality against brute force
# --------------------------------------------------------------------------

@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_exact_matches_brute_force(data):
    inst = data.draw(instances(max_crit=4, max_m=6, max_tiers=4))
    classes = inst.classes()
    assume(all(c.levels for c in classes))
    lo, P = inst.min_cost(), inst.off["reserve_price"]
    bid = max(1e-6, data.draw(st.one_of(st.floats(0.0, 1.2).map(lambda f: f * P),
                                        st.floats(0.0, 1.0).map(lambda f: lo + f * (P - lo)))))
    best_strict, best_slack = -math.inf, -math.inf
    for combo in itertools.product(*[range(len(c.levels)) for c in classes]):
        cost = sum(c.prices[j] for c, j in zip(classes, combo))
        util = sum(inst.omega[c.name] * c.levels[j] for c, j in zip(classes, combo))
        if cost <= bid - 1e-9 * max(1.0, bid):
            best_strict = max(best_strict, util)
        if cost <= capacity_limit(bid) + 1e-9:
            best_slack = max(best_slack, util)
    q = inst.quote(bid)
    if bid >= P:
        best_strict = best_slack = sum(inst.omega[c.name] * c.levels[-1] for c in classes)
    if not q["accepted"]:
        assert best_strict == -math.inf
        return
    check_accepted(inst, q, bid)
    assert best_strict - 1e-9 <= q["utility"] <= best_slack + 1e-9


# --------------------------------------------------------------------------
# 7. the product a quote buys
# --------------------------------------------------------------------------

def ceil_exact(x: float) -> int:
    """⌈x⌉ of the mathematically exact x: a float within round-off of an integer is that integer."""
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else math.ceil(x)


def parse_interval(text: str) -> float:
    mm = re.fullmatch(r"(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?", text)
    assert mm, text
    h, mi, s, frac = mm.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + (int(frac.ljust(6, "0")) / 1e6 if frac else 0.0)


def check_product(inst, levels, prod):
    off = inst.off
    cols, keys, wanted = prod["columns"], off["key_columns"], inst.wanted
    ncols = len(off["columns"])
    assert len(set(cols)) == len(cols) and set(cols) <= set(off["columns"])
    assert set(keys) <= set(cols)
    if "amount_of_data" in levels:
        x = levels["amount_of_data"]["score"] * inst.reference["amount_of_data"] * inst.n_ref
        n = min(ncols, ceil_exact(x))
    else:
        n = ncols
    order = list(wanted) + [c for c in off["columns"] if c not in wanted]
    # keys count toward the n columns; the free slots go to the wanted columns first, then the provider's
    free = [c for c in order if c not in keys]
    assert len(cols) == max(n, len(set(keys)))
    assert set(cols) == set(keys) | set(free[:max(0, n - len(set(keys)))])
    assert cols == [c for c in order if c in set(cols)]
    # delay
    v = off["volatility_seconds"]
    if "timeliness" in levels and v:
        d = max(0.0, (1.0 - levels["timeliness"]["score"]) * v)     # a delay is never negative
    else:
        d = 0.0
    assert prod["delay_seconds"] == pytest.approx(d, rel=1e-12, abs=1e-9)
    assert prod["delay_seconds"] >= 0
    assert parse_interval(prod["delay"]) == pytest.approx(d, abs=1e-6)
    # completeness target
    own = inst.measured.get("completeness")
    if own is not None:
        assert prod["completeness_target"] <= own + 1e-15
        if "completeness" in levels:
            assert prod["completeness_target"] == pytest.approx(
                min(own, levels["completeness"]["score"] * inst.reference["completeness"]), rel=1e-12, abs=1e-15)
        else:
            assert prod["completeness_target"] == own


@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_product_of_quote(data):
    inst = data.draw(instances())
    assume(not has_empty_class(inst))
    bid = bid_for(data.draw, inst)
    q = inst.quote(bid, data.draw(st.sampled_from(["exact", "greedy"])))
    assume(q["accepted"])
    check_product(inst, q["levels"], q)
    if "amount_of_data" in q["levels"]:
        # the columns deliver the score bought: y / |X_ref| >= QS · ref
        lv = q["levels"]["amount_of_data"]
        assert len(q["columns"]) / inst.n_ref >= lv["score"] * inst.reference["amount_of_data"] - 1e-9


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_product_direct(data):
    """product() on any admissible levels, not only those a solver picks."""
    inst = data.draw(instances(names=None))
    classes = inst.classes()
    assume(all(c.levels for c in classes))
    levels = {}
    for c in classes:
        j = data.draw(st.integers(0, len(c.levels) - 1))
        levels[c.name] = {"level": c.levels[j], "score": c.scores[j]} if not c.contractual else \
            {"level": c.levels[j], "tier": c.tier_of[j]}
    prod = pricing.product(inst.off, levels, inst.measured, inst.reference, inst.wanted, inst.n_ref)
    check_product(inst, levels, prod)


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_project(data):
    ncols = data.draw(st.integers(1, 12))
    columns = ["c%d" % i for i in range(ncols)]
    keys = data.draw(st.lists(st.sampled_from(columns), unique=True, max_size=3))
    wanted = data.draw(st.lists(st.sampled_from(columns), unique=True))
    n = data.draw(st.integers(0, ncols))
    out = pricing.project({"columns": columns, "key_columns": keys}, n, wanted)
    order = wanted + [c for c in columns if c not in wanted]
    free = [c for c in order if c not in keys]
    assert out == [c for c in order if c in set(keys) | set(free[:max(0, n - len(keys))])]
    assert len(out) == max(n, len(keys))          # keys count toward n: naming never buys more


# --------------------------------------------------------------------------
# 8. normalise_preferences
# --------------------------------------------------------------------------

KNOWN = ["timeliness", "amount_of_data", "customer_support"]


@pytest.mark.parametrize("prefs, words", [
    ([0.35, 0.5], ["JSON object", "list"]),
    ("timeliness", ["JSON object", "str"]),
    (None, ["JSON object", "NoneType"]),
    ({}, ["empty"]),
    ({"nope": 1}, ["unknown criterion", "'nope'"]),
    ({"timeliness": -1}, ["'timeliness'", ">= 0"]),
    ({"timeliness": -1e-300}, ["'timeliness'", ">= 0"]),
    ({"timeliness": float("nan")}, ["'timeliness'", "finite"]),
    ({"timeliness": float("inf")}, ["'timeliness'", "finite"]),
    ({"timeliness": float("-inf")}, ["'timeliness'", "finite"]),
    ({"timeliness": True}, ["'timeliness'", "number"]),
    ({"timeliness": False, "amount_of_data": 1}, ["'timeliness'", "number"]),
    ({"timeliness": "a lot"}, ["'timeliness'", "number", "'a lot'"]),
    ({"timeliness": "0.5"}, ["'timeliness'", "number"]),
    ({"timeliness": None}, ["'timeliness'", "number"]),
    ({"timeliness": [1]}, ["'timeliness'", "number"]),
    ({"timeliness": 0, "amount_of_data": 0}, ["all zero"]),
    ({"timeliness": 0.0}, ["all zero"]),
])
def test_normalise_preferences_errors(prefs, words):
    with pytest.raises(InvalidParameter) as e:
        model.normalise_preferences(prefs, KNOWN)
    assert e.value.sqlstate == "22023"
    for w in words:
        assert w in e.value.message, (w, e.value.message)


@settings(max_examples=60, **SETTINGS)
@given(st.dictionaries(st.sampled_from(KNOWN),
                       st.one_of(st.integers(0, 10 ** 6), st.floats(0.0, 1e6)), min_size=1))
def test_normalise_preferences_valid(prefs):
    assume(sum(prefs.values()) > 0)
    omega = model.normalise_preferences(prefs, KNOWN)
    assert list(omega) == KNOWN
    assert all(v >= 0 for v in omega.values())
    assert math.fsum(omega.values()) == pytest.approx(1.0, abs=1e-12)
    s = math.fsum(float(v) for v in prefs.values())
    for k in KNOWN:
        assert omega[k] == pytest.approx(float(prefs.get(k, 0)) / s, rel=1e-12, abs=1e-300)


# BUG (model.normalise_preferences): the weights are summed in float, so two finite
# weights near the float maximum (jsonb '{"timeliness": 1e308, "amount_of_data": 1e308}'
# reaches Python as ints that float() accepts) sum to inf and ω comes out all zero
# (every level then has utility 0, and the quote is meaningless). Fix: divide by the
# largest weight before summing, e.g. ``mx = max(out.values()); s = math.fsum(v / mx for
# v in out.values()); return {k: out.get(k, 0.0) / mx / s for k in known}``.
def test_normalise_preferences_huge_finite_weights_sum_to_one():
    omega = model.normalise_preferences({"timeliness": 1e308, "amount_of_data": 1e308}, KNOWN)
    assert omega["timeliness"] == pytest.approx(0.5) and omega["amount_of_data"] == pytest.approx(0.5)


# BUG (model.normalise_preferences): an integer too large for a float (jsonb
# '{"timeliness": 1e400}' is numeric, prints as a 401-digit integer and json.loads
# returns an int) makes ``float(v)`` raise OverflowError, which edge.call does not
# catch: the buyer gets a Python traceback instead of SQLSTATE 22023. Fix: wrap the
# conversion, e.g. ``try: v = float(v) except OverflowError: raise InvalidParameter(
# "preference weight of %r must be a finite number >= 0, got %s" % (k, v))``.
def test_normalise_preferences_huge_integer_is_invalid_parameter():
    with pytest.raises(InvalidParameter) as e:
        model.normalise_preferences({"timeliness": 10 ** 400}, KNOWN)
    assert "'timeliness'" in e.value.message and "finite" in e.value.message


# --------------------------------------------------------------------------
# the paper's worked example (docs/model.md §6), pure Python
# --------------------------------------------------------------------------

GREEDY_RESIDUALS = [952.93, 934.93, 909.73, 891.73, 859.33, 819.73, 789.73, 742.93, 688.93, 646.93,
                    585.73, 517.33, 463.33, 383.33, 317.33, 239.33, 149.33, 47.33]
TIERS = ["E-mail, 48 h response", "Phone 9-5 and e-mail 24 h response", "Phone and e-mail 24/7"]


def paper_inst():
    columns = ["station", "airpressure", "humidity", "temperature", "date", "lastupdated"]
    off = {"name": "paper_a", "reserve_price": 1200.0, "utility": "sqrt", "levels": 10, "columns": columns,
           "key_columns": ["station", "date"], "last_updated": "lastupdated", "volatility_seconds": 86400.0}
    rows = [{"criterion": "timeliness", "provider_weight": 0.5, "tiers": None, "pricing": "score",
             "threshold": 0.0, "min_level": 1},
            {"criterion": "amount_of_data", "provider_weight": 0.3, "tiers": None, "pricing": "score",
             "threshold": 0.0, "min_level": 1},
            {"criterion": "customer_support", "provider_weight": 0.2, "tiers": TIERS, "pricing": "score",
             "threshold": 0.0, "min_level": 1}]
    measured = {"completeness": 1.0, "timeliness": 0.9, "amount_of_data": 1.0}
    omega = model.normalise_preferences({"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15},
                                        [r["criterion"] for r in rows])
    return Inst(off, rows, measured, dict(measured), omega, [], len(columns))


def test_paper_exact():
    q = paper_inst().quote(1000.0)
    assert q["accepted"] and not q["full_quality"] and q["optimal"]
    assert q["utility"] == pytest.approx(9.15)
    assert q["cost"] == pytest.approx(984.0)
    assert q["residual"] == pytest.approx(16.0)
    lv = q["levels"]
    assert (lv["timeliness"]["level"], lv["amount_of_data"]["level"], lv["customer_support"]["tier"]) == (8, 10, 3)
    assert lv["timeliness"]["price"] == pytest.approx(384) and lv["amount_of_data"]["price"] == pytest.approx(360)
    assert lv["customer_support"]["price"] == pytest.approx(240)
    assert lv["customer_support"]["terms"] == "Phone and e-mail 24/7"
    assert q["delay"] == "08:38:24"
    assert q["columns"] == ["station", "airpressure", "humidity", "temperature", "date", "lastupdated"]


def test_paper_greedy():
    q = paper_inst().quote(1000.0, "greedy")
    assert [round(s["residual"], 2) for s in q["trace"]] == GREEDY_RESIDUALS
    lv = q["levels"]
    assert (lv["timeliness"]["level"], lv["amount_of_data"]["level"], lv["customer_support"]["tier"]) == (9, 10, 2)
    assert q["utility"] == pytest.approx(9.05)
    assert q["cost"] == pytest.approx(952.67, abs=0.005)
    assert q["residual"] == pytest.approx(47.33, abs=0.005)
    assert q["delay"] == "04:33:36"


def test_paper_minimum_bid():
    q = paper_inst().quote(20.0)
    assert q["accepted"] is False
    assert q["minimum_bid"] == pytest.approx(6 + 3.6 + 240 / 9)
