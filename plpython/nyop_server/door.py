"""The door between PostgreSQL and nyop's Python: what the SQL functions call.

Each SQL function calls :func:`call` with a handler name and its arguments as
one jsonb. The handler's result comes back as ``{"ok": …}``; a
:class:`~nyop_server.errors.NyopError` or an SPI error comes back as
``{"error": {"sqlstate", "message", "hint"}}``, which ``nyop._unwrap`` raises
as a proper PostgreSQL error — so bad input never shows a Python traceback.
"""

from __future__ import annotations

import json

from . import limits
from .errors import InsufficientPrivilege, NyopError
from .handlers import DOORS, HANDLERS
from .handlers.pricing import solve_mckp_arrays, solve_mckp_sent  # noqa: F401  (nyop_solve_mckp's fast path)
from .services.catalog import Ctx


def call(plpy, GD, name: str, args_json: str, definer=False) -> str:
    """Dispatch ``name`` with ``args`` (jsonb text); always returns an envelope."""
    ctx = Ctx(plpy, GD)
    out = timer = None
    try:
        if name not in HANDLERS or (definer and name not in DOORS.get(definer, ())):
            raise InsufficientPrivilege("nyop: no such entry point %r" % (name,))
        # What a buyer drives has bounded inputs and runs under nyop's time limit (limits.py).
        buyer = bool(definer) or name in limits.BUYER_DRIVEN
        if buyer:
            limits.check_payload(args_json)
        args = (limits.loads if buyer else json.loads)(args_json) if args_json else {}
        if buyer:
            limits.check_args(name, args)
            timer = limits.BuyerTimer.start(ctx)
        result = HANDLERS[name](ctx, **args)
        out = json.dumps({"ok": result}, allow_nan=False)
    except NyopError as e:
        out = json.dumps({"error": e.as_dict()})
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        # Only malformed input reaches these (a JSON value of the wrong type or size):
        # say so with a SQLSTATE instead of a Python traceback.
        out = json.dumps({"error": {"sqlstate": "22023", "message": "nyop: invalid input for %s: %s: %s"
                                    % (name, type(e).__name__, e), "hint": None, "detail": None}})
    except RecursionError:
        # JSON nested deeper than Python's recursion limit (json.loads), e.g. as preferences
        out = json.dumps({"error": {"sqlstate": "22023", "message": "nyop: invalid input for %s: nested too "
                                    "deeply" % (name,), "hint": None, "detail": None}})
    except plpy.SPIError as e:
        out = json.dumps({"error": {
            "sqlstate": getattr(e, "sqlstate", None) or "XX000",
            "message": str(e.args[0]) if e.args else str(e),
            "hint": getattr(e, "hint", None), "detail": getattr(e, "detail", None)}})
    finally:
        if timer is not None:
            out = timer.stop(out)    # the caller's own timeout back; a spent limit -> 57014
    return out
