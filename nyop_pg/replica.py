"""A hot standby of a :class:`~nyop_pg.cluster.LocalCluster`, on localhost.

Reading a tailored view must never write, so a buyer can read it on a
read-only replica while bids go to the primary. This module makes such a
replica for tests and demos: ``pg_basebackup -R -X stream`` of the primary
into a new temporary directory, its own port and unix socket, ``hot_standby``
on, streaming replication from the primary.

    standby = start_standby(primary)
    try:
        ...  # write on the primary, then
        wait_for_replay(primary_conn, standby_conn)
        ...  # read on the standby
    finally:
        standby.stop()
"""

from __future__ import annotations

import os
import time

from .cluster import LocalCluster

# What pg_hba.conf needs for pg_basebackup and the walreceiver to connect over the
# primary's unix socket (initdb --auth=trust usually writes these already).
REPLICATION_HBA = ("local   replication     all                                     trust\n"
                   "host    replication     all             127.0.0.1/32            trust\n")


class Standby(LocalCluster):
    """A LocalCluster whose data directory is a base backup of ``primary``, in recovery."""

    def __init__(self, primary: LocalCluster, port: int | None = None, settings: dict | None = None):
        super().__init__(bindir=primary.bindir, port=port, settings=settings)
        self.primary = primary

    def init(self) -> "Standby":
        """pg_basebackup from the primary; our own port, socket dir and hot standby on."""
        p = self.primary
        res = self._run(self.bin("pg_basebackup"), "-D", self.datadir, "-R", "-X", "stream", "-c", "fast",
                        "--no-sync", "-h", p.sockdir, "-p", str(p.port), "-U", "postgres", check=False)
        if res.returncode != 0:
            raise RuntimeError(f"pg_basebackup from {p.sockdir}:{p.port} failed:\n{res.stderr}")
        # -R appended primary_conninfo to postgresql.auto.conf and wrote standby.signal;
        # later lines win, so ours override the primary's port and socket directory.
        conf = {
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockdir}'",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "wal_receiver_status_interval": "'1s'",
        }
        conf.update({k: str(v) for k, v in self.settings.items()})
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            f.write("\n# nyop standby\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        if not os.path.exists(os.path.join(self.datadir, "standby.signal")):
            raise RuntimeError("pg_basebackup -R wrote no standby.signal")
        return self

    def start(self, timeout: float = 60) -> "Standby":
        super().start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the standby accepts connections, is in recovery and streams from the primary."""
        import psycopg
        deadline = time.monotonic() + timeout
        last: Exception | str | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    recovering, streaming = conn.execute(
                        "SELECT pg_is_in_recovery(), "
                        "       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')").fetchone()
                    if recovering and streaming:
                        return
                    last = f"pg_is_in_recovery() = {recovering}, streaming = {streaming}"
            except psycopg.Error as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"standby on port {self.port} not ready after {timeout} s ({last}); "
                           f"log:\n{self.log_tail()}")


def ensure_replication_allowed(primary: LocalCluster) -> None:
    """The primary must have WAL senders, wal_level >= replica and trust for local replication."""
    import psycopg
    with psycopg.connect(primary.dsn, autocommit=True) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        senders = int(conn.execute("SHOW max_wal_senders").fetchone()[0])
        if wal_level == "minimal" or senders < 2:
            raise RuntimeError(f"the primary cannot stream (wal_level = {wal_level}, max_wal_senders = {senders}); "
                               "restart it with wal_level = replica and max_wal_senders >= 2")
        rules = conn.execute(
            "SELECT type, address FROM pg_hba_file_rules "
            "WHERE 'replication' = ANY(database) AND auth_method = 'trust' AND error IS NULL").fetchall()
        if not any(t == "local" for t, _ in rules):
            hba = conn.execute("SHOW hba_file").fetchone()[0]
            with open(hba) as f:
                old = f.read()
            # Prepend: the first matching line wins.
            with open(hba, "w") as f:
                f.write(REPLICATION_HBA + old)
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.2)


def start_standby(primary: LocalCluster, timeout: float = 60) -> Standby:
    """A running hot standby of ``primary``; ``stop()`` stops and removes it."""
    if not primary.started:
        raise RuntimeError("the primary is not running")
    ensure_replication_allowed(primary)
    standby = Standby(primary)
    try:
        standby.init().start(timeout)
    except Exception:
        standby.stop()
        raise
    return standby


def wait_for_replay(primary_conn, standby_conn, timeout: float = 30) -> str:
    """Wait until the standby has replayed everything the primary has written so far.

    Uses the primary's WAL *insert* position: with ``synchronous_commit = off`` a
    commit record may still sit in the WAL buffers, beyond ``pg_current_wal_lsn()``.
    Returns the LSN waited for.
    """
    target = primary_conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + timeout
    while True:
        done, replayed = standby_conn.execute(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false), pg_last_wal_replay_lsn()::text",
            (target,)).fetchone()
        if done:
            return target
        if time.monotonic() > deadline:
            raise TimeoutError(f"standby replayed up to {replayed}, not {target}, within {timeout} s")
        time.sleep(0.02)
