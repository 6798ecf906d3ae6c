"""Errors that carry a SQLSTATE.

Modules raise :class:`NyopError` (or a subclass) for anything a user did wrong;
the edge turns it into a PostgreSQL error with that SQLSTATE, so a caller never
sees a Python traceback for bad input.
"""


class NyopError(Exception):
    """A user-facing error: ``message`` names the bad input, ``sqlstate`` classifies it."""

    sqlstate = "22023"  # invalid_parameter_value

    def __init__(self, message, sqlstate=None, hint=None, detail=None):
        super().__init__(message)
        self.message = message
        if sqlstate is not None:
            self.sqlstate = sqlstate
        self.hint = hint
        self.detail = detail

    def as_dict(self):
        return {"sqlstate": self.sqlstate, "message": self.message,
                "hint": self.hint, "detail": self.detail}


class InvalidParameter(NyopError):
    sqlstate = "22023"  # invalid_parameter_value


class UndefinedColumn(NyopError):
    sqlstate = "42703"


class UndefinedTable(NyopError):
    sqlstate = "42P01"


class UndefinedObject(NyopError):
    sqlstate = "42704"


class InsufficientPrivilege(NyopError):
    sqlstate = "42501"


class DatatypeMismatch(NyopError):
    sqlstate = "42804"
