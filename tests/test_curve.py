"""nyop-pg curve (issue 15): utility and every criterion's level against the bid, the ask marked;
the chart is written as SVG (or PNG). matplotlib is the optional extra nyop-pg[plot]."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nyop_pg import curve, paper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFS = paper.PAPER_BID["preferences"]


def test_what_each_bid_buys(paper_db):
    pts = dict(curve.points(paper_db, "paper_a", PREFS, 300, 1200, 10))
    assert sorted(pts) == [300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]
    assert pts[300]["utility"] == pytest.approx(5.35)            # the figures
    assert pts[1200]["utility"] == pytest.approx(9.85) and pts[1200]["full_quality"]
    assert pts[300]["levels"]["timeliness"]["level"] > pts[400]["levels"]["timeliness"]["level"]
    utils = [pts[b]["utility"] for b in sorted(pts)]
    assert utils == sorted(utils)                                  # more money never buys less utility
    assert curve.asks(paper_db, "paper_a") == {"paper_a": 1200.0}
    assert curve.asks(paper_db, "weather") == {"wa": 1200.0, "wb": 1200.0}


def test_the_asks_are_quoted_too(paper_db):
    pts = curve.points(paper_db, "paper_a", PREFS, 100, 1300, 7, extra=[1200.0, 5000.0])
    bids = [b for b, _ in pts]
    assert 1200.0 in bids and 5000.0 not in bids and bids == sorted(bids)


def test_cli_writes_an_svg(server, paper_db, dbname, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "paper_a.svg"
    r = subprocess.run([sys.executable, "-m", "nyop_pg.cli", "curve", "paper_a", "--dsn", server.dsn_for(dbname),
                        "--preferences", json.dumps(PREFS), "--bids", "300:1200", "--steps", "19",
                        "--now", paper.PAPER_NOW, "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "utility 5.35 at 300 -> 9.85 at 1200" in r.stdout
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for label in ("<!-- ask 1200 -->", "<!-- utility for the buyer -->", "<!-- level bought -->",
                  "<!-- timeliness -->", "<!-- amount_of_data -->", "<!-- customer_support -->"):
        assert label in svg, label                                   # matplotlib names each text it draws


def test_cli_writes_a_png_for_a_group(server, paper_db, dbname, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "weather.png"
    r = subprocess.run([sys.executable, "-m", "nyop_pg.cli", "curve", "weather", "--dsn", server.dsn_for(dbname),
                        "--preferences", '{"completeness": 0.5, "amount_of_data": 0.5}', "--steps", "12",
                        "--now", paper.PAPER_NOW, "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
