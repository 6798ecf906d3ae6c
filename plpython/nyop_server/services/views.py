"""The buyer's tailored view (MODEL: docs/model.md, delivery): built from a quote, masked by
nested keyed-hash thresholds, delayed over history, recorded as a purchase. SQL text comes
from :mod:`nyop_server.delivery`; this module decides what to build and runs it."""

from __future__ import annotations

import json

from .. import delivery
from ..sqltext import ident, literal
from .catalog import MARKET_SCHEMA, TRUST_SCHEMA, Ctx
from . import measures
from .history import HISTORY_SQL
from .scopes import offering_scope


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


PREVIEW_SQL = "SELECT threshold, quote FROM nyop.previews WHERE offering = $1"


def preview_threshold(ctx: Ctx, offering: str):
    """The free preview's mask threshold (None: no preview, or an unmasked one)."""
    if not ctx.schema_at_least(MARKET_SCHEMA):
        return None
    rows = ctx.query(PREVIEW_SQL, ("text",), (offering,))
    return rows[0]["threshold"] if rows else None


def view_name_for(offering: str, suffix: str) -> str:
    """<offering><suffix>, the offering cut so that the name fits in 63 bytes and stays distinct."""
    return offering[:63 - len(suffix)] + suffix


class Held:
    """What an upgrade's view must keep containing: the held purchase's mask (``threshold``
    when ``masked``; an unmasked held version delivered every cell, so the upgrade does too);
    ``view_oid``: the view replaced in place (its rows view, if any, goes with the old version)."""

    def __init__(self, threshold, masked: bool, view_oid=None):
        self.threshold = threshold
        self.masked = bool(masked)
        self.view_oid = view_oid


# The rows views (delivery.ROWS_SCHEMA) a view reads: those its rewrite rule depends on.
ROWS_OF_SQL = """
SELECT DISTINCT d.refobjid::regclass::text AS r
FROM pg_catalog.pg_rewrite w
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
     AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> w.ev_class
JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND c.relkind = 'v'
     AND c.relnamespace = 'nyop'::pg_catalog.regnamespace AND c.relname ~ '^rows_[0-9]+$'
WHERE w.ev_class = $1"""

# Of those, the ones no view reads any more (an operator's own view over one keeps it).
UNREAD_ROWS_SQL = """
SELECT r::text AS r FROM unnest($1::pg_catalog.regclass[]) r
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
                  WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.refobjid = r AND w.ev_class <> r)"""


def build_view(ctx: Ctx, off: dict, q: dict, bid_id: int, buyer: str, scope, view_name: str, order: list,
               held: Held | None = None) -> int:
    """Create (or, for an upgrade of ``held``, replace in place) the buyer's view for quote
    ``q`` and record the purchase; returns the view's OID.

    The mask threshold is chosen on the data at purchase time so that delivered completeness
    is the target within one cell, then raised to the held version's threshold and to the free
    preview's, so both stay contained. A completeness target below 1 is always masked, whatever
    the data held when it was bought (docs/model.md, delivery). The view reads its threshold and
    delay from the purchase and is readable only once the bid's transaction has committed."""
    view_sql = "%s.%s" % (ident(delivery.VIEW_SCHEMA), ident(view_name))
    trust = ctx.schema_at_least(TRUST_SCHEMA)
    inner = view_inner(ctx, off, q, scope, order)
    preview = preview_threshold(ctx, off["name"])
    # thresholds the new mask must not fall below (it keeps at least the cells they keep)
    contained = [t for t in (preview, held.threshold if held and held.masked else None) if t is not None]
    if held and not held.masked:
        bought = False          # the held version delivered every cell: so does its upgrade
    else:
        bought = "completeness" in q["levels"] or bool(contained)
    # Completeness not bought (and nothing to stay contained in): the data as it is, no pass over it.
    scoped = offering_scope(scope, off)[0] is not None
    threshold, use_mask, delivered = choose_threshold(ctx, off, q, inner, order, scoped) if bought \
        else (None, False, None)
    recount = False
    if use_mask and contained and max(contained) > threshold:
        threshold = max(contained)          # more cells than the target: count them below
        est = None if scoped else estimated_completeness(ctx, off, order, threshold)
        if est is not None:
            delivered = est                 # a large offering: the share of its counts kept
        else:
            recount = True
    hides = scoped or q["delay_seconds"] > 0
    scope_sql, scope_cols = offering_scope(scope, off)
    # an upgrade replaces the view in place: the rows view of the version replaced goes after it
    old_rows = [r["r"] for r in ctx.query(ROWS_OF_SQL, ("oid",), (held.view_oid,))] \
        if trust and held is not None and held.view_oid is not None else []
    if trust and hides and mask_scheme(ctx, off) == 2 and delivery.can_split(off, order, scope_cols):
        # two levels (delivery.ROWS_SCHEMA): a barrier view of the rows, the buyer's view over it
        ddl = delivery.two_level_ddl(view_sql, bid_id, off, order, q["delay_seconds"] > 0,
                                     history_of(ctx, off) if q["delay_seconds"] > 0 else None, scope_sql,
                                     scope_cols, delivery.purchase_threshold_sql(bid_id) if use_mask else None,
                                     held is not None, key_hash_fns(ctx, off), mask_scheme(ctx, off))
    else:
        view_inner_sql = view_inner(ctx, off, q, scope, order, delay_sql=delivery.purchase_delay_sql(bid_id)) \
            if trust else inner
        ddl = [delivery.view_ddl(view_sql, off, order, view_inner_sql,
                                 delivery.purchase_threshold_sql(bid_id) if use_mask else None, held is not None,
                                 key_hash_fns(ctx, off), mask_scheme(ctx, off),
                                 guard_sql=delivery.paid_guard_sql(bid_id) if trust else None, barrier=hides)]
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
    if recount:
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
    for r in ctx.query(UNREAD_ROWS_SQL, ("text[]",), (old_rows,)) if old_rows else []:
        ctx.execute("DROP VIEW IF EXISTS %s" % r["r"])      # regclass text: already qualified
    record(ctx, bid_id, off, buyer, oid, threshold if use_mask else None, use_mask, delivered, q)
    q["view_completeness"] = delivered
    q["view_columns"] = order
    return oid


def record(ctx: Ctx, bid_id: int, off: dict, buyer: str, oid, threshold, masked: bool, delivered,
           q: dict) -> None:
    """The purchase row: what its view reads at query time (threshold, delay, placing transaction)."""
    if ctx.schema_at_least(TRUST_SCHEMA):
        ctx.query("INSERT INTO nyop.purchases (bid_id, offering, buyer, view, threshold, masked, completeness, "
                  "placed_xid, delay) VALUES ($1, $2, $3::regrole, $4::oid::regclass, $5, $6, $7, "
                  "pg_current_xact_id(), make_interval(secs => $8))",
                  ("int8", "text", "text", "oid", "int8", "bool", "float8", "float8"),
                  (bid_id, off["name"], buyer, oid, threshold, masked, delivered, float(q["delay_seconds"])))
    elif ctx.schema_at_least(MARKET_SCHEMA):
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
    if not ctx.schema_at_least(MARKET_SCHEMA):
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
        from .. import registration
        fns = {}
        for r in ctx.query(KEY_HASH_FNS_SQL, ("oid", "text[]"), (off["relid"], off["key_columns"])):
            fns[r["name"]] = delivery.key_hash_fn(r["type"], r["fn"], r["base"], r["kind"], r["base_fn"])
            if fns[r["name"]] is None:
                raise registration.unstable_key_error(r["name"], r["type"], r["base_type"],
                                                      offering=off["name"])
        ctx.cache[key] = fns
    return fns


def history_of(ctx: Ctx, off: dict):
    """The offering's history table as SQL (regclass text, already qualified), or None."""
    h = ctx.query(HISTORY_SQL, ("oid",), (off["relid"],))
    return h[0]["history"] if h else None


def view_inner(ctx: Ctx, off: dict, q: dict, scope, order: list, delay_sql: str | None = None) -> str:
    """The visible versions (delay over history), scoped, with the key hash."""
    delay = q["delay_seconds"]
    history = history_of(ctx, off) if delay > 0 else None
    scope_sql, scope_cols = offering_scope(scope, off)
    return delivery.inner_sql(off, order, delay, history, scope_sql, key_hash_fns(ctx, off), scope_cols,
                              mask_scheme(ctx, off), delay_sql=delay_sql)


EXACT_CELLS = 1_000_000     # MODEL §7.3: delivered within one cell up to a million cells ...
SORT_CELLS = 100_000        # ... by a bounded sort of this many hashes at most, else by a histogram


def choose_threshold(ctx: Ctx, off: dict, q: dict, inner: str, order: list, scoped: bool = False) -> tuple:
    """(threshold, use_mask, delivered completeness).

    The cell hash is uniform over int8: keeping the cells that hash at or below the share
    ``keep / masked non-null cells`` of the hash space keeps that share of them, within
    binomial noise (one standard deviation is at most 0.05 % of the cells at a million cells,
    0.016 % at ten million). So above a million cells (MODEL §7.3: 0.1 % there) the threshold
    comes from the counts alone — the maintained counts of an unscoped table, no pass over the
    data; a scoped view counts its rows first. Up to a million cells the selection is exact (one
    cell): the keep-th smallest hash, by a bounded sort or, above 100,000 cells, a histogram of
    the hash space and one small bucket (no sort of the data, no temporary file)."""
    masked = delivery.masked_columns(off, order)
    counted = [c for c in order if c != off["last_updated"]]
    n_counted = len(counted)
    target = q["completeness_target"] if q["completeness_target"] is not None else 1.0
    est = None if scoped else measures.summary_counts(ctx, off, counted)
    if est is not None and est["rows"] * n_counted > EXACT_CELLS:
        # the densities of the table (a delayed view shows older versions of the same rows)
        rows = est["rows"]
        mnn = sum(est["nonnull"][c] for c in masked)
        unn = sum(est["nonnull"][c] for c in counted if c not in masked)
    else:
        counts = ctx.execute(delivery.counts_sql(inner, off, order))[0]
        rows, mnn, unn = int(counts["rows"]), int(counts["masked_nonnull"]), int(counts["unmasked_nonnull"])
    cells = rows * n_counted
    keep = delivery.keep_count(target, rows, n_counted, unn, mnn)
    if not masked or (keep >= mnn and (target >= 1.0 or not ctx.schema_at_least(TRUST_SCHEMA))):
        return None, False, ((unn + mnn) / cells if cells else None)
    ctx.query(ENSURE_SEEDS_SQL, ("text", "text[]"), (off["name"], masked))
    exact = cells <= EXACT_CELLS
    if keep >= mnn:
        # Every cell present now is within the target (none yet visible, all NULL, or the top
        # level bought): keep them all, and of the cells the provider adds later the share
        # that complete data would need for the target — the purchase stays masked.
        share = delivery.full_data_share(target, n_counted, len(masked))
        if exact:
            top = max_hash(ctx, inner, off, masked) if mnn else delivery.MIN_INT8
        else:           # the largest of mnn uniform hashes lies below this but with odds 1/64
            top = delivery.share_threshold(1.0 - 1.0 / (64.0 * (mnn + 1)))
        return max(top, delivery.share_threshold(share)), True, ((unn + mnn) / cells if cells else None)
    delivered = (unn + keep) / cells if cells else None
    if keep == 0:
        return delivery.MIN_INT8, True, delivered
    if not exact:
        return delivery.share_threshold(keep / mnn), True, delivered
    fns, scheme = key_hash_fns(ctx, off), mask_scheme(ctx, off)
    if mnn <= SORT_CELLS:
        got = ctx.execute(delivery.threshold_sql(inner, off, masked, keep, fns, scheme))
    else:
        shift = delivery.histogram_shift(mnn)
        b = ctx.execute(delivery.histogram_sql(inner, off, masked, keep, fns, scheme, shift))
        got = ctx.execute(delivery.bucket_pick_sql(inner, off, masked, int(b[0]["b"]), keep - int(b[0]["below"]),
                                                   fns, scheme, shift)) if b else []
    # (READ COMMITTED: a provider's concurrent DELETE may leave fewer cells than counted)
    return (int(got[0]["h"]) if got else max_hash(ctx, inner, off, masked)), True, delivered


def estimated_completeness(ctx: Ctx, off: dict, order: list, threshold: int):
    """Delivered completeness of a mask at ``threshold`` on a large offering, from its maintained
    counts (the share of the hash space kept): None when they are not maintained."""
    counted = [c for c in order if c != off["last_updated"]]
    est = measures.summary_counts(ctx, off, counted)
    if est is None or est["rows"] * len(counted) <= EXACT_CELLS:
        return None
    masked = delivery.masked_columns(off, order)
    cells = est["rows"] * len(counted)
    kept = sum(est["nonnull"][c] for c in counted if c not in masked) + \
        delivery.hash_share(threshold) * sum(est["nonnull"][c] for c in masked)
    return kept / cells if cells else None


def max_hash(ctx: Ctx, inner: str, off: dict, masked: list) -> int:
    """The largest hash of a non-null masked cell (the smallest int8 if there is none)."""
    got = ctx.execute(delivery.max_hash_sql(inner, off, masked, key_hash_fns(ctx, off), mask_scheme(ctx, off)))
    return int(got[0]["h"]) if got and got[0]["h"] is not None else delivery.MIN_INT8


# -- free previews ------------------------------------------------------------------------
