"""nyop-pg: install nyop on a database host and into databases, run the demo, keep a playground
server up, chart what bids buy, benchmark."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from . import EXTENSION_VERSION, __version__
from .errors import CLIError, describe


def cmd_install(args) -> int:
    from .install import install
    v = install(args.dsn)
    print(f"nyop {v} installed")
    return 0


def cmd_install_server(args) -> int:
    from .server_install import install_server
    install_server(pg_config=args.pg_config, lib_dir=args.lib_dir, server_python=args.server_python,
                   destdir=args.destdir or "")
    return 0


def cmd_demo(args) -> int:
    from .demo import run
    if not args.dsn:
        _need_server_binaries()
    return run(dsn=args.dsn)


def cmd_up(args) -> int:
    """A throwaway server for psql and BI tools, until Ctrl-C. TCP needs the printed password
    (scram-sha-256): a trusted superuser on localhost would be anyone's on this machine."""
    import secrets
    from .cluster import LocalCluster
    from . import playground
    _need_server_binaries()
    password = secrets.token_urlsafe(18)
    cluster = LocalCluster(port=args.port, password=password)
    signal.signal(signal.SIGTERM, _interrupt)      # stops like Ctrl-C: the finally removes the cluster
    try:
        cluster.init().start()
        for line in playground.setup(cluster, password, with_paper=args.paper):
            print(line)
        print("Ctrl-C stops the server and removes its data.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


def _interrupt(*_):
    raise KeyboardInterrupt


def cmd_bench(args) -> int:
    from .bench import PARTS, run
    for p in args.parts:
        if p not in PARTS:
            raise CLIError(f"unknown part {p!r}", f"parts: {', '.join(PARTS)}", status=2)
    _need_server_binaries()
    if not args.parts or "solver" in args.parts:
        from . import payload
        try:
            sys.path.insert(0, payload.python_dir())
            import nyop_server.mckp  # noqa: F401
        except (ImportError, payload.PayloadError) as e:
            raise CLIError(f"the solver benchmark needs nyop's server-side modules, which cannot be imported: {e}",
                           "reinstall nyop-pg from its wheel or an sdist (they carry them)") from e
    return run(parts=args.parts, quick=args.quick, json_path=args.json, md_path=args.markdown)


def cmd_curve(args) -> int:
    from . import curve
    return curve.main(args)


def _need_server_binaries() -> None:
    from .cluster import find_bindir
    try:
        bindir = find_bindir()
    except RuntimeError as e:
        raise CLIError(str(e)) from e
    if not os.access(os.path.join(bindir, "initdb"), os.X_OK):
        raise CLIError(f"no initdb in {bindir}: a throwaway cluster needs PostgreSQL's server binaries",
                       "apt-get install postgresql-15, or point NYOP_PG_BINDIR at their directory")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nyop-pg", description=__doc__)
    p.add_argument("--version", action="version", version=f"nyop-pg {__version__} (nyop extension {EXTENSION_VERSION})")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    s = sub.add_parser("install", help="CREATE EXTENSION nyop CASCADE in a database, atomically")
    s.add_argument("--dsn", required=True, help="libpq connection string of the target database (a superuser)")
    s.set_defaults(fn=cmd_install)
    from .server_install import DEFAULT_LIB_DIR, DEFAULT_SERVER_PYTHON
    s = sub.add_parser("install-server", help="as root on the database host: the extension's files where "
                                              "PostgreSQL and its Python find them")
    s.add_argument("--pg-config", metavar="PATH", help="pg_config of the target server (default: the highest "
                                                       "/usr/lib/postgresql/*/bin/pg_config, else PATH)")
    s.add_argument("--lib-dir", default=DEFAULT_LIB_DIR, metavar="DIR",
                   help=f"where the server-side Python goes (default {DEFAULT_LIB_DIR})")
    s.add_argument("--server-python", default=DEFAULT_SERVER_PYTHON, metavar="PATH",
                   help=f"the Python PL/Python embeds (default {DEFAULT_SERVER_PYTHON})")
    s.add_argument("--destdir", metavar="DIR", help="stage everything under DIR (packaging); skips the host checks")
    s.set_defaults(fn=cmd_install_server)
    s = sub.add_parser("demo", help="the paper's example end to end on a throwaway server")
    s.add_argument("--dsn", help="use this database (with nyop installed, without the example's tables) "
                                 "instead of a throwaway server")
    s.set_defaults(fn=cmd_demo)
    s = sub.add_parser("up", help="keep a throwaway server with nyop running (for psql and BI tools)")
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--paper", action="store_true",
                   help="a ready playground: the paper's offerings, a buyer with a purchase, DSNs to paste")
    s.set_defaults(fn=cmd_up)
    s = sub.add_parser("bench", help="benchmarks against baselines measured in the same run")
    s.add_argument("parts", nargs="*", help="quality, views, bids, scale, large, solver (default: all; large: 1M and 10M rows, cold connections, provider writes)")
    s.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    s.add_argument("--json", help="write the figures as JSON here")
    s.add_argument("--markdown", help="write the markdown table here")
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("curve", help="chart what each bid buys: utility and every criterion's level, the ask marked")
    s.add_argument("offering", help="an offering or a comparison group")
    s.add_argument("--dsn", required=True, help="a database with nyop, as a buyer or the operator")
    s.add_argument("--preferences", required=True, metavar="JSON",
                   help='the buyer\'s weights, e.g. \'{"timeliness": 0.35, "amount_of_data": 0.5}\'')
    s.add_argument("--bids", metavar="FROM:TO", help="the range of bids (default: a tenth of the ask to 1.1 times it)")
    s.add_argument("--steps", type=int, default=100, help="bids quoted in the range (default 100)")
    s.add_argument("--now", metavar="TS", help="SET nyop.now to this timestamp first")
    s.add_argument("--out", required=True, metavar="FILE.png|FILE.svg", help="the chart")
    s.set_defaults(fn=cmd_curve)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:          # every error: one or two lines, no traceback
        if os.environ.get("NYOP_DEBUG"):
            raise
        err = describe(e)
        print(f"nyop-pg {args.cmd}: {' '.join(str(err.message).split())}", file=sys.stderr)
        if err.hint:
            print(f"  {' '.join(str(err.hint).split())}", file=sys.stderr)
        return err.status


if __name__ == "__main__":
    sys.exit(main())
