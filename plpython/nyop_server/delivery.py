"""The tailored product of docs/model.md §7 as SQL: history capture on the base
table, and the buyer's view — projected, delayed over history, null-injected
by nested keyed-hash masks, scoped.

Everything here only writes SQL text from names and numbers; the edge runs it.
Per-row work stays in set-based SQL PostgreSQL can plan and push quals into.
"""

from __future__ import annotations

from .quality import lu_instant
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
    return [
        # the columns' types only: no NOT NULL (a provider may drop one later and store NULLs),
        # no defaults (they would tie nyop's table to the provider's sequences and functions)
        "CREATE TABLE %s AS SELECT * FROM %s WITH NO DATA" % (h, relation_sql),
        "ALTER TABLE %s ADD COLUMN %s timestamptz NOT NULL, ADD COLUMN %s timestamptz"
        % (h, ident(VALID_TO), ident(NEXT_LU)),
        # no index on the key: nothing looks versions up by key, and a btree entry is limited to
        # ~2.7 kB, so long keys the provider's table accepts would make its writes fail (54000)
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


# Key hashing must not depend on the session: a mask re-drawn by `SET bytea_output` (or
# DateStyle, TimeZone, IntervalStyle, extra_float_digits, lc_monetary, search_path,
# quote_all_identifiers…) would hand a buyer other cells than the ones paid for, and break
# nesting across buyers. So a key type is hashed by a whitelisted rule, or not sold at all.
# Built-in type OIDs are fixed; names are not (format_type quotes "date" under
# quote_all_identifiers), so the rules go by the OID of the type under any domains.
BYTEA_OID, DATE_OID, TIMESTAMPTZ_OID = 17, 1082, 1184
# Types whose text form depends on no session setting (their output functions read no GUC;
# checked under every DateStyle, TimeZone, IntervalStyle, extra_float_digits, bytea_output,
# lc_*, search_path and quote_all_identifiers): keys of these types that were hashed through
# their text form stay so, so that masks of existing purchases do not change.
TEXT_STABLE_OIDS = frozenset({
    16, 18, 19, 20, 21, 23, 25, 26, 27, 30,     # bool "char" name int8 int2 int4 text oid tid oidvector
    650, 774, 829, 869,                          # cidr macaddr8 macaddr inet
    1042, 1043, 1083, 1266, 1560, 1562, 1700,    # bpchar varchar time timetz bit varbit numeric
    2950, 3220, 3614, 3615, 3802, 5069,          # uuid pg_lsn tsvector tsquery jsonb xid8
})
# The reg* types print names qualified and quoted per search_path and quote_all_identifiers:
# they are binary-coercible to oid and hashed as such.
OID_ALIAS_OIDS = frozenset({24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191})
TEXT_HASH = "pg_catalog.hashtextextended({c}::text, {seed})"
DATE_HASH = "pg_catalog.hashint4extended({c} - DATE '2000-01-01', {seed})"
EPOCH_HASH = "pg_catalog.hashfloat8extended(extract(epoch FROM {c})::float8, {seed})"
# bytea: the bytes in hex, prefixed as bytea_output = 'hex' prints them — the same hash as
# the text form had under the default setting, whatever the setting now. (E'' reads the
# same whatever standard_conforming_strings says.)
BYTEA_HASH = "pg_catalog.hashtextextended(E'\\\\x' || pg_catalog.encode({c}, 'hex'), {seed})"
OID_HASH = "pg_catalog.hashoidextended({c}::pg_catalog.oid, {seed})"


def key_hash_fn(type_name: str, hash_fn: str | None, base: int | None = None, kind: str = "b",
                base_fn: str | None = None) -> str | None:
    """A template ``{c}``/``{seed}`` hashing one key value to int8 whatever the session's
    settings, or None when nyop knows no such hash for the type (it is then refused as a key).

    ``hash_fn``: the extended hash function of the type's own default hash opclass, when it
    takes the type itself (immutable, as every hash opclass function must be: hash indexes
    persist); ``base``, ``kind``: OID and typtype of the type under any domains; ``base_fn``:
    the base type's extended hash function taking the base type itself or the polymorphic
    pseudo-type it matches (anyarray, anyenum, anyrange, anymultirange — never ``internal``).

    In order, keeping the expression of every type that was already stable:
    the type's own hash function; dates as days since 2000 and timestamptz as epoch (their
    hash functions take int4 / timestamp); types with a settings-independent text form (and
    enums) through that text; the base type's hash function (domains, arrays, ranges); bytea
    through its hex digits; reg* types as oid. Anything else (money, whose text follows
    lc_monetary; types without a hash function) has no stable hash: None."""
    if hash_fn:
        return hash_fn + "({c}, {seed})"
    if base == DATE_OID:
        return DATE_HASH
    if base == TIMESTAMPTZ_OID:
        return EPOCH_HASH
    if base in TEXT_STABLE_OIDS or kind == "e":
        return TEXT_HASH
    if base_fn:
        return base_fn + "({c}, {seed})"
    if base == BYTEA_OID:
        return BYTEA_HASH
    if base in OID_ALIAS_OIDS:
        return OID_HASH
    return None


def key_hash_sql(alias: str, key_columns: list, key_hash_fns: dict, seed: str = "0::int8") -> str:
    """A 64-bit hash of the row's key, chained through the hash of each key column."""
    expr = seed
    for k in key_columns:
        tmpl = key_hash_fns.get(k) or "pg_catalog.hashtextextended({c}::text, {seed})"
        expr = tmpl.format(c="%s.%s" % (alias, ident(k)), seed=expr)
    return expr


def inner_sql(off: dict, columns: list, delay_seconds: float, history: str | None, scope_sql: str | None,
              key_hash_fns: dict, scope_cols=(), scheme: int = 2, delay_sql: str | None = None) -> str:
    """The visible versions: current rows (and, with a delay, old versions from history)
    whose last-updated value is at most now − delay, plus the key hash; scoped. ``history``:
    the history table as SQL (its regclass text, already qualified).
    ``scope_cols`` are the columns the scope reads, selected even when not delivered.
    ``delay_sql``: an expression reading the delay from a table the reader cannot read (a
    purchase's delay is its buyer's business: view definitions are world-readable); else the
    delay is written in as a number (measures at purchase time, free previews)."""
    cols = list(dict.fromkeys(list(off["key_columns"]) + list(columns) + list(scope_cols)))
    sel = lambda a: ", ".join("%s.%s" % (a, ident(c)) for c in cols) + (", %s AS %s" % (
        key_hash_sql(a, off["key_columns"], key_hash_fns), ident(KEY_HASH)) if scheme == 1 else "")
    base = "SELECT %s FROM %s b" % (sel("b"), off["relation_sql"])
    if delay_seconds > 0:
        lu = ident(off["last_updated"])
        at = lambda a: lu_instant("%s.%s" % (a, lu), off.get("lu_type")) if off.get("lu_type") in (
            "date", "timestamp without time zone") else "%s.%s" % (a, lu)
        cutoff = "(SELECT nyop.clock() - %s)" % (delay_sql or "make_interval(secs => %r)" % float(delay_seconds))
        base += " WHERE %s <= %s" % (at("b"), cutoff)
        if history:
            h = history
            base += (" UNION ALL SELECT %s FROM %s h WHERE %s <= %s AND CASE WHEN h.%s IS NULL "
                     "THEN h.%s > %s ELSE h.%s > %s END"
                     % (sel("h"), h, at("h"), cutoff, ident(NEXT_LU), ident(VALID_TO), cutoff, ident(NEXT_LU), cutoff))
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


def cell_hashes_sql(inner: str, off: dict, masked: list, key_hash_fns: dict, scheme: int) -> str:
    """The hash of every non-null masked cell (column h): one branch per masked column, each
    reading ``inner`` afresh (no materialised copy of the rows, so no temporary file; a pass
    over a small offering's rows costs less than fanning each row out into its cells)."""
    return " UNION ALL ".join("SELECT %s AS h FROM (%s) i WHERE i.%s IS NOT NULL"
                              % (cell_hash_sql("i", off, c, key_hash_fns, scheme), inner, ident(c)) for c in masked)


def threshold_sql(inner: str, off: dict, masked: list, keep: int, key_hash_fns: dict, scheme: int) -> str:
    """The keep-th smallest cell hash over non-null masked cells: cells hashing at or
    below it are kept, so exactly ``keep`` non-null cells survive (ties aside). A bounded sort
    (top-N heap of ``keep`` hashes): for small offerings only (see :func:`histogram_sql`)."""
    return "SELECT c.h FROM (%s) c ORDER BY c.h OFFSET %d LIMIT 1" % (
        cell_hashes_sql(inner, off, masked, key_hash_fns, scheme), max(keep - 1, 0))


HISTOGRAM_SHIFT = 48        # the finest histogram: 65,536 buckets (a hash table of ~4 MB at most)


def histogram_shift(cells: int) -> int:
    """A histogram of the int8 hash space with about 16 cells a bucket, 256 to 65,536 buckets
    (a hash table of ~4 MB at most): buckets are the hashes' top bits, h >> shift."""
    bits = max(8, min(16, (max(int(cells), 1) // 16).bit_length()))
    return max(HISTOGRAM_SHIFT, 64 - bits)


def histogram_sql(inner: str, off: dict, masked: list, keep: int, key_hash_fns: dict, scheme: int,
                  shift: int = HISTOGRAM_SHIFT) -> str:
    """Without sorting the cells: the hash bucket (h >> shift) holding the keep-th smallest cell
    hash, and how many cells lie in the buckets below it (one pass, a hash aggregate)."""
    return ("SELECT b.b, b.below FROM (SELECT h.b, sum(h.n) OVER (ORDER BY h.b) - h.n AS below, "
            "sum(h.n) OVER (ORDER BY h.b) AS upto FROM (SELECT c.h >> %d AS b, count(*) AS n FROM (%s) c GROUP BY 1) h"
            ") b WHERE b.upto >= %d ORDER BY b.b LIMIT 1"
            % (shift, cell_hashes_sql(inner, off, masked, key_hash_fns, scheme), keep))


def bucket_pick_sql(inner: str, off: dict, masked: list, bucket: int, rank: int, key_hash_fns: dict,
                    scheme: int, shift: int = HISTOGRAM_SHIFT) -> str:
    """The rank-th smallest cell hash (1-based) within one histogram bucket (a few cells)."""
    return ("SELECT c.h FROM (%s) c WHERE c.h >> %d = %d ORDER BY c.h OFFSET %d LIMIT 1"
            % (cell_hashes_sql(inner, off, masked, key_hash_fns, scheme), shift, int(bucket), max(rank - 1, 0)))


def max_hash_sql(inner: str, off: dict, masked: list, key_hash_fns: dict, scheme: int) -> str:
    """The largest hash over non-null masked cells (one aggregate, no sort)."""
    return "SELECT max(c.h) AS h FROM (%s) c" % cell_hashes_sql(inner, off, masked, key_hash_fns, scheme)


def counts_sql(inner: str, off: dict, columns: list) -> str:
    """rows, non-null cells of the masked columns and of the other counted columns (keys)."""
    masked = masked_columns(off, columns)
    counted = [c for c in columns if c != off["last_updated"]]
    unmasked = [c for c in counted if c not in masked]
    nn = lambda cs: "coalesce(sum(%s), 0)" % " + ".join("num_nonnulls(i.%s)" % ident(c) for c in cs) if cs else "0"
    return "SELECT count(*) AS rows, %s AS masked_nonnull, %s AS unmasked_nonnull FROM (%s) i" % (
        nn(masked), nn(unmasked), inner)


def view_select(off: dict, columns: list, inner: str, threshold_sql: str | None,
                key_hash_fns: dict | None = None, scheme: int = 2) -> str:
    """The projected columns in order; with ``threshold_sql`` the masked columns become CASE
    expressions over the cell hash."""
    outs = []
    masked_cols = set(masked_columns(off, columns)) if threshold_sql else set()
    for c in columns:
        if c in masked_cols:
            outs.append("CASE WHEN %s <= %s THEN v.%s END AS %s"
                        % (cell_hash_sql("v", off, c, key_hash_fns or {}, scheme), threshold_sql, ident(c),
                           ident(c)))
        else:
            outs.append("v.%s" % ident(c))
    return "SELECT %s FROM (%s) v" % (", ".join(outs), inner)


def view_ddl(view_sql: str, off: dict, columns: list, inner: str, threshold_sql: str | None,
             replace: bool = False, key_hash_fns: dict | None = None, scheme: int = 2,
             guard_sql: str | None = None, barrier: bool = True) -> str:
    """CREATE [OR REPLACE] VIEW over :func:`view_select` (``threshold_sql`` reads the purchase's
    threshold from a table the buyer cannot read). ``guard_sql``: a condition without row
    references, which PostgreSQL evaluates once per query (a one-time filter).

    ``barrier``: a security_barrier view, needed when the view hides rows (a delay, a scope), so
    that a function in the buyer's WHERE clause never sees them. A view that hides no row need
    not be one: every column it shows is already masked, and its paid guard runs before any row
    is read. And it should not be one: PostgreSQL 15 gives up parallel plans for a subquery
    level with initPlans (the seeds' and threshold's lookups), and a barrier view stays such a
    level, while a plain view is pulled up and its initPlans run once, before the workers."""
    return "CREATE %sVIEW %s WITH (security_barrier = %s) AS %s%s" % (
        "OR REPLACE " if replace else "", view_sql, "true" if barrier else "false",
        view_select(off, columns, inner, threshold_sql, key_hash_fns, scheme),
        " WHERE %s" % guard_sql if guard_sql else "")


# -- views that hide rows, in two levels ----------------------------------------------------
# A view that hides rows (a delay, a scope) must be a security barrier: a function in the buyer's
# WHERE clause may see only the rows delivered. But PostgreSQL 15 never runs a subquery level with
# initPlans in parallel, and a barrier view stays such a level (its seed, threshold and delay
# lookups). So such a purchase gets two views:
#   * its rows (ROWS_SCHEMA.rows_<bid>): a security_barrier view with the scope and, for a delay,
#     the table's current rows and history's old versions with what the delay compares (no
#     lookup, no initPlan, nothing granted to anyone);
#   * the buyer's view over it, no barrier (pulled up into the buyer's query, its lookups run
#     once, before the workers): the masks, and for a delay the conditions that hide the versions
#     not yet visible. Those conditions are leakproof comparisons of the rows view's columns with
#     the purchase's cutoff, so PostgreSQL pushes them into the barrier view (a barrier keeps only
#     leaky conditions out): the buyer's own functions still see only delivered rows.
ROWS_SCHEMA = "nyop"
ROWS_PREFIX = "rows_"
HIDDEN = (VALID_TO, NEXT_LU)        # the rows view's extra columns: from history, NULL for current rows
KEEP_BARRIER = "nyop_keep_barrier"  # see rows_sql


def rows_view_sql(bid_id: int) -> str:
    return "%s.%s" % (ident(ROWS_SCHEMA), ident("%s%d" % (ROWS_PREFIX, int(bid_id))))


def rows_sql(off: dict, columns: list, delayed: bool, history: str | None, scope_sql: str | None,
             scope_cols=()) -> str:
    """The body of a purchase's rows view: the key, the bought columns and those the scope reads;
    with a delay also the last-updated column and every old version in ``history`` (its regclass
    text) with when it ended — no delay filter (the buyer's view holds it: :func:`delay_conditions`)."""
    cols = list(dict.fromkeys(list(off["key_columns"]) + list(columns) + list(scope_cols)
                              + ([off["last_updated"]] if delayed else [])))
    sel = lambda a: ", ".join("%s.%s" % (a, ident(c)) for c in cols)
    where = " WHERE %s" % scope_sql if scope_sql else ""     # unqualified names: key and LU columns
    if not delayed:
        return "SELECT %s FROM %s b%s" % (sel("b"), off["relation_sql"], where)
    sql = "SELECT %s, NULL::timestamptz AS %s, NULL::timestamptz AS %s FROM %s b%s" % (
        sel("b"), ident(VALID_TO), ident(NEXT_LU), off["relation_sql"], where)
    if not history:
        return sql
    # PostgreSQL 15 flattens a view whose top level is a plain UNION ALL into an append relation
    # of its branches, and the barrier goes with it: a function in the buyer's WHERE clause would
    # run in the scans, ahead of the delay's conditions. A WITH list (unused: nothing is computed)
    # keeps the UNION ALL a subquery of its own; its branches are then scanned with the delay's
    # conditions pushed into them, in parallel, and nothing projects their rows again (a SELECT
    # around the UNION ALL would: a Result node, ~5 % of a full scan).
    return "WITH %s AS (SELECT) %s UNION ALL SELECT %s, h.%s, h.%s FROM %s h%s" % (
        ident(KEEP_BARRIER), sql, sel("h"), ident(VALID_TO), ident(NEXT_LU), history, where)


def purchase_cutoff_sql(bid_id: int, lu_type: str | None = None) -> str:
    """now − the purchase's delay, in the last-updated column's own type — NULL unless paid.

    The paid guard is folded in (nothing before payment, docs/model.md §8): inside the transaction
    that placed the purchase nyop._paid raises; from another session an uncommitted purchase is
    invisible; either way no version passes. (A separate one-time filter would cost a projection
    per row.) A date or a timestamp without time zone is read as UTC (quality.lu_instant): the
    cutoff is turned into that type rather than every row's value into an instant, so that the
    comparison stays a leakproof one on the column itself — ``d::timestamp AT TIME ZONE 'UTC' <= c``
    iff ``d <= (c AT TIME ZONE 'UTC')::date``, and likewise without the cast for a timestamp."""
    e = "CASE WHEN nyop._paid(p.bid_id, p.placed_xid) THEN nyop.clock() - p.delay END"
    if lu_type == "date":
        e = "((%s) AT TIME ZONE 'UTC')::date" % e
    elif lu_type == "timestamp without time zone":
        e = "((%s) AT TIME ZONE 'UTC')" % e
    return "(SELECT %s FROM nyop.purchases p WHERE p.bid_id = %d)" % (e, int(bid_id))


def delay_conditions(off: dict, bid_id: int) -> str:
    """What the buyer's view shows of its rows view: versions whose last-updated value is at most
    now − delay and, for an old version, that it was still current then. Leakproof operators on
    the rows view's columns and initPlan parameters only, so PostgreSQL pushes both conditions
    into the barrier (for current rows the second folds to true)."""
    return ("v.%s <= %s AND (v.%s IS NULL OR CASE WHEN v.%s IS NULL THEN v.%s ELSE v.%s END > %s)"
            % (ident(off["last_updated"]), purchase_cutoff_sql(bid_id, off.get("lu_type")), ident(VALID_TO),
               ident(NEXT_LU), ident(VALID_TO), ident(NEXT_LU), purchase_cutoff_sql(bid_id)))


def two_level_ddl(view_sql: str, bid_id: int, off: dict, columns: list, delayed: bool, history: str | None,
                  scope_sql: str | None, scope_cols, threshold_sql: str | None, replace: bool = False,
                  key_hash_fns: dict | None = None, scheme: int = 2) -> list:
    """The rows view (a security barrier) and the buyer's view over it (none), as DDL statements;
    see the comment above :data:`ROWS_SCHEMA`. Without a delay the buyer's view ends with the
    paid guard (a one-time filter); with one the guard is in the cutoff."""
    rows = rows_view_sql(bid_id)
    outer = view_select(off, columns, "SELECT * FROM %s" % rows, threshold_sql, key_hash_fns, scheme)
    where = delay_conditions(off, bid_id) if delayed else paid_guard_sql(bid_id)
    return [
        "CREATE VIEW %s WITH (security_barrier = true) AS %s"
        % (rows, rows_sql(off, columns, delayed, history, scope_sql, scope_cols)),
        "REVOKE ALL ON %s FROM PUBLIC" % rows,          # (default privileges an operator may have set)
        "CREATE %sVIEW %s WITH (security_barrier = false) AS %s WHERE %s"
        % ("OR REPLACE " if replace else "", view_sql, outer, where),
    ]


def can_split(off: dict, columns: list, scope_cols=()) -> bool:
    """Whether the rows view's extra columns leave every column name distinct (a provider column
    named like them, on a relation without history, keeps the one-level view)."""
    return not set(HIDDEN) & set(list(off["key_columns"]) + list(columns) + list(scope_cols))


def purchase_threshold_sql(bid_id: int) -> str:
    return "(SELECT p.threshold FROM nyop.purchases p WHERE p.bid_id = %d)" % int(bid_id)


def purchase_delay_sql(bid_id: int) -> str:
    return "(SELECT p.delay FROM nyop.purchases p WHERE p.bid_id = %d)" % int(bid_id)


def paid_guard_sql(bid_id: int) -> str:
    """Nothing before payment (docs/model.md §8): the purchase is readable once the transaction that
    placed it has committed. Inside that transaction (or a subtransaction of it) the status is
    'in progress' and nyop._paid raises; from other sessions an uncommitted (or prepared)
    purchase row is invisible, so the condition is NULL and the view returns no rows.
    One evaluation per query (no row reference: a one-time filter), nothing per row."""
    return "(SELECT nyop._paid(p.bid_id, p.placed_xid) FROM nyop.purchases p WHERE p.bid_id = %d)" % int(bid_id)


def preview_threshold_sql(offering: str) -> str:
    return "(SELECT p.threshold FROM nyop.previews p WHERE p.offering = %s)" % literal(offering)


def delivered_sql(view_sql: str, off: dict, columns: list) -> str:
    """Cells and non-null cells of a view, over every column but the last-updated one."""
    counted = [c for c in columns if c != off["last_updated"]]
    return ("SELECT count(*) * %d AS cells, coalesce(sum(num_nonnulls(%s)), 0) AS nonnull FROM %s v"
            % (len(counted), ", ".join("v.%s" % ident(c) for c in counted), view_sql))


MIN_INT8 = -(2 ** 63)


def full_data_share(target: float, n_counted: int, n_masked: int) -> float:
    """The share of masked cells to keep so that complete data (no NULLs) delivers ``target``:
    keys and the other unmasked counted columns are always delivered."""
    if n_masked <= 0:
        return 1.0
    return max(0.0, min(1.0, (target * n_counted - (n_counted - n_masked)) / n_masked))


def share_threshold(share: float) -> int:
    """The int8 threshold below which a ``share`` of uniformly hashed cells falls."""
    if share >= 1.0:
        return 2 ** 63 - 1
    return max(MIN_INT8, min(2 ** 63 - 1, MIN_INT8 + int(share * 2.0 ** 64)))


def hash_share(threshold: int) -> float:
    """The share of uniformly hashed cells at or below ``threshold`` (inverse of share_threshold)."""
    return max(0.0, min(1.0, (int(threshold) - MIN_INT8 + 1) / 2.0 ** 64))


def keep_count(target: float, rows: int, n_counted: int, unmasked_nonnull: int, masked_nonnull: int):
    """How many non-null masked cells to keep so that delivered completeness is the target."""
    import math
    cells = rows * n_counted
    want = int(math.floor(target * cells + 0.5))
    return max(0, min(masked_nonnull, want - unmasked_nonnull))
