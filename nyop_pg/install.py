"""The database side of installing nyop: ``CREATE EXTENSION nyop CASCADE``.

`make install` puts the files on the server; this makes a database use them and
says clearly what is missing when something is.
"""

from __future__ import annotations

import psycopg

from . import EXTENSION_VERSION


class InstallError(RuntimeError):
    pass


def install(dsn: str, version: str = EXTENSION_VERSION) -> str:
    """Create (or update to) ``version`` in the database at ``dsn``; returns the installed version."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        avail = dict(conn.execute(
            "SELECT name, default_version FROM pg_available_extensions WHERE name IN ('nyop', 'plpython3u')"
        ).fetchall())
        if "plpython3u" not in avail:
            raise InstallError("the server has no plpython3u: install postgresql-plpython3-<major> "
                               "(make deps does this on Debian/Ubuntu)")
        if "nyop" not in avail:
            raise InstallError("the server has no nyop extension files: run `make install` on the server")
        have = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'nyop'").fetchone()
        try:
            if have is None:
                conn.execute(f"CREATE EXTENSION nyop VERSION '{version}' CASCADE")
            elif have[0] != version:
                conn.execute(f"ALTER EXTENSION nyop UPDATE TO '{version}'")
            conn.execute("SELECT nyop._load()")
        except psycopg.Error as e:
            hint = f" ({e.diag.message_hint})" if e.diag.message_hint else ""
            raise InstallError(f"{e.diag.message_primary or e}{hint}") from e
        got = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'nyop'").fetchone()[0]
        if got != version:
            raise InstallError(f"nyop {got} is installed, expected {version}")
        return got
