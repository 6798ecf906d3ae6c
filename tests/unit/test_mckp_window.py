"""mckp's dense window (``_Dense``) and lattice bound (``_Core.lattice``) checked directly
against what their docstrings promise, computed here independently (issue 17): the solver
stays exact when they err on the safe side, so answer tests alone let such mistakes pass.

* a window holds, at weight ``lo + k``, the best profit of a state weighing at most that;
* a merge gives every weight the best of (window at ``weight - dw``) + ``dp`` over the items,
  and records, for each weight whose value is not the base item's, the first item giving it;
* float32 windows stay exact: re-based or widened to float64 before integers pass 2^22;
* a trim drops the entries at both ends whose bound does not exceed the level;
* a cut keeps the consecutive entries that give up the least;
* the lattice bound: ``s = floor(lam)``, ``q = p - s w``, ``g`` the gcd of the differences of
  ``q`` to the base item, ``bound = s C + r + g floor((Q - r) / g)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nyop_server import mckp

NINF = -math.inf


def window(Sw, Sp, integral=True):
    Sw, Sp = np.asarray(Sw, dtype=np.float64), np.asarray(Sp, dtype=np.float64)
    return mckp._Dense(np, Sw, Sp, np.arange(Sw.shape[0]), integral)


def values(d):
    """{weight: profit} of a window (absolute profits, -inf entries left out)."""
    return {d.lo + k: float(v) + d.off for k, v in enumerate(d.F.tolist()) if v > NINF}


def at_most(table, lo, hi_w, x):
    """A window's value at weight x: the best state weighing at most x."""
    if x < lo:
        return NINF
    return table[min(x, hi_w)]


def expected_merge(table, lo, hi_w, dws, dps):
    """Brute force: every weight of the merged window, its value and its first best item."""
    out = {}
    for x in range(lo + min(dws), hi_w + max(dws) + 1):
        cand = [at_most(table, lo, hi_w, x - dw) + dp for dw, dp in zip(dws, dps)]
        best = max(cand)
        out[x] = (best, cand.index(best))
    return out


def full_table(d):
    return {d.lo + k: float(v) + d.off for k, v in enumerate(d.F.tolist())}


def merge_all(d, dws, dps):
    """A merge that applies every item everywhere (no level, no capacity stop, no clock)."""
    return d.merge(7, np.arange(len(dws)), dws, dps, 1e18, 0.0, 0.0, NINF, 10 ** 9, math.inf,
                   lambda v: NINF, None)


def test_window_holds_the_best_state_at_most_each_weight():
    d = window([3, 5, 9], [10, 12, 20])
    assert d.lo == 3 and d.off == 20 and d.small and d.F.dtype == np.float32
    assert full_table(d) == {3: 10, 4: 10, 5: 12, 6: 12, 7: 12, 8: 12, 9: 20}
    assert list(d.sw) == [3, 5, 9] and list(d.sid) == [0, 1, 2] and d.merges == []


@pytest.mark.parametrize("Sp, integral, small", [
    ([0, 1, 2], True, True), ([0, 1, 2], False, False),
    ([0, 1, float(1 << 22)], True, False),               # a span of 2^22: float64 from the start
    ([0, 1, float(1 << 22) - 1], True, True),
    ([float(1 << 40), float(1 << 40) + 1, float(1 << 40) + 2], True, True),   # big values, small span
])
def test_window_dtype(Sp, integral, small):
    d = window([0, 1, 2], Sp, integral)
    assert d.small is small and d.F.dtype == (np.float32 if small else np.float64)
    assert full_table(d) == {0: Sp[0], 1: Sp[1], 2: Sp[2]}


@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_merge_against_brute_force(monkeypatch, seed, track):
    monkeypatch.setattr(mckp, "_DENSE_TRACK", 0 if track else 10 ** 6)
    rng = np.random.default_rng(seed)
    Sw = np.unique(rng.integers(0, 40, 8))
    Sp = np.cumsum(rng.integers(1, 9, Sw.shape[0])).astype(float)
    d = window(Sw, Sp)
    before, lo, hi_w = full_table(d), d.lo, d.lo + d.F.shape[0] - 1
    k = int(rng.integers(2, 6))
    dws = [0] + rng.integers(-6, 12, k).tolist()
    dps = [0.0] + rng.integers(-5, 30, k).astype(float).tolist()
    work, late = merge_all(d, dws, dps)
    assert not late and work > 0
    want = expected_merge(before, lo, hi_w, dws, dps)
    got = full_table(d)
    assert d.lo == lo + min(dws) and set(got) == set(want)
    assert all(got[x] == want[x][0] for x in want), (got, want)
    cls, items, mdws, hi_in, changed, winners = d.merges[-1]
    assert cls == 7 and mdws == dws and hi_in == hi_w
    # the entries whose value is not the base item's, each with the first item giving it
    moved = {x: t for x, (v, t) in want.items() if v > at_most(before, lo, hi_w, x)}
    assert dict(zip(changed.tolist(), winners.tolist())) == moved


def test_merge_widens_float32_for_a_large_profit():
    d = window([0, 2], [0, 5])
    assert d.small
    merge_all(d, [0, 1], [0.0, float(1 << 22)])
    assert not d.small and d.F.dtype == np.float64
    assert full_table(d) == {0: 0, 1: float(1 << 22), 2: float(1 << 22), 3: 5 + float(1 << 22)}


def test_merge_keeps_float32_below_2_22():
    d = window([0, 2], [0, 5])
    merge_all(d, [0, 1], [0.0, float((1 << 22) - 1)])
    assert d.small and d.F.dtype == np.float32


def bound(d, k, limit, ae, be):
    x = limit - (d.lo + k)
    g = ae if x >= 0 else be
    return float(d.F[k]) + (g * x if not (math.isinf(g) and x < 0) else NINF)


@pytest.mark.parametrize("be", [3.0, math.inf])
def test_bounds_from_any_entry(be):
    d = window(list(range(0, 40, 3)), [float(3 * k * k) for k in range(14)])
    limit, ae = 20.5, 0.5
    for a, b in ((0, d.F.shape[0]), (4, 11), (9, d.F.shape[0]), (7, 8)):
        u = d.bounds(a, b, limit, ae, be)
        assert u.shape == (b - a,)
        for k in range(a, b):
            exact = bound(d, k, limit, ae, be)
            if exact == NINF:
                assert u[k - a] == NINF
            else:
                assert exact <= u[k - a] <= exact + 1e-3     # round-off margin (float32 window)


def test_max_bound_best_fit_and_empty():
    d = window([0, 4, 9], [30, 31, 33])
    # the largest bound is the first entry's (a steep upward gradient)
    mb = d.max_bound(9.0, 5.0, 8.0)
    assert mb == pytest.approx(30 + 5 * 9, abs=1e-3)          # round-off margin
    assert d.best_fit(100) == (33.0, 9) and d.best_fit(5) == (31.0, 5) and d.best_fit(-1) == (NINF, None)
    d.F = d.F[:0]
    assert d.max_bound(9.0, 5.0, 8.0) == NINF and d.best_fit(3) == (NINF, None)


def test_trim_drops_the_ends_without_bound():
    d = window(list(range(20)), [float(k) for k in range(20)])
    limit, ae, be = 12.0, 0.25, 4.0
    before = full_table(d)
    lev = 11.5                                   # relative to nothing: absolute bounds below
    alive = [k for k in range(20) if bound(d, k, limit, ae, be) + d.off > lev]
    assert d.trim(limit, ae, be, lev)
    assert d.lo == alive[0] and d.lo + d.F.shape[0] - 1 == alive[-1]
    assert full_table(d) == {x: before[x] for x in range(alive[0], alive[-1] + 1)}
    assert not d.trim(limit, ae, be, 1e9) and d.F.shape[0] == 0


def test_trim_rebases_a_float32_window():
    d = window([0, 1, 2], [0, 1, 2])
    d.F = np.array([5e6, 5.5e6, 6e6], dtype=np.float32)
    d.off = 10.0
    assert d.trim(1e9, 0.0, 0.0, NINF)
    assert d.small and d.F.dtype == np.float32 and d.F[-1] == 0 and d.off == 10.0 + 6e6
    assert full_table(d) == {0: 10 + 5e6, 1: 10 + 5.5e6, 2: 10 + 6e6}
    d.F = np.array([-4.3e6, -4.25e6, -4.2e6], dtype=np.float32)      # far below the offset: also
    d.off = 0.0                                                        # re-based
    assert d.trim(1e9, 0.0, 0.0, NINF) and d.small and d.F[-1] == 0 and d.off == -4.2e6
    assert full_table(d) == {0: -4.3e6, 1: -4.25e6, 2: -4.2e6}


def test_trim_widens_a_float32_window_past_2_22():
    d = window([0, 1, 2], [0, 1, 2])
    d.F = np.array([-1e6, 2e6, 5e6], dtype=np.float32)        # a span of 6e6 >= 2^22
    d.off = 3.0
    assert d.trim(1e9, 0.0, 0.0, NINF)
    assert not d.small and d.F.dtype == np.float64 and d.off == 3.0
    assert full_table(d) == {0: 3 - 1e6, 1: 3 + 2e6, 2: 3 + 5e6}


@pytest.mark.parametrize("size", [1, 3, 5, 8])
def test_cut_keeps_the_cheapest_run(size):
    d = window(list(range(12)), [float(k) for k in range(12)])
    limit, ae, be = 6.0, 2.0, 3.0
    u = [bound(d, k, limit, ae, be) for k in range(12)]
    best = min(range(12 - size + 1), key=lambda a: max(u[:a] + u[a + size:] + [NINF]))
    lost = max(u[:best] + u[best + size:] + [NINF])
    got = d.cut(size, limit, ae, be)
    assert d.lo == best and d.F.shape[0] == size
    assert got == pytest.approx(lost + 11.0, abs=1e-3)        # + off; round-off margin


# ---- the lattice bound ------------------------------------------------------------------

def lattice_oracle(W, P, valid, base, lam, rmax_sum, limit, tol):
    """(s, g, r, C, bound) written from _Core.lattice's docstring, or None (no lattice)."""
    s = math.floor(lam)
    n, m = W.shape
    diffs, qb = [], 0
    for i in range(n):
        items = [j for j in range(m) if valid is None or valid[i, j]]
        q = {j: int(P[i, j] - s * W[i, j]) for j in items}
        qb += q[int(base[i])]
        diffs += [abs(q[j] - q[int(base[i])]) for j in items]
    g = 0
    for x in diffs:
        g = math.gcd(g, x)
    if g < 2:
        return None
    C = math.floor(limit)
    r = qb % g
    Q = rmax_sum + (lam - s) * C + tol
    return s, g, r, C, s * C + r + g * math.floor((Q - r) / g)


def lattice_instance(seed, ragged):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 9)), int(rng.integers(3, 8))
    slope, step = int(rng.integers(0, 4)), int(rng.integers(2, 9))
    W = np.sort(rng.integers(0, 60, (n, m)), axis=1).astype(float)
    P = (slope * W + step * np.sort(rng.integers(0, 7, (n, m)), axis=1) + rng.integers(-4, 5, (n, 1))).astype(float)
    cap = float(W.min(axis=1).sum() + rng.integers(0, int(W.max(axis=1).sum() - W.min(axis=1).sum()) + 1))
    if ragged:
        return [W[i, : m - i % 2] for i in range(n)], [P[i, : m - i % 2] for i in range(n)], cap
    return W, P, cap


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_lattice_bound_against_its_definition(seed, ragged):
    W0, P0, cap = lattice_instance(seed, ragged)
    ws, ps, cap, _ = mckp._prepare(W0, P0, cap)
    mat = ws if isinstance(ws, mckp._Mat) else mckp._mat_of_rows(ws, ps)
    pk = mckp._Packed(mat)
    limit = mckp.capacity_limit(cap)
    seen = []
    orig = mckp._Core.lattice

    def spy(self, *args):
        before = self.best_bound
        orig(self, *args)
        seen.append((before, self))

    mckp._Core.lattice = spy
    try:
        core = mckp._Core(pk, limit, 1000, None)
    finally:
        mckp._Core.lattice = orig
    if not seen:
        pytest.skip("decided before the lattice (everything fits, or not integral)")
    before, core = seen[0]
    W = np.where(pk.valid, pk.W, 0.0) if pk.valid is not None else pk.W
    P = np.where(pk.valid, pk.P, 0.0) if pk.valid is not None else pk.P
    rmax_sum = float((pk.P - core.lam * pk.W).max(axis=1).sum())
    want = lattice_oracle(W, P, pk.valid, core.base, core.lam, rmax_sum, limit, core.tol)
    if want is None:
        assert core.lat is None and core.best_bound == before
    else:
        assert core.lat == want[:4]
        assert core.best_bound == min(before, float(want[4]))
    # and it bounds the optimum
    best = mckp.solve_exact(W0, P0, cap).profit
    assert core.best_bound >= best - 1e-9


def test_lattice_off_when_values_reach_2_52():
    n = 4
    W = np.array([[0.0, float(1 << 50)]] * n)
    P = 3.0 * W + np.array([[0.0, 6.0]] * n)
    pk = mckp._Packed(mckp._Mat(W, P))
    core = mckp._Core(pk, mckp.capacity_limit(float(1 << 51)), 1000, None)
    assert core.lat is None


def test_int_w_reads_the_real_items_of_ragged_classes():
    """Padding is no weight: ragged classes of integer weights are integral, of real ones not."""
    for W, want in (([[1.0, 2.0, 3.0], [4.0, 5.0]], True), ([[1.0, 2.5, 3.0], [4.0, 5.0]], False),
                    ([[1.0, 2.0, 3.0], [4.0, 5.5]], False)):
        P = [[float(k) for k in range(len(w))] for w in W]
        mat = mckp._mat_of_rows(W, P)
        assert mat.valid is not None
        core = mckp._Core(mckp._Packed(mat), 5.0, 1000, None)
        assert core.int_w() is want
