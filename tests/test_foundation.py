"""The installable extension, registration and in-database quality measures (issue 2)."""

import psycopg
import pytest

from conftest import one
from nyop_pg import EXTENSION_VERSION, paper


def test_create_and_drop_extension_leaves_nothing(db):
    db.execute("DROP EXTENSION nyop")
    assert one(db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'nyop'") == 0
    assert one(db, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'nyop%'") == 0
    db.execute("CREATE EXTENSION nyop CASCADE")
    assert one(db, "SELECT extversion FROM pg_extension WHERE extname = 'nyop'") == EXTENSION_VERSION


def test_paper_quality_b_completeness(paper_db):
    q = one(paper_db, "SELECT nyop_quality('wb')")
    assert q["completeness"] == pytest.approx(39 / 48) == 0.8125
    assert q["rows"] == 6 and q["cells"] == 48
    assert q["amount_of_data"] == pytest.approx(1.0)


def test_paper_quality_a_amount_in_group(paper_db):
    q = one(paper_db, "SELECT nyop_quality('wa')")
    assert q["amount_of_data"] == pytest.approx(2 / 3)
    assert q["completeness"] == pytest.approx(1.0)
    # alone, A is its own reference
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["amount_of_data"] == pytest.approx(1.0)


def test_timeliness_at_frozen_now(paper_db):
    # LU 14:00, 15:00, 16:00 (twice each), now 17:00, v = 24 h: mean of 1 - age/24
    expected = sum(1 - h / 24 for h in (3, 2, 1, 3, 2, 1)) / 6
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == pytest.approx(expected)
    paper_db.execute("SET nyop.now = '2017-05-08 15:00+00'")   # ages 25, 24, 23 h
    expected = sum(max(0, 1 - h / 24) for h in (25, 24, 23, 25, 24, 23)) / 6
    assert one(paper_db, "SELECT nyop_quality('paper_a')")["timeliness"] == pytest.approx(expected)


def test_scoped_quality(paper_db):
    q = one(paper_db, "SELECT nyop_quality('wb', $$station IN ('FRA', 'LHR')$$)")
    # rows 1-4 of Table 2: nulls 1 + 2 + 3 + 1 = 7 of 32 cells
    assert q["rows"] == 4 and q["cells"] == 32
    assert q["completeness"] == pytest.approx(25 / 32)
    q = one(paper_db, "SELECT nyop_quality('wb', 'station = ''AMS'' AND date = ''2017-05-09''')")
    assert q["rows"] == 1 and q["completeness"] == 1.0


@pytest.mark.parametrize("scope, sqlstate", [
    ("1=1; DROP TABLE weather_b", None),
    ("station = (SELECT rolname FROM pg_authid LIMIT 1)", "42501"),
    ("pg_read_file('/etc/passwd') IS NOT NULL", "42501"),
    ("pg_sleep(10) IS NULL", "42501"),
    ("station = 'FRA' -- AND 1=0", None),
    ("nosuchcolumn = 1", "42703"),
    ("weather_a.station = 'FRA'", "42501"),
])
def test_hostile_scope_refused(paper_db, scope, sqlstate):
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute("SELECT nyop_quality('wb', %s)", (scope,))
    assert e.value.sqlstate in ({sqlstate} if sqlstate else {"42501", "22023"})
    assert "Traceback" not in str(e.value)
    assert one(paper_db, "SELECT count(*) FROM weather_b") == 6


@pytest.mark.parametrize("call, sqlstate", [
    ("nyop_register_offering('x', 'weather_a', 0, ARRAY['station'])", "22023"),
    ("nyop_register_offering('x', 'weather_a', -5, ARRAY['station'])", "22023"),
    ("nyop_register_offering('x', 'weather_a', 'NaN', ARRAY['station'])", "22023"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], reserve_price => 200)", "22023"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['nope'])", "42703"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY[]::text[])", "22023"),
    ("nyop_register_offering('x', 'no_such_table', 100, ARRAY['station'])", "42P01"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], last_updated => 'nope', volatility => '1 day')", "42703"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], last_updated => 'humidity', volatility => '1 day')", "42804"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], last_updated => 'lastupdated')", "22023"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], last_updated => 'lastupdated', volatility => '-1 day')", "22023"),
    ("nyop_register_offering('x''; DROP TABLE weather_a; --', 'weather_a', 100, ARRAY['station'])", "22023"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], utility => 'cubic')", "22023"),
    ("nyop_register_offering('x', 'weather_a', 100, ARRAY['station'], levels => 0)", "22023"),
    ("nyop_set_criterion('paper_a', 'timeliness', -1)", "22023"),
    ("nyop_set_criterion('paper_a', 'customer_support', 1)", "22023"),
    ("nyop_set_criterion('paper_a', 'completeness', 1, min_level => -1)", "22023"),
    ("nyop_set_criterion('paper_a', 'completeness', 1, min_level => 11)", "22023"),
    ("nyop_set_criterion('paper_a', 'completeness', 1, pricing => 'cheap')", "22023"),
    ("nyop_set_criterion('paper_a', 'completeness', 1, threshold => 1)", "22023"),
    ("nyop_set_criterion('nope', 'completeness', 1)", "42704"),
    ("nyop_set_criterion('paper_a', 'Bad Name', 1, tiers => ARRAY['x'])", "22023"),
])
def test_bad_registrations_refused_and_change_nothing(paper_db, call, sqlstate):
    before = paper_db.execute("SELECT * FROM nyop.offerings o NATURAL FULL JOIN nyop.criteria c "
                              "ORDER BY 1, c.criterion").fetchall()
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute(f"SELECT {call}")
    assert e.value.sqlstate == sqlstate, str(e.value)
    assert e.value.diag.message_primary
    assert "Traceback" not in str(e.value)
    after = paper_db.execute("SELECT * FROM nyop.offerings o NATURAL FULL JOIN nyop.criteria c "
                             "ORDER BY 1, c.criterion").fetchall()
    assert before == after
    assert one(paper_db, "SELECT count(*) FROM weather_a") == 6


def test_timeliness_needs_last_updated(db):
    paper.load(db, single=False, group=False)
    db.execute("SELECT nyop_register_offering('plain', 'weather_b', 100, ARRAY['station', 'date'])")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT nyop_set_criterion('plain', 'timeliness', 1)")
    assert e.value.sqlstate == "22023" and "last_updated" in str(e.value)


def test_reregister_replaces_and_drop_removes(paper_db):
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_b', 900, ARRAY['station', 'date'])")
    row = paper_db.execute("SELECT relation::text, ask_price, last_updated FROM nyop.offerings "
                           "WHERE name = 'paper_a'").fetchone()
    assert row == ("weather_b", 900, None)
    # criteria that still apply stay (issue 13: never on sale without them); timeliness needs lastupdated
    assert [r[0] for r in paper_db.execute("SELECT criterion FROM nyop.criteria WHERE offering = 'paper_a' "
                                           "ORDER BY ordinal")] == ["amount_of_data", "customer_support"]
    paper_db.execute("SELECT nyop_drop_offering('wa')")
    assert one(paper_db, "SELECT count(*) FROM nyop.offerings WHERE name = 'wa'") == 0
    assert one(paper_db, "SELECT count(*) FROM nyop.criteria WHERE offering = 'wa'") == 0
    assert one(paper_db, "SELECT count(*) FROM nyop.offering_secrets WHERE offering = 'wa'") == 0


def test_universal_relation_is_natural_full_outer_join(db):
    db.execute("""CREATE TABLE st (station text PRIMARY KEY, city text);
                  CREATE TABLE obs (station text, date date, temp int);
                  INSERT INTO st VALUES ('FRA', 'Frankfurt'), ('AMS', 'Amsterdam');
                  INSERT INTO obs VALUES ('FRA', '2017-05-08', 17), ('LHR', '2017-05-08', 16);""")
    assert one(db, "SELECT nyop_universal_relation('u_weather', ARRAY['st', 'obs']::regclass[])::text") == "u_weather"
    rows = db.execute("SELECT station, city, date, temp FROM u_weather ORDER BY station").fetchall()
    assert [r[0] for r in rows] == ["AMS", "FRA", "LHR"]        # no data lost
    assert rows[1][1:] == ("Frankfurt", __import__("datetime").date(2017, 5, 8), 17)
    db.execute("CREATE TABLE other (x int)")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT nyop_universal_relation('bad', ARRAY['st', 'other']::regclass[])")
    assert e.value.sqlstate == "22023"
