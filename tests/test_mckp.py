"""Tests for nyop_server.mckp (multiple-choice knapsack); no PostgreSQL needed."""

import contextlib
import itertools
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nyop_server import mckp
from nyop_server.errors import InvalidParameter, NyopError
from nyop_pg.instances import random_pricing_instance
from nyop_server.mckp import (Infeasible, Solution, capacity_limit, lp_bound, solve, solve_exact,
                              solve_greedy, validate)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def paper_instance():
    """The paper's example: timeliness, amount of data, support; bid 1000."""
    l = np.arange(1, 11, dtype=float)
    s = np.array([3.0, 6.0, 9.0])
    weights = [6 * l ** 2, 3.6 * l ** 2, 240 * (s / 9) ** 2]
    profits = [0.35 * l, 0.5 * l, 0.15 * s]
    return weights, profits, 1000.0


def brute_force(weights, profits, capacity):
    """Best profit over all choices (vectorised enumeration), or None."""
    limit = capacity_limit(capacity)
    W = np.zeros(1)
    P = np.zeros(1)
    for w, p in zip(weights, profits):
        W = (W[:, None] + np.asarray(w, float)[None, :]).ravel()
        P = (P[:, None] + np.asarray(p, float)[None, :]).ravel()
    ok = W <= limit
    if not ok.any():
        return None
    return float(P[ok].max())


def brute_force_product(weights, profits, capacity):
    """Reference by itertools.product (for the smallest instances)."""
    limit = capacity_limit(capacity)
    best = None
    for choice in itertools.product(*[range(len(w)) for w in weights]):
        wt = sum(weights[i][j] for i, j in enumerate(choice))
        if wt <= limit:
            pr = sum(profits[i][j] for i, j in enumerate(choice))
            best = pr if best is None else max(best, pr)
    return best


def check_solution(sol, weights, profits, capacity):
    assert isinstance(sol, Solution)
    assert len(sol.choice) == len(weights)
    w = sum(float(weights[i][j]) for i, j in enumerate(sol.choice))
    p = sum(float(profits[i][j]) for i, j in enumerate(sol.choice))
    assert w <= capacity_limit(capacity)
    assert sol.weight == pytest.approx(w, rel=1e-12, abs=1e-9)
    assert sol.profit == pytest.approx(p, rel=1e-12, abs=1e-12)
    assert sol.gap >= 0
    if sol.optimal:
        assert sol.gap == 0


def milp_optimum(weights, profits, capacity):
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    sizes = [len(w) for w in weights]
    nv = sum(sizes)
    c = -np.concatenate([np.asarray(p, float) for p in profits])
    wv = np.concatenate([np.asarray(w, float) for w in weights])
    A = lil_matrix((len(sizes) + 1, nv))
    start = 0
    for i, k in enumerate(sizes):
        A[i, start:start + k] = 1.0
        start += k
    A[len(sizes), :] = wv
    lo = np.concatenate([np.ones(len(sizes)), [-np.inf]])
    hi = np.concatenate([np.ones(len(sizes)), [capacity]])
    res = milp(c, constraints=LinearConstraint(A.tocsr(), lo, hi),
               integrality=np.ones(nv), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-12, "time_limit": 60})
    assert res.status == 0, res.message
    return -res.fun


@contextlib.contextmanager
def solver_paths(mode):
    """Force code paths on small instances: "bounds" skips the plain-Python
    search of small instances (so the vectorised expanding-core search runs);
    "loop" additionally makes every merge test its items one at a time (the
    path of large state sets) instead of all (item, state) pairs at once."""
    old = mckp._SMALL_ITEMS, mckp._PAIRS
    if mode in ("bounds", "loop"):
        mckp._SMALL_ITEMS = 0
    if mode == "loop":
        mckp._PAIRS = 0
    try:
        yield
    finally:
        mckp._SMALL_ITEMS, mckp._PAIRS = old


# --------------------------------------------------------------------------
# the paper's example
# --------------------------------------------------------------------------

def test_paper_greedy_trace_and_result():
    weights, profits, cap = paper_instance()
    sol = solve_greedy(weights, profits, cap)
    # initial residual capacity c = C - sum_i w_i0
    c0 = cap - sum(w[0] for w in weights)
    assert round(c0, 2) == 963.73
    i, j, c1 = sol.steps[0]
    assert round(c1 + (weights[i][j] - weights[i][j - 1]), 2) == 963.73
    expected = [952.93, 934.93, 909.73, 891.73, 859.33, 819.73, 789.73, 742.93,
                688.93, 646.93, 585.73, 517.33, 463.33, 383.33, 317.33, 239.33,
                149.33, 47.33]
    assert [round(s[2], 2) for s in sol.steps] == expected
    # each step advances one class by exactly one level
    level = [0, 0, 0]
    for i, j, _ in sol.steps:
        assert j == level[i] + 1
        level[i] = j
    # timeliness level 9, amount of data level 10, support level 6
    assert sol.choice == [8, 9, 1]
    assert level == sol.choice
    assert round(sol.profit, 2) == 9.05
    assert round(sol.weight, 2) == 952.67
    assert not sol.optimal
    assert sol.gap == pytest.approx(lp_bound(weights, profits, cap) - sol.profit)
    check_solution(sol, weights, profits, cap)


def test_paper_exact():
    weights, profits, cap = paper_instance()
    sol = solve_exact(weights, profits, cap)
    # timeliness level 8, amount of data level 10, support level 9
    assert sol.choice == [7, 9, 2]
    assert round(sol.profit, 2) == 9.15
    assert round(sol.weight, 2) == 984.00
    assert sol.optimal and sol.gap == 0 and sol.steps == []
    assert sol.profit == pytest.approx(brute_force_product(weights, profits, cap), abs=1e-12)
    check_solution(sol, weights, profits, cap)
    assert solve(weights, profits, cap).choice == sol.choice
    assert solve(weights, profits, cap, method="greedy").choice == [8, 9, 1]
    # forcing the bounding machinery gives the same answer
    for mode in ("bounds", "loop"):
        with solver_paths(mode):
            assert solve_exact(weights, profits, cap).choice == [7, 9, 2]
    assert lp_bound(weights, profits, cap) >= sol.profit


def test_paper_padded_2d_input():
    weights, profits, cap = paper_instance()
    W = np.full((3, 10), np.nan)
    P = np.full((3, 10), np.nan)
    for i in range(3):
        W[i, :len(weights[i])] = weights[i]
        P[i, :len(profits[i])] = profits[i]
    assert solve_exact(W, P, cap).choice == [7, 9, 2]
    g = solve_greedy(W, P, cap)
    assert g.choice == [8, 9, 1] and len(g.steps) == 18


# --------------------------------------------------------------------------
# random small instances vs brute force
# --------------------------------------------------------------------------

@st.composite
def small_instances(draw, max_classes=5, max_items=5):
    n = draw(st.integers(1, max_classes))
    kind = draw(st.sampled_from(["int", "float", "convex", "ties"]))
    weights, profits = [], []
    for _ in range(n):
        m = draw(st.integers(1, max_items))
        if kind == "int":
            w = draw(st.lists(st.integers(0, 20), min_size=m, max_size=m))
            p = draw(st.lists(st.integers(0, 20), min_size=m, max_size=m))
        elif kind == "ties":
            w = draw(st.lists(st.sampled_from([0, 1, 2, 5]), min_size=m, max_size=m))
            p = draw(st.lists(st.sampled_from([0, 1, 3]), min_size=m, max_size=m))
        elif kind == "float":
            fl = st.floats(0, 100, allow_nan=False, allow_infinity=False)
            w = draw(st.lists(fl, min_size=m, max_size=m))
            p = draw(st.lists(st.floats(0, 10, allow_nan=False, allow_infinity=False),
                              min_size=m, max_size=m))
        else:  # convex levels: increasing weights, concave profits
            a = draw(st.floats(0.1, 10))
            b = draw(st.floats(0.1, 5))
            w = [a * (j + 1) ** 2 for j in range(m)]
            p = [b * (j + 1) for j in range(m)]
        weights.append(np.array(w, dtype=float))
        profits.append(np.array(p, dtype=float))
    lo = sum(float(w.min()) for w in weights)
    hi = sum(float(w.max()) for w in weights)
    how = draw(st.sampled_from(["between", "exact", "lightest"]))
    if how == "exact":  # capacity equal to the weight of some choice
        choice = [draw(st.integers(0, len(w) - 1)) for w in weights]
        cap = float(sum(w[j] for w, j in zip(weights, choice)))
    elif how == "lightest":
        cap = lo
    else:
        cap = lo + draw(st.floats(0, 1)) * (hi - lo)
    return weights, profits, cap


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.sampled_from(["default", "bounds", "loop"]))
def test_exact_matches_brute_force(inst, mode):
    weights, profits, cap = inst
    ref = brute_force_product(weights, profits, cap)
    assert ref is not None
    with solver_paths(mode):
        sol = solve_exact(weights, profits, cap)
    check_solution(sol, weights, profits, cap)
    assert sol.optimal
    assert sol.profit == pytest.approx(ref, abs=1e-9, rel=1e-12)
    assert sol.profit <= lp_bound(weights, profits, cap) + 1e-9
    if sum(float(w[0]) for w in weights) <= capacity_limit(cap):
        g = solve_greedy(weights, profits, cap)
        check_solution(g, weights, profits, cap)
        assert g.profit <= sol.profit + 1e-9
        assert g.profit + g.gap >= sol.profit - 1e-9


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(max_classes=9, max_items=6))
def test_exact_matches_enumeration_medium(inst):
    """Up to 6**9 choices: most go through the bounding + reduction path."""
    weights, profits, cap = inst
    ref = brute_force(weights, profits, cap)
    sol = solve_exact(weights, profits, cap)
    check_solution(sol, weights, profits, cap)
    assert sol.optimal
    assert sol.profit == pytest.approx(ref, abs=1e-9, rel=1e-12)
    assert sol.profit <= lp_bound(weights, profits, cap) + 1e-9


@settings(max_examples=60, deadline=None)
@given(small_instances(max_classes=4, max_items=5), st.floats(0, 1), st.floats(0, 1))
def test_monotone_in_capacity(inst, f1, f2):
    weights, profits, cap = inst
    hi = sum(float(w.max()) for w in weights)
    c1 = cap + min(f1, f2) * hi
    c2 = cap + max(f1, f2) * hi
    s1 = solve_exact(weights, profits, c1)
    s2 = solve_exact(weights, profits, c2)
    assert s2.profit >= s1.profit - 1e-12


def test_monotone_in_capacity_pricing():
    w, p, bid = random_pricing_instance(30, 12, 1000, np.random.default_rng(5))
    prev = -np.inf
    for cap in np.linspace(w[:, 0].sum(), w[:, -1].sum(), 25):
        s = solve_exact(w, p, cap)
        assert s.optimal
        assert s.profit >= prev - 1e-12
        prev = s.profit


def test_item_index_mapping_unsorted_and_dominated():
    # items deliberately out of weight order, with dominated and duplicate items
    weights = [np.array([5.0, 1.0, 3.0, 3.0, 7.0]), np.array([2.0, 0.0, 2.0])]
    profits = [np.array([4.0, 1.0, 2.0, 3.0, 3.5]), np.array([1.0, 0.5, 2.0])]
    for cap in [1.0, 3.0, 5.0, 7.0, 9.0, 20.0]:
        sol = solve_exact(weights, profits, cap)
        check_solution(sol, weights, profits, cap)
        assert sol.profit == pytest.approx(brute_force_product(weights, profits, cap))


@pytest.mark.parametrize("n,m", [(1, 4000), (2, 2500), (3, 150)])
def test_few_large_classes(n, m):
    rng = np.random.default_rng(n * m)
    W = rng.uniform(0, 100, (n, m))
    P = rng.uniform(0, 100, (n, m))
    cap = 0.4 * W.max(axis=1).sum()
    ref = brute_force(list(W), list(P), cap)
    for mode in ("default", "loop"):
        with solver_paths(mode):
            sol = solve_exact(W, P, cap)
        check_solution(sol, W, P, cap)
        assert sol.optimal and sol.profit == pytest.approx(ref, abs=1e-9)


def test_greedy_proves_optimality_when_lp_is_tight():
    w, p, _ = random_pricing_instance(10, 6, 1000, np.random.default_rng(2))
    g = solve_greedy(w, p, w[:, -1].sum())
    assert g.choice == [5] * 10 and g.optimal and g.gap == 0


def test_all_best_items_fit():
    w, p, _ = random_pricing_instance(20, 8, 1000, np.random.default_rng(1))
    cap = w[:, -1].sum() + 1
    s = solve_exact(w, p, cap)
    assert s.optimal and s.choice == [7] * 20


# --------------------------------------------------------------------------
# larger instances vs HiGHS
# --------------------------------------------------------------------------

def _random_ragged(rng, n, mmin, mmax, convex):
    weights, profits = [], []
    for _ in range(n):
        m = int(rng.integers(mmin, mmax + 1))
        if convex:
            a = rng.uniform(1, 10)
            b = rng.uniform(0.5, 2)
            j = np.arange(1, m + 1)
            w = a * j ** 2 * rng.uniform(0.9, 1.1, m)
            p = b * j * rng.uniform(0.9, 1.1, m)
        else:
            w = rng.uniform(0, 100, m)
            p = w * rng.uniform(0.8, 1.2, m) + rng.uniform(0, 5, m)
        weights.append(w)
        profits.append(p)
    lo = sum(w.min() for w in weights)
    hi = sum(w.max() for w in weights)
    cap = lo + rng.uniform(0.1, 0.9) * (hi - lo)
    return weights, profits, cap


LARGE_CASES = ([("ragged", s) for s in range(10)]
               + [("uncorrelated", s) for s in range(4)]
               + [("pricing", s) for s in range(12)])


@pytest.mark.parametrize("kind,seed", LARGE_CASES)
def test_exact_matches_milp(kind, seed):
    rng = np.random.default_rng(1000 + seed)
    if kind == "ragged":
        n = int(rng.integers(10, 41))
        weights, profits, cap = _random_ragged(rng, n, 5, 30, convex=seed % 2 == 0)
    elif kind == "uncorrelated":
        n = int(rng.integers(10, 41))
        m = int(rng.integers(5, 31))
        W = rng.uniform(0, 100, (n, m))
        P = rng.uniform(0, 100, (n, m))
        weights, profits = list(W), list(P)
        cap = W.min(axis=1).sum() + rng.uniform(0.1, 0.9) * (W.max(axis=1).sum() - W.min(axis=1).sum())
    else:
        n = int(rng.integers(10, 41))
        m = int(rng.integers(5, 31))
        bid = [1000, 10000][seed % 2]
        W, P, cap = random_pricing_instance(n, m, bid, rng)
        weights, profits = list(W), list(P)
    sol = solve_exact(weights, profits, cap)
    check_solution(sol, weights, profits, cap)
    assert sol.optimal
    ref = milp_optimum(weights, profits, cap)
    assert sol.profit == pytest.approx(ref, rel=1e-6)
    assert sol.profit <= lp_bound(weights, profits, cap) + 1e-9
    g = solve_greedy(weights, profits, cap) if kind == "pricing" else None
    if g is not None:
        check_solution(g, weights, profits, cap)
        assert g.profit <= sol.profit + 1e-9


@pytest.mark.parametrize("n,m,bid", [(100, 10, 1000), (100, 10, 10000),
                                     (100, 100, 1000), (100, 100, 10000)])
def test_benchmark_shapes_optimal(n, m, bid):
    for seed in range(3):
        W, P, cap = random_pricing_instance(n, m, bid, np.random.default_rng(seed))
        sol = solve_exact(W, P, cap)
        assert sol.optimal
        check_solution(sol, W, P, cap)
        ub = lp_bound(W, P, cap)
        assert sol.profit <= ub + 1e-9
        g = solve_greedy(W, P, cap)
        assert g.profit <= sol.profit + 1e-9


def test_frontier_cap_returns_certified_gap():
    W, P, cap = random_pricing_instance(60, 40, 1000, np.random.default_rng(7))
    full = solve_exact(W, P, cap)
    assert full.optimal
    capped = solve_exact(W, P, cap, max_frontier=2)
    check_solution(capped, W, P, cap)
    assert not capped.optimal
    assert capped.gap >= 0
    assert capped.profit <= full.profit + 1e-12
    # the gap is certified: profit + gap bounds the true optimum
    assert capped.profit + capped.gap >= full.profit - 1e-12


def test_frontier_cap_tiny_instance():
    """A one-state cap: the answer is feasible and certified; it may even be proven optimal
    (when every state the cap dropped is bounded below the incumbent)."""
    weights, profits, cap = paper_instance()
    for mode in ("default", "bounds", "loop"):
        with solver_paths(mode):
            s = solve_exact(weights, profits, cap, max_frontier=1)
        check_solution(s, weights, profits, cap)
        assert s.profit + s.gap >= 9.15 - 1e-12
        assert s.optimal == (s.stopped_by is None)
        if s.optimal:
            assert round(s.profit, 2) == 9.15


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

GOOD_W = [[1.0, 2.0], [3.0, 4.0, 5.0]]
GOOD_P = [[1.0, 2.0], [1.0, 2.0, 3.0]]


def test_validate_normalises():
    ws, ps, cap = validate(GOOD_W, GOOD_P, 10)
    assert [w.tolist() for w in ws] == GOOD_W
    assert [p.tolist() for p in ps] == GOOD_P
    assert cap == 10.0 and isinstance(cap, float)
    assert all(w.dtype == np.float64 for w in ws + ps)
    # 2-D, ints, Decimal (what PL/Python passes for numeric), None padding
    ws, ps, cap = validate(np.array([[1, 2], [3, 4]]), np.array([[1.0, 2.0], [3, 4]]), Decimal("5.5"))
    assert cap == 5.5 and len(ws) == 2
    ws, ps, _ = validate([[Decimal("1.5"), None], [2, 3]], [[1, None], [1, 2]], 9)
    assert [w.tolist() for w in ws] == [[1.5], [2.0, 3.0]]


@pytest.mark.parametrize("w,p,cap,msg", [
    ([], [], 10, "empty"),
    ([[1.0], []], [[1.0], []], 10, "no items"),
    ([[1.0, 2.0]], [[1.0]], 10, "weights but"),
    ([[1.0], [2.0]], [[1.0]], 10, "classes"),
    ([[1.0, float("nan")]], [[1.0, 2.0]], 10, "NaN"),
    ([[float("nan"), 1.0]], [[float("nan"), 2.0]], 10, "trailing"),
    ([[1.0, 2.0]], [[1.0, float("nan")]], 10, "NaN"),
    ([[1.0, float("inf")]], [[1.0, 2.0]], 10, "infinite"),
    ([[1.0, 2.0]], [[1.0, -float("inf")]], 10, "infinite"),
    ([[1.0, -2.0]], [[1.0, 2.0]], 10, "negative weight"),
    ([[1.0]], [[1.0]], -1, "capacity"),
    ([[1.0]], [[1.0]], float("nan"), "capacity"),
    ([[1.0]], [[1.0]], float("inf"), "capacity"),
    ([[1.0]], [[1.0]], "10", "capacity"),
    ([[1.0]], [[1.0]], None, "capacity"),
    ([["a", 1.0]], [[1.0, 2.0]], 10, "numeric"),
    ([[1.0, object()]], [[1.0, 2.0]], 10, "not a number"),
    (np.array([["a", "b"]]), np.array([[1.0, 2.0]]), 10, "numeric"),
    ([1.0, 2.0], [1.0, 2.0], 10, "scalar"),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0]), 10, "2-D"),
    (np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), 10, "2-D"),
    (None, [[1.0]], 10, "weights"),
    ([[1.0 + 2j]], [[1.0]], 10, "numeric"),
])
def test_validate_errors(w, p, cap, msg):
    with pytest.raises(InvalidParameter, match=msg) as ei:
        validate(w, p, cap)
    assert ei.value.sqlstate == "22023"
    for fn in (solve_exact, solve_greedy, lp_bound):
        with pytest.raises(InvalidParameter):
            fn(w, p, cap)


def test_infeasible():
    with pytest.raises(Infeasible, match="minimum|lightest") as ei:
        solve_exact([[5.0, 6.0], [3.0, 1.0]], [[1.0, 2.0], [1.0, 2.0]], 5.5)
    assert "6" in ei.value.message  # the minimum total weight (5 + 1)
    assert isinstance(ei.value, NyopError) and ei.value.sqlstate == "22023"
    with pytest.raises(Infeasible):
        solve_greedy([[5.0, 6.0], [3.0, 1.0]], [[1.0, 2.0], [1.0, 2.0]], 5.5)
    with pytest.raises(Infeasible):
        lp_bound([[5.0, 6.0], [3.0, 1.0]], [[1.0, 2.0], [1.0, 2.0]], 5.5)
    # exactly at capacity is feasible; round-off slack is tolerated
    s = solve_exact([[5.0, 6.0], [3.0, 1.0]], [[1.0, 2.0], [1.0, 2.0]], 6.0)
    assert s.choice == [0, 1] and s.optimal
    s = solve_exact([[0.1, 9.0], [0.2, 9.0]], [[1.0, 2.0], [1.0, 2.0]], 0.3 - 1e-16)
    assert s.choice == [0, 0]


def test_unknown_method():
    with pytest.raises(InvalidParameter, match="method"):
        solve(GOOD_W, GOOD_P, 10, method="magic")


def test_greedy_item0_start_over_capacity():
    # decreasing weights: item 0 of every class is too heavy for the greedy start
    with pytest.raises(InvalidParameter, match="item 0"):
        solve_greedy([[9.0, 1.0], [9.0, 1.0]], [[2.0, 1.0], [2.0, 1.0]], 5.0)
    s = solve_exact([[9.0, 1.0], [9.0, 1.0]], [[2.0, 1.0], [2.0, 1.0]], 5.0)
    assert s.choice == [1, 1]


def test_greedy_zero_weight_step_and_single_items():
    w = [[1.0, 1.0, 3.0], [2.0]]
    p = [[1.0, 2.0, 2.5], [0.5]]
    g = solve_greedy(w, p, 3.0)
    assert g.steps[0][:2] == (0, 1)  # +inf efficiency goes first
    assert g.choice == [1, 0]
    check_solution(g, w, p, 3.0)


def test_generator_shape():
    W, P, bid = random_pricing_instance(7, 5, 1000, 3)
    assert W.shape == P.shape == (7, 5) and bid == 1000.0
    assert (np.diff(W, axis=1) > 0).all() and (np.diff(P, axis=1) > 0).all()
    assert 1.1 * bid <= W[:, -1].sum() <= 1.5 * bid + 1e-9
