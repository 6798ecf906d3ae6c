"""The classic MCKP grid of issue 16, solved in-process (not part of CI).

    python -m nyop_pg.solver_grid [--quick] [--check] [--highs] [--json FILE] [--only KIND]

Five classes (uncorrelated, weakly / strongly correlated, subset-sum, zig-zag;
see :func:`nyop_pg.instances.classic_instance`), R = 10^3 and 10^4, sizes
(classes x items) 10x10, 100x10, 1000x10, 10x100, 100x100, 10x1000, 10
instances per cell: 600 instances.  Each is solved by ``solve_exact`` in this
process (median of repeated runs for fast ones); the report gives, per cell,
how many were proven optimal and the median / max time, and the ratio to the
reference medians of Pisinger's C code (mcknap.c, gcc -O2) measured on this
machine and quoted in issue 16 (:data:`REFERENCE_MS`; cells without a quoted
figure have no ratio).  ``--check`` verifies every optimum with HiGHS (scipy
``milp``, exact gap), ``--highs`` also times HiGHS as a same-run baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from . import instances

KINDS = ("uncorrelated", "weakly", "strongly", "subset_sum", "zigzag")
RANGES = (1000, 10000)
SIZES = ((10, 10), (100, 10), (1000, 10), (10, 100), (100, 100), (10, 1000))
PER_CELL = 10

#: Reference medians (ms) of Pisinger's mcknap.c (gcc -O2) on this machine, issue 16:
#: {(kind, classes, items): (R=10^3, R=10^4)}.
REFERENCE_MS = {
    ("uncorrelated", 100, 100): (0.055, 0.058),
    ("uncorrelated", 1000, 10): (0.069, 0.093),
    ("weakly", 1000, 10): (0.15, 1.1),
    ("weakly", 100, 100): (0.22, 7.0),
    ("weakly", 10, 1000): (0.81, 29.0),
    ("strongly", 1000, 10): (16.0, 82.0),
    ("strongly", 100, 100): (0.83, 11.0),
    ("strongly", 10, 1000): (5.7, 0.64),
    ("subset_sum", 100, 10): (0.019, 0.81),
    ("subset_sum", 10, 100): (0.25, 6.0),
    ("zigzag", 100, 100): (0.28, 0.44),
    ("zigzag", 10, 1000): (1.2, 3.1),
}


def reference_ms(kind, n, m, R):
    ref = REFERENCE_MS.get((kind, n, m))
    return None if ref is None else ref[RANGES.index(R)]


def seed_of(kind, n, m, R, rep):
    """A fixed seed per instance (the grid is the same on every run and machine)."""
    return (KINDS.index(kind) * 1000003 + n * 7919 + m * 104729 + R * 31 + rep) % (2 ** 32)


def grid(kinds=KINDS, per_cell=PER_CELL):
    for kind in kinds:
        for R in RANGES:
            for n, m in SIZES:
                for rep in range(per_cell):
                    yield kind, n, m, R, rep


def instance(kind, n, m, R, rep):
    return instances.classic_instance(kind, n, m, R, seed_of(kind, n, m, R, rep))


def time_solve(fn, budget_ms=50.0, max_runs=7):
    """Median wall time (ms) of fn(); fast calls are repeated (up to max_runs, ~budget_ms)."""
    t = time.perf_counter()
    res = fn()
    first = (time.perf_counter() - t) * 1000
    xs = [first]
    while len(xs) < max_runs and sum(xs) + first < budget_ms:
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return res, statistics.median(xs)


def highs_optimum(W, P, cap, time_limit=120.0):
    """HiGHS (scipy milp) on the MCKP, exact gap: (profit, seconds, status, dual bound)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix
    n, m = W.shape
    rows = np.repeat(np.arange(n), m)
    A = csr_matrix((np.ones(n * m), (rows, np.arange(n * m))), shape=(n, n * m))
    cons = [LinearConstraint(A, 1, 1), LinearConstraint(csr_matrix(W.ravel()[None, :]), -np.inf, cap)]
    t = time.perf_counter()
    res = milp(-P.ravel(), constraints=cons, integrality=np.ones(n * m), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 0.0, "time_limit": time_limit})
    secs = time.perf_counter() - t
    dual = getattr(res, "mip_dual_bound", None)
    return (None if res.x is None else -res.fun), secs, res.status, (None if dual is None else -dual)


def run_grid(kinds=KINDS, per_cell=PER_CELL, check=False, with_highs=False, progress=True,
             max_seconds=None, highs_limit=60.0):
    """Solve the grid; ``max_seconds`` is solve_exact's time limit (None: none, so every
    instance is solved to the end and timed; the product default is 10 s)."""
    from nyop_server import mckp
    out = []
    for kind, n, m, R, rep in grid(kinds, per_cell):
        W, P, cap = instance(kind, n, m, R, rep)
        sol, ms = time_solve(lambda: mckp.solve_exact(W, P, cap, max_seconds=max_seconds))
        rec = {"kind": kind, "n": n, "m": m, "R": R, "rep": rep, "ms": ms, "optimal": sol.optimal,
               "profit": sol.profit, "gap": sol.gap, "stopped_by": sol.stopped_by,
               "reference_ms": reference_ms(kind, n, m, R)}
        if check or with_highs:
            ref, secs, status, dual = highs_optimum(W, P, cap, time_limit=highs_limit)
            rec["highs_ms"] = secs * 1000
            rec["highs_profit"] = ref
            rec["highs_proven"] = status == 0
            # HiGHS found ref (a lower bound on the optimum) and, when it proved it, the optimum;
            # its dual bound caps the optimum otherwise
            ok = ref is None or sol.profit + (sol.gap if not sol.optimal else 0) >= ref - 0.5
            if status == 0 and ref is not None:
                ok = ok and (abs(ref - sol.profit) < 0.5 if sol.optimal else sol.profit <= ref + 0.5)
            elif dual is not None and sol.optimal:
                ok = ok and sol.profit <= dual + 0.5
            rec["agrees"] = ok
        out.append(rec)
        if progress:
            print(f"{kind:12} R={R:<5} {n:4}x{m:<4} #{rep}: {ms:9.2f} ms  optimal={sol.optimal}"
                  + (f"  highs {rec['highs_ms']:.0f} ms agrees={rec.get('agrees')}" if "highs_ms" in rec else ""),
                  flush=True)
    return out


def summarise(recs) -> dict:
    cells = {}
    for r in recs:
        cells.setdefault((r["kind"], r["R"], r["n"], r["m"]), []).append(r)
    rows = []
    for (kind, R, n, m), rs in cells.items():
        ts = [r["ms"] for r in rs]
        ref = rs[0]["reference_ms"]
        row = {"kind": kind, "R": R, "size": f"{n}x{m}", "instances": len(rs),
               "optimal": sum(r["optimal"] for r in rs), "median_ms": statistics.median(ts), "max_ms": max(ts),
               "reference_ms": ref, "median_ratio": None if ref is None else statistics.median(ts) / ref}
        if any("highs_ms" in r for r in rs):
            row["highs_median_ms"] = statistics.median(r["highs_ms"] for r in rs)
            row["disagree"] = sum(1 for r in rs if r.get("agrees") is False)
        rows.append(row)
    ratios = [r["ms"] / r["reference_ms"] for r in recs if r["reference_ms"]]
    worst = {}
    for r in recs:
        if r["ms"] > worst.get(r["kind"], (0, None))[0]:
            worst[r["kind"]] = (r["ms"], f"R={r['R']} {r['n']}x{r['m']} #{r['rep']}")
    return {"instances": len(recs), "optimal": sum(r["optimal"] for r in recs),
            "max_ms": max(r["ms"] for r in recs), "median_ms": statistics.median(r["ms"] for r in recs),
            "over_1s": sum(r["ms"] > 1000 for r in recs),
            "median_ratio_to_reference": statistics.median(ratios) if ratios else None,
            "instances_with_reference": len(ratios),
            "worst_per_class": {k: {"ms": v[0], "instance": v[1]} for k, v in worst.items()},
            "cells": rows}


def markdown(summary) -> str:
    lines = ["| class | R | size | optimal | median ms | max ms | reference ms | ratio |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for c in summary["cells"]:
        ref = "" if c["reference_ms"] is None else f"{c['reference_ms']:g}"
        ratio = "" if c["median_ratio"] is None else f"{c['median_ratio']:.1f}"
        lines.append(f"| {c['kind']} | {c['R']} | {c['size']} | {c['optimal']}/{c['instances']} | "
                     f"{c['median_ms']:.2f} | {c['max_ms']:.2f} | {ref} | {ratio} |")
    s = summary
    lines += ["", f"{s['optimal']} of {s['instances']} proven optimal; max {s['max_ms']:.1f} ms "
                  f"({s['over_1s']} over 1 s); median {s['median_ms']:.2f} ms; median ratio to the reference "
                  f"{s['median_ratio_to_reference'] and round(s['median_ratio_to_reference'], 1)}x over the "
                  f"{s['instances_with_reference']} instances whose cell has a reference figure."]
    lines.append("Worst per class: " + "; ".join(f"{k} {v['ms']:.1f} ms ({v['instance']})"
                                                  for k, v in s["worst_per_class"].items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 instances per cell instead of 10")
    ap.add_argument("--check", action="store_true", help="verify every answer with HiGHS (slow)")
    ap.add_argument("--highs", action="store_true", help="time HiGHS as well (implies --check)")
    ap.add_argument("--only", action="append", choices=KINDS, help="only this class (repeatable)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="solve_exact's time limit per instance (default: none)")
    ap.add_argument("--json", help="write the per-instance records and the summary here")
    ap.add_argument("--md", help="write the markdown table here")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plpython"))
    recs = run_grid(tuple(args.only or KINDS), 2 if args.quick else PER_CELL, check=args.check or args.highs,
                    with_highs=args.highs, max_seconds=args.max_seconds)
    summary = summarise(recs)
    md = markdown(summary)
    print("\n" + md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "instances": recs}, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
