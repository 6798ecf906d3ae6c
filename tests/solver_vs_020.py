"""The exact solver through SQL against the solver of 0.2.0, side by side in one run (issue 16).

    .venv/bin/python tests/solver_vs_020.py [--rounds N]

Issue 16 asks that the paper's pricing shapes stay at or below the figures of the solver
before it (exact via SQL: 4.8 / 4.6 ms median on 100 x 100 in the benchmark of 0.2.0). This
machine's speed drifts by up to 1.7 x within minutes, so an absolute figure from another day
says little; this script times both solvers on the same instances, in the same backend,
alternately (the order flips every round), and prints the ratio.

* now: ``nyop_solve_mckp(w, p, c)`` of the installed extension (``make install`` first);
* 0.2.0: the solver of 0.2.0 (``plpython/nyop_server/mckp.py`` at commit 1919909, read from
  this checkout's git history into a temporary directory) called from a PL/Python function
  that takes the arrays as 0.2.0's ``nyop_solve_mckp`` did (float8[] → nested lists) and
  returns the same JSON.

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plpython")]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from nyop_pg import instances  # noqa: E402
from nyop_pg.cluster import LocalCluster  # noqa: E402

SOLVER_020 = "1919909"                 # the last commit of mckp.py before issue 16
SHAPES = [(100, 10, 1000), (100, 10, 10000), (100, 100, 1000), (100, 100, 10000)]

OLD_FN = """CREATE FUNCTION pg_temp.solve_020(w float8[], p float8[], c float8) RETURNS jsonb
LANGUAGE plpython3u AS $$
if 'solver_020' not in GD:
    import sys
    if 'nyop' not in GD:
        plpy.execute('SELECT nyop._load()')        # nyop_server.errors, which the old module imports
    sys.path.insert(0, %(dir)s)
    import nyop_mckp_020
    GD['solver_020'] = nyop_mckp_020
import json
s = GD['solver_020'].solve_exact(w, p, c)
return json.dumps({"choice": [int(j) + 1 for j in s.choice], "profit": float(s.profit),
                   "weight": float(s.weight), "optimal": bool(s.optimal), "gap": float(s.gap)})
$$"""


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
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nyop-solver-020-"))
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{SOLVER_020}:plpython/nyop_server/mckp.py"],
                             check=True, capture_output=True, text=True).stdout
        (tmp / "nyop_mckp_020.py").write_text(src)
        tmp.chmod(0o755)                                   # the server runs as another user
        (tmp / "nyop_mckp_020.py").chmod(0o644)
        rng = np.random.default_rng(2017)
        cases = [(f"{n}x{m} bid {bid}", instances.random_pricing_instance(n, m, bid, rng))
                 for n, m, bid in SHAPES for _ in range(20)]
        with database() as dsn, psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS nyop CASCADE")
            conn.execute(OLD_FN % {"dir": "'%s'" % tmp})
            conn.execute("CREATE TEMP TABLE inst (id int, w float8[], p float8[], c float8)")
            for k, (_, (W, P, cap)) in enumerate(cases):
                conn.execute("INSERT INTO inst VALUES (%s, %b::float8[], %b::float8[], %s)",
                             (k, W.tolist(), P.tolist(), float(cap)))
            calls = {"0.2.0": "SELECT pg_temp.solve_020(w, p, c) FROM inst WHERE id = %s",
                     "now": "SELECT nyop_solve_mckp(w, p, c) FROM inst WHERE id = %s"}
            for k in range(len(cases)):                    # warm up both; same optimum
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
        print("| shape (20 instances) | 0.2.0 via SQL, median ms | now via SQL, median ms | now / 0.2.0 |")
        print("|---|---:|---:|---:|")
        for shape in dict.fromkeys(s for s, _ in cases):
            old, new = statistics.median(times[("0.2.0", shape)]), statistics.median(times[("now", shape)])
            print(f"| {shape} | {old:.2f} | {new:.2f} | {new / old:.2f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
