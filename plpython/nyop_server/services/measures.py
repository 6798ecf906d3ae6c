"""Measured quality of offerings: "now", one set-based pass per offering (optionally scoped),
the per-session cache of unscoped measures, and the reference scores of a comparison group."""

from __future__ import annotations

import time

from .. import model, quality
from ..errors import InvalidParameter, NyopError
from .catalog import Ctx
from .scopes import offering_scope


CLOCK_SQL = """SELECT c::text AS now, extract(epoch FROM c)::float8 AS epoch,
                      current_setting('nyop.quality_cache_ttl', true) AS ttl FROM nyop.clock() c"""


def clock(ctx: Ctx) -> str:
    return clock_row(ctx)["now"]


def clock_row(ctx: Ctx) -> dict:
    """"now" (text and epoch) and the cache TTL setting, in one query per call."""
    if "clock" not in ctx.memo:
        ctx.memo["clock"] = dict(ctx.query(CLOCK_SQL)[0])
    return ctx.memo["clock"]


def measure(ctx: Ctx, off: dict, ref_columns: int, scope_sql, now: str) -> dict:
    """One set-based pass over the offering's relation (optionally scoped)."""
    sql = quality.measure_sql(off["relation_sql"], off["columns"], off["last_updated"],
                              off["volatility_seconds"], scope_sql)
    row = ctx.query(sql, ("timestamptz",), (now,), keep=scope_sql is None)[0]
    n_measured = len(quality.measured_columns(off["columns"], off["last_updated"]))
    return quality.assemble(row, len(off["columns"]), n_measured, ref_columns)


def reference_column_count(peers: list) -> int:
    return len(quality.reference_columns([p["columns"] for p in peers]))


def cache_ttl(ctx: Ctx) -> float:
    """nyop.quality_cache_ttl (seconds, default 60; 0 = always measure afresh)."""
    raw = clock_row(ctx)["ttl"]
    try:
        return max(0.0, float(raw)) if raw not in (None, "") else 60.0
    except ValueError:
        raise InvalidParameter("nyop.quality_cache_ttl must be a number of seconds, got %r" % raw)


def measures_for(ctx: Ctx, peers: list, scope, now: str, ttl: float) -> dict:
    """Measured quality of every peer (scoped if a scope is given): {name: measures or error}.

    Unscoped measures are cached per session for ``ttl`` seconds of wall time and
    of "now", so staleness is bounded by the TTL (timeliness by TTL / volatility).
    """
    n_ref = reference_column_count(peers)
    out = {}
    for p in peers:
        try:
            scope_sql = offering_scope(scope, p)[0]
        except NyopError as e:
            out[p["name"]] = e
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
