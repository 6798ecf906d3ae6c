"""nyop.market: what buyers (and providers) can browse (issue 15, SPEC.md): one row per
offering, descriptions from the provider's COMMENTs, columns with types, criteria with tiers,
quality as nyop_quality, the free preview -- and nothing an offering keeps to itself."""

from __future__ import annotations

import json

import psycopg
import pytest

from conftest import one
from nyop_pg import paper
from nyop_pg.playground import COMMENTS_SQL

SPEC_COLUMNS = ["offering", "description", "provider", "ask_price", "comparison_group", "columns", "criteria",
                "quality", "preview"]


def market(conn, offering=None) -> dict:
    cur = conn.execute("SELECT * FROM nyop.market" + (" WHERE offering = %s" if offering else "") + " ORDER BY 1",
                       (offering,) if offering else None)
    names = [d.name for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


def test_shape_per_spec(paper_db):
    cur = paper_db.execute("SELECT * FROM nyop.market LIMIT 0")
    assert [d.name for d in cur.description] == SPEC_COLUMNS
    types = dict(paper_db.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                  "WHERE attrelid = 'nyop.market'::regclass AND attnum > 0").fetchall())
    assert types["columns"] == types["criteria"] == types["quality"] == "jsonb"
    assert types["preview"] == "regclass" and types["ask_price"] == "numeric"
    assert one(paper_db, "SELECT count(*) FROM pg_description WHERE objoid = 'nyop.market'::regclass") == 1 + 9


def test_one_row_per_offering_with_comments(paper_db):
    paper_db.execute(COMMENTS_SQL)
    m = market(paper_db)
    assert sorted(m) == ["paper_a", "wa", "wb"]
    a = m["paper_a"]
    assert a["description"].startswith("Provider A: weather forecasts")
    assert a["provider"] == "postgres" and a["ask_price"] == 1200 and a["comparison_group"] is None
    assert m["wa"]["comparison_group"] == m["wb"]["comparison_group"] == "weather"
    cols = {c["name"]: c for c in a["columns"]}
    assert list(cols) == ["station", "airpressure", "humidity", "temperature", "date", "lastupdated"]
    assert cols["temperature"] == {"name": "temperature", "type": "integer", "comment": "Temperature, degrees Celsius",
                                   "key": False, "scope": False}
    assert cols["station"]["key"] and cols["station"]["scope"] and cols["station"]["type"] == "text"
    assert cols["lastupdated"]["scope"] and not cols["lastupdated"]["key"]
    assert cols["lastupdated"]["type"] == "timestamp with time zone"
    assert a["criteria"] == [
        {"criterion": "timeliness", "kind": "measured", "tiers": None},
        {"criterion": "amount_of_data", "kind": "measured", "tiers": None},
        {"criterion": "customer_support", "kind": "contractual",
         "tiers": ["E-mail, 48 h response", "Phone 9-5 and e-mail 24 h response", "Phone and e-mail 24/7"]}]
    assert a["quality"] == one(paper_db, "SELECT nyop_quality('paper_a')")
    assert m["wb"]["quality"]["completeness"] == pytest.approx(0.8125)
    assert a["preview"] is None


def test_nothing_kept_private_shows(paper_db):
    paper_db.execute("SELECT nyop_register_offering('secretive', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "reserve_price => 777.77)")
    paper_db.execute("SELECT nyop_set_criterion('secretive', 'amount_of_data', 0.123456)")
    row = json.dumps(market(paper_db, "secretive")["secretive"], default=str)
    assert "777.77" not in row and "0.123456" not in row and "reserve" not in row
    secret = one(paper_db, "SELECT secret FROM nyop.offering_secrets WHERE offering = 'secretive'")
    assert secret not in row


def test_preview_and_drop(paper_db, buyer):
    view = one(paper_db, "SELECT nyop_publish_preview('paper_a')::text")
    assert str(market(paper_db, "paper_a")["paper_a"]["preview"]) == view
    paper_db.execute("SELECT nyop_unpublish_preview('paper_a')")
    paper_db.execute("SELECT nyop_drop_offering('paper_a')")
    assert "paper_a" not in market(paper_db)


def test_quality_is_measured_only_when_asked(paper_db):
    plan = "\n".join(r[0] for r in paper_db.execute(
        "EXPLAIN VERBOSE SELECT offering, ask_price, description FROM nyop.market").fetchall())
    assert "nyop_quality" not in plan


def test_buyer_browses(paper_db, buyer):
    paper_db.execute(COMMENTS_SQL)
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    m = market(conn)
    assert sorted(m) == ["paper_a", "wa", "wb"]
    assert m["paper_a"]["description"].startswith("Provider A")
    assert m["paper_a"]["quality"]["rows"] == 6
    # what it reads is what it can quote
    assert one(conn, "SELECT nyop_quote(%s, %s, %s::jsonb)",
               ("paper_a", float(m["paper_a"]["ask_price"]), json.dumps(paper.PAPER_BID["preferences"])))["full_quality"]


def test_provider_browses(paper_db, make_role):
    name, dsn = make_role("provider")
    paper_db.execute(f'SELECT nyop_add_provider(\'"{name}"\')')
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert sorted(market(conn)) == ["paper_a", "wa", "wb"]


def test_strangers_see_nothing(paper_db, make_role):
    _, dsn = make_role("stranger")
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM nyop.market")


def test_removed_buyer_loses_the_market(paper_db, buyer):
    name, conn = buyer()
    assert market(conn)
    paper_db.execute(f'SELECT nyop_remove_buyer(\'"{name}"\')')
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM nyop.market")
