"""A throwaway PostgreSQL cluster for demos, tests and benchmarks.

``initdb`` and ``pg_ctl`` refuse to run as root, so when we are root they run as
the ``postgres`` system user. The cluster lives in a temporary directory, listens
on a free localhost port and on a unix socket inside that directory, trusts local
connections (it only ever holds throwaway data) and is removed on :meth:`stop`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile


def find_bindir(major: str | None = None) -> str:
    """The directory with initdb/pg_ctl: $NYOP_PG_BINDIR, Debian's layout, or PATH."""
    env = os.environ.get("NYOP_PG_BINDIR")
    if env:
        return env
    pattern = f"/usr/lib/postgresql/{major or '*'}/bin/initdb"
    found = sorted(glob.glob(pattern), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("no PostgreSQL server binaries found (initdb); run `make deps` or set NYOP_PG_BINDIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """initdb + pg_ctl start in a temp dir; ``dsn`` connects as the superuser ``postgres``."""

    def __init__(self, bindir: str | None = None, port: int | None = None,
                 settings: dict | None = None, datadir: str | None = None, password: str | None = None):
        self.bindir = bindir or find_bindir()
        self.port = port or free_port()
        self.settings = settings or {}
        self.as_postgres = os.geteuid() == 0
        self.tmp = tempfile.mkdtemp(prefix="nyop-pg-")
        self.datadir = datadir or os.path.join(self.tmp, "data")
        self.sockdir = self.tmp
        self.logfile = os.path.join(self.tmp, "server.log")
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self.started = False
        # With a password, TCP connections need it (scram-sha-256); only the unix socket in
        # our private directory stays trusted. Without one (tests, demo, bench: short-lived),
        # everything is trusted.
        self.password = password

    # -- running things as the cluster's owner ---------------------------------
    def _run(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)

    def bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    @property
    def dsn(self) -> str:
        return f"host={self.sockdir} port={self.port} user=postgres dbname=postgres"

    def dsn_for(self, dbname: str = "postgres", user: str = "postgres", host: str | None = None) -> str:
        return f"host={host or self.sockdir} port={self.port} user={user} dbname={dbname}"

    def init(self) -> "LocalCluster":
        auth = ["--auth=trust"]
        if self.password:
            pwfile = os.path.join(self.tmp, "pwfile")
            with open(pwfile, "w") as f:
                f.write(self.password + "\n")
            if self.as_postgres:
                pw = pwd.getpwnam("postgres")
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            os.chmod(pwfile, 0o600)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        self._run(self.bin("initdb"), "-D", self.datadir, "-U", "postgres", *auth,
                  "--encoding=UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--no-locale")
        if self.password:
            os.remove(os.path.join(self.tmp, "pwfile"))
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockdir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "'128MB'",
            "log_min_messages": "warning",
            "max_prepared_transactions": "10",     # tests: a prepared bid delivers nothing
        }
        conf.update({k: str(v) for k, v in self.settings.items()})
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        return self

    def start(self) -> "LocalCluster":
        self._run(self.bin("pg_ctl"), "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self, remove: bool = True) -> None:
        if self.started:
            self._run(self.bin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "stop", check=False)
            self.started = False
        if remove:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n: int = 50) -> str:
        try:
            with open(self.logfile) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "LocalCluster":
        try:
            return self.init().start()
        except Exception:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
        return "c.utf8" in out or "c.utf-8" in out
    except OSError:
        return False
