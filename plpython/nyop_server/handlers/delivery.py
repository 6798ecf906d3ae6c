"""sql/idempotent/050-delivery.sql: the bid trigger's work (nyop._place_bid) — price the bid,
create the buyer's view or upgrade the one it holds, record the shares."""

from __future__ import annotations

import json

from ..errors import InsufficientPrivilege
from ..services import catalog, quoting, views
from ..services.catalog import MARKET_SCHEMA, TRUST_SCHEMA, Ctx
from .registry import handler


HELD_SQL = """
SELECT p.bid_id, p.offering AS held_offering, p.view::text AS view_sql, p.view::oid AS view_oid, p.threshold,
       p.masked, b.quote, b.columns, b.scope
FROM nyop.bids b JOIN nyop.purchases p USING (bid_id)
WHERE b.buyer = $1::regrole AND b.offering = $2 AND md5(coalesce(b.scope, '')) = md5(coalesce($3, ''))
  AND b.status = 'accepted' AND b.scope IS NOT DISTINCT FROM $3 AND p.superseded_by IS NULL
ORDER BY p.bid_id DESC LIMIT 1"""


def commission_rate(ctx: Ctx) -> float:
    if not ctx.schema_at_least(MARKET_SCHEMA):
        return 0.0
    r = ctx.query("SELECT (value #>> '{}')::float8 AS v FROM nyop.settings WHERE key = 'commission_rate'")
    return float(r[0]["v"]) if r else 0.0


@handler
def place_bid(ctx, bid_id, offering, buyer, bid, preferences, columns=None, scope=None, solver="exact"):
    """The bid trigger's work: quote with fresh measures; if accepted, create (or, for a buyer
    who already holds this offering, upgrade in place) the view; record the shares."""
    market = ctx.schema_at_least(MARKET_SCHEMA)
    if ctx.schema_at_least(TRUST_SCHEMA):
        # Locks in one order, buyer then offering, before any view: (1) the buyer's row, so one bid
        # at a time per buyer (a re-bid must see the purchase it upgrades) and none while the buyer
        # is being removed (no other role can lock it, unlike an advisory lock anyone could hold);
        # (2) the offering's row(s), so nyop_drop_offering, which locks them before dropping views,
        # waits for bids in flight or makes later ones fail cleanly (no deadlock).
        is_buyer = ctx.query("SELECT 1 FROM nyop.buyers WHERE buyer = $1::regrole FOR NO KEY UPDATE",
                             ("text",), (buyer,))
        ctx.query("SELECT 1 FROM nyop.offerings WHERE name = $1 OR comparison_group = $1 ORDER BY name FOR KEY SHARE",
                  ("text",), (offering,))
    else:
        is_buyer = ctx.query("SELECT 1 FROM nyop.buyers WHERE buyer = $1::regrole", ("text",), (buyer,))
        ctx.query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 1861))", ("text", "text"),
                  (buyer, offering))
    if not is_buyer and not ctx.query("SELECT 1 FROM pg_roles WHERE oid = $1::regrole AND rolsuper", ("text",),
                                      (buyer,)):
        raise InsufficientPrivilege("role %s is not a buyer" % buyer, hint="the operator runs nyop_add_buyer(role)")
    # whatever columns it names: holdings combine, columns by union (MODEL §8)
    held = ctx.query(HELD_SQL, ("text", "text", "text"), (buyer, offering, scope)) if market else []
    if held:
        return upgrade(ctx, dict(held[0]), bid_id, offering, buyer, bid, preferences, columns, scope, solver)
    q = quoting.quote_bid(ctx, offering, bid, preferences, columns, scope, solver)
    if not q["accepted"]:
        return {"status": "rejected", "quote": q, "view": None}
    off = catalog.offering(ctx, q["offering"])
    view_name = views.view_name_for(off["name"], "_%d" % bid_id)
    oid = views.build_view(ctx, off, q, bid_id, buyer, scope, view_name, q["columns"])
    return accepted(ctx, q, oid, bid)


def accepted(ctx: Ctx, q: dict, oid, paid: float) -> dict:
    rate = commission_rate(ctx)
    return {"status": "accepted", "quote": q, "view": oid,
            "operator_share": paid * rate, "provider_share": paid - paid * rate}


def upgrade(ctx, held, bid_id, offering, buyer, bid, preferences, columns, scope, solver):
    """A buyer bids again on a purchase it holds (same offering and scope, whatever columns it
    names): it pays only this bid, for a version at least as good in every criterion that holds
    the union of the held and the newly wanted columns, accepted only if everything paid for the
    offering covers it (MODEL §8); the view is replaced in place (same name and OID)."""
    old = json.loads(held["quote"])
    paid = float(old.get("paid_total", old["bid"]))
    # the held quote's entries: a contractual criterion's floor goes by its tier (its level
    # depends on the offering's number of levels, which may have changed since)
    held_levels = dict(old["levels"])
    # the held member, not the group it was bought through: an upgrade never changes provider
    offering = held["held_offering"]
    held_cols = old.get("view_columns") or old["columns"]
    # the union: newly wanted columns first (the buyer's order), then those held
    hold = [c for c in (columns or [])] + [c for c in held_cols if c not in (columns or [])]
    q = quoting.quote_upgrade(ctx, offering, bid, preferences, hold, held["scope"], solver,
                              held_levels, paid, hold=hold)
    q["upgrade_of"] = held["bid_id"]
    # a level the buyer gives no weight adds no utility: the solver would not buy it
    nxt = [n["bid"] for n in (q.pop("next", None) or {}).values()
           if n.get("bid") is not None and n.get("utility_gain", 0) > 0]
    q.pop("full_quality_bid", None)
    if not q["accepted"]:
        return {"status": "rejected", "quote": q, "view": None}
    if all(q["levels"].get(k) and _same_level(q["levels"][k], v) for k, v in held_levels.items()):
        q.update(accepted=False, reason="this bid buys nothing beyond the version you hold (bid %s); "
                                        "bid more to upgrade" % held["bid_id"])
        if nxt:        # the smallest extra payment that buys one level more somewhere
            q["minimum_bid"] = max(min(nxt) - paid, 0.0)
        for k in ("levels", "columns", "delay", "delay_seconds", "completeness_target", "utility", "cost"):
            q.pop(k, None)
        return {"status": "rejected", "quote": q, "view": None}
    q["paid_total"] = paid + bid
    off = catalog.offering(ctx, q["offering"])
    # the old columns keep their places (dashboards), new ones follow: CREATE OR REPLACE keeps the OID
    order = list(held_cols) + [c for c in q["columns"] if c not in held_cols]
    view_name = ctx.query("SELECT relname FROM pg_class WHERE oid = $1", ("oid",), (held["view_oid"],))[0]["relname"]
    ctx.query("UPDATE nyop.purchases SET superseded_by = $1 WHERE bid_id = $2", ("int8", "int8"),
              (bid_id, held["bid_id"]))
    oid = views.build_view(ctx, off, q, bid_id, buyer, held["scope"], view_name, order,
                           held=views.Held(held["threshold"], held["masked"], held["view_oid"]))
    return accepted(ctx, q, oid, bid)


def _same_level(new: dict, held: dict) -> bool:
    if "tier" in new and "tier" in held:
        return new["tier"] == held["tier"]
    return abs(new["level"] - held["level"]) < 1e-9
