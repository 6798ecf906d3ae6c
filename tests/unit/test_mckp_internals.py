"""mckp's vectorised helpers against plain-Python oracles written here (issue 17): the greedy's
item order on the numpy path equals the plain path's on instances planted with exact and near
ties (at every magnitude), zero-weight steps and ragged classes; the vectorised repair
heuristic follows its documented rule; class validation accepts what it should and names the
item it refuses. Warnings are errors here: the solver must not leak RuntimeWarnings
(division by zero, invalid values) into the server log."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nyop_server import mckp
from nyop_server.errors import InvalidParameter

pytestmark = pytest.mark.filterwarnings("error")


# --------------------------------------------------------------------------------------
# the greedy's order: numpy path == plain path
# --------------------------------------------------------------------------------------

def planted_instance(rng: random.Random):
    """Classes whose incremental steps carry planted efficiencies: exact ties, near ties
    (relative 1e-12 .. 5e-10, inside TIE_RTOL = 1e-9) and non-ties (1e-8), groups of 2–4
    at magnitudes 1e-6 .. 1e7, zero-weight steps gaining, losing or keeping profit, and
    classes of 1 to 6 items."""
    n = rng.randint(2, 9)
    base = [rng.choice([1e-6, 0.37, 1.0, 3.0, 250.0, 1e6, 1e7]) for _ in range(rng.randint(1, 3))]
    ws, ps = [], []
    for _ in range(n):
        m = rng.randint(1, 6)
        w, p = [rng.choice([0.0, 1.0, 2.5])], [rng.choice([0.0, -1.0, 4.0])]
        for _ in range(m - 1):
            kind = rng.random()
            if kind < 0.12:
                dw, dp = 0.0, rng.choice([2.0, -3.0, 0.0])
            else:
                e = rng.choice(base)
                r = rng.random()
                if r < 0.3:
                    pass                                   # an exact tie with the base
                elif r < 0.8:
                    e *= 1 + rng.choice([-1, 1]) * rng.choice([1e-12, 3e-11, 2e-10, 5e-10])
                elif r < 0.9:
                    e *= 1 + rng.choice([-1, 1]) * 1e-8    # close, but not tied
                else:
                    e = -e                                 # a losing step
                dw = rng.choice([1.0, 2.0, 0.5, 7.0])
                dp = e * dw
            w.append(w[-1] + dw)
            p.append(p[-1] + dp)
        ws.append(w)
        ps.append(p)
    return ws, ps


@pytest.mark.parametrize("seed", range(300))
def test_greedy_order_numpy_equals_plain(seed):
    rng = random.Random(seed)
    ws, ps = planted_instance(rng)
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == mckp._greedy_order_py(ws, ps)


def test_greedy_order_groups_near_ties_by_class_in_the_middle_of_the_order():
    """Near-tied steps that are not the first in the order, with the lower class holding
    the (slightly) lower efficiency: the group is ordered by class, then level."""
    ws = [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]
    ps = [[0.0, 9.0], [0.0, 5.0 * (1 - 4e-10)], [0.0, 5.0], [0.0, 3.0]]
    expected = [(0, 1, 1.0), (1, 1, 1.0), (2, 1, 1.0), (3, 1, 1.0)]
    assert mckp._greedy_order_py(ws, ps) == expected
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == expected
    ps = [[0.0, 9.0], [0.0, 5.0 * (1 - 4e-8)], [0.0, 5.0], [0.0, 3.0]]      # not tied: by efficiency
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == [(0, 1, 1.0), (2, 1, 1.0), (1, 1, 1.0),
                                                                (3, 1, 1.0)]


def test_greedy_order_two_groups_of_three_near_ties_at_large_magnitude():
    big = 2e6
    ps = [[0.0, big * (1 - 6e-10)], [0.0, big * (1 - 3e-10)], [0.0, big],
          [0.0, 7.0 * (1 - 6e-10)], [0.0, 7.0 * (1 - 3e-10)], [0.0, 7.0]]
    ws = [[0.0, 1.0]] * 6
    expected = [(i, 1, 1.0) for i in range(6)]
    assert mckp._greedy_order_py(ws, ps) == expected
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == expected


def test_greedy_order_zero_weight_steps():
    """A free gain first (+inf), a free nothing (0) before any losing step, a free loss last."""
    ws = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    ps = [[0.0, 0.0], [0.0, -1.0], [0.0, 2.0], [0.0, -0.5]]
    expected = [(2, 1, 0.0), (0, 1, 0.0), (3, 1, 1.0), (1, 1, 0.0)]
    assert mckp._greedy_order_py(ws, ps) == expected
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == expected


def test_greedy_order_single_items_and_ragged_classes():
    assert mckp._greedy_order_np(mckp._mat_of_rows([[1.0], [2.0]], [[1.0], [3.0]])) == []
    ws, ps = [[0.0], [0.0, 2.0, 3.0]], [[0.0], [0.0, 4.0, 5.0]]
    assert mckp._greedy_order_np(mckp._mat_of_rows(ws, ps)) == [(1, 1, 2.0), (1, 2, 1.0)]


def test_mat_of_rows_pads_ragged_classes():
    mat = mckp._mat_of_rows([[1.0], [2.0, 3.0]], [[4.0], [5.0, 6.0]])
    assert mat.W.dtype == np.float64 and mat.P.dtype == np.float64
    assert mat.W.tolist() == [[1.0, 0.0], [2.0, 3.0]]
    assert mat.P.tolist() == [[4.0, -math.inf], [5.0, 6.0]]
    assert mat.valid.tolist() == [[True, False], [True, True]]
    full = mckp._mat_of_rows([[1.0, 2.0]], [[3.0, 4.0]])
    assert full.valid is None and full.W.dtype == np.float64 and full.P.dtype == np.float64


# --------------------------------------------------------------------------------------
# the vectorised repair heuristic against its documented rule
# --------------------------------------------------------------------------------------

def improve_oracle(W, P, cols, limit, rounds):
    """Each round: per class the upgrade of largest profit gain that fits the residual on
    its own (first such item on equal gains); apply them by decreasing gain (lower class
    first on equal gains) while they fit; stop after a round that applies nothing."""
    cols = list(cols)
    n, m = len(W), len(W[0])
    resid = limit - sum(W[i][cols[i]] for i in range(n))
    for _ in range(rounds):
        cand = []
        for i in range(n):
            best, bj = None, None
            for j in range(m):
                if W[i][j] - W[i][cols[i]] <= resid:
                    g = P[i][j] - P[i][cols[i]]
                    if best is None or g > best:
                        best, bj = g, j
            if best is not None and best > 0:
                cand.append((-best, i, bj))
        if not cand:
            break
        cand.sort()
        took = False
        for _, i, j in cand:
            d = W[i][j] - W[i][cols[i]]
            if d <= resid:
                resid -= d
                cols[i] = j
                took = True
        if not took:
            break
    return cols


@pytest.mark.parametrize("seed", range(200))
def test_improve_follows_its_rule(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    W = rng.integers(0, 12, (n, m)).astype(float)
    P = rng.integers(-3, 15, (n, m)).astype(float)
    cols = [int(W[i].argmin()) for i in range(n)]
    limit = float(W.min(axis=1).sum() + rng.integers(0, 20))
    rounds = int(rng.integers(1, 9))
    pk = mckp._Packed(mckp._Mat(W, P))
    got = mckp._improve(pk, cols, limit, max_rounds=rounds)
    assert got.tolist() == improve_oracle(W.tolist(), P.tolist(), cols, limit, rounds)


def test_improve_takes_independent_upgrades_in_one_round():
    n = 10
    W = np.array([[0.0, 1.0]] * n)
    P = np.array([[0.0, float(n - i)] for i in range(n)])
    pk = mckp._Packed(mckp._Mat(W, P))
    assert mckp._improve(pk, [0] * n, 20.0, max_rounds=1).tolist() == [1] * n
    assert mckp._improve(pk, [0] * n, 3.0, max_rounds=1).tolist() == [1, 1, 1] + [0] * 7   # by gain


# --------------------------------------------------------------------------------------
# class validation on the numpy path
# --------------------------------------------------------------------------------------

def check(w, p):
    return mckp._check_class(np, 3, np.array(w, dtype=float), np.array(p, dtype=float))


def test_check_class_accepts_zero_and_fractional_weights():
    w, p = check([0.0, 0.25, 0.9], [1.0, 2.0, 3.0])
    assert w.tolist() == [0.0, 0.25, 0.9] and p.tolist() == [1.0, 2.0, 3.0]
    sol = mckp.solve_exact(np.array([[0.0, 0.5]] * 300), np.array([[0.0, 1.0]] * 300), 2.0)
    assert sol.optimal and sol.profit == 4.0


def test_check_class_names_the_negative_item():
    with pytest.raises(InvalidParameter) as ei:
        check([0.0, 0.5, -1.0, -2.0], [1.0, 2.0, 3.0, 4.0])
    assert ei.value.message == "class 3 item 2 has a negative weight -1.0"


def test_check_class_names_the_unmatched_nan():
    with pytest.raises(InvalidParameter) as ei:
        check([1.0, 2.0, float("nan")], [1.0, float("nan"), 3.0])
    assert ei.value.message == "class 3 item 1: NaN/missing profit but not in weight"
    with pytest.raises(InvalidParameter) as ei:
        check([1.0, 2.0, float("nan")], [1.0, 2.0, 3.0])
    assert ei.value.message == "class 3 item 2: NaN/missing weight but not in profit"


def test_check_class_strips_trailing_padding_only():
    w, p = check([1.0, 2.0, float("nan"), float("nan")], [3.0, 4.0, float("nan"), float("nan")])
    assert w.tolist() == [1.0, 2.0] and p.tolist() == [3.0, 4.0]
    with pytest.raises(InvalidParameter, match="only allowed as trailing padding"):
        check([1.0, float("nan"), 2.0], [3.0, float("nan"), 4.0])
    with pytest.raises(InvalidParameter, match="class 3 has no items"):
        check([float("nan")], [float("nan")])


def test_solution_fields_and_repr():
    sol = mckp.Solution([1, 0], 3.0, 2.0, True, 0.0)
    assert (sol.steps, sol.stopped_by) == ([], None)
    assert sol.steps is not mckp.Solution([0], 0.0, 0.0, True, 0.0).steps
    assert repr(mckp.Solution([1], 2.5, 1.0, False, 0.5, [(0, 1, 0.0)], "time")) == (
        "Solution(choice=[1], profit=2.5, weight=1.0, optimal=False, gap=0.5, steps=[(0, 1, 0.0)], "
        "stopped_by='time')")


# --------------------------------------------------------------------------------------
# the input forms validate() takes: every one ends as float64 rows
# --------------------------------------------------------------------------------------

def rows_of(weights, profits, cap=5):
    ws, ps, c = mckp.validate(weights, profits, cap)
    assert c == float(cap) and all(r.dtype == np.float64 and r.ndim == 1 for r in ws + ps)
    return [r.tolist() for r in ws], [r.tolist() for r in ps]


@pytest.mark.parametrize("weights, profits, expected", [
    (np.array([[1, 2], [0, 3]]), np.array([[1, 2], [3, 4]], dtype=np.uint8),
     ([[1.0, 2.0], [0.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]])),                       # int and uint matrices
    ([[1, 2], [0, 3]], [[1.5, 2], [3, 4]], ([[1.0, 2.0], [0.0, 3.0]], [[1.5, 2.0], [3.0, 4.0]])),
    ([np.array([1, 2]), np.array([4])], [np.array([5, 6], dtype=np.int16), [7]],
     ([[1.0, 2.0], [4.0]], [[5.0, 6.0], [7.0]])),                                  # ragged, mixed
    ([[1, None], [2, 3]], [[4, None], [5, 6]], ([[1.0], [2.0, 3.0]], [[4.0], [5.0, 6.0]])),  # padding
    (np.array([[1, 2.0], [3, None]], dtype=object), np.array([[1, 2], [3, None]], dtype=object),
     ([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0]])),                                 # an object matrix
])
def test_validate_input_forms(weights, profits, expected):
    assert rows_of(weights, profits) == expected


@pytest.mark.parametrize("weights, message", [
    (5, "weights must be a list of per-class arrays or a 2-D array, got 'int'"),
    ("ab", "weights must be a list of per-class arrays or a 2-D array, got 'str'"),
    (None, "weights must be a list of per-class arrays or a 2-D array, got 'NoneType'"),
    (np.array([1.0, 2.0]), "weights must be 2-D (classes x items) or a list of 1-D arrays, got a 1-D array"),
    (np.array([["a", "b"]]), "weights is not numeric (dtype <U1)"),
    ([np.array([True, False])], "weights[0] is not numeric (dtype bool)"),
    ([[1, 2], 3], "weights must be a list of per-class arrays or a 2-D array; element 1 is a scalar, not a class"),
    ([np.array([1, "x"], dtype=object)], "weights[0][1] is not a number: 'x'"),
    ([[1, "x"]], "weights[0] is not numeric (dtype <U21)"),
    ([np.array([[1, 2]])], "weights[0] must be 1-D (the items of class 0), got 2-D"),
])
def test_validate_refuses_other_forms(weights, message):
    with pytest.raises(InvalidParameter) as ei:
        mckp.validate(weights, [[1.0, 2.0]], 5)
    assert ei.value.message == message


def test_validate_empty_boolean_row_is_a_class_without_items():
    with pytest.raises(InvalidParameter) as ei:
        mckp.validate([np.array([], dtype=bool)], [np.array([], dtype=bool)], 5)
    assert ei.value.message == "class 0 has no items"
