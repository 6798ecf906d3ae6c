"""Purchases: the bid trigger's work — history capture on base tables, the buyer's
view (created, or upgraded in place), commission shares, free previews.

SQL text comes from :mod:`delivery`; this module decides what to build and runs it.
"""

from __future__ import annotations

import json

from . import catalog, delivery, pricing
from .catalog import Ctx
from .edge import handler, offering_scope, quote_with
from .errors import InsufficientPrivilege, InvalidParameter
from .sqltext import ident, literal

HISTORY_SQL = "SELECT history::text AS history, key_columns, last_updated FROM nyop.histories WHERE relation = $1"

KEY_HASH_FNS_SQL = """
WITH RECURSIVE d AS (       -- each column's type and, through any domains, its base type
    SELECT a.attname, a.atttypid, a.atttypid AS base FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = $1 AND a.attname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT d.attname, d.atttypid, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid = d.base
    WHERE t.typtype = 'd')
SELECT d.attname AS name, format_type(d.atttypid, NULL) AS type,
       (SELECT quote_ident(n.nspname) || '.' || quote_ident(pr.proname)
        FROM pg_catalog.pg_opclass oc
        JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
        JOIN pg_catalog.pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2
             AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype
        JOIN pg_catalog.pg_proc pr ON pr.oid = p.amproc
        JOIN pg_catalog.pg_namespace n ON n.oid = pr.pronamespace
        WHERE oc.opcintype = d.atttypid AND oc.opcdefault AND pr.proargtypes[0] = d.atttypid
          AND pr.provolatile = 'i'
        LIMIT 1) AS fn,
       d.base::int8 AS base, format_type(d.base, NULL) AS base_type, b.typtype::text AS kind,
       (SELECT quote_ident(n.nspname) || '.' || quote_ident(pr.proname)
        FROM pg_catalog.pg_opclass oc
        JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
        JOIN pg_catalog.pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2
             AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype
        JOIN pg_catalog.pg_proc pr ON pr.oid = p.amproc
        JOIN pg_catalog.pg_namespace n ON n.oid = pr.pronamespace
        WHERE oc.opcdefault AND pr.proargtypes[0] = oc.opcintype AND pr.provolatile = 'i'
          AND (oc.opcintype = d.base       -- the base type itself, or the pseudo-type it matches
               OR oc.opcintype = 'pg_catalog.anyarray'::pg_catalog.regtype AND b.typelem <> 0
                  AND b.typlen = -1 AND b.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
               OR oc.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype AND b.typtype = 'e'
               OR oc.opcintype = 'pg_catalog.anyrange'::pg_catalog.regtype AND b.typtype = 'r'
               OR oc.opcintype = 'pg_catalog.anymultirange'::pg_catalog.regtype AND b.typtype = 'm')
        ORDER BY oc.opcintype <> d.base LIMIT 1) AS base_fn
FROM d JOIN pg_catalog.pg_type b ON b.oid = d.base
WHERE b.typtype <> 'd'"""

ENSURE_SEEDS_SQL = """
INSERT INTO nyop.mask_seeds (offering, column_name, seed)
SELECT $1, c, hashtextextended(s.secret || ':' || c, 0)
FROM unnest($2::text[]) c, nyop.offering_secrets s WHERE s.offering = $1
ON CONFLICT DO NOTHING"""

HELD_SQL = """
SELECT p.bid_id, p.offering AS held_offering, p.view::text AS view_sql, p.view::oid AS view_oid, p.threshold,
       p.masked, b.quote, b.columns, b.scope
FROM nyop.bids b JOIN nyop.purchases p USING (bid_id)
WHERE b.buyer = $1::regrole AND b.offering = $2 AND md5(coalesce(b.scope, '')) = md5(coalesce($3, ''))
  AND b.status = 'accepted' AND b.scope IS NOT DISTINCT FROM $3 AND p.superseded_by IS NULL
  AND ($4::text[] IS NULL OR b.columns IS NOT DISTINCT FROM $4)
ORDER BY p.bid_id DESC LIMIT 1"""

PREVIEW_SQL = "SELECT threshold, quote FROM nyop.previews WHERE offering = $1"


def relkind_of(ctx: Ctx, relid: int) -> str:
    return ctx.query("SELECT relkind::text AS k FROM pg_catalog.pg_class WHERE oid = $1", ("oid",), (relid,))[0]["k"]


def ensure_history(ctx: Ctx, off: dict, relkind: str) -> None:
    """Keep every old version of the offering's base table (tables only: a view keeps no rows).
    Re-registering after the provider added columns extends the history and its triggers."""
    if not off.get("last_updated") or relkind not in ("r", "p"):
        return
    have = ctx.query(HISTORY_SQL, ("oid",), (off["relid"],))
    name = delivery.history_name(off["relid"])
    if have:
        h = have[0]
        if list(h["key_columns"]) != list(off["key_columns"]) or h["last_updated"] != off["last_updated"]:
            raise InvalidParameter(
                "%s already keeps history keyed on (%s) with last-updated column %s; an offering on it must use "
                "the same" % (off["relation_sql"], ", ".join(h["key_columns"]), h["last_updated"]))
        hist_cols = {r["attname"] for r in ctx.query(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            ("text",), (h["history"],))}
        missing = [c for c in off["columns"] if c not in hist_cols]
        for c in missing:
            typ = ctx.query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute "
                            "WHERE attrelid = $1 AND attname = $2", ("oid", "text"), (off["relid"], c))[0]["t"]
            ctx.execute("ALTER TABLE %s ADD COLUMN %s %s" % (h["history"], ident(c), typ))
        if not ctx.has_trust():      # 0.3.0 on: nyop._install_capture drops them, in a marked transaction
            for trg in ("nyop_history_update", "nyop_history_delete", "nyop_history_truncate"):
                ctx.execute("DROP TRIGGER IF EXISTS %s ON %s" % (trg, off["relation_sql"]))
    else:
        for stmt in delivery.history_ddl(off["relation_sql"], name, off["key_columns"]):
            ctx.execute(stmt)
        ctx.query("INSERT INTO nyop.histories VALUES ($1::oid::regclass, ('nyop.' || quote_ident($2))::regclass, "
                  "$3, $4)", ("oid", "text", "text[]", "text"),
                  (off["relid"], name, off["key_columns"], off["last_updated"]))
    if ctx.has_trust():
        # capture runs with the table owner's rights (sql/idempotent/050-delivery.sql)
        ctx.query("SELECT nyop._install_capture($1::oid::regclass)", ("oid",), (off["relid"],))
        return
    for stmt in delivery.capture_triggers_ddl(off["relation_sql"], name, off["columns"], off["key_columns"],
                                              off["last_updated"]):
        ctx.execute(stmt)


def view_name_for(offering: str, suffix: str) -> str:
    """<offering><suffix>, the offering cut so that the name fits in 63 bytes and stays distinct."""
    return offering[:63 - len(suffix)] + suffix


def commission_rate(ctx: Ctx) -> float:
    if not ctx.has_market():
        return 0.0
    r = ctx.query("SELECT (value #>> '{}')::float8 AS v FROM nyop.settings WHERE key = 'commission_rate'")
    return float(r[0]["v"]) if r else 0.0


@handler
def place_bid(ctx, bid_id, offering, buyer, bid, preferences, columns=None, scope=None, solver="exact"):
    """The bid trigger's work: quote with fresh measures; if accepted, create (or, for a buyer
    who already holds this offering, upgrade in place) the view; record the shares."""
    market = ctx.has_market()
    if ctx.has_trust():
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
    held = ctx.query(HELD_SQL, ("text", "text", "text", "text[]"), (buyer, offering, scope, columns)) \
        if market else []
    if held:
        return upgrade(ctx, dict(held[0]), bid_id, offering, buyer, bid, preferences, columns, scope, solver)
    q = quote_with(ctx, offering, bid, preferences, columns, scope, solver, fresh=True, with_greedy=True)
    if not q["accepted"]:
        return {"status": "rejected", "quote": q, "view": None}
    off = catalog.offering(ctx, q["offering"])
    view_name = view_name_for(off["name"], "_%d" % bid_id)
    oid = build_view(ctx, off, q, bid_id, buyer, scope, view_name, q["columns"], floor=None)
    return accepted(ctx, q, oid, bid)


def accepted(ctx: Ctx, q: dict, oid, paid: float) -> dict:
    rate = commission_rate(ctx)
    return {"status": "accepted", "quote": q, "view": oid,
            "operator_share": paid * rate, "provider_share": paid - paid * rate}


def upgrade(ctx, held, bid_id, offering, buyer, bid, preferences, columns, scope, solver):
    """A buyer bids again on a purchase it holds (same offering and scope, same or no columns):
    it pays only this bid, for a version at least as good in every criterion; the view is
    replaced in place (same name and OID)."""
    old = json.loads(held["quote"])
    paid = float(old.get("paid_total", old["bid"]))
    floors = {k: v["level"] for k, v in old["levels"].items()}
    # the held member, not the group it was bought through: an upgrade never changes provider
    offering = held["held_offering"]
    q = quote_with(ctx, offering, bid, preferences, held["columns"], held["scope"], solver, fresh=True,
                   floors=floors, budget=paid + float(pricing.check_bid(bid)), with_greedy=True, explain=True)
    q["upgrade_of"] = held["bid_id"]
    nxt = [n["bid"] for n in (q.pop("next", None) or {}).values() if n.get("bid") is not None]
    q.pop("full_quality_bid", None)
    if not q["accepted"]:
        return {"status": "rejected", "quote": q, "view": None}
    if all(q["levels"].get(k) and abs(q["levels"][k]["level"] - v) < 1e-9 for k, v in floors.items()):
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
    held_cols = old.get("view_columns") or old["columns"]
    order = list(held_cols) + [c for c in q["columns"] if c not in held_cols]
    view_name = ctx.query("SELECT relname FROM pg_class WHERE oid = $1", ("oid",), (held["view_oid"],))[0]["relname"]
    ctx.query("UPDATE nyop.purchases SET superseded_by = $1 WHERE bid_id = $2", ("int8", "int8"),
              (bid_id, held["bid_id"]))
    floor = held["threshold"] if held["masked"] else "keep-all"
    oid = build_view(ctx, off, q, bid_id, buyer, held["scope"], view_name, order, floor=floor, replace=True)
    return accepted(ctx, q, oid, bid)


def build_view(ctx: Ctx, off: dict, q: dict, bid_id: int, buyer: str, scope, view_name: str, order: list,
               floor, replace: bool = False):
    """Create the buyer's view for quote ``q`` and record the purchase; returns the view's OID.

    The mask threshold is chosen on the data at purchase time so that delivered completeness
    is the target within one cell, then raised to ``floor`` (the held version's threshold on an
    upgrade; 'keep-all' if it had no mask) and to the free preview's, so both stay contained.
    A completeness target below 1 is always masked, whatever the data held when it was bought
    (MODEL.md §7.3). The view reads its threshold and delay from the purchase and is readable
    only once the bid's transaction has committed (§8)."""
    view_sql = "%s.%s" % (ident(delivery.VIEW_SCHEMA), ident(view_name))
    trust = ctx.has_trust()
    inner = view_inner(ctx, off, q, scope, order)
    market = ctx.has_market()
    preview = ctx.query(PREVIEW_SQL, ("text",), (off["name"],)) if market else []
    floors = [preview[0]["threshold"]] if preview and preview[0]["threshold"] is not None else []
    if floor == "keep-all":
        floor = None
        bought = False
    else:
        bought = "completeness" in q["levels"] or floor is not None or bool(floors)
    if floor is not None:
        floors.append(floor)
    # Completeness not bought (and nothing to stay contained in): the data as it is, no pass over it.
    threshold, use_mask, delivered = choose_threshold(ctx, off, q, inner, order) if bought else (None, False, None)
    if use_mask and floors and max(floors) > threshold:
        threshold, delivered = max(floors), "count"          # more cells than the target: count them below
    view_inner_sql = view_inner(ctx, off, q, scope, order, delay_sql=delivery.purchase_delay_sql(bid_id)) \
        if trust else inner
    ddl = [delivery.view_ddl(view_sql, off, order, view_inner_sql,
                             delivery.purchase_threshold_sql(bid_id) if use_mask else None, replace,
                             key_hash_fns(ctx, off), mask_scheme(ctx, off),
                             guard_sql=delivery.paid_guard_sql(bid_id) if trust else None)]
    if trust:
        # The purchase's figures (price, levels, delay) are its buyer's business: nyop.my_purchases
        # shows them; comments, readable by every role, say only what nyop does to each column.
        ddl.append("COMMENT ON VIEW %s IS %s" % (view_sql, literal(
            "nyop purchase of offering %s; its terms: SELECT * FROM nyop.my_purchases" % off["name"])))
        ddl += ["COMMENT ON COLUMN %s.%s IS %s" % (view_sql, ident(c), literal(text))
                for c, text in column_comments(ctx, off, order, use_mask, q["delay_seconds"] > 0).items()]
    else:
        comment = json.dumps({"bid_id": bid_id, "offering": off["name"], "price": q["bid"],
                              "levels": {k: v["level"] for k, v in q["levels"].items()},
                              "delay": q["delay"], "completeness_target": q["completeness_target"]})
        ddl.append("COMMENT ON VIEW %s IS %s" % (view_sql, literal("nyop purchase " + comment)))
    if delivered == "count":
        # cells kept under the raised threshold, counted with it written in (the view itself is
        # not readable until this transaction commits)
        d = ctx.execute(delivery.delivered_sql("(%s)" % delivery.view_select(
            off, order, inner, str(int(threshold)), key_hash_fns(ctx, off), mask_scheme(ctx, off)),
            off, order))[0]
        delivered = (int(d["nonnull"]) / int(d["cells"])) if int(d["cells"]) else None
    # one round trip; the REVOKE guards against default privileges an operator may have set
    oid = ctx.execute("; ".join(ddl + [
        "REVOKE ALL ON %s FROM PUBLIC" % view_sql,
        "GRANT SELECT ON %s TO %s" % (view_sql, buyer),      # regrole text: already an identifier
        "SELECT %s::regclass::oid AS oid" % literal(view_sql)]))[0]["oid"]
    record(ctx, bid_id, off, buyer, oid, threshold if use_mask else None, use_mask, delivered, q)
    q["view_completeness"] = delivered
    q["view_columns"] = order
    return oid


def record(ctx: Ctx, bid_id: int, off: dict, buyer: str, oid, threshold, masked: bool, delivered,
           q: dict) -> None:
    """The purchase row: what its view reads at query time (threshold, delay, placing transaction)."""
    if ctx.has_trust():
        ctx.query("INSERT INTO nyop.purchases (bid_id, offering, buyer, view, threshold, masked, completeness, "
                  "placed_xid, delay) VALUES ($1, $2, $3::regrole, $4::oid::regclass, $5, $6, $7, "
                  "pg_current_xact_id(), make_interval(secs => $8))",
                  ("int8", "text", "text", "oid", "int8", "bool", "float8", "float8"),
                  (bid_id, off["name"], buyer, oid, threshold, masked, delivered, float(q["delay_seconds"])))
    elif ctx.has_market():
        ctx.query("INSERT INTO nyop.purchases (bid_id, offering, buyer, view, threshold, masked, completeness) "
                  "VALUES ($1, $2, $3::regrole, $4::oid::regclass, $5, $6, $7)",
                  ("int8", "text", "text", "oid", "int8", "bool", "float8"),
                  (bid_id, off["name"], buyer, oid, threshold, masked, delivered))
    else:
        ctx.query("INSERT INTO nyop.purchases (bid_id, offering, buyer, view, threshold, completeness) "
                  "VALUES ($1, $2, $3::regrole, $4::oid::regclass, $5, $6)",
                  ("int8", "text", "text", "oid", "int8", "float8"),
                  (bid_id, off["name"], buyer, oid, threshold, delivered))


COLUMN_COMMENTS_SQL = """
SELECT a.attname AS name, pg_catalog.col_description(a.attrelid, a.attnum) AS comment
FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attname = ANY($2)"""


def column_comments(ctx: Ctx, off: dict, order: list, masked: bool, delayed: bool) -> dict:
    """Per column: the provider's comment, then what nyop does to it (never the purchase's figures)."""
    provider = {r["name"]: r["comment"] for r in ctx.query(COLUMN_COMMENTS_SQL, ("oid", "text[]"),
                                                             (off["relid"], list(order)))}
    masked_cols = set(delivery.masked_columns(off, order)) if masked else set()
    out = {}
    for c in order:
        if c in off["key_columns"]:
            treatment = "key column: delivered as is"
        elif c == off.get("last_updated"):
            treatment = "last-updated column: versions shown as of the purchased delay" if delayed \
                else "last-updated column: delivered as is"
        elif c in masked_cols:
            treatment = "cells nulled to the purchased completeness (keyed-hash mask, stable across queries)"
        else:
            treatment = "delivered as is"
        if delayed and c not in off["key_columns"] and c != off.get("last_updated"):
            treatment += "; delayed by the purchased delay"
        text = "nyop: " + treatment
        out[c] = ("%s — %s" % (provider[c], text)) if provider.get(c) else text
    return out


def mask_scheme(ctx: Ctx, off: dict) -> int:
    """The offering's mask scheme (delivery.py): 1 before 0.2.0, 2 since."""
    if not ctx.has_market():
        return 1
    key = ("scheme", off["name"])
    if key not in ctx.memo:
        ctx.memo[key] = ctx.query("SELECT mask_scheme FROM nyop.offering_secrets WHERE offering = $1", ("text",),
                                  (off["name"],))[0]["mask_scheme"]
    return ctx.memo[key]


def key_hash_fns(ctx: Ctx, off: dict) -> dict:
    """How each key column is hashed (per session: types do not change under a registration).
    A key whose type has no settings-independent hash (registered before nyop refused such
    keys, or retyped since) is refused here too: its masks would follow the reader's settings."""
    key = ("keyhash", off["relid"], off["registered_at"])
    fns = ctx.cache.get(key)
    if fns is None:
        from . import registration
        fns = {}
        for r in ctx.query(KEY_HASH_FNS_SQL, ("oid", "text[]"), (off["relid"], off["key_columns"])):
            fns[r["name"]] = delivery.key_hash_fn(r["type"], r["fn"], r["base"], r["kind"], r["base_fn"])
            if fns[r["name"]] is None:
                raise registration.unstable_key_error(r["name"], r["type"], r["base_type"],
                                                      offering=off["name"])
        ctx.cache[key] = fns
    return fns


def view_inner(ctx: Ctx, off: dict, q: dict, scope, order: list, delay_sql: str | None = None) -> str:
    """The visible versions (delay over history), scoped, with the key hash."""
    delay = q["delay_seconds"]
    history = None
    if delay > 0:
        h = ctx.query(HISTORY_SQL, ("oid",), (off["relid"],))
        history = h[0]["history"].split(".", 1)[1].strip('"') if h else None
    scope_sql, scope_cols = offering_scope(scope, off)
    return delivery.inner_sql(off, order, delay, history, scope_sql, key_hash_fns(ctx, off), scope_cols,
                              mask_scheme(ctx, off), delay_sql=delay_sql)


def choose_threshold(ctx: Ctx, off: dict, q: dict, inner: str, order: list) -> tuple:
    """(threshold, use_mask, delivered completeness): keep exactly enough non-null cells for
    the completeness target (one pass to count; one more to find the threshold if masking)."""
    masked = delivery.masked_columns(off, order)
    counts = ctx.execute(delivery.counts_sql(inner, off, order))[0]
    n_counted = len([c for c in order if c != off["last_updated"]])
    rows, mnn, unn = int(counts["rows"]), int(counts["masked_nonnull"]), int(counts["unmasked_nonnull"])
    cells = rows * n_counted
    target = q["completeness_target"] if q["completeness_target"] is not None else 1.0
    keep = delivery.keep_count(target, rows, n_counted, unn, mnn)
    if not masked or (keep >= mnn and (target >= 1.0 or not ctx.has_trust())):
        return None, False, ((unn + mnn) / cells if cells else None)
    ctx.query(ENSURE_SEEDS_SQL, ("text", "text[]"), (off["name"], masked))
    if keep >= mnn:
        # Every cell present now is within the target (none yet visible, all NULL, or the top
        # level bought): keep them all, and of the cells the provider adds later the share
        # that complete data would need for the target — the purchase stays masked.
        share = delivery.full_data_share(target, n_counted, len(masked))
        top = max_hash(ctx, inner, off, masked) if mnn else delivery.MIN_INT8
        return max(top, delivery.share_threshold(share)), True, ((unn + mnn) / cells if cells else None)
    delivered = (unn + keep) / cells if cells else None
    if keep == 0:
        return delivery.MIN_INT8, True, delivered
    got = ctx.execute(delivery.threshold_sql(inner, off, masked, keep, key_hash_fns(ctx, off), mask_scheme(ctx, off)))
    # (READ COMMITTED: a provider's concurrent DELETE may leave fewer cells than counted)
    return (int(got[0]["h"]) if got else max_hash(ctx, inner, off, masked)), True, delivered


def max_hash(ctx: Ctx, inner: str, off: dict, masked: list) -> int:
    """The largest hash of a non-null masked cell (the smallest int8 if there is none)."""
    got = ctx.execute(delivery.max_hash_sql(inner, off, masked, key_hash_fns(ctx, off), mask_scheme(ctx, off)))
    return int(got[0]["h"]) if got and got[0]["h"] is not None else delivery.MIN_INT8


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
    q = quote_with(ctx, offering, 1e-9, prefs, None, None, "exact", fresh=True, minimum=True)
    if not q.get("levels"):
        raise InvalidParameter("offering %s cannot deliver its minimum version: %s" % (offering, q.get("reason")))
    held = [json.loads(r["cols"]) for r in ctx.query(
        "SELECT b.quote->'view_columns' AS cols FROM nyop.purchases p JOIN nyop.bids b USING (bid_id) "
        "WHERE p.offering = $1 AND p.superseded_by IS NULL AND b.quote ? 'view_columns'", ("text",), (offering,))]
    cols = [c for c in q["columns"] if all(c in h for h in held) or c in off["key_columns"]]
    inner = view_inner(ctx, off, q, None, cols)
    threshold, use_mask, _ = choose_threshold(ctx, off, q, inner, cols)
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
    view_name = view_name_for(offering, "_preview")
    view_sql = "%s.%s" % (ident(delivery.VIEW_SCHEMA), ident(view_name))
    ctx.execute(delivery.view_ddl(view_sql, off, cols, inner,
                                  delivery.preview_threshold_sql(offering) if use_mask else None, False,
                                  key_hash_fns(ctx, off), mask_scheme(ctx, off)))
    ctx.execute("COMMENT ON VIEW %s IS %s; REVOKE ALL ON %s FROM PUBLIC"
                % (view_sql, literal("nyop free preview of " + offering), view_sql))
    for r in ctx.query("SELECT buyer::text AS b FROM nyop.buyers"):
        ctx.execute("GRANT SELECT ON %s TO %s" % (view_sql, r["b"]))     # regrole text: already an identifier
    oid = ctx.query("SELECT $1::regclass::oid AS oid", ("text",), (view_sql,))[0]["oid"]
    public = {k: q[k] for k in ("levels", "columns", "delay", "delay_seconds", "completeness_target")}
    return {"view": oid, "threshold": threshold if use_mask else None, "quote": public}
