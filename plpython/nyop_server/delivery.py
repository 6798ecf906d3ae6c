"""The tailored product of MODEL.md §7 as SQL: history capture on the base
table, and the buyer's view — projected, delayed over history, null-injected
by nested keyed-hash masks, scoped.

Everything here only writes SQL text from names and numbers; the edge runs it.
Per-row work stays in set-based SQL PostgreSQL can plan and push quals into.
"""

from __future__ import annotations

from .sqltext import ident, literal

HISTORY_SCHEMA = "nyop"
VIEW_SCHEMA = "nyop_views"
VALID_TO = "nyop_valid_to"      # when the version stopped being current
NEXT_LU = "nyop_next_lu"        # last-updated value of the version that replaced it (NULL: deleted)
KEY_HASH = "nyop_kh"            # mask scheme 1 (0.1.0): per-row hash of the key, in the inner query
# Mask schemes. 1 (0.1.0): cell hash = hashint8extended(key hash, column seed), the key hash a
# column of the inner query — which PostgreSQL inlines into every cell, hashing twice per cell.
# 2 (0.2.0 on): the key's hash chain seeded with the column seed, one hash per key column per
# cell. An offering keeps the scheme of its first purchase, so that its masks stay nested.


def history_name(relid: int) -> str:
    return "history_%d" % relid


def history_ddl(relation_sql: str, history: str, key_columns: list) -> list:
    """The history table of a base table: every old version, when it ended, and its successor's LU."""
    h = "%s.%s" % (ident(HISTORY_SCHEMA), ident(history))
    keys = ", ".join(ident(k) for k in key_columns)
    return [
        # the columns' types only: no NOT NULL (a provider may drop one later and store NULLs),
        # no defaults (they would tie nyop's table to the provider's sequences and functions)
        "CREATE TABLE %s AS SELECT * FROM %s WITH NO DATA" % (h, relation_sql),
        "ALTER TABLE %s ADD COLUMN %s timestamptz NOT NULL, ADD COLUMN %s timestamptz"
        % (h, ident(VALID_TO), ident(NEXT_LU)),
        "CREATE INDEX ON %s (%s)" % (h, keys),
        "REVOKE ALL ON %s FROM PUBLIC" % h,
    ]


def capture_triggers_ddl(relation_sql: str, history: str, columns: list, key_columns: list,
                         last_updated: str) -> list:
    """Statement-level triggers with transition tables: one set-based INSERT per statement."""
    h = "%s.%s" % (ident(HISTORY_SCHEMA), ident(history))
    args = ", ".join(literal(x) for x in (h, ", ".join(ident(c) for c in columns),
                                          " AND ".join("o.%s IS NOT DISTINCT FROM n.%s" % (ident(k), ident(k))
                                                       for k in key_columns),
                                          ident(last_updated),
                                          ", ".join("o.%s" % ident(c) for c in columns)))
    return [
        "CREATE TRIGGER nyop_history_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS nyop_old "
        "NEW TABLE AS nyop_new FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_update(%s)" % (relation_sql, args),
        "CREATE TRIGGER nyop_history_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS nyop_old "
        "FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_delete(%s)" % (relation_sql, args),
        "CREATE TRIGGER nyop_history_truncate BEFORE TRUNCATE ON %s "
        "FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_truncate(%s)" % (relation_sql, args),
    ]


def key_hash_fn(type_name: str, hash_fn: str | None) -> str:
    """A template ``{c}``/``{seed}`` hashing one key value to int8 whatever the session's
    DateStyle, TimeZone or float settings: the type's own extended hash function when it
    takes the type itself, a settings-independent number for dates and timestamps, else text."""
    if hash_fn:
        return hash_fn + "({c}, {seed})"
    if type_name == "date":
        return "pg_catalog.hashint4extended({c} - DATE '2000-01-01', {seed})"
    if type_name.startswith("timestamp"):
        return "pg_catalog.hashfloat8extended(extract(epoch FROM {c})::float8, {seed})"
    return "pg_catalog.hashtextextended({c}::text, {seed})"


def key_hash_sql(alias: str, key_columns: list, key_hash_fns: dict, seed: str = "0::int8") -> str:
    """A 64-bit hash of the row's key, chained through the hash of each key column."""
    expr = seed
    for k in key_columns:
        tmpl = key_hash_fns.get(k) or "pg_catalog.hashtextextended({c}::text, {seed})"
        expr = tmpl.format(c="%s.%s" % (alias, ident(k)), seed=expr)
    return expr


def inner_sql(off: dict, columns: list, delay_seconds: float, history: str | None, scope_sql: str | None,
              key_hash_fns: dict, scope_cols=(), scheme: int = 2) -> str:
    """The visible versions: current rows (and, with a delay, old versions from history)
    whose last-updated value is at most now − delay, plus the key hash; scoped.
    ``scope_cols`` are the columns the scope reads, selected even when not delivered."""
    cols = list(dict.fromkeys(list(off["key_columns"]) + list(columns) + list(scope_cols)))
    sel = lambda a: ", ".join("%s.%s" % (a, ident(c)) for c in cols) + (", %s AS %s" % (
        key_hash_sql(a, off["key_columns"], key_hash_fns), ident(KEY_HASH)) if scheme == 1 else "")
    base = "SELECT %s FROM %s b" % (sel("b"), off["relation_sql"])
    if delay_seconds > 0:
        lu = ident(off["last_updated"])
        cutoff = "(SELECT nyop.clock() - make_interval(secs => %r))" % float(delay_seconds)
        base += " WHERE b.%s <= %s" % (lu, cutoff)
        if history:
            h = "%s.%s" % (ident(HISTORY_SCHEMA), ident(history))
            base += (" UNION ALL SELECT %s FROM %s h WHERE h.%s <= %s AND CASE WHEN h.%s IS NULL "
                     "THEN h.%s > %s ELSE h.%s > %s END"
                     % (sel("h"), h, lu, cutoff, ident(NEXT_LU), ident(VALID_TO), cutoff, ident(NEXT_LU), cutoff))
    sql = "SELECT * FROM (%s) v" % base
    if scope_sql:
        sql += " WHERE %s" % scope_sql
    return sql


def masked_columns(off: dict, columns: list) -> list:
    """Columns whose cells are masked: not keys, not the last-updated column."""
    return [c for c in columns if c not in off["key_columns"] and c != off["last_updated"]]


def seed_sql(offering: str, column: str) -> str:
    return ("(SELECT s.seed FROM nyop.mask_seeds s WHERE s.offering = %s AND s.column_name = %s)"
            % (literal(offering), literal(column)))


def cell_hash_sql(alias: str, off: dict, column: str, key_hash_fns: dict, scheme: int) -> str:
    seed = seed_sql(off["name"], column)
    if scheme == 1:
        return "hashint8extended(%s.%s, %s)" % (alias, ident(KEY_HASH), seed)
    return key_hash_sql(alias, off["key_columns"], key_hash_fns, seed)


def threshold_sql(inner: str, off: dict, masked: list, keep: int, key_hash_fns: dict, scheme: int) -> str:
    """The keep-th smallest cell hash over non-null masked cells: cells hashing at or
    below it are kept, so exactly ``keep`` non-null cells survive (ties aside)."""
    parts = " UNION ALL ".join("SELECT %s AS h FROM i WHERE i.%s IS NOT NULL"
                               % (cell_hash_sql("i", off, c, key_hash_fns, scheme), ident(c)) for c in masked)
    return "WITH i AS MATERIALIZED (%s) SELECT h FROM (%s) c ORDER BY h OFFSET %d LIMIT 1" % (
        inner, parts, max(keep - 1, 0))


def counts_sql(inner: str, off: dict, columns: list) -> str:
    """rows, non-null cells of the masked columns and of the other counted columns (keys)."""
    masked = masked_columns(off, columns)
    counted = [c for c in columns if c != off["last_updated"]]
    unmasked = [c for c in counted if c not in masked]
    nn = lambda cs: "coalesce(sum(%s), 0)" % " + ".join("num_nonnulls(i.%s)" % ident(c) for c in cs) if cs else "0"
    return "SELECT count(*) AS rows, %s AS masked_nonnull, %s AS unmasked_nonnull FROM (%s) i" % (
        nn(masked), nn(unmasked), inner)


def view_ddl(view_sql: str, off: dict, columns: list, inner: str, threshold_sql: str | None,
             replace: bool = False, key_hash_fns: dict | None = None, scheme: int = 2) -> str:
    """CREATE [OR REPLACE] VIEW: projected columns in order; with ``threshold_sql`` (an
    expression reading the purchase's threshold from a table the buyer cannot read) the
    masked columns become CASE expressions over the cell hash."""
    outs = []
    masked_cols = set(masked_columns(off, columns)) if threshold_sql else set()
    for c in columns:
        if c in masked_cols:
            outs.append("CASE WHEN %s <= %s THEN v.%s END AS %s"
                        % (cell_hash_sql("v", off, c, key_hash_fns or {}, scheme), threshold_sql, ident(c),
                           ident(c)))
        else:
            outs.append("v.%s" % ident(c))
    return "CREATE %sVIEW %s WITH (security_barrier) AS SELECT %s FROM (%s) v" % (
        "OR REPLACE " if replace else "", view_sql, ", ".join(outs), inner)


def purchase_threshold_sql(bid_id: int) -> str:
    return "(SELECT p.threshold FROM nyop.purchases p WHERE p.bid_id = %d)" % int(bid_id)


def preview_threshold_sql(offering: str) -> str:
    return "(SELECT p.threshold FROM nyop.previews p WHERE p.offering = %s)" % literal(offering)


def delivered_sql(view_sql: str, off: dict, columns: list) -> str:
    """Cells and non-null cells of a view, over every column but the last-updated one."""
    counted = [c for c in columns if c != off["last_updated"]]
    return ("SELECT count(*) * %d AS cells, coalesce(sum(num_nonnulls(%s)), 0) AS nonnull FROM %s v"
            % (len(counted), ", ".join("v.%s" % ident(c) for c in counted), view_sql))


MIN_INT8 = -(2 ** 63)


def keep_count(target: float, rows: int, n_counted: int, unmasked_nonnull: int, masked_nonnull: int):
    """How many non-null masked cells to keep so that delivered completeness is the target."""
    import math
    cells = rows * n_counted
    want = int(math.floor(target * cells + 0.5))
    return max(0, min(masked_nonnull, want - unmasked_nonnull))
