"""delivery.py without a server: the SQL text it writes, parsed back with sqlglot (postgres).

Each test checks what the text selects, masks and delays (docs/model.md §7), the paid guard
(§8) and that hostile identifiers stay identifiers: one statement, the name intact.
`CREATE VIEW … WITH (security_barrier)` is not sqlglot syntax: that prefix is checked as
text and the SELECT after it is parsed.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from nyop_server import delivery as d

PG = "postgres"
HOSTILE = 'x"; DROP TABLE t; --'           # a column name a provider might choose
HOSTILE_Q = '"x""; DROP TABLE t; --"'      # …quoted
TEXT_TMPL = "pg_catalog.hashtextextended({c}::text, {seed})"


def parse(sql: str) -> exp.Expression:
    trees = sqlglot.parse(sql, read=PG)
    assert len(trees) == 1, "one statement, got %d: %s" % (len(trees), sql)
    return trees[0]


def off_(**kw) -> dict:
    base = {"name": "weather", "relation_sql": 'public."weather"', "key_columns": ["station", "date"],
            "last_updated": "lu", "columns": ["station", "date", "temp", "rain", "lu"]}
    base.update(kw)
    return base


def out_names(select: exp.Select) -> list:
    return [e.alias_or_name for e in select.expressions]


def union_branches(node: exp.Expression) -> list:
    if isinstance(node, exp.Union):
        return union_branches(node.this) + union_branches(node.expression)
    return [node]


def inner_select(sql: str):
    """SELECT * FROM (<base>) v [WHERE scope] → (outer select, branches of base)."""
    tree = parse(sql)
    assert isinstance(tree, exp.Select)
    assert [type(e) for e in tree.expressions] == [exp.Star]
    sub = tree.args["from_"].this
    assert isinstance(sub, exp.Subquery) and sub.alias == "v"
    return tree, union_branches(sub.this)


# -- names and simple pieces ---------------------------------------------------------

def test_constants():
    assert (d.HISTORY_SCHEMA, d.VIEW_SCHEMA) == ("nyop", "nyop_views")
    assert (d.VALID_TO, d.NEXT_LU, d.KEY_HASH) == ("nyop_valid_to", "nyop_next_lu", "nyop_kh")
    assert d.MIN_INT8 == -(2 ** 63)
    assert (d.BYTEA_OID, d.DATE_OID, d.TIMESTAMPTZ_OID) == (17, 1082, 1184)


def test_history_name():
    assert d.history_name(16384) == "history_16384"


def test_history_ddl_text_and_parse():
    stmts = d.history_ddl('public."t"', "history_7", ["a", HOSTILE])     # no key index (long keys)
    assert stmts == [
        'CREATE TABLE "nyop"."history_7" AS SELECT * FROM public."t" WITH NO DATA',
        'ALTER TABLE "nyop"."history_7" ADD COLUMN "nyop_valid_to" timestamptz NOT NULL, '
        'ADD COLUMN "nyop_next_lu" timestamptz',
        'REVOKE ALL ON "nyop"."history_7" FROM PUBLIC',
    ]
    create, alter, revoke = [parse(s) for s in stmts]
    assert isinstance(create, exp.Create) and create.this.name == "history_7" and create.this.db == "nyop"
    assert isinstance(alter, exp.Alter)
    cols = [a for a in alter.args["actions"] if isinstance(a, exp.ColumnDef)]
    assert [c.name for c in cols] == ["nyop_valid_to", "nyop_next_lu"]
    assert isinstance(revoke, exp.Revoke)


def test_capture_triggers_ddl():
    stmts = d.capture_triggers_ddl('public."t"', "history_7", ["a", "b", "lu"], ["a", "b"], "lu")
    args = ("('\"nyop\".\"history_7\"', '\"a\", \"b\", \"lu\"', "
            "'o.\"a\" IS NOT DISTINCT FROM n.\"a\" AND o.\"b\" IS NOT DISTINCT FROM n.\"b\"', '\"lu\"', "
            "'o.\"a\", o.\"b\", o.\"lu\"')")
    assert stmts == [
        'CREATE TRIGGER nyop_history_update AFTER UPDATE ON public."t" REFERENCING OLD TABLE AS nyop_old '
        'NEW TABLE AS nyop_new FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_update' + args,
        'CREATE TRIGGER nyop_history_delete AFTER DELETE ON public."t" REFERENCING OLD TABLE AS nyop_old '
        'FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_delete' + args,
        'CREATE TRIGGER nyop_history_truncate BEFORE TRUNCATE ON public."t" '
        'FOR EACH STATEMENT EXECUTE FUNCTION nyop._capture_truncate' + args,
    ]
    for s in stmts:
        assert isinstance(parse(s), exp.Create)


def test_capture_triggers_quote_hostile_names_inside_literals():
    stmts = d.capture_triggers_ddl('public."t"', "history_7", ["k'ey", HOSTILE], ["k'ey"], HOSTILE)
    tree = parse(stmts[0])
    lits = [l.this for l in tree.find_all(exp.Literal) if l.is_string]
    # the trigger's arguments read back as the text the capture function splices in
    assert lits == ['"nyop"."history_7"', '"k\'ey", %s' % HOSTILE_Q,
                    'o."k\'ey" IS NOT DISTINCT FROM n."k\'ey"', HOSTILE_Q,
                    'o."k\'ey", o.%s' % HOSTILE_Q]
    assert "nyop._capture_update('\"nyop\".\"history_7\"', '\"k''ey\", " in stmts[0]


# -- key hashing ----------------------------------------------------------------------

@pytest.mark.parametrize("args, want", [
    (("int4", "hashint4extended", 23, "b", None), "hashint4extended({c}, {seed})"),
    # the type's own function wins over every other rule
    (("date", "hashdateext", d.DATE_OID, "b", "x"), "hashdateext({c}, {seed})"),
    (("date", None, d.DATE_OID, "b", "basefn"), d.DATE_HASH),
    (("timestamptz", None, d.TIMESTAMPTZ_OID, "b", "basefn"), d.EPOCH_HASH),
    (("text", None, 25, "b", "basefn"), d.TEXT_HASH),
    (("mood", None, 99999, "e", "basefn"), d.TEXT_HASH),
    (("int4range", None, 3904, "r", "hash_range_extended"), "hash_range_extended({c}, {seed})"),
    (("bytea", None, d.BYTEA_OID, "b", None), d.BYTEA_HASH),
    (("regclass", None, 2205, "b", None), d.OID_HASH),
    (("money", None, 790, "b", None), None),
    (("weird", None, None, "b", None), None),
    (("weird", None, None, "e", None), d.TEXT_HASH),
])
def test_key_hash_fn_rules(args, want):
    assert d.key_hash_fn(*args) == want


def test_key_hash_fn_defaults():
    assert d.key_hash_fn("x", None) is None
    assert d.key_hash_fn("x", "") is None
    assert d.key_hash_fn("x", None, d.DATE_OID) == d.DATE_HASH


def test_key_hash_templates():
    assert d.TEXT_HASH == "pg_catalog.hashtextextended({c}::text, {seed})"
    assert d.DATE_HASH == "pg_catalog.hashint4extended({c} - DATE '2000-01-01', {seed})"
    assert d.EPOCH_HASH == "pg_catalog.hashfloat8extended(extract(epoch FROM {c})::float8, {seed})"
    assert d.BYTEA_HASH == "pg_catalog.hashtextextended(E'\\\\x' || pg_catalog.encode({c}, 'hex'), {seed})"
    assert d.OID_HASH == "pg_catalog.hashoidextended({c}::pg_catalog.oid, {seed})"
    for t in (d.TEXT_HASH, d.DATE_HASH, d.EPOCH_HASH, d.OID_HASH):
        parse("SELECT " + t.format(c='v."k"', seed="0::int8"))


def test_text_stable_and_oid_alias_sets():
    assert {16, 20, 21, 23, 25, 1043, 1700, 2950, 3802}.issubset(d.TEXT_STABLE_OIDS)
    assert 790 not in d.TEXT_STABLE_OIDS and d.BYTEA_OID not in d.TEXT_STABLE_OIDS
    assert not d.TEXT_STABLE_OIDS & {d.DATE_OID, d.TIMESTAMPTZ_OID}
    assert {24, 2202, 2205, 2206, 4096}.issubset(d.OID_ALIAS_OIDS)


def test_key_hash_sql_chains_key_columns_in_order():
    s = d.key_hash_sql("v", ["a", "b"], {"a": "hashint4extended({c}, {seed})"}, seed="7::int8")
    assert s == 'pg_catalog.hashtextextended(v."b"::text, hashint4extended(v."a", 7::int8))'
    assert d.key_hash_sql("v", ["a"], {}) == 'pg_catalog.hashtextextended(v."a"::text, 0::int8)'
    assert d.key_hash_sql("v", [], {}) == "0::int8"
    tree = parse("SELECT " + d.key_hash_sql("v", [HOSTILE], {}))
    assert [c.name for c in tree.find_all(exp.Column)] == [HOSTILE]


# -- inner: what is visible -----------------------------------------------------------

def test_inner_without_delay_selects_keys_then_columns_then_scope_columns():
    off = off_()
    sql = d.inner_sql(off, ["date", "temp"], 0.0, 'nyop."history_1"', None, {}, scope_cols=("rain", "temp"))
    assert sql == ('SELECT * FROM (SELECT b."station", b."date", b."temp", b."rain" FROM public."weather" b) v')
    tree, branches = inner_select(sql)
    assert len(branches) == 1                       # no delay: no history, no cut-off
    assert out_names(branches[0]) == ["station", "date", "temp", "rain"]
    assert branches[0].args.get("where") is None and tree.args.get("where") is None


def test_inner_negative_delay_is_no_delay():
    sql = d.inner_sql(off_(), ["temp"], -5.0, 'nyop."history_1"', None, {})
    assert "UNION" not in sql and "clock" not in sql


def test_inner_sub_second_delay_is_a_delay():
    sql = d.inner_sql(off_(), ["temp"], 0.5, 'nyop."history_1"', None, {})
    assert "make_interval(secs => 0.5)" in sql and " UNION ALL " in sql


def test_inner_with_delay_reads_history_as_of_the_cutoff():
    sql = d.inner_sql(off_(), ["temp", "lu"], 16416.0, '"nyop"."history_9"', 'v."temp" > 0', {})
    cutoff = "(SELECT nyop.clock() - make_interval(secs => 16416.0))"
    assert sql == (
        'SELECT * FROM (SELECT b."station", b."date", b."temp", b."lu" FROM public."weather" b '
        'WHERE b."lu" <= %(c)s UNION ALL SELECT h."station", h."date", h."temp", h."lu" '
        'FROM "nyop"."history_9" h WHERE h."lu" <= %(c)s AND CASE WHEN h."nyop_next_lu" IS NULL '
        'THEN h."nyop_valid_to" > %(c)s ELSE h."nyop_next_lu" > %(c)s END) v WHERE v."temp" > 0'
        % {"c": cutoff})
    tree, (cur, hist) = inner_select(sql)
    assert isinstance(tree.args["where"].this, exp.GT)               # the scope, on the outer select
    assert out_names(cur) == out_names(hist) == ["station", "date", "temp", "lu"]
    assert cur.args["from_"].this.name == "weather"
    assert (hist.args["from_"].this.db, hist.args["from_"].this.name) == ("nyop", "history_9")
    # current rows: LU at most now − d
    w = cur.args["where"].this
    assert isinstance(w, exp.LTE) and w.this.name == "lu"
    secs = list(w.expression.find_all(exp.Literal))
    assert [float(x.this) for x in secs] == [16416.0]
    # old versions: visible at the cut-off (LU <= cut-off < the time it was replaced/deleted)
    cond = hist.args["where"].this
    assert isinstance(cond, exp.And) and isinstance(cond.this, exp.LTE)
    case = cond.expression
    assert isinstance(case, exp.Case)
    (if_,) = case.args["ifs"]
    assert isinstance(if_.this, exp.Is) and if_.this.this.name == "nyop_next_lu"
    assert isinstance(if_.args["true"], exp.GT) and if_.args["true"].this.name == "nyop_valid_to"
    assert isinstance(case.args["default"], exp.GT) and case.args["default"].this.name == "nyop_next_lu"


def test_inner_delay_without_history_reads_current_rows_only():
    sql = d.inner_sql(off_(), ["temp"], 60.0, None, None, {})
    _, branches = inner_select(sql)
    assert len(branches) == 1 and "make_interval(secs => 60.0)" in sql


def test_inner_delay_sql_replaces_the_number():
    sql = d.inner_sql(off_(), ["temp"], 60.0, 'nyop."h"', None, {}, delay_sql=d.purchase_delay_sql(12))
    assert "make_interval" not in sql
    assert sql.count("(SELECT nyop.clock() - (SELECT p.delay FROM nyop.purchases p WHERE p.bid_id = 12))") == 4
    inner_select(sql)


def test_inner_scheme_1_adds_the_key_hash_column():
    fns = {"station": TEXT_TMPL}
    sql = d.inner_sql(off_(), ["temp"], 10.0, 'nyop."h"', None, fns, scheme=1)
    _, branches = inner_select(sql)
    for b, alias in zip(branches, "bh"):
        assert out_names(b) == ["station", "date", "temp", "nyop_kh"]
        kh = b.expressions[-1]
        assert kh.sql(PG) == d.key_hash_sql(alias, ["station", "date"], fns) + ' AS "nyop_kh"' \
            or kh.alias == "nyop_kh"
    assert ('pg_catalog.hashtextextended(h."date"::text, pg_catalog.hashtextextended(h."station"::text, 0::int8))'
            ' AS "nyop_kh"') in sql
    assert "nyop_kh" not in d.inner_sql(off_(), ["temp"], 10.0, 'nyop."h"', None, fns, scheme=2)


@pytest.mark.parametrize("lu_type", ["date", "timestamp without time zone"])
def test_inner_local_time_last_updated_is_read_as_utc(lu_type):
    """A date or timestamp without time zone is compared as UTC: a buyer's TimeZone setting
    cannot move the cut-off (and so cannot make the data fresher)."""
    sql = d.inner_sql(off_(lu_type=lu_type), ["temp"], 60.0, 'nyop."h"', None, {})
    assert sql.count("""("b"."lu"::timestamp AT TIME ZONE 'UTC') <= """.replace('"b"', "b")) == 1
    assert sql.count("""(h."lu"::timestamp AT TIME ZONE 'UTC') <= """) == 1
    _, (cur, hist) = inner_select(sql)
    w = cur.args["where"].this
    assert isinstance(w, exp.LTE) and "UTC" in w.this.sql(PG)
    for t in ("timestamp with time zone", None):
        plain = d.inner_sql(off_(lu_type=t), ["temp"], 60.0, 'nyop."h"', None, {})
        assert "AT TIME ZONE" not in plain and 'WHERE b."lu" <= ' in plain and 'WHERE h."lu" <= ' in plain


def test_inner_hostile_column_and_relation():
    off = off_(key_columns=[HOSTILE], relation_sql='public."we""ird"', last_updated="lu")
    sql = d.inner_sql(off, [HOSTILE, "lu"], 1.0, 'nyop."history_1"', None, {})
    _, branches = inner_select(sql)
    for b in branches:
        assert out_names(b) == [HOSTILE, "lu"]
    assert branches[0].args["from_"].this.name == 'we"ird'


# -- two levels: a barrier view of the rows, the buyer's view over it ---------------------

def test_rows_sql_without_delay_is_the_scoped_rows():
    sql = d.rows_sql(off_(), ["date", "temp"], False, 'nyop."h"', '"station" = \'x\'', scope_cols=("station",))
    assert sql == 'SELECT b."station", b."date", b."temp" FROM public."weather" b WHERE "station" = \'x\''
    assert isinstance(parse(sql).args["where"].this, exp.EQ)


def test_rows_sql_with_delay_has_every_version_and_no_lookup():
    """No delay filter, no lookup (an initPlan would keep the barrier from running in parallel):
    the current rows and every old version, with what the delay's conditions compare; the scope
    in each branch; a WITH list keeps PostgreSQL from flattening the UNION ALL (and the barrier)."""
    sql = d.rows_sql(off_(), ["temp"], True, '"nyop"."history_9"', '"station" = \'x\'', ("station",))
    assert sql.startswith('WITH "nyop_keep_barrier" AS (SELECT) SELECT b."station"')
    tree = parse(sql)
    assert isinstance(tree, exp.Union) and [c.alias for c in tree.args["with_"].expressions] == ["nyop_keep_barrier"]
    cur, hist = union_branches(tree)
    assert out_names(cur) == out_names(hist) == ["station", "date", "temp", "lu", "nyop_valid_to", "nyop_next_lu"]
    assert [e.sql(PG) for e in cur.expressions[-2:]] == ['CAST(NULL AS TIMESTAMPTZ) AS "nyop_valid_to"',
                                                        'CAST(NULL AS TIMESTAMPTZ) AS "nyop_next_lu"']
    assert cur.args["from_"].this.name == "weather"
    assert (hist.args["from_"].this.db, hist.args["from_"].this.name) == ("nyop", "history_9")
    assert cur.args["where"].sql(PG) == hist.args["where"].sql(PG) == "WHERE \"station\" = 'x'"
    assert "purchases" not in sql and "clock" not in sql and "seed" not in sql
    # the LU column once, even when bought; no history: the current rows only (nothing to flatten)
    one_branch = d.rows_sql(off_(), ["lu", "temp"], True, None, None)
    assert "UNION" not in one_branch and "WITH" not in one_branch
    assert out_names(parse(one_branch)) == ["station", "date", "lu", "temp", "nyop_valid_to", "nyop_next_lu"]


@pytest.mark.parametrize("lu_type, wrap", [
    (None, "%s"), ("timestamp with time zone", "%s"),
    ("date", "((%s) AT TIME ZONE 'UTC')::date"), ("timestamp without time zone", "((%s) AT TIME ZONE 'UTC')"),
])
def test_purchase_cutoff_is_paid_and_in_the_columns_type(lu_type, wrap):
    e = "CASE WHEN nyop._paid(p.bid_id, p.placed_xid) THEN nyop.clock() - p.delay END"
    assert d.purchase_cutoff_sql(5, lu_type) == "(SELECT %s FROM nyop.purchases p WHERE p.bid_id = 5)" % (wrap % e)
    tree = parse(d.purchase_cutoff_sql(5, lu_type))
    assert {c.table for c in tree.find_all(exp.Column)} == {"p"}       # no row reference: an initPlan
    with pytest.raises(ValueError):
        d.purchase_cutoff_sql("5 OR true")


def test_delay_conditions_compare_columns_with_the_cutoff():
    off = off_(lu_type="date")
    cond = d.delay_conditions(off, 3)
    tree = parse("SELECT 1 FROM x v WHERE " + cond).args["where"].this
    assert isinstance(tree, exp.And)
    lu, old = tree.this, tree.expression
    assert isinstance(lu, exp.LTE) and lu.this.sql(PG) == 'v."lu"' and \
        lu.expression.sql(PG) == parse(d.purchase_cutoff_sql(3, "date")).sql(PG)
    # an old version: still current at the cut-off; a current row (no valid-to): nothing more
    old = old.unnest()
    assert isinstance(old, exp.Or) and isinstance(old.this, exp.Is) and old.this.this.name == "nyop_valid_to"
    gt = old.expression
    assert isinstance(gt, exp.GT) and isinstance(gt.this, exp.Case)
    assert gt.expression.sql(PG) == parse(d.purchase_cutoff_sql(3)).sql(PG)     # timestamptz: as is
    # nothing but comparisons, CASE, IS NULL, OR, AND on the view's columns (leakproof: pushed into
    # the barrier) around the lookups
    outside = [n for n in tree.walk() if not n.find_ancestor(exp.Subquery) and not isinstance(n, exp.Subquery)]
    assert {type(n) for n in outside} <= {exp.And, exp.Or, exp.LTE, exp.GT, exp.Is, exp.Case, exp.If, exp.Column,
                                          exp.Identifier, exp.Null, exp.Paren}, {type(n) for n in outside}


def test_two_level_ddl():
    off = off_(name="w")
    fns = {"station": TEXT_TMPL, "date": TEXT_TMPL}
    ddl = d.two_level_ddl('nyop_views."w_4"', 4, off, ["station", "temp"], True, 'nyop."h"', None, (),
                          d.purchase_threshold_sql(4), key_hash_fns=fns)
    rows = '"nyop"."rows_4"'
    assert d.rows_view_sql(4) == rows
    assert ddl[0] == "CREATE VIEW %s WITH (security_barrier = true) AS %s" % (
        rows, d.rows_sql(off, ["station", "temp"], True, 'nyop."h"', None))
    assert ddl[1] == "REVOKE ALL ON %s FROM PUBLIC" % rows and len(ddl) == 3
    prefix = 'CREATE VIEW nyop_views."w_4" WITH (security_barrier = false) AS '
    assert ddl[2] == prefix + d.view_select(off, ["station", "temp"], "SELECT * FROM %s" % rows,
                                            d.purchase_threshold_sql(4), fns) + " WHERE " + d.delay_conditions(off, 4)
    outer = parse(ddl[2][len(prefix):])
    assert out_names(outer) == ["station", "temp"]
    assert "_paid" in ddl[2] and "seed" in ddl[2] and "seed" not in ddl[0]
    # no delay (a scope): the paid guard as a one-time filter; replace keeps the name
    ddl = d.two_level_ddl("x", 4, off, ["station"], False, None, '"station" = \'a\'', ("station",), None,
                          replace=True)
    assert ddl[2].startswith("CREATE OR REPLACE VIEW x WITH (security_barrier = false) AS ")
    assert ddl[2].endswith(" WHERE " + d.paid_guard_sql(4))
    assert "\'a\'" in ddl[0] and "\'a\'" not in ddl[2]
    assert d.can_split(off, ["temp"]) and not d.can_split(off, ["nyop_next_lu"])


# -- masks --------------------------------------------------------------------------

def test_masked_columns_exclude_keys_and_last_updated():
    assert d.masked_columns(off_(), ["station", "temp", "lu", "rain"]) == ["temp", "rain"]
    assert d.masked_columns(off_(last_updated=None), ["station", "lu"]) == ["lu"]


def test_seed_sql_quotes_the_names():
    assert d.seed_sql("o'x", "c") == (
        "(SELECT s.seed FROM nyop.mask_seeds s WHERE s.offering = 'o''x' AND s.column_name = 'c')")
    tree = parse(d.seed_sql("o'x", HOSTILE))
    assert sorted(l.this for l in tree.find_all(exp.Literal)) == sorted(["o'x", HOSTILE])


def test_cell_hash_sql_by_scheme():
    off = off_(name="w")
    fns = {"station": TEXT_TMPL, "date": d.DATE_HASH}
    seed = d.seed_sql("w", "temp")
    assert d.cell_hash_sql("v", off, "temp", fns, 1) == 'hashint8extended(v."nyop_kh", %s)' % seed
    assert d.cell_hash_sql("v", off, "temp", fns, 2) == (
        "pg_catalog.hashint4extended(v.\"date\" - DATE '2000-01-01', "
        "pg_catalog.hashtextextended(v.\"station\"::text, %s))" % seed)


def cell_hash_pairs(sql: str) -> dict:
    """{column: hash expression} of a cell-hash query, whatever its shape: each `c IS NOT NULL`
    guards the hash of its own branch (a UNION ALL branch's select list, or a CASE's THEN)."""
    out = {}
    for node in parse(sql).find_all(exp.Is):
        if not node.args.get("negate") or not isinstance(node.this, exp.Column):
            continue
        up = node.parent
        while not isinstance(up, (exp.Select, exp.If)):
            up = up.parent
        h = up.expressions[0] if isinstance(up, exp.Select) else up.args["true"]
        if isinstance(h, exp.Alias):
            assert h.alias == "h"
            h = h.this
        assert node.this.name not in out
        out[node.this.name] = h.sql(PG)
    return out


def test_cell_hashes_sql_one_hash_per_non_null_masked_cell():
    off = off_(name="w")
    fns = {"station": TEXT_TMPL, "date": d.DATE_HASH}
    inner = d.inner_sql(off, ["temp", "rain"], 0.0, None, None, fns)
    for scheme in (1, 2):
        sql = d.cell_hashes_sql(inner, off, ["temp", "rain"], fns, scheme)
        pairs = cell_hash_pairs(sql)
        assert set(pairs) == {"temp", "rain"}
        for c in ("temp", "rain"):
            want = parse("SELECT " + d.cell_hash_sql("i", off, c, fns, scheme)).expressions[0].sql(PG)
            assert pairs[c] == want                            # the column's own seed, the row's key
        assert [t.name for t in parse(sql).find_all(exp.Table)].count("weather") >= 1
    one = d.cell_hashes_sql(inner, off, ["temp"], fns, 2)
    assert set(cell_hash_pairs(one)) == {"temp"}


def test_threshold_sql_keeps_exactly_keep_cells():
    off = off_(name="w")
    cells = d.cell_hashes_sql("SELECT 1", off, ["temp", "rain"], {}, 2)
    assert d.threshold_sql("SELECT 1", off, ["temp", "rain"], 5, {}, 2) == \
        "SELECT c.h FROM (%s) c ORDER BY c.h OFFSET 4 LIMIT 1" % cells
    for keep, offset in ((0, 0), (1, 0), (2, 1)):
        assert d.threshold_sql("SELECT 1", off, ["temp", "rain"], keep, {}, 2).endswith(" OFFSET %d LIMIT 1" % offset)
    parse(d.threshold_sql("SELECT 1", off, ["temp"], 3, {}, 2))
    assert 'hashint8extended(i."nyop_kh"' in d.threshold_sql("SELECT 1", off, ["temp"], 1, {}, 1)


def test_histogram_and_bucket_pick():
    off = off_(name="w")
    cells = d.cell_hashes_sql("SELECT 1", off, ["temp"], {}, 2)
    assert d.HISTOGRAM_SHIFT == 48
    h = d.histogram_sql("SELECT 1", off, ["temp"], 7, {}, 2)
    assert d.histogram_sql("SELECT 1", off, ["temp"], 7, {}, 2, 56) == h.replace("c.h >> 48", "c.h >> 56")
    assert d.bucket_pick_sql("SELECT 1", off, ["temp"], 1, 1, {}, 2, 56).count("c.h >> 56 = 1") == 1
    assert h == ("SELECT b.b, b.below FROM (SELECT h.b, sum(h.n) OVER (ORDER BY h.b) - h.n AS below, "
                 "sum(h.n) OVER (ORDER BY h.b) AS upto FROM (SELECT c.h >> 48 AS b, count(*) AS n FROM (%s) c "
                 "GROUP BY 1) h) b WHERE b.upto >= 7 ORDER BY b.b LIMIT 1" % cells)
    assert [e.alias_or_name for e in parse(h).expressions] == ["b", "below"]
    p = d.bucket_pick_sql("SELECT 1", off, ["temp"], -3, 2, {}, 2)
    assert p == "SELECT c.h FROM (%s) c WHERE c.h >> 48 = -3 ORDER BY c.h OFFSET 1 LIMIT 1" % cells
    assert d.bucket_pick_sql("SELECT 1", off, ["temp"], "5", 0, {}, 2).endswith("= 5 ORDER BY c.h OFFSET 0 LIMIT 1")
    assert d.bucket_pick_sql("SELECT 1", off, ["temp"], 5, 1, {}, 2).endswith("OFFSET 0 LIMIT 1")
    with pytest.raises(ValueError):
        d.bucket_pick_sql("SELECT 1", off, ["temp"], "5; DROP TABLE t", 1, {}, 2)
    parse(p)
    assert 'hashint8extended(i."nyop_kh"' in d.histogram_sql("SELECT 1", off, ["temp"], 1, {}, 1)
    assert 'hashint8extended(i."nyop_kh"' in d.bucket_pick_sql("SELECT 1", off, ["temp"], 1, 1, {}, 1)


@pytest.mark.parametrize("cells, shift", [
    (0, 56), (1, 56), (16 * 255, 56), (16 * 256, 55), (16 * 2 ** 12, 51), (16 * 2 ** 15, 48),
    (16 * 2 ** 16, 48), (10 ** 12, 48), (-5, 56),
])
def test_histogram_shift_about_16_cells_a_bucket(cells, shift):
    """256 to 65,536 buckets: h >> shift with shift between 56 and 48."""
    if not hasattr(d, "histogram_shift"):
        pytest.skip("delivery.histogram_shift not in this version")
    assert d.histogram_shift(cells) == shift


def test_max_hash_sql():
    off = off_(name="w")
    sql = d.max_hash_sql("SELECT 1", off, ["temp", "rain"], {}, 2)
    assert sql == "SELECT max(c.h) AS h FROM (%s) c" % d.cell_hashes_sql("SELECT 1", off, ["temp", "rain"], {}, 2)
    tree = parse(sql)
    assert isinstance(tree.expressions[0].this, exp.Max) and tree.args.get("order") is None     # no sort
    assert 'hashint8extended(i."nyop_kh"' in d.max_hash_sql("SELECT 1", off, ["temp"], {}, 1)


def test_counts_sql():
    off = off_()
    sql = d.counts_sql("SELECT 1", off, ["station", "temp", "lu", "rain"])
    assert sql == ('SELECT count(*) AS rows, coalesce(sum(num_nonnulls(i."temp") + num_nonnulls(i."rain")), 0) '
                   'AS masked_nonnull, coalesce(sum(num_nonnulls(i."station")), 0) AS unmasked_nonnull '
                   'FROM (SELECT 1) i')
    assert out_names(parse(sql)) == ["rows", "masked_nonnull", "unmasked_nonnull"]
    # nothing masked / nothing unmasked counted: the sums are 0
    only_keys = d.counts_sql("SELECT 1", off, ["station", "lu"])
    assert "0 AS masked_nonnull" in only_keys and 'num_nonnulls(i."station")' in only_keys
    no_keys = d.counts_sql("SELECT 1", off_(key_columns=[]), ["temp"])
    assert "0 AS unmasked_nonnull" in no_keys


def view_parts(view_select_sql: str):
    tree = parse(view_select_sql)
    assert isinstance(tree, exp.Select)
    return tree, {e.alias_or_name: e for e in tree.expressions}


def test_view_select_masks_only_non_key_non_lu_columns():
    off = off_(name="w")
    fns = {"station": TEXT_TMPL, "date": TEXT_TMPL}
    inner = d.inner_sql(off, ["station", "date", "temp", "lu"], 0.0, None, None, fns)
    thr = d.purchase_threshold_sql(3)
    sql = d.view_select(off, ["station", "date", "temp", "lu"], inner, thr, fns)
    tree, cols = view_parts(sql)
    assert out_names(tree) == ["station", "date", "temp", "lu"]
    for plain in ("station", "date", "lu"):
        assert isinstance(cols[plain], exp.Column) and cols[plain].table == "v"
    case = cols["temp"].this
    assert isinstance(case, exp.Case) and case.args.get("default") is None      # else NULL
    (if_,) = case.args["ifs"]
    cond = if_.this
    assert isinstance(cond, exp.LTE)
    assert cond.this.sql(PG) == parse("SELECT " + d.cell_hash_sql("v", off, "temp", fns, 2)).expressions[0].sql(PG)
    assert "p.bid_id = 3" in cond.expression.sql(PG)
    assert isinstance(if_.args["true"], exp.Column) and if_.args["true"].name == "temp"
    assert sql.startswith('SELECT v."station", v."date", CASE WHEN ')
    assert sql.endswith(' THEN v."temp" END AS "temp", v."lu" FROM (%s) v' % inner)


def test_view_select_without_threshold_masks_nothing():
    off = off_()
    sql = d.view_select(off, ["station", "temp"], "SELECT 1", None)
    assert sql == 'SELECT v."station", v."temp" FROM (SELECT 1) v'


def test_view_select_scheme_1_and_default_fns():
    off = off_(name="w")
    s1 = d.view_select(off, ["temp"], "SELECT 1", "0", None, scheme=1)
    assert 'hashint8extended(v."nyop_kh"' in s1
    s2 = d.view_select(off, ["temp"], "SELECT 1", "0")            # key_hash_fns None: text hashes
    assert 'pg_catalog.hashtextextended(v."date"::text, pg_catalog.hashtextextended(v."station"::text' in s2


def test_view_ddl_prefix_guard_and_replace():
    off = off_(name="w")
    sel = d.view_select(off, ["station", "temp"], "SELECT 1", d.purchase_threshold_sql(8), {})
    v = d.view_ddl('nyop_views."b8"', off, ["station", "temp"], "SELECT 1", d.purchase_threshold_sql(8),
                   key_hash_fns={}, guard_sql=d.paid_guard_sql(8))
    prefix = 'CREATE VIEW nyop_views."b8" WITH (security_barrier = true) AS '
    assert v == prefix + sel + " WHERE " + d.paid_guard_sql(8)
    tree = parse(v[len(prefix):])
    # the guard is a one-time filter: no reference to the view's rows
    guard = tree.args["where"].this
    assert isinstance(guard, exp.Subquery)
    assert {c.table for c in guard.find_all(exp.Column)} == {"p"}
    assert "nyop._paid(p.bid_id, p.placed_xid)" in guard.sql(PG)
    r = d.view_ddl("x", off, ["station"], "SELECT 1", None, replace=True)
    assert r == 'CREATE OR REPLACE VIEW x WITH (security_barrier = true) AS SELECT v."station" FROM (SELECT 1) v'
    # a view that hides no row need not be a barrier
    plain = d.view_ddl("x", off, ["station"], "SELECT 1", None, barrier=False)
    assert plain == 'CREATE VIEW x WITH (security_barrier = false) AS SELECT v."station" FROM (SELECT 1) v'
    assert isinstance(parse(plain), exp.Create)


def test_view_ddl_passes_scheme_and_fns():
    off = off_(name="w")
    v = d.view_ddl("x", off, ["temp"], "SELECT 1", "0", False, {"station": "f({c}, {seed})",
                                                                "date": "g({c}, {seed})"}, 1)
    assert 'hashint8extended(v."nyop_kh"' in v
    v2 = d.view_ddl("x", off, ["temp"], "SELECT 1", "0", False, {"station": "f({c}, {seed})",
                                                                 "date": "g({c}, {seed})"})
    assert 'g(v."date", f(v."station"' in v2


@pytest.mark.parametrize("fn, table, col", [
    (d.purchase_threshold_sql, "purchases", "threshold"),
    (d.purchase_delay_sql, "purchases", "delay"),
])
def test_purchase_lookups(fn, table, col):
    assert fn(42) == "(SELECT p.%s FROM nyop.%s p WHERE p.bid_id = 42)" % (col, table)
    assert fn("42") == fn(42) and fn(42.0) == fn(42)
    with pytest.raises(ValueError):
        fn("42) OR (true")


def test_paid_guard():
    assert d.paid_guard_sql(7) == "(SELECT nyop._paid(p.bid_id, p.placed_xid) FROM nyop.purchases p WHERE p.bid_id = 7)"
    with pytest.raises(ValueError):
        d.paid_guard_sql("7 OR true")


def test_preview_threshold_sql_quotes_the_offering():
    assert d.preview_threshold_sql("a'b") == "(SELECT p.threshold FROM nyop.previews p WHERE p.offering = 'a''b')"
    tree = parse(d.preview_threshold_sql("a'; DROP TABLE t; --"))
    assert [l.this for l in tree.find_all(exp.Literal)] == ["a'; DROP TABLE t; --"]


def test_delivered_sql_counts_every_column_but_lu():
    sql = d.delivered_sql('nyop_views."b1"', off_(), ["station", "temp", "lu"])
    assert sql == ('SELECT count(*) * 2 AS cells, coalesce(sum(num_nonnulls(v."station", v."temp")), 0) '
                   'AS nonnull FROM nyop_views."b1" v')
    assert out_names(parse(sql)) == ["cells", "nonnull"]


# -- numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("threshold, share", [
    (d.MIN_INT8 - 10, 0.0), (d.MIN_INT8, 2.0 ** -64), (-1, 0.5), (0, 0.5 + 2.0 ** -64),
    (2 ** 62, 0.75 + 2.0 ** -64), (2 ** 63 - 1, 1.0), (2 ** 63 + 5, 1.0),
])
def test_hash_share(threshold, share):
    assert d.hash_share(threshold) == share
    assert d.hash_share(str(threshold)) == share


def test_hash_share_clamps():
    assert d.hash_share(2 ** 64) == 1.0 and d.hash_share(-(2 ** 64)) == 0.0


def test_hash_share_inverts_share_threshold():
    for share in (0.0, 0.1, 0.25, 0.5, 0.9, 0.999):
        assert d.hash_share(d.share_threshold(share)) == pytest.approx(share, abs=1e-15)


@pytest.mark.parametrize("target, counted, masked, want", [
    (0.5, 4, 0, 1.0),
    (0.5, 4, -1, 1.0),
    (1.0, 4, 2, 1.0),
    (0.75, 4, 2, 0.5),        # (3 − 2) / 2
    (0.5, 4, 2, 0.0),         # the keys alone already deliver 0.5
    (0.25, 4, 2, 0.0),        # clamped at 0
    (0.9, 10, 10, 0.9),
    (1.5, 4, 4, 1.0),         # clamped at 1
    (0.75, 4, 1, 0.0),        # one masked column: (3 − 3) / 1
    (0.9, 4, 1, 0.6),         # (3.6 − 3) / 1
])
def test_full_data_share(target, counted, masked, want):
    assert d.full_data_share(target, counted, masked) == pytest.approx(want, abs=1e-12)


def test_share_threshold():
    top = 2 ** 63 - 1
    assert d.share_threshold(1.0) == top
    assert d.share_threshold(1.5) == top
    assert d.share_threshold(0.0) == d.MIN_INT8
    assert d.share_threshold(-0.5) == d.MIN_INT8
    assert d.share_threshold(0.5) == 0
    assert d.share_threshold(0.25) == -(2 ** 62)
    assert d.share_threshold(0.75) == 2 ** 62
    assert d.share_threshold(1 - 2 ** -50) == top - 2 ** 14 + 1


@pytest.mark.parametrize("target, rows, counted, unn, mnn, want", [
    (1.0, 10, 3, 10, 20, 20),
    (0.5, 10, 3, 10, 20, 5),           # 15 cells wanted, keys give 10
    (0.5, 10, 3, 20, 20, 0),           # keys already over the target
    (0.9, 10, 3, 0, 5, 5),             # cannot keep more than there are
    (0.45, 10, 1, 0, 10, 5),           # floor(4.5 + .5) = 5: rounds half up
    (0.44, 10, 1, 0, 10, 4),
    (0.0, 0, 3, 0, 0, 0),
])
def test_keep_count(target, rows, counted, unn, mnn, want):
    assert d.keep_count(target, rows, counted, unn, mnn) == want
