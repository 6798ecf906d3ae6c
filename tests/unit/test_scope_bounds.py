"""scope.py without a server, beyond tests/test_scope.py: the bounded-cost limits at their
boundaries (numbers, strings, IN lists, arithmetic, round(), cast sizes), and the exact
refusal of each kind — class, SQLSTATE and the whole message a buyer reads."""

from __future__ import annotations

import pytest

from nyop_server import scope as s
from nyop_server.errors import InsufficientPrivilege, InvalidParameter, NyopError, UndefinedColumn

COLS = ["station", "date", "price", "qty", "ts", "name", "flag", "iv"]
FUNCS = ("lower, upper, coalesce, abs, round, floor, ceil, length, trim, date_trunc, extract/date_part, "
         "substring")
TYPES = ("int, integer, bigint, smallint, numeric, decimal, real, double precision, float, text, varchar, char, "
         "date, time, timestamp, timestamptz, interval, boolean")
SESSION = ("is not allowed: a scope must select the same rows whenever it is evaluated and must not depend on "
           "the session (use literal values)")
KEYWORDS = "(a scope is one predicate; double-quote column names that are SQL keywords)"
RANGE = "is out of range (its decimal exponent must be between -38 and 38, e.g. 1.5e38)"


def refused(text, cls=InvalidParameter, columns=COLS) -> str:
    with pytest.raises(NyopError) as ei:
        s.parse_scope(text, columns)
    assert type(ei.value) is cls, (type(ei.value), ei.value.message)
    assert ei.value.sqlstate == {InvalidParameter: "22023", InsufficientPrivilege: "42501",
                                 UndefinedColumn: "42703"}[cls]
    return ei.value.message


# -- numbers: at most 38 significant digits, decimal exponent within ±38 -------------------

@pytest.mark.parametrize("number", [
    "1" * 38, "1e38", "1.5e38", "9.99e38", "1E+38", "1e+0038", "1e-38", "1e-0038", "0.1e-37",
    "0.000", "0." + "0" * 38, "0" * 50 + "7", "1." + "0" * 37, "12.5e-30", "0e38", "1e0000000000001",
])
def test_numbers_accepted(number):
    assert s.parse_scope("qty = %s" % number, COLS) == '("qty" = %s)' % number


def test_leading_point_number():
    assert s.parse_scope("qty = .5", COLS) == '("qty" = 0.5)'
    assert s.parse_scope("qty = .%s" % ("1" * 38), COLS) == '("qty" = 0.%s)' % ("1" * 38)


@pytest.mark.parametrize("number, digits", [
    ("1" * 39, 39), ("1" * 20 + "." + "1" * 19, 39), ("1." + "0" * 38, 39), ("1" * 40 + "e-10", 40),
])
def test_numbers_with_too_many_digits(number, digits):
    assert refused("qty = %s" % number) == ("scope: number %s has too many digits (%d significant digits, "
                                            "at most 38)" % (s._short(number, 40), digits))


@pytest.mark.parametrize("number", [
    "1e39", "10e38", "1e+39", "0.01e-37", "1e-39", "1e-0039", "0." + "0" * 39, "0e39", "0.000e-36",
    "9e99999999999", "1e-99999999999", "123.4e37",
])
def test_numbers_out_of_range(number):
    assert refused("qty = %s" % number) == "scope: number %s %s" % (s._short(number, 40), RANGE)


def test_long_numbers_are_shortened_in_messages():
    number = "0." + "0" * 45 + "1"
    assert refused("qty = %s" % number) == "scope: number %s… %s" % (number[:39], RANGE)


def test_invalid_number():
    assert refused("qty = 1.5e") == "scope: invalid number '1.5e'"


# -- strings: at most 1000 characters; one PostgreSQL reads as a number is bounded like one -----

@pytest.mark.parametrize("text", ["1e38", " -1.5E+38 ", "1_000e3", "e5", ".e5", "abc1e99x", "1e", "1_e99",
                                  "x" * 1000])
def test_strings_accepted(text):
    assert s.parse_scope("name = '%s'" % text, COLS) == "(\"name\" = '%s')" % text


@pytest.mark.parametrize("text, shown", [
    ("1e39", "1e39"), (" -1.5E+39 ", "-1.5E+39"), ("+1e39", "+1e39"), ("1e3_9", "1e3_9"), ("\t.5e40\n", ".5e40"),
    ("0.01e-37", "0.01e-37"),
])
def test_strings_read_as_numbers_out_of_range(text, shown):
    assert refused("name = '%s'" % text) == "scope: number '%s' (a string read as a number) %s" % (shown, RANGE)


def test_string_read_as_a_number_with_too_many_digits():
    assert refused("name = '%se1'" % ("1" * 39)) == (
        "scope: number '%s… has too many digits (39 significant digits, at most 38)" % ("1" * 38))


def test_string_refusals():
    assert refused("name = '%s'" % ("x" * 1001)) == "scope: string literal too long (1001 characters, at most 1000)"
    assert refused("name = 'a\\b'") == ("scope: backslashes in string literals are not allowed (for LIKE use "
                                        "ESCAPE with another character, e.g. ESCAPE '#')")
    with pytest.raises(InvalidParameter, match="^scope: NUL characters are not allowed$"):
        s._quote_string("a\x00b")
    assert s._quote_string("it's") == "'it''s'"


# -- IN lists, arithmetic, round(), cast sizes -------------------------------------------------

def test_in_list_bound():
    ok = "qty IN (%s)" % ", ".join(["1"] * 500)
    assert s.parse_scope(ok, COLS).count("1") == 500
    assert refused("qty IN (%s)" % ", ".join(["1"] * 501)) == "scope: IN list too long (501 items, at most 500)"
    assert refused("qty NOT IN (%s)" % ", ".join(["2"] * 600)) == "scope: IN list too long (600 items, at most 500)"
    assert refused("station IN ()") == "scope: IN needs a non-empty list of literals"


def test_arithmetic_bound():
    assert s.parse_scope("qty = " + " * ".join(["2"] * 17), COLS).count("*") == 16
    assert s.parse_scope("qty = " + " + ".join(["2"] * 30), COLS).count("+") == 29     # + does not count
    msg = "scope: too much arithmetic (at most 16 of the operators * / %)"
    assert refused("qty = " + " * ".join(["2"] * 18)) == msg
    assert refused("qty = " + " / ".join(["2"] * 18)) == msg
    assert refused("qty = " + " % ".join(["2"] * 18)) == msg
    assert refused("qty = " + " * ".join(["2"] * 10) + " + " + " / ".join(["2"] * 9)) == msg
    assert s.parse_scope("qty = " + " * ".join(["2"] * 9) + " + " + " / ".join(["2"] * 9), COLS)


@pytest.mark.parametrize("n", ["0", "2", "38", "-38", "(-5)", "- 3"])
def test_round_decimals_accepted(n):
    assert s.parse_scope("round(price, %s) = 1" % n, COLS).startswith('(round("price", ')


@pytest.mark.parametrize("n", ["39", "-39", "qty", "'2'", "2.5", "1e1", "-(qty)", "NULL"])
def test_round_decimals_refused(n):
    assert refused("round(price, %s) = 1" % n) == \
        "scope: round(x, n) needs n to be an integer literal between -38 and 38"


@pytest.mark.parametrize("cast, rendered", [
    ("numeric(38, 38)", "numeric(38, 38)"), ("numeric(38)", "numeric(38)"), ("decimal(10,2)", "numeric(10, 2)"),
    ("varchar(1000)", "varchar(1000)"), ("char(1000)", "char(1000)"), ("numeric", "numeric"),
    ("varchar", "varchar"),
])
def test_cast_sizes_accepted(cast, rendered):
    assert s.parse_scope("CAST(qty AS %s) IS NULL" % cast, COLS) == '(CAST("qty" AS %s) IS NULL)' % rendered


@pytest.mark.parametrize("cast, message", [
    ("numeric(39)", "numeric(39) is too wide (precision and scale at most 38)"),
    ("numeric(39, 2)", "numeric(39, 2) is too wide (precision and scale at most 38)"),
    ("numeric(10, 39)", "numeric(10, 39) is too wide (precision and scale at most 38)"),
    ("varchar(1001)", "varchar(1001) is too wide (at most 1000 characters)"),
    ("char(1001)", "char(1001) is too wide (at most 1000 characters)"),
])
def test_cast_sizes_refused(cast, message):
    assert refused("CAST(qty AS %s) IS NULL" % cast) == "scope: " + message


@pytest.mark.parametrize("cast", ["numeric(1,2,3)", "int(5)", "numeric(10000)", "int[]", "json", "regclass",
                                  "numeric(qty)", "varchar(1, 2)"])
def test_casts_refused_as_capabilities(cast):
    msg = refused("CAST(qty AS %s) IS NULL" % cast, InsufficientPrivilege)
    assert msg.startswith("scope: cast to ") and msg.endswith(" is not allowed (allowed types: %s)" % TYPES)


# -- exact refusals ------------------------------------------------------------------------

REFUSALS = [
    # statements and stacking (42501)
    ("1=1; DROP TABLE x", InsufficientPrivilege,
     "scope: ';' is not allowed (a scope is one predicate, not statements)"),
    ("CALL p()", InsufficientPrivilege, "scope: CALL statements are not allowed " + KEYWORDS),
    ("explain select 1", InsufficientPrivilege, "scope: EXPLAIN statements are not allowed " + KEYWORDS),
    ("vacuum", InsufficientPrivilege, "scope: VACUUM statements are not allowed " + KEYWORDS),
    ("select 1", InsufficientPrivilege, "scope: SELECT statements are not allowed " + KEYWORDS),
    ("create table t (a int)", InsufficientPrivilege, "scope: CREATE statements are not allowed " + KEYWORDS),
    ("grant all on t to u", InsufficientPrivilege, "scope: GRANT statements are not allowed " + KEYWORDS),
    ("table t", InsufficientPrivilege, "scope: TABLE statements are not allowed " + KEYWORDS),
    ("with x as (select 1) select 1", InsufficientPrivilege, "scope: WITH statements are not allowed " + KEYWORDS),
    ("values (1)", InsufficientPrivilege, "scope: VALUES statements are not allowed " + KEYWORDS),
    ("DROP TABLE offering", InsufficientPrivilege, "scope: DROP statements are not allowed (a scope is one predicate)"),
    ("update t set x = 1", InsufficientPrivilege, "scope: UPDATE statements are not allowed (a scope is one predicate)"),
    ("delete from t", InsufficientPrivilege, "scope: DELETE statements are not allowed (a scope is one predicate)"),
    ("truncate t", InsufficientPrivilege, "scope: TRUNCATE statements are not allowed (a scope is one predicate)"),
    ("begin", InsufficientPrivilege, "scope: BEGIN statements are not allowed (a scope is one predicate)"),
    ("set role x", InsufficientPrivilege, "scope: SET statements are not allowed (a scope is one predicate)"),
    ("copy t to 'x'", InsufficientPrivilege, "scope: COPY statements are not allowed (a scope is one predicate)"),
    # functions (42501)
    ("pg_sleep(1) IS NULL", InsufficientPrivilege, "scope: function pg_sleep() is not allowed (allowed: %s)" % FUNCS),
    ('"Lower"(name) = \'x\'', InsufficientPrivilege, "scope: function Lower() is not allowed (allowed: %s)" % FUNCS),
    ("greatest(qty, 1) = 1", InsufficientPrivilege, "scope: function greatest() is not allowed (allowed: %s)" % FUNCS),
    ("now() > ts", InsufficientPrivilege,
     "scope: function now() %s; allowed functions: %s)" % (SESSION[:-1], FUNCS)),
    ("random() = 1", InsufficientPrivilege,
     "scope: function random() %s; allowed functions: %s)" % (SESSION[:-1], FUNCS)),
    ("current_user = 'x'", InsufficientPrivilege, "scope: current_user " + SESSION),
    ("current_date = date", InsufficientPrivilege, "scope: current_date " + SESSION),
    ("ts > localtimestamp", InsufficientPrivilege, "scope: localtimestamp " + SESSION),
    ("ts > current_timestamp", InsufficientPrivilege, "scope: now()/current_timestamp " + SESSION),
    # rows from elsewhere (42501)
    ("station = (SELECT 'FRA')", InsufficientPrivilege, "scope: subqueries are not allowed"),
    ("t.station = 'FRA'", InsufficientPrivilege,
     "scope: qualified column t.station is not allowed (only the offering's own columns, unqualified)"),
    ("public.t.station = 'x'", InsufficientPrivilege,
     "scope: qualified column public.t.station is not allowed (only the offering's own columns, unqualified)"),
    ("public.lower(name) = 'x'", InsufficientPrivilege, "scope: qualified names (schema.name) are not allowed"),
    # lexical (22023)
    ("station = 'a' -- x", InvalidParameter, "scope: comments are not allowed"),
    ("station = 'a' /* x */", InvalidParameter, "scope: comments are not allowed"),
    ("station = $$a$$", InvalidParameter, "scope: dollar-quoted strings ($$...$$, $tag$...$tag$) are not allowed"),
    ("station = U&'a'", InvalidParameter, "scope: unicode-escaped strings (U&'...') are not allowed"),
    ('U&"a" = 1', InvalidParameter, 'scope: unicode-escaped identifiers or strings (U&"...") are not allowed'),
    ("station = E'a'", InvalidParameter, "scope: escape strings (E'...') are not allowed"),
    ("station = N'a'", InvalidParameter, "scope: national strings (N'...') are not allowed"),
    ("station = X'41'", InvalidParameter, "scope: hexadecimal literals (X'...', 0x...) are not allowed"),
    ("station = B'1'", InvalidParameter, "scope: bit-string literals (B'...') are not allowed"),
    ("name = $1", InvalidParameter, "scope: parameters ($1, @x) are not allowed"),
    ("qty = ?", InvalidParameter, "scope: placeholders (?, %s, :name) are not allowed"),
    ("station = 'a' 'b'", InvalidParameter, "scope: adjacent string literals are not allowed"),
    ("!flag", InvalidParameter, "scope: operator '!' is not allowed"),
    ("(" * 33 + "flag" + ")" * 33, InvalidParameter, "scope: nested too deeply (more than 32 parentheses)"),
    ("qty = " + "CASE WHEN flag THEN " * 33 + "1" + " END" * 33, InvalidParameter,
     "scope: nested too deeply (more than 32 CASE levels)"),
    ("qty = " + "- " * 33 + "1", InvalidParameter,
     "scope: nested too deeply (too many consecutive NOT/+/- operators)"),
    ("x" * 4001, InvalidParameter, "scope: too long (4001 characters, at most 4000)"),
    # unsupported syntax (22023)
    ("name COLLATE \"C\" = 'a'", InvalidParameter, "scope: COLLATE is not allowed"),
    ("qty = (1, 2)", InvalidParameter, "scope: row constructors are not allowed"),
    ("ROW(qty, qty) = ROW(1, 2)", InvalidParameter, "scope: row constructors are not allowed"),
    ("ARRAY[qty] = ARRAY[1]", InvalidParameter, "scope: arrays are not allowed"),
    ("name ~* 'a'", InvalidParameter, "scope: regular expression matching (~*) is not allowed"),
    ("qty << 1 = 0", InvalidParameter, "scope: bitwise operators (<<) are not allowed"),
    ("||/ qty = 2", InvalidParameter, "scope: the ||/ operator is not allowed"),
    ("name = *", InvalidParameter, "scope: '*' is not allowed"),
    # not a predicate (22023)
    ("1", InvalidParameter,
     "scope: must be a boolean predicate over the offering's columns (e.g. station = 'FRA'), got a value expression"),
    ("NULL", InvalidParameter,
     "scope: must be a boolean predicate over the offering's columns (e.g. station = 'FRA'), got a null expression"),
    ("*", InvalidParameter, "scope: must be a boolean predicate over the offering's columns"),
    ("name = 'abc' AND 1", InvalidParameter, "scope: operand of AND must be a boolean predicate, got a value expression"),
    ("flag OR 1", InvalidParameter, "scope: operand of OR must be a boolean predicate, got a value expression"),
    ("NOT 1", InvalidParameter, "scope: operand of NOT must be a boolean predicate, got a value expression"),
    ("CASE WHEN 1 THEN flag END", InvalidParameter,
     "scope: operand of WHEN must be a boolean predicate, got a value expression"),
    ("name IS 1", InvalidParameter, "scope: IS may only be followed by [NOT] NULL, TRUE or FALSE"),
    ("station IN ('FRA', name)", InvalidParameter, "scope: IN (...) may only contain literals"),
    ("substring(name from 'a.*') = 'a'", InvalidParameter,
     "scope: substring(x FROM 'pattern') (regular expressions) is not allowed"),
    ("iv > INTERVAL qty", InvalidParameter, "scope: INTERVAL must be followed by a string literal"),
    ("iv > INTERVAL ''", InvalidParameter, "scope: empty INTERVAL"),
    ("station =", InvalidParameter, "scope: syntax error: Required keyword: 'expression' missing for EQ (near column 9)"),
    # columns (42703)
    ("unknown_col = 1", UndefinedColumn,
     "scope: column unknown_col does not exist in this offering (allowed: date, flag, iv, name, price, qty, station, ts)"),
    ('"Station" = 1', UndefinedColumn,
     "scope: column Station does not exist in this offering (allowed: date, flag, iv, name, price, qty, station, ts)"),
]


@pytest.mark.parametrize("text, cls, message", REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_refusal_messages(text, cls, message):
    assert refused(text, cls) == message


def test_unknown_column_listing():
    many = ["c%02d" % i for i in range(45)]
    msg = refused("nope = 1", UndefinedColumn, many)
    assert msg == "scope: column nope does not exist in this offering (allowed: %s, …)" % ", ".join(many[:40])
    forty = many[:40]
    assert refused("nope = 1", UndefinedColumn, forty).endswith("(allowed: %s)" % ", ".join(forty))
    assert refused("nope = 1", UndefinedColumn, None).endswith("(allowed: none)")
    long_name = "x" * 70
    assert refused('"%s" = 1' % long_name, UndefinedColumn, ["a"]) == (
        "scope: column %s… does not exist in this offering (allowed: a)" % ("x" * 62))


def test_columns_given_as_one_name_and_scope_columns():
    assert s.parse_scope("station = 'FRA'", "station") == "(\"station\" = 'FRA')"
    assert s.scope_columns("station = 'FRA' AND qty > price", COLS) == {"station", "qty", "price"}
    assert s.scope_columns(None, COLS) == set() and s.scope_columns("  ", COLS) == set()
    assert s.parse_scope(None, COLS) is None and s.parse_scope(" \n\t", COLS) is None
    with pytest.raises(InvalidParameter, match="^scope: must be text$"):
        s.parse_scope(5, COLS)


def test_kinds_of_case_and_coalesce():
    # boolean branches (or NULL) make a predicate; value branches do not
    assert s.parse_scope("CASE WHEN qty > 1 THEN flag ELSE NULL END", COLS).startswith("(CASE WHEN")
    assert s.parse_scope("coalesce(flag, true)", COLS) == '(coalesce("flag", TRUE))'
    assert s.parse_scope("CASE WHEN qty > 1 THEN true ELSE false END", COLS) == \
        '(CASE WHEN "qty" > 1 THEN TRUE ELSE FALSE END)'
    assert refused("coalesce(NULL, NULL)").endswith("got a value expression")
    assert refused("CASE WHEN qty > 1 THEN 1 ELSE flag END").endswith("got a value expression")
    assert refused("coalesce(qty, 1)").endswith("got a value expression")
    assert s._merge_kinds(["boolean", "null"]) == "boolean"
    assert s._merge_kinds(["any", "null"]) == "any"
    assert s._merge_kinds(["null", "null"]) == "value"
    assert s._merge_kinds(["boolean", "any"]) == "any"
    assert s._merge_kinds(["boolean", "value"]) == "value"


def test_intervals():
    assert s.parse_scope("iv > INTERVAL '2' HOUR", COLS) == "(\"iv\" > INTERVAL '2 hour')"
    assert s.parse_scope("iv > INTERVAL ' 3 days '", COLS) == "(\"iv\" > INTERVAL '3 days')"


def test_helpers():
    assert s._short("abc") == "abc" and s._short("x" * 60) == "x" * 60
    assert s._short("x" * 61) == "x" * 59 + "…"
    assert s._short("a\nb\x00", 10) == "a?b?"
    assert s._short(12345, 4) == "123…"
    assert s._quote_ident('a"b') == '"a""b"'
    for bad in ("", "a\x00"):
        with pytest.raises(InvalidParameter, match="^scope: invalid identifier$"):
            s._quote_ident(bad)
    assert s._fold("StAtIoN") == "station" and s._fold("É") == "É"      # ASCII letters only


@pytest.mark.parametrize("name", ["now", "current_setting", "version", "pg_backend_pid", "clock_timestamp",
                                  "statement_timestamp", "transaction_timestamp", "timeofday", "random"])
def test_session_dependent_functions_say_why(name):
    assert refused("%s() IS NULL" % name, InsufficientPrivilege) == (
        "scope: function %s() %s; allowed functions: %s)" % (name, SESSION[:-1], FUNCS))


def test_nesting_limits_are_inclusive():
    assert s.parse_scope("(" * 32 + "flag" + ")" * 32, COLS) == '("flag")'
    nested = "qty = " + "CASE WHEN flag THEN " * 32 + "1" + " END" * 32
    assert s.parse_scope(nested, COLS).count("CASE WHEN") == 32
    assert s.parse_scope("qty = " + "- " * 32 + "1", COLS).count("-") == 32
    assert s.parse_scope("NOT " * 32 + "flag", COLS).count("NOT") == 32
    # parentheses that close again do not add up
    assert s.parse_scope(" AND ".join(["(" * 20 + "flag" + ")" * 20] * 3), COLS) == '("flag" AND "flag" AND "flag")'
    seq = " AND ".join(["CASE WHEN flag THEN true END"] * 40)
    assert s.parse_scope(seq, COLS).count("CASE") == 40
