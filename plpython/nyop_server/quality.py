"""Quality measures of docs/model.md §2, as one set-based SQL pass over the relation.

:func:`measure_sql` writes the query; :func:`assemble` turns its single result
row into the measures. No row ever reaches Python.
"""

from __future__ import annotations

from .sqltext import ident

NUM_NONNULLS_MAX_ARGS = 100   # FUNC_MAX_ARGS of a stock PostgreSQL build


def measured_columns(columns: list, last_updated: str | None) -> list:
    """Completeness counts every column of u except the last-updated one."""
    return [c for c in columns if c != last_updated]


def lu_instant(column_sql: str, lu_type: str | None) -> str:
    """The last-updated value as an instant whatever the reader's TimeZone: a date or a
    timestamp without time zone is read as UTC (casting it to timestamptz would follow the
    session's TimeZone, and a buyer's setting could make data look fresher)."""
    if lu_type in ("date", "timestamp without time zone"):
        return "(%s::timestamp AT TIME ZONE 'UTC')" % column_sql
    return "%s::timestamptz" % column_sql


NOW_PARAM = "$1::timestamptz"
TIMELY_SCALE = "1125899906842624::float8"      # 2^50: a row's timeliness (0..1) as an exact int8


def now_literal_sql(now_us: int) -> str:
    """"now" written into the text, exactly (integer microseconds since the epoch, below 2^53:
    the product is computed in float8) and whatever the session's DateStyle or TimeZone: for a
    one-shot query, which PostgreSQL may run in parallel (a prepared statement of PL/Python never is)."""
    return "(TIMESTAMPTZ 'epoch' + %d * INTERVAL '1 microsecond')" % int(now_us)


def measure_sql(relation_sql: str, columns: list, last_updated: str | None,
                volatility_seconds: float | None, scope_sql: str | None, lu_type: str | None = None,
                now_sql: str = NOW_PARAM) -> str:
    """SELECT rows, nonnull, timeliness FROM relation [WHERE scope].

    ``now_sql`` is "now" (timestamptz; by default the parameter ``$1``). Timeliness per row is
    ``clamp(1 − (now − LU) / v, 0, 1)``: a row updated after "now" counts as fully
    timely (1), never more, and a row older than the volatility window as 0; a NULL LU
    counts as not timely (0). In float8 per row (``date_part``, not ``extract``, which returns
    numeric: numeric arithmetic and its conversion to float8 cost more than the rest of the
    pass), summed as integers (each value times 2^50, within 2^-51 of it): a parallel scan adds
    its parts in any order and the sum is the same, so the same rows give the same figure.
    ``num_nonnulls`` takes at most 100 arguments, so wide relations are summed
    in chunks.
    """
    cols = measured_columns(columns, last_updated)
    chunks = [cols[i:i + NUM_NONNULLS_MAX_ARGS] for i in range(0, len(cols), NUM_NONNULLS_MAX_ARGS)]
    nonnull = " + ".join("num_nonnulls(%s)" % ", ".join(ident(c) for c in ch) for ch in chunks) or "0"
    if last_updated and volatility_seconds:
        # ±infinity: 'infinity' is newer than any "now" (timeliness 1), '-infinity' older than
        # any window (0); the subtraction itself would overflow.
        lu = lu_instant(ident(last_updated), lu_type)
        timely = ("(sum((coalesce(CASE WHEN isfinite(%s) THEN least(1.0::float8, greatest(0.0::float8, 1.0::float8 - "
                  "date_part('epoch', %s - %s) / %r::float8)) "
                  "WHEN %s > %s THEN 1.0::float8 ELSE 0.0::float8 END, 0.0::float8) * %s)::int8)::float8 / %s "
                  "/ nullif(count(*), 0))"
                  % (lu, now_sql, lu, float(volatility_seconds), lu, now_sql, TIMELY_SCALE, TIMELY_SCALE))
    else:
        timely = "NULL::float8"
    where = " WHERE %s" % scope_sql if scope_sql else ""
    return ("SELECT count(*)::bigint AS rows, coalesce(sum(%s), 0)::bigint AS nonnull, %s::float8 AS timeliness"
            " FROM %s%s" % (nonnull, timely, relation_sql, where))


def assemble(row: dict, n_columns: int, n_measured: int, n_reference_columns: int) -> dict:
    """The measures from the single result row of :func:`measure_sql`."""
    rows = int(row["rows"])
    cells = rows * n_measured
    return {
        "completeness": (row["nonnull"] / cells) if cells else None,
        "timeliness": row["timeliness"],
        "amount_of_data": (n_columns / n_reference_columns) if n_reference_columns else None,
        "rows": rows,
        "cells": cells,
        "nonnull_cells": int(row["nonnull"]),
        "columns": n_columns,
    }


def reference_columns(member_columns: list) -> list:
    """X_ref: the union of the comparison group's columns, in first-seen order."""
    seen, out = set(), []
    for cols in member_columns:
        for c in cols:
            if c not in seen:
                seen.add(c)
                out.append(c)
    return out
