"""Without the git repository (issue 15): the sdist holds what builds and tests nyop, the wheel
built from it carries the extension, and `nyop-pg install-server` puts the files where a
PostgreSQL finds them -- from that wheel alone. Plus the conventions: one version everywhere
(control file, META.json for PGXN, the Python package), the SPDX license string."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

import nyop_pg
from nyop_pg import payload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTROL_VERSION = payload.control_version(os.path.join(ROOT, "sql", "nyop.control"))
SERVER_PYTHON = "/usr/bin/python3"


def pyproject() -> dict:
    try:
        import tomllib
    except ImportError:            # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_one_version_everywhere():
    with open(os.path.join(ROOT, "META.json")) as f:
        meta = json.load(f)
    assert meta["version"] == CONTROL_VERSION
    assert meta["provides"]["nyop"]["version"] == CONTROL_VERSION
    assert meta["provides"]["nyop"]["file"] == "sql/nyop.control"
    assert meta["meta-spec"]["version"] == "1.0.0"
    assert meta["name"] == "nyop" and meta["license"] == "apache_2_0"
    assert nyop_pg.EXTENSION_VERSION == CONTROL_VERSION
    assert nyop_pg.__version__ == pyproject()["project"]["version"]


def test_license_is_an_spdx_string():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert os.path.isfile(os.path.join(ROOT, "LICENSE"))
    assert "plot" in project["optional-dependencies"]


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nyop_pg.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, **kw)


def staged_files(root: str) -> tuple:
    ext = glob.glob(os.path.join(root, "usr", "share", "postgresql", "*", "extension"))
    assert len(ext) == 1, ext
    return ext[0], os.path.join(root, "usr", "local", "lib", "nyop", "python")


def check_staged(root: str, lib_dir: str = "/usr/local/lib/nyop/python") -> None:
    ext, _ = staged_files(root)
    lib = root + lib_dir
    names = sorted(os.listdir(ext))
    assert "nyop.control" in names and f"nyop--{CONTROL_VERSION}.sql" in names
    assert "nyop--0.1.0.sql" in names and f"nyop--0.1.0--{CONTROL_VERSION}.sql" in names
    for n in names:
        with open(os.path.join(ext, n)) as f:
            text = f.read()
        assert payload.PLACEHOLDER not in text, n
    with open(os.path.join(ext, f"nyop--{CONTROL_VERSION}.sql")) as f:
        assert f"lib = '{lib_dir}'" in f.read()
    # the lib dir is a relative symlink to a version directory beside it (valid once the staged tree is in place)
    assert os.path.islink(lib)
    link = os.readlink(lib)
    versions = re.escape(os.path.basename(lib_dir) + "-versions/" + CONTROL_VERSION)
    assert re.fullmatch(versions + r"-[^/]+", link), link
    assert os.listdir(os.path.dirname(os.path.join(os.path.dirname(lib), link))) == [os.path.basename(link)]
    assert os.path.isfile(os.path.join(lib, "nyop_server", "edge.py"))
    assert os.path.isfile(os.path.join(lib, "sqlglot", "__init__.py"))
    assert glob.glob(os.path.join(lib, "nyop_server", "__pycache__", "edge.*.pyc"))    # compiled by the server's Python
    assert oct(os.stat(os.path.join(lib, "nyop_server", "edge.py")).st_mode & 0o777) == "0o644"
    if os.access(SERVER_PYTHON, os.X_OK):
        r = subprocess.run([SERVER_PYTHON, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                            "import nyop_server.edge, sqlglot; print(sqlglot.__name__)", lib],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_install_server_from_the_checkout_into_a_destdir(tmp_path):
    r = cli("install-server", "--destdir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f"nyop {CONTROL_VERSION} (from the checkout) installed" in r.stdout
    check_staged(str(tmp_path))


def test_install_server_writes_the_lib_dir_into_the_sql(tmp_path):
    r = cli("install-server", "--destdir", str(tmp_path), "--lib-dir", "/opt/nyop-lib")
    assert r.returncode == 0, r.stderr
    check_staged(str(tmp_path), lib_dir="/opt/nyop-lib")


def test_install_server_refuses_a_lib_dir_that_cannot_go_into_sql(tmp_path):
    r = cli("install-server", "--destdir", str(tmp_path), "--lib-dir", "/tmp/it's")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "--lib-dir must be a plain absolute path" in r.stderr
    assert os.listdir(tmp_path) == []


def fake_pg_config(tmp_path, with_server: bool, with_plpython: bool) -> str:
    share = tmp_path / "share"
    (share / "extension").mkdir(parents=True)
    if with_server:
        (share / "extension" / "plpgsql.control").write_text("")
    if with_plpython:
        (share / "extension" / "plpython3u.control").write_text("")
    pg_config = tmp_path / "pg_config"
    pg_config.write_text(f"#!/bin/sh\nfor a in \"$@\"; do case $a in\n"
                         f"--sharedir) echo {share};; --pkglibdir) echo {tmp_path}/lib;;\n"
                         f"--version) echo 'PostgreSQL 15.4 (Debian 15.4-1)';; esac; done\n")
    pg_config.chmod(0o755)
    return str(pg_config)


def test_install_server_names_the_missing_packages_and_installs_nothing(tmp_path):
    pg_config = fake_pg_config(tmp_path, with_server=False, with_plpython=False)
    r = cli("install-server", "--pg-config", pg_config, "--server-python", "/nonexistent/python3",
            "--lib-dir", str(tmp_path / "lib" / "nyop"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert "missing system packages for PostgreSQL 15" in lines[0] and "nothing was installed" in lines[0]
    assert lines[1].strip() == ("install them, then run this again: apt-get install postgresql-15 "
                                "postgresql-plpython3-15 python3 python3-numpy")
    assert os.listdir(tmp_path / "share" / "extension") == []
    assert not (tmp_path / "lib" / "nyop").exists()


def test_install_server_notices_numpy_missing_for_the_servers_python(tmp_path):
    pg_config = fake_pg_config(tmp_path, with_server=True, with_plpython=True)
    no_numpy = tmp_path / "python3"            # a Python whose `import numpy` fails
    no_numpy.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named numpy' >&2\nexit 1\n")
    no_numpy.chmod(0o755)
    r = cli("install-server", "--pg-config", pg_config, "--server-python", str(no_numpy),
            "--lib-dir", str(tmp_path / "lib" / "nyop"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "apt-get install python3-numpy" in r.stderr and "postgresql-plpython3" not in r.stderr
    assert not (tmp_path / "lib" / "nyop").exists()


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist, and the wheel `python -m build` makes from that sdist (as pip would from PyPI's)."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), ROOT],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sdist = glob.glob(str(out / "nyop_pg-*.tar.gz"))
    wheel = glob.glob(str(out / "nyop_pg-*.whl"))
    assert len(sdist) == 1 and len(wheel) == 1
    return sdist[0], wheel[0]


def test_sdist_holds_what_builds_and_tests_the_project(dist):
    with tarfile.open(dist[0]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for need in ["Makefile", "META.json", "LICENSE", "setup.py", "pyproject.toml", "README.md",
                 "sql/build.sh", "sql/nyop.control", "sql/nyop--0.1.0.sql", f"sql/incremental/{CONTROL_VERSION}",
                 "sql/idempotent/010-bootstrap.sql", "sql/regress/sql/01_install.sql",
                 "sql/regress/expected/01_install.out", "plpython/nyop_server/edge.py",
                 "tests/conftest.py", "tests/test_packaging.py", "docker/Dockerfile", "nyop_pg/cli.py"]:
        assert need in names, need
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_carries_the_extension(dist):
    with zipfile.ZipFile(dist[1]) as z:
        names = set(z.namelist())
    for need in ["nyop_pg/payload/extension/nyop.control", f"nyop_pg/payload/extension/nyop--{CONTROL_VERSION}.sql",
                 f"nyop_pg/payload/extension/nyop--0.1.0--{CONTROL_VERSION}.sql",
                 "nyop_pg/payload/python/nyop_server/edge.py", "nyop_pg/payload/python/nyop_server/mckp.py"]:
        assert need in names, need
    with zipfile.ZipFile(dist[1]) as z:
        sql = z.read(f"nyop_pg/payload/extension/nyop--{CONTROL_VERSION}.sql").decode()
        meta = z.read(f"nyop_pg-{CONTROL_VERSION}.dist-info/METADATA").decode()
    assert f"lib = '{payload.PLACEHOLDER}'" in sql          # the lib dir is written at install-server time
    assert "License-Expression: Apache-2.0" in meta
    assert re.search(r"Provides-Extra: plot", meta)


def test_install_server_from_the_wheel_alone(dist, tmp_path):
    """pip install the wheel into a directory of its own, then run its CLI from elsewhere: nothing
    of the checkout is on the path, so everything comes from the wheel."""
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), dist[1]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import nyop_pg.cli, nyop_pg.payload; "
           "assert nyop_pg.__file__.startswith(sys.argv[1]), nyop_pg.__file__; "
           "assert nyop_pg.payload.source() == 'wheel'; sys.exit(nyop_pg.cli.main(sys.argv[2:]))", str(site)]
    r = subprocess.run(run + ["--version"], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert r.returncode == 0 and CONTROL_VERSION in r.stdout, r.stderr
    root = tmp_path / "root"
    r = subprocess.run(run + ["install-server", "--destdir", str(root)], capture_output=True, text=True,
                       cwd=str(tmp_path), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(from the wheel)" in r.stdout
    check_staged(str(root))


def docker_plpython_step() -> str:
    """The Dockerfile's RUN step that installs PL/Python, as a shell script (apt lists kept)."""
    with open(os.path.join(ROOT, "docker", "Dockerfile")) as f:
        text = f.read()
    m = re.search(r"^RUN (set -eux; \\\n    apt-get update; \\\n    if ! apt-get install.*?lists/\*)$", text, re.S | re.M)
    assert m, "the PL/Python step of docker/Dockerfile"
    return m.group(1).replace("\\\n", "\n").replace("rm -rf /var/lib/apt/lists/*", "true")


@pytest.mark.parametrize("install_ok,versions,expect", [
    (False, ("15.10-1.pgdg120+1", "15.10-1.pgdg120+1"), "is not in the"),
    (True, ("15.10-1.pgdg120+1", "15.12-1.pgdg120+1"), "version drift"),
    (True, ("15.10-1.pgdg120+1", "15.10-1.pgdg120+1"), None),
])
def test_docker_image_build_stops_when_the_pinned_version_is_gone(tmp_path, install_ok, versions, expect):
    """Docker drift (issue 15): no fallback to an unpinned PL/Python; run with stand-ins for apt."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "apt-get").write_text("#!/bin/sh\n[ \"$1\" = update ] && exit 0\n" + ("exit 0\n" if install_ok else
                                  "echo \"E: Version '15.10-1.pgdg120+1' for 'postgresql-plpython3-15' was not found\" >&2; exit 100\n"))
    (bin_ / "dpkg-query").write_text("#!/bin/sh\ncase \"$*\" in *plpython3*) printf %s '" + versions[1] +
                                     "';; *) printf %s '" + versions[0] + "';; esac\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", PG_MAJOR="15", PG_VERSION="15.10-1.pgdg120+1")
    r = subprocess.run(["bash", "-c", docker_plpython_step()], capture_output=True, text=True, env=env)
    if expect is None:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 1 and expect in r.stderr, r.stderr
        if not install_ok:
            assert "--pull" in r.stderr
