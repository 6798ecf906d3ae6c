"""Errors the CLI reports in one or two lines (what went wrong; what to do), never a traceback."""

from __future__ import annotations

import re

DSN_HINT = ("a DSN looks like 'host=localhost port=5432 dbname=mydb user=me' "
            "or 'postgresql://me@localhost:5432/mydb'")


class CLIError(Exception):
    """A problem the user can fix: ``message`` says what, ``hint`` (optional) what to do."""

    def __init__(self, message: str, hint: str | None = None, status: int = 1):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status


def _lines(text: str) -> list:
    return [ln.strip() for ln in str(text).splitlines() if ln.strip()]


def connection_problem(exc: Exception) -> CLIError | None:
    """A CLIError for a failure to connect (psycopg.connect), or None if it is something else."""
    import psycopg
    text = str(exc)
    lines = _lines(text)
    first = lines[0] if lines else type(exc).__name__
    if isinstance(exc, psycopg.ProgrammingError) and (
            "connection info string" in text or "invalid dsn" in text.lower()
            or "invalid connection option" in text or "invalid URI" in text or "connection string" in text):
        return CLIError(f"malformed DSN: {first}", DSN_HINT)
    if not isinstance(exc, psycopg.OperationalError):
        return None
    if not re.match(r"(connection failed|connection is bad|failed to resolve host|"
                    r"couldn't resolve|could not translate|invalid)", first):
        return None
    core = re.sub(r"^connection (failed|is bad): ", "", first)
    core = re.sub(r"^connection to server (at|on) (.*?) failed: ", r"server \2: ", core)
    core = core.replace("FATAL:  ", "").replace("FATAL: ", "")
    m = re.search(r'database "([^"]+)" does not exist', text)
    if m:
        return CLIError(f'cannot connect: database "{m.group(1)}" does not exist',
                        f"create it first (createdb {m.group(1)}) or name an existing database in the DSN")
    m = re.search(r'role "([^"]+)" does not exist', text)
    if m:
        return CLIError(f'cannot connect: role "{m.group(1)}" does not exist', "give an existing user= in the DSN")
    if "Connection refused" in text or "No such file or directory" in text:
        return CLIError(f"cannot connect: {core}",
                        "is the server running there? check host and port in the DSN")
    if "password" in text:
        return CLIError(f"cannot connect: {core}", "give password=… in the DSN or set PGPASSWORD")
    if "resolve host" in text or "translate host" in text:
        return CLIError(f"cannot connect: {core}", "check the host name in the DSN")
    if "invalid" in first:
        return CLIError(f"malformed DSN: {core}", DSN_HINT)
    return CLIError(f"cannot connect: {core}")


def connect(dsn: str, **kw):
    """psycopg.connect, with any failure to connect as a CLIError that says what to fix."""
    import psycopg
    try:
        return psycopg.connect(dsn, **kw)
    except psycopg.ProgrammingError as e:          # at connect time: the DSN does not parse
        lines = _lines(str(e))
        raise CLIError(f"malformed DSN: {lines[0] if lines else e}", DSN_HINT) from e
    except psycopg.OperationalError as e:
        c = connection_problem(e)
        if c is None:
            lines = _lines(str(e))
            c = CLIError(f"cannot connect: {lines[0] if lines else e}")
        raise c from e


def describe(exc: BaseException) -> CLIError:
    """Any exception as a CLIError (the CLI's last resort)."""
    if isinstance(exc, CLIError):
        return exc
    try:
        import psycopg
    except ImportError:      # pragma: no cover
        psycopg = None
    if psycopg is not None and isinstance(exc, psycopg.Error):
        c = connection_problem(exc)
        if c is not None:
            return c
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) or (_lines(str(exc)) or [type(exc).__name__])[0]
        state = getattr(exc, "sqlstate", None)
        hint = getattr(diag, "message_hint", None)
        return CLIError(f"{primary}" + (f" (SQLSTATE {state})" if state else ""), hint)
    if isinstance(exc, PermissionError):
        return CLIError(f"permission denied: {exc.filename or exc}", "run it as root (sudo)")
    if isinstance(exc, FileNotFoundError):
        return CLIError(f"not found: {exc.filename or exc}")
    lines = _lines(str(exc))
    return CLIError(f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "),
                    "NYOP_DEBUG=1 shows the traceback; please report it")
