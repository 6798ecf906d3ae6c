"""Test servers: NYOP_TEST_DSN if set; else testcontainers (docker/Dockerfile)
when a Docker engine answers; else a throwaway local cluster. Each test gets a
fresh database with the extension installed."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from psycopg import conninfo

from nyop_pg import paper

try:   # the suite is deterministic by default (CI must not flake); HYPOTHESIS_PROFILE=explore draws anew
    from hypothesis import settings as _hsettings
    _hsettings.register_profile("ci", derandomize=True)
    _hsettings.register_profile("explore", derandomize=False)
    _hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    pass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    """A PostgreSQL server we may create databases and roles on, as superuser."""

    def __init__(self, dsn: str, stop=None, cluster=None):
        self.dsn = dsn
        self._stop = stop
        self.cluster = cluster

    def dsn_for(self, dbname: str, user: str | None = None) -> str:
        params = conninfo.conninfo_to_dict(self.dsn)
        params["dbname"] = dbname
        if user:
            params["user"] = user
            params.pop("password", None) if user != conninfo.conninfo_to_dict(self.dsn).get("user") else None
        return conninfo.make_conninfo(**params)

    def stop(self):
        if self._stop:
            self._stop()


def docker_engine_answers() -> bool:
    try:
        import docker  # installed with testcontainers
        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def start_container() -> Server:
    """Build docker/Dockerfile and run it (not exercised on machines without Docker)."""
    from testcontainers.core.image import DockerImage
    from testcontainers.postgres import PostgresContainer

    image = DockerImage(path=ROOT, dockerfile_path="docker/Dockerfile", tag="nyop-test:latest")
    image.build()
    container = PostgresContainer(str(image), username="postgres", password="postgres", dbname="postgres",
                                  driver=None)
    container.start()
    dsn = (f"host={container.get_container_host_ip()} port={container.get_exposed_port(5432)} "
           f"user=postgres password=postgres dbname=postgres")
    return Server(dsn, stop=container.stop)


def start_local() -> Server:
    from nyop_pg.cluster import LocalCluster
    cluster = LocalCluster().init().start()
    return Server(cluster.dsn, stop=cluster.stop, cluster=cluster)


@pytest.fixture(scope="session")
def server():
    if os.environ.get("NYOP_TEST_DSN"):
        srv = Server(os.environ["NYOP_TEST_DSN"])
    elif docker_engine_answers():
        srv = start_container()
    else:
        srv = start_local()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def dbname(server):
    """A fresh database with `CREATE EXTENSION nyop CASCADE`, dropped afterwards."""
    name = "nyop_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(server.dsn_for(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION nyop CASCADE")
    yield name
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(server, dbname):
    """A superuser (operator) connection to the fresh database, autocommit."""
    with psycopg.connect(server.dsn_for(dbname), autocommit=True) as conn:
        yield conn


@pytest.fixture
def paper_db(db):
    """The paper's Tables 1 and 2 with offerings paper_a (alone) and wa, wb (group 'weather')."""
    paper.load(db)
    db.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    return db


def one(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def make_role(server, dbname):
    """make_role('alice') -> (role name, dsn): a LOGIN role unique to this test, dropped afterwards."""
    made = []

    def make(label: str):
        name = f"{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.dsn_for(dbname), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD 'nyop-test'")
        made.append(name)
        params = conninfo.conninfo_to_dict(server.dsn_for(dbname, user=name))
        params["password"] = "nyop-test"
        return name, conninfo.make_conninfo(**params)

    yield make
    with psycopg.connect(server.dsn_for(dbname), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()", (made,))
        for name in made:
            conn.execute(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER')
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def buyer(make_role, db):
    """A registered buyer: (role, connection as that role)."""
    conns = []

    def make(label="buyer"):
        name, dsn = make_role(label)
        db.execute(f"SELECT nyop_add_buyer('\"{name}\"')")
        conn = psycopg.connect(dsn, autocommit=True)
        conns.append(conn)
        return name, conn

    yield make
    for c in conns:
        c.close()
