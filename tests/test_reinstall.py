"""Reinstalling while serving (issue 13, item 9): `make install` (`nyop-pg install-server`) must
never pull files from under a session. The installer writes a new version directory and switches
the library path (a symlink) to it atomically; a session resolves that path once, in
`nyop._load()`, and keeps its version directory for life, so what it imports lazily later
(sqlglot, for its first scope) comes from the files it started with.

The database tests read the shared installed copy; these stage installs of their own under a
temporary root (`--destdir`) that the server can read, and point the test database's
`nyop._load()` -- this checkout's, from sql/idempotent -- at it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg
import pytest

from nyop_pg import paper
from nyop_pg.server_install import DEFAULT_LIB_DIR, prune_versions, versions_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFS = json.dumps(paper.PAPER_BID["preferences"])
SCOPE = "station = 'FRA'"

# The installer, pausing after every rename under the staged library's parent until told to go on
# (a line on stdin): the test looks at sessions at each step of a reinstall, without timing.
PAUSING_INSTALLER = r"""
import os, sys
watch, root = sys.argv[1], sys.argv[2]
def pausing(fn):
    def f(*a, **k):
        r = fn(*a, **k)
        if any(str(x).startswith(watch) for x in a):
            print('PAUSE', fn.__name__, *a, flush=True)
            sys.stdin.readline()
        return r
    return f
os.rename, os.replace = pausing(os.rename), pausing(os.replace)
from nyop_pg.cli import main
sys.exit(main(['install-server', '--destdir', root]))
"""


def install(root: str) -> None:
    r = subprocess.run([sys.executable, "-m", "nyop_pg.cli", "install-server", "--destdir", root],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr


def load_function(lib: str) -> str:
    """This checkout's nyop._load(), with the library path `lib`."""
    with open(os.path.join(ROOT, "sql", "idempotent", "010-bootstrap.sql")) as f:
        m = re.search(r"^CREATE OR REPLACE FUNCTION nyop\._load\(\).*?^\$\$;$", f.read(), re.S | re.M)
    assert m, "nyop._load() in sql/idempotent/010-bootstrap.sql"
    return m.group(0).replace("@NYOP_LIB_DIR@", lib)


def py(conn, expr: str):
    """A Python expression evaluated in the session's PL/Python (sys, os in scope)."""
    return json.loads(conn.execute("SELECT pg_temp.nyop_test_py(%s)", (expr,)).fetchone()[0])


def session(server, dbname):
    conn = psycopg.connect(server.dsn_for(dbname), autocommit=True)
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    conn.execute("SET statement_timeout = '60s'")
    conn.execute("CREATE FUNCTION pg_temp.nyop_test_py(src text) RETURNS text LANGUAGE plpython3u AS "
                 "$$ import json, os, sys; return json.dumps(eval(src, {'os': os, 'sys': sys})) $$")
    return conn


def quote(conn, scoped: bool):
    if scoped:
        return conn.execute("SELECT nyop_quote('paper_a', 1000, %s, scope => %s)", (PREFS, SCOPE)).fetchone()[0]
    return conn.execute("SELECT nyop_quote('paper_a', 1000, %s)", (PREFS,)).fetchone()[0]


def version_dir_of(conn, module: str) -> str:
    """The directory a session imported `module` (a package) from: its sys.path entry."""
    return py(conn, f"os.path.dirname(os.path.dirname(os.path.realpath(sys.modules[{module!r}].__file__)))")


@pytest.fixture
def staged(server, db):
    """A staged install the server can read, nyop._load() of the test database pointed at it, and
    the paper's offerings: (root, library path as the server sees it)."""
    root = tempfile.mkdtemp(prefix="nyop-reinstall-", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        lib = root + DEFAULT_LIB_DIR
        db.execute("CREATE FUNCTION pg_temp.sees(p text) RETURNS boolean LANGUAGE plpython3u AS "
                   "$$ import os; return os.path.isdir(p) $$")
        if not db.execute("SELECT pg_temp.sees(%s)", (root,)).fetchone()[0]:
            pytest.skip("the server does not share this machine's files (a container or a remote server)")
        install(root)
        db.execute(load_function(lib))
        paper.load(db)
        yield root, lib
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_session_keeps_its_version_through_a_reinstall(server, dbname, staged):
    root, lib = staged
    a = session(server, dbname)
    try:
        quote(a, scoped=False)
        assert py(a, "'sqlglot' in sys.modules") is False           # issue 12: no sqlglot for an unscoped quote
        mine = version_dir_of(a, "nyop_server")
        assert mine == os.path.realpath(lib)
        init = os.path.join(mine, "nyop_server", "__init__.py")
        inode = os.stat(init).st_ino

        install(root)                                               # a reinstall while `a` serves

        assert os.stat(init).st_ino == inode                        # a's files are still there, untouched
        current = os.path.realpath(lib)
        assert current != mine and os.path.islink(lib)              # new sessions get the new version
        assert quote(a, scoped=True)                                # the first scope: sqlglot imported now ...
        for module in ("nyop_server", "nyop_server.scope", "sqlglot"):
            assert version_dir_of(a, module) == mine, module        # ... from a's own version directory
        b = session(server, dbname)                                 # a new session: the new version
        try:
            assert quote(b, scoped=False) and quote(b, scoped=True)
            for module in ("nyop_server", "nyop_server.scope", "sqlglot"):
                assert version_dir_of(b, module) == current, module
        finally:
            b.close()
    finally:
        a.close()


def test_sessions_starting_or_scoping_during_a_reinstall_never_fail(server, dbname, staged):
    """At every step of a reinstall (the installer paused after each rename), a session that loaded
    nyop before it scopes for the first time, and a new session quotes with and without a scope."""
    root, lib = staged
    loaded = []
    for _ in range(4):
        c = session(server, dbname)
        quote(c, scoped=False)
        loaded.append(c)
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_INSTALLER, os.path.dirname(lib), root],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    steps = []
    try:
        for line in proc.stdout:
            if not line.startswith("PAUSE "):
                continue
            steps.append(line.split()[1])
            assert quote(loaded[min(len(steps), len(loaded)) - 1], scoped=True), line
            with session(server, dbname) as new:
                assert quote(new, scoped=False) and quote(new, scoped=True), line
            proc.stdin.write("\n")
            proc.stdin.flush()
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for c in loaded:
            c.close()
    assert len(steps) >= 2, steps                    # it paused at every step: the version written, the switch
    with session(server, dbname) as new:
        assert quote(new, scoped=True)
        assert version_dir_of(new, "sqlglot") == os.path.realpath(lib)


def test_a_plain_library_directory_becomes_a_version_once(tmp_path):
    """Installs before versions left a plain directory: the first versioned install moves it
    among the versions (a session may be using it) and puts the symlink in its place."""
    lib = str(tmp_path) + DEFAULT_LIB_DIR
    os.makedirs(os.path.join(lib, "nyop_server"))
    with open(os.path.join(lib, "nyop_server", "__init__.py"), "w") as f:
        f.write("OLD = True\n")
    install(str(tmp_path))
    assert os.path.islink(lib) and not os.path.isabs(os.readlink(lib))
    assert os.path.isfile(os.path.join(lib, "nyop_server", "edge.py"))
    moved = [n for n in os.listdir(versions_dir(lib)) if n.startswith("unversioned-")]
    assert len(moved) == 1
    with open(os.path.join(versions_dir(lib), moved[0], "nyop_server", "__init__.py")) as f:
        assert f.read() == "OLD = True\n"


def test_pruning_keeps_the_newest_versions_and_the_current_one(tmp_path):
    vdir = str(tmp_path / "python-versions")
    now = time.time()
    for i, name in enumerate(["v1", "v2", "v3", "v4", "v5"]):          # v5 newest
        os.makedirs(os.path.join(vdir, name))
        os.utime(os.path.join(vdir, name), (now - 100 + i, now - 100 + i))
    os.makedirs(os.path.join(vdir, ".staging-dead"))                   # an installer that died
    open(os.path.join(vdir, ".lock"), "w").close()
    pruned = prune_versions(vdir, os.path.join(vdir, "v1"), keep=3)    # v1 current (an old one switched back to)
    assert sorted(os.path.basename(p) for p in pruned) == ["v2"]
    assert sorted(os.listdir(vdir)) == [".lock", "v1", "v3", "v4", "v5"]
    assert prune_versions(vdir, os.path.join(vdir, "v5"), keep=3) == [os.path.join(vdir, "v1")]
