"""`nyop-pg bench`: our figures next to baselines measured in the same run.

Every figure is ``{"part", "metric", "ours_ms", "baseline_ms", "target_ratio"}``
(SPEC.md, "Benchmarks"): ``ours_ms / baseline_ms`` must stay at or below
``target_ratio``. Timings are medians of repeated runs on a throwaway cluster;
nothing here asserts — the report says whether each target is met.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg
from psycopg import sql

from . import instances, paper

PARTS = ("solver", "quality", "views", "bids", "scale", "large")


def timed(fn, n: int, warmup: int = 1) -> list:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def timed_pair(fa, fb, n: int, warmup: int = 1) -> tuple:
    """Two measurements interleaved (a, b, a, b, …): on a machine shared with other work, both
    see the same load, so their ratio means something even when the load changes."""
    for _ in range(warmup):
        fa()
        fb()
    a, b = [], []
    for _ in range(n):
        for fn, out in ((fa, a), (fb, b)):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
    return a, b


def med(xs) -> float:
    return float(statistics.median(xs))


class Report:
    def __init__(self):
        self.figures = []
        self.notes = []

    def add(self, part, metric, ours, baseline, target, **extra):
        fig = {"part": part, "metric": metric, "ours_ms": round(ours, 4), "baseline_ms": round(baseline, 4),
               "target_ratio": target, "ratio": round(ours / baseline, 4) if baseline else None,
               "met": (ours / baseline <= target) if baseline else None}
        fig.update(extra)
        self.figures.append(fig)
        print(f"  {part:8} {metric:52} ours {ours:10.3f} ms  baseline {baseline:10.3f} ms  "
              f"ratio {fig['ratio'] if fig['ratio'] is None else format(fig['ratio'], '.3f')} (target ≤ {target})  "
              f"{'met' if fig['met'] else 'MISSED'}", flush=True)
        return fig

    def markdown(self) -> str:
        lines = ["| part | metric | ours (ms) | baseline (ms) | ratio | target | met |",
                 "|---|---|---:|---:|---:|---:|---|"]
        for f in self.figures:
            lines.append(f"| {f['part']} | {f['metric']} | {f['ours_ms']:.3f} | {f['baseline_ms']:.3f} | "
                         f"{'–' if f['ratio'] is None else format(f['ratio'], '.3f')} | ≤ {f['target_ratio']} | {'yes' if f['met'] else '**no**'} |")
        extra = [f"- {n}" for n in self.notes]
        return "\n".join(lines + [""] + self.chart() + ([""] + extra if extra else [])
                         + solver_table(self.figures))

    def chart(self, width: int = 40) -> list:
        """Every figure's ratio as a share of its target, one bar each: ``│`` marks the target,
        a bar that crosses it is a miss. Long bars are cut at twice the target (``»``)."""
        figs = [f for f in self.figures if f["ratio"] is not None and f["target_ratio"]]
        if not figs:
            return []
        half = width // 2
        out = ["Ratio against target (each bar is ratio ÷ target; `│` is the target, bars past it are misses):",
               "", "```"]
        label = max(len(chart_label(f)) for f in figs)
        for f in figs:
            share = f["ratio"] / f["target_ratio"]
            cells = min(width, round(share * half))
            if share > 1:
                cells = max(cells, half + 1)         # a miss always crosses the target
            bar = ["█" if i < cells else " " for i in range(width)]
            bar.insert(half, "┼" if cells > half else "│")
            bar = "".join(bar) + ("»" if share > 2 else " ")
            out.append(f"{chart_label(f).ljust(label)}  {bar} {f['ratio']:.3g} / {f['target_ratio']:g}")
        return out + ["```"]


def chart_label(fig: dict) -> str:
    """A figure's metric, shortened to its first clause for the chart."""
    return f"{fig['part']}: " + fig["metric"].split(" (")[0][:60]


def solver_table(figures: list) -> list:
    """Issue 3's solver table: median / max ms per Table 4 shape, ours and HiGHS, same instances;
    then issue 16's classic classes (``classic_table``)."""
    rows = [f for f in figures if f["part"] == "solver" and "in_process_median_ms" in f]
    if not rows:
        return classic_table(figures)
    n = rows[0].get("instances", "")
    shape_of = lambda f: f["metric"].split(", ", 1)[1].split(" (")[0]
    # 0.2.0's solver, when the run had it: one more column
    then = {shape_of(f): f for f in figures if f["part"] == "solver" and "against 0.2.0" in f["metric"]}
    head, rule = "| exact in-process | exact via SQL | greedy | HiGHS milp |", "|---|---:|---:|---:|---:|"
    if then:
        head, rule = head + " 0.2.0's exact via SQL |", rule + "---:|"
    out = ["", f"| shape ({n} instances) {head}", rule]
    for f in rows:
        shape = shape_of(f)
        line = (f"| {shape} | {f['in_process_median_ms']:.2f} / {f['in_process_max_ms']:.2f} | "
                f"{f['ours_ms']:.2f} / {f['ours_max_ms']:.2f} | {f['greedy_median_ms']:.2f} / "
                f"{f['greedy_max_ms']:.2f} | {f['baseline_ms']:.1f} / {f['baseline_max_ms']:.1f} |")
        if then:
            old = then.get(shape)
            line += f" {old['baseline_ms']:.2f} / {old['baseline_max_ms']:.2f} |" if old else " |"
        out.append(line)
    out.append("")
    out.append("(median / max milliseconds)")
    return out + classic_table(figures)


def classic_table(figures: list) -> list:
    """Issue 16: the classic MCKP classes, ours in-process vs HiGHS (same run) and vs the
    reference C medians quoted in the issue (docs/bench/solver-classes.md)."""
    rows = [f for f in figures if f["part"] == "solver" and "classic" in f]
    if not rows:
        return []
    out = ["", f"| class, R, size ({rows[0]['instances']} instances) | optimal | ours median / max | "
               f"HiGHS median | reference C median | ours / reference |", "|---|---:|---:|---:|---:|---:|"]
    for f in rows:
        ref = f.get("reference_ms")
        out.append(f"| {f['classic']} | {f['proven_optimal']}/{f['instances']} | {f['ours_ms']:.2f} / "
                   f"{f['ours_max_ms']:.2f} | {'≥ ' if f['highs_censored'] else ''}{f['baseline_ms']:.1f} | "
                   f"{'' if ref is None else ref} | {'' if ref is None else round(f['ours_ms'] / ref, 1)} |")
    ratios = [x for f in rows for x in f["ratios_to_reference"]]
    if ratios:
        out += ["", f"Median over the {len(ratios)} instances with a reference figure of ours / reference: "
                    f"{statistics.median(ratios):.1f} (target ≤ 30). HiGHS: scipy milp, exact gap, time-limited "
                    f"(≥: it hit the limit)."]
    return out


def machine() -> str:
    cpus = os.cpu_count()
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{platform.system()} {platform.release()}, {cpus} cores ({model}), Python {platform.python_version()}"


# -- solver -----------------------------------------------------------------------

#: The paper's pricing shapes (Table 4): classes, levels, bid; instances from
#: ``random_pricing_instance`` with ``numpy.random.default_rng(2017)``, shape after shape
PRICING_SHAPES = ((100, 10, 1000), (100, 10, 10000), (100, 100, 1000), (100, 100, 10000))

#: 0.2.0's exact solver -- ``plpython/nyop_server/mckp.py`` at the last commit before issue 16's
#: solver -- the pricing shapes' same-run baseline: issue 16 asks that they stay at or below the
#: figures they had (a ratio here, since this machine's speed drifts by up to 1.7 x)
SOLVER_020 = "19199095e39549cffc511a5c3a8fb98f40bc06f2"

#: 0.2.0's solver behind SQL: its ``solve_exact`` on the arrays as PL/Python passes them (nested
#: lists, as 0.2.0's nyop_solve_mckp handed them over; without that function's argument checks)
#: and the same JSON. The source is in the body (a Python literal), nothing is looked up by name:
#: the function runs untrusted Python, so it reads nothing a caller could plant (a temporary table
#: of the same name) and only the roles it is granted to may call it.
SOLVER_020_SQL = """
CREATE OR REPLACE FUNCTION public.bench_solve_020(w float8[], p float8[], c float8) RETURNS jsonb
LANGUAGE plpython3u SET search_path = pg_catalog, pg_temp AS $nyop_solver_020$
if 'bench_solver_020' not in GD:
    import sys, types
    if 'nyop' not in GD:
        plpy.execute('SELECT nyop._load()')      # nyop_server.errors, which 0.2.0's module imports
    mod = types.ModuleType('nyop_mckp_020')
    sys.modules[mod.__name__] = mod
    exec(compile(%(src)s, 'mckp-0.2.0.py', 'exec'), mod.__dict__)
    GD['bench_solver_020'] = mod
import json
s = GD['bench_solver_020'].solve_exact(w, p, c)
return json.dumps({"choice": [int(j) + 1 for j in s.choice], "profit": float(s.profit),
                   "weight": float(s.weight), "optimal": bool(s.optimal), "gap": float(s.gap)})
$nyop_solver_020$;
REVOKE ALL ON FUNCTION public.bench_solve_020(float8[], float8[], float8) FROM PUBLIC;
"""


def solver_020_source() -> tuple:
    """``(source, None)``: 0.2.0's mckp.py from the git history of the checkout this package runs
    from; or ``(None, why not)`` (an installed wheel, a shallow clone, no git): the baseline is
    then skipped, with that reason."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        r = subprocess.run(["git", "-C", here, "show", f"{SOLVER_020}:plpython/nyop_server/mckp.py"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"git: {e}"
    if r.returncode:
        return None, f"git show {SOLVER_020[:12]}: " + (r.stderr.strip().splitlines() or ["failed"])[-1]
    return r.stdout, None


def install_solver_020(admin, grantee: str | None = None) -> str | None:
    """``public.bench_solve_020(w, p, c)`` in the connected database (as a superuser; again:
    replaced), callable by superusers and the role ``grantee`` (a name). Returns None, or why 0.2.0's source is
    not at hand (nothing is installed then)."""
    src, why = solver_020_source()
    if src is None:
        return why
    body = SOLVER_020_SQL % {"src": repr(src)}
    if body.count("$nyop_solver_020$") != 2:
        return "0.2.0's source contains the function body's quote tag"
    admin.execute(body)
    if grantee:
        admin.execute(sql.SQL("GRANT EXECUTE ON FUNCTION public.bench_solve_020(float8[], float8[], float8) "
                              "TO {}").format(sql.Identifier(grantee)))
    return None


def bench_solver(conn, rep: Report, quick: bool, old: bool = False) -> None:
    """The paper's pricing shapes: exact via SQL against HiGHS and -- ``old``: with
    ``bench_solve_020`` installed (:func:`install_solver_020`) -- against 0.2.0's solver via SQL,
    alternately; then the classic classes."""
    from . import payload           # the wheel's payload, or the checkout's plpython/
    sys.path.insert(0, payload.python_dir())
    from nyop_server import mckp
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError:
        rep.notes.append("solver: scipy is not installed, HiGHS baseline skipped")
        return
    n_inst = 5 if quick else 20
    rng = np.random.default_rng(2017)
    for (n, m, bid) in PRICING_SHAPES:
        insts = [instances.random_pricing_instance(n, m, bid, rng) for _ in range(n_inst)]
        ex, sq, gr, hi, o20 = [], [], [], [], []
        better = 0
        for k, (W, P, cap) in enumerate(insts):
            Wl, Pl = W.tolist(), P.tolist()
            ex += timed(lambda: mckp.solve_exact(Wl, Pl, cap), 3, warmup=1)
            gr += timed(lambda: mckp.solve_greedy(Wl, Pl, cap), 3, warmup=1)
            # the instance lives in a table, as a user's own MCKP would: we time the call, not the upload
            iid = conn.execute("INSERT INTO bench_mckp (w, p, c) VALUES (%b::float8[], %b::float8[], %b) "
                               "RETURNING id", (Wl, Pl, float(cap))).fetchone()[0]
            now = lambda: conn.execute("SELECT nyop_solve_mckp(w, p, c) FROM bench_mckp WHERE id = %s",
                                       (iid,)).fetchone()[0]
            if old:
                then = lambda: conn.execute("SELECT public.bench_solve_020(w, p, c) FROM bench_mckp WHERE id = %s",
                                            (iid,)).fetchone()[0]
                a, b = now(), then()
                if abs(a["profit"] - b["profit"]) > 1e-9 * max(1.0, abs(b["profit"])):
                    rep.notes.append(f"solver: exact {a['profit']} via SQL, 0.2.0's {b['profit']} on a {n}x{m} "
                                     f"instance")
                if k % 2:                                    # which goes first alternates
                    t_then, t_now = timed_pair(then, now, 3, warmup=1)
                else:
                    t_now, t_then = timed_pair(now, then, 3, warmup=1)
                sq += t_now
                o20 += t_then
            else:
                sq += timed(now, 3, warmup=1)
            hi += timed(lambda: highs(W, P, cap, milp, Bounds, LinearConstraint), 1, warmup=0)
            ours = mckp.solve_exact(Wl, Pl, cap)
            ref = highs(W, P, cap, milp, Bounds, LinearConstraint)
            # HiGHS stops at its default relative MIP gap (1e-4); exact must never be worse.
            if ours.profit < ref - 1e-9 * max(1.0, abs(ref)) or not ours.optimal:
                rep.notes.append(f"solver: exact {ours.profit} (optimal={ours.optimal}) below HiGHS {ref} "
                                 f"on a {n}x{m} instance")
            better += ours.profit > ref + 1e-9 * max(1.0, abs(ref))
        shape = f"{n}x{m} bid {bid}"
        rep.add("solver", f"exact via SQL, {shape} (vs HiGHS milp)", med(sq), med(hi), 0.1,
                ours_max_ms=max(sq), baseline_max_ms=max(hi), in_process_median_ms=med(ex),
                in_process_max_ms=max(ex), greedy_median_ms=med(gr), greedy_max_ms=max(gr), instances=n_inst,
                exact_beats_highs_default_gap=better)
        if o20:
            rep.add("solver", f"exact via SQL against 0.2.0, {shape} (vs 0.2.0's exact solver via SQL, alternately)", med(sq),
                    med(o20), 1.0, ours_max_ms=max(sq), baseline_max_ms=max(o20), instances=n_inst)
        if med(sq) > 2 * med(ex) + 1:
            rep.notes.append(f"solver: {shape}: through SQL {med(sq):.2f} ms > 2 x in-process {med(ex):.2f} ms + 1 ms")
        print(f"           in-process exact median {med(ex):.2f} ms max {max(ex):.2f} ms; greedy median "
              f"{med(gr):.2f} ms; HiGHS max {max(hi):.1f} ms")
    bench_solver_classes(mckp, rep, quick)


def bench_solver_classes(mckp, rep: Report, quick: bool) -> None:
    """Issue 16: the field's classic MCKP classes (nyop_pg.solver_grid), solved in-process;
    HiGHS (scipy milp, exact gap, time-limited) on the same instances is the baseline, and the
    reference C medians quoted in the issue ride along. ``python -m nyop_pg.solver_grid`` runs
    the whole 600-instance grid."""
    from . import solver_grid as grid
    per_cell = 1 if quick else 3
    highs_limit = 2.0 if quick else 10.0
    for kind in grid.KINDS:
        for R in grid.RANGES:
            for n, m in grid.SIZES:
                ours, base, ratios = [], [], []
                optimal = censored = 0
                for k in range(per_cell):
                    W, P, cap = grid.instance(kind, n, m, R, k)
                    sol, ms = grid.time_solve(lambda: mckp.solve_exact(W, P, cap))
                    ref, secs, status, _ = grid.highs_optimum(W, P, cap, time_limit=highs_limit)
                    ours.append(ms)
                    base.append(secs * 1000)
                    optimal += sol.optimal
                    censored += status != 0
                    if status == 0 and ref is not None and sol.optimal and abs(ref - sol.profit) > 0.5:
                        rep.notes.append(f"solver: {kind} R={R} {n}x{m} #{k}: exact {sol.profit} but HiGHS {ref}")
                    refms = grid.reference_ms(kind, n, m, R)
                    if refms:
                        ratios.append(ms / refms)
                rep.add("solver", f"classic {kind} R={R} {n}x{m} in-process (vs HiGHS milp, exact gap)",
                        med(ours), med(base), 1.0, classic=f"{kind}, R={R}, {n}x{m}", instances=per_cell,
                        ours_max_ms=max(ours), proven_optimal=optimal, highs_censored=censored,
                        reference_ms=grid.reference_ms(kind, n, m, R), ratios_to_reference=ratios)


def highs(W, P, cap, milp, Bounds, LinearConstraint) -> float:
    n, m = W.shape
    c = -P.ravel()
    A_eq = np.zeros((n, n * m))
    for i in range(n):
        A_eq[i, i * m:(i + 1) * m] = 1
    cons = [LinearConstraint(A_eq, 1, 1), LinearConstraint(W.ravel()[None, :], -np.inf, cap)]
    res = milp(c, constraints=cons, integrality=np.ones(n * m), bounds=Bounds(0, 1))
    return -res.fun


# -- quality -----------------------------------------------------------------------

WIDE_SQL = """
CREATE TABLE {t} (id int PRIMARY KEY, c1 int, c2 int, c3 float8, c4 text, c5 int, c6 float8, c7 text,
                  c8 int, lu timestamptz NOT NULL);
INSERT INTO {t} SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 1000 END, i % 13, i / 3.0,
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'v' || (i % 97) END, i % 5, random(), 'w' || (i % 31),
       CASE WHEN i % 3 = 0 THEN NULL ELSE i END,
       '2017-05-07 00:00+00'::timestamptz + make_interval(secs => (i % 86400))
FROM generate_series(1, {n}) i;
ANALYZE {t};
"""


def make_offering(conn, name: str, n: int) -> None:
    conn.execute(WIDE_SQL.format(t=name, n=n))
    # settled like a table that has been there a while: no autovacuum pass over fresh rows (nor
    # first readers setting hint bits) in the middle of the figures
    conn.execute(f"VACUUM (FREEZE, ANALYZE) {name}")
    conn.execute(f"SELECT nyop_register_offering('{name}', '{name}', 1000, ARRAY['id'], last_updated => 'lu', "
                 f"volatility => '24 hours')")
    for crit, w in (("completeness", 0.4), ("timeliness", 0.3), ("amount_of_data", 0.2)):
        conn.execute(f"SELECT nyop_set_criterion('{name}', '{crit}', {w})")
    conn.execute("SELECT nyop_set_criterion(%s, 'customer_support', 0.1, tiers => ARRAY['mail', 'phone', '24/7'])",
                 (name,))


PREFS5 = json.dumps({"completeness": 0.3, "timeliness": 0.3, "amount_of_data": 0.3, "customer_support": 0.1})


def bench_quality(conn, admin, rep: Report, quick: bool, big: str, small: str) -> None:
    n = 3 if quick else 5
    ours = timed(lambda: conn.execute(f"SELECT nyop_quality('{big}')").fetchone(), n)
    cols = ", ".join(f"c{i}" for i in range(1, 9))
    now = admin.execute("SELECT nyop.clock()").fetchone()[0]
    # the baseline is the scan nyop_quality would otherwise make: "now" a constant, not a call per row
    base = timed(lambda: admin.execute(
        f"SELECT count(*), sum(num_nonnulls(id, {cols})), "
        f"avg(least(1.0, greatest(0.0, 1.0 - extract(epoch FROM (%s - lu)) / 86400.0))) FROM {big}",
        (now,)).fetchone(), n)
    rep.add("quality", f"nyop_quality over {rows(admin, big):,} rows x 10 columns (vs one plain aggregate pass)",
            med(ours), med(base), 1.5, note="maintained measures: read, not rescanned")
    q = lambda t: (lambda: conn.execute("SELECT nyop_quote(%s, 500, %s::jsonb)", (t, PREFS5)).fetchone())
    rep.add("quality", f"unscoped nyop_quote on {rows(admin, big):,} rows (vs on {rows(admin, small):,} rows)",
            med(timed(q(big), 20, warmup=2)), med(timed(q(small), 20, warmup=2)), 1.5,
            note="maintained measures (no per-session cache)")


def rows(conn, t) -> int:
    return conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]


# -- views ---------------------------------------------------------------------------

VIEW_NOW = '2017-05-08 12:00+00'


def bench_views(admin, buyer_conn, rep: Report, quick: bool, big: str) -> None:
    admin.execute(f"SET nyop.now = '{VIEW_NOW}'")
    buyer_conn.execute(f"SET nyop.now = '{VIEW_NOW}'")
    bid, quote, view = buyer_conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, 600, %s) RETURNING bid_id, quote, view::text",
        (big, json.dumps({"completeness": 0.4, "timeliness": 0.4, "amount_of_data": 0.2}))).fetchone()
    cols = ", ".join(quote["columns"])
    delay = quote["delay_seconds"]
    # pairs interleaved (timed_pair): on 200k rows one scan is ~25-50 ms, so --quick can afford
    # as many pairs as the full run and its medians wander as little
    n = 7
    # count(col) for every column makes each one be computed (masks included) without
    # shipping rows to the client; the baseline gets the delay cutoff as a constant (as the
    # view computes it once, in an InitPlan)
    counts = ", ".join(f"count({c})" for c in quote["columns"])
    cutoff = admin.execute("SELECT nyop.clock() - make_interval(secs => %s)", (delay,)).fetchone()[0]
    ours, base = timed_pair(lambda: buyer_conn.execute(f"SELECT {counts} FROM {view}").fetchone(),
                            lambda: admin.execute(f"SELECT {counts} FROM {big} WHERE lu <= %s", (cutoff,)).fetchone(), n)
    plan = "\n".join(r[0] for r in buyer_conn.execute(f"EXPLAIN SELECT {counts} FROM {view}").fetchall())
    bplan = "\n".join(r[0] for r in admin.execute(f"EXPLAIN SELECT {counts} FROM {big} WHERE lu <= %s",
                                                   (cutoff,)).fetchall())
    rep.add("views", f"full scan of a masked, delayed view, {rows(admin, big):,} rows (delay {quote['delay']}, "
                     f"completeness {quote['completeness_target']:.2f}, {len(quote['columns'])} columns; default "
                     f"parallel settings)", med(ours), med(base), 2.0,
            view_parallel="Gather" in plan, base_parallel="Gather" in bplan)
    # the same columns masked, no delay: the view hides no row, so it is no security barrier and
    # its scan goes parallel where the table's does (an offering on the same table without timeliness)
    admin.execute(f"SELECT nyop_register_offering('{big}_now', '{big}', 1000, ARRAY['id'])")
    admin.execute(f"SELECT nyop_set_criterion('{big}_now', 'completeness', 0.8)")
    admin.execute(f"SELECT nyop_set_criterion('{big}_now', 'amount_of_data', 0.2)")
    q2, v2 = buyer_conn.execute("INSERT INTO nyop.bids (offering, bid, preferences, columns) VALUES (%s, 600, %s, %s) "
                                "RETURNING quote, view::text", (f"{big}_now", json.dumps({"completeness": 0.5,
                                                                "amount_of_data": 0.5}), quote["columns"])).fetchone()
    counts2 = ", ".join(f"count({c})" for c in q2["view_columns"])
    ours, base = timed_pair(lambda: buyer_conn.execute(f"SELECT {counts2} FROM {v2}").fetchone(),
                            lambda: admin.execute(f"SELECT {counts2} FROM {big}").fetchone(), n)
    plan = "\n".join(r[0] for r in buyer_conn.execute(f"EXPLAIN SELECT {counts2} FROM {v2}").fetchall())
    rep.add("views", f"full scan of a masked view without delay, {rows(admin, big):,} rows (completeness "
                     f"{q2['completeness_target']:.2f}, {len(q2['view_columns'])} columns; default parallel settings)",
            med(ours), med(base), 2.0, view_parallel="Gather" in plan)
    sel = "WHERE id BETWEEN 5000 AND 5100"
    ours, base = timed_pair(lambda: buyer_conn.execute(f"SELECT * FROM {view} {sel}").fetchall(),
                            lambda: admin.execute(f"SELECT {cols} FROM {big} {sel} AND lu <= %s", (cutoff,)).fetchall(),
                            50, warmup=3)
    plan = "\n".join(r[0] for r in buyer_conn.execute(f"EXPLAIN SELECT * FROM {view} {sel}").fetchall())
    rep.add("views", "selective query (a key range) on the view (vs on the base table)", med(ours), med(base), 2.0,
            base_index_used=f"{big}_pkey" in plan)


# -- bids ------------------------------------------------------------------------------

def run_clients(dsns: list, per_client, seconds: float) -> tuple:
    """Run per_client(conn, i) in a loop on each connection for `seconds`; returns (latencies, count, wall)."""
    lat, lock = [], threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k, dsn):
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
            i = 0
            mine = []
            while time.perf_counter() < stop:
                t = time.perf_counter()
                per_client(c, k, i)
                mine.append((time.perf_counter() - t) * 1000)
                i += 1
            with lock:
                lat.extend(mine)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k, d)) for k, d in enumerate(dsns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, len(lat), time.perf_counter() - t0


def bench_bids(admin, buyer_dsns: list, rep: Report, quick: bool) -> None:
    secs = 5 if quick else 15
    prefs = json.dumps(paper.PAPER_BID["preferences"])
    lat, cnt, wall = run_clients(buyer_dsns, lambda c, k, i: c.execute(
        "SELECT nyop_quote('paper_a', 1000, %s::jsonb)", (prefs,)).fetchone(), secs)
    base, bcnt, bwall = run_clients(buyer_dsns, lambda c, k, i: c.execute(
        "SELECT nyop._bench_noop(%s::jsonb)", (prefs,)).fetchone(), secs)
    single = timed(lambda: admin.execute("SELECT nyop_quote('paper_a', 1000, %s::jsonb)", (prefs,)).fetchone(), 200, 5)
    rep.notes.append(f"bids: a paper-sized quote (3 criteria) through SELECT nyop_quote, one client: median "
                     f"{med(single):.2f} ms (target ≤ 2 ms)")
    rep.add("bids", f"SELECT nyop_quote (3 criteria), {len(buyer_dsns)} clients (vs a trivial PL/Python call)",
            med(lat), med(base), 20.0, throughput_per_s=round(cnt / wall, 1), throughput_target_per_s=1000)
    rep.notes.append(f"bids: {cnt / wall:.0f} quotes/s with {len(buyer_dsns)} clients (target ≥ 1,000)")
    # every bid a new purchase (a re-bid with the same scope would be an upgrade)
    lat, cnt, wall = run_clients(buyer_dsns, lambda c, k, i: c.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences, scope) VALUES ('paper_a', 1000, %s, %s) RETURNING view",
        (prefs, f"station <> 'X{k}_{i}'")).fetchone(), secs)
    counter = iter(range(10 ** 9))

    def baseline(c, k, i):
        n = next(counter)
        with c.transaction():
            c.execute("INSERT INTO bench_plain_bids (bid, preferences) VALUES (1000, %s)", (prefs,))
            c.execute(f"CREATE VIEW bench_views.v_{k}_{n} AS SELECT station, airpressure, humidity, temperature, "
                      f"date, lastupdated FROM public.weather_a WHERE lastupdated <= nyop.clock() - interval '8 hours' "
                      f"AND station <> 'X{n}'")

    base, bcnt, bwall = run_clients(buyer_dsns, baseline, secs)
    rep.add("bids", f"accepted bid incl. its view, {len(buyer_dsns)} clients (vs INSERT + hand-written CREATE VIEW)",
            med(lat), med(base), 3.0, throughput_per_s=round(cnt / wall, 1), throughput_target_per_s=100)
    rep.notes.append(f"bids: {cnt / wall:.0f} accepted bids/s with {len(buyer_dsns)} clients (target ≥ 100)")


# -- scale -----------------------------------------------------------------------------

def bench_scale(admin, buyer_dsn: str, rep: Report, quick: bool) -> None:
    total = 2000 if quick else 10000
    prefs = json.dumps(paper.PAPER_BID["preferences"])
    times = {}
    with psycopg.connect(buyer_dsn, autocommit=True) as c:
        c.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
        have = c.execute("SELECT count(*) FROM nyop.bids").fetchone()[0]
        first_view = None
        for k in range(have + 1, total + 1):
            t = time.perf_counter()
            v = c.execute("INSERT INTO nyop.bids (offering, bid, preferences, scope) VALUES ('paper_a', 1000, %s, %s) "
                          "RETURNING view::text", (prefs, f"station <> 'X{k}'")).fetchone()[0]
            times[k] = (time.perf_counter() - t) * 1000
            first_view = first_view or v
            if k == 100:
                plan100 = planning(c, v)
        window = lambda k: [times[j] for j in range(max(have + 1, k - 10), k + 1) if j in times]
        rep.add("scale", f"creating the {total:,}th buyer view (vs the 100th; median of 10 around each)",
                med(window(total)), med(window(100)), 2.0)
        rep.add("scale", f"planning a buyer's query with {total:,} views present (vs 100)",
                planning(c, v), plan100, 1.5)


def planning(conn, view: str) -> float:
    xs = []
    for _ in range(30):
        plan = conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT * FROM {view} WHERE station = 'FRA'"
                            ).fetchall()
        xs.append(next(float(r[0].split(":")[1].split()[0]) for r in plan if r[0].startswith("Planning Time")))
    return med(xs)


# -- large offerings (issue 12) ------------------------------------------------------------

BID_PREFS = json.dumps({"completeness": 0.4, "timeliness": 0.4, "amount_of_data": 0.2})
BID_PRICE = 600


def bid_once(conn, offering: str) -> dict:
    """One accepted bid that buys completeness < 1 and a delay, rolled back (nothing stays: the
    next bid is a new purchase again, not an upgrade)."""
    with conn.transaction(force_rollback=True):
        status, quote = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                                     "RETURNING status, quote", (offering, BID_PRICE, BID_PREFS)).fetchone()
    if status != "accepted" or quote["completeness_target"] >= 1 or quote["delay_seconds"] <= 0:
        raise RuntimeError(f"bench: the bid on {offering} must buy completeness < 1 and a delay: {status} {quote}")
    return quote


def temp_bytes(admin) -> int:
    admin.execute("SELECT pg_stat_force_next_flush()")
    return admin.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def first_quote_ms(dsn: str, offering: str, n: int) -> list:
    """The first nyop_quote in a new connection (its connection set up beforehand)."""
    out = []
    for _ in range(n):
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"SET nyop.now = '{VIEW_NOW}'")
            t = time.perf_counter()
            c.execute("SELECT nyop_quote(%s, %s, %s::jsonb)", (offering, BID_PRICE, BID_PREFS)).fetchone()
            out.append((time.perf_counter() - t) * 1000)
    return out


def first_quotes_ms(dsn: str, offerings: list, n: int) -> dict:
    """:func:`first_quote_ms` for several offerings and :func:`first_plpython_ms` (key None),
    interleaved (one new connection each per round): on a machine shared with other work, every
    figure sees the same load."""
    out = {o: [] for o in offerings + [None]}
    for _ in range(n):
        for o in offerings:
            out[o] += first_quote_ms(dsn, o, 1)
        out[None] += first_plpython_ms(dsn, 1)
    return out


def first_plpython_ms(dsn: str, n: int) -> list:
    out = []
    for _ in range(n):
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"SET nyop.now = '{VIEW_NOW}'")
            t = time.perf_counter()
            c.execute("SELECT nyop._bench_noop('{}'::jsonb)").fetchone()
            out.append((time.perf_counter() - t) * 1000)
    return out


def bench_large(admin, buyer_dsn: str, client_dsns: list, rep: Report, quick: bool, big: str, small: str,
                huge: str | None = None) -> None:
    """What users do on a large offering, each against a baseline in the same run."""
    n_big, n_small = rows(admin, big), rows(admin, small)
    admin.execute(f"SET nyop.now = '{VIEW_NOW}'")
    n = 10 if quick else 20
    with psycopg.connect(client_dsns[0], autocommit=True) as c:
        c.execute(f"SET nyop.now = '{VIEW_NOW}'")
        t0 = temp_bytes(admin)
        ours = timed(lambda: bid_once(c, big), n, warmup=2)
        temp = (temp_bytes(admin) - t0) / (n + 2)
        base = timed(lambda: bid_once(c, small), n, warmup=2)
        q = bid_once(c, big)
        rep.add("large", f"accepted bid on {n_big:,} rows (vs on {n_small:,} rows; completeness "
                         f"{q['completeness_target']:.2f}, delay {q['delay']}, {len(q['columns'])} columns)",
                med(ours), med(base), 1.5)
        if huge:
            rep.add("large", f"accepted bid on {rows(admin, huge):,} rows (vs on {n_small:,} rows)",
                    med(timed(lambda: bid_once(c, huge), n, warmup=2)), med(base), 1.5)
    # temp files per bid: the bound is the figure (bytes as "ms": the ratio is what counts)
    rep.add("large", f"temporary file bytes per bid on {n_big:,} rows (vs 16 MB)", temp, 16 * 2 ** 20, 1.0,
            unit="bytes")
    secs = 5 if quick else 15
    def bid_now(c, k, i):
        if i == 0:
            c.execute(f"SET nyop.now = '{VIEW_NOW}'")
        bid_once(c, big)

    lat, cnt, wall = run_clients(client_dsns, bid_now, secs)
    rep.add("large", f"wall time per accepted bid, {len(client_dsns)} clients, {n_big:,} rows "
                     f"(vs 10 ms: 100 bids/s)", wall * 1000 / max(cnt, 1), 10.0, 1.0,
            throughput_per_s=round(cnt / wall, 1), median_latency_ms=round(med(lat), 2))
    # first quote in a new connection
    cold = first_quotes_ms(buyer_dsn, [big, small] + ([huge] if huge else []), n)
    cold_small = cold[small]
    rep.add("large", f"first quote in a new connection, {n_big:,} rows (vs {n_small:,} rows)",
            med(cold[big]), med(cold_small), 1.5)
    if huge:
        rep.add("large", f"first quote in a new connection, {rows(admin, huge):,} rows (vs {n_small:,} rows)",
                med(cold[huge]), med(cold_small), 1.5)
    rep.add("large", "first quote in a new connection (vs a trivial PL/Python first call)",
            med(cold_small), med(cold[None]), 4.0)
    # a scoped quote selecting 10 % by key vs counting those rows
    k = n_big // 10
    with psycopg.connect(buyer_dsn, autocommit=True) as c:
        c.execute(f"SET nyop.now = '{VIEW_NOW}'")
        scoped, base = timed_pair(lambda: c.execute("SELECT nyop_quote(%s, %s, %s::jsonb, NULL, %s)",
                                                    (big, BID_PRICE, BID_PREFS, f"id <= {k}")).fetchone(),
                                  lambda: admin.execute(f"SELECT count(*) FROM {big} WHERE id <= %s", (k,)).fetchone(),
                                  n, warmup=2)
    rep.add("large", f"scoped quote selecting {k:,} rows by key (vs count(*) of those rows)", med(scoped), med(base), 5.0)
    # delivered vs target completeness of a committed purchase (tolerance: MODEL §7.3)
    with psycopg.connect(client_dsns[1], autocommit=True) as c:
        c.execute(f"SET nyop.now = '{VIEW_NOW}'")
        quote, view = c.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                                "RETURNING quote, view::text", (big, BID_PRICE, BID_PREFS)).fetchone()
        cols = [x for x in quote["view_columns"] if x != "lu"]
        cells, nonnull = c.execute(f"SELECT count(*) * {len(cols)}, sum(num_nonnulls({', '.join(cols)})) "
                                   f"FROM {view}").fetchone()
    gap = abs(int(nonnull) / int(cells) - quote["completeness_target"]) * 100
    tolerance = 0.1 if cells > 1_000_000 else 100.0 / int(cells)
    rep.add("large", f"|delivered - target| completeness, {int(cells):,} cells (percentage points, vs the "
                     f"tolerance {tolerance:.4g})", gap, tolerance, 1.0, unit="percentage points")
    # one UPDATE of 100,000 rows, sold (history and measures kept) vs unsold
    upd = min(100_000, n_big // 2)
    for t in ("upd_sold", "upd_plain"):
        admin.execute(WIDE_SQL.format(t=t, n=2 * upd))
    admin.execute("SELECT nyop_register_offering('upd_sold', 'upd_sold', 1000, ARRAY['id'], last_updated => 'lu', "
                  "volatility => '24 hours')")
    ours, base = [], []
    for i in range(3):
        for t, acc in (("upd_plain", base), ("upd_sold", ours)):
            admin.execute(f"VACUUM {t}")
            tt = time.perf_counter()
            admin.execute(f"UPDATE {t} SET c1 = c1 + 1, lu = lu + interval '1 second' WHERE id <= {upd}")
            acc.append((time.perf_counter() - tt) * 1000)
    rep.add("large", f"UPDATE of {upd:,} rows, sold (vs unsold)", med(ours), med(base), 3.0)


# -- driver ------------------------------------------------------------------------------

NOOP_SQL = """
CREATE FUNCTION nyop._bench_noop(p jsonb) RETURNS jsonb LANGUAGE plpython3u AS $$
return p
$$;
GRANT EXECUTE ON FUNCTION nyop._bench_noop(jsonb) TO PUBLIC;
CREATE TABLE bench_plain_bids (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, bid numeric, preferences jsonb);
CREATE SCHEMA bench_views;
CREATE TABLE bench_mckp (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, w float8[], p float8[], c float8);
GRANT ALL ON bench_mckp TO PUBLIC;
"""


def run(parts=None, quick: bool = False, json_path: str | None = None, md_path: str | None = None,
        dsn: str | None = None) -> int:
    parts = list(parts or PARTS)
    for p in parts:
        if p not in PARTS:
            print(f"nyop-pg bench: unknown part {p!r} (parts: {', '.join(PARTS)})", file=sys.stderr)
            return 2
    from .cluster import LocalCluster
    from .install import install
    rep = Report()
    print(f"nyop bench ({'quick' if quick else 'full'}) on {machine()}", flush=True)
    with LocalCluster(settings={"max_connections": 200, "shared_buffers": "'512MB'",
                                "max_locks_per_transaction": 256}) as cluster:
        with psycopg.connect(cluster.dsn, autocommit=True) as c:
            c.execute("CREATE DATABASE nyop_bench")
            c.execute("CREATE ROLE bench_buyer LOGIN")
        dsn = cluster.dsn_for("nyop_bench")
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as admin:
            paper.load(admin)
            admin.execute(NOOP_SQL)
            admin.execute("SELECT nyop_add_buyer('bench_buyer')")
            admin.execute("GRANT ALL ON bench_plain_bids TO bench_buyer; GRANT ALL ON SCHEMA bench_views TO bench_buyer;"
                          "GRANT SELECT ON weather_a TO bench_buyer; GRANT USAGE ON SCHEMA nyop TO bench_buyer")
            admin.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
            buyer_dsn = cluster.dsn_for("nyop_bench", user="bench_buyer")
            client_dsns = []
            for k in range(4):
                admin.execute(f"CREATE ROLE bench_client_{k} LOGIN")
                admin.execute(f"SELECT nyop_add_buyer('bench_client_{k}')")
                admin.execute(f"GRANT ALL ON bench_plain_bids TO bench_client_{k}; "
                              f"GRANT ALL ON SCHEMA bench_views TO bench_client_{k}; "
                              f"GRANT SELECT ON weather_a TO bench_client_{k}")
                client_dsns.append(cluster.dsn_for("nyop_bench", user=f"bench_client_{k}"))
            big_n = 200_000 if quick else 1_000_000
            if "quality" in parts or "views" in parts or "large" in parts:
                print(f"loading {big_n:,} + 10,000 rows ...", flush=True)
                make_offering(admin, "big", big_n)
                make_offering(admin, "small", 10_000)
            huge = None
            if "large" in parts and not quick:
                print("loading 10,000,000 rows ...", flush=True)
                make_offering(admin, "huge", 10_000_000)
                huge = "huge"
            with psycopg.connect(buyer_dsn, autocommit=True) as buyer:
                for part in parts:
                    print(f"[{part}]", flush=True)
                    if part == "solver":
                        why = install_solver_020(admin, "bench_buyer")
                        if why:
                            rep.notes.append(f"solver: 0.2.0's solver is not at hand ({why}): its same-run "
                                             f"baseline is skipped")
                        bench_solver(buyer, rep, quick, why is None)
                    elif part == "quality":
                        bench_quality(buyer, admin, rep, quick, "big", "small")
                    elif part == "views":
                        bench_views(admin, buyer, rep, quick, "big")
                    elif part == "bids":
                        bench_bids(admin, client_dsns, rep, quick)
                    elif part == "scale":
                        bench_scale(admin, buyer_dsn, rep, quick)
                    elif part == "large":
                        bench_large(admin, buyer_dsn, client_dsns, rep, quick, "big", "small", huge)
    result = {"machine": machine(), "quick": quick, "figures": rep.figures, "notes": rep.notes}
    md = f"Machine: {machine()} — {'quick' if quick else 'full'} run\n\n" + rep.markdown()
    print("\n" + md)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rep.figures if False else result["figures"], f, indent=2)
    if md_path:
        with open(md_path, "w") as f:
            f.write(md + "\n")
    return 0
