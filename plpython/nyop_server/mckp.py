"""Multiple-choice knapsack (MCKP) for nyop's price/quality optimisation.

The problem
-----------
There are ``n`` classes (the quality dimensions of a data product); class ``i``
offers ``m_i`` items (its quality levels).  Item ``j`` of class ``i`` costs
``w_ij >= 0`` (a price) and is worth ``p_ij`` (a utility).  Choose exactly one
item per class so that the total profit ``sum p`` is maximal and the total
weight ``sum w`` does not exceed the capacity (the buyer's bid)::

    max  sum_i p_i,c(i)   s.t.  sum_i w_i,c(i) <= C,   one item c(i) per class.

Input shapes
------------
``weights`` and ``profits`` are either a list of 1-D arrays (one per class,
classes may have different sizes; preferred), or a 2-D array (``n x m``).  In a
2-D array -- or in a row given as a list -- a class with fewer items is padded
with trailing NaN (or ``None``) in *both* arrays at the same positions; any
other NaN, and any infinity, is an error.  See :func:`validate`.

Floating point and feasibility tolerance
----------------------------------------
Weights and the capacity are real numbers (prices); nothing is rounded to
cents or integers, so exactness does not depend on a money grid.  A choice is
*feasible* when::

    sum w  <=  C * (1 + 1e-12) + 1e-9                      (FEAS_REL, FEAS_ABS)

The tiny slack only absorbs summation round-off (``6*8**2 + 3.6*10**2 + ...``
summed in a different order must not flip feasibility); it is far below any
price difference that matters.  Every solver here uses that same limit, and
:func:`solve_exact` is exact with respect to it: no feasible choice has a
profit larger than the returned one by more than about ``1e-12`` times the
magnitude of the profit sums involved (pruning discards states that can at
best *tie* the incumbent up to that round-off tolerance).  When every profit
is an integer, an improvement must be worth at least 1, and the bounds are
used that way.  (A choice whose total lands within summation round-off of the
limit itself may exceed it by that round-off.)

Solvers
-------
:func:`solve_greedy`
    Algorithm 5.1 of the nyop paper, exactly (a trace is returned): start
    every class at item 0, sort incremental efficiencies (ties within a
    relative 1e-9 by class, then level), take them while they fit.  Fast,
    not optimal.
:func:`solve_exact`
    LP relaxation + bounds (on integer data also a lattice bound) + an expanding
    core solved by dynamic programming with upper-bound fathoming (in the spirit
    of Pisinger's minimal algorithm; with integer weights over a dense weight
    window once the states crowd it; see ``docs/solver.md``).  Exact; when a
    limit stops it (states or time) it returns the best solution found, a
    certified gap and ``stopped_by``.
:func:`lp_bound`
    The LP relaxation value, an upper bound on every feasible profit.

Small instances (at most ``_SMALL_ITEMS`` items in all, plain Python numbers:
every pricing quote) are solved in plain Python, so numpy is not even
imported; numpy is imported lazily, where it vectorises.
"""

from decimal import Decimal
import math
import numbers
import sys
import time

from nyop_server.errors import InvalidParameter, NyopError

__all__ = [
    "Infeasible", "Solution", "validate", "solve", "solve_greedy",
    "solve_exact", "lp_bound",
    "FEAS_REL", "FEAS_ABS", "TIE_RTOL", "capacity_limit",
]

#: Relative feasibility slack on the capacity (see module docstring).
FEAS_REL = 1e-12
#: Absolute feasibility slack on the capacity (see module docstring).
FEAS_ABS = 1e-9
#: Greedy efficiencies equal within this relative tolerance are ties (docs/model.md §5).
TIE_RTOL = 1e-9
# Relative tolerance for comparing profits (bounds vs. incumbent).
_PROFIT_RTOL = 1e-12
# Instances with at most this many items in all are solved in plain Python.
_SMALL_ITEMS = 256
# The plain-Python exact search examines at most this many state/item pairs
# before it hands the instance over to the vectorised search.
_PY_WORK = 4000
# Up to this many (item, state) pairs a merge tests them all at once, else item by item.
_PAIRS = 1 << 15
# At most this many classes are merged in one step, while (states x moves) stays below
# _GROUP_PAIRS.
_GROUP = 6
_GROUP_PAIRS = 4096
# Integer weights: from this many states on, the search may go on over a dense array of the
# weights (one entry per weight of the window; at most _DENSE_CAP times ``max_states``).
_DENSE_MIN = 512
# Weight of the dense estimate in that choice, a margin for its crudeness (tests: 0 forces
# the dense search, inf never).
_DENSE_COST = 2.0
_DENSE_CAP = 4
_DENSE_BLOCK = 256
# Classes with more items than this track, in a dense merge, which item made each entry.
_DENSE_TRACK = 16
#: Default cap on the number of live states of the exact search.
DEFAULT_MAX_STATES = 400_000
#: Default time limit (seconds) of the exact search.
DEFAULT_MAX_SECONDS = 10.0

_INF = math.inf


def _np():
    import numpy
    return numpy


class Infeasible(NyopError):
    """Even the lightest choice (lightest item of every class) exceeds the capacity."""

    sqlstate = "22023"


class Solution:
    """Result of a solver.

    ``choice[i]`` is the 0-based index (into the caller's class ``i``) of the
    chosen item.  ``profit``/``weight`` are the totals of that choice.
    ``optimal`` is True only when optimality is proven; ``gap`` is a certified
    upper bound minus ``profit`` (0 when optimal).  ``steps`` is the greedy
    trace ``(class, item, residual capacity after)``; empty for other solvers.
    ``stopped_by`` names the limit that stopped the exact search before it
    could prove optimality (``"states"`` or ``"time"``), else None.
    """

    __slots__ = ("choice", "profit", "weight", "optimal", "gap", "steps", "stopped_by")

    def __init__(self, choice, profit, weight, optimal, gap, steps=None, stopped_by=None):
        self.choice, self.profit, self.weight = choice, profit, weight
        self.optimal, self.gap = optimal, gap
        self.steps = [] if steps is None else steps
        self.stopped_by = stopped_by

    def __repr__(self):
        return "Solution(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


def capacity_limit(capacity):
    """The largest total weight treated as feasible for ``capacity``."""
    return capacity * (1.0 + FEAS_REL) + FEAS_ABS


def _ptol(value):
    return _PROFIT_RTOL * (1.0 + abs(value))


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

def _is_number(x):
    """A real number: ``numbers.Real`` (int, float, Fraction, and numpy's integer and
    floating scalars, which numpy registers there) or a Decimal; not a bool."""
    return isinstance(x, (numbers.Real, Decimal)) and not isinstance(x, bool)


def _row_to_float(np, row, what, i):
    """One class as a float64 1-D array; missing entries (None) become NaN."""
    if isinstance(row, np.ndarray):
        arr = row
    elif isinstance(row, (str, bytes)) or _is_number(row) or row is None:
        raise InvalidParameter(
            "%s must be a list of per-class arrays or a 2-D array; "
            "element %d is a scalar, not a class" % (what, i))
    else:
        try:
            arr = np.asarray(row)
        except (ValueError, TypeError) as exc:
            raise InvalidParameter("%s[%d] is not a 1-D numeric array: %s" % (what, i, exc))
    if arr.ndim != 1:
        raise InvalidParameter("%s[%d] must be 1-D (the items of class %d), got %d-D"
                               % (what, i, i, arr.ndim))
    kind = arr.dtype.kind
    if kind in "iuf":
        return arr.astype(np.float64, copy=False)
    if kind == "b" and arr.size == 0:
        return arr.astype(np.float64)
    if kind == "O":
        out = np.empty(arr.shape[0], dtype=np.float64)
        for j, x in enumerate(arr):
            if x is None:
                out[j] = np.nan
            elif _is_number(x):
                out[j] = float(x)
            else:
                raise InvalidParameter("%s[%d][%d] is not a number: %r" % (what, i, j, x))
        return out
    raise InvalidParameter("%s[%d] is not numeric (dtype %s)" % (what, i, arr.dtype))


def _rows(np, x, what):
    """Split weights/profits input into a list of float rows (NaN = missing)."""
    if isinstance(x, np.ndarray) and x.dtype.kind != "O":
        if x.ndim != 2:
            raise InvalidParameter("%s must be 2-D (classes x items) or a list of 1-D arrays, "
                                   "got a %d-D array" % (what, x.ndim))
        if x.dtype.kind not in "iuf":
            raise InvalidParameter("%s is not numeric (dtype %s)" % (what, x.dtype))
        return list(x.astype(np.float64, copy=False))
    if isinstance(x, (str, bytes)) or _is_number(x) or x is None:
        raise InvalidParameter("%s must be a list of per-class arrays or a 2-D array, got %r"
                               % (what, type(x).__name__))
    try:
        seq = list(x)
    except TypeError:
        raise InvalidParameter("%s must be a list of per-class arrays or a 2-D array, got %r"
                               % (what, type(x).__name__))
    if seq and all(isinstance(r, (list, tuple)) for r in seq):
        # rectangular and numeric as a whole: one conversion instead of one per row
        try:
            arr = np.asarray(seq)
        except (ValueError, TypeError):
            arr = None
        if arr is not None and arr.ndim == 2 and arr.shape[1] > 0 and arr.dtype.kind in "iuf":
            return list(arr.astype(np.float64, copy=False))
    return [_row_to_float(np, r, what, i) for i, r in enumerate(seq)]


def _validate_capacity(capacity):
    np = sys.modules.get("numpy")
    if np is not None and isinstance(capacity, np.ndarray) and capacity.ndim == 0:
        capacity = capacity[()]
    if not _is_number(capacity):
        raise InvalidParameter("capacity must be a number, got %r" % (capacity,))
    try:
        c = float(capacity)
    except OverflowError:
        c = _INF
    if not math.isfinite(c):
        raise InvalidParameter("capacity must be finite, got %r" % (capacity,))
    if c < 0:
        raise InvalidParameter("capacity must be >= 0, got %r" % (capacity,))
    return c


def validate(weights, profits, capacity):
    """Check and normalise an MCKP instance.

    Returns ``(weight_rows, profit_rows, capacity)``: two lists of float64
    1-D arrays (one per class, padding removed) and the capacity as float.

    Raises :class:`InvalidParameter` for: no classes or a class without
    items; a different number of classes, or of items in a class, between
    weights and profits; NaN that is not trailing padding present in both
    arrays at the same positions; +-inf anywhere; negative weights; a
    negative, NaN or infinite capacity; non-numeric values.  (Profits may be
    any finite real; negative ones are allowed, the solvers do not need a sign.)
    Feasibility is *not* checked here (see :class:`Infeasible`).
    """
    np = _np()
    cap = _validate_capacity(capacity)
    wr = _rows(np, weights, "weights")
    pr = _rows(np, profits, "profits")
    if len(wr) == 0:
        raise InvalidParameter("weights is empty: need at least one class")
    if len(pr) == 0:
        raise InvalidParameter("profits is empty: need at least one class")
    if len(wr) != len(pr):
        raise InvalidParameter("weights has %d classes but profits has %d" % (len(wr), len(pr)))
    lw = [w.shape[0] for w in wr]
    if lw == [p.shape[0] for p in pr] and min(lw) > 0:
        # fast path (the common case): one vectorised check of everything
        allw = np.concatenate(wr)
        allp = np.concatenate(pr)
        if np.isfinite(allw).all() and np.isfinite(allp).all() and not (allw < 0).any():
            return wr, pr, cap
    out_w, out_p = [], []
    for i, (w, p) in enumerate(zip(wr, pr)):
        w, p = _check_class(np, i, w, p)
        out_w.append(w)
        out_p.append(p)
    return out_w, out_p, cap


def _check_class(np, i, w, p):
    """Checks of one class; strips trailing NaN padding; raises on bad data."""
    if w.shape[0] != p.shape[0]:
        raise InvalidParameter("class %d has %d weights but %d profits"
                               % (i, w.shape[0], p.shape[0]))
    wn, pn = np.isnan(w), np.isnan(p)
    if wn.any() or pn.any():
        if not np.array_equal(wn, pn):
            j = int(np.flatnonzero(wn != pn)[0])
            raise InvalidParameter("class %d item %d: NaN/missing %s but not in %s"
                                   % ((i, j) + (("weight", "profit") if wn[j] else
                                                ("profit", "weight"))))
        k = int(np.argmax(wn))
        if wn[k:].all():
            w, p = w[:k], p[:k]
        else:
            raise InvalidParameter("class %d: NaN/missing values are only allowed as "
                                   "trailing padding" % i)
    if w.shape[0] == 0:
        raise InvalidParameter("class %d has no items" % i)
    if not (np.isfinite(w).all() and np.isfinite(p).all()):
        raise InvalidParameter("class %d contains an infinite weight or profit" % i)
    if (w < 0).any():
        j = int(np.flatnonzero(w < 0)[0])
        raise InvalidParameter("class %d item %d has a negative weight %r" % (i, j, float(w[j])))
    return w, p


def _plain_rows(weights, profits):
    """The instance as lists of float lists when it is small and plain (lists or tuples
    of finite ``int``/``float``, matching shapes, no padding, weights >= 0); else None,
    and the general (numpy) validation decides, with its error messages."""
    if type(weights) not in (list, tuple) or type(profits) not in (list, tuple):
        return None
    if not weights or len(weights) != len(profits):
        return None
    isfinite = math.isfinite
    total = 0
    ws, ps = [], []
    for rw, rp in zip(weights, profits):
        if type(rw) not in (list, tuple) or type(rp) not in (list, tuple):
            return None
        m = len(rw)
        total += m
        if m == 0 or len(rp) != m or total > _SMALL_ITEMS:
            return None
        fw, fp = [], []
        try:
            for x in rw:
                t = type(x)
                if t is not float and t is not int:
                    return None
                x = float(x)
                if not (x >= 0.0 and isfinite(x)):
                    return None
                fw.append(x)
            for x in rp:
                t = type(x)
                if t is not float and t is not int:
                    return None
                x = float(x)
                if not isfinite(x):
                    return None
                fp.append(x)
        except OverflowError:
            return None
        ws.append(fw)
        ps.append(fp)
    return ws, ps


def _as_matrix(np, x):
    """``x`` as an ``n x m`` float64 matrix when it plainly is one (a 2-D numeric array,
    or equal-length rows of numbers), else None."""
    if isinstance(x, np.ndarray):
        if x.ndim == 2 and x.dtype.kind in "iuf":
            return x.astype(np.float64, copy=False)
        return None
    if type(x) not in (list, tuple) or not x or not all(type(r) in (list, tuple) for r in x):
        return None
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        return None
    if arr.ndim == 2 and arr.dtype.kind in "iuf":
        return arr.astype(np.float64, copy=False)
    return None


class _Mat:
    """A large validated instance: ``n x m`` float64 matrices; ``valid`` marks real
    items (None: every position is one); padding holds weight 0, profit -inf."""

    __slots__ = ("W", "P", "valid", "n", "m")

    def __init__(self, W, P, valid=None):
        self.W, self.P, self.valid = W, P, valid
        self.n, self.m = W.shape


def _prepare(weights, profits, capacity):
    """Validated instance: ``(ws, ps, cap, small)``.  Small instances come as lists of
    float lists (plain Python solvers); large ones as ``(_Mat, None, cap, False)``."""
    cap = _validate_capacity(capacity)
    plain = _plain_rows(weights, profits)
    if plain is not None:
        return plain[0], plain[1], cap, True
    np = _np()
    W = _as_matrix(np, weights)
    P = None if W is None else _as_matrix(np, profits)
    if (P is not None and W.shape == P.shape and W.shape[0] > 0 and W.shape[1] > 0
            and np.isfinite(W).all() and np.isfinite(P).all() and not (W < 0).any()):
        if W.size > _SMALL_ITEMS:
            return _Mat(W, P), None, cap, False
        return W.tolist(), P.tolist(), cap, True
    ws, ps, cap = validate(weights, profits, capacity)
    sizes = [w.shape[0] for w in ws]
    if sum(sizes) <= _SMALL_ITEMS:
        return [w.tolist() for w in ws], [p.tolist() for p in ps], cap, True
    n, m = len(ws), max(sizes)
    if min(sizes) == m:
        return _Mat(np.array(ws), np.array(ps)), None, cap, False
    valid = np.arange(m)[None, :] < np.array(sizes)[:, None]
    W = np.zeros((n, m))
    P = np.full((n, m), -np.inf)
    W[valid] = np.concatenate(ws)
    P[valid] = np.concatenate(ps)
    return _Mat(W, P, valid), None, cap, False


def _check_feasible(ws, cap, small):
    if small:
        minw = float(sum(min(w) for w in ws))
    else:
        np = _np()
        W = ws.W if ws.valid is None else np.where(ws.valid, ws.W, np.inf)
        minw = float(W.min(axis=1).sum())
    if minw > capacity_limit(cap):
        raise Infeasible(
            "infeasible: the lightest choice (cheapest item of every class) has total weight "
            "%.10g, which exceeds the capacity %.10g" % (minw, cap),
            detail="minimum total weight %r, capacity %r" % (minw, cap))


def _totals(ws, ps, choice):
    if isinstance(ws, _Mat):
        np = _np()
        rows = np.arange(ws.n)
        return float(ws.W[rows, choice].sum()), float(ws.P[rows, choice].sum())
    w = float(sum(float(ws[i][j]) for i, j in enumerate(choice)))
    p = float(sum(float(ps[i][j]) for i, j in enumerate(choice)))
    return w, p


# --------------------------------------------------------------------------
# plain Python: classes, LP relaxation, exact search (small instances)
# --------------------------------------------------------------------------

def _py_pack(ws, ps):
    """Per class the undominated items ``(w, p, j)``, weight and profit strictly increasing."""
    out = []
    for w, p in zip(ws, ps):
        items = []
        best = -_INF
        for j in sorted(range(len(w)), key=lambda j: (w[j], -p[j])):
            if p[j] > best:
                items.append((w[j], p[j], j))
                best = p[j]
        out.append(items)
    return out


def _py_lp(cls, limit):
    """LP relaxation by the Sinha-Zoltners greedy on the upper convex hulls.

    Returns ``(lam, ub, pos)``: the multiplier (the slope of the split hull
    edge, 0 when everything fits), the LP value and the break solution
    ``pos`` (positions into ``cls``; feasible: the split class stays on the
    lighter end of its split edge).
    """
    wt = sum(c[0][0] for c in cls)
    pt = sum(c[0][1] for c in cls)
    edges = []
    for i, items in enumerate(cls):
        hull = [0]
        for j in range(1, len(items)):
            wc, pc, _ = items[j]
            while len(hull) >= 2:
                wa, pa, _ = items[hull[-2]]
                wb, pb, _ = items[hull[-1]]
                if (pb - pa) * (wc - wb) <= (pc - pb) * (wb - wa):
                    hull.pop()
                else:
                    break
            hull.append(j)
        for t in range(1, len(hull)):
            wa, pa, _ = items[hull[t - 1]]
            wb, pb, _ = items[hull[t]]
            edges.append(((pb - pa) / (wb - wa), wb - wa, pb - pa, i, hull[t]))
    edges.sort(key=lambda e: -e[0])
    pos = [0] * len(cls)
    for slope, dw, dp, i, j in edges:
        if wt + dw <= limit:
            wt += dw
            pt += dp
            pos[i] = j
        else:
            return slope, pt + dp * ((limit - wt) / dw), pos
    return 0.0, pt, pos


def _py_improve(cls, pos, limit, rounds=8):
    """Greedy repair: move one class at a time to the item with the largest profit
    gain that still fits (a few rounds)."""
    cols = list(pos)
    resid = limit - sum(cls[i][j][0] for i, j in enumerate(cols))
    for _ in range(rounds):
        best, bi, bj = 0.0, -1, -1
        for i, items in enumerate(cls):
            wc, pc, _ = items[cols[i]]
            for j in range(cols[i] + 1, len(items)):
                w, p, _ = items[j]
                if w - wc > resid:
                    break
                if p - pc > best:
                    best, bi, bj = p - pc, i, j
        if bi < 0:
            break
        resid -= cls[bi][bj][0] - cls[bi][cols[bi]][0]
        cols[bi] = bj
    return cols


def _is_integral(values):
    return all(v == math.floor(v) and abs(v) < 4503599627370496.0 for v in values)


def _py_exact(ws, ps, limit, max_states):
    """Exact search in plain Python for small instances.

    LP relaxation (hull greedy) -> multiplier ``lam`` and bound ``UB``;
    incumbent ``LB`` from the break solution; deficits
    ``d_ij = max_j' r_ij' - r_ij`` with ``r = p - lam w`` (every choice has
    profit ``<= UB - sum d``); items with ``d >= UB - LB`` drop out and the
    remaining classes are merged one by one into a Pareto frontier of
    (weight, profit) states, pruned on the deficit and on the lightest
    completion.  Returns an optimal choice, or None when the frontier
    outgrows ``max_states`` or the work budget (the caller then runs the
    vectorised search).

    A class left with one item is fixed on it: that is an item of deficit 0
    (every class keeps its LP-optimal items, ``0 < UB - LB``), so fixed classes
    add weight and profit to every state, never deficit.
    """
    cls = _py_pack(ws, ps)
    n = len(cls)
    if sum(c[-1][0] for c in cls) <= limit:
        return [c[-1][2] for c in cls]
    lam, ub_lp, pos = _py_lp(cls, limit)
    rmax = [max(p - lam * w for w, p, _ in c) for c in cls]
    UB = min(ub_lp, lam * limit + sum(rmax))
    cols = _py_improve(cls, pos, limit)
    LB = sum(cls[i][j][1] for i, j in enumerate(cols))
    scale = abs(UB) + lam * limit + sum(max(abs(p) for _, p, _ in c) for c in cls)
    tol = _ptol(scale)
    need = 1.0 - tol if _is_integral(p for c in cls for _, p, _ in c) else tol
    if UB - LB <= need:
        return [cls[i][j][2] for i, j in enumerate(cols)]
    thr = UB - LB - need
    fw = fp = 0.0
    fixed = [None] * n
    free = []
    for i, c in enumerate(cls):
        alive = []
        for t, (w, p, _) in enumerate(c):
            d = rmax[i] - (p - lam * w)
            if d < thr:
                alive.append((d, w, p, t))
        if len(alive) == 1:
            _, w, p, t = alive[0]
            fixed[i] = t
            fw += w
            fp += p
        else:
            alive.sort()
            free.append((i, alive))
    free.sort(key=lambda x: len(x[1]))
    rest = [0.0] * (len(free) + 1)
    for s in range(len(free) - 1, -1, -1):
        rest[s] = rest[s + 1] + min(a[1] for a in free[s][1])
    sw, sp, sd = [fw], [fp], [0.0]
    trace = []
    work = 0
    for s, (i, alive) in enumerate(free):
        work += len(sw) * len(alive)
        if work > _PY_WORK:
            return None
        room = limit - rest[s + 1]
        cand = []
        for q in range(len(sw)):
            w0, p0, d0 = sw[q], sp[q], sd[q]
            for d, w, p, t in alive:
                if d0 + d >= thr:
                    break
                if w0 + w <= room:
                    cand.append((w0 + w, -(p0 + p), d0 + d, q, t))
        cand.sort()
        keep = []
        best = -_INF
        for c in cand:
            if -c[1] > best:
                best = -c[1]
                keep.append(c)
        if len(keep) > max_states:
            return None
        if not keep:
            break
        sw = [c[0] for c in keep]
        sp = [-c[1] for c in keep]
        sd = [c[2] for c in keep]
        trace.append(([c[3] for c in keep], [c[4] for c in keep]))
    else:
        if free and sp and sp[-1] > LB:
            # the last state of the frontier is the most profitable one
            q = len(sp) - 1
            cols = list(fixed)
            for s in range(len(free) - 1, -1, -1):
                par, it = trace[s]
                cols[free[s][0]] = it[q]
                q = par[q]
    return [cls[i][j][2] for i, j in enumerate(cols)]


# --------------------------------------------------------------------------
# numpy: packed representation, Lagrangian bound
# --------------------------------------------------------------------------

class _Packed:
    """A large instance for the vectorised solvers: the ``n x m`` matrices of a
    :class:`_Mat` (rows in the caller's item order; padding weight 0, profit
    -inf, so ``P - lam*W`` is ``-inf`` there for every ``lam >= 0``), with per
    class the lightest item ``light`` and the most profitable item ``best``
    (the lightest one on ties).  Dominated items are not removed: they never
    raise a bound, and the search drops the states they lead to as dominated.
    """

    __slots__ = ("W", "P", "valid", "n", "light", "best")

    def __init__(self, mat):
        np = _np()
        self.W, self.P, self.valid, self.n = mat.W, mat.P, mat.valid, mat.n
        Wl = self.W if self.valid is None else np.where(self.valid, self.W, np.inf)
        self.light = Wl.argmin(axis=1)
        pm = self.P.max(axis=1)
        self.best = np.where(self.P == pm[:, None], Wl, np.inf).argmin(axis=1)


def _lagrangian(pk, limit):
    """Minimise ``L(lam) = lam*C + sum_i max_j (p_ij - lam*w_ij)`` over ``lam >= 0``.

    ``L`` is convex piecewise linear; its minimum equals the LP relaxation of
    the MCKP (LP duality; the Sinha-Zoltners greedy gives the same value).
    Every assignment ``a`` gives a line ``P_a + lam*(C - W_a)`` below ``L``;
    we keep one line with ``W > C`` (lo) and one with ``W <= C`` (hi) and
    evaluate ``L`` where they intersect (a Newton/Kelley scheme on a
    piecewise-linear function: finitely many lines, so it terminates, in
    practice in a handful of vectorised O(n*m) steps).  ``L`` at *any* lam is
    a valid upper bound, so round-off can only loosen the bound, never
    invalidate it.

    Returns ``(lam, UB, hi_cols)``: ``hi_cols`` is a feasible assignment
    (column indices into ``pk``), the argmax at ``lam`` with ties broken to
    the lightest item.
    """
    np = _np()
    n = pk.n
    rows = np.arange(n)
    W, P = pk.W, pk.P
    # lam = 0: the most profitable item everywhere
    last = pk.best
    W_lo = float(W[rows, last].sum())
    P_lo = float(P[rows, last].sum())
    W_hi = float(W[rows, pk.light].sum())
    P_hi = float(P[rows, pk.light].sum())
    hi_cols = pk.light
    if W_lo <= limit:
        return 0.0, P_lo, last
    best_ub, best_lam = np.inf, 0.0
    # one buffer for P - lam*W (computed as -lam*W + P: the same numbers); a chosen item
    # by its flat index
    R = np.empty(P.shape)
    off = rows * P.shape[1]
    for _ in range(200):
        # W_lo > C >= W_hi, and the lo line is tight at some lam >= 0, so P_lo >= P_hi:
        # the max only absorbs round-off
        lam = max(0.0, (P_lo - P_hi) / (W_lo - W_hi))
        np.multiply(W, -lam, out=R)
        R += P
        cols = R.argmax(axis=1)
        flat = off + cols
        ub = lam * limit + float(R.take(flat).sum())
        if ub < best_ub:
            best_ub, best_lam = ub, lam
        line = P_hi + lam * (limit - W_hi)
        Wc = float(W.take(flat).sum())
        Pc = float(P.take(flat).sum())
        if Wc <= limit:
            if Wc == W_hi and Pc == P_hi:
                hi_cols = cols
                break
            W_hi, P_hi, hi_cols = Wc, Pc, cols
        else:
            if Wc == W_lo and Pc == P_lo:
                break
            W_lo, P_lo = Wc, Pc
        if ub <= line + _ptol(ub):
            break
    return best_lam, best_ub, hi_cols


def lp_bound(weights, profits, capacity):
    """LP relaxation value of the MCKP: an upper bound on every feasible profit.

    Raises :class:`Infeasible` when no choice fits (the LP is infeasible too).
    """
    ws, ps, cap, small = _prepare(weights, profits, capacity)
    _check_feasible(ws, cap, small)
    return _lp_value(ws, ps, capacity_limit(cap), small)


def _lp_value(ws, ps, limit, small):
    if small:
        cls = _py_pack(ws, ps)
        lam, ub, _ = _py_lp(cls, limit)
        if lam > 0:
            ub = min(ub, lam * limit + sum(max(p - lam * w for w, p, _ in c) for c in cls))
        return float(ub)
    return float(_lagrangian(_Packed(ws), limit)[1])


def _improve(pk, cols, limit, max_rounds=8):
    """Greedy repair, vectorised: each round gives every class its most profitable
    upgrade that fits the residual capacity on its own, then applies them by
    decreasing gain while they fit together (at most ``max_rounds`` rounds)."""
    np = _np()
    n = pk.n
    rows = np.arange(n)
    cols = np.array(cols, dtype=np.int64)
    W, P = pk.W, pk.P
    cw = W[rows, cols]
    cp = P[rows, cols]
    resid = limit - float(cw.sum())
    for _ in range(max_rounds):
        gain = np.where(W - cw[:, None] <= resid, P - cp[:, None], -np.inf)
        j = gain.argmax(axis=1)
        g = gain[rows, j]
        cand = (g > 0).nonzero()[0]
        if not cand.shape[0]:
            break
        cand = cand[(-g[cand]).argsort(kind="stable")]
        dw = W[cand, j[cand]] - cw[cand]
        # the first candidate always fits (its upgrade fits the residual on its own)
        for i, jj, d in zip(cand.tolist(), j[cand].tolist(), dw.tolist()):
            if d <= resid:
                resid -= d
                cols[i] = jj
                cw[i] = W[i, jj]
                cp[i] = P[i, jj]
    return cols


# --------------------------------------------------------------------------
# greedy (paper, Algorithm 5.1)
# --------------------------------------------------------------------------

def _tied(a, b):
    """``a >= b`` are equal efficiencies within TIE_RTOL (infinities only tie themselves)."""
    return a == b or (math.isfinite(a) and math.isfinite(b)
                      and a - b <= TIE_RTOL * max(abs(a), abs(b)))


def _greedy_order_py(ws, ps):
    """Incremental items ``(class, level, weight step)`` in the greedy's order."""
    items = []
    for i, (w, p) in enumerate(zip(ws, ps)):
        for j in range(1, len(w)):
            dw = w[j] - w[j - 1]
            dp = p[j] - p[j - 1]
            if dw != 0:
                e = dp / dw
            else:
                e = _INF if dp > 0 else (-_INF if dp < 0 else 0.0)
            items.append((e, i, j, dw))
    items.sort(key=lambda t: (-t[0], t[1], t[2]))
    out = []
    k, N = 0, len(items)
    while k < N:
        lead = items[k][0]
        t = k + 1
        while t < N and _tied(lead, items[t][0]):
            t += 1
        grp = items[k:t]
        if t - k > 1:
            grp.sort(key=lambda x: (x[1], x[2]))
        out.extend(grp)
        k = t
    return [(i, j, dw) for _, i, j, dw in out]


def _greedy_order_np(mat):
    np = _np()
    n, m = mat.n, mat.m
    if m < 2:
        return []
    dws = np.diff(mat.W, axis=1)
    with np.errstate(all="ignore"):
        dp = np.diff(mat.P, axis=1)
        eff = dp / dws
    z = dws == 0
    if z.any():
        eff[z] = np.where(dp[z] > 0, np.inf, np.where(dp[z] < 0, -np.inf, 0.0))
    ci = np.repeat(np.arange(n, dtype=np.int64), m - 1)
    cj = np.tile(np.arange(1, m, dtype=np.int64), n)
    eff = eff.ravel()
    dws = dws.ravel()
    if mat.valid is not None:
        ok = mat.valid[:, 1:].ravel()
        ci, cj, eff, dws = ci[ok], cj[ok], eff[ok], dws[ok]
    order = np.lexsort((cj, ci, -eff))
    e = eff[order]
    if e.shape[0] > 1:
        a, b = e[:-1], e[1:]
        with np.errstate(all="ignore"):
            close = (a == b) | (np.isfinite(a) & np.isfinite(b)
                                & (a - b <= TIE_RTOL * np.maximum(np.abs(a), np.abs(b))))
        near = close & (a != b)
        if near.any():
            # groups with the leader rule (an efficiency ties the group's first one),
            # worked out in Python only along runs of close neighbours
            gid = np.arange(e.shape[0])
            el = e.tolist()
            N = len(el)
            k = 0
            for s in np.flatnonzero(close).tolist():
                if s < k:
                    continue                     # inside the previous group
                t = s + 1
                while t < N and _tied(el[s], el[t]):
                    gid[t] = s
                    t += 1
                k = t
            order = order[np.lexsort((cj[order], ci[order], gid))]
    return list(zip(ci[order].tolist(), cj[order].tolist(), dws[order].tolist()))


def solve_greedy(weights, profits, capacity):
    """The paper's Algorithm 5.1, verbatim, with its trace.

    Items of each class are taken in the given (level) order: every class
    starts at item 0 (the minimum admissible level), the residual capacity is
    ``c = C - sum_i w_i0``.  The incremental items
    ``e_ij = (p_ij - p_i,j-1) / (w_ij - w_i,j-1)`` (j >= 1; a zero weight
    step counts as +inf if the profit step is > 0, -inf if < 0, 0 if both are
    0) are sorted descending; efficiencies equal within a relative
    :data:`TIE_RTOL` (1e-9) are ties, ordered by class, then item (docs/model.md
    §5: floating-point noise must not reorder equal steps).  They are scanned
    once: ``e_ij`` is taken when class ``i`` currently stands at ``j-1`` and
    its weight step fits (``<= c`` up to the feasibility slack); then ``c``
    decreases by the step and class ``i`` moves to ``j``.  A class whose next
    step does not fit is therefore stuck, as in the paper.  Levels are
    assumed to have non-decreasing weights; otherwise the algorithm still
    runs as specified.

    ``steps`` holds ``(class, item, c after)`` for every taken step.
    ``gap`` is the LP bound minus the profit; ``optimal`` is True only when
    that gap is zero (up to round-off).

    Raises :class:`Infeasible` if no choice fits at all, and
    :class:`InvalidParameter` if the item-0 start itself does not fit and the
    scan cannot bring it back under the capacity (only possible with
    decreasing weights).
    """
    ws, ps, cap, small = _prepare(weights, profits, capacity)
    _check_feasible(ws, cap, small)
    n = len(ws) if small else ws.n
    limit = capacity_limit(cap)
    slack = limit - cap
    cbar = cap - (float(sum(float(w[0]) for w in ws)) if small else float(ws.W[:, 0].sum()))
    order = _greedy_order_py(ws, ps) if small else _greedy_order_np(ws)
    level = [0] * n
    steps = []
    for i, j, dw in order:
        if level[i] == j - 1 and dw <= cbar + slack:
            cbar -= dw
            level[i] = j
            steps.append((i, j, cbar))
    if cbar < -slack:
        raise InvalidParameter(
            "greedy: starting every class at item 0 weighs %.10g more than the capacity; "
            "the greedy method needs item 0 to be the lightest level (use method='exact')"
            % (-cbar))
    weight, profit = _totals(ws, ps, level)
    ub = _lp_value(ws, ps, limit, small)
    gap = max(0.0, ub - profit)
    optimal = gap <= _ptol(ub)
    return Solution(choice=level, profit=profit, weight=weight, optimal=optimal,
                    gap=0.0 if optimal else gap, steps=steps)


# --------------------------------------------------------------------------
# exact: expanding core, dynamic programming with bounds (numpy)
# --------------------------------------------------------------------------

_RAMPS = {}


def _ramp(np, n, dtype):
    """``arange(n)`` in ``dtype`` (a shared, growing cache; read only)."""
    key = np.dtype(dtype).char
    r = _RAMPS.get(key)
    if r is None or r.shape[0] < n:
        r = np.arange(max(n, 4096, 2 * (0 if r is None else r.shape[0])), dtype=dtype)
        r.flags.writeable = False
        _RAMPS[key] = r
    return r


class _Dense:
    """The states of :class:`_Core` over a window of integer weights ``lo .. lo+N-1``,
    monotone: ``off + F[k]`` is the best profit of a state weighing at most ``lo + k``
    (-inf: none).  ``F`` is float32 while that is exact (integer profits within 2^22 of
    ``off``), else float64.

    Merging a class is one shifted maximum per item over the window (no sorting, no
    dominance pass: a dominated state is simply not a maximum), applied only to the
    blocks of entries whose bound can afford the item.  Recovery: per merge the entries
    whose value came from a non-base item, with that item (``merges``), and the sparse
    states at the switch (``sw``, ``sid``).
    """

    __slots__ = ("np", "sw", "sid", "merges", "F", "lo", "off", "small")

    _EXACT32 = float(1 << 22)

    def __init__(self, np, Sw, Sp, Sid, integral):
        self.np = np
        self.sw, self.sid = Sw, Sid
        self.merges = []
        lo = int(Sw[0])
        self.off = float(Sp[-1])
        self.small = integral and float(Sp[-1] - Sp[0]) < self._EXACT32
        F = np.full(int(Sw[-1]) - lo + 1, -np.inf,
                    dtype=np.float32 if self.small else np.float64)
        F[(Sw - lo).astype(np.int64)] = Sp - self.off
        np.maximum.accumulate(F, out=F)
        self.F, self.lo = F, lo

    def parts(self, a, b, limit, ae, be, lev):
        """The bounds of the entries ``a .. b-1`` (relative to ``off``): ``F[k] + g(x)``,
        ``x`` the slack of the weight ``lo + k``, ``g(x) = ae x`` (x >= 0), ``be x``
        (x < 0).  As ``[(s, e, v, c, eps)]``: entries ``s .. e-1`` have bounds ``v + c``
        (``v`` None: -inf) within ``eps`` (round-off, in F's dtype), for the entries that
        may exceed ``lev``."""
        np = self.np
        F = self.F
        cx = limit - self.lo
        k0 = min(b, max(a, math.floor(cx) + 1))         # entries below k0: x >= 0
        ramp = _ramp(np, b, F.dtype)
        rel = 2.0 ** -20 if self.small else 2.0 ** -45
        out = []
        for s, e, g in ((a, k0, ae), (k0, b, be)):
            if e <= s:
                continue
            if math.isinf(g):
                out.append((s, e, None, -math.inf, 0.0))
                continue
            v = np.multiply(ramp[s:e], F.dtype.type(-g))
            v += F[s:e]
            eps = rel * (abs(g) * (e + abs(cx)) + abs(float(F[-1])) + abs(lev)) + 1e-9
            out.append((s, e, v, g * cx, eps))
        return out

    def bounds(self, a, b, limit, ae, be):
        """Upper bounds (round-off included) on the bounds of the entries ``a .. b-1``, as
        float64 relative to ``off``."""
        np = self.np
        u = np.empty(b - a)
        lev = max((abs(float(x)) for x in self.F[[a, b - 1]] if abs(x) < np.inf), default=0.0)
        for s, e, v, c, eps in self.parts(a, b, limit, ae, be, lev):
            if v is None:
                u[s - a:e - a] = -np.inf
            else:
                u[s - a:e - a] = v
                u[s - a:e - a] += c + eps
        return u

    def merge(self, cls, items, dws, dps, limit, ae, be, lev, cap, stop, lev_of, deadline):
        """Merge class ``cls``: ``items`` (base first) move the weight by ``dws`` (ints, 0
        first) and the profit by ``dps``.  A moved entry whose bound (gradients ``ae``,
        ``be`` of the classes left) does not exceed ``lev`` need not be made, so each item
        is applied only to the blocks of entries that can afford it: the bound of an
        entry moved by ``(dw, dp)`` is at most its own plus ``dp - ae dw`` (``dw > 0``)
        or ``dp - be dw`` (``dw < 0``), ``g`` being concave.  Stops early (the
        remaining items not applied) once the entry at the capacity ``cap`` is worth
        ``stop``; when that entry improves, ``lev`` becomes ``lev_of(its value)``.  Past
        ``deadline`` it stops too, the window then holding the states before the merge
        and some of the moved ones.  Returns ``(work done, stopped by the deadline)``."""
        np = self.np
        if self.small and max(abs(x) for x in dps) >= self._EXACT32:
            self.F = self.F.astype(np.float64)
            self.small = False
        F, lo = self.F, self.lo
        lev -= self.off
        N = F.shape[0]
        dmin, dmax = min(dws), max(dws)
        N2 = N + dmax - dmin
        off0 = -dmin
        top = F[-1]
        G = np.empty(N2, dtype=F.dtype)
        G[:off0] = -np.inf
        G[off0:off0 + N] = F
        G[off0 + N:] = top                   # weighing at most more: the heaviest entry
        # per block of entries, the largest bound (an upper estimate)
        bs = _DENSE_BLOCK
        starts = np.arange(0, N, bs)
        bm = np.full(starts.shape[0], -np.inf)
        for s, e, v, c, eps in self.parts(0, N, limit, ae, be, lev):
            if v is None:
                continue
            b0 = s // bs
            st = np.arange(b0 * bs, e, bs)
            st[0] = s
            m = np.maximum.reduceat(v, st - s).astype(np.float64)
            m += c + eps
            np.maximum(bm[b0:b0 + st.shape[0]], m, out=bm[b0:b0 + st.shape[0]])
        tol = 1e-9 * (1.0 + abs(lev) + abs(self.off))
        # per item the blocks it is applied to: from the first to the last block whose
        # bound can afford it (all of them for a lighter item when no class is left to
        # lighten: the states over the capacity come back)
        dwv = np.array(dws[1:], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            shv = np.array(dps[1:], dtype=np.float64) - np.where(dwv > 0, ae, be) * dwv
        full = (dwv < 0) & math.isinf(be)
        nb = starts.shape[0]

        def ranges(lev):
            av, bv, okv = [], [], []
            step = max(1, (1 << 20) // nb)
            for c in range(0, shv.shape[0], step):
                ok = bm[None, :] > (lev - tol - shv[c:c + step])[:, None]
                first = ok.argmax(axis=1)
                last = nb - 1 - ok[:, ::-1].argmax(axis=1)
                av.append(starts[first])
                bv.append(np.minimum(starts[last] + bs, N))
                okv.append(ok.any(axis=1))
            av, bv, okv = np.concatenate(av), np.concatenate(bv), np.concatenate(okv)
            av[full], bv[full], okv[full] = 0, N, True
            return [0] + av.tolist(), [0] + bv.tolist(), [False] + okv.tolist()

        ra, rb, rok = ranges(lev)
        work = 3 * N2
        buf = np.empty(N, dtype=F.dtype)
        # many items: which item made each entry is tracked as they are applied (two more
        # passes per item); few: found afterwards for the entries that changed
        track = len(dws) > _DENSE_TRACK
        if track:
            T = np.zeros(N2, dtype=np.int16 if len(dws) < 32768 else np.int32)
            hit = np.empty(N, dtype=bool)
        kc = min(N2 - 1, cap - (lo + dmin))
        best = float(G[kc]) + self.off if kc >= 0 else -math.inf
        applied = []
        late = False
        for t in range(1, len(dws)):
            if t % 32 == 0 and deadline is not None and time.perf_counter() > deadline:
                late = True
                break
            if kc >= 0 and float(G[kc]) + self.off > best:
                best = float(G[kc]) + self.off
                if best >= stop:
                    break
                ra, rb, rok = ranges(lev_of(best) - self.off)
            if not rok[t]:
                continue
            dw, dp = dws[t], dps[t]
            a, b = ra[t], rb[t]
            applied.append(t)
            off = dw - dmin
            seg = G[off + a:off + b]
            v = buf[:b - a]
            np.add(F[a:b], dp, out=v)
            if track:
                h = hit[:b - a]
                np.greater(v, seg, out=h)
                np.copyto(seg, v, where=h)
                np.copyto(T[off + a:off + b], t, where=h)
            else:
                np.maximum(seg, v, out=seg)
            work += (4 if track else 2) * (b - a)
            if b == N and off + N < N2:
                seg = G[off + N:]
                if track:
                    h = seg < top + F.dtype.type(dp)
                    seg[h] = top + F.dtype.type(dp)
                    T[off + N:][h] = t
                else:
                    np.maximum(seg, top + F.dtype.type(dp), out=seg)
        if track:
            K = np.flatnonzero(T)
            win = T[K].astype(np.int32)
        else:
            # entries whose value is not the base item's, and the first applied item
            # that gives each its value (items in growing groups, tested on the
            # entries still open)
            parts = []
            if off0:
                parts.append(np.flatnonzero(G[:off0] > -np.inf))
            ch = G[off0:off0 + N] > F
            if ch.any():
                parts.append(np.flatnonzero(ch) + off0)
            if off0 + N < N2:
                parts.append(np.flatnonzero(G[off0 + N:] > top) + (off0 + N))
            K = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            win = np.zeros(K.shape[0], dtype=np.int32)
            if K.shape[0] and applied:
                ap = np.array(applied)
                offs = np.array(dws, dtype=np.int64)[ap] - dmin
                adp = np.array(dps, dtype=F.dtype)[ap]
                rem = np.arange(K.shape[0])
                c, step = 0, 1
                while rem.shape[0] and c < ap.shape[0]:
                    Kr = K[rem]
                    src = Kr[None, :] - offs[c:c + step, None]
                    v = F[np.minimum(np.maximum(src, 0), N - 1)] + adp[c:c + step, None]
                    hit = (src >= 0) & (v == G[Kr][None, :])
                    got = hit.any(axis=0)
                    win[rem[got]] = ap[c + hit[:, got].argmax(axis=0)]
                    rem = rem[~got]
                    c += step
                    step = min(2 * step, max(1, (1 << 20) // max(1, rem.shape[0])))
        self.merges.append((cls, items, dws, lo + N - 1, K + (lo + dmin), win))
        self.F, self.lo = G, lo + dmin
        return work, late

    def best_fit(self, cap):
        """``(profit, weight)`` of the entry at the capacity (the best feasible state)."""
        k = cap - self.lo
        if k < 0 or not self.F.shape[0]:
            return -math.inf, None
        k = min(k, self.F.shape[0] - 1)
        return float(self.F[k]) + self.off, self.lo + k

    def trim(self, limit, ae, be, lev):
        """Drop the entries at both ends whose bound does not exceed ``lev`` (an inner
        entry carries a state no heavier than itself, bounded at its own weight).
        Returns False when nothing is left."""
        np = self.np
        lev -= self.off

        def alive(a, b):
            out = []
            for s, e, v, c, eps in self.parts(a, b, limit, ae, be, lev):
                if v is not None:
                    nz = np.flatnonzero(v > lev - c - eps)
                    if nz.shape[0]:
                        out.append((s + int(nz[0]), s + int(nz[-1])))
            return (out[0][0], out[-1][1]) if out else None

        N = self.F.shape[0]
        a, c, first = 0, 2048, None
        while a < N:
            b = min(N, a + c)
            r = alive(a, b)
            if r is not None:
                first = r[0]
                break
            a, c = b, 2 * c
        if first is None:
            self.F = self.F[:0]
            return False
        b, c = N, 2048
        while True:
            a = max(first, b - c)
            r = alive(a, b)
            if r is not None:
                last = r[1]
                break
            b, c = a, 2 * c
        F = self.F[first:last + 1]
        self.lo += first
        if self.small:
            # keep float32 exact: values within 2^22 of the offset (the window's values
            # lie between its first entry's and its last one's)
            lo_v, hi_v = float(F[0]), float(F[-1])
            if max(-lo_v, hi_v) >= self._EXACT32:
                if hi_v - lo_v < self._EXACT32:
                    F = F - F[-1]
                    self.off += hi_v
                else:
                    F = F.astype(np.float64)
                    self.small = False
        self.F = F
        return True

    def max_bound(self, limit, ae, be):
        N = self.F.shape[0]
        return float(self.bounds(0, N, limit, ae, be).max()) + self.off if N else -math.inf

    def cut(self, size, limit, ae, be):
        """Keep the ``size`` consecutive entries that give up the least; returns the
        largest bound given up."""
        np = self.np
        u = self.bounds(0, self.F.shape[0], limit, ae, be)
        pre = np.concatenate(([-np.inf], np.maximum.accumulate(u)))
        suf = np.concatenate((np.maximum.accumulate(u[::-1])[::-1], [-np.inf]))
        a = np.arange(u.shape[0] - size + 1)
        lost = np.maximum(pre[a], suf[a + size])
        k = int(lost.argmin())
        self.F = self.F[k:k + size]
        self.lo += k
        return float(lost[k]) + self.off


class _Core:
    """The expanding-core search on one large instance (numpy); see :func:`_core_search`."""

    def __init__(self, pk, limit, max_states, deadline):
        np = _np()
        self.np = np
        self.pk, self.limit, self.max_states, self.deadline = pk, limit, max_states, deadline
        n = pk.n
        rows = np.arange(n)
        W, P, valid = pk.W, pk.P, pk.valid
        self.final = None
        last = pk.best
        if float(W[rows, last].sum()) <= limit:        # everything at its best fits
            self.final = (last, True, float(P[rows, last].sum()), None)
            return
        lam, UB, hi_cols = _lagrangian(pk, limit)
        R = P - lam * W                                  # -inf on padding
        rmax = R.max(axis=1)
        UB = min(UB, lam * limit + float(rmax.sum()))
        D = rmax[:, None] - R                            # >= 0, +inf on padding
        Pv = P if valid is None else np.where(valid, P, 0.0)
        pmax = max(abs(float(Pv.max())), abs(float(Pv.min())))
        scale = abs(UB) + 2.0 * lam * limit + float(np.abs(rmax).sum()) + float(np.abs(P[rows, hi_cols]).sum())
        tol = _ptol(scale)
        self.integral = integral = pmax < 4503599627370496.0 and bool((Pv == np.floor(Pv)).all())
        self.need = 1.0 - tol if integral else tol       # what an improvement adds, at least
        self.tol = tol
        # UB: the LP bound, for deficits (profit <= UB - sum d); best: a proven bound on
        # the optimum (rounded down for integer profits; lowered by aspiration rounds)
        self.best_bound = math.floor(UB + tol) if integral else UB
        # base: the LP break solution -- the lightest LP-optimal item of every class,
        # upgraded to heavier LP-optimal items while they fit (first fit)
        wmax = float((W if valid is None else np.where(valid, W, 0.0)).max())
        tied = D <= 1e-11 * (pmax + lam * wmax + 1.0)
        light = np.where(tied, W, np.inf).argmin(axis=1)
        base = light
        resid = limit - float(W[rows, light].sum())
        if resid >= 0:
            heavy = np.where(tied, W, -np.inf).argmax(axis=1)
            up = (heavy != light).nonzero()[0]
            if up.shape[0]:
                wl = W[up, light[up]]
                cs = np.cumsum(W[up, heavy[up]] - wl)
                t = int(cs.searchsorted(resid, side="right"))
                base = light.copy()
                base[up[:t]] = heavy[up[:t]]
                if t < up.shape[0]:                      # the split class: as far as it fits
                    i = int(up[t])
                    room = resid - (float(cs[t - 1]) if t else 0.0)
                    fit = (tied[i] & (W[i] <= room + float(wl[t]))).nonzero()[0]
                    base[i] = int(fit[np.argmax(W[i, fit])])
                    room -= float(W[i, base[i]]) - float(wl[t])
                    gains = (cs[t + 1:] - cs[t:-1]).tolist()
                    for g, i in zip(gains, up[t + 1:].tolist()):
                        if g <= room:
                            base[i] = heavy[i]
                            room -= g
        else:
            base = np.asarray(hi_cols)
        self.base = base
        self.bw = W[rows, base]
        self.bp = P[rows, base]
        # incumbent: the break solution (or the LP's feasible side), greedily repaired
        best = _improve(pk, base if resid >= 0 else hi_cols, limit, max_rounds=4)
        self.best_cols = best
        self.LB = float(P[rows, best].sum())
        self.best_id = None                              # history record of the incumbent
        self.lam, self.UB, self.D = lam, UB, D
        self.lat = None
        self._int_w = None
        self._grads = None
        if integral and self.int_w():
            self.lattice(W, P, valid, rows, rmax, limit)
        if self.best_bound - self.LB <= self.need:
            self.final = (best, True, self.LB, None)
            return
        self.h_par, self.h_combo, self.h_group = [], [], []
        self.h_n = 0
        self.groups = []                  # per merge: [(class, its items: base first), ...]
        self.cap_int = math.floor(limit)
        self.phases = []                  # dense phases: _Dense

    def gradients(self):
        """Every item's gradient against its class's base item, ``(p - pb) / (w - wb)``:
        as ``(up, down)``, the heavier items' (else -inf) and the lighter ones' (else
        +inf); computed once, the pool's orders (``_run``'s ``rebuild``) read them."""
        if self._grads is None:
            np = self.np
            W, P = self.pk.W, self.pk.P
            dw = W - self.bw[:, None]
            with np.errstate(all="ignore"):
                g = (P - self.bp[:, None]) / dw
            self._grads = (np.where(dw > 0, g, -np.inf), np.where(dw < 0, g, np.inf))
        return self._grads

    def int_w(self):
        """Every weight is an integer (and every total below 2^52); computed once."""
        if self._int_w is None:
            np = self.np
            W, valid = self.pk.W, self.pk.valid
            Wv = W if valid is None else np.where(valid, W, 0.0)
            self._int_w = bool(float(Wv.max()) * self.pk.n < 4503599627370496.0
                               and (Wv == np.floor(Wv)).all())
        return self._int_w

    def lattice(self, W, P, valid, rows, rmax, limit):
        """Integer data: a bound on a lattice.  With ``s = floor(lam)`` the values
        ``q = p - s w`` are integers; if the differences of ``q`` within every class have a
        common divisor ``g >= 2``, every choice has ``sum q = r (mod g)`` (``r`` that of
        the base).  For a choice of weight ``W <= C`` (C the integer capacity)
        ``sum p = sum q + s W <= sum q + s C`` and ``sum q = sum (p - lam w) + (lam - s) W
        <= sum rmax - sum d + (lam - s) C``: so ``sum p`` is at most ``s C`` plus the
        largest lattice point below that.  The same holds for a state's gradient bound
        ``u`` when the upward gradient is at least ``s``: the search then fathoms a state
        unless ``u - s * limit`` reaches the first lattice point that would improve on
        the incumbent (``_run``'s ``cutoff``).  Sets ``self.lat = (s, g, r, C)`` and
        lowers ``best_bound``."""
        np = self.np
        s = float(math.floor(self.lam))
        Wv = W if valid is None else np.where(valid, W, 0.0)
        Pv = P if valid is None else np.where(valid, P, 0.0)
        big = 4503599627370496.0 / max(1, Wv.shape[0])
        if s * float(Wv.max()) >= big or float(np.abs(Pv).max()) >= big:
            return
        q = Pv - s * Wv                                  # exact: integers below 2^52 / n
        qb = q[rows, self.base]
        d = q - qb[:, None]
        if valid is not None:
            d = d[valid]
        g = int(np.gcd.reduce(np.abs(d).astype(np.int64).ravel()))
        if g < 2:
            return
        r = int(qb.sum()) % g
        C = math.floor(limit)
        Q = float(rmax.sum()) + (self.lam - s) * C + self.tol
        self.lat = (int(s), g, r, C)
        bound = int(s) * C + r + g * math.floor((Q - r) / g)
        self.best_bound = min(self.best_bound, float(bound))

    def record(self, par, combo):
        """History records of states that left the base items of the current merge group
        by the move ``combo``; returns the first new id (ids are consecutive)."""
        first = self.h_n
        self.h_par.append(par)
        self.h_combo.append(combo)
        self.h_group.append(len(self.groups) - 1)
        self.h_n += par.shape[0]
        return first

    def cols_of(self, rid):
        if rid is None:
            return self.best_cols
        np = self.np
        cols = self.base.copy()
        if isinstance(rid, tuple):
            # a dense entry (phase, merge, weight): follow the winners back to the switch,
            # then the sparse state whose weight the entry carried
            ph, m, a = rid
            phase = self.phases[ph]
            for cls, items, dws, hi_in, chw, cht in reversed(phase.merges[:m + 1]):
                k = int(chw.searchsorted(a))
                if k < chw.shape[0] and int(chw[k]) == a:
                    t = int(cht[k])
                    cols[cls] = int(items[t])
                    a -= dws[t]
                a = min(a, hi_in)
            s = int(np.searchsorted(phase.sw, a, side="right")) - 1
            rid = int(phase.sid[s])
        if rid >= 0:
            offs = np.cumsum([0] + [x.shape[0] for x in self.h_par])
            r = rid
            while r >= 0:
                c = int(offs.searchsorted(r, side="right")) - 1
                k = r - int(offs[c])
                full = int(self.h_combo[c][k]) + 1      # mixed radix; 0 = every class on base
                for cls, items in reversed(self.groups[self.h_group[c]]):
                    full, digit = divmod(full, len(items))
                    cols[cls] = int(items[digit])
                r = int(self.h_par[c][k])
        return cols

    def run(self, floor_, goal, work=None):
        # infinite gradients (no class left to move one way) make some bounds inf - inf:
        # NaN, which compares False, so those states and candidates drop out, as they must
        with self.np.errstate(invalid="ignore", over="ignore"):
            return self._run(floor_, goal, work)

    def _run(self, floor_, goal, work):
        """One search.  States live while their bound exceeds ``max(floor_, LB) + need``;
        every feasible state better than the incumbent ``LB`` becomes the incumbent.
        Stops when a feasible state worth ``goal`` appears ("found"), when no state is
        left ("exhausted"), or at a limit ("states" goes on, dropping the weakest
        states; "time"; "work": the optional budget of state visits).
        Returns ``(status, bound)``: ``bound`` bounds every choice the search gave up
        on (the dropped states; for "time" and "work" also the live ones)."""
        np = self.np
        pk, limit, lam, D = self.pk, self.limit, self.lam, self.D
        W, P, bw, bp, base = pk.W, pk.P, self.bw, self.bp, self.base
        need, UB = self.need, self.UB
        n = pk.n
        ninf, pinf = -np.inf, np.inf
        deadline, max_states = self.deadline, self.max_states
        inpool = np.zeros(n, dtype=bool)

        def level():
            return max(floor_, self.LB)

        lat = self.lat
        latok = [False]
        if lat is not None:
            ls, lg, lr, lc = lat
            lsl = ls * limit

        def cutoff(states=True, lv=None):
            """States (or items, by ``UB - cutoff``) whose bound does not exceed this are
            fathomed: ``level() + need`` (or ``lv + need``: an incumbent worth ``lv``),
            raised to the lattice bound's (see :meth:`lattice`) -- for states only while
            the upward gradient of the bounds (the last :func:`grad`) is at least the
            lattice's slope."""
            lv = max(floor_, self.LB) if lv is None else max(lv, floor_, self.LB)
            if lat is None or not (latok[0] or not states):
                return lv + need
            m = lr - lg * ((lr - (int(lv) + 1 - ls * lc)) // lg)
            return max(lv + need, lsl + m - self.tol)

        GU, GD = self.gradients()

        def rebuild(idx, thr):
            """The pool: classes of ``idx`` with an alive non-base item.  Returns the orders
            (largest upward gradient first; smallest downward one first), each with its
            gradients."""
            al = D[idx] < thr
            cnt = al.sum(axis=1)
            inpool[idx[cnt <= 1]] = False
            sel = cnt > 1
            idx = idx[sel]
            if not idx.shape[0]:
                return [], [], [], []
            al = al[sel]
            a = np.where(al, GU[idx], ninf).max(axis=1)
            b = np.where(al, GD[idx], pinf).min(axis=1)
            inpool[idx] = True
            oa = (-a).argsort(kind="stable")
            oa = oa[a[oa] > ninf]
            ob = b.argsort(kind="stable")
            ob = ob[b[ob] < pinf]
            return idx[oa].tolist(), a[oa].tolist(), idx[ob].tolist(), b[ob].tolist()

        def grad(pa, pb):
            while pa < len(A) and not inpool[A[pa]]:
                pa += 1
            while pb < len(B) and not inpool[B[pb]]:
                pb += 1
            a = AV[pa] if pa < len(A) else ninf
            b = BV[pb] if pb < len(B) else pinf
            ae = min(max(a, 0.0), lam)
            if lat is not None:
                latok[0] = ae >= lat[0]
            return pa, pb, ae, max(b, lam)

        def bound(w, p, ae, be):
            sl = limit - w
            return p + np.where(sl >= 0, ae, be) * sl

        thr = UB - cutoff(False)
        if thr <= 0:
            return "exhausted", ninf
        A, AV, B, BV = rebuild(np.arange(n), thr)
        pa = pb = 0
        last_thr = thr
        w0 = float(bw.sum())
        p0 = float(bp.sum())
        if w0 <= limit and p0 > self.LB:
            self.LB, self.best_id = p0, -1
            if p0 >= goal:
                return "found", ninf
        Sw = np.array([w0])
        Sp = np.array([p0])
        Sid = np.array([-1], dtype=np.int64)
        u = None
        trunc = ninf
        status = "exhausted"
        spent = 0
        turn = 0
        dense = None
        dense_cap = max(_DENSE_MIN, _DENSE_CAP * max_states)
        while True:
            pa, pb, ae, be = grad(pa, pb)
            if dense is not None:
                # dense phase: one class at a time, same order and bounds as below
                if deadline is not None and time.perf_counter() > deadline:
                    status = "time"
                    trunc = max(trunc, dense.max_bound(limit, ae, be))
                    break
                if work is not None and spent > work:
                    status = "work"
                    trunc = max(trunc, dense.max_bound(limit, ae, be))
                    break
                if pa >= len(A) and pb >= len(B):
                    # every class merged (or left with nothing that can pass the cutoff): each
                    # live entry is a whole choice, and best_fit made the best feasible one
                    # the incumbent after the last merge -- nothing is given up here
                    break
                if pb >= len(B) or (pa < len(A) and turn == 0):
                    i = A[pa]
                    turn = 1
                else:
                    i = B[pb]
                    turn = 0
                inpool[i] = False
                lv0 = level()
                thr = UB - cutoff(False)
                pa, pb, ae2, be2 = grad(pa, pb)
                cut0 = cutoff()
                ci = (D[i] < thr).nonzero()[0]
                ci = ci[ci != base[i]]
                if ci.shape[0]:
                    its = np.concatenate(([base[i]], ci))
                    wi, pi = W[i, its], P[i, its]
                    o = np.lexsort((-pi, wi))            # Pareto items (base kept)
                    po = pi[o]
                    keep = np.empty(o.shape[0], dtype=bool)
                    keep[0] = True
                    np.greater(po[1:], np.maximum.accumulate(po)[:-1], out=keep[1:])
                    keep[o == 0] = True
                    sel = keep[o.argsort()][1:].nonzero()[0] + 1
                    if sel.shape[0]:
                        items = its[np.concatenate(([0], sel))]
                        dws = [int(x) for x in (W[i, items] - bw[i]).tolist()]
                        dps = (P[i, items] - bp[i]).tolist()
                        work_d, late = dense.merge(
                            i, items, dws, dps, limit, ae2, be2, cut0, self.cap_int,
                            min(goal, self.best_bound - need), lambda v: cutoff(True, v),
                            deadline)
                        spent += 0.125 * work_d      # an entry costs ~1/8 of a sparse state
                        v, a = dense.best_fit(self.cap_int)
                        if v > self.LB:
                            self.LB = v
                            self.best_id = (len(self.phases) - 1, len(dense.merges) - 1, a)
                            if v >= goal:
                                status = "found"
                                break
                        if late:
                            # part of class i merged: bounded as if still in the pool
                            status = "time"
                            trunc = max(trunc, dense.max_bound(limit, ae, be))
                            break
                if not dense.trim(limit, ae2, be2, cutoff()):
                    break
                if dense.F.shape[0] > dense_cap:
                    trunc = max(trunc, dense.cut(dense_cap, limit, ae2, be2))
                    status = "states"
                if level() > lv0:
                    thr = UB - cutoff(False)
                    if thr <= 0 or self.best_bound - self.LB <= need:
                        break
                    if thr < 0.8 * last_thr:
                        last_thr = thr
                        idx = inpool.nonzero()[0]
                        if idx.shape[0]:
                            A, AV, B, BV = rebuild(idx, thr)
                            pa = pb = 0
                continue
            if u is None:
                u = bound(Sw, Sp, ae, be)
                keep = u > cutoff()
                if not keep.all():
                    Sw, Sp, Sid, u = Sw[keep], Sp[keep], Sid[keep], u[keep]
            if Sw.shape[0] == 0:
                break
            if deadline is not None and time.perf_counter() > deadline:
                status = "time"
                trunc = max(trunc, float(u.max()))
                break
            if work is not None and spent > work:
                status = "work"
                trunc = max(trunc, float(u.max()))
                break
            if pa >= len(A) and pb >= len(B):
                status = "states"                        # not reached (the states would be
                trunc = max(trunc, float(u.max()))       # fathomed); certified either way
                break
            if pb >= len(B) or (pa < len(A) and turn == 0):
                i = A[pa]
                turn = 1
            else:
                i = B[pb]
                turn = 0
            inpool[i] = False
            F = Sw.shape[0]
            spent += F
            lv0 = level()
            thr = UB - cutoff(False)
            # the new classes: one, or -- while the states are few -- several taken in
            # turn, merged at once through the combinations of their alive items
            ci = (D[i] < thr).nonzero()[0]
            its = np.concatenate(([base[i]], ci[ci != base[i]]))
            # the group's combinations (moves from the base), the all-base one first: its
            # own item minus the base's is exactly 0
            dwf = W[i, its] - bw[i]
            dpf = P[i, its] - bp[i]
            group = [(i, its)]
            while len(group) < _GROUP and F * dwf.shape[0] * 2 <= _GROUP_PAIRS:
                pa, pb, _, _ = grad(pa, pb)
                if pa >= len(A) and pb >= len(B):
                    break
                j = A[pa] if (pb >= len(B) or (pa < len(A) and turn == 0)) else B[pb]
                cj = (D[j] < thr).nonzero()[0]
                cj = cj[cj != base[j]]
                if F * dwf.shape[0] * (cj.shape[0] + 1) > _GROUP_PAIRS:
                    break
                inpool[j] = False
                turn = 1 - turn
                its = np.concatenate(([base[j]], cj))
                group.append((j, its))
                # combinations: (all of the group so far, incl. all-base) x (this class's
                # items, base first) (mixed radix, see cols_of)
                dwf = (dwf[:, None] + (W[j, its] - bw[j])[None, :]).ravel()
                dpf = (dpf[:, None] + (P[j, its] - bp[j])[None, :]).ravel()
            dwa, dpa = dwf[1:], dpf[1:]              # without the all-base one
            pa, pb, ae2, be2 = grad(pa, pb)
            self.groups.append(group)
            nco = dwa.shape[0]

            def chain(ids, combo):
                """Records for states that moved by the combinations ``combo``."""
                first = self.record(ids, combo)
                return np.arange(first, first + ids.shape[0])

            # bounds of the states with the gradients left after these classes: a state
            # moved by (dw, dp) is bounded by uA + dp - ae2*dw while it stays within the
            # capacity (the first states, by weight), else by uB + dp - be2*dw
            sl = limit - Sw
            uA = Sp + ae2 * sl
            uB = Sp + be2 * sl
            fcut = int(Sw.searchsorted(limit, side="right"))
            u0 = np.concatenate((uA[:fcut], uB[fcut:]))
            parts = []
            found = False
            timed_out = False
            if nco and nco * F <= _PAIRS:
                # few states: every (move, state) pair at once
                feas = Sw[None, :] <= (limit - dwa)[:, None]
                cu = np.where(feas, uA[None, :] + (dpa - ae2 * dwa)[:, None],
                              uB[None, :] + (dpa - be2 * dwa)[:, None])
                q = (cu > cutoff()).ravel().nonzero()[0]      # move-major: sorted runs
                if q.shape[0]:
                    spent += q.shape[0]
                    it = q // F
                    st = q - it * F
                    cw = Sw[st] + dwa[it]
                    cp = Sp[st] + dpa[it]
                    fm = feas.ravel()[q]
                    if fm.any():
                        pf = np.where(fm, cp, ninf)
                        t = int(pf.argmax())
                        if pf[t] > self.LB:
                            self.LB = float(pf[t])
                            self.best_id = int(chain(Sid[st[t:t + 1]], it[t:t + 1])[0])
                            found = self.LB >= goal
                    parts.append((cw, cp, cu.ravel()[q], Sid[st], it))
            elif nco:
                for t, (dw, dp) in enumerate(zip(dwa.tolist(), dpa.tolist())):
                    if t and t % 64 == 0 and deadline is not None and time.perf_counter() > deadline:
                        timed_out = True
                        break
                    lev = cutoff()
                    cut = int(Sw.searchsorted(limit - dw, side="right"))
                    qa = (uA[:cut] > lev - (dp - ae2 * dw)).nonzero()[0]
                    qb = (uB[cut:] > lev - (dp - be2 * dw)).nonzero()[0]
                    if qb.shape[0]:
                        qb += cut
                        st = np.concatenate((qa, qb)) if qa.shape[0] else qb
                    elif qa.shape[0]:
                        st = qa
                    else:
                        continue
                    spent += st.shape[0]
                    cw = Sw[st] + dw
                    cp = Sp[st] + dp
                    na = qa.shape[0]
                    # the heaviest candidate within the capacity is the most profitable one
                    if na and cp[na - 1] > self.LB:
                        self.LB = float(cp[na - 1])
                        self.best_id = int(chain(Sid[st[na - 1:na]], np.array([t]))[0])
                        if self.LB >= goal:
                            found = True
                            break
                    cu = np.concatenate((uA[qa] + (dp - ae2 * dw), uB[st[na:]] + (dp - be2 * dw)))
                    parts.append((cw, cp, cu, Sid[st], np.full(st.shape[0], t)))
            if found:
                status = "found"
                break
            if timed_out:
                for j, _ in group:                       # not merged: u (above) still holds
                    inpool[j] = True
                status = "time"
                trunc = max(trunc, float(u.max()))
                break
            if parts:
                Mw = np.concatenate([Sw] + [x[0] for x in parts])
                F0 = F
                # states and each move's candidates are sorted runs: a stable sort merges them
                o = Mw.argsort(kind="stable")
                Mw = Mw[o]
                Mp = np.concatenate([Sp] + [x[1] for x in parts])[o]
                # Pareto: strictly more profitable than everything lighter; one state per weight
                run = np.maximum.accumulate(Mp)
                keep = np.empty(Mw.shape[0], dtype=bool)
                keep[0] = True
                np.greater(Mp[1:], run[:-1], out=keep[1:])
                Mu = np.concatenate([u0] + [x[2] for x in parts])[o]
                keep &= Mu > cutoff()
                idx = keep.nonzero()[0]
                wk = Mw[idx]
                dup = wk[:-1] == wk[1:]
                if dup.any():
                    idx = idx[np.append(~dup, True)]
                src = o[idx]
                Sw, Sp, u = Mw[idx], Mp[idx], Mu[idx]
                ids = np.concatenate([Sid] + [x[3] for x in parts])[src]
                nsel = (src >= F0).nonzero()[0]
                if nsel.shape[0]:
                    combo = np.concatenate([x[4] for x in parts])[src[nsel] - F0]
                    ids[nsel] = chain(ids[nsel], combo)
                Sid = ids
            else:
                keep = u0 > cutoff()
                if keep.all():
                    u = u0
                else:
                    Sw, Sp, Sid, u = Sw[keep], Sp[keep], Sid[keep], u0[keep]
            if Sw.shape[0] > max_states:
                top = np.argpartition(-u, max_states - 1)[:max_states]
                mask = np.zeros(Sw.shape[0], dtype=bool)
                mask[top] = True
                trunc = max(trunc, float(u[~mask].max()))
                status = "states"
                Sw, Sp, Sid, u = Sw[mask], Sp[mask], Sid[mask], u[mask]
            if Sw.shape[0] >= _DENSE_MIN and nco and self.int_w():
                # go dense when the next merge looks cheaper over the weight window (per
                # entry and item a shifted maximum, ~1.5 ns, per item ~4 us) than over the
                # states (per state and item a bound test, ~2.5 ns, per candidate ~40 ns,
                # per item ~8 us when tested one at a time), counting the candidates of
                # the next class's items (bounded with these gradients)
                pa, pb, _, _ = grad(pa, pb)
                if pa < len(A) or pb < len(B):
                    j = A[pa] if (pb >= len(B) or (pa < len(A) and turn == 0)) else B[pb]
                    cj = (D[j] < thr).nonzero()[0]
                    cj = cj[cj != base[j]]
                    dwn = W[j, cj] - bw[j]
                    sh = (P[j, cj] - bp[j]) - np.where(dwn > 0, ae2, be2) * dwn
                    span = float(Sw[-1] - Sw[0]) + 1.0
                    th = cutoff() - sh
                    F1 = Sw.shape[0]
                    cnt = F1 - np.searchsorted(np.sort(u), th, side="right")
                    # a dense merge applies an item from its first to its last state
                    # that can afford it (by weight)
                    first = np.searchsorted(np.maximum.accumulate(u), th, side="right")
                    last = F1 - 1 - np.searchsorted(np.maximum.accumulate(u[::-1]), th,
                                                    side="right")
                    ok = first <= last
                    hull = float((Sw[last[ok]] - Sw[first[ok]]).sum()) + ok.sum()
                    k = cj.shape[0]
                    if span < dense_cap and (
                            _DENSE_COST * (5.0 * span + 1.5 * hull + 4000.0 * ok.sum())
                            < 2.5 * F1 * k + 40.0 * float(cnt.sum())
                            + (8000.0 * k if F1 * k > _PAIRS else 0.0)):
                        # ... and no class left moves the weight by more than the window
                        # may hold (the window grows by a class's range before its trim)
                        idx = inpool.nonzero()[0]
                        al = D[idx] < thr
                        wr = (np.where(al, W[idx], -np.inf).max(axis=1)
                              - np.where(al, W[idx], np.inf).min(axis=1))
                        if float(wr.max(initial=0.0)) + span < dense_cap:
                            dense = _Dense(np, Sw, Sp, Sid, self.integral)
                            self.phases.append(dense)
            if level() > lv0:
                thr = UB - cutoff(False)
                if thr <= 0 or self.best_bound - self.LB <= need:
                    break
                if thr < 0.8 * last_thr:
                    last_thr = thr
                    idx = inpool.nonzero()[0]
                    if idx.shape[0]:
                        A, AV, B, BV = rebuild(idx, thr)
                        pa = pb = 0
                    u = None
        return status, trunc


#: Work budget (state visits) of the aspiration round of :func:`_core_search`.
_ASPIRE_WORK = 400_000
#: Real-valued profits: the first deficit round of :func:`_core_search` looks for a choice
#: within this share of the gap ``UB - LB`` below ``UB``; each further round widens it by
#: :data:`_ROUND_GROW`.  Each round has the work budget :data:`_ROUND_WORK`.
_ROUND_START = 1.0 / 16.0
_ROUND_GROW = 4.0
_ROUND_WORK = 400_000


def _core_search(pk, limit, max_states, deadline):
    """Exact search on a large instance (numpy).

    Returns ``(cols, optimal, bound, stopped_by)``: ``cols`` the best choice
    found (a column per class), ``bound`` a certified upper bound on every
    feasible profit, ``stopped_by`` None or the limit that stopped the search.

    1. LP relaxation (:func:`_lagrangian`): multiplier ``lam``, bound ``UB``
       (rounded down when every profit is an integer).  The *base* choice is
       the LP break solution: the lightest LP-optimal item of every class,
       upgraded to heavier LP-optimal items while they fit (first fit).  The
       incumbent ``LB`` is the base, greedily repaired.
    2. Deficits ``d_ij = max_j' r_ij' - r_ij >= 0`` with ``r = p - lam w``: every
       choice has profit ``<= UB - sum d``, so an item with ``d >= UB - LB`` is
       in no better choice; a class left with its base item only is fixed.
       Repeated on the classes outside the core whenever ``LB`` improves enough.
    3. States are whole choices: the classes of the *core* vary, every other
       class sits on its base item.  A state ``(w, p)`` is bounded with the
       gradients of the free classes outside the core -- ``alpha`` the best
       profit per weight of moving one of them to a heavier item, ``beta`` the
       least profit lost per weight of moving one to a lighter item (``alpha <=
       lam <= beta``): ``u = p + alpha (C - w)`` if ``w <= C`` else
       ``p - beta (w - C)``.  States whose ``u`` does not beat ``LB`` by what an
       improvement must add (1 for integer profits, else round-off) are
       fathomed; dominated states (not lighter, not more profitable) dropped.
    4. The core grows by one class at a time, taken alternately from the two
       gradient orders (largest ``alpha`` first; smallest ``beta`` first), so
       ``alpha`` falls and ``beta`` rises as fast as possible.
       Moving a state to item ``j`` of the new class lowers its ``lam``-bound
       by exactly ``d_ij``, so only states that can afford it are combined
       with ``j``; the others pass through unchanged.  No state left: the
       incumbent is optimal.
    5. Integer profits: an *aspiration* round first looks only for a choice
       worth ``UB`` itself (so only states without deficit live: a subset-sum
       over the LP-optimal moves), with a small work budget.  Found: optimal.
       Exhausted: ``UB`` drops by one.  Out of budget: nothing learned.
       Real-valued profits: *deficit rounds* instead.  A round keeps only the states
       whose bound exceeds ``floor = UB - t`` (``t`` a sixteenth of the gap ``UB - LB``
       at first, four times wider each round), so few classes have an item that can
       enter and the core stays small.  Exhausted with ``LB >= floor``: every choice
       better than ``LB`` would have been kept, so ``LB`` is optimal.  Exhausted below
       the floor: no choice is worth more than ``floor`` (+ round-off), which becomes
       the bound ``UB``, and the next round is wider.  Out of budget (or states):
       the full search.  On the paper's pricing shapes a round proves the incumbent
       on about two thirds of the 100 x 100 instances (half of the 100 x 10 ones):
       ~0.7 x the full search's time.
    6. Limits: beyond ``max_states`` live states the ones with the lowest
       bounds are dropped (their best bound is kept; the search goes on and
       may still improve the incumbent); past ``deadline`` it stops.  The
       certified bound is then the largest bound of anything given up.
    7. Integer data: the lattice bound (:meth:`_Core.lattice`) lowers ``UB``
       and raises the level states must beat.  Integer weights: once the
       states crowd their weight window the search goes on over a dense array
       of the window (:class:`_Dense`), same order, bounds and limits (the
       window holds at most ``4 * max_states`` entries).

    A state remembers its choices through a record ``(parent, class, item)``
    made only when a class leaves its base item, so memory grows with the
    states that changed, not with every state at every step.
    """
    core = _Core(pk, limit, max_states, deadline)
    if core.final is not None:
        return core.final
    if core.integral:
        if core.best_bound - core.LB >= 2:
            # aspiration (5. above): a choice worth the bound itself
            goal = core.best_bound
            status, _ = core.run(goal - 1.0, goal, _ASPIRE_WORK)
            if status == "found":
                return core.cols_of(core.best_id), True, core.LB, None
            if status == "exhausted":
                core.best_bound = goal - 1.0             # no choice is worth goal
    else:
        # deficit rounds (5. above): a proof among the choices near the bound, cheaply (a
        # round that leaves the gap within round-off is caught by the check below)
        t = (core.best_bound - core.LB) * _ROUND_START
        while t < core.best_bound - core.LB:
            floor_ = core.best_bound - t
            status, _ = core.run(floor_, math.inf, _ROUND_WORK)
            if status != "exhausted":
                break
            if core.LB >= floor_:
                return core.cols_of(core.best_id), True, core.LB, None
            # (a floor within round-off of the bound ends a round at once: keep the lower bound)
            core.best_bound = min(core.best_bound, floor_ + core.need)
            t *= _ROUND_GROW
    if core.best_bound - core.LB <= core.need:
        return core.cols_of(core.best_id), True, core.LB, None
    status, trunc = core.run(-math.inf, math.inf)
    cols = core.cols_of(core.best_id)
    LB, need = core.LB, core.need
    if status == "exhausted" or trunc <= LB + need or core.best_bound - LB <= need:
        return cols, True, LB, None
    bnd = min(core.best_bound, max(LB, trunc))
    if core.integral:
        bnd = max(LB, math.floor(bnd + core.tol))
    return cols, bnd <= LB + need, bnd, status


def solve_exact(weights, profits, capacity, max_frontier=DEFAULT_MAX_STATES,
                max_seconds=DEFAULT_MAX_SECONDS):
    """Exact MCKP (see the module docstring for the feasibility tolerance).

    Small instances (at most ``_SMALL_ITEMS`` items, plain Python numbers)
    are solved in plain Python by :func:`_py_exact`; the others -- and small
    ones whose search outgrows its budget -- by the vectorised expanding-core
    search :func:`_core_search` (the algorithm, and why it is exact, is
    described there and in ``docs/solver.md``).

    ``max_frontier`` caps the live states of the search and ``max_seconds``
    its running time (None: no limit).  When a limit stops the search before
    optimality is proven, the result holds the best solution found,
    ``optimal=False``, a certified ``gap`` (``profit + gap`` bounds every
    feasible profit) and ``stopped_by`` = ``"states"`` or ``"time"``.

    Raises :class:`Infeasible` if even the lightest choice does not fit.
    """
    ws, ps, cap, small = _prepare(weights, profits, capacity)
    _check_feasible(ws, cap, small)
    if max_frontier < 1:
        raise InvalidParameter("max_frontier must be >= 1, got %r" % (max_frontier,))
    deadline = None if max_seconds is None else time.perf_counter() + float(max_seconds)
    limit = capacity_limit(cap)
    if small:
        choice = _py_exact(ws, ps, limit, int(max_frontier))
        if choice is not None:
            weight, profit = _totals(ws, ps, choice)
            return Solution(choice=choice, profit=profit, weight=weight, optimal=True, gap=0.0)
        ws, ps = _mat_of_rows(ws, ps), None
    pk = _Packed(ws)
    cols, optimal, ub, stopped = _core_search(pk, limit, int(max_frontier), deadline)
    choice = [int(j) for j in cols]
    weight, profit = _totals(ws, ps, choice)
    if optimal:
        return Solution(choice=choice, profit=profit, weight=weight, optimal=True, gap=0.0)
    return Solution(choice=choice, profit=profit, weight=weight, optimal=False,
                    gap=max(0.0, float(ub) - profit), stopped_by=stopped)


def _mat_of_rows(ws, ps):
    """Rows of plain floats (possibly ragged) as a :class:`_Mat`."""
    np = _np()
    sizes = [len(w) for w in ws]
    n, m = len(ws), max(sizes)
    if min(sizes) == m:
        return _Mat(np.array(ws, dtype=np.float64), np.array(ps, dtype=np.float64))
    valid = np.arange(m)[None, :] < np.array(sizes)[:, None]
    W = np.zeros((n, m))
    P = np.full((n, m), -np.inf)
    W[valid] = np.concatenate([np.asarray(w, dtype=np.float64) for w in ws])
    P[valid] = np.concatenate([np.asarray(p, dtype=np.float64) for p in ps])
    return _Mat(W, P, valid)


def solve(weights, profits, capacity, method="exact"):
    """Solve with ``method`` = ``"exact"`` (default) or ``"greedy"``."""
    if method == "exact":
        return solve_exact(weights, profits, capacity)
    if method == "greedy":
        return solve_greedy(weights, profits, capacity)
    raise InvalidParameter("unknown MCKP method %r (expected 'exact' or 'greedy')" % (method,))
