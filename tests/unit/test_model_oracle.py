"""Independent oracles for model.py and pricing.py: the model (docs/model.md, as amended;
docs/model.md in the repository) §2–§7 written out again here,
without importing model/pricing/mckp for the expectations, plus tables computed by hand.

Reading of docs/model.md §3 used for every utility: levels are equally spaced in utility over
the domain, so level fraction φ = l / l_top needs the score ``f⁻¹(φ · f(x_max)) / x_max``
(x_max = 100). For sqrt that is φ² — "(j/m)²" as docs/model.md says — for ``root:a`` φ^a, for
linear φ, for log ``(101^φ − 1) / 100``. A threshold t maps level j ≥ 1 onto
``t + (1 − t) · score``. Prices (§4) use the same fraction without the threshold.

The last group follows the decisions docs/model.md added in issue 14 (stale offerings, tiers
that scale with the number of levels, keys in the column budget).
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from nyop_server import model, pricing
from nyop_server.errors import InvalidParameter

MEASURED = ("completeness", "timeliness", "amount_of_data")
X_MAX = 100.0
FEAS = lambda W: W * (1 + 1e-12) + 1e-9          # the solvers' documented feasibility slack


# ====================================================================================
# the oracle (docs/model.md, written out independently)
# ====================================================================================

def u_f(kind, a, x):
    if kind == "log":
        return math.log(1.0 + x)
    return x ** (1.0 / a)


def u_finv(kind, a, u):
    if kind == "log":
        return math.exp(u) - 1.0
    return u ** a


def utility_of(name):
    """(kind, a) for the names docs/model.md §3 allows."""
    if name in (None, "sqrt"):
        return ("root", 2.0)
    if name == "log":
        return ("log", None)
    if name == "linear":
        return ("root", 1.0)
    assert name.startswith("root:")
    return ("root", float(name[5:]))


def frac_score(util, phi):
    """f⁻¹(φ · f(x_max)) / x_max: the share of the top score level fraction φ needs."""
    kind, a = util
    if phi >= 1:
        return 1.0          # f⁻¹(f(x_max)) = x_max, exactly (not up to exp/log round-off)
    return u_finv(kind, a, phi * u_f(kind, a, X_MAX)) / X_MAX


def oracle_scores(util, m, t=0.0):
    return [0.0] + [t + (1.0 - t) * frac_score(util, j / m) for j in range(1, m + 1)]


def oracle_cap(scores, own, ref):
    """§2/§3: highest level j with QS_j ≤ own / ref; a reference of 0 leaves nothing to degrade."""
    if not ref:
        return len(scores) - 1
    rel = own / ref
    return max(j for j, s in enumerate(scores) if s <= rel * (1 + 1e-12) + 1e-12)


def tier_levels(k, m):
    """§3 amended: Goldilocks levels 0, 0.3m, 0.6m, 0.9m — tiers t of k at 0.9 m t / k."""
    return [0.9 * m * t / k for t in range(k + 1)]


def oracle_price(P, kappa, util, pricing_mode, phi):
    """§4: score pricing P κ f⁻¹(l)/f⁻¹(l_top); utility pricing P κ l / l_top (φ = l / l_top)."""
    if pricing_mode == "utility":
        return P * kappa * phi
    return P * kappa * frac_score(util, phi)


class OClass:
    def __init__(self, name, levels, prices, scores, tiers):
        self.name, self.levels, self.prices, self.scores, self.tiers = name, levels, prices, scores, tiers


def oracle_classes(off, rows, measured, reference):
    util = utility_of(off["utility"])
    m, P = off["levels"], off["reserve_price"]
    total = sum(r["provider_weight"] for r in rows)
    out = []
    for r in rows:
        kappa = r["provider_weight"] / total
        lo = r["min_level"]
        if r["criterion"] in MEASURED:
            qs = oracle_scores(util, m, r["threshold"] or 0.0)
            cap = oracle_cap(qs, measured.get(r["criterion"]), reference.get(r["criterion"]))
            js = list(range(lo, cap + 1))
            out.append(OClass(r["criterion"], [float(j) for j in js],
                              [oracle_price(P, kappa, util, r["pricing"], j / m) for j in js],
                              [qs[j] for j in js], None))
        else:
            k = len(r["tiers"])
            ts = list(range(lo, k + 1))
            tl = tier_levels(k, m)
            out.append(OClass(r["criterion"], [tl[t] for t in ts],
                              [oracle_price(P, kappa, util, r["pricing"], t / k) for t in ts], None, ts))
    return out


def oracle_quote(classes, omega, W, P):
    """§5 by brute force: (accepted, utility, cost, choice, minimum_bid)."""
    if any(not c.levels for c in classes):
        return dict(accepted=False)
    if W >= P:
        choice = [len(c.levels) - 1 for c in classes]
    else:
        min_cost = sum(c.prices[0] for c in classes)
        if W < min_cost:
            return dict(accepted=False, minimum_bid=min_cost)
        best = None
        for choice in itertools.product(*[range(len(c.levels)) for c in classes]):
            cost = sum(c.prices[j] for c, j in zip(classes, choice))
            if cost <= FEAS(W):
                u = sum(omega.get(c.name, 0.0) * c.levels[j] for c, j in zip(classes, choice))
                if best is None or u > best[0] + 1e-12:
                    best = (u, choice)
        choice = list(best[1])
    u = sum(omega.get(c.name, 0.0) * c.levels[j] for c, j in zip(classes, choice))
    cost = sum(c.prices[j] for c, j in zip(classes, choice))
    return dict(accepted=True, utility=u, cost=cost, choice=choice, full=W >= P)


def oracle_product(off, classes, choice, measured, reference, n_ref, wanted=()):
    """§7: columns (keys count toward y_t), delay (1 − QS_t) v, completeness target."""
    lv = {c.name: (c, j) for c, j in zip(classes, choice)}
    ncols = len(off["columns"])
    if "amount_of_data" in lv:
        c, j = lv["amount_of_data"]
        y = min(ncols, math.ceil(c.scores[j] * reference["amount_of_data"] * n_ref - 1e-9))
    else:
        y = ncols
    keys = list(off["key_columns"])
    rest = [c for c in list(wanted) + off["columns"] if c not in keys]
    rest = list(dict.fromkeys(rest))
    cols = set(keys) | set(rest[:max(0, y - len(keys))])
    delay = 0.0
    if "timeliness" in lv and off["volatility_seconds"]:
        c, j = lv["timeliness"]
        delay = (1.0 - c.scores[j]) * off["volatility_seconds"]
    target = measured.get("completeness")
    if "completeness" in lv:
        c, j = lv["completeness"]
        target = min(target, c.scores[j] * reference["completeness"])
    return cols, delay, target


# ====================================================================================
# hand tables
# ====================================================================================

SQRT10 = [0, .01, .04, .09, .16, .25, .36, .49, .64, .81, 1]


@pytest.mark.parametrize("utility, m, t, want", [
    ("sqrt", 10, 0.0, SQRT10),
    (None, 10, 0.0, SQRT10),
    ("linear", 4, 0.0, [0, .25, .5, .75, 1]),
    ("root:3", 2, 0.0, [0, .125, 1]),
    ("root(3)", 4, 0.0, [0, 1 / 64, 8 / 64, 27 / 64, 1]),
    ("root:1.5", 4, 0.0, [0, .125, .5 ** 1.5, .75 ** 1.5, 1]),
    ("sqrt", 5, 0.0, [0, .04, .16, .36, .64, 1]),
    ("sqrt", 1, 0.0, [0, 1]),
    # log over [0, 100]: (101^(j/m) − 1) / 100
    ("log", 2, 0.0, [0, 0.0904987562112089, 1]),
    ("log", 10, 0.0, [0, 0.00586471, 0.015168902, 0.029929734, 0.053347364, 0.090498756, 0.149438362,
                      0.242944338, 0.391288856, 0.626633132, 1]),
    # thresholds map level j ≥ 1 onto [t, 1]
    ("sqrt", 2, 0.2, [0, 0.4, 1]),
    ("linear", 4, 0.5, [0, .625, .75, .875, 1]),
    ("log", 2, 0.1, [0, 0.1 + 0.9 * 0.0904987562112089, 1]),
])
def test_level_scores_hand_table(utility, m, t, want):
    got = model.data_level_scores(model.parse_utility(utility), m, t)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-9)
    assert got[-1] == 1.0                      # the top level needs exactly the reference score


@pytest.mark.parametrize("own, ref, utility, m, cap", [
    (1.0, 1.0, "sqrt", 10, 10),
    (0.8125, 0.8125, "sqrt", 10, 10),          # provider B alone: its own data is the top level
    (0.8125, 1.0, "sqrt", 10, 9),              # …in the group: completeness level 9 only (Table 6)
    (6 / 9, 1.0, "sqrt", 10, 8),               # provider A: AoC level 8 only (Table 6)
    (0.81, 1.0, "sqrt", 10, 9),                # exactly on a level
    (0.8099, 1.0, "sqrt", 10, 8),
    (0.5, 1.0, "linear", 4, 2),
    (0.5, 2.0, "linear", 4, 1),                # own / ref, not own · ref
    (0.2, 0.5, "linear", 10, 4),
    (0.0, 1.0, "sqrt", 10, 0),
    (0.3, 1.0, "log", 10, 7),                  # 0.2429 ≤ 0.3 < 0.3913
    (0.1, 1.0, "root:3", 10, 4),               # 0.064 ≤ 0.1 < 0.125
])
def test_caps_hand_table(own, ref, utility, m, cap):
    qs = model.data_level_scores(model.parse_utility(utility), m)
    assert model.level_cap(qs, own, ref) == cap


def test_caps_edges():
    qs = model.data_level_scores(model.parse_utility("linear"), 4)       # 0, .25, .5, .75, 1
    # QS_j ≤ own / ref up to 1e-9: a score 1e-9 short of a level still reaches it, 2e-9 short does not
    assert model.level_cap(qs, 0.25 - 1e-9, 1.0) == 1
    assert model.level_cap(qs, 0.25 - 3e-9, 1.0) == 0
    # nothing measured (an empty relation) leaves nothing to degrade either
    assert model.level_cap(qs, None, 1.0) == 4
    assert model.level_cap(qs, 0.5, None) == 4


def test_caps_with_threshold():
    qs = model.data_level_scores(model.parse_utility("linear"), 4, 0.5)     # 0, .625, .75, .875, 1
    assert [model.level_cap(qs, x, 1.0) for x in (0.6, 0.625, 0.7, 0.9, 1.0)] == [0, 1, 1, 3, 4]


PAPER_OFF = {"name": "A", "reserve_price": 1200.0, "utility": "sqrt", "levels": 10,
             "columns": ["station", "date", "temp", "lu"], "key_columns": ["station", "date"],
             "volatility_seconds": 86400.0}
PAPER_ROWS = [
    {"criterion": "timeliness", "provider_weight": 0.5, "pricing": "score", "threshold": 0.0, "min_level": 1,
     "tiers": None},
    {"criterion": "amount_of_data", "provider_weight": 0.3, "pricing": "score", "threshold": 0.0, "min_level": 1,
     "tiers": None},
    {"criterion": "customer_support", "provider_weight": 0.2, "pricing": "score", "threshold": 0.0,
     "min_level": 1, "tiers": ["E-mail 48 h", "Phone 9-5", "24/7"]},
]
PAPER_OMEGA = {"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}


def paper_classes(pricing_mode="score", m=10, P=1200.0):
    rows = [dict(r, pricing=pricing_mode) for r in PAPER_ROWS]
    return model.build_classes(pricing.criteria_of(rows), P, model.parse_utility("sqrt"), m,
                               {"timeliness": 1.0, "amount_of_data": 1.0}, {"timeliness": 1.0, "amount_of_data": 1.0})


def test_paper_price_table_score_pricing():
    t, a, s = paper_classes()
    assert t.levels == [float(j) for j in range(1, 11)]
    assert t.prices == pytest.approx([6 * j * j for j in range(1, 11)])
    assert a.prices == pytest.approx([3.6 * j * j for j in range(1, 11)])
    assert s.levels == [3.0, 6.0, 9.0] and s.tier_of == [1, 2, 3]
    assert s.prices == pytest.approx([26.666666666, 106.666666666, 240.0])
    assert t.scores == pytest.approx(SQRT10[1:]) and s.scores == [None] * 3


def test_paper_price_table_utility_pricing():
    t, a, s = paper_classes("utility")
    assert t.prices == pytest.approx([60.0 * j for j in range(1, 11)])
    assert a.prices == pytest.approx([36.0 * j for j in range(1, 11)])
    assert s.prices == pytest.approx([80.0, 160.0, 240.0])


def test_paper_quotes_exact_and_greedy():
    """§6: greedy 9.05 / 952.67 / residual 47.33 (timeliness 9, amount 10, tier 2); exact 9.15 / 984."""
    meas = {"timeliness": 1.0, "amount_of_data": 1.0}
    q = pricing.quote_offering(PAPER_OFF, PAPER_ROWS, meas, meas, PAPER_OMEGA, 1000.0, [], "greedy", 4)
    assert q["utility"] == pytest.approx(9.05) and q["cost"] == pytest.approx(952.6666667)
    assert q["residual"] == pytest.approx(47.3333333)
    assert {k: v["level"] for k, v in q["levels"].items()} == {
        "timeliness": 9, "amount_of_data": 10, "customer_support": 6}
    assert q["levels"]["customer_support"]["tier"] == 2 and q["levels"]["customer_support"]["terms"] == "Phone 9-5"
    assert q["delay_seconds"] == pytest.approx(0.19 * 86400) and q["delay"] == "04:33:36"
    e = pricing.quote_offering(PAPER_OFF, PAPER_ROWS, meas, meas, PAPER_OMEGA, 1000.0, [], "exact", 4)
    assert e["utility"] == pytest.approx(9.15) and e["cost"] == pytest.approx(984.0)
    assert {k: v["level"] for k, v in e["levels"].items()} == {
        "timeliness": 8, "amount_of_data": 10, "customer_support": 9}
    assert e["optimal"] is True and e["gap"] == 0.0


def test_log_and_root_prices_hand_table():
    rows = [{"criterion": "completeness", "provider_weight": 1.0, "pricing": "score", "threshold": 0.3,
             "min_level": 0, "tiers": None}]
    (c,) = model.build_classes(pricing.criteria_of(rows), 100.0, model.parse_utility("log"), 2,
                               {"completeness": 1.0}, {"completeness": 1.0})
    # the threshold moves the scores, not the prices
    assert c.prices == pytest.approx([0.0, 9.04987562112089, 100.0])
    assert c.scores == pytest.approx([0.0, 0.3 + 0.7 * 0.0904987562112089, 1.0])
    (c,) = model.build_classes(pricing.criteria_of(rows), 100.0, model.parse_utility("root:3"), 2,
                               {"completeness": 1.0}, {"completeness": 1.0})
    assert c.prices == pytest.approx([0.0, 12.5, 100.0])


def test_kappa_is_normalised():
    rows = [dict(r, provider_weight=w) for r, w in zip(PAPER_ROWS, (5, 3, 2))]
    t, a, s = model.build_classes(pricing.criteria_of(rows), 1200.0, model.parse_utility("sqrt"), 10,
                                  {"timeliness": 1, "amount_of_data": 1}, {"timeliness": 1, "amount_of_data": 1})
    assert t.prices[-1] == pytest.approx(600) and a.prices[-1] == pytest.approx(360) and s.prices[-1] == 240


# ====================================================================================
# the oracle against model.py / pricing.py on many instances
# ====================================================================================

UTILS = ["sqrt", "log", "linear", "root:1.5", "root:3"]
TIERS = [["e-mail"], ["e-mail", "phone"], ["e-mail", "phone", "24/7"], ["a", "b", "c", "d", "e"]]


def random_instance(rng, m=None, contractual=True, group=True, stale=False):
    m = m or rng.choice([10, 10, 4, 5, 7])
    util = rng.choice(UTILS)
    P = round(rng.uniform(10, 2000), 2)
    names = rng.sample(MEASURED, rng.randint(1, 3))
    if contractual and rng.random() < 0.7:
        names.append(rng.choice(["customer_support", "documentation"]))
    rows, measured, reference = [], {}, {}
    for n in names:
        contractual_ = n not in MEASURED
        tiers = rng.choice(TIERS) if contractual_ else None
        rows.append({"criterion": n, "provider_weight": rng.choice([0.0, 0.1, 0.5, 1.0, 2.5]),
                     "pricing": rng.choice(["score", "utility"]),
                     "threshold": 0.0 if contractual_ else rng.choice([0.0, 0.0, 0.2, 0.5]),
                     "min_level": rng.choice([0, 1]) if not contractual_ else rng.randint(0, len(tiers)),
                     "tiers": tiers})
        if not contractual_:
            own = rng.choice([1.0, rng.uniform(0.05, 1.0)])
            ref = rng.choice([own, max(own, rng.uniform(0.05, 1.0))]) if group else own
            measured[n], reference[n] = own, ref
    if sum(r["provider_weight"] for r in rows) == 0:
        rows[0]["provider_weight"] = 1.0
    ncols = rng.randint(2, 8)
    cols = ["k"] + ["c%d" % i for i in range(1, ncols)]
    n_ref = ncols + (rng.randint(0, 3) if group else 0)
    if "amount_of_data" in measured:
        measured["amount_of_data"] = ncols / n_ref
        reference["amount_of_data"] = max(measured["amount_of_data"], reference["amount_of_data"]) \
            if group else measured["amount_of_data"]
        if reference["amount_of_data"] > 1:
            reference["amount_of_data"] = 1.0
    off = {"name": "o", "reserve_price": P, "utility": util, "levels": m, "columns": cols, "key_columns": ["k"],
           "volatility_seconds": rng.choice([None, 3600.0, 86400.0])}
    raw = {n: rng.choice([0.0, rng.uniform(0.01, 1)]) for n in names}
    if not any(raw.values()):
        raw[names[0]] = 1.0
    s = sum(raw.values())
    omega = {k: v / s for k, v in raw.items()}
    return off, rows, measured, reference, omega, n_ref


def compare_classes(got, want):
    assert [c.name for c in got] == [c.name for c in want]
    for g, w in zip(got, want):
        assert g.levels == pytest.approx(w.levels, abs=1e-9), g.name
        assert g.prices == pytest.approx(w.prices, rel=1e-9, abs=1e-9), g.name
        if w.scores is not None:
            assert g.scores == pytest.approx(w.scores, rel=1e-9, abs=1e-12), g.name
            assert g.tier_of == [], g.name
        else:
            assert g.tier_of == w.tiers, g.name


def test_classes_match_the_oracle_m10():
    rng = random.Random(17)
    for _ in range(300):
        off, rows, meas, ref, omega, n_ref = random_instance(rng, m=10)
        got = model.build_classes(pricing.criteria_of(rows), off["reserve_price"], model.parse_utility(off["utility"]),
                                  10, meas, ref)
        compare_classes(got, oracle_classes(off, rows, meas, ref))


def test_data_classes_match_the_oracle_any_m():
    rng = random.Random(18)
    for _ in range(300):
        off, rows, meas, ref, omega, n_ref = random_instance(rng, contractual=False)
        got = model.build_classes(pricing.criteria_of(rows), off["reserve_price"], model.parse_utility(off["utility"]),
                                  off["levels"], meas, ref)
        compare_classes(got, oracle_classes(off, rows, meas, ref))


def check_quote(off, rows, meas, ref, omega, n_ref, bid, solver="exact", wanted=()):
    classes = oracle_classes(off, rows, meas, ref)
    want = oracle_quote(classes, omega, bid, off["reserve_price"])
    if all(c.levels for c in classes):
        lo = sum(c.prices[0] for c in classes)
        if abs(bid - lo) <= 1e-9 * max(1.0, bid) and bid < off["reserve_price"]:
            return None             # a bid equal to the minimum up to round-off: either answer is right
    q = pricing.quote_offering(off, rows, meas, ref, omega, bid, list(wanted), solver, n_ref)
    assert q["accepted"] == want["accepted"], (q, want)
    if not want["accepted"]:
        if "minimum_bid" in want:
            assert q["minimum_bid"] == pytest.approx(want["minimum_bid"], rel=1e-9)
        return q
    assert q["full_quality"] == want["full"]
    assert q["residual"] == pytest.approx(bid - q["cost"], abs=1e-9)
    got_choice = [next(j for j, l in enumerate(c.levels) if abs(l - q["levels"][c.name]["level"]) < 1e-9)
                  for c in classes]
    assert q["cost"] == pytest.approx(sum(c.prices[j] for c, j in zip(classes, got_choice)), rel=1e-9, abs=1e-9)
    assert q["utility"] == pytest.approx(sum(omega.get(c.name, 0.0) * c.levels[j]
                                             for c, j in zip(classes, got_choice)), rel=1e-9, abs=1e-12)
    for c, j in zip(classes, got_choice):
        assert q["levels"][c.name]["price"] == pytest.approx(c.prices[j], rel=1e-9, abs=1e-12)
    if solver == "exact":
        assert q["utility"] == pytest.approx(want["utility"], rel=1e-9, abs=1e-12)
        assert q["cost"] <= FEAS(bid) or want["full"]
        cols, delay, target = oracle_product(off, classes, got_choice, meas, ref, n_ref, wanted)
        assert set(q["columns"]) == cols and len(q["columns"]) == len(cols)
        assert q["delay_seconds"] == pytest.approx(delay, abs=1e-6)
        if target is None:
            assert q["completeness_target"] is None
        else:
            assert q["completeness_target"] == pytest.approx(target, rel=1e-9)
    return q


def bids_for(off, rows, meas, ref, rng):
    classes = oracle_classes(off, rows, meas, ref)
    lo = sum(c.prices[0] for c in classes if c.levels)
    P = off["reserve_price"]
    return [max(lo * 0.5, 0.01), lo + 1e-6 if lo > 0 else 0.01, rng.uniform(lo, P) if lo < P else P,
            rng.uniform(lo, P) if lo < P else P, P, P * 1.5]


def test_quotes_match_the_brute_force_m10():
    rng = random.Random(19)
    for _ in range(120):
        inst = random_instance(rng, m=10)
        for bid in bids_for(*inst[:4], rng):
            check_quote(*inst, bid)


def test_quotes_match_the_brute_force_data_only_any_m():
    rng = random.Random(20)
    for _ in range(120):
        inst = random_instance(rng, contractual=False)
        for bid in bids_for(*inst[:4], rng):
            check_quote(*inst, bid)


def test_greedy_quotes_are_feasible_and_priced_by_the_oracle():
    rng = random.Random(21)
    for _ in range(80):
        inst = random_instance(rng, m=10)
        for bid in bids_for(*inst[:4], rng):
            q = check_quote(*inst, bid, solver="greedy")
            if q and q["accepted"] and not q["full_quality"]:
                assert q["cost"] <= FEAS(bid)


def test_minimum_bid_is_the_cheapest_admissible_version():
    off, rows = PAPER_OFF, PAPER_ROWS
    meas = {"timeliness": 1.0, "amount_of_data": 1.0}
    q = pricing.quote_offering(off, rows, meas, meas, PAPER_OMEGA, 30.0, [], "exact", 4)
    assert q["accepted"] is False and q["minimum_bid"] == pytest.approx(6 + 3.6 + 26.666666667)
    assert q["reason"] == "bid 30 is below the cheapest admissible version"
    q = pricing.quote_offering(off, rows, meas, meas, PAPER_OMEGA, 36.27, [], "exact", 4)
    assert q["accepted"] is True and q["cost"] == pytest.approx(36.266666667)


# ====================================================================================
# docs/model.md's issue-14 decisions: stale offerings, tier scale, the column budget
# ====================================================================================

STALE_OFF = dict(PAPER_OFF, name="stale", reserve_price=100.0)
STALE_ROWS = [
    {"criterion": "timeliness", "provider_weight": 1.0, "pricing": "score", "threshold": 0.0, "min_level": 1,
     "tiers": None},
    {"criterion": "completeness", "provider_weight": 1.0, "pricing": "score", "threshold": 0.0, "min_level": 1,
     "tiers": None},
]


def test_stale_reference_zero_every_level_deliverable():
    qs = model.data_level_scores(model.parse_utility("sqrt"), 10)
    assert model.level_cap(qs, 0.0, 0.0) == 10
    (t, c) = model.build_classes(pricing.criteria_of(STALE_ROWS), 100.0, model.parse_utility("sqrt"), 10,
                                 {"timeliness": 0.0, "completeness": 1.0}, {"timeliness": 0.0, "completeness": 1.0})
    assert t.levels == [float(j) for j in range(1, 11)]
    assert t.prices == pytest.approx([50 * (j / 10) ** 2 for j in range(1, 11)])     # priced as usual


@pytest.mark.parametrize("omega", [{"timeliness": 0.5, "completeness": 0.5}, {"completeness": 1.0}])
@pytest.mark.parametrize("bid", [100.0, 150.0, 60.0])
def test_stale_offering_sells(omega, bid):
    meas = {"timeliness": 0.0, "completeness": 1.0}
    q = pricing.quote_offering(STALE_OFF, STALE_ROWS, meas, meas, omega, bid, [], "exact", 4)
    assert q["accepted"] is True
    if bid >= 100.0:
        assert q["full_quality"] is True and q["levels"]["timeliness"]["level"] == 10
        assert q["cost"] == pytest.approx(100.0)


def test_unmeasurable_criterion_does_not_block_a_sale():
    meas = {"timeliness": None, "completeness": None}
    q = pricing.quote_offering(STALE_OFF, STALE_ROWS, meas, {}, {"completeness": 1.0}, 100.0, [], "exact", 4)
    assert q["accepted"] is True and q["full_quality"] is True


def test_group_member_below_min_level_cannot_serve():
    """docs/model.md §2: in a comparison group a member whose cap lies below a criterion's minimum
    level cannot serve the bid, and the quote says which criterion."""
    meas = {"timeliness": 1.0, "completeness": 0.005}
    ref = {"timeliness": 1.0, "completeness": 1.0}          # 0.005 < QS_1 = 0.01
    q = pricing.quote_offering(STALE_OFF, STALE_ROWS, meas, ref, {"completeness": 1.0}, 100.0, [], "exact", 4)
    assert q["accepted"] is False and "completeness" in q["reason"] and "minimum_bid" not in q


@pytest.mark.parametrize("m", [5, 4, 20, 1])
def test_tiers_scale_with_levels(m):
    rows = [PAPER_ROWS[0], PAPER_ROWS[2]]
    t, s = model.build_classes(pricing.criteria_of(rows), 1200.0, model.parse_utility("sqrt"), m,
                               {"timeliness": 1.0}, {"timeliness": 1.0})
    assert s.levels == pytest.approx([0.3 * m, 0.6 * m, 0.9 * m])
    assert s.levels[-1] < t.levels[-1]                     # a top tier is never worth more than a top level
    # prices go by l / l_top = t / k, whatever m
    assert s.prices == pytest.approx([1200 * 0.2 / 0.7 * (x / 3) ** 2 for x in (1, 2, 3)])


def test_tier_scale_random_instances():
    rng = random.Random(23)
    for _ in range(120):
        off, rows, meas, ref, omega, n_ref = random_instance(rng, m=rng.choice([3, 4, 5, 7, 20]))
        got = model.build_classes(pricing.criteria_of(rows), off["reserve_price"], model.parse_utility(off["utility"]),
                                  off["levels"], meas, ref)
        compare_classes(got, oracle_classes(off, rows, meas, ref))
        for bid in bids_for(off, rows, meas, ref, rng):
            check_quote(off, rows, meas, ref, omega, n_ref, bid)


KEYS_OFF = {"name": "emp", "reserve_price": 100.0, "utility": "linear", "levels": 4,
            "columns": ["month", "nonfarm", "manufacturing", "retail"], "key_columns": ["month"],
            "volatility_seconds": None}
KEYS_ROWS = [{"criterion": "amount_of_data", "provider_weight": 1.0, "pricing": "score", "threshold": 0.0,
              "min_level": 1, "tiers": None}]


@pytest.mark.parametrize("columns", [["month", "nonfarm", "manufacturing", "retail"],
                                     ["nonfarm", "manufacturing", "retail", "month"]])
@pytest.mark.parametrize("wanted", [[], ["nonfarm"], ["retail", "nonfarm"], ["month", "retail"]])
@pytest.mark.parametrize("bid, level", [(25.0, 1), (50.0, 2), (75.0, 3)])
def test_keys_count_toward_the_column_budget(columns, wanted, bid, level):
    meas = {"amount_of_data": 1.0}
    off = dict(KEYS_OFF, columns=columns)
    # linear, m = 4, P = 100: level j costs 25 j and buys y_t = ⌈(j/4) · 4⌉ = j columns in all, the key one of them
    q = pricing.quote_offering(off, KEYS_ROWS, meas, meas, {"amount_of_data": 1.0}, bid, wanted, "exact", 4)
    assert q["levels"]["amount_of_data"]["level"] == level
    assert len(q["columns"]) == level and "month" in q["columns"]
    rest = [c for c in wanted if c != "month"] + [c for c in columns if c not in wanted and c != "month"]
    assert set(q["columns"]) == {"month"} | set(rest[:level - 1])


def test_column_budget_random_instances():
    rng = random.Random(29)
    for _ in range(150):
        off, rows, meas, ref, omega, n_ref = random_instance(rng, m=10, contractual=False)
        others = [c for c in off["columns"] if c != "k"]
        wanted = rng.sample(others, rng.randint(0, len(others)))
        for bid in bids_for(off, rows, meas, ref, rng):
            check_quote(off, rows, meas, ref, omega, n_ref, bid, wanted=wanted)


# ====================================================================================
# parse_utility and ω
# ====================================================================================

@pytest.mark.parametrize("text, kind, a, name", [
    (None, "root", 2.0, "sqrt"), ("sqrt", "root", 2.0, "sqrt"), (" SQRT ", "root", 2.0, "sqrt"),
    ("log", "log", None, "log"), ("Log", "log", None, "log"),
    ("linear", "root", 1.0, "root:1"), ("root:2", "root", 2.0, "sqrt"), ("root:2.5", "root", 2.5, "root:2.5"),
    ("root(3)", "root", 3.0, "root:3"), ("root : 4", "root", 4.0, "root:4"), ("root( 1 )", "root", 1.0, "root:1"),
    ("root:20", "root", 20.0, "root:20"), ("", "root", 2.0, "sqrt"),
])
def test_parse_utility(text, kind, a, name):
    u = model.parse_utility(text)
    assert u.kind == kind and u.name == name
    if a is not None:
        assert u.a == a
    assert model.parse_utility(u.name) == u          # the stored name parses back to the same utility


@pytest.mark.parametrize("text", ["cubic", "root:0.5", "root:21", "root:", "root:-2", "root:1e1", "rootx3",
                                  "   ", "sqrt2", "root:3)x"])
def test_parse_utility_refuses(text):
    with pytest.raises(InvalidParameter, match="utility .* is not known") as ei:
        model.parse_utility(text)
    assert ei.value.sqlstate == "22023" and "root:a" in ei.value.hint


def test_base_edges():
    for u in (model.parse_utility(x) for x in UTILS):
        assert u.base(0) == 0.0 and u.base(-0.5) == 0.0
        assert u.base(1) == 1.0 and u.base(1.5) == 1.0
        assert 0 < u.base(0.5) < 1
    assert model.parse_utility("log").base(0.5) == pytest.approx(0.0904987562112089)


def test_normalise_preferences():
    known = ["timeliness", "amount_of_data", "customer_support"]
    assert model.normalise_preferences({"timeliness": 0.2, "amount_of_data": 0.6}, known) == pytest.approx(
        {"timeliness": 0.25, "amount_of_data": 0.75, "customer_support": 0.0})
    assert model.normalise_preferences({"timeliness": 35, "amount_of_data": 50, "customer_support": 15}, known) \
        == pytest.approx({"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15})
    assert model.normalise_preferences({"timeliness": 2}, known) == {"timeliness": 1.0, "amount_of_data": 0.0,
                                                                     "customer_support": 0.0}
    big = model.normalise_preferences({"timeliness": 1e308, "amount_of_data": 1e308}, known)
    assert big == {"timeliness": 0.5, "amount_of_data": 0.5, "customer_support": 0.0}


@pytest.mark.parametrize("prefs, match", [
    ([1], "preferences must be a JSON object of criterion -> weight, got list"),
    ({}, "preferences are empty"),
    ({"bogus": 1}, "preferences name an unknown criterion 'bogus'"),
    ({"timeliness": True}, "preference weight of 'timeliness' must be a number, got True"),
    ({"timeliness": "1"}, "must be a number"),
    ({"timeliness": None}, "must be a number"),
    ({"timeliness": -1}, "must be a finite number >= 0, got -1"),
    ({"timeliness": math.nan}, "finite number >= 0, got nan"),
    ({"timeliness": math.inf}, "finite number >= 0, got inf"),
    ({"timeliness": 10 ** 400}, "finite number >= 0, got inf"),
    ({"timeliness": 0, "amount_of_data": 0.0}, "preference weights are all zero"),
])
def test_normalise_preferences_refusals(prefs, match):
    with pytest.raises(InvalidParameter, match=match) as ei:
        model.normalise_preferences(prefs, ["timeliness", "amount_of_data"])
    assert ei.value.sqlstate == "22023"
    if isinstance(prefs, list):
        assert ei.value.hint == 'e.g. {"timeliness": 0.35, "amount_of_data": 0.5}'
    elif "bogus" in prefs:
        assert ei.value.hint == "known criteria: timeliness, amount_of_data"


def test_zero_provider_weights_refused():
    rows = [dict(PAPER_ROWS[0], provider_weight=0.0)]
    with pytest.raises(InvalidParameter, match="provider weights of the offering's criteria are all zero"):
        model.build_classes(pricing.criteria_of(rows), 1.0, model.parse_utility("sqrt"), 10, {"timeliness": 1},
                            {"timeliness": 1})


def test_contractual_top():
    """docs/model.md §3: the top tier sits at 0.9 m."""
    assert model.contractual_top(10) == 9 and model.contractual_top(5) == 4.5 and model.contractual_top(1) == 0.9


def test_criterion_contractual_property():
    assert not model.Criterion("timeliness", 1.0).contractual
    assert model.Criterion("customer_support", 1.0).contractual
    assert model.MEASURED == MEASURED


def test_criterion_defaults_and_fresh_lists():
    a, b = model.Criterion("timeliness", 0.5), model.Criterion("completeness", 0.5)
    assert (a.pricing, a.threshold, a.min_level, a.tiers) == ("score", 0.0, 1, None)
    assert a.levels == a.scores == a.prices == a.tier_of == []
    a.levels.append(1.0)
    assert b.levels == [] and a.levels is not b.levels
    assert repr(a) == "Criterion('timeliness', levels=[1.0], prices=[])"


def test_level_cap_below_level_one_is_level_zero():
    scores = model.data_level_scores(model.parse_utility("linear"), 4, threshold=0.5)   # 0, .625, .75, ...
    assert model.level_cap(scores, 0.3, 1.0) == 0
    assert model.level_cap(scores, 0.625, 1.0) == 1
    assert model.level_cap(scores, 2.0, 1.0) == 4


def test_utility_is_an_immutable_value():
    u = model.Utility("root")
    assert u.a == 2.0 and u == model.parse_utility(None) == model.parse_utility("sqrt")
    with pytest.raises(AttributeError):
        u.a = 3.0
