"""Bounded cost of a buyer's input (issue 10, item 7).

A scope of ~95 terms like ``((1e65000/9+id)*(1e65000/9+id)>0)`` used to cost seconds per
row. Now (1) every buyer input is bounded in size — numbers, strings, IN lists, arithmetic
in a scope; the payload, preferences and columns of a call — and (2) buyer-driven work
(quotes, explanations, measures, bids) runs under ``buyer_time_limit``: the operator's
setting in nyop.settings (default 10 s), which a session may only lower. See docs/limits.md.
"""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest
from psycopg import conninfo

from nyop_pg import paper
from nyop_server import limits
from nyop_server import scope as scope_mod
from nyop_server.errors import InvalidParameter
from nyop_server.scope import parse_scope

PREFS = '{"completeness": 1}'
PAPER_PREFS = json.dumps(paper.PAPER_BID["preferences"])
ROWS = 200_000
LIMIT_MS = 500
#: A legal scope that is slow on purpose: 16 multiplications of 77-digit numerics per row
#: (tens of µs a row: seconds over ROWS rows, far beyond LIMIT_MS).
FACTOR = "(id + 1.2345678901234567890123456789012345678e38 + 1.2345678901234567890123456789012345678e-38)"
SLOW_SCOPE = " * ".join([FACTOR] * scope_mod.MAX_MULTIPLICATIONS) + " > 0"
#: The issue's scope: ~95 terms, under the token limit.
ISSUE_SCOPE = " AND ".join(["((1e65000/9+id)*(1e65000/9+id)>0)"] * 95)
#: How late a cancel may come (CI machines are slow; without the limit SLOW_SCOPE takes seconds).
SLACK = 1.5


class Env:
    """One database for the module: a big offering, the paper's offerings, a buyer."""

    def __init__(self, server):
        self.server = server
        self.dbname = "nyop_limits_" + uuid.uuid4().hex[:10]
        self.buyer = "lim_buyer_" + uuid.uuid4().hex[:8]
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.dbname}"')
            admin.execute(f"CREATE ROLE \"{self.buyer}\" LOGIN PASSWORD 'nyop-test'")
        self.op = psycopg.connect(server.dsn_for(self.dbname), autocommit=True)
        op = self.op
        op.execute("CREATE EXTENSION nyop CASCADE")
        op.execute(f"CREATE TABLE big AS SELECT g AS id, g % 97 AS v FROM generate_series(1, {ROWS}) g")
        op.execute("ALTER TABLE big ADD PRIMARY KEY (id)")
        op.execute("ANALYZE big")
        op.execute("SELECT nyop_register_offering('big', 'big', 100, ARRAY['id'])")
        op.execute("SELECT nyop_set_criterion('big', 'completeness', 1)")
        paper.load(op)
        op.execute(f"SELECT nyop_add_buyer('\"{self.buyer}\"')")
        params = conninfo.conninfo_to_dict(server.dsn_for(self.dbname, user=self.buyer))
        params["password"] = "nyop-test"
        self.buyer_dsn = conninfo.make_conninfo(**params)
        self.set_limit(LIMIT_MS)

    def set_limit(self, value):
        """The operator's buyer_time_limit (a jsonb value); None removes it (the default)."""
        if value is None:
            self.op.execute("DELETE FROM nyop.settings WHERE key = 'buyer_time_limit'")
        else:
            self.op.execute("INSERT INTO nyop.settings VALUES ('buyer_time_limit', %s::jsonb) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (json.dumps(value),))

    def connect(self):
        conn = psycopg.connect(self.buyer_dsn, autocommit=True)
        conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
        conn.execute("SET statement_timeout = '30s'")    # without nyop's limits the tests fail, not hang
        # warm: modules (sqlglot too) loaded, plans made
        conn.execute("SELECT nyop_quote('paper_a', 1000, %s, scope => %s)", (PAPER_PREFS, "station = 'FRA'"))
        return conn

    def close(self):
        self.op.close()
        with psycopg.connect(self.server.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{self.buyer}"')


@pytest.fixture(scope="module")
def env(server):
    e = Env(server)
    try:
        yield e
    finally:
        e.close()


@pytest.fixture
def buyer(env):
    """A warm connection as the buyer; the operator's limit is LIMIT_MS again afterwards."""
    conn = env.connect()
    try:
        yield conn
    finally:
        conn.close()
        env.set_limit(LIMIT_MS)


def timed(conn, sql, params=None):
    """(seconds, result or the psycopg error)."""
    t = time.monotonic()
    try:
        out = conn.execute(sql, params).fetchone()
    except psycopg.Error as e:
        out = e
    return time.monotonic() - t, out


def slow_quote(conn, fn="nyop_quote"):
    if fn == "nyop_quality":
        return timed(conn, "SELECT nyop_quality('big', %s)", (SLOW_SCOPE,))
    return timed(conn, f"SELECT {fn}('big', 50, %s, scope => %s)", (PREFS, SLOW_SCOPE))


def assert_cancelled(elapsed, out, limit_ms=LIMIT_MS, ours=True):
    assert isinstance(out, psycopg.errors.QueryCanceled), out
    assert out.sqlstate == "57014"
    assert "statement timeout" in str(out)
    if ours:
        assert "buyer_time_limit" in (out.diag.message_hint or "")
    else:           # the caller's own statement_timeout, not nyop's limit
        assert out.diag.message_hint is None
    assert elapsed < limit_ms / 1000 + SLACK, elapsed
    assert elapsed >= limit_ms / 1000 * 0.9, elapsed


# -- the pathological scope -------------------------------------------------------------------

def test_issue_scope_is_refused_at_once(buyer):
    assert len(ISSUE_SCOPE) <= scope_mod.MAX_SCOPE_LENGTH
    elapsed, out = timed(buyer, "SELECT nyop_quote('big', 50, %s, scope => %s)", (PREFS, ISSUE_SCOPE))
    assert isinstance(out, psycopg.errors.InvalidParameterValue), out
    assert "1e65000 is out of range" in str(out) and "between -38 and 38" in str(out)
    assert elapsed < 1.0


@pytest.mark.parametrize("scope", [
    "((1e65000/9+id)*(1e65000/9+id)>0)",
    "(('1e65000'::numeric/9+id)*('1e65000'::numeric/9+id)>0)",       # a string read as a number
    "id = ' 1E+65000 '",
    "id = 1" + "0" * 40,                                             # 41 digits
    "round(id::numeric, 2000) / 3 > 0",                             # 2000 decimals per row
    "CAST(id AS numeric(1000, 999)) / 3 > 0",
])
def test_costly_literals_are_refused_by_quotes_and_bids(buyer, scope):
    for sql, params in (("SELECT nyop_quote('big', 50, %s, scope => %s)", (PREFS, scope)),
                        ("SELECT nyop_quality('big', %s)", (scope,)),
                        ("INSERT INTO nyop.bids (offering, bid, preferences, scope) VALUES ('big', 50, %s, %s)",
                         (PREFS, scope))):
        elapsed, out = timed(buyer, sql, params)
        assert isinstance(out, psycopg.errors.InvalidParameterValue), (sql, out)
        assert str(out).startswith("scope: ")
        assert "at most" in str(out) or "between" in str(out)
        assert elapsed < 1.0


# -- the time limit ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["nyop_quote", "nyop_explain", "nyop_quality"])
def test_slow_quote_ends_with_57014_within_the_limit(buyer, fn):
    assert_cancelled(*slow_quote(buyer, fn))


def test_slow_scope_is_slow_without_the_limit(env, buyer):
    """The scope the time-limit tests use would run well past LIMIT_MS + SLACK without it."""
    env.set_limit(0)
    buyer.execute("SET statement_timeout = '2500ms'")
    assert_cancelled(*slow_quote(buyer), limit_ms=2500, ours=False)


def test_slow_bid_ends_with_57014_and_leaves_nothing(env, buyer):
    n = env.op.execute("SELECT count(*) FROM nyop.bids").fetchone()[0]
    elapsed, out = timed(buyer, "INSERT INTO nyop.bids (offering, bid, preferences, scope) "
                                "VALUES ('big', 50, %s, %s) RETURNING status", (PREFS, SLOW_SCOPE))
    assert_cancelled(elapsed, out)
    assert env.op.execute("SELECT count(*) FROM nyop.bids").fetchone()[0] == n


@pytest.mark.parametrize("value", ["1h", "0", "3600000", "1d"])
def test_buyer_cannot_lift_the_limit(env, buyer, value):
    buyer.execute(f"SET nyop.buyer_time_limit = '{value}'")
    buyer.execute("SET statement_timeout = 0")
    assert_cancelled(*slow_quote(buyer))
    # and the operator's setting is out of reach
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        buyer.execute("UPDATE nyop.settings SET value = '0' WHERE key = 'buyer_time_limit'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        buyer.execute("INSERT INTO nyop.settings VALUES ('buyer_time_limit', '0')")


def test_session_may_lower_the_limit(env, buyer):
    buyer.execute("SET nyop.buyer_time_limit = '100ms'")
    assert_cancelled(*slow_quote(buyer), limit_ms=100)
    env.set_limit(0)          # the operator switched it off: a session may still set one
    assert_cancelled(*slow_quote(buyer), limit_ms=100)


def test_operator_setting_forms(env, buyer):
    env.set_limit("0.25s")
    assert_cancelled(*slow_quote(buyer), limit_ms=250)
    env.set_limit(200)
    assert_cancelled(*slow_quote(buyer), limit_ms=200)


def test_limit_does_not_leak_to_the_rest_of_the_statement_or_the_next(buyer):
    # a quote within the limit: the rest of its statement is not limited by it
    elapsed, out = timed(buyer, "SELECT nyop_quote('paper_a', 1000, %s), pg_sleep(%s)", (PAPER_PREFS, 0.6))
    assert not isinstance(out, Exception), out
    assert out[0]["accepted"] and elapsed >= 0.6
    # after a cancelled quote: the next statement, and the next in a transaction block
    assert_cancelled(*slow_quote(buyer))
    elapsed, out = timed(buyer, "SELECT pg_sleep(0.6)")
    assert not isinstance(out, Exception), out
    with buyer.transaction():
        buyer.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PAPER_PREFS,))
        buyer.execute("SELECT pg_sleep(0.6)")
    # several statements in one simple-protocol query string
    buyer.execute(f"SELECT nyop_quote('paper_a', 1000, '{PAPER_PREFS}'); SELECT pg_sleep(0.6)")


def test_a_cancelled_quote_can_be_caught_and_the_statement_goes_on(buyer):
    t = time.monotonic()
    buyer.execute("""DO $$
        BEGIN
            PERFORM nyop_quote('big', 50, '{"completeness": 1}', scope => %s);
            RAISE 'not cancelled';
        EXCEPTION WHEN query_canceled THEN
            PERFORM pg_sleep(0.6);     -- not cancelled: the limit covered the call only
        END $$""".replace("%s", "'" + SLOW_SCOPE + "'"))
    assert time.monotonic() - t >= 0.6 + LIMIT_MS / 1000 * 0.9


def test_callers_own_timeout_is_kept_and_only_shortened(buyer):
    buyer.execute("SET statement_timeout = '1500ms'")
    # longer than ours: ours applies to the call, the caller's is given back for the rest
    elapsed, out = timed(buyer, "SELECT nyop_quote('paper_a', 1000, %s), pg_sleep(3)", (PAPER_PREFS,))
    assert_cancelled(elapsed, out, limit_ms=1500, ours=False)
    # shorter than ours: never lengthened
    buyer.execute("SET statement_timeout = '100ms'")
    assert_cancelled(*slow_quote(buyer), limit_ms=100, ours=False)


def test_normal_quotes_are_unaffected(env, buyer):
    q = buyer.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PAPER_PREFS,)).fetchone()[0]
    scoped = buyer.execute("SELECT nyop_quote('paper_a', 1000, %s, scope => 'station = ''FRA''')",
                           (PAPER_PREFS,)).fetchone()[0]
    assert q["accepted"] and q["utility"] == pytest.approx(9.15)
    assert scoped["quality"]["rows"] < q["quality"]["rows"]
    big = buyer.execute("SELECT nyop_quote('big', 50, %s, scope => %s)",
                        (PREFS, "id BETWEEN 1000 AND 2000 AND id % 7 = 3")).fetchone()[0]
    assert big["quality"]["rows"] == sum(1 for i in range(1000, 2001) if i % 7 == 3)
    env.set_limit(0)
    unlimited = buyer.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PAPER_PREFS,)).fetchone()[0]
    assert (unlimited["levels"], unlimited["utility"]) == (q["levels"], q["utility"])
    view = buyer.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s) "
                         "RETURNING view::text", (PAPER_PREFS,)).fetchone()[0]
    assert view


def test_invalid_settings_say_which(env, buyer):
    buyer.execute("SET nyop.buyer_time_limit = 'soon'")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="nyop.buyer_time_limit must be a duration"):
        buyer.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PAPER_PREFS,))
    buyer.execute("RESET nyop.buyer_time_limit")
    env.set_limit("-5s")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="nyop.settings buyer_time_limit"):
        buyer.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PAPER_PREFS,))


def test_operator_handlers_are_not_limited(env):
    env.op.execute("CREATE TABLE big2 AS SELECT * FROM big")
    env.set_limit(1)         # 1 ms: registration and criteria are the operator's, not a buyer's
    try:
        env.op.execute("SELECT nyop_register_offering('big2', 'big2', 100, ARRAY['id'])")
        env.op.execute("SELECT nyop_set_criterion('big2', 'completeness', 1)")
    finally:
        env.set_limit(LIMIT_MS)


# -- bounded sizes of a call's other inputs ---------------------------------------------------

@pytest.mark.parametrize("sql,params,fragment", [
    ("SELECT nyop_quote('big', 50, %s)", (json.dumps({f"c{i}": 1 for i in range(65)}),), "too many criteria"),
    ("SELECT nyop_quote('big', 50, %s)", (json.dumps({"x" * 64: 1}),), "criterion names have at most 63"),
    ("SELECT nyop_quote('big', 50, %s)", ("[" * 5000 + "]" * 5000,), "nested too deeply"),
    ("SELECT nyop_quote('big', 50, %s)", ('{"completeness": 1' + "0" * 400 + "}",), "number in the input is too long"),
    ("SELECT nyop_quote('big', 1e130000, %s)", (PREFS,), "number in the input is too long"),
    ("SELECT nyop_quote('big', 50, %s, columns => %s)", (PREFS, ["id"] * 1601), "too many columns"),
    ("SELECT nyop_quote('big', 50, %s, scope => %s)", (PREFS, "x" * 300_000), "input too large"),
    ("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('big', 50, %s)",
     ("[" * 5000 + "]" * 5000,), "nested too deeply"),
    ("INSERT INTO nyop.bids (offering, bid, preferences, columns) VALUES ('big', 50, %s, %s)",
     (PREFS, ["id"] * 1601), "too many columns"),
])
def test_call_inputs_are_bounded(buyer, sql, params, fragment):
    elapsed, out = timed(buyer, sql, params)
    assert isinstance(out, psycopg.errors.InvalidParameterValue), out
    assert fragment in str(out)
    assert "Traceback" not in str(out) and "RecursionError" not in str(out)
    assert elapsed < 1.0


# -- the pieces, without a server -------------------------------------------------------------

@pytest.mark.parametrize("text,ok", [
    ("id > 1.5e38", True), ("id > 1.5e39", False), ("id > 1e-38", True), ("id > 1e-39", False),
    ("id > 0.5e-38", False), ("id = 0.000", True), ("id = 0e99999", False),
    ("id = " + "9" * 38, True), ("id = " + "9" * 39, False), ("id = " + "0" * 50 + "7", True),
    ("id = 1." + "0" * 37, True), ("id = 1." + "0" * 38, False),
    ("id = '1e38'", True), ("id = '1e39'", False), ("id = '1_0e6_5000'", False), ("name = '1e9999x'", True),
    ("name = '" + "x" * 1000 + "'", True), ("name = '" + "x" * 1001 + "'", False),
    ("id IN (" + ", ".join(map(str, range(500))) + ")", True),
    ("id IN (" + ", ".join(map(str, range(501))) + ")", False),
    (" AND ".join(["id * 2 > 1"] * 16), True), (" AND ".join(["id * 2 > 1"] * 17), False),
    (" AND ".join(["id % 2 = 1"] * 9 + ["id / 2 > 1"] * 8), False),
    ("round(id, 38) > 1", True), ("round(id, -38) > 1", True), ("round(id, 39) > 1", False),
    ("round(id, id) > 1", False), ("CAST(id AS numeric(38, 38)) > 1", True),
    ("CAST(id AS numeric(39)) > 1", False), ("CAST(name AS varchar(1000)) = name", True),
    ("CAST(name AS char(1001)) = name", False),
])
def test_scope_bounds(text, ok):
    if ok:
        assert parse_scope(text, ["id", "name"])
    else:
        with pytest.raises(InvalidParameter) as info:
            parse_scope(text, ["id", "name"])
        assert info.value.sqlstate == "22023"
        assert "at most" in info.value.message or "between" in info.value.message


@pytest.mark.parametrize("raw,ms", [
    (None, None), ("", None), ("0", 0), (0, 0), ("250", 250), (250, 250), (1.5, 1), ("10s", 10_000),
    ("10 s", 10_000), ("2min", 120_000), ("1.5h", 5_400_000), ("500ms", 500), ("100us", 1),
    ("30d", limits.MAX_TIME_LIMIT_MS),
])
def test_parse_duration(raw, ms):
    assert limits.parse_duration(raw, "x") == ms


@pytest.mark.parametrize("raw", ["soon", "-1", -1, "10 sec", "1e3", True, [1], {"ms": 1}, "10S"])
def test_parse_duration_refuses(raw):
    with pytest.raises(InvalidParameter):
        limits.parse_duration(raw, "x")


@pytest.mark.parametrize("operator,session,ms", [
    (None, None, limits.DEFAULT_TIME_LIMIT_MS), (None, "1h", limits.DEFAULT_TIME_LIMIT_MS),
    (None, "0", limits.DEFAULT_TIME_LIMIT_MS), (None, "2s", 2000), ("30s", "1min", 30_000),
    ("30s", "", 30_000), (0, None, 0), (0, "5s", 5000), ("1min", "5s", 5000),
])
def test_effective_limit_only_lowers(operator, session, ms):
    assert limits.effective_limit(operator, session) == ms
    assert limits.DEFAULT_TIME_LIMIT_MS == 10_000
