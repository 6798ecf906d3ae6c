"""sql/idempotent/060-market.sql: nyop_explain, nyop_audit, free previews."""

from __future__ import annotations

import json

from .. import audit, delivery, pricing
from ..errors import InvalidParameter
from ..sqltext import ident, literal
from ..services import catalog, quoting, views
from ..services.measures import clock, measures_for, reference_scores
from .registry import handler


@handler
def explain(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact"):
    return quoting.explain(ctx, offering, bid, preferences, columns, scope, solver)


@handler
def audit_offering(ctx, offering):
    off = catalog.offering(ctx, offering)
    peers = catalog.peers(ctx, off)
    measures = measures_for(ctx, peers, None, clock(ctx), 0.0)
    crits = pricing.priced_classes(off, catalog.criteria(ctx, offering), measures[off["name"]],
                                   reference_scores(measures))
    out = audit.audit(crits)
    out["offering"] = offering
    return out


# -- free previews ------------------------------------------------------------------------

@handler
def publish_preview(ctx, offering):
    """The offering's lowest version, readable by every buyer, contained in every paid version:
    its columns are included in every later purchase, its mask threshold is at most every
    purchase's (later ones are raised to it), and its delay is the largest."""
    off = catalog.offering(ctx, offering)
    rows = catalog.criteria(ctx, offering)
    prefs = {r["criterion"]: 1.0 for r in rows} or None
    if not prefs:
        raise InvalidParameter("offering %s has no criteria to price a preview on" % offering)
    q = quoting.quote_minimum(ctx, offering, prefs)
    if not q.get("levels"):
        raise InvalidParameter("offering %s cannot deliver its minimum version: %s" % (offering, q.get("reason")))
    held = [json.loads(r["cols"]) for r in ctx.query(
        "SELECT b.quote->'view_columns' AS cols FROM nyop.purchases p JOIN nyop.bids b USING (bid_id) "
        "WHERE p.offering = $1 AND p.superseded_by IS NULL AND b.quote ? 'view_columns'", ("text",), (offering,))]
    cols = [c for c in q["columns"] if all(c in h for h in held) or c in off["key_columns"]]
    inner = views.view_inner(ctx, off, q, None, cols)
    threshold, use_mask, _ = views.choose_threshold(ctx, off, q, inner, cols)
    if use_mask:
        lows = [r["threshold"] for r in ctx.query(
            "SELECT threshold FROM nyop.purchases WHERE offering = $1 AND superseded_by IS NULL AND masked",
            ("text",), (offering,))]
        threshold = min([threshold] + lows)
    elif delivery.masked_columns(off, cols) and ctx.query(
            "SELECT 1 FROM nyop.purchases WHERE offering = $1 AND superseded_by IS NULL AND masked",
                   ("text",), (offering,)):
        raise InvalidParameter("a preview of %s would hold cells that some purchases mask" % offering)
    q["columns"] = cols
    view_name = views.view_name_for(offering, "_preview")
    view_sql = "%s.%s" % (ident(delivery.VIEW_SCHEMA), ident(view_name))
    ctx.execute(delivery.view_ddl(view_sql, off, cols, inner,
                                  delivery.preview_threshold_sql(offering) if use_mask else None, False,
                                  views.key_hash_fns(ctx, off), views.mask_scheme(ctx, off),
                                  barrier=q["delay_seconds"] > 0))
    ctx.execute("COMMENT ON VIEW %s IS %s; REVOKE ALL ON %s FROM PUBLIC"
                % (view_sql, literal("nyop free preview of " + offering), view_sql))
    # the buyers as of now, with role changes waiting (they take this lock too): a buyer removed
    # meanwhile keeps no grant, one added meanwhile gets it (nyop._grant_previews sees this preview)
    ctx.execute("LOCK TABLE nyop.buyers IN SHARE ROW EXCLUSIVE MODE")
    for r in ctx.query("SELECT buyer::text AS b FROM nyop.buyers"):
        ctx.execute("GRANT SELECT ON %s TO %s" % (view_sql, r["b"]))     # regrole text: already an identifier
    oid = ctx.query("SELECT $1::regclass::oid AS oid", ("text",), (view_sql,))[0]["oid"]
    public = {k: q[k] for k in ("levels", "columns", "delay", "delay_seconds", "completeness_target")}
    return {"view": oid, "threshold": threshold if use_mask else None, "quote": public}
