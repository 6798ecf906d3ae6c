"""sql/idempotent/030-registration.sql: nyop_register_offering, nyop_set_criterion (run with
the caller's rights: the operator) and nyop_quality (through the measures door)."""

from __future__ import annotations

from .. import audit, delivery, model, registration
from .. import pricing as pricing_mod
from ..errors import InsufficientPrivilege, InvalidParameter, NyopError, UndefinedTable
from ..services import catalog, history, views
from ..services.catalog import Ctx
from ..services.measures import clock, ensure_summary, measure_one, reference_column_count
from ..services.scopes import offering_scope
from .registry import handler


COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       EXISTS (SELECT 1 FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod
               WHERE am.amname = 'btree' AND oc.opcdefault
                 AND (oc.opcintype = a.atttypid OR oc.opcintype = (SELECT typbasetype FROM pg_catalog.pg_type WHERE oid = a.atttypid))
              ) OR t.typcategory IN ('S', 'N', 'D', 'E', 'B') AS keyable
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""

RELATION_SQL = """
SELECT c.relkind::text AS relkind, c.relpersistence::text AS persistence, c.relowner::regrole::text AS owner,
       c.oid::regclass::text AS relation_sql,
       has_table_privilege(c.oid, 'SELECT') AS readable, """ + catalog.SAFE_SQL % "$1" + """ AS safe
FROM pg_catalog.pg_class c WHERE c.oid = $1"""


def relation_facts(ctx: Ctx, relid: int) -> tuple:
    rel = ctx.query(RELATION_SQL, ("oid",), (relid,))
    if not rel:
        raise UndefinedTable("relation with OID %s does not exist" % relid)
    rel = dict(rel[0])
    if rel["relkind"] not in ("r", "v", "m", "p", "f"):
        raise InvalidParameter("%s is not a table or view" % rel["relation_sql"])
    if rel["persistence"] != "p":
        # an unlogged table is empty after crash recovery and on every standby; a temporary one
        # is visible to one session only: neither can be sold
        raise NyopError("%s is %s: what buyers bought would vanish" % (
            rel["relation_sql"], "unlogged" if rel["persistence"] == "u" else "temporary"), sqlstate="55000",
            hint="ALTER TABLE %s SET LOGGED" % rel["relation_sql"] if rel["persistence"] == "u" else None)
    if not rel["readable"]:
        raise InsufficientPrivilege("permission denied for %s: the provider must be able to read the "
                                    "relation it sells" % rel["relation_sql"])
    if not rel["safe"]:
        raise InsufficientPrivilege(catalog.UNSAFE % rel["relation_sql"], hint=catalog.UNSAFE_HINT)
    cols = ctx.query(COLUMNS_SQL, ("oid",), (relid,))
    keyable = {r["name"]: r["keyable"] for r in cols}
    # A key must also hash the same way in every session (masks must not follow a reader's
    # settings): a comparable column without such a hash is marked with its base type's name
    # (a domain's) or "" — registration.check_offering refuses it as a key (0A000).
    for r in ctx.query(views.KEY_HASH_FNS_SQL, ("oid", "text[]"), (relid, [r["name"] for r in cols])):
        if keyable.get(r["name"]) and delivery.key_hash_fn(r["type"], r["fn"], r["base"], r["kind"],
                                                           r["base_fn"]) is None:
            keyable[r["name"]] = r["base_type"] if r["base_type"] != r["type"] else ""
    return rel, {r["name"]: r["type"] for r in cols}, keyable


UPSERT_OFFERING = """
INSERT INTO nyop.offerings AS o (name, relation, provider, ask_price, reserve_price, key_columns, columns,
    last_updated, volatility, comparison_group, utility, levels)
VALUES ($1, $2::oid::regclass, $3::regrole, $4, $5, $6, $7, $8, make_interval(secs => $9), $10, $11, $12)
ON CONFLICT (name) DO UPDATE SET relation = excluded.relation, provider = excluded.provider,
    ask_price = excluded.ask_price, reserve_price = excluded.reserve_price, key_columns = excluded.key_columns,
    columns = excluded.columns, last_updated = excluded.last_updated, volatility = excluded.volatility,
    comparison_group = excluded.comparison_group, utility = excluded.utility, levels = excluded.levels,
    registered_at = now()
RETURNING (xmax <> 0) AS replaced"""


UNIQUE_KEYS_SQL = """
SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey) k JOIN pg_catalog.pg_attribute a
             ON a.attrelid = i.indrelid AND a.attnum = k) AS columns
FROM pg_catalog.pg_index i
WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indimmediate"""

NOT_NULL_SQL = """
SELECT a.attname::text AS name FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull"""


@handler
def register_offering(ctx, name, relid, ask_price, key_columns, last_updated=None, volatility_seconds=None,
                      reserve_price=None, comparison_group=None, utility="sqrt", levels=10):
    rel, columns, keyable = relation_facts(ctx, relid)
    reg = registration.check_offering(name, columns, ask_price, reserve_price, key_columns, last_updated,
                                      volatility_seconds, comparison_group, utility, levels, keyable)
    if last_updated is not None and rel["relkind"] in ("r", "p"):
        # history pairs each old row with its new version by the key: it must identify one row
        registration.check_unique_key(
            rel["relation_sql"], key_columns,
            [list(r["columns"]) for r in ctx.query(UNIQUE_KEYS_SQL, ("oid",), (relid,))],
            {r["name"] for r in ctx.query(NOT_NULL_SQL, ("oid",), (relid,))})
    rows = ctx.query(UPSERT_OFFERING,
                     ("text", "oid", "text", "numeric", "numeric", "text[]", "text[]", "text", "float8",
                      "text", "text", "int4"),
                     (name, relid, rel["owner"], reg["ask_price"], reg["reserve_price"], key_columns,
                      list(columns), last_updated, volatility_seconds, comparison_group, reg["utility"],
                      reg["levels"]))
    if rows[0]["replaced"]:
        # Re-registering keeps the criteria that still apply (an offering is never on sale without
        # them, not even between two statements); timeliness goes with the last-updated column,
        # and minimum levels stay within the levels.
        if last_updated is None:
            ctx.query("DELETE FROM nyop.criteria WHERE offering = $1 AND criterion = 'timeliness'", ("text",), (name,))
        ctx.query("UPDATE nyop.criteria SET min_level = $2 WHERE offering = $1 AND tiers IS NULL AND min_level > $2",
                  ("text", "int4"), (name, reg["levels"]))
    ctx.query("INSERT INTO nyop.offering_secrets (offering) VALUES ($1) ON CONFLICT DO NOTHING", ("text",), (name,))
    history.ensure_history(ctx, catalog.offering(ctx, name), rel["relkind"])
    ensure_summary(ctx, relid)
    ctx.cache.pop(("quality", name), None)
    return {"offering": name, "replaced": bool(rows[0]["replaced"])}


UPSERT_CRITERION = """
INSERT INTO nyop.criteria (offering, criterion, provider_weight, tiers, pricing, threshold, min_level)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (offering, criterion) DO UPDATE SET provider_weight = excluded.provider_weight,
    tiers = excluded.tiers, pricing = excluded.pricing, threshold = excluded.threshold,
    min_level = excluded.min_level"""


@handler
def set_criterion(ctx, offering, criterion, provider_weight, tiers=None, pricing="score", threshold=0,
                  min_level=1):
    off = catalog.offering(ctx, offering)
    c = registration.check_criterion(criterion, provider_weight, tiers, pricing, threshold, min_level,
                                     off["levels"], off["last_updated"] is not None)
    if criterion == "timeliness" and history.relkind_of(ctx, off["relid"]) not in ("r", "p"):
        raise InvalidParameter("timeliness needs %s to be a table: delayed delivery keeps old row versions in a "
                               "history, which only a table's triggers can capture" % off["relation_sql"],
                               hint="sell a table (e.g. CREATE TABLE … AS SELECT * FROM the universal relation)")
    ctx.query(UPSERT_CRITERION, ("text", "text", "numeric", "text[]", "text", "numeric", "int4"),
              (offering, criterion, c["provider_weight"], tiers, pricing, c["threshold"], c["min_level"]))
    full = {k: 1.0 for k in model.MEASURED}     # the whole price table, whatever the data reaches
    # (``pricing`` is this handler's parameter here, hence the qualified name)
    problems = audit.audit(pricing_mod.priced_classes(off, catalog.criteria(ctx, offering), full, full))["problems"]
    if problems:
        ctx.plpy.warning("offering %s fails the arbitrage audit: %s" % (offering, "; ".join(problems)))
    return {"offering": offering, "criterion": criterion}


@handler
def quality_of(ctx, offering, scope=None):
    off = catalog.offering(ctx, offering)
    scope_sql = offering_scope(scope, off)[0]
    peers = catalog.peers(ctx, off)
    return measure_one(ctx, off, reference_column_count(peers), scope_sql, clock(ctx))
