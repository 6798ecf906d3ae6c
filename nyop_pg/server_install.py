"""``nyop-pg install-server``: the extension's files where a PostgreSQL finds them.

Run as root on the database host. It writes

* ``nyop.control`` and the ``nyop--*.sql`` scripts into ``$(pg_config --sharedir)/extension``,
  with the library directory written into them (the server never takes that path from a
  setting a user could change);
* nyop's server-side modules (``nyop_server``) and sqlglot into the library directory
  (default ``/usr/local/lib/nyop/python``, the Makefile's ``NYOP_LIB_DIR``), byte-compiled
  by the server's own Python (``/usr/bin/python3``: the interpreter Debian's PL/Python
  embeds). sqlglot is copied from this client's environment (pure Python; the version
  this package requires), so nothing is downloaded.

It installs no system package: PostgreSQL's PL/Python and numpy for the server's Python
come from the distribution, and when they are missing it names them with the command.
``--destdir`` stages the same tree under another root (packaging) and skips those checks.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from . import payload
from .errors import CLIError

DEFAULT_LIB_DIR = "/usr/local/lib/nyop/python"
DEFAULT_SERVER_PYTHON = "/usr/bin/python3"
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")


class ServerInstallError(CLIError):
    pass


@dataclass
class PgConfig:
    path: str
    sharedir: str
    pkglibdir: str
    version: str          # "15.18"
    major: str            # "15"


def find_pg_config(explicit: str | None = None) -> str:
    if explicit:
        found = explicit if os.sep in explicit else shutil.which(explicit)
        if not found or not os.access(found, os.X_OK):
            raise ServerInstallError(f"pg_config not found or not executable: {explicit}",
                                     "give the pg_config of the server: --pg-config /usr/lib/postgresql/15/bin/pg_config")
        return found
    if os.environ.get("PG_CONFIG"):
        return find_pg_config(os.environ["PG_CONFIG"])
    cands = glob.glob("/usr/lib/postgresql/*/bin/pg_config")
    cands.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if cands:
        return cands[-1]
    found = shutil.which("pg_config")
    if found:
        return found
    raise ServerInstallError("no PostgreSQL server found here (no pg_config)",
                             "install the server first (apt-get install postgresql-15), or give --pg-config PATH")


def read_pg_config(path: str) -> PgConfig:
    try:
        out = subprocess.run([path, "--sharedir", "--pkglibdir", "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError) as e:
        raise ServerInstallError(f"{path} does not answer like pg_config: {e}") from e
    if len(out) < 3:
        raise ServerInstallError(f"{path} does not answer like pg_config")
    m = re.search(r"PostgreSQL (\d+)(?:\.(\d+))?", out[2])
    if not m:
        raise ServerInstallError(f"{path}: cannot read the PostgreSQL version from {out[2]!r}")
    major = m.group(1)
    return PgConfig(path, out[0].strip(), out[1].strip(), f"{major}.{m.group(2) or 0}", major)


def missing_packages(pg: PgConfig, server_python: str) -> list:
    """Debian/Ubuntu packages the server lacks for nyop: server, PL/Python, the Python, numpy."""
    ext = os.path.join(pg.sharedir, "extension")
    missing = []
    if not os.path.isfile(os.path.join(ext, "plpgsql.control")):
        missing.append(f"postgresql-{pg.major}")
    if not os.path.isfile(os.path.join(ext, "plpython3u.control")):
        missing.append(f"postgresql-plpython3-{pg.major}")
    if not os.access(server_python, os.X_OK):
        missing += ["python3", "python3-numpy"]
    else:
        r = subprocess.run([server_python, "-c", "import numpy"], capture_output=True, text=True)
        if r.returncode != 0:
            missing.append("python3-numpy")
    return missing


def sqlglot_source() -> tuple:
    """(package dir, dist-info dir or None) of the sqlglot this client runs with."""
    spec = importlib.util.find_spec("sqlglot")
    if spec is None or not spec.submodule_search_locations:
        raise ServerInstallError("sqlglot is not installed with nyop-pg", "pip install 'nyop-pg' (it requires sqlglot)")
    pkg = list(spec.submodule_search_locations)[0]
    try:
        from importlib.metadata import version
        v = version("sqlglot")
        infos = glob.glob(os.path.join(os.path.dirname(pkg), f"sqlglot-{v}.dist-info"))
    except Exception:       # pragma: no cover
        infos = []
    return pkg, (infos[0] if infos else None)


def _check_path(p: str, what: str) -> str:
    if not SAFE_PATH.match(p) or "/../" in p + "/" or "//" in p:
        raise ServerInstallError(f"{what} must be a plain absolute path (letters, digits, _ . / + -), got {p!r}")
    return p.rstrip("/") or "/"


def _write_atomically(path: str, text: str, mode: int = 0o644) -> None:
    tmp = path + ".nyop-tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _chmod_readable(root: str) -> None:
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)


def install_server(pg_config: str | None = None, lib_dir: str = DEFAULT_LIB_DIR,
                   server_python: str = DEFAULT_SERVER_PYTHON, destdir: str = "", log=print) -> dict:
    """Install the extension's files for one PostgreSQL; returns what went where."""
    lib_dir = _check_path(lib_dir, "--lib-dir")
    pg = read_pg_config(find_pg_config(pg_config))
    if not destdir:
        missing = missing_packages(pg, server_python)
        if missing:
            raise ServerInstallError(
                f"missing system packages for PostgreSQL {pg.major}: {' '.join(missing)} (nothing was installed)",
                f"install them, then run this again: apt-get install {' '.join(missing)}")
    dest = destdir.rstrip("/") if destdir else ""
    ext_dir = dest + os.path.join(pg.sharedir, "extension")
    lib = dest + lib_dir
    sqlglot_pkg, sqlglot_info = sqlglot_source()
    with payload.located() as (pay_ext, pay_py, version, source):
        # 1. the Python, staged beside its place and swapped in
        staging = lib + ".nyop-new"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
        shutil.copytree(os.path.join(pay_py, "nyop_server"), os.path.join(staging, "nyop_server"), ignore=ignore)
        shutil.copytree(sqlglot_pkg, os.path.join(staging, "sqlglot"), ignore=ignore)
        if sqlglot_info:
            shutil.copytree(sqlglot_info, os.path.join(staging, os.path.basename(sqlglot_info)))
        if os.access(server_python, os.X_OK):
            # the server cannot write bytecode there: compile once, with the server's own Python
            r = subprocess.run([server_python, "-m", "compileall", "-q", staging], capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(staging, ignore_errors=True)
                raise ServerInstallError(f"{server_python} cannot compile the server-side Python: "
                                         f"{(r.stdout + r.stderr).strip().splitlines()[-1:]}")
        _chmod_readable(staging)
        old = lib + ".nyop-old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(lib):
            os.rename(lib, old)
        os.rename(staging, lib)
        shutil.rmtree(old, ignore_errors=True)
        # 2. control and SQL files, each replaced atomically, after the Python they load
        os.makedirs(ext_dir, exist_ok=True)
        written = []
        for name in sorted(os.listdir(pay_ext)):
            if not (name == "nyop.control" or (name.startswith("nyop--") and name.endswith(".sql"))):
                continue
            with open(os.path.join(pay_ext, name)) as f:
                text = f.read().replace(payload.PLACEHOLDER, lib_dir)
            _write_atomically(os.path.join(ext_dir, name), text)
            written.append(name)
    if not destdir:
        r = subprocess.run([server_python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import nyop_server.edge",
                            lib_dir], capture_output=True, text=True)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            raise ServerInstallError(f"installed, but the server's Python cannot import nyop's modules: {last}",
                                     "apt-get install python3-numpy (numpy for the server's Python), then run this again")
    log(f"nyop {version} (from the {source}) installed for PostgreSQL {pg.major}:")
    log(f"  {len(written)} extension files in {ext_dir}")
    log(f"  server-side Python (nyop_server, sqlglot) in {lib}")
    if not destdir:
        log("next, in each database: nyop-pg install --dsn '…'  (or CREATE EXTENSION nyop CASCADE as a superuser)")
    return {"version": version, "extension_dir": ext_dir, "lib_dir": lib, "files": written,
            "pg_major": pg.major, "source": source}
