"""Measured quality of offerings: "now", the maintained measures of sold tables (read in a
bounded number of rows, whatever the table's size), one set-based pass otherwise (scoped
measures; partitioned tables, views and materialized views, cached per session), and the
reference scores of a comparison group.

Maintained measures (sql/idempotent/055-summaries.sql): rows and non-null cells per column,
and the last-updated values as (per-value counts, per-bucket counts and sums), folded from
the deltas that statement-level triggers append in the writers' transactions. A read takes the
folded summary and the pending deltas in one statement (one snapshot), so it is exactly what a
scan of the table would count at that moment, including the reader's own uncommitted writes.

Timeliness Σ clamp(1 − (now − LU)/v, 0, 1) is piecewise linear in LU with two kinks, at
now − v and now: buckets entirely on one side of a kink add their count (or nothing) or
(sum − count·(now − v))/v; the values in the two level-0 buckets holding a kink are read one
by one. So the figure is exact (integer microseconds, summed as numeric), not an interpolation.
"""

from __future__ import annotations

import time

from .. import model, quality
from ..errors import InvalidParameter, NyopError
from .catalog import TRUST_SCHEMA, Ctx
from .scopes import offering_scope


CLOCK_SQL = """SELECT c::text AS now, extract(epoch FROM c)::float8 AS epoch,
                      (extract(epoch FROM c) * 1000000)::int8 AS now_us,
                      current_setting('nyop.quality_cache_ttl', true) AS ttl,
                      current_setting('nyop.measures', true) AS source FROM nyop.clock() c"""

INT8_MIN, INT8_MAX = -(2 ** 63), 2 ** 63 - 1
FANOUT_BITS = 6                 # bucket level l is 2^(shift + 6 l) microseconds wide
FOLD_PENDING_ROWS = 32          # a reader folds when more deltas than this are pending ...
FOLD_PENDING_PAIRS = 20000      # ... or more last-updated values


def clock(ctx: Ctx) -> str:
    return clock_row(ctx)["now"]


def clock_row(ctx: Ctx) -> dict:
    """"now" (text, epoch, microseconds) and the measure settings, in one query per call."""
    if "clock" not in ctx.memo:
        ctx.memo["clock"] = dict(ctx.query(CLOCK_SQL)[0])
    return ctx.memo["clock"]


def measure(ctx: Ctx, off: dict, ref_columns: int, scope_sql, now: str) -> dict:
    """One set-based pass over the offering's relation (optionally scoped).

    A scoped pass is a one-shot query with "now" written in (exactly): its text varies per
    buyer anyway, and PostgreSQL runs a one-shot query of PL/Python in parallel where it would
    run the scan so, never a prepared statement."""
    c = clock_row(ctx)
    if scope_sql is not None and now == c["now"] and abs(int(c["now_us"])) < 2 ** 53:     # (exact in float8)
        sql = quality.measure_sql(off["relation_sql"], off["columns"], off["last_updated"],
                                  off["volatility_seconds"], scope_sql, off.get("lu_type"),
                                  now_sql=quality.now_literal_sql(c["now_us"]))
        row = ctx.execute(sql)[0]
    else:
        sql = quality.measure_sql(off["relation_sql"], off["columns"], off["last_updated"],
                                  off["volatility_seconds"], scope_sql, off.get("lu_type"))
        row = ctx.query(sql, ("timestamptz",), (now,), keep=scope_sql is None)[0]
    n_measured = len(quality.measured_columns(off["columns"], off["last_updated"]))
    return quality.assemble(row, len(off["columns"]), n_measured, ref_columns)


def measure_one(ctx: Ctx, off: dict, ref_columns: int, scope_sql, now: str) -> dict:
    """The offering's measures: maintained when unscoped and kept for its table, else a scan."""
    if scope_sql is None:
        m = maintained(ctx, off, ref_columns)
        if m is not None:
            return m
    return measure(ctx, off, ref_columns, scope_sql, now)


def reference_column_count(peers: list) -> int:
    return len(quality.reference_columns([p["columns"] for p in peers]))


def cache_ttl(ctx: Ctx) -> float:
    """nyop.quality_cache_ttl (seconds, default 60; 0 = always measure afresh): for offerings
    measured by a scan only (partitioned tables, views, materialized views)."""
    raw = clock_row(ctx)["ttl"]
    try:
        return max(0.0, float(raw)) if raw not in (None, "") else 60.0
    except ValueError:
        raise InvalidParameter("nyop.quality_cache_ttl must be a number of seconds, got %r" % raw)


def measures_for(ctx: Ctx, peers: list, scope, now: str, ttl: float) -> dict:
    """Measured quality of every peer (scoped if a scope is given): {name: measures or error}.

    Unscoped measures of a table nyop maintains them for are read from the summary (exact and
    current). Otherwise a scan, cached per session for ``ttl`` seconds of wall time and of
    "now" when unscoped, so staleness is bounded by the TTL (timeliness by TTL / volatility).
    """
    n_ref = reference_column_count(peers)
    out = {}
    for p in peers:
        try:
            scope_sql = offering_scope(scope, p)[0]
        except NyopError as e:
            out[p["name"]] = e
            continue
        if scope_sql is None:
            m = maintained(ctx, p, n_ref)
            if m is not None:
                out[p["name"]] = m
                continue
        key = ("quality", p["name"])
        cacheable = scope_sql is None and ttl > 0
        if cacheable:
            now_epoch = clock_row(ctx)["epoch"]
            hit = ctx.cache.get(key)
            if hit and hit[0] == p["registered_at"] and time.monotonic() - hit[1] <= ttl \
                    and abs(now_epoch - hit[2]) <= ttl:
                out[p["name"]] = hit[3]
                continue
        m = measure(ctx, p, n_ref, scope_sql, now)
        if cacheable:
            ctx.cache[key] = (p["registered_at"], time.monotonic(), now_epoch, m)
        out[p["name"]] = m
    return out


def reference_scores(measures: dict) -> dict:
    """s_ref per measured criterion: the best score over the group (own score when alone)."""
    ref = {}
    for m in measures.values():
        if isinstance(m, Exception):
            continue
        for k in model.MEASURED:
            if m.get(k) is not None:
                ref[k] = max(ref.get(k, 0.0), m[k])
    return ref


# -- maintained measures -----------------------------------------------------------------

HAS_SUMMARIES_SQL = "SELECT to_regclass('nyop.measure_state') IS NOT NULL AS ok"

# What the summary is and which state it is in: the folded row's version and the pending deltas
# (an id and a count: deltas are only added, and only a fold, which rewrites the row, removes them).
SUMMARY_HEAD_SQL = r"""
SELECT s.columns, s.last_updated, s.shift, s.levels, s.stale,
       s.xmin::text || ':' || s.ctid::text || ':' || (SELECT coalesce(max(x.id), 0) || ':' || count(*)
                                                     FROM nyop.measure_deltas x WHERE x.relation = $1) AS version,
       c.relkind = 'r' AND NOT c.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid)
       AND (SELECT count(*) FROM pg_catalog.pg_trigger t
            WHERE t.tgrelid = c.oid AND t.tgname LIKE 'nyop\_measure\_%' AND t.tgenabled IN ('O', 'A')) = 4
         AS usable
FROM nyop.measure_state s JOIN pg_catalog.pg_class c ON c.oid = s.relation
WHERE s.relation = $1::oid::regclass"""

# The folded state and the pending deltas (after the last TRUNCATE among them, which voids what
# came before it), in one statement: one snapshot. Parameters: $1 relation.
_SUMMARY_CTES = """
WITH st AS (SELECT s.rows, s.nonnull FROM nyop.measure_state s WHERE s.relation = $1::oid::regclass),
     d AS (SELECT x.id, x.reset, x.rows, x.nonnull, x.lus, x.cnts FROM nyop.measure_deltas x WHERE x.relation = $1),
     r AS (SELECT max(d.id) AS rid FROM d WHERE d.reset),
     k AS (SELECT (SELECT r.rid FROM r) IS NULL AS keep),
     live AS (SELECT d.* FROM d WHERE NOT d.reset AND d.id > coalesce((SELECT r.rid FROM r), -1)),
     pairs AS (SELECT u.us, u.c FROM live, unnest(live.lus, live.cnts) AS u(us, c)),
     counts AS (
        SELECT (SELECT count(*) FROM d) AS pending, (SELECT count(*) FROM pairs) AS pending_pairs, k.keep,
               (SELECT CASE WHEN k.keep THEN st.rows ELSE 0 END FROM st) + (SELECT coalesce(sum(live.rows), 0) FROM live)
                 AS rows,
               (SELECT array_agg(coalesce(b.x, 0) + coalesce(q.s, 0) ORDER BY b.i)
                FROM (SELECT CASE WHEN k.keep THEN u.x ELSE 0 END AS x, u.i
                      FROM st, unnest(st.nonnull) WITH ORDINALITY AS u(x, i)) b
                LEFT JOIN (SELECT u.i, sum(u.x) AS s FROM live, unnest(live.nonnull) WITH ORDINALITY AS u(x, i)
                           GROUP BY u.i) q ON q.i = b.i) AS nonnull
        FROM k)"""

# f(us): a row's timeliness from its last-updated value (us), with $2 = now, $3 = now − v, $4 = v
_F = ("CASE WHEN {u} >= $2 THEN 1 WHEN {u} <= $3 THEN 0 ELSE ({u} - $3)::numeric / $4 END")

SUMMARY_NO_LU_SQL = _SUMMARY_CTES + """
SELECT counts.*, NULL::numeric AS timely FROM counts"""

# With a last-updated column: the buckets above each kink's level-0 bucket ($5/$6: per level, lowest and highest
# bucket above "now"'s; $7/$8: above now − v's), and one by one the values of the two level-0
# buckets holding a kink ($9: now − v's, $10: now's) and 'infinity' (the largest int8, in $11).
SUMMARY_LU_SQL = _SUMMARY_CTES + """,
     g_now AS (SELECT coalesce(sum(b.cnt), 0) AS cnt, coalesce(sum(b.s), 0) AS s
               FROM unnest($5::int8[], $6::int8[]) WITH ORDINALITY AS g(lo, hi, l)
               JOIN nyop.measure_buckets b ON b.relation = $1 AND b.lvl = g.l - 1 AND b.b BETWEEN g.lo AND g.hi),
     g_x1 AS (SELECT coalesce(sum(b.cnt), 0) AS cnt, coalesce(sum(b.s), 0) AS s
              FROM unnest($7::int8[], $8::int8[]) WITH ORDINALITY AS g(lo, hi, l)
              JOIN nyop.measure_buckets b ON b.relation = $1 AND b.lvl = g.l - 1 AND b.b BETWEEN g.lo AND g.hi),
     kinks AS (SELECT coalesce(sum(u.c * """ + _F.format(u="u.us") + """), 0) AS f,
                      coalesce(sum(u.c) FILTER (WHERE m.b = $10 AND u.us < 9223372036854775807), 0) AS e2_cnt,
                      coalesce(sum(u.c::numeric * u.us) FILTER (WHERE m.b = $10 AND u.us < 9223372036854775807), 0)
                        AS e2_s
               FROM nyop.measure_values m, unnest(m.us, m.c) AS u(us, c)
               WHERE m.relation = $1 AND m.b IN ($9, $10, $11)
                 AND (m.b IN ($9, $10) OR u.us = 9223372036854775807)),
     pend AS (SELECT coalesce(sum(p.c * """ + _F.format(u="p.us") + """), 0) AS f FROM pairs p)
SELECT counts.*,
       CASE WHEN counts.keep
            THEN kinks.f + g_now.cnt
                 + ((g_x1.s - g_now.s - kinks.e2_s) - (g_x1.cnt - g_now.cnt - kinks.e2_cnt) * $3::numeric) / $4
            ELSE 0 END + pend.f AS timely
FROM counts, g_now, g_x1, kinks, pend"""

FOLD_SQL = "SELECT CASE WHEN now() = statement_timestamp() THEN nyop._measure_fold($1) END AS folded"
SEED_SQL = "SELECT nyop._measure_seed($1, true) AS seeded"


def summaries_installed(ctx: Ctx) -> bool:
    """Whether the installed schema maintains measures (0.3.0 with nyop.measure_state)."""
    if not ctx.schema_at_least(TRUST_SCHEMA):
        return False
    key = ("summaries", ctx.schema_version())
    if key not in ctx.cache:
        ctx.cache[key] = bool(ctx.query(HAS_SUMMARIES_SQL)[0]["ok"])
    return ctx.cache[key]


def ensure_summary(ctx: Ctx, relid) -> None:
    """Registration: maintain the measures of the offering's table from now on (plain tables;
    seeded with one scan), or stop when it is not one (sql/idempotent/055-summaries.sql)."""
    if summaries_installed(ctx):
        ctx.query("SELECT nyop._install_measures($1::oid::regclass)", ("oid",), (relid,))


def _head(ctx: Ctx, relid) -> dict | None:
    rows = ctx.query(SUMMARY_HEAD_SQL, ("oid",), (relid,))
    return dict(rows[0]) if rows else None


def kink_ranges(x: int, shift: int, levels: int) -> tuple:
    """For a point ``x`` (microseconds): per level, the lowest and highest bucket that together
    cover every value from the end of x's level-0 bucket on (the rest of each parent bucket)."""
    lo, hi = [], []
    for l in range(levels):
        k = x >> (shift + FANOUT_BITS * l)
        lo.append(_clamp(k + 1))
        hi.append(((k >> FANOUT_BITS) << FANOUT_BITS) + (2 ** FANOUT_BITS - 1) if l < levels - 1 else INT8_MAX)
    return lo, hi


def _clamp(v: int) -> int:
    return max(INT8_MIN, min(INT8_MAX, v))


def summary(ctx: Ctx, off: dict) -> dict | None:
    """The maintained counts of the offering's table, read once per call: {"rows", "nonnull":
    {column: n}, "timely": Σ per-row timeliness (None without a last-updated column)}; None
    when the table's measures are not maintained (or not for this offering's columns), and
    then the caller scans. A stale or missing summary is re-seeded here when it can be (one
    scan; never waiting for writers), else the caller scans."""
    key = ("summary", off["relid"], off["name"])
    if key in ctx.memo:
        return ctx.memo[key]
    ctx.memo[key] = None
    if clock_row(ctx)["source"] == "scan" or not summaries_installed(ctx):
        return None
    head = _head(ctx, off["relid"])
    if head is None or not head["usable"]:
        return None
    cols = list(head["columns"])
    lu = off.get("last_updated")
    if lu is not None and (lu != head["last_updated"] or not off.get("volatility_seconds")):
        return None
    if any(c not in cols for c in quality.measured_columns(off["columns"], lu)):
        return None
    if head["stale"]:
        if not ctx.query(SEED_SQL, ("oid",), (off["relid"],))[0]["seeded"]:
            return None
        head = _head(ctx, off["relid"])
    now_us = int(clock_row(ctx)["now_us"])
    # the same summary state at the same "now" (a session's quotes between two writes): the same figures
    cache_key = ("summary", off["relid"], lu, off.get("volatility_seconds"))
    hit = ctx.cache.get(cache_key)
    if hit and hit[0] == (head["version"], now_us):
        ctx.memo[key] = hit[1]
        return hit[1]
    if lu is None:
        row = ctx.query(SUMMARY_NO_LU_SQL, ("oid",), (off["relid"],))[0]
    else:
        v_us = max(1, int(round(float(off["volatility_seconds"]) * 1e6)))
        x1 = now_us - v_us
        s, levels = int(head["shift"]), int(head["levels"])
        lo_now, hi_now = kink_ranges(now_us, s, levels)
        lo_x1, hi_x1 = kink_ranges(x1, s, levels)
        row = ctx.query(SUMMARY_LU_SQL, ("oid", "int8", "int8", "int8", "int8[]", "int8[]", "int8[]", "int8[]",
                                         "int8", "int8", "int8"),
                        (off["relid"], now_us, x1, v_us, lo_now, hi_now, lo_x1, hi_x1,
                         x1 >> s, now_us >> s, INT8_MAX >> s))[0]
    nonnull = [int(x) for x in (row["nonnull"] or [])]
    out = {"rows": int(row["rows"]), "nonnull": dict(zip(cols, nonnull)),
           "timely": row["timely"] if lu is not None else None}
    if int(row["pending"]) > FOLD_PENDING_ROWS or int(row["pending_pairs"]) > FOLD_PENDING_PAIRS:
        ctx.query(FOLD_SQL, ("oid",), (off["relid"],))        # for the next reader; this one is done
    else:
        ctx.cache[cache_key] = ((head["version"], now_us), out)
    ctx.memo[key] = out
    return out


def maintained(ctx: Ctx, off: dict, ref_columns: int) -> dict | None:
    """The offering's unscoped measures from its maintained summary (None: not maintained)."""
    sm = summary(ctx, off)
    if sm is None:
        return None
    measured = quality.measured_columns(off["columns"], off["last_updated"])
    rows = sm["rows"]
    timely = None
    if sm["timely"] is not None:
        timely = float(sm["timely"]) / rows if rows else None
    row = {"rows": rows, "nonnull": sum(sm["nonnull"][c] for c in measured), "timeliness": timely}
    return quality.assemble(row, len(off["columns"]), len(measured), ref_columns)


def summary_counts(ctx: Ctx, off: dict, columns: list) -> dict | None:
    """Rows and non-null cells per column of the offering's table, from its summary (None when
    not maintained): what a mask threshold is chosen from without a pass over the data."""
    sm = summary(ctx, off)
    if sm is None or any(c not in sm["nonnull"] for c in columns):
        return None
    return {"rows": sm["rows"], "nonnull": {c: sm["nonnull"][c] for c in columns}}
