"""Tests for nyop_server.scope: buyer scopes are untrusted SQL.

The scope text ends up in a view definition / a query run with elevated
rights, so the module must (1) accept ordinary predicates and re-render them
as valid PostgreSQL, (2) refuse every attack with the right SQLSTATE and a
message naming the problem, (3) never raise anything but NyopError, and
(4) produce output that re-parses to itself (so the rendered text, not the
buyer's text, is what PostgreSQL sees).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from nyop_server import scope as scope_mod
from nyop_server.errors import (
    InsufficientPrivilege,
    InvalidParameter,
    NyopError,
    UndefinedColumn,
)
from nyop_server.scope import parse_scope, scope_columns

COLUMNS = ["station", "date", "price", "qty", "ts", "tstz", "flag", "name",
           "Region", 'we"ird', "tm", "iv", "code"]

# --------------------------------------------------------------------------
# accepted predicates: input -> exact rendered output
# (every output below was also checked against PostgreSQL 15: it parses,
#  runs, and pg_get_viewdef groups it as intended, with
#  standard_conforming_strings on and off)
# --------------------------------------------------------------------------
ACCEPTED = [
    # the typical ones
    ("station IN ('FRA','LHR') AND date BETWEEN '2017-05-08' AND '2017-05-10'",
     """("station" IN ('FRA', 'LHR') AND "date" BETWEEN '2017-05-08' AND '2017-05-10')"""),
    ("station = 'FRA'", """("station" = 'FRA')"""),
    ("Station = 'FRA'", """("station" = 'FRA')"""),          # unquoted: folded
    ('"Region" = \'EU\'', """("Region" = 'EU')"""),           # quoted: kept
    ('"we""ird" <> \'x\'', """("we""ird" <> 'x')"""),
    ("price > 10.5 AND qty <= 3", """("price" > 10.5 AND "qty" <= 3)"""),
    ("price >= 1e3 OR price < .5", """("price" >= 1e3 OR "price" < 0.5)"""),
    ("qty != -1", """("qty" <> -1)"""),
    ("station NOT IN ('FRA', 'LHR')", """("station" NOT IN ('FRA', 'LHR'))"""),
    ("date NOT BETWEEN DATE '2017-01-01' AND DATE '2017-12-31'",
     """("date" NOT BETWEEN DATE '2017-01-01' AND DATE '2017-12-31')"""),
    ("qty BETWEEN SYMMETRIC 10 AND 1", """("qty" BETWEEN SYMMETRIC 10 AND 1)"""),
    ("name IS NULL", """("name" IS NULL)"""),
    ("name IS NOT NULL", """("name" IS NOT NULL)"""),
    ("name notnull", """("name" IS NOT NULL)"""),
    ("flag", """("flag")"""),
    ("NOT flag", """(NOT "flag")"""),
    ("flag IS TRUE", """("flag" IS TRUE)"""),
    ("flag IS NOT FALSE", """("flag" IS NOT FALSE)"""),
    ("flag = true AND NOT (qty > 3 OR qty < 1)",
     """("flag" = TRUE AND NOT ("qty" > 3 OR "qty" < 1))"""),
    ("name LIKE 'Fr%'", """("name" LIKE 'Fr%')"""),
    ("name NOT ILIKE '%ab#_%' ESCAPE '#'", """("name" NOT ILIKE '%ab#_%' ESCAPE '#')"""),
    ("name = 'O''Brien'", """("name" = 'O''Brien')"""),
    # SQL-looking text inside a string literal is data, re-quoted safely
    ("name = 'a'' OR 1=1 --'", """("name" = 'a'' OR 1=1 --')"""),
    ("name = 'a--b /* c */ ; d'", """("name" = 'a--b /* c */ ; d')"""),
    ("ts >= TIMESTAMP '2017-05-08 10:00:00'", """("ts" >= TIMESTAMP '2017-05-08 10:00:00')"""),
    ("tstz < timestamptz '2017-05-08 10:00:00+02'",
     """("tstz" < TIMESTAMPTZ '2017-05-08 10:00:00+02')"""),
    ("tm > TIME '10:00'", """("tm" > TIME '10:00')"""),
    ("date = DATE '2017-05-08' + 1", """("date" = (DATE '2017-05-08' + 1))"""),
    ("ts < date + INTERVAL '1 day'", """("ts" < ("date" + INTERVAL '1 day'))"""),
    ("iv > interval '2 hours 30 minutes'", """("iv" > INTERVAL '2 hours 30 minutes')"""),
    ("iv > INTERVAL '1' DAY", """("iv" > INTERVAL '1 day')"""),
    ("date::text LIKE '2017-%'", """(CAST("date" AS text) LIKE '2017-%')"""),
    ("CAST(qty AS numeric(10,2)) / 3 > 1.5",
     """((CAST("qty" AS numeric(10, 2)) / 3) > 1.5)"""),
    ("qty::bigint * 2 + 1 = 7 % 4", """(((CAST("qty" AS bigint) * 2) + 1) = (7 % 4))"""),
    ("price::float > 1", """(CAST("price" AS double precision) > 1)"""),
    ("qty::int4 = '1'::int", """(CAST("qty" AS integer) = CAST('1' AS integer))"""),
    ("lower(name) = 'fra' OR upper(name) = 'FRA'",
     """(lower("name") = 'fra' OR upper("name") = 'FRA')"""),
    ("coalesce(qty, 0) = 0", """(coalesce("qty", 0) = 0)"""),
    ("abs(price - 10) < round(price, 1)", """(abs("price" - 10) < round("price", 1))"""),
    ("floor(price) = ceiling(price)", """(floor("price") = ceil("price"))"""),
    ("length(trim(name)) > 3", """(length(trim("name")) > 3)"""),
    ("trim(leading 'x' from name) = 'y'", """(trim(LEADING 'x' FROM "name") = 'y')"""),
    ("date_trunc('month', ts) = TIMESTAMP '2017-05-01'",
     """(date_trunc('month', "ts") = TIMESTAMP '2017-05-01')"""),
    ("extract(year from date) = 2017", """(EXTRACT(year FROM "date") = 2017)"""),
    ("date_part('dow', date) IN (0, 6)", """(EXTRACT(dow FROM "date") IN (0, 6))"""),
    ("substring(name from 1 for 2) = 'Fr'", """(substring("name" FROM 1 FOR 2) = 'Fr')"""),
    ("substr(name, 2) = 'r'", """(substring("name" FROM 2) = 'r')"""),
    ("name || '-' || station = 'a-FRA'", """((("name" || '-') || "station") = 'a-FRA')"""),
    ("CASE WHEN qty > 3 THEN 'many' ELSE 'few' END = 'few'",
     """(CASE WHEN "qty" > 3 THEN 'many' ELSE 'few' END = 'few')"""),
    ("CASE station WHEN 'FRA' THEN true ELSE false END",
     """(CASE "station" WHEN 'FRA' THEN TRUE ELSE FALSE END)"""),
    ("name IS DISTINCT FROM 'x'", """("name" IS DISTINCT FROM 'x')"""),
    ("qty IS NOT DISTINCT FROM NULL", """("qty" IS NOT DISTINCT FROM NULL)"""),
    ("code IN (1, -2, 3.5)", """("code" IN (1, -2, 3.5))"""),
    ("date IN (DATE '2017-05-08', DATE '2017-05-09')",
     """("date" IN (DATE '2017-05-08', DATE '2017-05-09'))"""),
    ("qty - -1 > 0", """(("qty" - -1) > 0)"""),          # never renders "--"
    ("- - qty > 0", """(-(-"qty") > 0)"""),
    ("(((station = 'FRA')))", """("station" = 'FRA')"""),
    ("station = 'FRA' AND (date = DATE '2017-05-08' OR date = DATE '2017-05-09') AND qty > 0",
     """("station" = 'FRA' AND ("date" = DATE '2017-05-08' OR "date" = DATE '2017-05-09') AND "qty" > 0)"""),
    ("qty = 1 OR qty = 2 AND qty = 3",
     """("qty" = 1 OR ("qty" = 2 AND "qty" = 3))"""),
    ("flag::boolean", """(CAST("flag" AS boolean))"""),
    ("TRUE", "(TRUE)"),
    ("\n\tstation\n=\r\n'FRA'  ", """("station" = 'FRA')"""),
    ("name = 'line\nbreak'", "(\"name\" = 'line\nbreak')"),
]


@pytest.mark.parametrize("text,expected", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_accepted_predicates_render_exactly(text, expected):
    assert parse_scope(text, COLUMNS) == expected


def _shape(node):
    """A comparable structure of a sqlglot tree: parentheses dropped,
    unquoted identifiers folded as PostgreSQL does, keywords upper-cased."""
    if isinstance(node, exp.Paren):
        return _shape(node.this)
    if isinstance(node, exp.Identifier):
        return ("Identifier", node.this if node.quoted else node.this.lower())
    if isinstance(node, exp.Var):
        return ("Var", str(node.this).upper())
    if isinstance(node, exp.Expression):
        return (type(node).__name__,
                tuple((k, _shape(v)) for k, v in sorted(node.args.items())
                      if v is not None and v is not False and v != []))
    if isinstance(node, list):
        return tuple(_shape(v) for v in node)
    return node


@pytest.mark.parametrize("text,expected", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_round_trip_reparses_to_same_tree(text, expected):
    rendered = parse_scope(text, COLUMNS)
    # the rendered text is a fixpoint ...
    assert parse_scope(rendered, COLUMNS) == rendered
    # ... and means what sqlglot understood from the buyer's text
    original = Postgres().parse(text)[0]
    reparsed = Postgres().parse(rendered)[0]
    assert _shape(reparsed) == _shape(original)


SAFE_OUTPUT_TOKENS = {
    "IDENTIFIER", "STRING", "NUMBER", "L_PAREN", "R_PAREN", "COMMA", "EQ", "NEQ",
    "LT", "LTE", "GT", "GTE", "AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE",
    "IN", "BETWEEN", "LIKE", "ILIKE", "ESCAPE", "DISTINCT", "FROM", "FOR", "PLUS",
    "DASH", "STAR", "SLASH", "MOD", "DPIPE", "CASE", "WHEN", "THEN", "ELSE", "END",
    "VAR", "DATE", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "INTERVAL", "INT", "BIGINT",
    "SMALLINT", "DECIMAL", "FLOAT", "DOUBLE", "TEXT", "VARCHAR", "CHAR", "BOOLEAN",
    "ALIAS",
}


def _assert_safe_output(rendered):
    assert rendered.startswith("(") and rendered.endswith(")")
    assert "\\" not in rendered and "\x00" not in rendered
    tokens = Postgres().tokenize(rendered)
    covered = 0
    for tok in tokens:
        assert not tok.comments
        assert tok.token_type.name in SAFE_OUTPUT_TOKENS, (tok.token_type, rendered)
        assert rendered[covered:tok.start].strip(" \n\t\r\f\v") == ""
        covered = tok.end + 1
    assert rendered[covered:].strip() == ""


@pytest.mark.parametrize("text,expected", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_rendered_output_only_contains_safe_tokens(text, expected):
    _assert_safe_output(parse_scope(text, COLUMNS))


# --------------------------------------------------------------------------
# attacks: all refused, with the right class and a message naming the problem
# --------------------------------------------------------------------------
PRIV, INVAL, UNDEF = InsufficientPrivilege, InvalidParameter, UndefinedColumn

ATTACKS = [
    # statements / stacking
    ("1=1; DROP TABLE x", PRIV, "';'"),
    ("station = 'FRA'; SELECT pg_sleep(1)", PRIV, "';'"),
    ("station = 'FRA';", PRIV, "';'"),
    ("DROP TABLE offering", PRIV, "DROP"),
    ("copy (select 1) to '/tmp/x'", PRIV, "COPY"),
    ("select 1", PRIV, "SELECT"),
    ("update t set x = 1", PRIV, "UPDATE"),
    ("do $$begin perform pg_sleep(1); end$$", PRIV, "DO"),
    ("vacuum", PRIV, "VACUUM"),
    ("set role postgres", PRIV, "SET"),
    # quotes breaking out / backslashes
    ("station = 'FRA\\' OR 1=1 --'", INVAL, "comments"),
    ("station = 'FRA\\'", INVAL, "backslash"),
    ("station = 'it''s' OR '1'='1", INVAL, "syntax error"),
    ("station = 'a' 'b'", INVAL, "adjacent string literals"),
    ("station = 'unterminated", INVAL, "syntax error"),
    ('"station = 1', INVAL, "syntax error"),
    # comments hiding code
    ("station = 'FRA' -- '; DROP TABLE t", INVAL, "comments"),
    ("station = 'FRA' /* */ OR 1=1", INVAL, "comments"),
    ("station = 'FRA' /* unterminated", INVAL, "syntax error"),
    ("--only a comment", INVAL, "empty"),
    ("/* only */", INVAL, "empty"),
    # dollar quoting
    ("station = $$FRA$$", INVAL, "dollar-quoted"),
    ("station = $tag$FRA$tag$", INVAL, "dollar-quoted"),
    ("station = $$FRA", INVAL, "syntax error"),
    # unicode escapes, escape strings, other literal forms
    ("station = U&'\\0041'", INVAL, "unicode-escaped"),
    ('U&"st\\0061tion" = 1', INVAL, "unicode-escaped"),
    ('u&"station" = 1', INVAL, "unicode-escaped"),
    ("station = E'\\x27'", INVAL, "escape strings"),
    ("station = e'\\' OR 1=1'", INVAL, "escape strings"),
    ("station = X'41'", INVAL, "hexadecimal"),
    ("station = B'1'", INVAL, "bit-string"),
    ("station = N'FRA'", INVAL, "national"),
    # subqueries
    ("station = (SELECT 'FRA')", PRIV, "subqueries"),
    ("EXISTS (SELECT 1 FROM pg_authid)", PRIV, "subqueries"),
    ("station IN (SELECT rolpassword FROM pg_authid)", PRIV, "subqueries"),
    ("qty = ANY (SELECT 1)", PRIV, "subqueries"),
    ("qty = ALL (SELECT 1)", PRIV, "subqueries"),
    ("station = 'x' UNION SELECT rolpassword FROM pg_authid", PRIV, "subqueries"),
    ("(select 1 from pg_user) = 1", PRIV, "subqueries"),
    ("station = (SELECT current_user)", PRIV, "subqueries"),
    # other tables / qualified names
    ("t.station = 'FRA'", PRIV, "qualified column t.station"),
    ("public.t.station = 'FRA'", PRIV, "qualified column public.t.station"),
    ("pg_authid.rolpassword = 'x'", PRIV, "pg_authid.rolpassword"),
    ("public.lower(name) = 'x'", PRIV, "qualified names"),
    # functions outside the whitelist
    ("pg_read_file('/etc/passwd') = ''", PRIV, "pg_read_file()"),
    ("pg_ls_dir('.') IS NULL", PRIV, "pg_ls_dir()"),
    ("lo_import('/etc/passwd') = 1", PRIV, "lo_import()"),
    ("lo_export(1, '/tmp/x') = 1", PRIV, "lo_export()"),
    ("set_config('role', 'postgres', false) = 'x'", PRIV, "set_config()"),
    ("current_setting('is_superuser') = 'on'", PRIV, "current_setting()"),
    ("pg_sleep(10) IS NULL", PRIV, "pg_sleep()"),
    ("qty = 1 OR pg_sleep(10) IS NULL", PRIV, "pg_sleep()"),
    ('"pg_sleep"(1) IS NULL', PRIV, "pg_sleep()"),
    ("pg_catalog.pg_sleep(1) IS NULL", PRIV, "pg_sleep()"),
    ("dblink('host=x', 'select 1') IS NULL", PRIV, "dblink()"),
    ("dblink_exec('x', 'drop table t') = 'x'", PRIV, "dblink_exec()"),
    ("query_to_xml('select 1', true, true, '') IS NULL", PRIV, "query_to_xml()"),
    ("qty = txid_current()", PRIV, "txid_current()"),
    ("qty = nextval('s')", PRIV, "nextval()"),
    ("pg_terminate_backend(1)", PRIV, "pg_terminate_backend()"),
    ("version() LIKE '%'", PRIV, "version()"),
    ("name = chr(39)", PRIV, "chr()"),
    ("nvl(qty, 1) = 1", PRIV, "nvl()"),
    ("greatest(qty, 1) = 1", PRIV, "greatest()"),
    ("count(*) > 0", PRIV, "count()"),
    ("sum(qty) > 0", PRIV, "sum()"),
    ("rank() OVER (ORDER BY qty) = 1", PRIV, "rank()"),
    ("date(ts) = '2017-01-01'", PRIV, "date()"),
    # clock / session: refused by decision (a scope must be deterministic)
    ("now() > ts", PRIV, "now()"),
    ("current_date = date", PRIV, "current_date"),
    ("current_timestamp > ts", PRIV, "current_timestamp"),
    ("ts > localtimestamp", PRIV, "localtimestamp"),
    ("qty = random()", PRIV, "random()"),
    ("current_user = 'postgres'", PRIV, "current_user"),
    ("session_user = 'postgres'", PRIV, "session_user"),
    ("station = station::text || current_user", PRIV, "current_user"),
    # casts to non-plain types
    ("name::regclass IS NULL", PRIV, "cast to regclass"),
    ("'pg_authid'::regclass::oid = 1", PRIV, "cast to"),
    ("name::regproc IS NULL", PRIV, "cast to regproc"),
    ("CAST(qty AS oid) = 1", PRIV, "cast to oid"),
    ("qty::int[] = '{1}'", PRIV, "cast to int[]"),
    ("name::my_type IS NULL", PRIV, "cast to my_type"),
    ("CAST(name AS json) IS NULL", PRIV, "cast to json"),
    # unsupported syntax
    ("name COLLATE \"C\" = 'a'", INVAL, "COLLATE"),
    ("qty = (1, 2)", INVAL, "row constructors"),
    ("ROW(qty, qty) = ROW(1, 2)", INVAL, "row constructors"),
    ("ARRAY[qty] = ARRAY[1]", INVAL, "arrays"),
    ("qty = ANY (ARRAY[1, 2])", INVAL, "ANY"),
    ("qty[1] = 1", INVAL, "array subscripts"),
    ("name -> 'a' = 'b'", INVAL, "JSON"),
    ("name ->> 'a' = 'b'", INVAL, "JSON"),
    ("name ~ 'a.*'", INVAL, "regular expression"),
    ("name SIMILAR TO 'a%'", INVAL, "SIMILAR TO"),
    ("substring(name from 'a.*') = 'a'", INVAL, "regular expressions"),
    ("ts AT TIME ZONE 'UTC' = ts", INVAL, "AT TIME ZONE"),
    ("qty # 1 = 0", INVAL, "bitwise"),
    ("qty ^ 2 = 4", INVAL, "^"),
    ("name = *", INVAL, "'*'"),
    ("*", INVAL, "boolean predicate"),
    ("station IN ('FRA', name)", INVAL, "only contain literals"),
    ("date_trunc(station, ts) = ts", INVAL, "date_trunc unit"),
    ("extract(foo from ts) = 1", INVAL, "EXTRACT/date_part field"),
    # parameters / placeholders
    ("name = $1", INVAL, "parameters"),
    ("qty IN ($1, $2)", INVAL, "parameters"),
    ("qty = ?", INVAL, "placeholders"),
    ("qty = %s", INVAL, "placeholders"),
    ("qty = :v", INVAL, "placeholders"),
    # not a predicate
    ("1", INVAL, "boolean predicate"),
    ("'abc'", INVAL, "boolean predicate"),
    ("NULL", INVAL, "boolean predicate"),
    ("qty + 1", INVAL, "boolean predicate"),
    ("name = 'abc' AND 1", INVAL, "operand of AND"),
    ("NOT 1", INVAL, "operand of NOT"),
    ("()", INVAL, "boolean predicate"),
    ("station =", INVAL, "syntax error"),
    ("station = 'FRA' AND", INVAL, "syntax error"),
    # size / depth / bytes
    ("station = '" + "x" * 5000 + "'", INVAL, "too long"),
    ("(" * 40 + "flag" + ")" * 40, INVAL, "nested too deeply"),
    ("NOT " * 50 + "flag", INVAL, "nested too deeply"),
    ("qty = " + "- " * 100 + "1", INVAL, "nested too deeply"),
    ("qty = " + " + ".join(["1"] * 300), INVAL, "nested too deeply"),
    ("qty = " + "lower(" * 40 + "name" + ")" * 40, INVAL, "nested too deeply"),
    ("station = 'FRA\x00'", INVAL, "NUL"),
    ("station = 'FRA'\x00; DROP TABLE x", INVAL, "NUL"),
    # unknown columns
    ("unknown_col = 1", UNDEF, "unknown_col"),
    ('"Station" = \'FRA\'', UNDEF, "Station"),
    ("region = 'EU'", UNDEF, "region"),          # folded; only "Region" exists
    ('"station"" OR 1=1 --" = 1', UNDEF, 'station" OR 1=1 --'),
    ("user = 'x'", UNDEF, "user"),
    ("current_role = 'x'", UNDEF, "current_role"),
]


@pytest.mark.parametrize("text,cls,fragment", ATTACKS, ids=[str(i) for i in range(len(ATTACKS))])
def test_attacks_are_refused(text, cls, fragment):
    with pytest.raises(NyopError) as info:
        parse_scope(text, COLUMNS)
    err = info.value
    assert type(err) is cls, (text, type(err).__name__, err.message)
    assert fragment in err.message, (text, err.message)
    assert err.message.startswith("scope: ")
    assert err.sqlstate == {PRIV: "42501", INVAL: "22023", UNDEF: "42703"}[cls]
    # scope_columns validates identically
    with pytest.raises(cls):
        scope_columns(text, COLUMNS)


def test_attack_table_is_large_enough():
    assert len(ATTACKS) >= 60
    assert len(ACCEPTED) >= 25


# --------------------------------------------------------------------------
# details
# --------------------------------------------------------------------------
@pytest.mark.parametrize("text", [None, "", " ", "   \n\t\r\f  "])
def test_absent_scope_is_none(text):
    assert parse_scope(text, COLUMNS) is None
    assert scope_columns(text, COLUMNS) == set()


@pytest.mark.parametrize("bad", [b"station = 'FRA'", 42, ["station = 'FRA'"]])
def test_non_text_is_refused(bad):
    with pytest.raises(InvalidParameter, match="must be text"):
        parse_scope(bad, COLUMNS)


def test_scope_columns():
    text = ("station IN ('FRA','LHR') AND date BETWEEN '2017-05-08' AND '2017-05-10'"
            " AND \"Region\" = 'EU' AND lower(name) LIKE 'a%' AND Station <> 'x'")
    assert scope_columns(text, COLUMNS) == {"station", "date", "Region", "name"}
    assert scope_columns("TRUE", COLUMNS) == set()
    assert scope_columns('"we""ird" IS NULL', COLUMNS) == {'we"ird'}


def test_unknown_column_message_lists_allowed_columns():
    with pytest.raises(UndefinedColumn) as info:
        parse_scope("stationn = 'FRA'", ["station", "date"])
    assert "stationn" in info.value.message
    assert "allowed: date, station" in info.value.message


def test_columns_may_be_any_iterable():
    assert parse_scope("a = 1", (c for c in ["a", "b"])) == '("a" = 1)'
    assert parse_scope("a = 1", {"a"}) == '("a" = 1)'
    with pytest.raises(UndefinedColumn):
        parse_scope("a = 1", [])


def test_identifier_folding_is_ascii_only_like_postgresql():
    # PostgreSQL lower-cases only A-Z in unquoted identifiers
    assert parse_scope("ÄRGER = 1", ["Ärger"]) == '("Ärger" = 1)'
    assert parse_scope("STATION = 'x'", ["station"]) == '("station" = \'x\')'


def test_error_message_names_the_function_and_the_whitelist():
    with pytest.raises(InsufficientPrivilege) as info:
        parse_scope("pg_read_file('/etc/passwd') = ''", COLUMNS)
    msg = info.value.message
    assert msg.startswith("scope: function pg_read_file() is not allowed (allowed: lower, upper")
    assert "date_trunc" in msg and "substring" in msg


def test_syntax_error_messages_are_clean():
    with pytest.raises(InvalidParameter) as info:
        parse_scope("station = 'FRA' AND", COLUMNS)
    assert "\x1b" not in info.value.message          # no terminal escapes
    assert "<class" not in info.value.message


def test_long_or_chain_is_not_deep_nesting():
    text = " OR ".join(f"qty = {i}" for i in range(150))
    assert len(text) < scope_mod.MAX_SCOPE_LENGTH
    out = parse_scope(text, COLUMNS)
    assert out.count("OR") == 149 and out.count("(") == 1


def test_big_in_list_is_fine():
    text = "qty IN (" + ", ".join(str(i) for i in range(500)) + ")"
    assert parse_scope(text, COLUMNS).startswith('("qty" IN (0, 1, 2')


def test_maximum_nesting_is_accepted():
    depth = scope_mod.MAX_PAREN_DEPTH
    assert parse_scope("(" * depth + "flag" + ")" * depth, COLUMNS) == '("flag")'


class _Boom:
    """A stand-in dialect whose tokenizer/parser fail unexpectedly."""

    def __init__(self, exc, where):
        self.exc, self.where = exc, where
        self.real = Postgres()

    def tokenize(self, text):
        if self.where == "tokenize":
            raise self.exc
        return self.real.tokenize(text)

    def parser(self, *a, **k):
        if self.where == "parser":
            raise self.exc
        return self.real.parser(*a, **k)


@pytest.mark.parametrize("exc", [RuntimeError("x"), ValueError("x"), KeyError("x"),
                                 RecursionError(), AttributeError("x")])
@pytest.mark.parametrize("where", ["tokenize", "parser"])
def test_unexpected_sqlglot_exceptions_become_invalid_parameter(monkeypatch, exc, where):
    monkeypatch.setattr(scope_mod, "_DIALECT", _Boom(exc, where))
    with pytest.raises(InvalidParameter) as info:
        parse_scope("station = 'FRA'", COLUMNS)
    assert "could not parse" in info.value.message or "nested too deeply" in info.value.message


def test_unexpected_exception_in_rendering_becomes_invalid_parameter(monkeypatch):
    def boom(self, tree):
        raise TypeError("internal")
    monkeypatch.setattr(scope_mod._Renderer, "predicate", boom)
    with pytest.raises(InvalidParameter, match="could not parse"):
        parse_scope("station = 'FRA'", COLUMNS)


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------
_PROP = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _check_any(text):
    """parse_scope either returns None/str or raises a NyopError subclass;
    whatever it accepts is a safe fixpoint over known columns."""
    try:
        out = parse_scope(text, COLUMNS)
    except NyopError as e:
        assert isinstance(e, (InvalidParameter, InsufficientPrivilege, UndefinedColumn))
        assert e.message.startswith("scope: ")
        return None
    if out is not None:
        _assert_safe_output(out)
        assert parse_scope(out, COLUMNS) == out
        assert scope_columns(out, COLUMNS) <= set(COLUMNS)
    return out


@_PROP
@given(st.text(max_size=300))
def test_random_text_only_raises_nyop_errors(text):
    _check_any(text)


_SQLISH = st.text(alphabet="abcdefqstxyz_0123456789 '\"()=<>!-+*/%|&^~#@$:;?,.\\\n\tEUNXB",
                  max_size=200)


@_PROP
@given(_SQLISH)
def test_random_sql_characters_only_raise_nyop_errors(text):
    _check_any(text)


_FRAGMENTS = [
    "station", "date", "qty", "price", "name", "flag", '"Region"', '"we""ird"', "t.station",
    "nope", "'FRA'", "'it''s'", "'a\\'", "1", "-1", "2.5", "1e3", "NULL", "TRUE", "FALSE",
    "=", "<>", "!=", "<", ">=", "+", "-", "*", "/", "%", "||", "::", "::date", "::regclass",
    "::text", "AND", "OR", "NOT", "IS", "IS NOT", "IN", "BETWEEN", "LIKE", "ILIKE", "ESCAPE",
    "(", ")", ",", ";", "--", "/*", "*/", "$$", "$1", "?", "E'", "U&", "SELECT", "FROM",
    "EXISTS", "ANY", "ARRAY[", "]", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST(", "AS",
    "int", "DATE '2017-05-08'", "INTERVAL '1 day'", "lower(", "coalesce(", "pg_sleep(",
    "current_user", "now()", "date_trunc('day',", "EXTRACT(year FROM", "substring(", "FOR",
    "COLLATE", "\"C\"", "UNION", "DROP TABLE x", "pg_authid", ".", "@", "#", "~",
]


@_PROP
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=25).map(" ".join))
def test_token_soup_only_raises_nyop_errors(text):
    _check_any(text)


_ACCEPTABLE_ATOMS = st.sampled_from([
    "station = 'FRA'", "qty > 3", "name IS NULL", "flag", "date BETWEEN DATE '2017-01-01' AND "
    "DATE '2017-02-01'", "price * 2 <= 10", "lower(name) LIKE 'a%'", "qty IN (1, 2, -3)",
    "NOT flag", "ts < date + INTERVAL '1 day'", "coalesce(qty, 0) <> 1",
])


@st.composite
def _predicates(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(_ACCEPTABLE_ATOMS)
    op = draw(st.sampled_from(["AND", "OR"]))
    left = draw(_predicates(depth + 1))
    right = draw(_predicates(depth + 1))
    wrap = draw(st.booleans())
    text = f"{left} {op} {right}"
    if draw(st.booleans()):
        text = "NOT (" + text + ")"
    return f"({text})" if wrap else text


@_PROP
@given(_predicates())
def test_generated_predicates_round_trip(text):
    out = parse_scope(text, COLUMNS)
    _assert_safe_output(out)
    assert parse_scope(out, COLUMNS) == out
    assert _shape(Postgres().parse(out)[0]) == _shape(Postgres().parse(text)[0])


@_PROP
@given(st.text(max_size=80).filter(lambda s: "\\" not in s and "\x00" not in s))
def test_string_literals_are_requoted_exactly(value):
    quoted = "'" + value.replace("'", "''") + "'"
    out = parse_scope(f"name = {quoted}", COLUMNS)
    assert out == f'("name" = {quoted})'
    literal = Postgres().parse(out)[0].find(exp.Literal)
    assert literal.is_string and literal.this == value


@_PROP
@given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
def test_quoted_identifiers_are_requoted_exactly(column):
    quoted = '"' + column.replace('"', '""') + '"'
    out = parse_scope(f"{quoted} IS NULL", [column])
    assert out == f"({quoted} IS NULL)"
    assert scope_columns(out, [column]) == {column}
