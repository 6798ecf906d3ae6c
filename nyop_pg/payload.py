"""What the database host needs, as the client package carries it.

A wheel built from this project holds, under ``nyop_pg/payload/`` (written at wheel build
time by ``setup.py``, from ``sql/`` and ``plpython/``):

* ``extension/``: ``nyop.control`` and every ``nyop--*.sql`` (install and upgrade scripts)
  as ``sql/build.sh`` makes them, with the placeholder ``@NYOP_LIB_DIR@`` left in: the
  library directory is chosen when ``nyop-pg install-server`` writes them;
* ``python/nyop_server/``: the server-side Python.

In a git checkout (an editable install, ``make install``) there is no ``payload/``: the same
files come from the checkout itself, the SQL built afresh by ``sql/build.sh``.

Nothing here imports psycopg: ``setup.py`` imports this module to build the payload.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

from .errors import CLIError

PLACEHOLDER = "@NYOP_LIB_DIR@"
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGED = os.path.join(HERE, "payload")
CHECKOUT = os.path.dirname(HERE)


class PayloadError(CLIError):
    pass


def control_version(control_file: str) -> str:
    with open(control_file) as f:
        m = re.search(r"^default_version\s*=\s*'([^']+)'", f.read(), re.M)
    if not m:
        raise PayloadError(f"{control_file} has no default_version")
    return m.group(1)


def _in_checkout() -> bool:
    return (os.path.isfile(os.path.join(CHECKOUT, "sql", "build.sh"))
            and os.path.isdir(os.path.join(CHECKOUT, "plpython", "nyop_server")))


def source() -> str:
    """'wheel' (files packaged with nyop_pg), 'checkout' (a git checkout), or 'none'."""
    if os.path.isfile(os.path.join(PACKAGED, "extension", "nyop.control")):
        return "wheel"
    if _in_checkout():
        return "checkout"
    return "none"


def python_dir() -> str:
    """The directory holding ``nyop_server`` (for the benchmarks' in-process solver, too)."""
    s = source()
    if s == "wheel":
        return os.path.join(PACKAGED, "python")
    if s == "checkout":
        return os.path.join(CHECKOUT, "plpython")
    raise PayloadError("this nyop-pg has no server-side files (neither a wheel's payload nor a git checkout); "
                       "reinstall it from a wheel or an sdist")


def build(dest: str, root: str = CHECKOUT, libdir: str = PLACEHOLDER) -> str:
    """Write ``dest/extension`` (control + built SQL) and ``dest/python/nyop_server`` from the
    sources under ``root``; returns the version. Used by setup.py and by checkout installs."""
    ext = os.path.join(dest, "extension")
    py = os.path.join(dest, "python")
    os.makedirs(ext, exist_ok=True)
    os.makedirs(py, exist_ok=True)
    r = subprocess.run(["bash", os.path.join(root, "sql", "build.sh"), ext, libdir],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise PayloadError(f"sql/build.sh failed: {(r.stderr or r.stdout).strip()[-500:]}")
    shutil.copy2(os.path.join(root, "sql", "nyop.control"), os.path.join(ext, "nyop.control"))
    target = os.path.join(py, "nyop_server")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(root, "plpython", "nyop_server"), target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    version = control_version(os.path.join(ext, "nyop.control"))
    if not os.path.isfile(os.path.join(ext, f"nyop--{version}.sql")):
        raise PayloadError(f"sql/build.sh did not write nyop--{version}.sql")
    return version


@contextmanager
def located():
    """Yields ``(extension_dir, python_dir, version, source)``; in a checkout the SQL is
    built into a temporary directory for the duration."""
    s = source()
    if s == "wheel":
        ext = os.path.join(PACKAGED, "extension")
        yield ext, os.path.join(PACKAGED, "python"), control_version(os.path.join(ext, "nyop.control")), s
    elif s == "checkout":
        tmp = tempfile.mkdtemp(prefix="nyop-payload-")
        try:
            version = build(tmp)
            yield os.path.join(tmp, "extension"), os.path.join(tmp, "python"), version, s
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        python_dir()      # raises with the message
