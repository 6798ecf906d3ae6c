"""sql/idempotent/040-pricing.sql: nyop_quote and the bare MCKP solver, nyop_solve_mckp."""

from __future__ import annotations

import json

from .. import mckp, pgarray
from ..errors import InvalidParameter, NyopError
from ..services import quoting
from .registry import handler


@handler
def quote(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact"):
    return quoting.quote(ctx, offering, bid, preferences, columns, scope, solver)


def solve_mckp_sent(weights, profits, capacity, method) -> str:
    """nyop_solve_mckp: the float8[][] arrays in their binary form (``array_send``), read
    by :mod:`~nyop_server.pgarray` (a large one straight into numpy) → envelope."""
    try:
        weights, profits = pgarray.float8_rows(weights), pgarray.float8_rows(profits)
    except ValueError as e:
        return json.dumps({"error": NyopError("nyop_solve_mckp: %s" % (e,), sqlstate="22P03").as_dict()})
    return solve_mckp_arrays(weights, profits, capacity, method)


def solve_mckp_arrays(weights, profits, capacity, method) -> str:
    """nyop_solve_mckp: float8[][] arrays as PL/Python's nested lists → envelope.  (What
    the 0.1.0 and 0.2.0 install scripts call.)"""
    try:
        return json.dumps({"ok": solve_mckp(None, weights, profits, capacity, method)}, allow_nan=False)
    except NyopError as e:
        return json.dumps({"error": e.as_dict()})


@handler
def solve_mckp(ctx, weights, profits, capacity, method="exact"):
    if method not in ("exact", "greedy"):
        raise InvalidParameter("method must be 'exact' or 'greedy', got %r" % (method,))
    for name, a in (("weights", weights), ("profits", profits)):
        if a is None or capacity is None:
            raise NyopError("nyop_solve_mckp: weights, profits and capacity must be given", sqlstate="22004")
        if getattr(a, "ndim", None) == 2:              # a numpy matrix from float8_rows
            continue
        if not a or not all(isinstance(r, list) for r in a):
            raise NyopError("nyop_solve_mckp: %s must be a non-empty 2-dimensional array (one row per class)" % name,
                            sqlstate="2202E")
    if len(weights) != len(profits) or any(len(a) != len(b) for a, b in zip(weights, profits)):
        raise NyopError("nyop_solve_mckp: weights and profits differ in shape", sqlstate="2202E")
    sol = mckp.solve(weights, profits, capacity, method=method)
    out = {"choice": [int(j) + 1 for j in sol.choice], "profit": float(sol.profit),
           "weight": float(sol.weight), "optimal": bool(sol.optimal), "gap": float(sol.gap)}
    if not sol.optimal and getattr(sol, "stopped_by", None):
        out["stopped_by"] = sol.stopped_by         # which limit stopped the proof (the gap is certified)
    return out
