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
best *tie* the incumbent up to that round-off tolerance).  (A choice whose
total lands within summation round-off of the limit itself may exceed it by
that round-off.)

Solvers
-------
:func:`solve_greedy`
    Algorithm 5.1 of the nyop paper, exactly (a trace is returned): start
    every class at item 0, sort incremental efficiencies, take them while
    they fit.  Fast, not optimal.
:func:`solve_exact`
    Lagrangian/LP bound + repair heuristic + variable reduction + Pareto
    frontier dynamic programming (meet in the middle) with bounding, run
    with a growing deficit threshold.  Exact; if a frontier grows
    beyond ``max_frontier`` it stops and returns its incumbent with a
    certified gap instead of running away (it never hangs inside a backend).
:func:`lp_bound`
    The LP relaxation value (``= min_lambda L(lambda)``), an upper bound on
    every feasible profit.

Only numpy is needed; the module does no work at import time, so it loads
fast inside PL/Python.
"""

from dataclasses import dataclass, field
from decimal import Decimal
import numbers

import numpy as np

from nyop_server.errors import InvalidParameter, NyopError

__all__ = [
    "Infeasible", "Solution", "validate", "solve", "solve_greedy",
    "solve_exact", "lp_bound", "random_pricing_instance",
    "FEAS_REL", "FEAS_ABS", "capacity_limit",
]

#: Relative feasibility slack on the capacity (see module docstring).
FEAS_REL = 1e-12
#: Absolute feasibility slack on the capacity (see module docstring).
FEAS_ABS = 1e-9
# Relative tolerance for comparing profits (bounds vs. incumbent).
_PROFIT_RTOL = 1e-12
# Inputs whose full enumeration is at most this big skip the bounding
# machinery and go straight to the frontier merge (no reduction needed).
_TINY_PRODUCT = 5000
# Above this many outer-product candidates a merge stage works item by item
# (bounded memory) instead of materialising the whole frontier x items grid.
_OUTER_LIMIT = 1 << 16
# Deficit-threshold schedule of the exact search (see _solve_packed): start at
# this fraction of the initial gap, grow by this factor per round.
_T_START = 1.0 / 16.0
_T_GROW = 4.0


class Infeasible(NyopError):
    """Even the lightest choice (lightest item of every class) exceeds the capacity."""

    sqlstate = "22023"


@dataclass
class Solution:
    """Result of a solver.

    ``choice[i]`` is the 0-based index (into the caller's class ``i``) of the
    chosen item.  ``profit``/``weight`` are the totals of that choice.
    ``optimal`` is True only when optimality is proven; ``gap`` is a certified
    upper bound minus ``profit`` (0 when optimal).  ``steps`` is the greedy
    trace ``(class, item, residual capacity after)``; empty for other solvers.
    """

    choice: list
    profit: float
    weight: float
    optimal: bool
    gap: float
    steps: list = field(default_factory=list)


def capacity_limit(capacity):
    """The largest total weight treated as feasible for ``capacity``."""
    return capacity * (1.0 + FEAS_REL) + FEAS_ABS


def _ptol(value):
    return _PROFIT_RTOL * (1.0 + abs(value))


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

def _is_number(x):
    return (isinstance(x, (numbers.Real, Decimal, np.number))
            and not isinstance(x, (bool, np.bool_, complex, np.complexfloating)))


def _row_to_float(row, what, i):
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


def _rows(x, what):
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
    return [_row_to_float(r, what, i) for i, r in enumerate(seq)]


def _validate_capacity(capacity):
    if isinstance(capacity, np.ndarray) and capacity.ndim == 0:
        capacity = capacity[()]
    if not _is_number(capacity):
        raise InvalidParameter("capacity must be a number, got %r" % (capacity,))
    c = float(capacity)
    if not np.isfinite(c):
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
    cap = _validate_capacity(capacity)
    wr = _rows(weights, "weights")
    pr = _rows(profits, "profits")
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
        w, p = _check_class(i, w, p)
        out_w.append(w)
        out_p.append(p)
    return out_w, out_p, cap


def _check_class(i, w, p):
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


def _check_feasible(ws, cap):
    minw = float(sum(float(w.min()) for w in ws))
    if minw > capacity_limit(cap):
        raise Infeasible(
            "infeasible: the lightest choice (cheapest item of every class) has total weight "
            "%.10g, which exceeds the capacity %.10g" % (minw, cap),
            detail="minimum total weight %r, capacity %r" % (minw, cap))


# --------------------------------------------------------------------------
# packed representation
# --------------------------------------------------------------------------

class _Packed:
    """Per-class undominated items, padded to an ``n x k`` matrix.

    Rows are sorted by weight with weight *and* profit strictly increasing
    (dominated items removed: an item is dominated if another has weight <=
    and profit >= it).  Padding has weight 0 and profit -inf so that
    ``P - lam*W`` is ``-inf`` there for every ``lam >= 0`` (no NaN).
    ``idx`` maps back to the caller's item index.
    """

    __slots__ = ("W", "P", "idx", "k", "valid", "n")

    def __init__(self, ws, ps):
        n = len(ws)
        sizes = np.fromiter((w.shape[0] for w in ws), dtype=np.int64, count=n)
        m = int(sizes.max())
        if (sizes == m).all():
            W = np.array(ws, dtype=np.float64)
            P = np.array(ps, dtype=np.float64)
            valid = np.ones((n, m), dtype=bool)
        else:
            W = np.full((n, m), np.inf)
            P = np.full((n, m), -np.inf)
            valid = np.arange(m)[None, :] < sizes[:, None]
            W[valid] = np.concatenate(ws)
            P[valid] = np.concatenate(ps)
        rows = np.arange(n)[:, None]
        # sort each row by (weight asc, profit desc); padding (w=inf) last
        o1 = np.argsort(-P, axis=1, kind="stable")
        o2 = np.argsort(W[rows, o1], axis=1, kind="stable")
        order = o1[rows, o2]
        W = W[rows, order]
        P = P[rows, order]
        valid = valid[rows, order]
        # keep strictly increasing profit along the row
        keep = valid.copy()
        if m > 1:
            run = np.maximum.accumulate(P, axis=1)
            keep[:, 1:] &= P[:, 1:] > run[:, :-1]
        k = keep.sum(axis=1)
        kmax = int(k.max())
        if kmax == m and keep.all():
            self.W, self.P, self.idx = W, P, order
            self.valid = keep
        else:
            col = np.cumsum(keep, axis=1) - 1
            r, c = np.nonzero(keep)
            cc = col[r, c]
            self.W = np.zeros((n, kmax))
            self.P = np.full((n, kmax), -np.inf)
            self.idx = np.zeros((n, kmax), dtype=np.int64)
            self.W[r, cc] = W[r, c]
            self.P[r, cc] = P[r, c]
            self.idx[r, cc] = order[r, c]
            self.valid = np.arange(kmax)[None, :] < k[:, None]
        self.k = k
        self.n = n


def _totals(ws, ps, choice):
    w = float(sum(float(ws[i][j]) for i, j in enumerate(choice)))
    p = float(sum(float(ps[i][j]) for i, j in enumerate(choice)))
    return w, p


# --------------------------------------------------------------------------
# Lagrangian / LP bound
# --------------------------------------------------------------------------

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
    n = pk.n
    rows = np.arange(n)
    W, P = pk.W, pk.P
    # lam = 0: the most profitable (= heaviest undominated) item everywhere
    last = pk.k - 1
    W_lo = float(W[rows, last].sum())
    P_lo = float(P[rows, last].sum())
    zero = np.zeros(n, dtype=np.int64)
    W_hi = float(W[:, 0].sum())
    P_hi = float(P[:, 0].sum())
    hi_cols = zero
    if W_lo <= limit:
        return 0.0, P_lo, last
    best_ub, best_lam = np.inf, 0.0
    for _ in range(200):
        lam = (P_lo - P_hi) / (W_lo - W_hi)
        if not np.isfinite(lam) or lam < 0:
            lam = max(0.0, lam) if np.isfinite(lam) else 0.0
        R = P - lam * W
        cols = R.argmax(axis=1)
        rmax = R[rows, cols]
        ub = lam * limit + float(rmax.sum())
        if ub < best_ub:
            best_ub, best_lam = ub, lam
        line = P_hi + lam * (limit - W_hi)
        Wc = float(W[rows, cols].sum())
        Pc = float(P[rows, cols].sum())
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
    ws, ps, cap = validate(weights, profits, capacity)
    _check_feasible(ws, cap)
    pk = _Packed(ws, ps)
    return float(_lagrangian(pk, capacity_limit(cap))[1])


# --------------------------------------------------------------------------
# heuristics
# --------------------------------------------------------------------------

def _improve(pk, cols, limit, max_rounds=None):
    """Greedy repair: repeatedly move one class to the item with the largest
    profit gain that still fits, until no move improves.  Vectorised over the
    padded matrix; at most ``max_rounds`` (default ``2n``) moves."""
    n = pk.n
    rows = np.arange(n)
    cols = np.array(cols, dtype=np.int64)
    W, P = pk.W, pk.P
    cw = W[rows, cols]
    cp = P[rows, cols]
    resid = limit - float(cw.sum())
    rounds = 2 * n if max_rounds is None else max_rounds
    for _ in range(rounds):
        gain = P - cp[:, None]
        ok = (W - cw[:, None]) <= resid
        gain = np.where(ok, gain, -np.inf)
        f = int(gain.argmax())
        i, j = divmod(f, gain.shape[1])
        if not gain[i, j] > 0:
            break
        resid -= W[i, j] - cw[i]
        cols[i] = j
        cw[i] = W[i, j]
        cp[i] = P[i, j]
    return cols


# --------------------------------------------------------------------------
# greedy (paper, Algorithm 5.1)
# --------------------------------------------------------------------------

def solve_greedy(weights, profits, capacity):
    """The paper's Algorithm 5.1, verbatim, with its trace.

    Items of each class are taken in the given (level) order: every class
    starts at item 0 (the minimum admissible level), the residual capacity is
    ``c = C - sum_i w_i0``.  The incremental items
    ``e_ij = (p_ij - p_i,j-1) / (w_ij - w_i,j-1)`` (j >= 1; a zero weight
    step counts as +inf if the profit step is > 0, -inf if < 0, 0 if both are
    0) are sorted descending (stable: ties by class, then item) and scanned
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
    ws, ps, cap = validate(weights, profits, capacity)
    _check_feasible(ws, cap)
    n = len(ws)
    slack = capacity_limit(cap) - cap
    cbar = cap - float(sum(float(w[0]) for w in ws))
    ci, cj, eff, dws = [], [], [], []
    for i, (w, p) in enumerate(zip(ws, ps)):
        m = w.shape[0]
        if m < 2:
            continue
        dw = np.diff(w)
        dp = np.diff(p)
        with np.errstate(all="ignore"):
            e = dp / dw
        z = dw == 0
        if z.any():
            e[z] = np.where(dp[z] > 0, np.inf, np.where(dp[z] < 0, -np.inf, 0.0))
        ci.append(np.full(m - 1, i, dtype=np.int64))
        cj.append(np.arange(1, m, dtype=np.int64))
        eff.append(e)
        dws.append(dw)
    level = [0] * n
    steps = []
    if eff:
        ci = np.concatenate(ci)
        cj = np.concatenate(cj)
        eff = np.concatenate(eff)
        dws = np.concatenate(dws)
        order = np.lexsort((cj, ci, -eff))
        for i, j, dw in zip(ci[order].tolist(), cj[order].tolist(), dws[order].tolist()):
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
    ub = float(_lagrangian(_Packed(ws, ps), capacity_limit(cap))[1])
    gap = max(0.0, ub - profit)
    optimal = gap <= _ptol(ub)
    return Solution(choice=level, profit=profit, weight=weight, optimal=optimal,
                    gap=0.0 if optimal else gap, steps=steps)


# --------------------------------------------------------------------------
# exact
# --------------------------------------------------------------------------

def _merge(fw, fp, fd, cw, cp, cd, wmax, dmax, budget):
    """Merge a Pareto frontier with one class.

    States are (weight, profit, deficit); candidates are all state+item
    pairs with ``weight <= wmax`` and ``deficit < dmax``; the result is the
    Pareto set (sorted by weight, strictly increasing profit) with parent
    and item indices.  Returns None if more than ``budget`` candidates
    survive the pruning (caller treats that as the frontier cap).
    """
    F, k = fw.shape[0], cw.shape[0]
    if F * k <= _OUTER_LIMIT:
        W = (fw[:, None] + cw[None, :]).ravel()
        D = (fd[:, None] + cd[None, :]).ravel()
        sel = np.flatnonzero((W <= wmax) & (D < dmax))
        if sel.shape[0] > budget:
            return None
        W = W[sel]
        D = D[sel]
        P = (fp[:, None] + cp[None, :]).ravel()[sel]
        par, item = np.divmod(sel, k)
    else:
        # bounded memory: one slice per item (or per state, if fewer states)
        pw, pp, pd, ppar, pit = [], [], [], [], []
        total = 0
        by_item = k <= F
        for j in range(k if by_item else F):
            if by_item:
                s = np.flatnonzero((fw <= wmax - cw[j]) & (fd < dmax - cd[j]))
            else:
                s = np.flatnonzero((cw <= wmax - fw[j]) & (cd < dmax - fd[j]))
            if s.shape[0] == 0:
                continue
            total += s.shape[0]
            if total > budget:
                return None
            if by_item:
                pw.append(fw[s] + cw[j])
                pp.append(fp[s] + cp[j])
                pd.append(fd[s] + cd[j])
                ppar.append(s)
                pit.append(np.full(s.shape[0], j, dtype=np.int64))
            else:
                pw.append(cw[s] + fw[j])
                pp.append(cp[s] + fp[j])
                pd.append(cd[s] + fd[j])
                ppar.append(np.full(s.shape[0], j, dtype=np.int64))
                pit.append(s)
        if not pw:
            e = np.zeros(0)
            ei = np.zeros(0, dtype=np.int64)
            return e, e, e, ei, ei
        W = np.concatenate(pw)
        P = np.concatenate(pp)
        D = np.concatenate(pd)
        par = np.concatenate(ppar)
        item = np.concatenate(pit)
    if W.shape[0] == 0:
        return W, P, D, par, item
    o = np.argsort(W, kind="stable")
    W = W[o]
    P = P[o]
    keep = np.empty(W.shape[0], dtype=bool)
    keep[0] = True
    if W.shape[0] > 1:
        run = np.maximum.accumulate(P)
        keep[1:] = P[1:] > run[:-1]
        o = o[keep]
        W = W[keep]
        P = P[keep]
    return W, P, D[o], par[o], item[o]


def _frontier(items, start, wmax, dmax, max_frontier):
    """Pareto frontier of the classes in ``items``, merged one by one.

    ``start`` is the initial state ``(w, p, d)``; after merging stage ``s``
    states must satisfy ``w <= wmax[s]`` and ``d < dmax``.  Returns
    ``(fw, fp, fd, trace)``, or ``(None, min_live_deficit)`` when the cap is
    hit (the live states then certify the bound, see :func:`_dp`).
    """
    fw = np.array([start[0]])
    fp = np.array([start[1]])
    fd = np.array([start[2]])
    trace = []
    budget = max(8 * max_frontier, _OUTER_LIMIT)
    for s, (_, _, cw, cp, cd) in enumerate(items):
        res = _merge(fw, fp, fd, cw, cp, cd, wmax[s], dmax, budget)
        if res is None or res[0].shape[0] > max_frontier:
            return None, float(fd.min())
        fw, fp, fd, par, item = res
        if fw.shape[0] == 0:
            return fw, fp, fd, trace
        trace.append((par, item))
    return fw, fp, fd, trace


def _backtrack(cols, items, trace, b):
    for s in range(len(trace) - 1, -1, -1):
        par, item = trace[s]
        cols[items[s][0]] = items[s][1][item[b]]
        b = int(par[b])


def _dp(pk, D, dmax, limit, max_frontier):
    """Best choice among those with total deficit ``< dmax`` (exact for that set).

    Only items with ``D < dmax`` take part; classes left with one item are
    fixed.  The free classes are split into two halves (meet in the middle):
    each half gets its own Pareto frontier (pruned on deficit and on the
    lightest completion), and the halves are joined with one binary search
    per state -- along a frontier profit increases with weight, so the best
    partner of a state is the heaviest one that still fits.  This is exact
    for the set: a choice with deficit ``< dmax`` has both half-deficits
    ``< dmax``, and a Pareto state dominating a half never has a larger
    deficit.  Returns ``(cols, profit, capped, min_live_deficit)``; ``cols``
    is None when no such choice fits.
    """
    W, P = pk.W, pk.P
    keep = pk.valid & (D < dmax)
    kc = keep.sum(axis=1)
    if (kc == 0).any():
        return None, -np.inf, False, 0.0
    fixed = kc == 1
    fcols = keep.argmax(axis=1)
    if fixed.any():
        fr = np.flatnonzero(fixed)
        fc = fcols[fr]
        fw0 = float(W[fr, fc].sum())
        fp0 = float(P[fr, fc].sum())
        fd0 = float(D[fr, fc].sum())
    else:
        fw0 = fp0 = fd0 = 0.0
    free = np.flatnonzero(~fixed)
    if free.shape[0] == 0:
        if fw0 <= limit and fd0 < dmax:
            return fcols, fp0, False, 0.0
        return None, -np.inf, False, 0.0
    free = free[np.argsort(kc[free], kind="stable")]
    items = []
    for i in free.tolist():
        c = np.flatnonzero(keep[i])
        items.append((i, c, W[i, c], P[i, c], D[i, c]))
    A, B = items[0::2], items[1::2]
    # lightest weight of each class (rows are sorted by weight)
    minA = np.array([float(it[2][0]) for it in A])
    minB = np.array([float(it[2][0]) for it in B])
    sumB = float(minB.sum())
    # after stage s a state must leave room for the lightest rest of its half
    # and for the lightest choice of the other half (+ the fixed classes)
    restA = np.append(np.cumsum(minA[::-1])[::-1][1:], 0.0)
    restB = np.append(np.cumsum(minB[::-1])[::-1][1:], 0.0)
    ra = _frontier(A, (fw0, fp0, fd0), limit - sumB - restA, dmax, max_frontier)
    if ra[0] is None:
        return None, -np.inf, True, ra[1]
    aw, ap, ad, atrace = ra
    if aw.shape[0] == 0:
        return None, -np.inf, False, 0.0
    rb = _frontier(B, (0.0, 0.0, 0.0), limit - float(aw[0]) - restB, dmax - float(ad.min()),
                   max_frontier)
    if rb[0] is None:
        return None, -np.inf, True, float(ad.min()) + rb[1]
    bw, bp, _, btrace = rb
    if bw.shape[0] == 0:
        return None, -np.inf, False, 0.0
    pos = np.searchsorted(aw, limit - bw, side="right") - 1
    ok = pos >= 0
    if not ok.any():
        return None, -np.inf, False, 0.0
    tot = np.where(ok, bp + ap[np.maximum(pos, 0)], -np.inf)
    jb = int(tot.argmax())
    ja = int(pos[jb])
    cols = fcols.copy()
    _backtrack(cols, A, atrace, ja)
    _backtrack(cols, B, btrace, jb)
    return cols, float(tot[jb]), False, 0.0


def _solve_packed(pk, limit, max_frontier):
    """Exact search on a packed instance.  Returns ``(cols, optimal, ub)``.

    Every choice has profit ``UB - D - lam*slack <= UB - D`` where ``D`` is its
    total Lagrangian deficit.  So the best choice with ``D < t`` found by
    :func:`_dp`, if its profit is ``>= UB - t``, is optimal overall.  We start
    with a small threshold ``t`` (cheap: the number of states grows very fast
    with ``t``) and enlarge it until that certificate holds; once
    ``t >= UB - LB`` the round is the plain exact search with incumbent
    pruning, so the loop always ends with a proof (or the frontier cap).
    """
    n = pk.n
    rows = np.arange(n)
    W, P = pk.W, pk.P
    last = pk.k - 1
    if float(W[rows, last].sum()) <= limit:        # everything at its best fits
        return last, True, float(P[rows, last].sum())
    prod = 1.0
    for kk in pk.k.tolist():
        prod *= kk
        if prod > _TINY_PRODUCT:
            break
    if prod <= _TINY_PRODUCT:
        # tiny: plain frontier merge, no bounds needed
        cols, profit, capped, _ = _dp(pk, np.zeros_like(W), 1.0, limit, max_frontier)
        if not capped and cols is not None:
            return cols, True, profit
        # capped (or round-off at the very limit): the lightest items fit
        best = _improve(pk, np.zeros(n, dtype=np.int64), limit)
        return best, False, _lagrangian(pk, limit)[1]
    lam, UB, hi_cols = _lagrangian(pk, limit)
    best = _improve(pk, hi_cols, limit)
    LB = float(P[rows, best].sum())
    R = P - lam * W
    rmax = R.max(axis=1)
    UB = min(UB, lam * limit + float(rmax.sum()))
    D = rmax[:, None] - R          # >= 0, +inf on padding
    # round-off scale of profit sums and of the reduced profits p - lam*w
    scale = abs(UB) + lam * limit + float(np.abs(np.where(pk.valid, P, 0.0)).max(axis=1).sum())
    tol = _ptol(scale)
    t = (UB - LB) * _T_START
    while True:
        gap = UB - LB
        if gap <= tol:
            return best, True, UB
        full = t >= gap
        dmax = (gap if full else t) - tol
        cols, profit, capped, dlive = _dp(pk, D, dmax, limit, max_frontier)
        if capped:
            return best, False, min(UB, max(LB, UB - dlive))
        if cols is not None and profit > LB:
            best, LB = cols, profit
        if full or LB >= UB - dmax - tol:
            return best, True, UB
        t *= _T_GROW


def solve_exact(weights, profits, capacity, max_frontier=200_000):
    """Exact MCKP (see the module docstring for the feasibility tolerance).

    Steps, and why:

    1. Drop dominated items per class (weight >= and profit <= another
       item): they are never needed for an optimum.  (``choice`` still
       indexes the caller's items.)
    2. Lagrangian bound ``L(lam) = lam*C + sum_i max_j(p_ij - lam*w_ij)``
       minimised over ``lam`` (= the LP relaxation, see :func:`_lagrangian`):
       upper bound ``UB`` and multiplier ``lam*``.
    3. Incumbent: the feasible side of the LP solution, improved greedily
       (:func:`_improve`): lower bound ``LB``.
    4. Reduction: with the deficit ``d_ij = max_j' r_ij' - r_ij``
       (``r = p - lam* w``, so ``d >= 0``) every choice has profit
       ``UB - sum d - lam*slack <= UB - sum d``.  Items with ``d_ij >= UB - LB``
       cannot beat the incumbent and are removed; classes left with one item
       are fixed.  On pricing instances this removes almost everything.
    5. Search in rounds with a deficit threshold ``t`` (:func:`_solve_packed`):
       find the best choice with ``sum d < t`` (items with ``d >= t`` drop out,
       too); if its profit is ``>= UB - t`` no other choice can be better.
       ``t`` starts at ``(UB - LB)/16`` and grows 4x; the last possible round
       (``t = UB - LB``) is the plain exhaustive search, so a proof always
       comes.  Small ``t`` keeps the state space tiny, and on pricing
       instances the first or second round nearly always proves optimality.
    6. Each round (:func:`_dp`) builds Pareto frontiers of (weight, profit)
       states for two halves of the free classes (merged one class at a
       time, fewest items first, vectorised: outer sum, sort, running max;
       states pruned on the deficit and when the lightest completion no
       longer fits) and joins the halves by binary search (meet in the
       middle): the frontiers stay ~square-root sized.
    7. If a frontier exceeds ``max_frontier`` the search stops and returns
       the incumbent with ``optimal=False`` and a certified ``gap`` (the
       best bound of any unexplored choice minus the incumbent), so a hard
       instance costs bounded time and memory instead of hanging a backend.

    Instances with at most 5000 possible choices skip 2-5 and merge directly.
    Raises :class:`Infeasible` if even the lightest choice does not fit.
    """
    ws, ps, cap = validate(weights, profits, capacity)
    return _solve_exact_valid(ws, ps, cap, max_frontier)


def _solve_exact_valid(ws, ps, cap, max_frontier):
    _check_feasible(ws, cap)
    if max_frontier < 1:
        raise InvalidParameter("max_frontier must be >= 1, got %r" % (max_frontier,))
    pk = _Packed(ws, ps)
    limit = capacity_limit(cap)
    cols, optimal, ub = _solve_packed(pk, limit, int(max_frontier))
    rows = np.arange(pk.n)
    choice = pk.idx[rows, np.asarray(cols)].tolist()
    weight, profit = _totals(ws, ps, choice)
    gap = 0.0 if optimal else max(0.0, float(ub) - profit)
    return Solution(choice=choice, profit=profit, weight=weight, optimal=optimal, gap=gap)


def solve(weights, profits, capacity, method="exact"):
    """Solve with ``method`` = ``"exact"`` (default) or ``"greedy"``."""
    if method == "exact":
        return solve_exact(weights, profits, capacity)
    if method == "greedy":
        return solve_greedy(weights, profits, capacity)
    raise InvalidParameter("unknown MCKP method %r (expected 'exact' or 'greedy')" % (method,))


# --------------------------------------------------------------------------
# benchmark / test instances
# --------------------------------------------------------------------------

def random_pricing_instance(n, m, bid, rng):
    """A strongly correlated pricing instance like the paper's benchmarks.

    Class weights ``omega`` (random, positive, normalised), price shares
    ``kappa_i ~ omega_i * U[0.8, 1.25]`` (normalised), full price
    ``P = bid * U[1.1, 1.5]``; items ``j = 1..m``: ``w_ij = P kappa_i (j/m)^2``,
    ``p_ij = omega_i j``.  Returns ``(weights n x m, profits n x m, bid)``.
    ``rng`` is a ``numpy.random.Generator`` (or a seed).
    """
    rng = np.random.default_rng(rng)
    omega = rng.uniform(0.01, 1.0, n)
    omega /= omega.sum()
    kappa = omega * rng.uniform(0.8, 1.25, n)
    kappa /= kappa.sum()
    price = bid * rng.uniform(1.1, 1.5)
    j = np.arange(1, m + 1, dtype=np.float64)
    weights = price * kappa[:, None] * (j[None, :] / m) ** 2
    profits = omega[:, None] * j[None, :]
    return weights, profits, float(bid)
