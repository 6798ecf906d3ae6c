"""How mckp's vectorised search starts (``_Core.__init__``), against its definitions written
again here (issue 17).

The start decides a lot that answers alone do not show: when the instance is solved before
any search (everything fits; the incumbent already meets the bound), the *base* every state
is measured from (the LP break solution: the lightest LP-optimal item of every class,
upgraded by first fit), the incumbent (the base, repaired), whether profits count as
integers (below 2^52) and weights too (every total below 2^52), and when the lattice bound
applies (its values must stay exact). Instances are built so that the LP multiplier is an
exact number and the ties exact; the capacity is passed to ``_Core`` as is (integers
allowed), so exact fits happen."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nyop_server import mckp
from test_mckp_internals import improve_oracle

pytestmark = pytest.mark.filterwarnings("error")

TWO52 = 4503599627370496.0


def core_of(ws, ps, limit, max_states=10_000):
    mat = mckp._mat_of_rows([[float(x) for x in w] for w in ws], [[float(x) for x in p] for p in ps])
    return mckp._Core(mckp._Packed(mat), float(limit), max_states, None)


# --------------------------------------------------------------------------------------
# solved at the start
# --------------------------------------------------------------------------------------

def test_everything_at_its_best_fits_exactly():
    ws, ps = [[0, 2, 5], [1, 3]], [[0, 4, 9], [1, 2]]
    core = core_of(ws, ps, 5 + 3)                     # the best items weigh exactly the capacity
    cols, optimal, profit, stopped = core.final
    assert list(cols) == [2, 1] and optimal is True and profit == 11.0 and stopped is None
    assert not hasattr(core, "lam")                   # before the LP
    core = core_of(ws, ps, 7.5)                       # just below: the LP runs, 10 is proven
    assert core.lam > 0 and core.final[:3] == (core.final[0], True, 10.0)
    assert list(core.final[0]) == [2, 0]


def test_incumbent_meeting_the_bound_ends_the_start():
    # slope-3 steps of weight 2 in four classes, capacity 4: the LP takes two of them whole
    # (bound 12, integral), and the base does exactly that -- proven before any search
    ws, ps = [[0, 2]] * 4, [[0, 6]] * 4
    core = core_of(ws, ps, 4)
    cols, optimal, profit, stopped = core.final
    assert optimal is True and profit == 12.0 and stopped is None and list(cols) == [1, 1, 0, 0]
    # a capacity of 5 leaves a fractional LP (bound 15, floor 15) the integers cannot reach:
    # the search must go on
    core = core_of(ws, ps, 5)
    assert core.final is None and core.best_bound == 15.0 and core.LB == 12.0
    assert core.h_par == [] and core.groups == []


# --------------------------------------------------------------------------------------
# the base: the LP break solution, by first fit
# --------------------------------------------------------------------------------------

def planted(rng):
    """Classes whose LP-optimal items (at multiplier 2) are planted: a steep first step
    (slope 5) to the line ``p = 2 w + c``, items on that line, items under it; the capacity
    takes every steep step and part of the line (the multiplier is then exactly 2)."""
    n = rng.randint(2, 7)
    ws, ps = [], []
    for _ in range(n):
        a = rng.randint(1, 4)
        c = 3 * a
        items = {0: 0, a: 5 * a}
        for k in rng.sample(range(1, 9), rng.randint(1, 4)):
            items[a + k] = 2 * (a + k) + c                    # on the line
        for k in rng.sample(range(1, 12), rng.randint(0, 3)):
            w = a + k
            if w not in items:
                items[w] = 2 * w + c - rng.randint(1, 4)      # under it
        order = sorted(items)
        rng.shuffle(order)                                    # the caller's item order
        ws.append(order)
        ps.append([items[w] for w in order])
    steep = sum(min(w for w in row if w > 0) for row in ws)
    on_line = sum(max(w for w, p in zip(row, prow) if p == 2 * w + 3 * min(x for x in row if x > 0))
                  - min(x for x in row if x > 0) for row, prow in zip(ws, ps))
    limit = steep + rng.randint(0, max(0, on_line - 1))
    return ws, ps, limit


def base_by_definition(ws, ps, lam, limit):
    """The lightest item of every class on the LP line (reduced profit ``p - lam w``
    maximal), then, in class order, the heaviest such item while the upgrades fit whole;
    the first class that does not fit takes the heaviest of its tied items that does; later
    classes still upgrade whole when that fits what is left."""
    tied, light = [], []
    for w, p in zip(ws, ps):
        r = [pj - lam * wj for wj, pj in zip(w, p)]
        top = max(r)
        t = [j for j in range(len(w)) if r[j] == top]
        tied.append(t)
        light.append(min(t, key=lambda j: (w[j], j)))
    base = list(light)
    room = limit - sum(w[j] for w, j in zip(ws, light))
    if room < 0:
        return None
    split = False
    for i, (w, t) in enumerate(zip(ws, tied)):
        heavy = max(t, key=lambda j: (w[j], -j))
        g = w[heavy] - w[light[i]]
        if heavy == light[i]:
            continue
        if g <= room:
            base[i] = heavy
            room -= g
        elif not split:
            split = True
            fit = [j for j in t if w[j] - w[light[i]] <= room]
            j = max(fit, key=lambda j: (w[j], -j))
            base[i] = j
            room -= w[j] - w[light[i]]
    return base


def test_base_is_the_break_solution_by_first_fit():
    checked = 0
    for seed in range(80):
        ws, ps, limit = planted(random.Random(seed))
        core = core_of(ws, ps, limit)
        if core.lam != 2.0:
            continue        # the capacity sits on a breakpoint: any multiplier in [2, 5] is optimal
        checked += 1
        assert list(core.base) == base_by_definition(ws, ps, 2.0, limit), seed
        rows = range(len(ws))
        assert core.bw.tolist() == [float(ws[i][j]) for i, j in zip(rows, core.base)]
        assert core.bp.tolist() == [float(ps[i][j]) for i, j in zip(rows, core.base)]
    assert checked >= 60


def test_base_when_the_lightest_tied_items_fill_the_capacity():
    # the lightest LP-optimal items weigh exactly the capacity: the base is them, no room left
    ws = [[0, 2, 4], [0, 2, 4], [0, 1]]
    ps = [[0, 10, 14], [0, 10, 14], [0, 1]]
    core = core_of(ws, ps, 4)
    assert list(core.base) == [1, 1, 0] and core.bw.sum() == 4.0
    assert core.final[1:3] == (True, 20.0)            # and it is optimal


def test_incumbent_is_the_base_repaired_in_at_most_four_rounds():
    """The incumbent: the base improved by the repair rule (4 rounds; the rule written again
    in test_mckp_internals)."""
    for seed in range(40):
        rng = random.Random(500 + seed)
        ws, ps, limit = planted(rng)
        core = core_of(ws, ps, limit)
        pk = core.pk
        want = improve_oracle(pk.W.tolist(), pk.P.tolist(), list(core.base), core.limit, 4)
        assert list(core.best_cols) == want
        rows = np.arange(pk.n)
        assert core.LB == float(pk.P[rows, core.best_cols].sum())


# --------------------------------------------------------------------------------------
# integral profits and weights: below 2^52 only
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("top, integral", [(TWO52 - 2, True), (TWO52, False), (-TWO52, False),
                                           (1.5, False)])
def test_profits_are_integral_below_two_to_the_52(top, integral):
    ws, ps = [[0, 1, 2], [0, 1]], [[0, top, top], [0, 1]]
    core = core_of(ws, ps, 0.5)                       # the best items do not fit: the LP runs
    assert core.integral is integral


@pytest.mark.parametrize("wmax, n, want", [(2.0 ** 51 - 1, 2, True), (2.0 ** 51, 2, False),
                                           (2.0 ** 50, 4, False), (2.0 ** 50 - 1, 4, True)])
def test_integral_weights_need_every_total_below_two_to_the_52(wmax, n, want):
    ws = [[0.0, 1.0, wmax]] + [[0.0, 1.0]] * (n - 1)
    ps = [[0.0, 3.0, 1.0]] + [[0.0, 3.0]] * (n - 1)
    core = core_of(ws, ps, 1)
    assert core.int_w() is want


def test_real_profits_on_integer_weights_have_no_lattice():
    ws, ps = [[0, 2, 4]] * 3, [[0, 6.5, 8.5]] * 3
    core = core_of(ws, ps, 5)
    assert core.final is None and core.int_w() and not core.integral and core.lat is None


# --------------------------------------------------------------------------------------
# the lattice bound: only while its values stay exact (below 2^52 / n)
# --------------------------------------------------------------------------------------

def lattice_instance(n, junk_w=None, junk_p=None):
    """``n`` classes with a step of slope 2 (weight 2, profit 4): capacity 2 splits them at
    multiplier 2, so s = 2 and ``q = p - 2 w`` is 0 on every useful item; a junk item
    (dominated: weight ``junk_w``, or profit ``junk_p``) in class 0 sets the magnitudes."""
    ws = [[0.0, 2.0] for _ in range(n)]
    ps = [[0.0, 4.0] for _ in range(n)]
    if junk_w is not None:
        ws[0].append(junk_w)
        ps[0].append(0.0)
    if junk_p is not None:
        ws[0].append(1.0)
        ps[0].append(junk_p)
    return ws, ps


@pytest.mark.parametrize("n, junk_w, junk_p, on", [
    (2, 2.0 ** 49, None, True),          # s * wmax = 2^50 < 2^52 / 2
    (2, 2.0 ** 50, None, False),         # s * wmax = 2^51 = 2^52 / 2: off
    (2, 2.0 ** 50 - 2, None, True),
    (1, 2.0 ** 50, None, True),          # one class: the limit is 2^52 itself
    (3, None, -(2.0 ** 50), True),       # |p| = 2^50 < 2^52 / 3
    (2, None, -(2.0 ** 51), False),      # |p| = 2^51 = 2^52 / 2: off
    (2, None, -(2.0 ** 51) + 2, True),
])
def test_lattice_bound_only_where_its_values_are_exact(n, junk_w, junk_p, on):
    ws, ps = lattice_instance(n, junk_w, junk_p)
    core = core_of(ws, ps, 2 if n > 1 else 1)
    assert hasattr(core, "lam") and core.lam == 2.0       # not solved before the LP
    assert core.integral and core.int_w()
    assert (core.lat is not None) is on, core.lat


def test_lattice_limit_counts_classes_not_items():
    # 2 classes of 5 items: the limit is 2^52 / 2 (classes), not 2^52 / 5 (items)
    ws = [[0.0, 2.0, 4.0, 6.0, 2.0 ** 49], [0.0, 2.0, 4.0, 6.0, 8.0]]
    ps = [[0.0, 4.0, 6.0, 8.0, 0.0], [0.0, 4.0, 6.0, 8.0, 10.0]]
    core = core_of(ws, ps, 3)
    assert core.final is None and core.lam == 2.0
    assert core.lat is not None
