"""`nyop-pg demo`: the paper's weather example, end to end, through SQL."""

from __future__ import annotations

import json
import sys

import psycopg

from . import paper


def show(title: str) -> None:
    print(f"\n== {title}")


def sql(conn, text: str, params=None, echo: bool = True):
    if echo:
        print("nyop=# " + " ".join(text.split()))
    return conn.execute(text, params)


def table(cur) -> None:
    rows = cur.fetchall()
    names = [d.name for d in cur.description]
    cells = [[("" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print("  " + " | ".join(n.ljust(w) for n, w in zip(names, widths)))
    print("  " + "-+-".join("-" * w for w in widths))
    for r in cells:
        print("  " + " | ".join(v.ljust(w) for v, w in zip(r, widths)))


def story(conn) -> None:
    show("Providers A and B (the paper's Tables 1 and 2), registered with nyop")
    paper.load(conn)
    sql(conn, f"SET nyop.now = '{paper.PAPER_NOW}'")
    table(sql(conn, "SELECT name, relation, ask_price, comparison_group, "
                    "(SELECT string_agg(criterion, ', ' ORDER BY ordinal) FROM nyop.criteria c "
                    " WHERE c.offering = o.name) AS criteria FROM nyop.offerings o ORDER BY name"))

    show("Quality measured in the database")
    table(sql(conn, """SELECT name, (q->>'completeness')::float8 AS completeness,
                              (q->>'timeliness')::float8 AS timeliness,
                              (q->>'amount_of_data')::float8 AS amount_of_data, q->>'rows' AS rows
                       FROM nyop.offerings o, nyop_quality(o.name) q ORDER BY name"""))

    show("The airline bids 1000 for provider A's data, ω = (timeliness .35, amount .5, support .15)")
    prefs = json.dumps(paper.PAPER_BID["preferences"])
    for solver in ("greedy", "exact"):
        q = sql(conn, "SELECT nyop_quote('paper_a', 1000, %s::jsonb, solver => %s)", (prefs, solver)).fetchone()[0]
        levels = ", ".join(f"{k} {v['level']}" + (f" (tier {v['tier']}: {v['terms']})" if "tier" in v else "")
                           for k, v in q["levels"].items())
        print(f"  {solver:6}: utility {q['utility']:.2f}, cost {q['cost']:.2f}, residual {q['residual']:.2f}; "
              f"{levels}; delay {q['delay']}")

    show("Comparison group 'weather' (A and B) on completeness, amount of data, support")
    q = sql(conn, "SELECT nyop_quote('weather', 1000, %s::jsonb)",
            (json.dumps({"completeness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}),)).fetchone()[0]
    print(f"  best: {q['offering']} (utility {q['utility']:.2f}); alternatives: "
          + ", ".join(f"{a['offering']} (utility {a.get('utility', 0):.2f})" for a in q["alternatives"]))


def run(dsn: str | None = None) -> int:
    if dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            story(conn)
        return 0
    from .cluster import LocalCluster
    from .install import install
    print("Starting a throwaway PostgreSQL ...")
    with LocalCluster() as cluster:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE nyop_demo")
        print(f"nyop {install(cluster.dsn_for('nyop_demo'))} installed (CREATE EXTENSION nyop CASCADE)")
        with psycopg.connect(cluster.dsn_for("nyop_demo"), autocommit=True) as conn:
            story(conn)
    return 0


if __name__ == "__main__":
    sys.exit(run())
