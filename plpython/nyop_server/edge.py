"""The edge between PostgreSQL and nyop's Python: the only place that sees plpy.

Each SQL function calls :func:`call` with a handler name and its arguments as
one jsonb. The handler's result comes back as ``{"ok": …}``; a
:class:`~nyop_server.errors.NyopError` or an SPI error comes back as
``{"error": {"sqlstate", "message", "hint"}}``, which ``nyop._unwrap`` raises
as a proper PostgreSQL error — so bad input never shows a Python traceback.
"""

from __future__ import annotations

import json

from . import catalog, mckp, model, pricing, quality, registration
from . import pricing as pricing_mod
from .catalog import Ctx
from .errors import NyopError, InvalidParameter, InsufficientPrivilege, UndefinedTable

HANDLERS = {}
# Handlers reachable through each SECURITY DEFINER door (read-only). 'measures' is
# nyop._call_definer (buyers and providers), 'quotes' nyop._call_buyer (buyers and the
# operator); True is the single door of schemas before 0.3.0.
DOORS = {
    "measures": frozenset({"quality_of", "audit_offering", "solve_mckp"}),
    "quotes": frozenset({"quote", "explain"}),
    True: frozenset({"quality_of", "quote", "explain", "audit_offering", "solve_mckp"}),
}


def handler(fn):
    HANDLERS[fn.__name__] = fn
    return fn


def call(plpy, GD, name: str, args_json: str, definer=False) -> str:
    """Dispatch ``name`` with ``args`` (jsonb text); always returns an envelope."""
    from . import limits
    ctx = Ctx(plpy, GD)
    out = timer = None
    try:
        if name not in HANDLERS or (definer and name not in DOORS.get(definer, ())):
            raise InsufficientPrivilege("nyop: no such entry point %r" % (name,))
        # What a buyer drives has bounded inputs and runs under nyop's time limit (limits.py).
        buyer = bool(definer) or name in limits.BUYER_DRIVEN
        if buyer:
            limits.check_payload(args_json)
        args = (limits.loads if buyer else json.loads)(args_json) if args_json else {}
        if buyer:
            limits.check_args(name, args)
            timer = limits.BuyerTimer.start(ctx)
        result = HANDLERS[name](ctx, **args)
        out = json.dumps({"ok": result}, allow_nan=False)
    except NyopError as e:
        out = json.dumps({"error": e.as_dict()})
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        # Only malformed input reaches these (a JSON value of the wrong type or size):
        # say so with a SQLSTATE instead of a Python traceback.
        out = json.dumps({"error": {"sqlstate": "22023", "message": "nyop: invalid input for %s: %s: %s"
                                    % (name, type(e).__name__, e), "hint": None, "detail": None}})
    except RecursionError:
        # JSON nested deeper than Python's recursion limit (json.loads), e.g. as preferences
        out = json.dumps({"error": {"sqlstate": "22023", "message": "nyop: invalid input for %s: nested too "
                                    "deeply" % (name,), "hint": None, "detail": None}})
    except plpy.SPIError as e:
        out = json.dumps({"error": {
            "sqlstate": getattr(e, "sqlstate", None) or "XX000",
            "message": str(e.args[0]) if e.args else str(e),
            "hint": getattr(e, "hint", None), "detail": getattr(e, "detail", None)}})
    finally:
        if timer is not None:
            out = timer.stop(out)    # the caller's own timeout back; a spent limit -> 57014
    return out


# -- registration (runs as the caller: SECURITY INVOKER) --------------------------

COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       EXISTS (SELECT 1 FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod
               WHERE am.amname = 'btree' AND oc.opcdefault
                 AND (oc.opcintype = a.atttypid OR oc.opcintype = (SELECT typbasetype FROM pg_catalog.pg_type WHERE oid = a.atttypid))
              ) OR t.typcategory IN ('S', 'N', 'D', 'E', 'B') AS keyable
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""

RELATION_SQL = """
SELECT c.relkind::text AS relkind, c.relowner::regrole::text AS owner, c.oid::regclass::text AS relation_sql,
       has_table_privilege(c.oid, 'SELECT') AS readable, """ + catalog.SAFE_SQL % "$1" + """ AS safe
FROM pg_catalog.pg_class c WHERE c.oid = $1"""


def relation_facts(ctx: Ctx, relid: int) -> tuple:
    rel = ctx.query(RELATION_SQL, ("oid",), (relid,))
    if not rel:
        raise UndefinedTable("relation with OID %s does not exist" % relid)
    rel = dict(rel[0])
    if rel["relkind"] not in ("r", "v", "m", "p", "f"):
        raise InvalidParameter("%s is not a table or view" % rel["relation_sql"])
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
    from . import delivery
    for r in ctx.query(purchase.KEY_HASH_FNS_SQL, ("oid", "text[]"), (relid, [r["name"] for r in cols])):
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
    purchase.ensure_history(ctx, catalog.offering(ctx, name), rel["relkind"])
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
    if criterion == "timeliness" and purchase.relkind_of(ctx, off["relid"]) not in ("r", "p"):
        raise InvalidParameter("timeliness needs %s to be a table: delayed delivery keeps old row versions in a "
                               "history, which only a table's triggers can capture" % off["relation_sql"],
                               hint="sell a table (e.g. CREATE TABLE … AS SELECT * FROM the universal relation)")
    ctx.query(UPSERT_CRITERION, ("text", "text", "numeric", "text[]", "text", "numeric", "int4"),
              (offering, criterion, c["provider_weight"], tiers, pricing, c["threshold"], c["min_level"]))
    full = {k: 1.0 for k in model.MEASURED}     # the whole price table, whatever the data reaches
    # (``pricing`` is this handler's parameter here, hence the qualified name)
    problems = market.audit(pricing_mod.priced_classes(off, catalog.criteria(ctx, offering), full, full))["problems"]
    if problems:
        ctx.plpy.warning("offering %s fails the arbitrage audit: %s" % (offering, "; ".join(problems)))
    return {"offering": offering, "criterion": criterion}


# -- quality (SECURITY DEFINER: buyers may see measures, never the rows) ------------

CLOCK_SQL = """SELECT c::text AS now, extract(epoch FROM c)::float8 AS epoch,
                      current_setting('nyop.quality_cache_ttl', true) AS ttl FROM nyop.clock() c"""


def clock(ctx: Ctx) -> str:
    return clock_row(ctx)["now"]


def clock_row(ctx: Ctx) -> dict:
    """"now" (text and epoch) and the cache TTL setting, in one query per call."""
    if "clock" not in ctx.memo:
        ctx.memo["clock"] = dict(ctx.query(CLOCK_SQL)[0])
    return ctx.memo["clock"]


_SCOPES = {}          # (text, columns) -> (rendered SQL, columns used); per session
_SCOPES_MAX = 4096


def parsed_scope(scope, columns) -> tuple:
    """(rendered predicate, columns it reads) — parsed once per session per text and offering
    columns: a bid parses its scope for the quote, the measures and the view."""
    if scope is None or not str(scope).strip():
        return None, ()
    key = (scope, tuple(columns))
    hit = _SCOPES.get(key)
    if hit is None:
        from . import scope as scope_mod   # sqlglot is imported only when a scope is used
        hit = (scope_mod.parse_scope(scope, columns), tuple(sorted(scope_mod.scope_columns(scope, columns))))
        if len(_SCOPES) >= _SCOPES_MAX:
            _SCOPES.clear()
        _SCOPES[key] = hit
    return hit


def offering_scope(scope, off: dict) -> tuple:
    """A buyer's scope over an offering: (rendered predicate, columns it reads).

    A scope selects rows by entity and time only — key and last-updated columns — because a
    scoped measure or quote answers before purchase: a predicate on any other column would
    be an oracle for cell values ("rows: 1" iff temperature = 17)."""
    rendered, used = parsed_scope(scope, off["columns"])
    allowed = list(off["key_columns"]) + ([off["last_updated"]] if off.get("last_updated") else [])
    bad = [c for c in used if c not in allowed]
    if bad:
        raise InsufficientPrivilege(
            "scope may select rows only by the key and last-updated columns (%s), not by %s: a predicate on "
            "other columns would reveal their values before purchase" % (", ".join(allowed), ", ".join(bad)))
    return rendered, used


def measure(ctx: Ctx, off: dict, ref_columns: int, scope_sql, now: str) -> dict:
    """One set-based pass over the offering's relation (optionally scoped)."""
    sql = quality.measure_sql(off["relation_sql"], off["columns"], off["last_updated"],
                              off["volatility_seconds"], scope_sql)
    row = ctx.query(sql, ("timestamptz",), (now,), keep=scope_sql is None)[0]
    n_measured = len(quality.measured_columns(off["columns"], off["last_updated"]))
    return quality.assemble(row, len(off["columns"]), n_measured, ref_columns)


def reference_column_count(peers: list) -> int:
    return len(quality.reference_columns([p["columns"] for p in peers]))


@handler
def quality_of(ctx, offering, scope=None):
    off = catalog.offering(ctx, offering)
    scope_sql = offering_scope(scope, off)[0]
    peers = catalog.peers(ctx, off)
    return measure(ctx, off, reference_column_count(peers), scope_sql, clock(ctx))


# -- quotes (SECURITY DEFINER: a buyer learns prices and levels, never rows) --------

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
    import time
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


PREVIEW_COLUMNS_SQL = "SELECT quote->'columns' AS columns FROM nyop.previews WHERE offering = $1"


def preview_columns(ctx: Ctx, offering: str) -> list:
    """Columns of the offering's free preview: every paid version includes them."""
    if not ctx.has_market():
        return []
    rows = ctx.query(PREVIEW_COLUMNS_SQL, ("text",), (offering,))
    return json.loads(rows[0]["columns"]) if rows and rows[0]["columns"] else []


@handler
def quote(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact", fresh=False):
    return quote_with(ctx, offering, bid, preferences, columns, scope, solver, fresh)


def quote_with(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact", fresh=False,
               floors=None, budget=None, explain=False, minimum=False, with_greedy=False):
    """Quote an offering or a comparison group. ``floors``/``budget``: an upgrade (see
    purchase.place_bid); ``explain``: add what more would buy (nyop_explain)."""
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


@handler
def explain(ctx, offering, bid, preferences, columns=None, scope=None, solver="exact"):
    return quote_with(ctx, offering, bid, preferences, columns, scope, solver, explain=True)


def solve_mckp_arrays(weights, profits, capacity, method) -> str:
    """nyop_solve_mckp: float8[][] arrays as PL/Python's nested lists → envelope."""
    try:
        return json.dumps({"ok": solve_mckp(None, weights, profits, capacity, method)}, allow_nan=False)
    except NyopError as e:
        return json.dumps({"error": e.as_dict()})


@handler
def solve_mckp(ctx, weights, profits, capacity, method="exact"):
    if method not in ("exact", "greedy"):
        raise InvalidParameter("method must be 'exact' or 'greedy', got %r" % (method,))
    for name, a in (("weights", weights), ("profits", profits)):
        if a is None or capacity is None:
            raise NyopError("nyop_solve_mckp: weights, profits and capacity must be given", sqlstate="22004")
        if not a or not all(isinstance(r, list) for r in a):
            raise NyopError("nyop_solve_mckp: %s must be a non-empty 2-dimensional array (one row per class)" % name,
                            sqlstate="2202E")
    if len(weights) != len(profits) or any(len(a) != len(b) for a, b in zip(weights, profits)):
        raise NyopError("nyop_solve_mckp: weights and profits differ in shape", sqlstate="2202E")
    sol = mckp.solve(weights, profits, capacity, method=method)
    return {"choice": [int(j) + 1 for j in sol.choice], "profit": float(sol.profit),
            "weight": float(sol.weight), "optimal": bool(sol.optimal), "gap": float(sol.gap)}


# Handlers of the other modules register themselves on import (they use quote_with, measure, …).
from . import market, purchase  # noqa: E402,F401
