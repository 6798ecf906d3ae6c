"""``nyop-pg up``: a throwaway server for psql and BI tools; with ``--paper``, a ready playground.

The playground is the paper's example as a user would meet it: provider A and B's weather
tables (owned by the role ``weather_provider``, with descriptions as COMMENTs), the offerings
``paper_a``, ``wa`` and ``wb``, and a buyer ``airline`` that can log in with a password and has
already bought provider A's data with the paper's bid (its view ``nyop_views.paper_a_1``).
"now" is the paper's (``ALTER ROLE … SET nyop.now``) for the operator, so quotes reproduce the paper; the buyer's
"now" is the night after its purchase, so its delayed view shows rows; ``nyop_views`` is on the buyer's
search_path, so ``\\dv`` and BI tools list its view.
"""

from __future__ import annotations

import json
import secrets

import psycopg

from . import paper
from .install import install

DB = "nyop"
# The buyer's "now": the night after its purchase (bought at the paper's 17:00 with a delay of
# 8.64 h), so its view shows rows; the operator keeps the paper's "now".
BUYER_NOW = "2017-05-08 02:00+00"
BUYER = "airline"
PROVIDER = "weather_provider"

COMMENTS_SQL = """
COMMENT ON TABLE weather_a IS 'Provider A: weather forecasts for Frankfurt and London (the paper''s Table 1)';
COMMENT ON TABLE weather_b IS 'Provider B: weather forecasts for Frankfurt, London and Amsterdam (the paper''s Table 2)';
COMMENT ON COLUMN weather_a.station IS 'IATA code of the airport''s weather station';
COMMENT ON COLUMN weather_a.airpressure IS 'Air pressure at sea level, hPa';
COMMENT ON COLUMN weather_a.humidity IS 'Relative humidity, %';
COMMENT ON COLUMN weather_a.temperature IS 'Temperature, degrees Celsius';
COMMENT ON COLUMN weather_a.date IS 'The day forecast';
COMMENT ON COLUMN weather_a.lastupdated IS 'When the forecast was last updated';
COMMENT ON COLUMN weather_b.station IS 'IATA code of the airport''s weather station';
COMMENT ON COLUMN weather_b.windspeed IS 'Wind speed, km/h';
COMMENT ON COLUMN weather_b.cloudage IS 'Cloud cover, %';
COMMENT ON COLUMN weather_b.precipitation IS 'Probability of precipitation, %';
"""


def _ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def tcp_dsn(cluster, user: str, password: str, dbname: str = DB) -> str:
    return f"host=127.0.0.1 port={cluster.port} user={user} password={password} dbname={dbname}"


def load_paper(conn, buyer_password: str) -> None:
    """The example's tables, roles and offerings (as the operator, on ``conn``)."""
    conn.execute(paper.TABLES_SQL)
    conn.execute(COMMENTS_SQL)
    conn.execute(f"CREATE ROLE {_ident(PROVIDER)}")
    conn.execute(f"ALTER TABLE weather_a OWNER TO {_ident(PROVIDER)}")
    conn.execute(f"ALTER TABLE weather_b OWNER TO {_ident(PROVIDER)}")
    conn.execute(paper.SINGLE_SQL)
    conn.execute(paper.GROUP_SQL)
    conn.execute(f"CREATE ROLE {_ident(BUYER)} LOGIN PASSWORD {_literal(buyer_password)}")
    conn.execute("SELECT nyop_add_buyer(%s), nyop_add_provider(%s)", (BUYER, PROVIDER))
    conn.execute(f"ALTER ROLE postgres IN DATABASE {_ident(DB)} SET nyop.now = {_literal(paper.PAPER_NOW)}")
    conn.execute(f"ALTER ROLE {_ident(BUYER)} IN DATABASE {_ident(DB)} SET nyop.now = {_literal(BUYER_NOW)}")
    conn.execute(f"ALTER ROLE {_ident(BUYER)} IN DATABASE {_ident(DB)} "
                 f"SET search_path = \"$user\", public, nyop_views")


def buy(dsn: str) -> tuple:
    """The paper's bid, as the buyer (its role settings give it the paper's "now")."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT set_config('nyop.now', %s, false)", (paper.PAPER_NOW,))
        bid_id, status, view = conn.execute(
            "INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) RETURNING bid_id, status, view::oid",
            (paper.PAPER_BID["offering"], paper.PAPER_BID["bid"], json.dumps(paper.PAPER_BID["preferences"]))).fetchone()
        qualified = conn.execute("SELECT format('%%I.%%I', relnamespace::regnamespace, relname) FROM pg_class "
                                 "WHERE oid = %s", (view,)).fetchone()[0]
        return bid_id, status, qualified


def setup(cluster, password: str, with_paper: bool = False) -> list:
    """Create the database ``nyop`` with the extension (and, with ``paper``, the playground) on a
    started cluster whose superuser ``postgres`` has ``password``; returns the lines to print."""
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {_ident(DB)}")
    version = install(cluster.dsn_for(DB))
    operator = tcp_dsn(cluster, "postgres", password)
    if not with_paper:
        return [f"nyop {version} is up:",
                f"  operator (superuser): psql '{operator}'"]
    buyer_password = secrets.token_urlsafe(12)
    with psycopg.connect(cluster.dsn_for(DB), autocommit=True) as conn:
        load_paper(conn, buyer_password)
    buyer = tcp_dsn(cluster, BUYER, buyer_password)
    bid_id, status, view = buy(cluster.dsn_for(DB, user=BUYER))
    return [
        f"nyop {version} is up with the paper's example (offerings paper_a, wa, wb):",
        f"  operator (superuser): psql '{operator}'",
        f"    nyop.now = {paper.PAPER_NOW} (the paper's)",
        f"  buyer {BUYER}:       psql '{buyer}'",
        f"    nyop.now = {BUYER_NOW} (the night after its purchase, so its delayed view shows rows)",
        f"    bought bid {bid_id} ({status}): SELECT * FROM {view};  (nyop_views is on its search_path: \\dv)",
        "    its terms: SELECT * FROM nyop.my_purchases;",
        "    for sale: SELECT offering, ask_price, description FROM nyop.market;",
        f"  JDBC: jdbc:postgresql://127.0.0.1:{cluster.port}/{DB}  (user {BUYER}, password {buyer_password}; "
        f"or postgres, password {password})",
    ]

