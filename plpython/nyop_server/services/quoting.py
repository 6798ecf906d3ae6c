"""Quoting: an offering's (or a comparison group's) priced classes, solved for a bid. One
private implementation behind named entry points, one per kind of quote nyop makes."""

from __future__ import annotations

import json

from .. import model, pricing
from . import catalog
from .catalog import MARKET_SCHEMA, Ctx
from .measures import cache_ttl, clock, measures_for, reference_column_count, reference_scores


PREVIEW_COLUMNS_SQL = "SELECT quote->'columns' AS columns FROM nyop.previews WHERE offering = $1"


def preview_columns(ctx: Ctx, offering: str) -> list:
    """Columns of the offering's free preview: every paid version includes them."""
    if not ctx.schema_at_least(MARKET_SCHEMA):
        return []
    rows = ctx.query(PREVIEW_COLUMNS_SQL, ("text",), (offering,))
    return json.loads(rows[0]["columns"]) if rows and rows[0]["columns"] else []


def quote(ctx: Ctx, offering, bid, preferences, columns=None, scope=None, solver="exact") -> dict:
    """nyop_quote: maintained measures (tables); a scan cached for nyop.quality_cache_ttl otherwise."""
    return _quote(ctx, offering, bid, preferences, columns, scope, solver)


def explain(ctx: Ctx, offering, bid, preferences, columns=None, scope=None, solver="exact") -> dict:
    """nyop_explain: the quote plus, per criterion, what the next level costs."""
    return _quote(ctx, offering, bid, preferences, columns, scope, solver, explain=True)


def quote_bid(ctx: Ctx, offering, bid, preferences, columns, scope, solver) -> dict:
    """A bid's quote: current measures (maintained, or a fresh scan), and the greedy's answer beside
    the exact one (analytics)."""
    return _quote(ctx, offering, bid, preferences, columns, scope, solver, fresh=True, with_greedy=True)


def quote_upgrade(ctx: Ctx, offering, bid, preferences, columns, scope, solver, held_levels: dict,
                  paid: float, hold=None) -> dict:
    """An upgrade of a held purchase: every level at least the held one, priced on everything
    paid for the offering with this bid (MODEL §8); with what more would buy (its minimum).
    ``hold``: the columns the buyer will then hold (held ∪ newly wanted): the amount-of-data
    level must deliver them all, so buying columns one bid at a time never costs less."""
    if hold:
        off = catalog.offering(ctx, offering)
        kept = set(off["key_columns"]) | set(preview_columns(ctx, offering))
        held_levels = dict(held_levels)
        aod = held_levels.get("amount_of_data")
        aod = dict(aod) if isinstance(aod, dict) else ({} if aod is None else {"level": aod})
        aod.update(columns=len(set(hold) | kept), kept=len(kept))
        held_levels["amount_of_data"] = aod
    return _quote(ctx, offering, bid, preferences, columns, scope, solver, fresh=True, floors=held_levels,
                  budget=paid + float(pricing.check_bid(bid)), with_greedy=True, explain=True)


def quote_minimum(ctx: Ctx, offering, preferences) -> dict:
    """The offering's lowest version (a free preview): fresh measures, every criterion at its minimum."""
    return _quote(ctx, offering, 1e-9, preferences, None, None, "exact", fresh=True, minimum=True)


def _quote(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact", fresh=False,
           floors=None, budget=None, explain=False, minimum=False, with_greedy=False):
    """Quote an offering or a comparison group (see the named entry points above)."""
    bid = pricing.check_bid(bid)
    solver = pricing.check_solver(solver)
    members, is_group = catalog.resolve_offerings(ctx, offering)
    peers = members if is_group else catalog.peers(ctx, members[0])
    crits = {m["name"]: catalog.criteria(ctx, m["name"]) for m in members}
    known = []
    for rows in crits.values():
        known += [r["criterion"] for r in rows if r["criterion"] not in known]
    omega = model.normalise_preferences(preferences, known)
    now = clock(ctx)
    measures = measures_for(ctx, peers, scope, now, 0.0 if fresh else cache_ttl(ctx))
    reference = reference_scores(measures)
    n_ref = reference_column_count(peers)
    quotes, first_error = [], None
    for m in members:
        meas = measures[m["name"]]
        if isinstance(meas, Exception):
            if not is_group:
                raise meas
            first_error = first_error or meas
            quotes.append({"offering": m["name"], "accepted": False, "reason": meas.message})
            continue
        wanted = pricing.check_columns(columns, m["columns"]) if not is_group else \
            [c for c in (columns or []) if c in m["columns"]]
        if meas["rows"] == 0:
            quotes.append({"offering": m["name"], "accepted": False, "solver": solver, "bid": bid,
                           "full_quality": False, "reason": "the scope selects no rows"})
            continue
        q = pricing.quote_offering(m, crits[m["name"]], meas, reference, omega, bid, wanted, solver, n_ref,
                                   floors=floors, budget=budget, always=preview_columns(ctx, m["name"]),
                                   minimum=minimum, with_greedy=with_greedy)
        q["quality"] = {k: meas[k] for k in ("completeness", "timeliness", "amount_of_data", "rows")}
        if explain:
            q.update(pricing.explain(q, pricing.priced_classes(m, crits[m["name"]], meas, reference, floors),
                                     omega))
        quotes.append(q)
    if is_group and first_error and not any(q.get("accepted") for q in quotes) \
            and all("solver" not in q for q in quotes):
        raise first_error
    if not is_group:
        return quotes[0]
    best = pricing.best_of(quotes)
    best["group"] = offering
    return best
