"""Generated MCKP instances for tests and benchmarks (not shipped to the server).

Two families: :func:`random_pricing_instance`, shaped like the paper's pricing benchmarks
(Table 4), and :func:`classic_instance`, the field's classic MCKP classes used by issue 16's
grid (``nyop_pg.solver_grid``) and ``nyop-pg bench solver``. Both return numpy arrays the
solver in ``nyop_server.mckp`` takes as they are; neither imports the solver.
"""

from __future__ import annotations

import math

import numpy as np

#: The classic MCKP instance classes (:func:`classic_instance`).
CLASSIC_KINDS = ("uncorrelated", "weakly", "strongly", "subset_sum", "zigzag")


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


def classic_instance(kind, n, m, R, rng):
    """One instance of the field's classic MCKP classes (Sinha & Zoltners 1979;
    Pisinger, "A minimal algorithm for the multiple-choice knapsack problem", 1995).

    ``n`` classes of ``m`` items, integer data in ``[1, R]``:

    * ``uncorrelated``: ``w, p`` uniform in ``[1, R]``, independent;
    * ``weakly`` (correlated): ``w`` uniform, ``p = max(1, w + U{-10..10})``;
    * ``strongly`` (correlated, cumulative): per class ``m`` strongly correlated
      0-1 items ``w' in [1, 2R/m]``, ``p' = w' + 10``, by decreasing efficiency
      (increasing ``w'``); item ``j`` is the sum of the first ``j`` (so weights
      stay within about ``[1, R]``): every item lies on the class's upper
      convex hull;
    * ``subset_sum``: ``w`` uniform, ``p = w``;
    * ``zigzag``: ``m`` weights and ``m`` profits uniform in ``[1, R]``, both
      sorted increasingly and paired: no item is dominated, but the frontier
      zig-zags (many LP-dominated items).

    Capacity ``C = floor((sum_i min_j w_ij + sum_i w_i,best(i)) / 2)`` with
    ``best(i)`` the most profitable item of class ``i`` (the lightest one on
    ties).  Returns ``(weights n x m, profits n x m, C)`` as float arrays and a
    float; ``rng`` is a ``numpy.random.Generator`` or a seed.
    """
    rng = np.random.default_rng(rng)
    if kind == "uncorrelated":
        w = rng.integers(1, R + 1, (n, m))
        p = rng.integers(1, R + 1, (n, m))
    elif kind == "weakly":
        w = rng.integers(1, R + 1, (n, m))
        p = np.maximum(1, w + rng.integers(-10, 11, (n, m)))
    elif kind == "strongly":
        d = np.sort(rng.integers(1, max(1, (2 * R) // m) + 1, (n, m)), axis=1)
        w = np.cumsum(d, axis=1)
        p = np.cumsum(d + 10, axis=1)
    elif kind == "subset_sum":
        w = rng.integers(1, R + 1, (n, m))
        p = w.copy()
    elif kind == "zigzag":
        w = np.sort(rng.integers(1, R + 1, (n, m)), axis=1)
        p = np.sort(rng.integers(1, R + 1, (n, m)), axis=1)
    else:
        raise ValueError("unknown instance class %r (expected one of %s)"
                         % (kind, ", ".join(CLASSIC_KINDS)))
    w = w.astype(np.float64)
    p = p.astype(np.float64)
    pm = p.max(axis=1, keepdims=True)
    wbest = np.where(p == pm, w, np.inf).min(axis=1)
    cap = math.floor((float(w.min(axis=1).sum()) + float(wbest.sum())) / 2)
    return w, p, float(cap)
