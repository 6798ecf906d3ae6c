"""nyop-pg: install nyop into a database, run the demo, keep a server up, benchmark."""

from __future__ import annotations

import argparse
import signal
import sys
import time


def cmd_install(args) -> int:
    from .install import InstallError, install
    try:
        v = install(args.dsn)
    except InstallError as e:
        print(f"nyop-pg install: {e}", file=sys.stderr)
        return 1
    print(f"nyop {v} installed")
    return 0


def cmd_demo(args) -> int:
    from .demo import run
    return run(dsn=args.dsn)


def cmd_up(args) -> int:
    """A throwaway server for psql and BI tools, until Ctrl-C. TCP needs the printed password
    (scram-sha-256): a trusted superuser on localhost would be anyone's on this machine."""
    import secrets
    import psycopg
    from .cluster import LocalCluster
    from .install import install
    from . import paper
    password = secrets.token_urlsafe(18)
    cluster = LocalCluster(port=args.port, password=password)
    try:
        cluster.init().start()
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE nyop")
        install(cluster.dsn_for("nyop"))
        if args.paper:
            with psycopg.connect(cluster.dsn_for("nyop"), autocommit=True) as conn:
                paper.load(conn)
        print(f"nyop is up: psql 'host=127.0.0.1 port={cluster.port} user=postgres password={password} dbname=nyop'")
        print("Ctrl-C stops the server and removes its data.", flush=True)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


def cmd_bench(args) -> int:
    from .bench import run
    return run(parts=args.parts, quick=args.quick, json_path=args.json, md_path=args.markdown)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nyop-pg", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("install", help="CREATE EXTENSION nyop CASCADE in a database (after make install)")
    s.add_argument("--dsn", required=True, help="libpq connection string of the target database")
    s.set_defaults(fn=cmd_install)
    s = sub.add_parser("demo", help="the paper's example end to end on a throwaway server")
    s.add_argument("--dsn", help="use this database instead of a throwaway server")
    s.set_defaults(fn=cmd_demo)
    s = sub.add_parser("up", help="keep a throwaway server with nyop running")
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--paper", action="store_true", help="load the paper's weather example")
    s.set_defaults(fn=cmd_up)
    s = sub.add_parser("bench", help="benchmarks against baselines measured in the same run")
    s.add_argument("parts", nargs="*", help="quality, views, bids, scale, solver (default: all)")
    s.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    s.add_argument("--json", help="write the figures as JSON here")
    s.add_argument("--markdown", help="write the markdown table here")
    s.set_defaults(fn=cmd_bench)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
