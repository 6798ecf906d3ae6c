"""History of sold tables: every old row version, kept for delayed buyers. The table and its
capture are set up at registration; capture runs with the table owner's rights
(nyop._install_capture, sql/idempotent/050-delivery.sql)."""

from __future__ import annotations

from .. import delivery
from ..errors import InvalidParameter
from ..sqltext import ident
from .catalog import TRUST_SCHEMA, Ctx


HISTORY_SQL = "SELECT history::text AS history, key_columns, last_updated FROM nyop.histories WHERE relation = $1"


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
        if not ctx.schema_at_least(TRUST_SCHEMA):      # 0.3.0 on: nyop._install_capture drops them, in a marked transaction
            for trg in ("nyop_history_update", "nyop_history_delete", "nyop_history_truncate"):
                ctx.execute("DROP TRIGGER IF EXISTS %s ON %s" % (trg, off["relation_sql"]))
    else:
        for stmt in delivery.history_ddl(off["relation_sql"], name, off["key_columns"]):
            ctx.execute(stmt)
        ctx.query("INSERT INTO nyop.histories VALUES ($1::oid::regclass, ('nyop.' || quote_ident($2))::regclass, "
                  "$3, $4)", ("oid", "text", "text[]", "text"),
                  (off["relid"], name, off["key_columns"], off["last_updated"]))
    if ctx.schema_at_least(TRUST_SCHEMA):
        # capture runs with the table owner's rights (sql/idempotent/050-delivery.sql)
        ctx.query("SELECT nyop._install_capture($1::oid::regclass)", ("oid",), (off["relid"],))
        return
    for stmt in delivery.capture_triggers_ddl(off["relation_sql"], name, off["columns"], off["key_columns"],
                                              off["last_updated"]):
        ctx.execute(stmt)
