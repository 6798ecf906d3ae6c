"""quality.py without a server: the measuring query (parsed back with sqlglot) and the
measures assembled from its one row, against docs/model.md §2 (paper checks included)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from nyop_server import quality as q

PG = "postgres"


def parse(sql):
    trees = sqlglot.parse(sql, read=PG)
    assert len(trees) == 1
    return trees[0]


def test_measured_columns_drop_only_lu():
    assert q.measured_columns(["a", "lu", "b"], "lu") == ["a", "b"]
    assert q.measured_columns(["a", "b"], None) == ["a", "b"]
    assert q.measured_columns(["a", "b"], "zz") == ["a", "b"]


def test_measure_sql_exact_text():
    sql = q.measure_sql('public."w"', ["k", "t", "lu"], "lu", 86400.0, None)
    assert sql == (
        'SELECT count(*)::bigint AS rows, coalesce(sum(num_nonnulls("k", "t")), 0)::bigint AS nonnull, '
        '(sum((coalesce(CASE WHEN isfinite("lu"::timestamptz) THEN least(1.0::float8, greatest(0.0::float8, '
        '1.0::float8 - date_part(\'epoch\', $1::timestamptz - "lu"::timestamptz) / 86400.0::float8)) '
        'WHEN "lu"::timestamptz > $1::timestamptz THEN 1.0::float8 ELSE 0.0::float8 END, 0.0::float8) '
        '* 1125899906842624::float8)::int8)::float8 / 1125899906842624::float8 '
        '/ nullif(count(*), 0))::float8 AS timeliness FROM public."w"')
    # "now" written in (a one-shot query, run in parallel where the scan would be): exact microseconds
    now = q.now_literal_sql(1494244800123457)
    assert now == "(TIMESTAMPTZ 'epoch' + 1494244800123457 * INTERVAL '1 microsecond')"
    inline = q.measure_sql('public."w"', ["k", "t", "lu"], "lu", 86400.0, '"k" > 1', now_sql=now)
    assert "$1" not in inline and inline.count(now) == 2
    assert inline == q.measure_sql('public."w"', ["k", "t", "lu"], "lu", 86400.0, '"k" > 1').replace(
        "$1::timestamptz", now)
    scoped = q.measure_sql('public."w"', ["k"], None, None, '"k" > 1')
    assert scoped == ('SELECT count(*)::bigint AS rows, coalesce(sum(num_nonnulls("k")), 0)::bigint AS nonnull, '
                      'NULL::float8::float8 AS timeliness FROM public."w" WHERE "k" > 1')


def test_measure_sql_structure():
    sql = q.measure_sql('public."w"', ["k", "t", "lu"], "lu", 3600, 'v."t" > 0')
    tree = parse(sql.replace("$1", "now()"))
    assert [e.alias for e in tree.expressions] == ["rows", "nonnull", "timeliness"]
    assert tree.args["where"].this.sql(PG) == 'v."t" > 0'
    nonnull = tree.expressions[1]
    (nn,) = [f for f in nonnull.find_all(exp.Anonymous) if f.name == "num_nonnulls"]
    assert [c.name for c in nn.find_all(exp.Column)] == ["k", "t"]          # every column but LU
    timely = tree.expressions[2]
    assert isinstance(timely.find(exp.Least), exp.Least) and isinstance(timely.find(exp.Greatest), exp.Greatest)
    assert {c.name for c in timely.find_all(exp.Column)} == {"lu"}
    assert "/ 3600.0::float8" in sql                     # an int volatility is written as a float
    # per row: clamp(1 − (now − LU) / v, 0, 1) for a finite LU; +infinity (newer than now) 1, −infinity 0;
    # NULL LU → 0 (the outer coalesce)
    case = timely.find(exp.Case)
    (finite, future) = case.args["ifs"]
    assert finite.this.sql(PG).lower().startswith("isfinite(")
    assert isinstance(finite.args["true"], exp.Least)
    assert isinstance(future.this, exp.GT) and future.args["true"].sql(PG) == "CAST(1.0 AS DOUBLE PRECISION)"
    assert case.args["default"].sql(PG) == "CAST(0.0 AS DOUBLE PRECISION)"
    coalesce = case.parent
    assert isinstance(coalesce, exp.Coalesce) and coalesce.expressions[0].sql(PG) == "CAST(0.0 AS DOUBLE PRECISION)"
    # the mean: the sum over the count (NULL for no row), in float8 (date_part, not extract: numeric)
    assert "nullif(count(*), 0)" in sql and "extract" not in sql
    # summed as integers (2^50 per unit): the same rows give the same figure in any order
    (total,) = list(timely.find_all(exp.Sum))
    assert isinstance(total.this, exp.Cast) and total.this.to.sql(PG) == "BIGINT"
    assert coalesce.find_ancestor(exp.Sum) is total
    assert sql.count("1125899906842624::float8") == 2


@pytest.mark.parametrize("lu, vol", [(None, None), ("lu", None), ("lu", 0), (None, 60.0)])
def test_measure_sql_without_timeliness(lu, vol):
    sql = q.measure_sql("t", ["a", "lu"], lu, vol, None)
    assert "NULL::float8::float8 AS timeliness" in sql
    assert "extract" not in sql
    parse(sql)


def test_measure_sql_wide_relations_are_chunked():
    cols = ["c%d" % i for i in range(250)]
    sql = q.measure_sql("t", cols, None, None, None)
    tree = parse(sql)
    calls = [f for f in tree.find_all(exp.Anonymous, bfs=False) if f.name == "num_nonnulls"]
    assert [len(f.expressions) for f in calls] == [100, 100, 50]
    assert [c.name for f in calls for c in f.expressions] == cols
    assert q.NUM_NONNULLS_MAX_ARGS == 100
    exact = q.measure_sql("t", ["c%d" % i for i in range(100)], None, None, None)
    assert exact.count("num_nonnulls(") == 1
    more = q.measure_sql("t", ["c%d" % i for i in range(101)], None, None, None)
    assert more.count("num_nonnulls(") == 2 and 'num_nonnulls("c100")' in more


def test_measure_sql_no_columns():
    sql = q.measure_sql("t", ["lu"], "lu", 10.0, None)
    assert "coalesce(sum(0), 0)::bigint AS nonnull" in sql
    parse(sql.replace("$1", "now()"))


def test_measure_sql_quotes_hostile_names():
    bad = 'a"); DROP TABLE t; --'
    sql = q.measure_sql("t", [bad, "lu"], "lu", 10.0, None)
    tree = parse(sql.replace("$1", "now()"))
    assert sorted({c.name for c in tree.find_all(exp.Column)}) == sorted({bad, "lu"})


def test_assemble_paper_provider_b():
    """Table 2: 6 rows × 8 columns, 9 nulls → 39/48; provider A has 6 of B's 9 columns."""
    m = q.assemble({"rows": 6, "nonnull": 39, "timeliness": 0.5}, n_columns=9, n_measured=8,
                   n_reference_columns=9)
    assert m == {"completeness": 39 / 48, "timeliness": 0.5, "amount_of_data": 1.0, "rows": 6,
                 "cells": 48, "nonnull_cells": 39, "columns": 9}
    a = q.assemble({"rows": 6, "nonnull": 36, "timeliness": None}, 6, 6, 9)
    assert a["amount_of_data"] == pytest.approx(2 / 3)
    assert a["completeness"] == 1.0 and a["timeliness"] is None


def test_assemble_empty_relation_and_no_reference():
    m = q.assemble({"rows": 0, "nonnull": 0, "timeliness": None}, 3, 3, 0)
    assert m["completeness"] is None and m["amount_of_data"] is None
    assert m["cells"] == 0 and m["rows"] == 0
    m = q.assemble({"rows": 4, "nonnull": 0, "timeliness": 1.0}, 3, 0, 3)
    assert m["completeness"] is None and m["cells"] == 0
    # numbers from the server may arrive as Decimal/str-ish ints
    m = q.assemble({"rows": "4", "nonnull": 6, "timeliness": 1.0}, 3, 2, 3)
    assert m["rows"] == 4 and m["cells"] == 8 and m["completeness"] == 0.75


def test_reference_columns_union_in_first_seen_order():
    assert q.reference_columns([["a", "b"], ["c", "a"], ["b", "d"]]) == ["a", "b", "c", "d"]
    assert q.reference_columns([]) == []
    assert q.reference_columns([["x", "x"]]) == ["x"]


def test_lu_instant():
    """A date / timestamp without time zone is read as UTC (the reader's TimeZone cannot move it)."""
    assert q.lu_instant('"lu"', "date") == "(\"lu\"::timestamp AT TIME ZONE 'UTC')"
    assert q.lu_instant('"lu"', "timestamp without time zone") == "(\"lu\"::timestamp AT TIME ZONE 'UTC')"
    assert q.lu_instant('"lu"', "timestamp with time zone") == '"lu"::timestamptz'
    assert q.lu_instant('"lu"', None) == '"lu"::timestamptz'


@pytest.mark.parametrize("lu_type", ["date", "timestamp without time zone"])
def test_measure_sql_local_time_lu_read_as_utc(lu_type):
    sql = q.measure_sql("t", ["k", "lu"], "lu", 10.0, None, lu_type)
    utc = "(\"lu\"::timestamp AT TIME ZONE 'UTC')"
    assert sql.count(utc) == 3 and '"lu"::timestamptz' not in sql
    parse(sql.replace("$1", "now()"))
    assert q.measure_sql("t", ["k", "lu"], "lu", 10.0, None, "timestamp with time zone") == \
        q.measure_sql("t", ["k", "lu"], "lu", 10.0, None)
