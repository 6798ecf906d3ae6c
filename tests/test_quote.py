"""nyop_quote and nyop_solve_mckp through SQL: the paper's example (issue 3)."""

import json

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
GREEDY_RESIDUALS = [952.93, 934.93, 909.73, 891.73, 859.33, 819.73, 789.73, 742.93, 688.93, 646.93,
                    585.73, 517.33, 463.33, 383.33, 317.33, 239.33, 149.33, 47.33]


def quote(conn, offering="paper_a", bid=1000, prefs=PREFS, **kw):
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    sql = f"SELECT nyop_quote(%(o)s, %(b)s::numeric, %(p)s::jsonb{', ' + args if args else ''})"
    return one(conn, sql, {"o": offering, "b": bid, "p": prefs, **kw})


def test_paper_exact(paper_db):
    q = quote(paper_db)
    assert q["accepted"] and not q["full_quality"] and q["solver"] == "exact" and q["optimal"]
    assert q["utility"] == pytest.approx(9.15)
    assert q["cost"] == pytest.approx(984.00)
    assert q["residual"] == pytest.approx(16.00)
    lv = q["levels"]
    assert lv["timeliness"]["level"] == 8 and lv["timeliness"]["score"] == pytest.approx(0.64)
    assert lv["timeliness"]["utility"] == pytest.approx(2.8) and lv["timeliness"]["price"] == pytest.approx(384)
    assert lv["amount_of_data"]["level"] == 10 and lv["amount_of_data"]["price"] == pytest.approx(360)
    cs = lv["customer_support"]
    assert (cs["level"], cs["tier"], cs["terms"]) == (9, 3, "Phone and e-mail 24/7")
    assert cs["utility"] == pytest.approx(1.35) and cs["price"] == pytest.approx(240)
    assert q["delay"] == "08:38:24"
    assert q["columns"] == ["station", "airpressure", "humidity", "temperature", "date", "lastupdated"]
    assert q["completeness_target"] == 1.0


def test_paper_greedy_reproduces_table5(paper_db):
    q = quote(paper_db, solver="greedy")
    assert [round(s["residual"], 2) for s in q["trace"]] == GREEDY_RESIDUALS
    lv = q["levels"]
    assert (lv["timeliness"]["level"], lv["amount_of_data"]["level"], lv["customer_support"]["tier"]) == (9, 10, 2)
    assert q["utility"] == pytest.approx(9.05)
    assert q["residual"] == pytest.approx(47.33, abs=0.005)
    assert q["cost"] == pytest.approx(952.67, abs=0.005)
    assert q["delay"] == "04:33:36"       # (1 − 0.81) · 24 h = 4.56 h


def test_group_picks_b(paper_db):
    q = quote(paper_db, "weather", prefs=json.dumps(
        {"completeness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}))
    assert q["offering"] == "wb" and q["accepted"]
    assert q["levels"]["completeness"]["level"] <= 9          # B reaches completeness level 9 only
    assert [a["offering"] for a in q["alternatives"]] == ["wa"]
    assert q["alternatives"][0]["utility"] < q["utility"]
    # A alone in the group is capped at amount-of-data level 8
    qa = quote(paper_db, "wa", prefs=json.dumps({"amount_of_data": 1}))
    assert qa["levels"]["amount_of_data"]["level"] == 8


def test_full_quality_at_or_above_reserve(paper_db):
    q = quote(paper_db, bid=1200)
    assert q["accepted"] and q["full_quality"] and q["bid"] == 1200
    assert {k: v["level"] for k, v in q["levels"].items()} == {
        "timeliness": 10, "amount_of_data": 10, "customer_support": 9}
    assert q["delay"] == "00:00:00"


def test_hidden_reserve(paper_db):
    paper_db.execute("SELECT nyop_register_offering('paper_r', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours', reserve_price => 1000)")
    paper_db.execute("SELECT nyop_set_criterion('paper_r', 'timeliness', 1)")
    assert quote(paper_db, "paper_r", bid=1000, prefs='{"timeliness": 1}')["full_quality"]
    assert not quote(paper_db, "paper_r", bid=999, prefs='{"timeliness": 1}')["full_quality"]


def test_rejected_bid_names_minimum(paper_db):
    q = quote(paper_db, bid=20)
    assert q["accepted"] is False and "reason" in q
    assert q["minimum_bid"] == pytest.approx(6 + 3.6 + 240 / 9)
    assert quote(paper_db, bid=q["minimum_bid"] + 0.01)["accepted"]


def test_columns_and_scope(paper_db):
    q = quote(paper_db, columns=["temperature", "humidity"], scope="station = 'FRA'")
    assert q["columns"][:2] == ["temperature", "humidity"]
    assert q["quality"]["rows"] == 3


@pytest.mark.parametrize("bid, prefs, kw, sqlstate", [
    (-1, PREFS, {}, "22023"),
    (0, PREFS, {}, "22023"),
    ("NaN", PREFS, {}, "22023"),
    ("Infinity", PREFS, {}, "22023"),
    ("-Infinity", PREFS, {}, "22023"),
    (1000, '{"nope": 1}', {}, "22023"),
    (1000, '{"timeliness": -1}', {}, "22023"),
    (1000, '{"timeliness": 0, "amount_of_data": 0}', {}, "22023"),
    (1000, '{"timeliness": "a lot"}', {}, "22023"),
    (1000, '[0.35, 0.5]', {}, "22023"),
    (1000, '{}', {}, "22023"),
    (1000, PREFS, {"solver": "magic"}, "22023"),
    (1000, PREFS, {"columns": ["ctid"]}, "42703"),
    (1000, PREFS, {"columns": ["date", "date"]}, "22023"),
    (1000, PREFS, {"scope": "pg_sleep(1) IS NULL"}, "42501"),
])
def test_bad_quote_input(paper_db, bid, prefs, kw, sqlstate):
    with pytest.raises(psycopg.Error) as e:
        quote(paper_db, bid=bid, prefs=prefs, **kw)
    assert e.value.sqlstate == sqlstate, str(e.value)
    assert "Traceback" not in str(e.value)


def test_unknown_offering(paper_db):
    with pytest.raises(psycopg.errors.UndefinedObject):
        quote(paper_db, "nope")


def test_solve_mckp_sql(paper_db):
    r = one(paper_db, "SELECT nyop_solve_mckp(ARRAY[[1,2,3],[1,2,4]]::float8[], "
                      "ARRAY[[1,3,4],[1,2,6]]::float8[], 6)")
    assert r["choice"] == [2, 3] and r["profit"] == 9 and r["optimal"] and r["gap"] == 0
    r = one(paper_db, "SELECT nyop_solve_mckp(ARRAY[[1,2,3],[1,2,4]]::float8[], "
                      "ARRAY[[1,3,4],[1,2,6]]::float8[], 6, 'greedy')")
    assert r["profit"] <= 9


@pytest.mark.parametrize("w, p, c, sqlstate", [
    ("ARRAY[[1,2]]", "ARRAY[[1,2],[3,4]]", "5", "2202E"),
    ("ARRAY[1,2]", "ARRAY[1,2]", "5", "2202E"),
    ("ARRAY[[1,'NaN']]", "ARRAY[[1,2]]", "5", "22023"),
    ("ARRAY[[1,2]]", "ARRAY[[1,2]]", "'Infinity'", "22023"),
    ("ARRAY[[-1,2]]", "ARRAY[[1,2]]", "5", "22023"),
    ("ARRAY[[3,4]]", "ARRAY[[1,2]]", "2", "22023"),
    ("ARRAY[[1,2]]", "ARRAY[[1,2]]", "-1", "22023"),
    ("'{}'", "'{}'", "1", "2202E"),
])
def test_solve_mckp_bad_input(paper_db, w, p, c, sqlstate):
    with pytest.raises(psycopg.Error) as e:
        paper_db.execute(f"SELECT nyop_solve_mckp({w}::float8[], {p}::float8[], {c})")
    assert e.value.sqlstate == sqlstate, str(e.value)
