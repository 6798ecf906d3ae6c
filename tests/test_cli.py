"""nyop-pg as a user meets it (issue 15): every error is one or two lines naming the problem,
a non-zero exit status, never a traceback; --version. Each test runs the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import conninfo

from nyop_pg import EXTENSION_VERSION, __version__, paper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, env=None, prelude: str | None = None, timeout=120) -> subprocess.CompletedProcess:
    """Run ``nyop-pg ARGS`` (``python -m nyop_pg.cli``); ``prelude`` runs first in that process."""
    if prelude:
        cmd = [sys.executable, "-c", f"{prelude}\nimport sys\nfrom nyop_pg.cli import main\nsys.exit(main(sys.argv[1:]))",
               *args]
    else:
        cmd = [sys.executable, "-m", "nyop_pg.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, **(env or {})))


def plain_error(r: subprocess.CompletedProcess, *needles: str, status: int | None = None) -> str:
    """Assert the CLI failed the way users should see it; returns stderr."""
    err = r.stderr
    assert r.returncode != 0, (r.stdout, err)
    if status is not None:
        assert r.returncode == status
    assert "Traceback" not in err and "Traceback" not in r.stdout, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("nyop-pg "), err
    for n in needles:
        assert n in err, (n, err)
    return err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version():
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"nyop-pg {__version__} (nyop extension {EXTENSION_VERSION})"


def test_install_wrong_port():
    r = cli("install", "--dsn", f"host=127.0.0.1 port={free_port()} dbname=postgres user=postgres connect_timeout=5")
    plain_error(r, "cannot connect", "Connection refused", "is the server running")


def test_install_missing_database(server):
    r = cli("install", "--dsn", server.dsn_for("nyop_no_such_database"))
    plain_error(r, 'database "nyop_no_such_database" does not exist', "createdb nyop_no_such_database")


@pytest.mark.parametrize("dsn", ["garbage", "host=127.0.0.1 port=99999 dbname=x", "postgresql://[::1"])
def test_install_malformed_dsn(dsn):
    plain_error(cli("install", "--dsn", dsn), "malformed DSN", "a DSN looks like")


def test_install_unknown_role(server):
    params = conninfo.conninfo_to_dict(server.dsn)
    params["user"] = "nyop_no_such_role"
    params.pop("password", None)
    plain_error(cli("install", "--dsn", conninfo.make_conninfo(**params)), 'role "nyop_no_such_role" does not exist')


def test_install_ok_then_again(server):
    name = "nyop_cli_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        for _ in range(2):
            r = cli("install", "--dsn", server.dsn_for(name))
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == f"nyop {EXTENSION_VERSION} installed"
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_demo_on_a_database_with_the_demo_tables(server, paper_db, dbname):
    r = cli("demo", "--dsn", server.dsn_for(dbname))
    plain_error(r, "already has the demo's objects", "table weather_a", "offering paper_a")


def test_demo_on_a_database_without_nyop(server):
    name = "nyop_cli_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        plain_error(cli("demo", "--dsn", server.dsn_for(name)), "nyop is not installed", "nyop-pg install")
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bench_without_server_binaries():
    r = cli("bench", "solver", "--quick", env={"NYOP_PG_BINDIR": "/nonexistent/bin"})
    plain_error(r, "no initdb in /nonexistent/bin", "NYOP_PG_BINDIR")


def test_bench_solver_without_server_modules():
    r = cli("bench", "solver", "--quick", prelude="import sys; sys.modules['nyop_server'] = None")
    plain_error(r, "needs nyop's server-side modules", "reinstall nyop-pg")


def test_bench_unknown_part():
    plain_error(cli("bench", "nosuch"), "unknown part 'nosuch'", "parts: solver", status=2)


def test_curve_without_matplotlib(server):
    r = cli("curve", "paper_a", "--dsn", server.dsn, "--preferences", '{"timeliness": 1}', "--out", "x.svg",
            prelude="import sys; sys.modules['matplotlib'] = None")
    plain_error(r, "needs matplotlib", "pip install 'nyop-pg[plot]'")


@pytest.mark.parametrize("args,needle", [
    (["--out", "chart.pdf"], "--out must end in .png or .svg"),
    (["--out", "c.svg", "--preferences", "{not json"], "--preferences is not JSON"),
    (["--out", "c.svg", "--bids", "10-20"], "--bids must be FROM:TO"),
    (["--out", "c.svg", "--bids", "20:10"], "--bids needs 0 < FROM < TO"),
])
def test_curve_argument_errors(server, args, needle):
    pytest.importorskip("matplotlib")
    base = ["curve", "paper_a", "--dsn", server.dsn]
    if "--preferences" not in args:
        args = args + ["--preferences", '{"timeliness": 1}']
    plain_error(cli(*base, *args), needle)


def test_sql_errors_are_one_line(server, paper_db, dbname):
    r = cli("curve", "nosuch", "--dsn", server.dsn_for(dbname), "--preferences", json.dumps({"timeliness": 1}),
            "--now", paper.PAPER_NOW, "--out", "/tmp/nyop-never-written.svg")
    if r.returncode != 0 and "matplotlib" in r.stderr:
        pytest.skip("matplotlib is not installed")
    plain_error(r, "'nosuch' does not exist", "SQLSTATE 42704")
