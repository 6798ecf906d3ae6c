"""mckp's deficit rounds (issue 16): on real-valued profits the exact search first looks
for a proof among the choices whose bound is near the LP bound (docs/solver.md, step 7).

Each round is a search with a floor: states live only while their bound exceeds
``floor = UB - t``.  What a round may conclude, checked here against brute force on
instances small enough to enumerate (forced onto the vectorised search):

* exhausted with the incumbent at or above the floor: the incumbent is optimal;
* exhausted below the floor: no choice is worth more than the floor (plus round-off) --
  the new bound holds the optimum;
* out of budget or states: nothing is concluded, the full search follows and still ends
  at the optimum.

The optimum comes from brute force on the smallest instances and from HiGHS (scipy's milp,
relative gap 1e-12) on the others.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest

from nyop_pg.instances import random_pricing_instance
from nyop_server import mckp
from test_mckp import milp_optimum
from test_mckp_certificates import brute_np
from test_mckp_work import FakeClock


@pytest.fixture
def vectorised(monkeypatch):
    """Every instance through the vectorised search (no plain-Python fast path)."""
    monkeypatch.setattr(mckp, "_SMALL_ITEMS", 0)


@pytest.fixture
def runs(monkeypatch):
    """Every search of ``_Core`` as ``(floor, status, LB, bound before, work budget, need)``."""
    log = []
    orig = mckp._Core.run

    def spy(self, floor_, goal, work=None):
        before = self.best_bound
        out = orig(self, floor_, goal, work)
        log.append((floor_, out[0], self.LB, before, work, self.need))
        return out

    monkeypatch.setattr(mckp._Core, "run", spy)
    return log


SHAPES = ((7, 6), (6, 8), (20, 10), (30, 20), (12, 15), (40, 10))


@functools.lru_cache(maxsize=None)
def real_instance(seed):
    """A pricing instance (real prices and utilities; two in three) or a real-valued random
    one, with its optimum."""
    n, m = SHAPES[seed % len(SHAPES)]
    if seed % 3 == 2:
        rng = np.random.default_rng(seed)
        W = np.sort(rng.uniform(0.0, 50.0, (n, m)), axis=1)
        P = np.sort(rng.uniform(0.0, 10.0, (n, m)), axis=1) + rng.uniform(0.0, 1.0, (n, m))
        cap = float(W[:, 0].sum() + 0.4 * (W[:, -1].sum() - W[:, 0].sum()))
    else:
        W, P, cap = random_pricing_instance(n, m, 1000 if seed % 2 else 10000, seed)
    w, p = W.tolist(), P.tolist()
    opt = brute_np(w, p, cap) if m ** n <= 2_000_000 else milp_optimum(w, p, mckp.capacity_limit(cap))
    return W, P, cap, opt


def real_instances(count):
    return [real_instance(seed) for seed in range(count)]


def test_rounds_prove_real_valued_instances(vectorised, runs):
    """The exact answer; and most instances proven by a round, not the full search."""
    by_round = full = 0
    for W, P, cap, opt in real_instances(40):
        runs.clear()
        s = mckp.solve_exact(W, P, cap, max_seconds=None)
        assert s.optimal and s.gap == 0.0
        assert s.profit == pytest.approx(opt, rel=1e-12, abs=1e-12)
        if not runs:
            continue                              # proven at the root (LP bound = incumbent)
        assert all(f > -math.inf and work == mckp._ROUND_WORK for f, _, _, _, work, _ in runs[:-1])
        if runs[-1][0] > -math.inf:
            by_round += 1
        else:
            full += 1
    # on instances this small about a third; on the paper's 100 x 100 shape about two thirds
    assert by_round >= 8 and full >= 8, (by_round, full)


def test_a_round_below_its_floor_leaves_a_bound_that_holds_the_optimum(vectorised, runs):
    below = 0
    for W, P, cap, opt in real_instances(40):
        runs.clear()
        s = mckp.solve_exact(W, P, cap, max_seconds=None)
        for floor_, status, LB, _, _, need in runs:
            if floor_ == -math.inf:
                continue
            assert status in ("exhausted", "work", "states")
            if status == "exhausted" and LB < floor_:
                below += 1
                # the bound the round leaves: the floor and what an improvement must add (round-off)
                assert opt <= floor_ + need
        assert s.profit == pytest.approx(opt, rel=1e-12, abs=1e-12)
    assert below >= 5, below


def test_rounds_widen_from_a_sixteenth_of_the_gap_fourfold(vectorised, runs):
    """The floors: ``UB - t`` with ``t`` = gap / 16, then x4, the bound lowered to the
    floor after a round exhausted below it."""
    seen = 0
    for W, P, cap, _ in real_instances(40):
        runs.clear()
        mckp.solve_exact(W, P, cap, max_seconds=None)
        rounds = [r for r in runs if r[0] > -math.inf]
        if len(rounds) < 2:
            continue
        seen += 1
        f0, _, _, ub0, _, _ = rounds[0]
        f1, _, _, ub1, _, _ = rounds[1]
        # the second round starts from the first one's floor as the bound ...
        assert ub1 == pytest.approx(f0, rel=1e-12, abs=1e-9)
        # ... and reaches four times as far below it as the first reached below its bound
        assert ub1 - f1 == pytest.approx(4.0 * (ub0 - f0), rel=1e-9)
    assert seen >= 3, seen


def test_out_of_budget_the_full_search_decides(vectorised, runs, monkeypatch):
    monkeypatch.setattr(mckp, "_ROUND_WORK", 0)
    stopped = 0
    for W, P, cap, opt in real_instances(40):
        runs.clear()
        s = mckp.solve_exact(W, P, cap, max_seconds=None)
        assert s.optimal
        assert s.profit == pytest.approx(opt, rel=1e-12, abs=1e-12)
        for k, (floor_, status, _, _, _, _) in enumerate(runs):
            if floor_ > -math.inf and status == "work":
                assert runs[k + 1:] and runs[k + 1][0] == -math.inf and len(runs) == k + 2
                stopped += 1
    assert stopped >= 10, stopped


def test_integer_profits_take_the_aspiration_round_not_deficit_rounds(vectorised, runs):
    """Integer profits already have their round (a choice worth UB itself)."""
    rng = np.random.default_rng(3)
    for _ in range(10):
        W = np.sort(rng.integers(1, 100, (6, 8)), axis=1).astype(float)
        P = np.sort(rng.integers(1, 100, (6, 8)), axis=1).astype(float)
        cap = float(W[:, 0].sum() + (W[:, -1].sum() - W[:, 0].sum()) // 2)
        runs.clear()
        mckp.solve_exact(W, P, cap, max_seconds=None)
        assert all(work in (None, mckp._ASPIRE_WORK) for _, _, _, _, work, _ in runs)
        assert len(runs) <= 2


@pytest.mark.parametrize("limits", [dict(max_frontier=1), dict(max_frontier=3), dict(max_frontier=20),
                                    dict(max_seconds=2), dict(max_seconds=4), dict(max_seconds=6)],
                         ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_limits_during_the_rounds_keep_the_answer_certified(vectorised, runs, monkeypatch, limits):
    """A state cap or the clock (one tick per reading) stops a round or the search after it: the
    answer is the optimum when it says so, else its profit plus its gap still bounds the optimum.
    And some runs do stop inside a round (the limits are met there, not only in the full search)."""
    in_round = 0
    for W, P, cap, opt in real_instances(24):
        runs.clear()
        monkeypatch.setattr(mckp, "time", FakeClock() if "max_seconds" in limits else time)
        s = mckp.solve_exact(W, P, cap, **limits)
        assert s.profit <= opt + 1e-9 * max(1.0, abs(opt))
        if s.optimal:
            assert s.profit == pytest.approx(opt, rel=1e-12, abs=1e-12)
        else:
            assert s.gap > 0.0 and s.stopped_by in ("states", "time")
            assert s.profit + s.gap >= opt - 1e-9 * max(1.0, abs(opt))
        in_round += any(f > -math.inf and status in ("states", "time") for f, status, *_ in runs)
    assert in_round >= 1, "no round met the limit: the test proves nothing about rounds"
