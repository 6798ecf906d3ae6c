"""`make installcheck` (issue 15): the SQL regression tests in sql/regress (pg_regress: public
functions, numeric overloads, nyop.market, privileges per role, the upgrade path) pass against
the test server."""

from __future__ import annotations

import os
import subprocess

import pytest
from psycopg import conninfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pg_regress() -> str | None:
    """Where the Makefile looks: $(dir $(pg_config --pgxs))../test/regress/pg_regress."""
    from nyop_pg.server_install import ServerInstallError, find_pg_config
    try:
        pgxs = subprocess.run([find_pg_config(), "--pgxs"], capture_output=True, text=True).stdout.strip()
    except (ServerInstallError, OSError):
        return None
    path = os.path.normpath(os.path.join(os.path.dirname(pgxs), "..", "test", "regress", "pg_regress"))
    return path if os.access(path, os.X_OK) else None


def test_installcheck(server, tmp_path):
    if not pg_regress():
        pytest.skip("pg_regress is not installed (Debian: it comes with postgresql-<major>)")
    p = conninfo.conninfo_to_dict(server.dsn)
    env = dict(os.environ, PGHOST=p.get("host", ""), PGPORT=str(p.get("port", "5432")), PGUSER=p.get("user", ""))
    if p.get("password"):
        env["PGPASSWORD"] = p["password"]
    out = tmp_path / "regress"
    r = subprocess.run(["make", "-s", "-C", ROOT, "--no-print-directory", "installcheck", f"REGRESS_OUT={out}"],
                       capture_output=True, text=True, env=env, timeout=600)
    diffs = out / "regression.diffs"
    detail = diffs.read_text()[-6000:] if diffs.exists() else r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 0, detail
    n = len(os.listdir(os.path.join(ROOT, "sql", "regress", "sql")))
    assert f"All {n} tests passed" in r.stdout, r.stdout
