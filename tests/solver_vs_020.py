"""The exact solver through SQL against the solver of 0.2.0, side by side in one run (issue 16).

    .venv/bin/python tests/solver_vs_020.py [--rounds N]

Issue 16 asks that the paper's pricing shapes stay at or below the figures of the solver
before it (exact via SQL: 4.8 / 4.6 ms median on 100 x 100 in the benchmark of 0.2.0). This
machine's speed drifts by up to 1.7 x within minutes, so an absolute figure from another day
says little; this script times both solvers on the same instances, in the same backend,
alternately (the order flips every round), and prints the ratio.

* now: ``nyop_solve_mckp(w, p, c)`` of the installed extension (``make install`` first);
* 0.2.0: ``public.bench_solve_020(w, p, c)`` of ``nyop-pg bench``
  (``nyop_pg.bench.SOLVER_020_SQL``): 0.2.0's ``solve_exact``, read from this checkout's git
  history, on the arrays as PL/Python passes them (as 0.2.0's ``nyop_solve_mckp`` handed them
  over, without that function's argument checks: if anything, in 0.2.0's favour).

``nyop-pg bench solver`` reports the same comparison among its figures; this script is the
quick way to it (seconds, without the classic grid and HiGHS).

Instances: the benchmark's (``nyop-pg bench solver``: ``random_pricing_instance`` from
``numpy.random.default_rng(2017)``, 20 per shape, in its order). Both answers are checked to
have the same profit. A throwaway cluster (or ``NYOP_TEST_DSN``). Not a test: nothing is
asserted about time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plpython")]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from nyop_pg import instances  # noqa: E402
from nyop_pg.bench import PRICING_SHAPES, install_solver_020  # noqa: E402
from nyop_pg.cluster import LocalCluster  # noqa: E402

@contextlib.contextmanager
def database():
    dsn = os.environ.get("NYOP_TEST_DSN")
    if dsn:
        yield dsn
        return
    with LocalCluster() as cluster:
        yield cluster.dsn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed calls per instance and solver (default 5)")
    args = ap.parse_args()
    rng = np.random.default_rng(2017)
    cases = [(f"{n}x{m} bid {bid}", instances.random_pricing_instance(n, m, bid, rng))
             for n, m, bid in PRICING_SHAPES for _ in range(20)]
    with database() as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS nyop CASCADE")
        why = install_solver_020(conn)
        if why:
            sys.exit(f"0.2.0's solver is not at hand: {why}")
        try:
            conn.execute("CREATE TEMP TABLE inst (id int, w float8[], p float8[], c float8)")
            for k, (_, (W, P, cap)) in enumerate(cases):
                conn.execute("INSERT INTO inst VALUES (%s, %b::float8[], %b::float8[], %s)",
                             (k, W.tolist(), P.tolist(), float(cap)))
            calls = {"0.2.0": "SELECT public.bench_solve_020(w, p, c) FROM inst WHERE id = %s",
                     "now": "SELECT nyop_solve_mckp(w, p, c) FROM inst WHERE id = %s"}
            for k in range(len(cases)):                    # warm up both; the same optimum
                a, b = (conn.execute(q, (k,)).fetchone()[0] for q in calls.values())
                if abs(a["profit"] - b["profit"]) > 1e-9 * max(1.0, abs(a["profit"])):
                    sys.exit(f"instance {k}: 0.2.0 found {a['profit']}, now {b['profit']}")
            times = {(who, shape): [] for who in calls for shape, _ in cases}
            for r in range(args.rounds):
                order = list(calls.items()) if r % 2 == 0 else list(calls.items())[::-1]
                for k, (shape, _) in enumerate(cases):
                    for who, q in order:
                        t = time.perf_counter()
                        conn.execute(q, (k,)).fetchone()
                        times[(who, shape)].append((time.perf_counter() - t) * 1e3)
        finally:
            conn.execute("DROP FUNCTION IF EXISTS public.bench_solve_020(float8[], float8[], float8)")
    print("| shape (20 instances) | 0.2.0 via SQL, median ms | now via SQL, median ms | now / 0.2.0 |")
    print("|---|---:|---:|---:|")
    for shape in dict.fromkeys(s for s, _ in cases):
        old, new = statistics.median(times[("0.2.0", shape)]), statistics.median(times[("now", shape)])
        print(f"| {shape} | {old:.2f} | {new:.2f} | {new / old:.2f} |")


if __name__ == "__main__":
    main()
