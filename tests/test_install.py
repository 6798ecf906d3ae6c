"""nyop-pg install is atomic (issue 15): on any failure nothing of nyop is left in the database.
The failure the issue saw -- SQL files present, server-side modules missing -- is made here by
making the modules unimportable in the installing session (a test-only hook of install())."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from nyop_pg import EXTENSION_VERSION
from nyop_pg.install import InstallError, install

# nyop._load() imports nyop_server.edge: with None in sys.modules that import fails, exactly as
# when the lib dir lacks the modules (or numpy is missing for the server's Python).
UNIMPORTABLE = "DO LANGUAGE plpython3u $$ import sys; sys.modules['nyop_server'] = None $$"


def poison(conn):
    conn.execute(UNIMPORTABLE)


@pytest.fixture
def empty_db(server):
    name = "nyop_inst_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def leftovers(conn) -> dict:
    return {
        "extensions": [r[0] for r in conn.execute(
            "SELECT extname FROM pg_extension WHERE extname IN ('nyop', 'plpython3u') ORDER BY 1").fetchall()],
        "schemas": [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('nyop', 'nyop_views') ORDER BY 1").fetchall()],
        "functions": conn.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'nyop%'").fetchone()[0],
        "languages": [r[0] for r in conn.execute(
            "SELECT lanname FROM pg_language WHERE lanname = 'plpython3u'").fetchall()],
    }


def test_modules_missing_leaves_nothing(server, empty_db):
    with pytest.raises(InstallError) as e:
        install(server.dsn_for(empty_db), _before_load=poison)
    assert "nothing was changed" in e.value.message
    assert "cannot be imported" in e.value.message
    assert "nyop-pg install-server" in e.value.hint
    with psycopg.connect(server.dsn_for(empty_db)) as conn:
        assert leftovers(conn) == {"extensions": [], "schemas": [], "functions": 0, "languages": []}
    # and the same database installs cleanly afterwards
    assert install(server.dsn_for(empty_db)) == EXTENSION_VERSION


def test_modules_missing_keeps_a_plpython_that_was_there(server, empty_db):
    with psycopg.connect(server.dsn_for(empty_db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION plpython3u")
    with pytest.raises(InstallError):
        install(server.dsn_for(empty_db), _before_load=poison)
    with psycopg.connect(server.dsn_for(empty_db)) as conn:
        assert leftovers(conn) == {"extensions": ["plpython3u"], "schemas": [], "functions": 0,
                                   "languages": ["plpython3u"]}


def test_failed_update_keeps_the_previous_version(server, empty_db):
    with psycopg.connect(server.dsn_for(empty_db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION nyop VERSION '0.2.0' CASCADE")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'a')")
        conn.execute("SELECT nyop_register_offering('t', 't', 10, ARRAY['id'])")
    with pytest.raises(InstallError) as e:
        install(server.dsn_for(empty_db), _before_load=poison)
    assert f"could not update nyop {EXTENSION_VERSION}" in e.value.message
    with psycopg.connect(server.dsn_for(empty_db)) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'nyop'").fetchone()[0] == "0.2.0"
        assert conn.execute("SELECT count(*) FROM nyop.offerings").fetchone()[0] == 1
        assert conn.execute("SELECT to_regclass('nyop.market')").fetchone()[0] is None    # 0.3.0's, not there
    assert install(server.dsn_for(empty_db)) == EXTENSION_VERSION
    with psycopg.connect(server.dsn_for(empty_db)) as conn:
        assert conn.execute("SELECT count(*) FROM nyop.market").fetchone()[0] == 1


def test_unknown_version_leaves_nothing(server, empty_db):
    with pytest.raises(InstallError) as e:
        install(server.dsn_for(empty_db), version="9.9.9")
    assert "9.9.9" in e.value.message and "nyop-pg install-server" in e.value.hint
    with psycopg.connect(server.dsn_for(empty_db)) as conn:
        assert leftovers(conn) == {"extensions": [], "schemas": [], "functions": 0, "languages": []}
