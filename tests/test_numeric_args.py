"""Every numeric parameter of the public functions accepts float8 and integer arguments
(issue 15, SPEC.md): Python floats (psycopg sends float8), ints (int2/int4/int8), Decimals
(numeric) and untyped literals all resolve to one function, with the same result."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])


def numeric_functions(conn) -> list:
    """(function, numeric argument positions) of every public nyop_* function taking numeric
    (oidvector subscripts start at 0, as Python's do)."""
    return conn.execute("""
        SELECT p.oid::regprocedure::text,
               array(SELECT i FROM generate_subscripts(p.proargtypes::oid[], 1) i
                      WHERE (p.proargtypes::oid[])[i] = 'numeric'::regtype)
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'nyop\\_%'
          AND 'numeric'::regtype = ANY (p.proargtypes::oid[])
        ORDER BY 1""").fetchall()


def test_every_numeric_function_has_a_float8_twin(db):
    funcs = numeric_functions(db)
    assert {f.split("(")[0] for f, _ in funcs} == {
        "nyop_register_offering", "nyop_set_criterion", "nyop_quote", "nyop_explain", "nyop_set_commission"}
    for f, positions in funcs:
        name, args = f.split("(", 1)
        parts = args.rstrip(")").split(",")
        for i in positions:
            parts[i] = "double precision"
        twin = f"{name}({','.join(parts)})"
        assert one(db, "SELECT to_regprocedure(%s) IS NOT NULL", (twin,)), twin


@pytest.mark.parametrize("bid", [1000, 1000.0, Decimal("1000"), "1000", 2 ** 40], ids=[
    "int", "float", "Decimal", "str", "int8"])
def test_quote_takes_any_number(paper_db, bid):
    q = one(paper_db, "SELECT nyop_quote('paper_a', %s, %s::jsonb)", (bid, PREFS))
    assert q["accepted"]
    if bid == 2 ** 40:
        assert q["full_quality"]
    else:
        assert q["utility"] == pytest.approx(9.15) and q["cost"] == pytest.approx(984)


def test_explain_takes_a_float(paper_db):
    e = one(paper_db, "SELECT nyop_explain('paper_a', %s, %s::jsonb)", (1000.0, PREFS))
    assert e["full_quality_bid"] == pytest.approx(1200)


def test_spec_example_float8_literal(paper_db):
    q = one(paper_db, "SELECT nyop_quote('paper_a', 1000.0::float8, %s)", (PREFS,))
    assert q["utility"] == pytest.approx(9.15)


def test_provider_functions_take_floats_and_ints(paper_db):
    db = paper_db
    db.execute("SELECT nyop_register_offering(%s, %s, %s, %s, reserve_price => %s)",
               ("fl", "weather_a", 1200.0, ["station", "date"], 999.5))
    db.execute("SELECT nyop_set_criterion(%s, %s, %s)", ("fl", "completeness", 0.5))
    db.execute("SELECT nyop_set_criterion(%s, %s, %s, threshold => %s, min_level => %s)",
               ("fl", "amount_of_data", 1, 0.25, 2))
    db.execute("SELECT nyop_register_offering(%s, %s, %s, %s, levels => %s)",
               ("it", "weather_a", 1200, ["station", "date"], 20))
    db.execute("SELECT nyop_set_criterion(%s, %s, %s)", ("it", "amount_of_data", Decimal("0.3")))
    assert db.execute("SELECT name, ask_price, reserve_price, levels FROM nyop.offerings "
                      "WHERE name IN ('fl', 'it') ORDER BY name").fetchall() == [
        ("fl", Decimal("1200.0"), Decimal("999.5"), 10), ("it", Decimal("1200.0"), Decimal("1200.0"), 20)]
    assert db.execute("SELECT criterion, provider_weight::float8, threshold::float8, min_level FROM nyop.criteria "
                      "WHERE offering = 'fl' ORDER BY ordinal").fetchall() == [
        ("completeness", 0.5, 0.0, 1), ("amount_of_data", 1.0, 0.25, 2)]
    db.execute("SELECT nyop_set_commission(%s)", (0.1,))
    assert one(db, "SELECT value FROM nyop.settings WHERE key = 'commission_rate'") == pytest.approx(0.1)
    db.execute("SELECT nyop_set_commission(%s)", (0,))


def test_float_refusals_are_the_numeric_ones(paper_db):
    for sql, args in [("SELECT nyop_quote('paper_a', %s, %s::jsonb)", (float("nan"), PREFS)),
                      ("SELECT nyop_quote('paper_a', %s, %s::jsonb)", (float("inf"), PREFS)),
                      ("SELECT nyop_set_commission(%s)", (1.5,)),
                      ("SELECT nyop_set_criterion('paper_a', 'timeliness', %s)", (float("nan"),))]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            paper_db.execute(sql, args)


def test_buyer_quotes_and_bids_with_floats(paper_db, buyer):
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    for bid in (1000, 1000.0, Decimal("1000")):
        q = one(conn, "SELECT nyop_quote(%s, %s, %s::jsonb)", ("paper_a", bid, PREFS))
        assert q["utility"] == pytest.approx(9.15)
    assert one(conn, "SELECT nyop_explain('paper_a', %s, %s::jsonb)", (1000.0, PREFS))["accepted"]
    status, bid = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                               "RETURNING status, bid", ("paper_a", 1000.0, PREFS)).fetchone()
    assert status == "accepted" and bid == 1000


def test_a_stranger_gets_no_rights_from_the_float8_twins(paper_db, make_role):
    _, dsn = make_role("stranger")
    db = paper_db
    db.execute("GRANT USAGE ON SCHEMA nyop TO PUBLIC")        # even then: the numeric function decides
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in ["SELECT nyop_quote('paper_a', 1000.0::float8, '{}')",
                        "SELECT nyop_explain('paper_a', 1000, '{}')",
                        "SELECT nyop_set_commission(0.5::float8)",
                        "SELECT nyop_register_offering('x', 'weather_a', 1, ARRAY['station'])",
                        "SELECT nyop_set_criterion('paper_a', 'timeliness', 1)"]:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
    finally:
        db.execute("REVOKE USAGE ON SCHEMA nyop FROM PUBLIC")
    assert one(db, "SELECT count(*) FROM nyop.offerings WHERE name = 'x'") == 0
