"""The database side of installing nyop: ``CREATE EXTENSION nyop CASCADE``, atomically.

``nyop-pg install-server`` (or ``make install``) puts the files on the database host; this
makes one database use them. It all happens in one transaction -- create (or update) the
extension, then load its server-side Python -- so that on any failure nothing of nyop is
left in the database (not even plpython3u, when CASCADE brought it in).
"""

from __future__ import annotations

import psycopg

from . import EXTENSION_VERSION
from .errors import CLIError, connect

SERVER_HINT = "run `nyop-pg install-server` as root on the database host (or `make install` in a checkout)"


class InstallError(CLIError):
    pass


def install(dsn: str, version: str = EXTENSION_VERSION, *, _before_load=None) -> str:
    """Create (or update to) ``version`` in the database at ``dsn``; returns the installed version.

    ``_before_load`` is for tests only: called with the connection inside the transaction,
    after CREATE/ALTER EXTENSION and before the server-side modules are loaded."""
    with connect(dsn, autocommit=True) as conn:
        avail = dict(conn.execute(
            "SELECT name, default_version FROM pg_available_extensions WHERE name IN ('nyop', 'plpython3u')"
        ).fetchall())
        if "plpython3u" not in avail:
            major = conn.info.server_version // 10000
            raise InstallError("the database server has no PL/Python (plpython3u)",
                               f"on the database host: apt-get install postgresql-plpython3-{major}")
        if "nyop" not in avail:
            raise InstallError("the database server has no nyop extension files", SERVER_HINT)
        have = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'nyop'").fetchone()
        try:
            with conn.transaction():
                if have is None:
                    conn.execute(f"CREATE EXTENSION nyop VERSION {_literal(version)} CASCADE")
                elif have[0] != version:
                    conn.execute(f"ALTER EXTENSION nyop UPDATE TO {_literal(version)}")
                if _before_load is not None:
                    _before_load(conn)
                conn.execute("SELECT nyop._load()")
                got = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'nyop'").fetchone()[0]
                if got != version:
                    raise InstallError(f"nyop {got} would be installed, expected {version}")
        except psycopg.Error as e:
            msg = e.diag.message_primary or str(e).strip()
            hint = e.diag.message_hint
            if e.sqlstate == "58P01" or "cannot be imported" in msg:       # nyop._load: modules missing
                hint = SERVER_HINT
            elif "installation script" in msg or "update path" in msg:
                msg = f"{msg} (the server's nyop files are for {avail['nyop']})"
                hint = f"install the files of nyop {version} on the server: {SERVER_HINT}"
            what = "update" if have is not None else "install"
            raise InstallError(f"could not {what} nyop {version}, nothing was changed: {msg}", hint) from e
        return got


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
