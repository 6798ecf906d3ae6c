"""``nyop-pg install-server``: the extension's files where a PostgreSQL finds them.

Run as root on the database host. It writes

* ``nyop.control`` and the ``nyop--*.sql`` scripts into ``$(pg_config --sharedir)/extension``,
  with the library directory written into them (the server never takes that path from a
  setting a user could change);
* nyop's server-side modules (``nyop_server``) and sqlglot into a new version directory
  beside the library directory (``<lib>-versions/<version>-<stamp>``), byte-compiled by the
  server's own Python (``/usr/bin/python3``: the interpreter Debian's PL/Python embeds);
  then the library directory (default ``/usr/local/lib/nyop/python``, the Makefile's
  ``NYOP_LIB_DIR``) becomes a symlink to it, switched atomically. Sessions resolve that
  symlink once, when they load nyop (``nyop._load()``), and keep their version directory
  for life; the previous ones are kept (the newest ``KEEP_VERSIONS``) so a reinstall never
  pulls files from under a serving session. sqlglot is copied from this client's
  environment (pure Python; the version this package requires), so nothing is downloaded.

It installs no system package: PostgreSQL's PL/Python and numpy for the server's Python
come from the distribution, and when they are missing it names them with the command.
``--destdir`` stages the same tree under another root (packaging) and skips those checks.
"""

from __future__ import annotations

import ctypes
import fcntl
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from . import payload
from .errors import CLIError

DEFAULT_LIB_DIR = "/usr/local/lib/nyop/python"
DEFAULT_SERVER_PYTHON = "/usr/bin/python3"
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")
KEEP_VERSIONS = 3       # version directories kept (the current one and the two before it)


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


def versions_dir(lib: str) -> str:
    """Where the version directories of the library directory ``lib`` live (beside it)."""
    return lib + "-versions"


def _stamp() -> str:
    """A name part unique to this install: UTC time to the microsecond, and the process."""
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z-{os.getpid()}"


@contextmanager
def _locked(vdir: str):
    """One installer at a time per library directory (staging, switch, pruning, SQL files)."""
    fd = os.open(os.path.join(vdir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _exchange(a: str, b: str) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _switch(lib: str, target: str, vdir: str) -> None:
    """Make ``lib`` a symlink to ``target`` (a directory in ``vdir``) atomically: a session
    resolving ``lib`` at any moment finds a complete version, the old or the new one."""
    parent = os.path.dirname(lib)
    tmp = os.path.join(parent, f".{os.path.basename(lib)}.nyop-link-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.relpath(target, parent), tmp)     # relative: valid under --destdir as well
    if os.path.islink(lib) or not os.path.lexists(lib):
        os.replace(tmp, lib)
        return
    # once: lib is still a plain directory (installed before versions); it joins the versions
    moved = os.path.join(vdir, "unversioned-" + _stamp())
    if _exchange(tmp, lib):
        os.rename(tmp, moved)
    else:                                                 # a moment without lib: no renameat2 here
        os.rename(lib, moved)
        os.replace(tmp, lib)


def prune_versions(vdir: str, current: str, keep: int = KEEP_VERSIONS) -> list:
    """Delete version directories beyond the newest ``keep`` (never ``current``); returns them.
    Sessions pin the version they loaded: a session still using a pruned one (older than the
    last ``keep`` installs) fails its next lazy import and must reconnect (docs/operations.md)."""
    current = os.path.realpath(current)
    found = []
    for name in os.listdir(vdir):
        path = os.path.join(vdir, name)
        if name.startswith(".staging-") and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)       # left by an installer that died (we hold the lock)
        elif not name.startswith(".") and os.path.isdir(path) and not os.path.islink(path):
            found.append((os.stat(path).st_mtime, name, path))
    found.sort(reverse=True)
    pruned = []
    for _, _, path in found[keep:]:
        if os.path.realpath(path) != current:
            shutil.rmtree(path, ignore_errors=True)
            pruned.append(path)
    return pruned


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
        # 1. the Python: a new version directory, complete and compiled, then lib switched to it
        vdir = versions_dir(lib)
        os.makedirs(vdir, exist_ok=True)
        os.chmod(vdir, 0o755)
        with _locked(vdir) if not destdir else nullcontext():     # staging for a package: no lock file in it
            vname = f"{version}-{_stamp()}"
            target = os.path.join(vdir, vname)
            staging = os.path.join(vdir, ".staging-" + vname)
            os.makedirs(staging)
            try:
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
                shutil.copytree(os.path.join(pay_py, "nyop_server"), os.path.join(staging, "nyop_server"),
                                ignore=ignore)
                shutil.copytree(sqlglot_pkg, os.path.join(staging, "sqlglot"), ignore=ignore)
                if sqlglot_info:
                    shutil.copytree(sqlglot_info, os.path.join(staging, os.path.basename(sqlglot_info)))
                if os.access(server_python, os.X_OK):
                    # the server cannot write bytecode there: compile once, with the server's own
                    # Python, under the names the files will have (for tracebacks)
                    r = subprocess.run([server_python, "-m", "compileall", "-q", "-d", target[len(dest):], staging],
                                       capture_output=True, text=True)
                    if r.returncode != 0:
                        raise ServerInstallError(f"{server_python} cannot compile the server-side Python: "
                                                 f"{(r.stdout + r.stderr).strip().splitlines()[-1:]} "
                                                 f"(nothing was installed)")
                _chmod_readable(staging)
                os.rename(staging, target)
                os.utime(target)                          # the newest version directory is the last installed
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if not destdir:
                r = subprocess.run([server_python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                    "import nyop_server.edge", target], capture_output=True, text=True)
                if r.returncode != 0:
                    shutil.rmtree(target, ignore_errors=True)
                    last = (r.stderr.strip().splitlines() or ["?"])[-1]
                    raise ServerInstallError(f"the server's Python cannot import nyop's modules: {last} "
                                             f"(nothing was installed)",
                                             "apt-get install python3-numpy (numpy for the server's Python), "
                                             "then run this again")
            _switch(lib, target, vdir)
            old_link = lib + ".nyop-old"                  # a symlink an installer before versions left
            if os.path.islink(old_link):
                os.unlink(old_link)
            pruned = prune_versions(vdir, target)
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
    log(f"nyop {version} (from the {source}) installed for PostgreSQL {pg.major}:")
    log(f"  {len(written)} extension files in {ext_dir}")
    log(f"  server-side Python (nyop_server, sqlglot) in {lib} -> {target}")
    if pruned:
        log(f"  {len(pruned)} older version directories removed (the newest {KEEP_VERSIONS} are kept)")
    if not destdir:
        log("next, in each database: nyop-pg install --dsn '…'  (or CREATE EXTENSION nyop CASCADE as a superuser)")
    return {"version": version, "extension_dir": ext_dir, "lib_dir": lib, "version_dir": target, "files": written,
            "pg_major": pg.major, "source": source}
