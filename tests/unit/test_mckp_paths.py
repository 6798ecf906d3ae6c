"""Which way an instance goes through mckp, and the small plain-Python helpers (issue 17).

The solver takes fast paths for the common inputs: a small instance of plain lists is solved
without numpy (a session's first quote must not pay for importing it, issue 12), a clean
matrix or rectangular rows skip the per-class checks, and the per-row conversion runs only
for ragged or odd input. The answers are the same either way, so tests of answers cannot
tell a fast path that silently stopped being taken (or one taken for input it must refuse).
These tests watch the path itself: the fast-path predicates called directly, and spies on
the slow path (``validate``, ``_check_class``, ``_row_to_float``, ``_np``).

Then the plain-Python helpers of the exact search against definitions written here: the LP
relaxation (`_py_lp`) against scipy's LP solver, the repair heuristic (`_py_improve`) against
its rule, `_is_integral` at 2^52, and the feasibility check at an exact fit.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from nyop_server import mckp
from nyop_server.errors import InvalidParameter
from test_mckp_certificates import brute

pytestmark = pytest.mark.filterwarnings("error")

SMALL = mckp._SMALL_ITEMS


class Rows(list):
    """A list that is not a ``list`` to the fast path's exact type test."""


def _no(*_a, **_k):
    raise AssertionError("the slow path was taken")


# --------------------------------------------------------------------------------------
# _is_number, _validate_capacity
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [0, 1, -2.5, 1e300, Decimal("1.5"), Fraction(1, 3), np.float32(2),
                               np.float16(1), np.int8(3), np.uint64(7), np.float64(0.5),
                               np.longdouble(1)])
def test_is_number_accepts_reals(x):
    assert mckp._is_number(x) is True


@pytest.mark.parametrize("x", [True, False, np.bool_(True), 1j, complex(1, 0), np.complex64(1),
                               np.complex128(1), np.clongdouble(1), "1", b"1", None, [1],
                               np.array(1.0), np.array([1.0])])
def test_is_number_refuses_the_rest(x):
    assert mckp._is_number(x) is False


def test_capacity_forms():
    assert mckp._validate_capacity(np.array(5.0)) == 5.0           # a 0-d array is a number
    assert mckp._validate_capacity(np.float32(2.5)) == 2.5
    assert mckp._validate_capacity(Decimal("3")) == 3.0
    assert type(mckp._validate_capacity(7)) is float
    for bad in (np.array([5.0]), np.array([[5.0]]), None, "5", True):
        with pytest.raises(InvalidParameter, match="capacity must be a number"):
            mckp._validate_capacity(bad)


def test_capacity_too_large_for_a_float_is_not_finite():
    with pytest.raises(InvalidParameter, match="capacity must be finite"):
        mckp._validate_capacity(10 ** 400)
    with pytest.raises(InvalidParameter, match="capacity must be finite"):
        mckp._validate_capacity(Decimal("1e400"))


def test_solve_takes_a_zero_d_array_capacity():
    sol = mckp.solve_exact([[0.0, 2.0]], [[0.0, 5.0]], np.array(2.0))
    assert sol.choice == [1]


# --------------------------------------------------------------------------------------
# _plain_rows: the plain-Python fast path's predicate
# --------------------------------------------------------------------------------------

def test_plain_rows_converts_plain_lists_and_tuples():
    assert mckp._plain_rows([[0, 1.5], (2,)], ([3, -4.0], [5])) == (
        [[0.0, 1.5], [2.0]], [[3.0, -4.0], [5.0]])
    w, p = mckp._plain_rows([[1, 2]], [[3, 4]])
    assert all(type(x) is float for x in w[0] + p[0])


def test_plain_rows_weights_zero_and_fractional_profits_negative():
    assert mckp._plain_rows([[0.0, 0.5, 0.25]], [[-1.0, 0.0, -0.5]]) == (
        [[0.0, 0.5, 0.25]], [[-1.0, 0.0, -0.5]])
    assert mckp._plain_rows([[0]], [[0]]) == ([[0.0]], [[0.0]])     # one item, weight 0


@pytest.mark.parametrize("weights, profits", [
    (Rows([[1.0]]), [[1.0]]),                      # outer containers of another type
    ([[1.0]], Rows([[1.0]])),
    (np.array([[1.0]]), [[1.0]]),
    ([[1.0]], np.array([[1.0]])),
    ([], []),                                      # no class
    ([[1.0]], [[1.0], [2.0]]),                     # different numbers of classes
    ([Rows([1.0])], [[1.0]]),                      # a row of another type, either side
    ([[1.0]], [Rows([1.0])]),
    ([np.array([1.0])], [[1.0]]),
    ([[1.0]], [np.array([1.0])]),
    ([[]], [[]]),                                  # a class without items
    ([[1.0, 2.0]], [[1.0]]),                       # rows of different lengths
    ([[True]], [[1.0]]),                           # not int or float: bool, numpy, Decimal
    ([[1.0]], [[True]]),
    ([[np.float64(1.0)]], [[1.0]]),
    ([[1.0]], [[np.float64(1.0)]]),
    ([[Decimal(1)]], [[1.0]]),
    ([[1.0]], [[Fraction(1, 2)]]),
    ([[None]], [[1.0]]),
    ([[-1.0]], [[1.0]]),                           # a negative weight
    ([[-0.5]], [[1.0]]),
    ([[math.nan]], [[1.0]]),                       # NaN or infinity, either side
    ([[math.inf]], [[1.0]]),
    ([[1.0]], [[math.nan]]),
    ([[1.0]], [[-math.inf]]),
    ([[10 ** 400]], [[1.0]]),                      # an int no float holds
    ([[1.0]], [[10 ** 400]]),
])
def test_plain_rows_leaves_the_rest_to_validation(weights, profits):
    assert mckp._plain_rows(weights, profits) is None


def test_plain_rows_counts_items_over_all_classes():
    one = [[1.0] * (SMALL // 4)] * 4                               # exactly SMALL items
    assert mckp._plain_rows(one, one) is not None
    assert mckp._plain_rows([[1.0] * SMALL], [[1.0] * SMALL]) is not None
    more = one + [[1.0]]
    assert mckp._plain_rows(more, more) is None
    assert mckp._plain_rows([[1.0] * (SMALL + 1)], [[1.0] * (SMALL + 1)]) is None
    # the count runs over the classes: many small classes past the total are not plain
    many = [[1.0, 2.0]] * (SMALL // 2 + 1)
    assert mckp._plain_rows(many, many) is None


# --------------------------------------------------------------------------------------
# _as_matrix: a clean matrix in one conversion
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [[[1, 2], [3, 4]], [(1.0, 2.0), (3.0, 4.0)], ([1, 2],),
                               np.array([[1, 2]], dtype=np.int32), np.array([[1.5]])])
def test_as_matrix_takes_rectangular_numbers(x):
    arr = mckp._as_matrix(np, x)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.ndim == 2
    assert arr.tolist() == [[float(v) for v in r] for r in np.asarray(x).tolist()]


@pytest.mark.parametrize("x", [
    [], (), "ab", None, 3.0, Rows([[1.0]]),        # not a list or tuple of rows
    [[1.0], 2.0], [np.array([1.0])], [Rows([1.0])],
    [[1.0], [2.0, 3.0]],                           # ragged
    [[[1.0]]],                                     # 3-D
    [["a"]], [[None]], [[True]],                   # not numbers
    np.array([1.0, 2.0]), np.zeros((1, 1, 1)), np.array([["a"]]), np.array([[True]]),
])
def test_as_matrix_leaves_the_rest(x):
    assert mckp._as_matrix(np, x) is None


# --------------------------------------------------------------------------------------
# _prepare: the way each input goes
# --------------------------------------------------------------------------------------

def test_small_plain_instance_needs_no_numpy(monkeypatch):
    """A paper-sized quote's instance: plain lists in, plain lists out, numpy never asked
    for (not for the checks, nor for the search)."""
    monkeypatch.setattr(mckp, "_np", _no)
    ws, ps, cap, small = mckp._prepare([[0, 1, 2], [0, 3]], [[0, 2, 3], [0, 4]], 3)
    assert (ws, ps, cap, small) == ([[0.0, 1.0, 2.0], [0.0, 3.0]], [[0.0, 2.0, 3.0], [0.0, 4.0]],
                                    3.0, True)
    sol = mckp.solve_exact([[0, 1, 2], [0, 3]], [[0, 2, 3], [0, 4]], 3)
    assert sol.choice == [0, 1] and sol.optimal
    assert mckp.lp_bound([[0, 1, 2], [0, 3]], [[0, 2, 3], [0, 4]], 3) == pytest.approx(14 / 3)


def test_clean_matrix_skips_the_per_class_checks(monkeypatch):
    monkeypatch.setattr(mckp, "validate", _no)
    W = np.array([[0.0, 0.5, 2.0], [0.0, 1.0, 3.0]])                # weights 0 and < 1 are clean
    P = np.array([[0.0, 1.0, 2.0], [-1.0, 1.0, 5.0]])
    ws, ps, cap, small = mckp._prepare(W, P, 4)
    assert small and ws == W.tolist() and ps == P.tolist() and cap == 4.0
    for shape in ((1, 1), (1, 3), (3, 1)):                         # one class, one item
        A = np.ones(shape)
        assert mckp._prepare(A, A, 9)[3] is True
    big = np.ones((2, SMALL // 2 + 1))
    mat, none, _, small = mckp._prepare(big, big, 9)
    assert none is None and small is False and isinstance(mat, mckp._Mat) and mat.valid is None
    assert mat.W is not None and mat.P.shape == big.shape
    rows = np.ones((2, SMALL // 2)).tolist()                       # exactly SMALL items
    assert mckp._prepare(np.array(rows), np.array(rows), 9)[3] is True
    mixed = [[1, 2.5], (3, 4)]                                     # rows a matrix takes whole
    assert mckp._prepare(mixed, np.array(mixed), 9)[:2] == ([[1.0, 2.5], [3.0, 4.0]],) * 2


@pytest.mark.parametrize("weights, profits", [
    (np.array([[1.0, np.nan]]), np.array([[1.0, np.nan]])),        # padding
    (np.array([[-1.0]]), np.array([[1.0]])),                       # refused below
    (np.array([[1.0]]), np.array([[np.inf]])),
    (np.array([[1.0, 2.0]]), np.array([[1.0], [2.0]])),            # shapes differ
    ([[1.0], [2.0, 3.0]], [[1.0], [2.0, 3.0]]),                    # ragged (plain, but...)
    ([[1.0, 2.0]], ["ab"]),                                        # profits not a matrix
])
def test_other_input_goes_through_validation(monkeypatch, weights, profits):
    calls = []
    real = mckp.validate
    monkeypatch.setattr(mckp, "validate", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(mckp, "_plain_rows", lambda *a: None)
    try:
        mckp._prepare(weights, profits, 5)
    except InvalidParameter:
        pass
    assert calls == [1]


@pytest.mark.parametrize("shape, message", [((0, 3), "weights is empty"),
                                            ((2, 0), "class 0 has no items")])
def test_matrix_without_classes_or_items_is_refused(shape, message):
    with pytest.raises(InvalidParameter, match=message):
        mckp.solve_exact(np.zeros(shape), np.zeros(shape), 1.0)


def test_ragged_instance_sizes_decide_small_or_matrix():
    w = [[1.0] * (SMALL // 2), [1.0] * (SMALL // 2 - 1) + [np.nan]]
    ws, ps, _, small = mckp._prepare(np.array(w), np.array(w), 9)  # SMALL - 1 real items
    assert small is True and [len(r) for r in ws] == [SMALL // 2, SMALL // 2 - 1]
    w = [[1.0] * (SMALL // 2 + 1), [1.0] * (SMALL // 2 - 1) + [np.nan, np.nan]]
    ws, ps, _, small = mckp._prepare(np.array(w), np.array(w), 9)  # exactly SMALL real items
    assert small is True and sum(len(r) for r in ws) == SMALL
    w = [[1.0] * (SMALL // 2 + 2), [1.0] * (SMALL // 2) + [np.nan, np.nan]]
    mat, _, _, small = mckp._prepare(np.array(w), np.array(w), 9)
    assert small is False and mat.valid.sum() == SMALL + 2
    assert mat.W[1, -1] == 0.0 and mat.P[1, -1] == -np.inf       # padding: weight 0, profit -inf


def test_small_instance_does_not_start_the_vectorised_search(monkeypatch):
    monkeypatch.setattr(mckp, "_core_search", _no)
    monkeypatch.setattr(mckp, "_mat_of_rows", _no)
    sol = mckp.solve_exact([[0.0, 1.0, 2.0]] * 4, [[0.0, 3.0, 4.0]] * 4, 5.0)
    assert sol.optimal and sol.profit == pytest.approx(13.0)


# --------------------------------------------------------------------------------------
# validate / _rows: one conversion for rectangular rows, per-class checks only when needed
# --------------------------------------------------------------------------------------

def _count(monkeypatch, name):
    calls = []
    real = getattr(mckp, name)
    monkeypatch.setattr(mckp, name, lambda *a: calls.append(a[1:2]) or real(*a))
    return calls


@pytest.mark.parametrize("rows", [[[1, 2], [3, 4]], [[1.0], [2.0]], [(1.5, 2.0)], [[0.0, 0.5]]])
def test_rectangular_rows_are_converted_at_once(monkeypatch, rows):
    calls = _count(monkeypatch, "_row_to_float")
    out = mckp._rows(np, rows, "weights")
    assert calls == [] and [r.tolist() for r in out] == [[float(v) for v in r] for r in rows]


@pytest.mark.parametrize("rows", [[np.array([1.0, 2.0]), np.array([3.0, 4.0])],
                                  [[1.0], [2.0, 3.0]], [[1.0, None]], [[]]])
def test_other_rows_are_converted_one_by_one(monkeypatch, rows):
    calls = _count(monkeypatch, "_row_to_float")
    out = mckp._rows(np, rows, "weights")
    assert len(calls) == len(rows) == len(out)


def test_clean_instance_skips_the_per_class_checks(monkeypatch):
    calls = _count(monkeypatch, "_check_class")
    for w in ([[0.0, 1.0]], [[0.5], [2.0]], [[3.0]], [np.array([1.0, 0.0])]):
        mckp.validate(w, w, 1.0)
    assert calls == []
    mckp.validate([[1.0, np.nan]], [[1.0, np.nan]], 1.0)            # padding: checked per class
    assert len(calls) == 1
    with pytest.raises(InvalidParameter):                            # rows of different lengths
        mckp.validate([[1.0], [2.0, 3.0]], [[1.0], [2.0]], 1.0)
    assert len(calls) == 3                       # class 0, then class 1 refused


@pytest.mark.parametrize("which", ["weights", "profits"])
@pytest.mark.parametrize("bad, message", [("ab", " must be a list of per-class arrays"),
                                          ([[1.0, None, "x"]], r"\[0\]\[2\] is not a number"),
                                          ([[1.0, "x"]], r"\[0\] is not numeric"),
                                          (np.zeros((1, 1, 1)), " must be 2-D")])
def test_errors_name_the_argument(which, bad, message):
    good = [[1.0, 2.0, 3.0]]
    args = (bad, good) if which == "weights" else (good, bad)
    with pytest.raises(InvalidParameter, match="^" + which + message):
        mckp.validate(*args, 1.0)


# --------------------------------------------------------------------------------------
# feasibility at the boundary
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [2, SMALL])
def test_lightest_choice_exactly_at_the_limit_is_feasible(m):
    cap = 10.0
    lim = mckp.capacity_limit(cap)
    ws = [[lim] + [lim + 1.0] * (m - 1), [0.0] * m]
    ps = [[1.0] * m, [1.0] + [2.0] * (m - 1)]
    sol = mckp.solve_exact(ws, ps, cap)
    assert sol.weight == lim and sol.optimal
    above = math.nextafter(lim, math.inf)
    with pytest.raises(mckp.Infeasible):
        mckp.solve_exact([[above] * m, [0.0] * m], ps, cap)


def test_infeasible_ragged_matrix_counts_real_items_only():
    """Padding holds weight 0: the lightest choice must be taken among the real items."""
    m = SMALL
    ws = [[5.0] * 3 + [np.nan] * (m - 3), [1.0] * m]
    ps = [[1.0] * 3 + [np.nan] * (m - 3), [1.0] * m]
    with pytest.raises(mckp.Infeasible, match="total weight 6"):
        mckp.solve_exact(np.array(ws), np.array(ps), 5.5)
    assert mckp.solve_exact(np.array(ws), np.array(ps), 6.0).weight == 6.0


def test_infeasible_matrix_sums_the_lightest_item_of_every_class():
    W = np.full((3, SMALL), 4.0)
    W[:, 0] = [1.0, 3.0, 2.0]
    with pytest.raises(mckp.Infeasible, match="total weight 6"):
        mckp.solve_exact(W, np.ones_like(W), 5.0)


# --------------------------------------------------------------------------------------
# the plain-Python LP relaxation against scipy's LP solver
# --------------------------------------------------------------------------------------

def lp_optimum(ws, ps, limit):
    """max Σ p x  s.t.  Σ w x <= limit,  Σ_j x_ij = 1,  x >= 0 (scipy's HiGHS)."""
    from scipy.optimize import linprog
    n = sum(len(w) for w in ws)
    c = [-p for row in ps for p in row]
    eq, at = [], 0
    for w in ws:
        row = [0.0] * n
        row[at:at + len(w)] = [1.0] * len(w)
        eq.append(row)
        at += len(w)
    res = linprog(c, A_ub=[[x for row in ws for x in row]], b_ub=[limit], A_eq=eq,
                  b_eq=[1.0] * len(ws), bounds=(0, None), method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("seed", range(40))
def test_py_lp_is_the_lp_relaxation(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 5)
    ws = [sorted(rng.randint(0, 30) for _ in range(rng.randint(1, 5))) for _ in range(n)]
    ps = [[rng.randint(-5, 40) for _ in w] for w in ws]
    lo = sum(min(w) for w in ws)
    hi = sum(max(w) for w in ws)
    limit = lo + rng.random() * (hi - lo + 5)
    cls = mckp._py_pack(ws, ps)
    lam, ub, pos = mckp._py_lp(cls, limit)
    assert ub == pytest.approx(lp_optimum(ws, ps, limit), rel=1e-9, abs=1e-9)
    # the multiplier: the dual value of the capacity (0 when everything fits)
    assert lam >= 0
    dual = lam * limit + sum(max(p - lam * w for w, p, _ in c) for c in cls)
    assert dual == pytest.approx(ub, rel=1e-9, abs=1e-9)
    if sum(c[-1][0] for c in cls) <= limit:
        assert lam == 0.0 and pos == [len(c) - 1 for c in cls]
    # the break solution fits
    assert sum(cls[i][j][0] for i, j in enumerate(pos)) <= limit


def test_py_lp_at_an_exact_fit_takes_the_edge_and_splits_the_next():
    # one class, hull edges (0,0)->(2,6) slope 3, (2,6)->(4,8) slope 1
    cls = mckp._py_pack([[0.0, 2.0, 4.0]], [[0.0, 6.0, 8.0]])
    assert mckp._py_lp(cls, 2.0) == (1.0, 6.0, [1])
    assert mckp._py_lp(cls, 3.0) == (1.0, 7.0, [1])
    assert mckp._py_lp(cls, 1.0) == (3.0, 3.0, [0])
    assert mckp._py_lp(cls, 0.5) == (3.0, 1.5, [0])
    assert mckp._py_lp(cls, 4.0) == (0.0, 8.0, [2])


# --------------------------------------------------------------------------------------
# the plain-Python repair heuristic against its rule
# --------------------------------------------------------------------------------------

def improve_by_rule(cls, pos, limit, rounds=8):
    """Each round: among every class's heavier items that fit the residual capacity, the
    one with the largest profit gain over the class's current item (gain > 0; the first
    class, then the lightest item, on ties) is taken."""
    cols = list(pos)
    for _ in range(rounds):
        resid = limit - sum(cls[i][j][0] for i, j in enumerate(cols))
        best = None
        for i, items in enumerate(cls):
            wc, pc, _ = items[cols[i]]
            for j in range(cols[i] + 1, len(items)):
                w, p, _ = items[j]
                if w - wc <= resid and p - pc > 0 and (best is None or p - pc > best[0]):
                    best = (p - pc, i, j)
        if best is None:
            break
        cols[best[1]] = best[2]
    return cols


@pytest.mark.parametrize("seed", range(60))
def test_py_improve_follows_its_rule(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 12)
    ws = [[rng.choice([0, 1, 2, 3, 5, 8]) for _ in range(rng.randint(1, 5))] for _ in range(n)]
    ps = [[rng.choice([0, 1, 2, 3, 4, 0.5]) for _ in w] for w in ws]
    cls = mckp._py_pack(ws, ps)
    limit = sum(c[0][0] for c in cls) + rng.choice([0, 1, 2, 3, 5, 9, 20])
    pos = [0] * n
    assert mckp._py_improve(cls, pos, limit) == improve_by_rule(cls, pos, limit)


def test_py_improve_takes_at_most_eight_moves_and_gains_below_one():
    cls = [[(0.0, 0.0, 0), (1.0, 0.5, 1)] for _ in range(10)]
    assert mckp._py_improve(cls, [0] * 10, 100.0) == [1] * 8 + [0] * 2
    assert mckp._py_improve(cls, [0] * 10, 100.0, rounds=3) == [1] * 3 + [0] * 7


def test_py_improve_exact_fit_first_class_and_ties():
    # only class 0 can move, and its move fills the capacity exactly
    cls = [[(0.0, 0.0, 0), (2.0, 3.0, 1)], [(0.0, 0.0, 0), (5.0, 9.0, 1)]]
    assert mckp._py_improve(cls, [0, 0], 2.0) == [1, 0]
    # equal gains: the first class wins the round
    cls = [[(0.0, 0.0, 0), (2.0, 3.0, 1)], [(0.0, 0.0, 0), (2.0, 3.0, 1)]]
    assert mckp._py_improve(cls, [0, 0], 2.0) == [1, 0]


# --------------------------------------------------------------------------------------
# _is_integral: exact integers below 2^52 only
# --------------------------------------------------------------------------------------

def test_is_integral_at_two_to_the_52():
    assert mckp._is_integral([0.0, -3.0, 2.0 ** 52 - 1])
    assert not mckp._is_integral([2.0 ** 52])
    assert not mckp._is_integral([-(2.0 ** 52)])
    assert not mckp._is_integral([1.5])
    assert mckp._is_integral([])


# --------------------------------------------------------------------------------------
# the vectorised LP relaxation (_lagrangian) against scipy's LP solver
# --------------------------------------------------------------------------------------

def _packed(ws, ps):
    return mckp._Packed(mckp._mat_of_rows([[float(x) for x in w] for w in ws],
                                          [[float(x) for x in p] for p in ps]))


@pytest.mark.parametrize("seed", range(60))
def test_lagrangian_is_the_lp_relaxation(seed):
    """The bound is the LP value; the multiplier an optimal dual; ``hi_cols`` a feasible
    choice whose line ``P + lam (C - W)`` touches ``L`` at that multiplier."""
    rng = random.Random(1000 + seed)
    n = rng.randint(1, 7)
    ws = [[rng.randint(0, 25) for _ in range(rng.randint(1, 6))] for _ in range(n)]
    ps = [[rng.choice([rng.randint(-5, 40), rng.randint(0, 3)]) for _ in w] for w in ws]
    lo = sum(min(w) for w in ws)
    hi = sum(max(w) for w in ws)
    limit = float(rng.choice([lo, hi, lo + rng.randint(0, max(1, hi - lo)),
                              lo + rng.random() * (hi - lo + 3)]))
    pk = _packed(ws, ps)
    lam, ub, cols = mckp._lagrangian(pk, limit)
    assert ub == pytest.approx(lp_optimum(ws, ps, limit), rel=1e-9, abs=1e-9)
    assert lam >= 0
    rows = np.arange(n)
    R = pk.P - lam * pk.W
    assert lam * limit + float(R.max(axis=1).sum()) == pytest.approx(ub, rel=1e-9, abs=1e-9)
    W_hi = float(pk.W[rows, cols].sum())
    P_hi = float(pk.P[rows, cols].sum())
    assert W_hi <= limit
    assert P_hi + lam * (limit - W_hi) == pytest.approx(ub, rel=1e-9, abs=1e-9)
    if float(pk.W[rows, pk.best].sum()) <= limit:
        assert lam == 0.0 and ub == float(pk.P.max(axis=1).sum())
        assert list(cols) == list(pk.best)


def test_lagrangian_by_hand():
    # one class (0,0) (2,6) (4,8): L(lam) = max(0, 6 - 2 lam, 8 - 4 lam) + lam C
    pk = _packed([[0, 2, 4]], [[0, 6, 8]])
    lam, ub, cols = mckp._lagrangian(pk, 2.0)          # the LP optimum is item 1, exactly
    assert (lam, ub, list(cols)) == (2.0, 6.0, [1])
    lam, ub, cols = mckp._lagrangian(pk, 3.0)          # split between items 1 and 2
    assert (lam, ub, list(cols)) == (1.0, 7.0, [1])
    lam, ub, cols = mckp._lagrangian(pk, 4.0)          # everything fits: lam 0
    assert (lam, ub, list(cols)) == (0.0, 8.0, [2])
    # two classes, ragged: the padding never counts
    pk = _packed([[0, 1], [0, 3, 5]], [[0, 4], [0, 3, 4]])
    lam, ub, cols = mckp._lagrangian(pk, 2.0)          # class 0's step (slope 4), then 1 of 3
    assert ub == pytest.approx(5.0) and lam == pytest.approx(1.0) and list(cols) == [1, 0]


# --------------------------------------------------------------------------------------
# the plain-Python search by itself: exact, and it finishes on small instances
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(120))
def test_py_exact_alone_is_exact(seed, monkeypatch):
    """Without the vectorised search behind it: the plain search returns a choice (its budget
    is not the question here) and the choice is optimal."""
    monkeypatch.setattr(mckp, "_PY_WORK", 1 << 30)
    rng = random.Random(7000 + seed)
    n = rng.randint(1, 6)
    ws = [[float(rng.randint(0, 12)) for _ in range(rng.randint(1, 5))] for _ in range(n)]
    ps = [[float(rng.choice([rng.randint(-3, 20), rng.randint(0, 4)])) for _ in w] for w in ws]
    lo = sum(min(w) for w in ws)
    hi = sum(max(w) for w in ws)
    cap = float(rng.randint(int(lo), int(hi) + 2))
    limit = mckp.capacity_limit(cap)
    choice = mckp._py_exact(ws, ps, limit, 1 << 30)
    assert choice is not None
    assert sum(ws[i][j] for i, j in enumerate(choice)) <= limit
    assert sum(ps[i][j] for i, j in enumerate(choice)) == brute(ws, ps, cap)


def test_py_exact_when_everything_fits_takes_the_most_profitable_items():
    ws, ps = [[0.0, 2.0, 5.0], [1.0, 3.0]], [[0.0, 4.0, 9.0], [1.0, 2.0]]
    assert mckp._py_exact(ws, ps, 8.0, 0) == [2, 1]          # exactly the capacity
    assert mckp._py_exact(ws, ps, 100.0, 0) == [2, 1]
