"""The call's context (plpy, plans cached per session in GD, the installed schema's version)
and reads of nyop's catalog: offerings, criteria, comparison groups.

Every service and handler talks to the server through a :class:`Ctx`.
"""

from __future__ import annotations

from ..errors import InsufficientPrivilege, UndefinedObject

# Schema versions whose tables the modules use: `make install` replaces the Python before
# `ALTER EXTENSION nyop UPDATE` runs, so the modules serve the previous schema until then.
MARKET_SCHEMA = (0, 2, 0)       # settings, previews, upgrades, purchases.masked
TRUST_SCHEMA = (0, 3, 0)        # purchases.placed_xid and .delay, nyop._install_capture, nyop._call_buyer

# Whether nyop may read a relation (OID in %s) with its elevated rights: reading a table or a
# materialized view runs nobody's code, but a view, a foreign table or a column type owned by
# an ordinary role would run that role's functions as nyop (the extension owner). Plain SQL
# (not a function of the extension) so that it works whatever version's schema is installed.
SAFE_SQL = """(SELECT (nyop_c.relkind IN ('r', 'p', 'm')
        OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = nyop_c.relowner))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = nyop_c.oid AND a.attnum > 0 AND NOT a.attisdropped
                     AND a.atttypid >= 16384
                     AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_type t
                              JOIN pg_catalog.pg_roles r ON r.oid = t.typowner WHERE t.oid = a.atttypid))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid
                   WHERE i.inhparent = nyop_c.oid AND p.relkind NOT IN ('r', 'p')
                     AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.relowner))
 FROM pg_catalog.pg_class nyop_c WHERE nyop_c.oid = %s)"""
# (correlated lookups by OID, so that the plan stays index lookups however many views exist)

UNSAFE = ("%s cannot be sold through nyop: nyop reads offerings with elevated rights, so a view, a foreign "
          "table or a column type owned by a non-superuser would run its owner's code with them")
UNSAFE_HINT = "sell a table (or a materialized view); views and custom types must belong to a superuser"


class Ctx:
    """plpy plus a per-session plan cache (GD) — what every handler works with."""

    def __init__(self, plpy, GD):
        self.plpy = plpy
        self.GD = GD
        self.plans = GD.setdefault("nyop_plans", {})
        self.cache = GD.setdefault("nyop_cache", {})
        self._version = None
        self.memo = {}          # per call: facts that cannot change within one statement

    MAX_PLANS = 256

    def query(self, sql: str, types: tuple = (), args: tuple = (), keep: bool = True):
        """Run a prepared statement, preparing it once per session.

        ``keep=False`` for text that varies per call (a buyer's scope): every kept plan is
        checked by PostgreSQL on each invalidation — each CREATE VIEW of a bid — so keeping
        one per distinct scope would make every bid slower than the last."""
        plan = self.plans.get((sql, types)) if keep else None
        if plan is None:
            plan = self.plpy.prepare(sql, list(types))
            if keep:
                if len(self.plans) >= self.MAX_PLANS:
                    self.plans.clear()
                self.plans[(sql, types)] = plan
        return self.plpy.execute(plan, list(args))

    def schema_version(self) -> tuple:
        """The installed extension version, as a tuple: (0, 3, 0)."""
        if self._version is None:
            rows = self.query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nyop'")
            self._version = tuple(int(x) for x in rows[0]["extversion"].split(".")) if rows else (0,)
        return self._version

    def schema_at_least(self, version: tuple) -> bool:
        return self.schema_version() >= version

    def execute(self, sql: str):
        """Run generated SQL (DDL, or a query whose text depends on the data model)."""
        return self.plpy.execute(sql)


OFFERING_SQL = """
SELECT o.name, o.relation::oid AS relid, o.relation::text AS relation_sql, o.provider::text AS provider,
       o.ask_price::float8 AS ask_price, o.reserve_price::float8 AS reserve_price,
       o.key_columns, o.columns, o.last_updated,
       extract(epoch FROM o.volatility)::float8 AS volatility_seconds,
       o.comparison_group, o.utility, o.levels, o.registered_at::text AS registered_at,
       (SELECT format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = o.relation AND a.attname = o.last_updated) AS lu_type,
       """ + SAFE_SQL % "o.relation" + """ AS safe
FROM nyop.offerings o WHERE o.name = $1"""

GROUP_SQL = "SELECT name FROM nyop.offerings WHERE comparison_group = $1 ORDER BY name"

CRITERIA_SQL = """
SELECT criterion, provider_weight::float8 AS provider_weight, tiers, pricing,
       threshold::float8 AS threshold, min_level
FROM nyop.criteria WHERE offering = $1 ORDER BY ordinal"""


def offering(ctx: Ctx, name: str, required: bool = True):
    """The offering's row, fetched once per call (a bid asks for it in the quote, for the
    group's peers and again to build the view)."""
    key = ("offering", name)
    if key in ctx.memo:
        return ctx.memo[key]
    rows = ctx.query(OFFERING_SQL, ("text",), (name,))
    if not rows:
        if required:
            raise UndefinedObject("offering %r does not exist" % (name,),
                                  hint="see SELECT name FROM nyop.offerings")
        return None
    off = dict(rows[0])
    if not off["safe"]:          # checked on every use: the provider may have changed the relation since
        raise InsufficientPrivilege(UNSAFE % off["relation_sql"], hint=UNSAFE_HINT)
    ctx.memo[key] = off
    return off


def group_members(ctx: Ctx, group: str) -> list:
    return [r["name"] for r in ctx.query(GROUP_SQL, ("text",), (group,))]


def criteria(ctx: Ctx, name: str) -> list:
    return [dict(r) for r in ctx.query(CRITERIA_SQL, ("text",), (name,))]


def resolve_offerings(ctx: Ctx, name: str) -> tuple:
    """An offering name → ([it], is_group=False); a comparison group → (members, True)."""
    off = offering(ctx, name, required=False)
    if off is not None:
        return [off], False
    members = group_members(ctx, name)
    if not members:
        raise UndefinedObject("offering or comparison group %r does not exist" % (name,),
                              hint="see SELECT name, comparison_group FROM nyop.offerings")
    return [offering(ctx, m) for m in members], True


def peers(ctx: Ctx, off: dict) -> list:
    """The offerings sharing ``off``'s reference scale: its comparison group, or itself."""
    if not off["comparison_group"]:
        return [off]
    return [offering(ctx, m) for m in group_members(ctx, off["comparison_group"])]
