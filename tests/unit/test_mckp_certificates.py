"""mckp's public results checked tightly, no server: totals, certificates (gap = bound − profit
with optimum ≤ bound ≤ LP bound; gap = LP bound − profit exactly for the greedy), and the
paper's greedy (docs/model.md §5) against an independent implementation, on the plain-Python path
(small lists) and on the numpy path (the same classes padded past 256 items).

Only the public API is used: solve / solve_exact / solve_greedy / lp_bound and the fields
choice, profit, weight, optimal, gap, steps of their result.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from nyop_pg.instances import random_pricing_instance
from nyop_server import mckp

PAD = 256            # filler classes (one item, weight 0, profit 0) that push an instance past the small path


def limit(cap):
    return cap * (1 + 1e-12) + 1e-9


def padded(w, p):
    return [list(x) for x in w] + [[0.0]] * PAD, [list(x) for x in p] + [[0.0]] * PAD


def run(method, w, p, cap, path):
    """Solve on the plain path or the numpy path; the result as seen for the caller's classes."""
    if path == "np":
        pw, pp = padded(w, p)
        s = method(pw, pp, cap)
        assert s.choice[len(w):] == [0] * PAD
        s.choice = s.choice[:len(w)]
        s.steps = [st for st in s.steps if st[0] < len(w)]
        return s
    return method(w, p, cap)


def brute(w, p, cap):
    best = None
    for c in itertools.product(*[range(len(x)) for x in w]):
        if sum(w[i][j] for i, j in enumerate(c)) <= limit(cap):
            v = sum(p[i][j] for i, j in enumerate(c))
            best = v if best is None else max(best, v)
    return best


def brute_np(w, p, cap):
    """The same by vectorised enumeration (for the larger instances)."""
    W, P = np.zeros(1), np.zeros(1)
    for a, b in zip(w, p):
        W = (W[:, None] + np.asarray(a, float)[None, :]).ravel()
        P = (P[:, None] + np.asarray(b, float)[None, :]).ravel()
    ok = W <= limit(cap)
    return float(P[ok].max()) if ok.any() else None


def totals_ok(s, w, p, cap):
    assert len(s.choice) == len(w)
    assert s.weight == pytest.approx(sum(w[i][j] for i, j in enumerate(s.choice)), rel=1e-12, abs=1e-12)
    assert s.profit == pytest.approx(sum(p[i][j] for i, j in enumerate(s.choice)), rel=1e-12, abs=1e-12)
    assert s.weight <= limit(cap) + 1e-9


def greedy_oracle(w, p, cap):
    """docs/model.md §5 / the paper's Algorithm 5.1, written out: start at item 0, incremental
    efficiencies sorted descending, ties (relative 1e-9 of a group's first) by class then item."""
    items = []
    for i in range(len(w)):
        for j in range(1, len(w[i])):
            dw, dp = w[i][j] - w[i][j - 1], p[i][j] - p[i][j - 1]
            e = dp / dw if dw else (math.inf if dp > 0 else -math.inf if dp < 0 else 0.0)
            items.append([e, i, j, dw])
    items.sort(key=lambda t: -t[0])
    ordered, k = [], 0
    while k < len(items):
        lead, t = items[k][0], k + 1
        while t < len(items) and (items[t][0] == lead or (math.isfinite(lead) and math.isfinite(items[t][0])
                                                         and lead - items[t][0] <= 1e-9 * max(abs(lead),
                                                                                              abs(items[t][0])))):
            t += 1
        ordered += sorted(items[k:t], key=lambda x: (x[1], x[2]))
        k = t
    level = [0] * len(w)
    cbar = cap - sum(x[0] for x in w)
    steps = []
    for e, i, j, dw in ordered:
        if level[i] == j - 1 and dw <= cbar + (limit(cap) - cap):
            cbar -= dw
            level[i] = j
            steps.append((i, j, cbar))
    return level, steps


def pricing_like(rng, n, m, tie=False):
    om = [rng.uniform(0.05, 1) for _ in range(n)]
    P = rng.uniform(100, 2000)
    kap = [rng.uniform(0.05, 1) for _ in range(n)]
    s = sum(kap)
    if tie:          # utility pricing: equal efficiencies inside a class, and across classes
        w = [[P * k / s * j / m for j in range(1, m + 1)] for k in kap]
        p = [[0.3 * j for j in range(1, m + 1)] for _ in range(n)]
    else:
        w = [[P * k / s * (j / m) ** 2 for j in range(1, m + 1)] for k in kap]
        p = [[o * j for j in range(1, m + 1)] for o in om]
    lo, hi = sum(x[0] for x in w), sum(x[-1] for x in w)
    return w, p, rng.uniform(lo, hi)


# ------------------------------------------------------------------------------------
# certificates
# ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["py", "np"])
def test_exact_optimal_results_have_zero_gap_and_the_optimum(path):
    rng = random.Random(5)
    for _ in range(40):
        w, p, cap = pricing_like(rng, rng.randint(1, 4), rng.randint(1, 6))
        s = run(mckp.solve_exact, w, p, cap, path)
        totals_ok(s, w, p, cap)
        assert s.optimal is True and s.gap == 0.0
        assert s.profit == pytest.approx(brute(w, p, cap), rel=1e-12, abs=1e-12)
        assert s.steps == []


@pytest.mark.parametrize("kw", [dict(max_frontier=1), dict(max_frontier=2), dict(max_frontier=5)])
def test_exact_stopped_by_a_limit_reports_bound_minus_profit(kw):
    """A limit stops the search: profit + gap is a certified bound, optimum ≤ bound ≤ LP bound."""
    stopped = 0
    for seed in range(12):
        # 8 classes of 6: enough that the deficit rounds cannot prove every one with 1-5 states
        W, P, cap = random_pricing_instance(8, 6, 1000, seed)
        w, p = W.tolist(), P.tolist()
        opt = brute_np(w, p, cap)
        lp = mckp.lp_bound(w, p, cap)
        assert lp >= opt - 1e-9
        for inst in ((w, p), padded(w, p)):
            s = mckp.solve_exact(inst[0], inst[1], cap, **kw)
            s.choice = s.choice[:len(w)]
            totals_ok(s, w, p, cap)
            assert s.profit <= opt + 1e-9
            if s.optimal:
                assert s.gap == 0.0 and s.profit == pytest.approx(opt, rel=1e-12)
                continue
            stopped += 1
            bound = s.profit + s.gap
            assert s.gap > 0.0                  # a zero gap proves the choice: it would say so
            assert s.stopped_by == "states"
            assert bound >= opt - 1e-9 * max(1.0, abs(opt))             # the bound holds the optimum
            assert bound <= lp + 1e-9 * max(1.0, abs(lp))               # and is no weaker than the LP
    assert stopped > 0, "no instance was stopped by the limit: the test proves nothing"


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_gap_is_exactly_lp_bound_minus_profit(path):
    rng = random.Random(6)
    seen_gap = 0
    for _ in range(60):
        w, p, cap = pricing_like(rng, rng.randint(1, 4), rng.randint(2, 6))
        g = run(mckp.solve_greedy, w, p, cap, path)
        totals_ok(g, w, p, cap)
        lp = mckp.lp_bound(w, p, cap)
        opt = brute(w, p, cap)
        assert g.profit <= opt + 1e-9 <= lp + 2e-9
        if g.optimal:
            assert g.gap == 0.0 and abs(lp - g.profit) <= 1e-12 * (1 + abs(lp))
        else:
            seen_gap += 1
            assert g.gap == pytest.approx(lp - g.profit, rel=1e-12, abs=1e-12)
            assert g.gap > 0
    assert seen_gap > 5


def test_paper_example_certificates():
    l = [float(j) for j in range(1, 11)]
    w = [[6 * x * x for x in l], [3.6 * x * x for x in l], [240 * (s / 9) ** 2 for s in (3.0, 6.0, 9.0)]]
    p = [[0.35 * x for x in l], [0.5 * x for x in l], [0.15 * s for s in (3.0, 6.0, 9.0)]]
    g = mckp.solve(w, p, 1000.0, "greedy")
    assert g.choice == [8, 9, 1] and g.profit == pytest.approx(9.05) and g.weight == pytest.approx(952.6666667)
    assert g.optimal is False and g.gap == pytest.approx(mckp.lp_bound(w, p, 1000.0) - 9.05)
    e = mckp.solve(w, p, 1000.0)
    assert e.choice == [7, 9, 2] and e.profit == pytest.approx(9.15) and e.optimal and e.gap == 0.0
    assert e.weight == pytest.approx(984.0)
    assert mckp.lp_bound(w, p, 1000.0) >= 9.15


# ------------------------------------------------------------------------------------
# the paper's greedy, edge by edge
# ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_matches_the_oracle(path):
    rng = random.Random(7)
    for _ in range(80):
        w, p, cap = pricing_like(rng, rng.randint(1, 4), rng.randint(1, 7))
        g = run(mckp.solve_greedy, w, p, cap, path)
        level, steps = greedy_oracle(w, p, cap)
        assert g.choice == level
        assert [s[:2] for s in g.steps] == [s[:2] for s in steps]
        for a, b in zip(g.steps, steps):
            assert a[2] == pytest.approx(b[2], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_two_item_classes_are_stepped(path):
    g = run(mckp.solve_greedy, [[0.0, 1.0]], [[0.0, 1.0]], 1.0, path)
    assert g.choice == [1] and g.steps == [(0, 1, 0.0)]
    g = run(mckp.solve_greedy, [[0.0, 1.0], [2.0]], [[0.0, 1.0], [5.0]], 3.0, path)
    assert g.choice == [1, 0]


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_exact_fit_is_taken(path):
    # the step fits exactly (0 residual after it): taken; 1e-6 more: not taken
    g = run(mckp.solve_greedy, [[1.0, 3.0]], [[0.0, 1.0]], 3.0, path)
    assert g.choice == [1] and g.steps[-1][2] == 0.0
    g = run(mckp.solve_greedy, [[1.0, 3.0 + 1e-6]], [[0.0, 1.0]], 3.0, path)
    assert g.choice == [0] and g.steps == []
    # several steps, the last one an exact fit
    g = run(mckp.solve_greedy, [[0.0, 1.0, 2.0], [0.0, 2.0]], [[0.0, 3.0, 4.0], [0.0, 1.5]], 3.0, path)
    assert g.choice == [2, 0] or g.choice == [1, 1]
    level, _ = greedy_oracle([[0.0, 1.0, 2.0], [0.0, 2.0]], [[0.0, 3.0, 4.0], [0.0, 1.5]], 3.0)
    assert g.choice == level


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_zero_weight_steps(path):
    # +inf (free gain) first, 0/0 neutral, −inf (free loss) last — and taken, as the paper's scan does
    w = [[1.0, 1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]
    p = [[0.0, 1.0, 1.5], [1.0, 1.0], [2.0, 1.0]]
    g = run(mckp.solve_greedy, w, p, 2.0, path)
    level, steps = greedy_oracle(w, p, 2.0)
    assert g.choice == level == [2, 1, 1]
    assert [s[:2] for s in g.steps] == [s[:2] for s in steps] == [(0, 1), (0, 2), (1, 1), (2, 1)]


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_stuck_class_stays_stuck(path):
    # class 0's second step does not fit; its third (more efficient per unit, but after it) is never taken
    w = [[0.0, 1.0, 5.0, 5.5], [0.0, 1.0]]
    p = [[0.0, 10.0, 12.0, 20.0], [0.0, 0.5]]
    g = run(mckp.solve_greedy, w, p, 2.0, path)
    assert g.choice == greedy_oracle(w, p, 2.0)[0] == [1, 1]


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_decreasing_weights_refused(path):
    with pytest.raises(mckp.InvalidParameter, match="item 0"):
        run(mckp.solve_greedy, [[9.0, 1.0], [9.0, 1.0]], [[2.0, 1.0], [2.0, 1.0]], 5.0, path)


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_ties_by_criterion_then_level(path):
    # issue 14's example: 28 per 0.3 at every step — the greedy climbs to the top
    g = run(mckp.solve_greedy, [[0, 28, 56, 84, 112, 140]], [[0, 0.3, 0.6, 0.9, 1.2, 1.5]], 140, path)
    assert g.choice == [5] and g.profit == pytest.approx(1.5)
    rng = random.Random(8)
    for _ in range(40):
        w, p, cap = pricing_like(rng, rng.randint(1, 4), rng.randint(2, 8), tie=True)
        g = run(mckp.solve_greedy, w, p, cap, path)
        assert g.choice == greedy_oracle(w, p, cap)[0]


@pytest.mark.parametrize("path", ["py", "np"])
@pytest.mark.parametrize("effs, first", [
    ([1.0, 1.0 + 5e-10], 0),                      # equal within 1e-9 (relative): by class
    ([1.0, 1.0 + 2e-9], 1),                       # not equal: by efficiency
    ([1.0 + 5e-10, 1.0], 0),
    ([2.0, 1.0], 0),
    ([1.0, 1.0 + 0.6e-9, 1.0 + 1.2e-9], 1),       # ties go by a group's first (1 + 1.2e-9): class 0 is not one
    ([1e-3, 1e-3 * (1 + 5e-10)], 0),              # relative, not absolute
    ([1e6, 1e6 * (1 + 2e-9)], 1),
])
def test_greedy_near_ties(path, effs, first):
    """MODEL §5: efficiencies equal within a relative 1e-9 are ordered by criterion, then level.
    One unit of capacity: only the first step in the greedy's order is taken."""
    w = [[0.0, 1.0] for _ in effs]
    p = [[0.0, e] for e in effs]
    g = run(mckp.solve_greedy, w, p, 1.0, path)
    assert g.choice == [1 if i == first else 0 for i in range(len(effs))]
    assert g.choice == greedy_oracle(w, p, 1.0)[0]


@pytest.mark.parametrize("path", ["py", "np"])
def test_greedy_infinite_efficiencies_tie_only_themselves(path):
    # two free gains (+inf) go by class; a finite step never joins their group
    w = [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    p = [[0.0, 1e300], [0.0, 1.0], [0.0, 2.0]]
    g = run(mckp.solve_greedy, w, p, 1.0, path)
    assert [s[:2] for s in g.steps] == [(1, 1), (2, 1), (0, 1)]


def test_solve_dispatch():
    w, p = [[1.0, 2.0]], [[1.0, 3.0]]
    assert mckp.solve(w, p, 2.0).choice == [1]
    assert mckp.solve(w, p, 2.0, method="greedy").steps == [(0, 1, 0.0)]
    with pytest.raises(mckp.InvalidParameter, match="unknown MCKP method 'dp'"):
        mckp.solve(w, p, 2.0, method="dp")
    with pytest.raises(mckp.Infeasible):
        mckp.solve(w, p, 0.5)
