"""`nyop-pg up --paper` is a ready playground (issue 15): the paper's offerings, a buyer role with a
password and a purchased view, "now" set for it, DSNs for operator and buyer printed; Ctrl-C
stops the server and removes its data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from nyop_pg import paper, playground

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFS = '{"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}'


def start_up(*args):
    proc = subprocess.Popen([sys.executable, "-u", "-m", "nyop_pg.cli", "up", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 180
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("nyop-pg up did not come up: " + "".join(lines) + proc.stderr.read())


def stop(proc, sig=signal.SIGINT) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_paper_is_a_playground():
    proc, out = start_up("--paper")
    try:
        operator = re.search(r"operator \(superuser\): psql '([^']+)'", out).group(1)
        buyer = re.search(r"buyer airline: +psql '([^']+)'", out).group(1)
        assert "host=127.0.0.1" in buyer and "password=" in buyer and "user=airline" in buyer
        view = re.search(r"SELECT \* FROM (nyop_views\.\w+);", out).group(1)
        assert "jdbc:postgresql://127.0.0.1:" in out
        with psycopg.connect(buyer, autocommit=True) as conn:
            assert conn.execute("SHOW nyop.now").fetchone()[0] == playground.BUYER_NOW
            assert conn.execute("SELECT count(*) FROM nyop.my_purchases").fetchone()[0] == 1
            rows = conn.execute(f"SELECT * FROM {view}").fetchall()
            assert len(rows) == 6                                              # the night after: all of Table 1
            short = view.split(".")[1]
            assert conn.execute(f"SELECT * FROM {short}").fetchall() == rows     # nyop_views is on its path
            assert short in [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'nyop_views'").fetchall()]
            q = conn.execute("SELECT nyop_quote('paper_a', 1000, %s::jsonb)", (PREFS,)).fetchone()[0]
            assert q["accepted"]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM weather_a")
        with psycopg.connect(operator, autocommit=True) as conn:
            assert conn.execute("SHOW nyop.now").fetchone()[0] == paper.PAPER_NOW
            q = conn.execute("SELECT nyop_quote('paper_a', 1000, %s::jsonb)", (PREFS,)).fetchone()[0]
            assert q["accepted"] and q["utility"] == pytest.approx(9.15)          # the paper's "now"
            assert conn.execute("SELECT count(*) FROM nyop.offerings").fetchone()[0] == 3
            assert conn.execute("SELECT obj_description('weather_a'::regclass, 'pg_class')").fetchone()[0]
        with pytest.raises(psycopg.OperationalError):                       # TCP needs the password
            psycopg.connect(re.sub(r"password=\S+", "password=wrong", buyer)).close()
    finally:
        rc = stop(proc)
    assert rc == 0, proc.stderr.read()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(operator, connect_timeout=3).close()


def test_up_without_paper_and_sigterm():
    proc, out = start_up()
    try:
        operator = re.search(r"operator \(superuser\): psql '([^']+)'", out).group(1)
        with psycopg.connect(operator, autocommit=True) as conn:
            assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'nyop'").fetchone()
    finally:
        rc = stop(proc, signal.SIGTERM)
    assert rc == 0, proc.stderr.read()
