"""The exact MCKP solver on the field's classic instance classes (issue 16); no server needed.

Classes (``nyop_pg.instances.classic_instance``): uncorrelated, weakly correlated, strongly correlated
(cumulative), subset-sum, zig-zag.  Small instances of every class are checked against brute
force, limits must certify their gap, and a deterministic sample of the issue's grid must be
proven optimal in time (and agree with HiGHS).  The full 600-instance grid is measured by
``python -m nyop_pg.solver_grid`` (not run here).
"""

import itertools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nyop_server import mckp
from nyop_pg.instances import CLASSIC_KINDS, classic_instance
from nyop_server.mckp import solve_exact

from test_mckp import brute_force, check_solution, milp_optimum, solver_paths

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def optimum(W, P, cap):
    return brute_force(list(W), list(P), cap)


def dp_optimum(W, P, cap):
    """Independent oracle for integer weights: dense DP over every capacity 0..C
    (f[c] = best profit of the classes so far with total weight exactly c)."""
    C = int(cap)
    f = np.full(C + 1, -np.inf)
    f[0] = 0.0
    for w, p in zip(W.astype(np.int64), P):
        g = np.full(C + 1, -np.inf)
        for wj, pj in zip(w.tolist(), p.tolist()):
            if wj <= C:
                np.maximum(g[wj:], f[:C + 1 - wj] + pj, out=g[wj:])
        f = g
    return float(f.max())


@st.composite
def small_classic(draw, max_n=6, max_m=6):
    kind = draw(st.sampled_from(CLASSIC_KINDS))
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    R = draw(st.sampled_from([5, 20, 100, 1000, 10000]))
    W, P, cap = classic_instance(kind, n, m, R, draw(st.integers(0, 2 ** 32 - 1)))
    how = draw(st.sampled_from(["rule", "rule", "random", "tight"]))
    lo, hi = float(W.min(axis=1).sum()), float(W.max(axis=1).sum())
    if how == "random":
        cap = float(np.floor(lo + draw(st.floats(0, 1)) * (hi - lo)))
    elif how == "tight":
        cap = lo + draw(st.integers(0, 3))
    return kind, W, P, cap


def test_generator_classes():
    rng = np.random.default_rng(0)
    for kind in CLASSIC_KINDS:
        W, P, cap = classic_instance(kind, 50, 8, 1000, rng)
        assert W.shape == P.shape == (50, 8)
        assert (W >= 1).all() and (P >= 1).all() and (W == np.floor(W)).all() and (P == np.floor(P)).all()
        best = np.where(P == P.max(axis=1, keepdims=True), W, np.inf).min(axis=1)
        assert cap == np.floor((W.min(axis=1).sum() + best.sum()) / 2)
    W, P, _ = classic_instance("subset_sum", 20, 5, 1000, 1)
    assert (W == P).all()
    W, P, _ = classic_instance("weakly", 20, 5, 1000, 1)
    assert (np.abs(P - W) <= 10).all() and (P >= 1).all()
    W, P, _ = classic_instance("strongly", 20, 5, 1000, 1)
    dw = np.diff(W, axis=1, prepend=0)
    assert (np.diff(P, axis=1, prepend=0) == dw + 10).all() and (np.diff(dw, axis=1) >= 0).all()
    W, P, _ = classic_instance("zigzag", 20, 5, 1000, 1)
    assert (np.diff(W, axis=1) >= 0).all() and (np.diff(P, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="class"):
        classic_instance("nope", 2, 2, 10, 0)
    # the same seed gives the same instance
    a, b = classic_instance("weakly", 5, 5, 100, 7), classic_instance("weakly", 5, 5, 100, 7)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all() and a[2] == b[2]


@settings(max_examples=60, **SETTINGS)
@given(small_classic(max_n=4, max_m=4))
def test_dp_oracle_matches_brute_force(inst):
    kind, W, P, cap = inst
    ref = optimum(W, P, cap)
    if ref is not None:
        assert dp_optimum(W, P, cap) == ref


@settings(max_examples=400, **SETTINGS)
@given(small_classic(), st.sampled_from(["default", "bounds", "loop"]))
def test_small_classic_optimal_vs_brute_force(inst, mode):
    """Every class, every code path (plain Python; vectorised; vectorised item by item)."""
    kind, W, P, cap = inst
    ref = optimum(W, P, cap)
    if ref is None:
        with pytest.raises(mckp.Infeasible):
            solve_exact(W, P, cap)
        return
    with solver_paths(mode):
        sol = solve_exact(W, P, cap)
    check_solution(sol, W, P, cap)
    assert sol.optimal and sol.stopped_by is None
    assert sol.profit == ref


@settings(max_examples=150, **SETTINGS)
@given(small_classic(max_n=7, max_m=7), st.sampled_from([1, 2, 3, 7, 30]),
       st.sampled_from(["default", "bounds"]))
def test_limits_certify_their_gap(inst, cap_states, mode):
    """A state cap may stop the search: the answer is then feasible, never better than the
    optimum, and its certified gap covers the true distance; the limit is named."""
    kind, W, P, cap = inst
    ref = optimum(W, P, cap)
    if ref is None:
        return
    with solver_paths(mode):
        sol = solve_exact(W, P, cap, max_frontier=cap_states)
    check_solution(sol, W, P, cap)
    assert sol.profit <= ref
    assert sol.profit + sol.gap >= ref
    if sol.optimal:
        assert sol.profit == ref and sol.gap == 0 and sol.stopped_by is None
    else:
        assert sol.stopped_by == "states" and sol.gap > 0


@pytest.mark.parametrize("kind", CLASSIC_KINDS)
def test_time_limit_certifies_its_gap(kind):
    W, P, cap = classic_instance(kind, 60, 10, 10000, 11)
    full = solve_exact(W, P, cap)
    assert full.optimal
    stopped = solve_exact(W, P, cap, max_seconds=0.0)
    check_solution(stopped, W, P, cap)
    assert stopped.profit <= full.profit
    assert stopped.profit + stopped.gap >= full.profit
    assert stopped.optimal or stopped.stopped_by == "time"


@pytest.mark.parametrize("kind", CLASSIC_KINDS)
def test_limits_keep_the_best_found_not_the_start(kind):
    """With a small state cap the search goes on (keeping the most promising states) and
    returns the best solution it found, at least as good as the LP break solution."""
    W, P, cap = classic_instance(kind, 200, 10, 10000, 5)
    full = solve_exact(W, P, cap)
    capped = solve_exact(W, P, cap, max_frontier=50)
    check_solution(capped, W, P, cap)
    assert capped.profit <= full.profit <= capped.profit + capped.gap
    assert capped.optimal or capped.stopped_by == "states"
    assert full.profit - capped.profit <= 0.01 * full.profit


# A deterministic sample of issue 16's grid (R = 10^3 and 10^4, every class, every size):
# proven optimal, within time, and the optimum agrees with HiGHS on the smaller ones.
GRID_SAMPLE = [(kind, n, m, R, seed)
               for kind in CLASSIC_KINDS
               for R in (1000, 10000)
               for (n, m), seed in zip(((10, 10), (100, 10), (1000, 10), (10, 100), (100, 100), (10, 1000)),
                                       itertools.count(R + CLASSIC_KINDS.index(kind)))]
TIME_LIMIT_S = 3.0      # in-process target is 1 s; CI machines are slower and shared
# (strongly correlated 1000x10, R = 10^4, once the slow cell -- up to ~9 s -- now takes
# milliseconds: its lattice bound proves the optimum; docs/solver.md)
SLOW_CELLS = {}


@pytest.mark.parametrize("kind,n,m,R,seed", GRID_SAMPLE)
def test_grid_sample_proven_optimal(kind, n, m, R, seed):
    W, P, cap = classic_instance(kind, n, m, R, seed)
    t = time.perf_counter()
    sol = solve_exact(W, P, cap)
    elapsed = time.perf_counter() - t
    check_solution(sol, W, P, cap)
    assert sol.optimal and sol.gap == 0
    assert elapsed < SLOW_CELLS.get((kind, n, m, R), TIME_LIMIT_S), elapsed
    assert sol.profit <= mckp.lp_bound(W, P, cap) + 1e-6
    if n * m * cap <= 6e7:
        assert sol.profit == dp_optimum(W, P, cap)
    elif n * m <= 1000 and kind in ("uncorrelated", "zigzag", "subset_sum"):
        assert sol.profit == pytest.approx(milp_optimum(list(W), list(P), cap), abs=0.5)


def test_plain_python_path_does_not_import_numpy():
    """Pricing-sized instances in plain Python numbers never need numpy (cheap first call)."""
    import subprocess
    import sys
    code = ("import sys; sys.path.insert(0, 'plpython'); from nyop_server import mckp; "
            "s = mckp.solve_exact([[6.0, 24.0, 54.0], [3.6, 14.4], [26.67, 106.67, 240.0]], "
            "[[0.35, 0.7, 1.05], [0.5, 1.0], [0.45, 0.9, 1.35]], 100.0); "
            "g = mckp.solve_greedy([[0, 28, 56, 84, 112, 140]], [[0, 0.3, 0.6, 0.9, 1.2, 1.5]], 140); "
            "assert s.optimal and g.choice == [5], (s, g); "
            "print('numpy' in sys.modules)")
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "False"
