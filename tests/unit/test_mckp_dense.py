"""mckp's exact search on integer data (issue 16): the dense phase (states over a window of
integer weights) and the lattice bound, each forced on or off, against brute force; limits
stopping a dense phase certify their gap.  No server needed.

Paths: ``_SMALL_ITEMS = 0`` sends every instance to the vectorised search; ``_DENSE_COST = 0``
(with ``_DENSE_MIN = 1`` and one class per sparse merge) makes it go dense after its first
merge, ``inf`` never; replacing ``_Core.lattice`` by a no-op turns the lattice bound off.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nyop_pg.instances import CLASSIC_KINDS, classic_instance
from nyop_server import mckp

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATHS = ["dense", "dense-nolattice", "sparse", "sparse-nolattice", "default"]


@contextlib.contextmanager
def path(mode):
    old = (mckp._SMALL_ITEMS, mckp._DENSE_COST, mckp._DENSE_MIN, mckp._GROUP, mckp._DENSE_TRACK,
           mckp._Core.lattice)
    mckp._SMALL_ITEMS = 0
    if mode.startswith("dense"):
        mckp._DENSE_COST, mckp._DENSE_MIN, mckp._GROUP = 0.0, 1, 1
        if mode == "dense":
            mckp._DENSE_TRACK = 0            # items tracked as they are applied (else after)
    elif mode.startswith("sparse"):
        mckp._DENSE_COST = math.inf
    if mode.endswith("nolattice"):
        mckp._Core.lattice = lambda self, *args: None
    try:
        yield
    finally:
        (mckp._SMALL_ITEMS, mckp._DENSE_COST, mckp._DENSE_MIN, mckp._GROUP, mckp._DENSE_TRACK,
         mckp._Core.lattice) = old


def brute(W, P, cap):
    lim = mckp.capacity_limit(cap)
    tw, tp = np.zeros(1), np.zeros(1)
    for w, p in zip(W, P):
        tw = (tw[:, None] + np.asarray(w, float)[None, :]).ravel()
        tp = (tp[:, None] + np.asarray(p, float)[None, :]).ravel()
    ok = tw <= lim
    return float(tp[ok].max()) if ok.any() else None


def check(sol, W, P, cap):
    w = sum(float(W[i][j]) for i, j in enumerate(sol.choice))
    p = sum(float(P[i][j]) for i, j in enumerate(sol.choice))
    assert w <= mckp.capacity_limit(cap)
    assert sol.profit == pytest.approx(p, rel=1e-12, abs=1e-9)
    if sol.optimal:
        assert sol.gap == 0 and sol.stopped_by is None
    else:                                  # a zero gap would be a proof: it would say optimal
        assert sol.gap > 0 and sol.stopped_by in ("states", "time")


@st.composite
def integer_instance(draw, max_n=8, max_m=5):
    kind = draw(st.sampled_from(CLASSIC_KINDS + ("lattice",)))
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    R = draw(st.sampled_from([4, 20, 100, 1000]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    if kind == "lattice":
        # p = s w + g k + c: profits on a lattice of step g, slope s
        rng = np.random.default_rng(seed)
        s, g = draw(st.integers(0, 3)), draw(st.integers(2, 12))
        W = np.sort(rng.integers(0, R + 1, (n, m)), axis=1).astype(float)
        P = s * W + g * np.sort(rng.integers(0, 6, (n, m)), axis=1) + rng.integers(-5, 6, (n, 1))
        P = P.astype(float)
        lo, hi = W.min(axis=1).sum(), W.max(axis=1).sum()
        cap = float(lo + draw(st.integers(0, int(hi - lo))))
    else:
        W, P, cap = classic_instance(kind, n, m, R, seed)
        lo, hi = float(W.min(axis=1).sum()), float(W.max(axis=1).sum())
        how = draw(st.sampled_from(["rule", "random", "tight"]))
        if how == "random":
            cap = float(np.floor(lo + draw(st.floats(0, 1)) * (hi - lo)))
        elif how == "tight":
            cap = lo + draw(st.integers(0, 3))
    # halves: real profits; 3e6: past float32's exact integers
    scale = draw(st.sampled_from([1.0, 1.0, 0.5, 3e6]))
    return W, P * scale, cap


@settings(max_examples=300, **SETTINGS)
@given(integer_instance(), st.sampled_from(PATHS))
def test_integer_instances_optimal_vs_brute_force(inst, mode):
    W, P, cap = inst
    ref = brute(W, P, cap)
    with path(mode):
        sol = mckp.solve_exact(W, P, cap)
    check(sol, W, P, cap)
    assert sol.optimal
    assert sol.profit == pytest.approx(ref, rel=1e-12, abs=1e-9)


@settings(max_examples=150, **SETTINGS)
@given(integer_instance(max_n=6, max_m=6), st.sampled_from([1, 2, 5, 40]),
       st.sampled_from(PATHS[:2]))
def test_dense_limits_certify_their_gap(inst, cap_states, mode):
    W, P, cap = inst
    ref = brute(W, P, cap)
    with path(mode):
        sol = mckp.solve_exact(W, P, cap, max_frontier=cap_states)
    check(sol, W, P, cap)
    assert sol.profit <= ref + 1e-9 * abs(ref) + 1e-9
    assert sol.profit + sol.gap >= ref - 1e-9 * abs(ref) - 1e-9
    assert sol.optimal or sol.stopped_by == "states"


def test_ragged_classes_on_the_dense_path():
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 5))
        W = [np.sort(rng.integers(0, 60, int(rng.integers(1, 7)))).astype(float) for _ in range(n)]
        P = [np.sort(rng.integers(0, 90, w.shape[0])).astype(float) for w in W]
        cap = float(sum(w.min() for w in W) + rng.integers(0, 80))
        ref = brute(W, P, cap)
        for mode in PATHS:
            with path(mode):
                sol = mckp.solve_exact(W, P, cap)
            check(sol, W, P, cap)
            assert sol.optimal and sol.profit == ref


@pytest.mark.parametrize("mode", ["dense-nolattice", "sparse-nolattice"])
@pytest.mark.parametrize("max_seconds", [0.0, 0.02])
def test_time_limit_in_a_dense_phase_certifies_its_gap(mode, max_seconds):
    """Strongly correlated, no lattice bound: a long search, stopped by the clock."""
    W, P, cap = classic_instance("strongly", 300, 10, 10000, 4)
    with path("default"):
        full = mckp.solve_exact(W, P, cap)
    assert full.optimal
    with path(mode):
        sol = mckp.solve_exact(W, P, cap, max_seconds=max_seconds)
    check(sol, W, P, cap)
    assert sol.profit <= full.profit <= sol.profit + sol.gap
    assert sol.optimal or sol.stopped_by == "time"


@pytest.mark.parametrize("seed", range(6))
def test_lattice_bound_is_a_bound(seed):
    """The root bound with the lattice never cuts below the optimum, and on strongly
    correlated instances (p - w a multiple of 10) it is what proves the optimum."""
    W, P, cap = classic_instance("strongly", 6, 5, 200, seed)
    ref = brute(W, P, cap)
    pk = mckp._Packed(mckp._Mat(W, P))
    core = mckp._Core(pk, mckp.capacity_limit(cap), 1000, None)
    bound = core.final[2] if core.final is not None else core.best_bound
    assert bound >= ref
    if core.final is None:
        assert core.lat is not None and core.lat[1] == 10
    assert mckp.solve_exact(W, P, cap).profit == ref


def seeded_instances(count, seed, ranges=(6, 20, 100, 1000)):
    rng = np.random.default_rng(seed)
    for k in range(count):
        kind = CLASSIC_KINDS[k % len(CLASSIC_KINDS)]
        n, m = int(rng.integers(2, 8)), int(rng.integers(2, 6))
        R = int(rng.choice(ranges))
        W, P, cap = classic_instance(kind, n, m, R, int(rng.integers(2 ** 32)))
        if k % 3 == 1:
            lo, hi = W.min(axis=1).sum(), W.max(axis=1).sum()
            cap = float(np.floor(lo + rng.random() * (hi - lo)))
        yield W, P, cap


@pytest.mark.parametrize("mode", PATHS)
def test_seeded_instances_every_path(mode):
    """Mid-sized classic instances (the dense phase starts after the first merge)."""
    for W, P, cap in seeded_instances(120, 7):
        ref = brute(W, P, cap)
        with path(mode):
            sol = mckp.solve_exact(W, P, cap)
        check(sol, W, P, cap)
        assert sol.optimal and sol.profit == ref


@pytest.mark.parametrize("mode", PATHS[:2])
def test_seeded_instances_with_a_state_cap(mode):
    """A small cap: the dense window is cut to the entries that give up the least."""
    for k, (W, P, cap) in enumerate(seeded_instances(150, 8, ranges=(2, 3, 5, 8))):
        ref = brute(W, P, cap)
        with path(mode):
            sol = mckp.solve_exact(W, P, cap, max_frontier=1 + k % 3)
        check(sol, W, P, cap)
        assert sol.profit <= ref <= sol.profit + sol.gap
        assert sol.optimal or sol.stopped_by == "states"


@pytest.mark.parametrize("seed", range(2))
def test_dense_window_cut_to_the_cap_certifies_its_gap(seed):
    """No lattice: the dense window outgrows 4 x max_frontier and is cut, each cut's largest
    bound given up counting in the certificate."""
    W, P, cap = classic_instance("strongly", 250, 10, 10000, seed)
    with path("default"):
        full = mckp.solve_exact(W, P, cap)
    with path("dense-nolattice"):
        sol = mckp.solve_exact(W, P, cap, max_frontier=2500)
    check(sol, W, P, cap)
    assert sol.profit <= full.profit <= sol.profit + sol.gap
    assert sol.optimal or sol.stopped_by == "states"


@pytest.mark.parametrize("mode", PATHS)
def test_a_dense_phase_that_merges_every_class_proves_its_incumbent(mode):
    """Found by the property above: when the dense phase has merged every class, its entries
    are whole choices and the incumbent is the best feasible one -- optimal, not "states"."""
    W = np.array([[15.0, 19.0], [18.0, 11.0]])
    P = np.array([[9.5, 10.0], [10.0, 1.0]])
    with path(mode):
        sol = mckp.solve_exact(W, P, 31.0)
    assert (sol.choice, sol.profit, sol.optimal, sol.gap, sol.stopped_by) == ([1, 1], 11.0, True, 0.0, None)
