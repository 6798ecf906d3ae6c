"""Bounded cost of a buyer's input, and a time limit on buyer-driven work.

A buyer is hostile (SECURITY.md), and what a buyer sends runs inside the database with
nyop's rights: a quote measures the offering's relation under the buyer's scope, a bid
builds a view. Two defences, used by :func:`nyop_server.door.call`:

1. **Bounded inputs.** Every buyer-supplied input has a size limit, checked before any
   work: the whole payload (:data:`MAX_PAYLOAD_CHARS`), numbers in it
   (:data:`MAX_JSON_NUMBER_CHARS`), preferences (:data:`MAX_PREFERENCES` criteria, names of
   at most :data:`MAX_NAME_CHARS`), the wanted columns (:data:`MAX_COLUMNS`), and the scope
   (:mod:`nyop_server.scope`: length, tokens, nesting, numeric literals, string literals,
   IN lists, multiplicative operators). A breach is ``22023`` with a message naming the
   limit, like the scope's own size limits.

2. **A time limit** on everything a buyer can make nyop do: the handlers behind the
   SECURITY DEFINER door (``quote``, ``explain``, ``quality_of``, ``audit_offering``,
   ``solve_mckp``) and the bid trigger's ``place_bid`` (:data:`BUYER_DRIVEN`). Not the
   operator's or providers' handlers (registration, previews).

   The limit is the operator's setting ``buyer_time_limit`` in ``nyop.settings`` (a jsonb
   number of milliseconds, or a string with PostgreSQL's time units: ``'500ms'``,
   ``'10s'``, ``'2min'``; ``0`` disables it), else :data:`DEFAULT_TIME_LIMIT_MS` (10 s).
   A session's ``SET nyop.buyer_time_limit`` may only lower it: a buyer cannot change
   ``nyop.settings``, and a larger (or ``0``) session value is ignored.

How the time limit interrupts a running query
----------------------------------------------
``SET statement_timeout`` inside a running statement (or a function's ``SET`` clause)
does not arm a timer: PostgreSQL arms it only when a top-level statement starts. So this
module arms PostgreSQL's own statement timeout directly, through the server's exported
functions of ``utils/timeout.h`` (``ctypes.CDLL(None)`` is the running ``postgres``
executable): ``enable_timeout_after(STATEMENT_TIMEOUT, ms)``. When it expires,
PostgreSQL cancels the running query exactly as for ``statement_timeout``: SQLSTATE
``57014``, "canceling statement due to statement timeout", at the next interrupt check
(a running SPI query, a lock wait). Around each call:

* it only **shortens** a timeout the caller already has (``get_timeout_active`` /
  ``get_timeout_finish_time``), never lengthens it;
* after the call it **restores** the caller's own timeout (``enable_timeout_at`` its old
  finish time) or disarms it (``disable_timeout``), so the limit covers the call only:
  neither the rest of the statement nor, of course, the next statement (PostgreSQL
  disarms the statement timeout at the end of every statement anyway);
* a limit that expires while Python (not SQL) runs leaves a pending cancel (PostgreSQL
  interrupts SQL only); it is taken here with a trivial query, and the call's result
  becomes the same ``57014`` error (an error the call ended with stays that error).

``STATEMENT_TIMEOUT`` is 3 in the ``TimeoutId`` enum (checked against the PostgreSQL 15
headers, ``utils/timeout.h``; its first four entries have not moved since 9.3); the
functions are used only on server versions :data:`TIMER_VERSIONS` (12 to 18), and only
when every symbol is found. Otherwise — another server version, a build that does not
export its symbols — there is **no timer**: the inputs are still bounded, and
:func:`timer_available` says so.
ctypes is imported on the first buyer-driven call of a session and the function
pointers are kept in a module global.
"""

from __future__ import annotations

import json
import re

from .errors import InvalidParameter

#: Handlers whose work a buyer drives (the definer door's handlers, and the bid trigger's).
BUYER_DRIVEN = frozenset({"quote", "explain", "quality_of", "audit_offering", "solve_mckp", "place_bid"})

#: Default time limit of one buyer-driven call, when nyop.settings has no buyer_time_limit.
DEFAULT_TIME_LIMIT_MS = 10_000
#: Largest limit a timer can take (PostgreSQL's int milliseconds, ~24.8 days).
MAX_TIME_LIMIT_MS = 2**31 - 1

#: Longest payload (jsonb text of one call's arguments), in characters.
MAX_PAYLOAD_CHARS = 256 * 1024
#: Longest number (characters of its JSON text) in a payload: every float8 fits (PostgreSQL
#: writes a numeric bid of 1e308 out in full, 309 digits); a 130 000-digit one does not.
MAX_JSON_NUMBER_CHARS = 400
#: Most criteria in a buyer's preferences.
MAX_PREFERENCES = 64
#: Longest criterion name in preferences (PostgreSQL's identifier length).
MAX_NAME_CHARS = 63
#: Most entries in a buyer's wanted columns (PostgreSQL's maximum columns of a table).
MAX_COLUMNS = 1600

#: Server versions (server_version_num) whose TimeoutId enum has STATEMENT_TIMEOUT = 3.
TIMER_VERSIONS = range(120000, 190000)
_STATEMENT_TIMEOUT = 3

SETTINGS_SQL = """SELECT (SELECT value::text FROM nyop.settings WHERE key = 'buyer_time_limit') AS operator,
       current_setting('nyop.buyer_time_limit', true) AS session,
       current_setting('server_version_num')::int AS version"""
SESSION_SQL = """SELECT NULL::text AS operator, current_setting('nyop.buyer_time_limit', true) AS session,
       current_setting('server_version_num')::int AS version"""

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(us|ms|s|min|h|d)?\s*$")


# -- input bounds -------------------------------------------------------------------------

def check_payload(args_json) -> None:
    """The whole payload of one buyer-driven call: bounded before it is parsed."""
    if args_json is not None and len(args_json) > MAX_PAYLOAD_CHARS:
        raise InvalidParameter("nyop: input too large (%d characters, at most %d)"
                               % (len(args_json), MAX_PAYLOAD_CHARS))


def json_number(kind):
    """A ``parse_int``/``parse_float`` hook for json.loads: numbers of bounded length."""
    convert = int if kind == "int" else float

    def parse(text):
        if len(text) > MAX_JSON_NUMBER_CHARS:
            raise InvalidParameter("nyop: a number in the input is too long (%d characters, at most %d)"
                                   % (len(text), MAX_JSON_NUMBER_CHARS))
        return convert(text)
    return parse


_PARSE_INT, _PARSE_FLOAT = json_number("int"), json_number("float")


def loads(args_json):
    """json.loads with bounded numbers (a 100 000-digit bid is refused, not converted)."""
    return json.loads(args_json, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT)


def check_args(name: str, args) -> None:
    """Sizes of a buyer-driven call's arguments that the handlers would otherwise walk
    (the scope is bounded by :mod:`nyop_server.scope` when it is parsed). Runs before the
    time limit is armed: it is cheap, and bounded by the payload's size."""
    if not isinstance(args, dict):
        return          # the handler call refuses it (TypeError -> 22023)
    prefs = args.get("preferences")
    if isinstance(prefs, dict):
        if len(prefs) > MAX_PREFERENCES:
            raise InvalidParameter("preferences name too many criteria (%d, at most %d)"
                                   % (len(prefs), MAX_PREFERENCES))
        for k in prefs:
            if len(k) > MAX_NAME_CHARS:
                raise InvalidParameter("preferences name an unknown criterion of %d characters (criterion "
                                       "names have at most %d)" % (len(k), MAX_NAME_CHARS))
    columns = args.get("columns")
    if isinstance(columns, list) and len(columns) > MAX_COLUMNS:
        raise InvalidParameter("columns lists too many columns (%d, at most %d)" % (len(columns), MAX_COLUMNS))
    scope = args.get("scope")
    if isinstance(scope, str) and scope.strip():
        # the scope parser (sqlglot) loads once per session, here: not on the buyer's clock
        from . import scope as _scope  # noqa: F401


# -- the time limit -----------------------------------------------------------------------

def parse_duration(raw, what: str):
    """Milliseconds (int, 0 = no limit) from a setting: a number (ms) or text with a
    PostgreSQL time unit (us, ms, s, min, h, d); ``None`` for unset/empty."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw_text = raw
        if not raw.strip():
            return None
        m = _DURATION_RE.match(raw)
        if not m:
            raise InvalidParameter("%s must be a duration like '500ms', '10s' or '2min' (0 = no limit), got %r"
                                   % (what, raw_text[:60]))
        ms = float(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        ms = float(raw)
        if ms != ms or ms < 0:
            raise InvalidParameter("%s must be a duration >= 0, got %r" % (what, raw))
    else:
        raise InvalidParameter("%s must be a number of milliseconds or a duration like '10s', got %r"
                               % (what, raw))
    if ms <= 0:
        return 0
    return int(min(max(ms, 1.0), MAX_TIME_LIMIT_MS))


def effective_limit(operator, session) -> int:
    """The limit in ms (0 = none): the operator's setting (or the default), lowered —
    never raised, never switched off — by the session's."""
    op = parse_duration(operator, "nyop.settings buyer_time_limit")
    limit = DEFAULT_TIME_LIMIT_MS if op is None else op
    mine = parse_duration(session, "nyop.buyer_time_limit")
    if mine:                                 # None or 0: the session adds nothing
        limit = mine if limit == 0 else min(limit, mine)
    return limit


def _settings(ctx) -> dict:
    """The operator's and the session's setting, and the server version: one query."""
    try:
        return dict(ctx.query(SETTINGS_SQL)[0])
    except ctx.plpy.SPIError as e:
        if getattr(e, "sqlstate", None) != "42P01":
            raise
        # before the 0.2.0 upgrade there is no nyop.settings: the default, lowered by the session
        return dict(ctx.query(SESSION_SQL)[0])


_API = None           # the timeout functions (a namespace), or False when unavailable


def _timeout_api(version: int):
    """PostgreSQL's timeout functions via ctypes, looked up once per session."""
    global _API
    if _API is None:
        _API = False
        if version in TIMER_VERSIONS:
            try:
                import ctypes
                lib = ctypes.CDLL(None)
                c_id, c_bool, c_ts = ctypes.c_int, ctypes.c_bool, ctypes.c_int64

                def fn(name, restype, *argtypes):
                    f = getattr(lib, name)
                    f.restype, f.argtypes = restype, list(argtypes)
                    return f

                class Api:
                    enable_after = fn("enable_timeout_after", None, c_id, ctypes.c_int)
                    enable_at = fn("enable_timeout_at", None, c_id, c_ts)
                    disable = fn("disable_timeout", None, c_id, c_bool)
                    active = fn("get_timeout_active", c_bool, c_id)
                    indicator = fn("get_timeout_indicator", c_bool, c_id, c_bool)
                    finish_time = fn("get_timeout_finish_time", c_ts, c_id)
                    now = fn("GetCurrentTimestamp", c_ts)
                _API = Api
            except (OSError, AttributeError, ImportError):
                _API = False
    return _API or None


def timer_available() -> bool | None:
    """Whether this session's buyer-driven calls run under a timer (None: not yet known)."""
    return None if _API is None else bool(_API)


class BuyerTimer:
    """The time limit of one buyer-driven call: :meth:`start` arms it, :meth:`stop`
    gives the caller's own statement timeout back."""

    def __init__(self, ctx, api, limit_ms: int, previous):
        self.ctx, self.api, self.limit_ms, self.previous = ctx, api, limit_ms, previous

    @classmethod
    def start(cls, ctx):
        """Arm the limit for this call; ``None`` when there is nothing to arm (no limit,
        no timer on this server, or the caller's own timeout ends sooner)."""
        s = _settings(ctx)
        limit = effective_limit(_jsonb(s["operator"]), s["session"])
        if not limit:
            return None
        api = _timeout_api(s["version"])
        if api is None:
            return None
        previous = None
        if api.active(_STATEMENT_TIMEOUT):
            previous = api.finish_time(_STATEMENT_TIMEOUT)
            if previous <= api.now() + limit * 1000:
                return None                  # the caller's timeout is the shorter one: keep it
        api.enable_after(_STATEMENT_TIMEOUT, limit)
        return cls(ctx, api, limit, previous)

    def stop(self, out):
        """Disarm (restore the caller's timeout); a limit that expired turns ``out`` (the
        call's envelope) into the 57014 error, with a hint naming the setting."""
        api = self.api
        # Fired: no longer active (PostgreSQL resets the indicator when it raises the cancel
        # in a query), or the indicator is set (it fired while Python ran, or just now).
        fired = not api.active(_STATEMENT_TIMEOUT)
        api.disable(_STATEMENT_TIMEOUT, True)
        fired = api.indicator(_STATEMENT_TIMEOUT, False) or fired
        if fired:
            try:      # a cancel still pending (it fired while Python ran): take it here
                self.ctx.plpy.execute("SELECT 1")
            except self.ctx.plpy.SPIError:
                pass
            api.indicator(_STATEMENT_TIMEOUT, True)
            out = self.timed_out(out)
        if self.previous is not None:
            api.enable_at(_STATEMENT_TIMEOUT, self.previous)
        return out

    def timed_out(self, out):
        """The envelope of a call during which the limit expired: a result becomes the 57014
        error (PostgreSQL would raise it at its next interrupt check anyway), the 57014 error
        gets a hint naming the setting, any other error (a refusal the call reached after the
        limit, in Python) stays what it is."""
        hint = ("nyop limits buyer-driven work (quotes, measures, bids) to %d ms per call: "
                "the operator's buyer_time_limit in nyop.settings (a session may only lower it "
                "with SET nyop.buyer_time_limit)" % self.limit_ms)
        try:
            err = json.loads(out).get("error") if out else None
        except ValueError:
            err = None
        if err and err.get("sqlstate") != "57014":
            return out
        if not err:
            err = {"sqlstate": "57014", "message": "canceling statement due to statement timeout",
                   "detail": None}
        err["hint"] = hint
        return json.dumps({"error": err})


def _jsonb(text):
    """The operator's jsonb value (as text) -> Python (number or string)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
