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


def story(conn, connect_as=None) -> None:
    show("Providers A and B (the paper's Tables 1 and 2), registered with nyop")
    paper.load(conn, single=False, group=False)
    if connect_as:
        sql(conn, "CREATE ROLE weather_provider; CREATE ROLE airline LOGIN")
        sql(conn, "ALTER TABLE weather_a OWNER TO weather_provider; ALTER TABLE weather_b OWNER TO weather_provider")
    conn.execute(paper.SINGLE_SQL)
    conn.execute(paper.GROUP_SQL)
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
    if connect_as:
        bid_story(conn, connect_as)


def bid_story(conn, connect_as) -> None:
    show("The operator lets the airline bid and the provider see its bids")
    sql(conn, "SELECT nyop_add_buyer('airline'), nyop_add_provider('weather_provider')")
    prefs = json.dumps(paper.PAPER_BID["preferences"])
    with connect_as("airline") as buyer:
        show("The airline (role airline) bids 1000 with INSERT INTO nyop.bids")
        sql(buyer, f"SET nyop.now = '{paper.PAPER_NOW}'")
        bid_id, status, q, view = sql(buyer, "INSERT INTO nyop.bids (offering, bid, preferences) "
                                             "VALUES ('paper_a', 1000, %s) RETURNING bid_id, status, quote, view",
                                      (prefs,)).fetchone()
        print(f"  bid {bid_id}: {status}; utility {q['utility']:.2f}, cost {q['cost']:.2f}, "
              f"residual {q['residual']:.2f}, delay {q['delay']}, view {view}")
        print("  terms: " + "; ".join(f"{k}: level {v['level']}" + (f" ({v['terms']})" if v.get("terms") else "")
                                      for k, v in q["levels"].items()))
        show(f"The airline reads {view} at 17:00: everything in Table 1 is fresher than 17:00 - 8.64 h")
        table(sql(buyer, f"SELECT * FROM {view} ORDER BY station, date"))
        show("At 02:00 the next day the delayed rows are visible; the provider has since updated FRA 05-08")
        sql(conn, "SET nyop.now = '2017-05-08 01:30+00'")
        sql(conn, "UPDATE weather_a SET temperature = 21, lastupdated = '2017-05-08 01:30+00' "
                  "WHERE station = 'FRA' AND date = '2017-05-08'")
        sql(buyer, "SET nyop.now = '2017-05-08 02:00+00'")
        table(sql(buyer, f"SELECT * FROM {view} ORDER BY station, date"))
        print("  (FRA 05-08 still shows 17 degrees: the update is younger than the delay the airline bought)")
        show("The airline cannot read the provider's table")
        try:
            sql(buyer, "SELECT * FROM weather_a")
        except psycopg.Error as e:
            print(f"  ERROR: {e.diag.message_primary} (SQLSTATE {e.sqlstate})")
    show("What the provider sees of the bid: price, levels, status -- not the airline's weights")
    sql(conn, "SET ROLE weather_provider")
    table(sql(conn, "SELECT bid_id, offering, buyer, bid, status, round(cost, 2) AS cost, delay, "
                    "(SELECT string_agg(k || ' ' || (v->>'level'), ', ') FROM jsonb_each(levels) AS l(k, v)) AS levels "
                    "FROM nyop.provider_bids"))
    sql(conn, "RESET ROLE")
    with connect_as("airline") as buyer:
        explain_and_upgrade(buyer, prefs, view)


def explain_and_upgrade(buyer, prefs: str, view: str) -> None:
    show("What would more buy? nyop_explain")
    sql(buyer, f"SET nyop.now = '{paper.PAPER_NOW}'")
    e = sql(buyer, "SELECT nyop_explain('paper_a', 1000, %s::jsonb)", (prefs,)).fetchone()[0]
    for crit, nxt in e["next"].items():
        if nxt["next_level"] is None:
            print(f"  {crit}: at the highest level")
        else:
            print(f"  {crit}: level {nxt['next_level']} for {nxt['extra']:.2f} more (bid {nxt['bid']:.2f}), "
                  f"utility +{nxt['utility_gain']:.2f}")
    print(f"  full quality from a bid of {e['full_quality_bid']:.2f}")
    show("The airline upgrades: it bids 100 more and pays only that; the view is replaced in place")
    bid_id, status, q, view2 = sql(buyer, "INSERT INTO nyop.bids (offering, bid, preferences) "
                                          "VALUES ('paper_a', 100, %s) RETURNING bid_id, status, quote, view",
                                   (prefs,)).fetchone()
    print(f"  bid {bid_id}: {status}, upgrade of bid {q.get('upgrade_of')}, paid in total {q.get('paid_total')}; "
          f"timeliness level {q['levels']['timeliness']['level']}, delay {q['delay']}; view {view2} "
          f"({'the same' if str(view2) == str(view) else 'a new one'})")


def check_target(conn) -> None:
    """The demo creates the example's tables and offerings: refuse, plainly, a database that
    lacks nyop or already has them."""
    from .errors import CLIError
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'nyop'").fetchone() is None:
        raise CLIError("nyop is not installed in that database", "run: nyop-pg install --dsn '…' (as a superuser)")
    tables = [t for (t,) in conn.execute(
        "SELECT t FROM unnest(ARRAY['weather_a', 'weather_b']) t WHERE to_regclass(t) IS NOT NULL").fetchall()]
    offerings = [o for (o,) in conn.execute(
        "SELECT name FROM nyop.offerings WHERE name IN ('paper_a', 'wa', 'wb') ORDER BY name").fetchall()]
    if tables or offerings:
        what = ", ".join([f"table {t}" for t in tables] + [f"offering {o}" for o in offerings])
        raise CLIError(f"the database already has the demo's objects ({what})",
                       "point --dsn at a database with nyop but without them (CREATE DATABASE, nyop-pg install)")


def run(dsn: str | None = None) -> int:
    if dsn:
        from .errors import connect
        with connect(dsn, autocommit=True) as conn:
            check_target(conn)
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
            story(conn, connect_as=lambda role: psycopg.connect(cluster.dsn_for("nyop_demo", user=role),
                                                                autocommit=True))
    return 0


if __name__ == "__main__":
    sys.exit(run())
