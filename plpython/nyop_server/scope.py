"""Buyer scopes: validate an untrusted SQL predicate and re-render it safely.

A buyer may restrict what they buy with a *scope*, a boolean SQL predicate over
the offering's own columns, e.g.::

    station IN ('FRA','LHR') AND date BETWEEN '2017-05-08' AND '2017-05-10'

The text comes from an untrusted buyer and ends up inside a view definition or a
query that runs with elevated rights.  So it is never pasted anywhere: it is
parsed with sqlglot (dialect ``postgres``), every node of the tree is checked
against a whitelist, and the predicate is **re-rendered by this module from the
tree**, token by token, with

* every column identifier double-quoted (``"`` doubled inside),
* every string literal in standard ``'...'`` quoting (``'`` doubled inside; a
  backslash is refused, see below),
* numbers checked against a strict numeric pattern,
* keywords, operators, type names and function names taken from fixed tables in
  this module (never from the input),
* every compound operand parenthesised (only AND/OR chains, which bind more
  loosely than anything else, are not), so PostgreSQL's operator precedence
  can not regroup what we checked.

The result can therefore be embedded verbatim as ``WHERE <rendered>``.

Public API
----------
``parse_scope(text, columns) -> str | None``
    Validate and re-render; ``None`` for an absent/blank scope.
``scope_columns(text, columns) -> set[str]``
    The offering columns the accepted predicate references.

What is accepted
----------------
comparisons (``= <> != < <= > >=``, ``IS [NOT] DISTINCT FROM``), ``AND`` /
``OR`` / ``NOT``, parentheses, ``IN (<literals>)``, ``[NOT] BETWEEN
[SYMMETRIC]``, ``IS [NOT] NULL|TRUE|FALSE|UNKNOWN``, ``[NOT] LIKE|ILIKE [ESCAPE
'c']``, literals (numbers, strings, booleans, ``NULL``, typed literals ``DATE
'..'``, ``TIME '..'``, ``TIMESTAMP '..'``, ``TIMESTAMPTZ '..'``, ``INTERVAL
'..'``), arithmetic ``+ - * / %``, unary minus, ``||``, ``CASE``, casts
(``x::t`` / ``CAST(x AS t)``) to the plain types in :data:`ALLOWED_TYPES`,
unqualified offering columns and the functions in :data:`ALLOWED_FUNCTIONS`.

Decisions
---------
* ``now()``, ``current_date``, ``current_timestamp``, ``localtime[stamp]`` …
  are **refused**.  A scope defines *which rows were bought and priced*; it must
  denote the same rows whenever it is evaluated, or the quote and the delivery
  (and two deliveries) disagree.  Use literal dates instead.
* ``current_user``, ``session_user``, ``current_setting()``, ``version()`` …
  are refused: a scope must not depend on, or leak, session information.
  Bare words that sqlglot reads as names (``user``, ``current_role``) are
  rendered as quoted column references, never as PostgreSQL's session
  functions, so they must name offering columns (else 42703).
* Backslashes inside string literals are refused.  With
  ``standard_conforming_strings = off`` (a per-session setting the buyer may
  control) PostgreSQL would treat ``\\`` as an escape and ``'a\\'`` would not
  end where we think it ends.  For ``LIKE`` use ``ESCAPE '#'``.
* ``E'..'``, ``U&'..'``, ``U&"..."``, ``$$..$$``, ``B'..'``, ``X'..'``,
  ``N'..'`` literals, comments, parameters (``$1``, ``?``, ``%s``, ``:name``)
  and adjacent string literals are refused: they are exactly the places where
  two SQL lexers are most likely to disagree, and a scope never needs them.
* Casts only to plain built-in types.  Casts to ``regclass``/``regproc``/
  ``oid``/user-defined types are refused: they look objects up in the catalog
  or run arbitrary type input functions.
* Output is fully parenthesised except for AND/OR chains (which bind more
  loosely than anything else), e.g. ``("a" + 1) > 2``; ``IN`` lists hold
  literals only.  sqlglot normalises some spellings, and we render the
  canonical PostgreSQL form: ``x::t`` -> ``CAST(x AS t)``, ``date_part('f',
  x)`` -> ``EXTRACT(f FROM x)``, ``substr`` -> ``substring(x FROM a FOR b)``,
  ``ltrim/rtrim/btrim`` -> ``trim(LEADING|TRAILING ... FROM x)``,
  ``ceiling`` -> ``ceil``, ``char_length`` -> ``length``, ``!=`` -> ``<>``.
* ``substring(x FROM 'regex')`` (the regex form), ``SIMILAR TO`` and ``~`` are
  refused (no regular expressions), as are ``COLLATE``, array subscripts, JSON
  operators, ``ANY``/``ALL``, arrays, row constructors and ``*``.

Errors
------
* :class:`~nyop_server.errors.InsufficientPrivilege` (42501) for a forbidden
  *capability*: a function outside the whitelist, session/clock functions,
  subqueries, other tables or qualified names, other statements (``;``),
  casts to non-whitelisted types.
* :class:`~nyop_server.errors.UndefinedColumn` (42703) for a column the
  offering does not have (the message lists the allowed ones).
* :class:`~nyop_server.errors.InvalidParameter` (22023) for anything that is
  not a valid, supported predicate: syntax errors, non-boolean top level,
  blank after parsing (e.g. only a comment), comments, refused literal forms
  (E'', U&, $$), parameters, other unsupported syntax, NUL characters, more
  than :data:`MAX_SCOPE_LENGTH` (4000) characters, more than 32 nested
  parentheses / CASEs / prefix operators, or an expression tree deeper than
  100 levels.  Also for a scope whose *evaluation* could cost more than a
  few operations per row (see "Bounded cost" below): the message names the
  limit.

Bounded cost
------------
A scope is evaluated once per row of the offering, with nyop's rights, for a
buyer who is treated as hostile; its text is short, but a short text can
denote costly values (``1e65000`` is 7 characters and a 65 001-digit numeric;
squaring it per row takes tens of milliseconds).  So besides the size limits
above, every value a scope spells is bounded:

* numbers: at most :data:`MAX_NUMBER_DIGITS` (38) significant digits and a
  decimal exponent (as in ``1.5e38``) between -:data:`MAX_NUMBER_EXPONENT`
  and :data:`MAX_NUMBER_EXPONENT` (38);
* string literals: at most :data:`MAX_STRING_LENGTH` (1000) characters; one
  that PostgreSQL could read as a number *with an exponent* (``'1e65000'``,
  compared with a numeric column) is bounded like a number;
* ``IN`` lists: at most :data:`MAX_IN_ITEMS` (500) items;
* at most :data:`MAX_MULTIPLICATIONS` (16) of ``*``, ``/``, ``%`` (the
  operators that grow a numeric's digits);
* ``round(x, n)``: ``n`` an integer literal within ±38; casts to
  ``numeric(p, s)`` with ``p``, ``s`` at most 38, to ``varchar(n)`` /
  ``char(n)`` with ``n`` at most :data:`MAX_STRING_LENGTH`.

All of these are ``InvalidParameter`` (22023), like the other size limits.  What
is left (a legal scope over a big table can still be slow) is bounded in time:
buyer-driven work runs under ``nyop.buyer_time_limit`` (:mod:`nyop_server.limits`).

No other exception type ever escapes (sqlglot errors and any unexpected
exception are converted to ``InvalidParameter``).
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation
from collections import namedtuple
from typing import Iterable

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from nyop_server.errors import (
    InsufficientPrivilege,
    InvalidParameter,
    NyopError,
    UndefinedColumn,
)

__all__ = [
    "parse_scope",
    "scope_columns",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_TYPES",
    "MAX_SCOPE_LENGTH",
    "MAX_NUMBER_DIGITS",
    "MAX_NUMBER_EXPONENT",
    "MAX_STRING_LENGTH",
    "MAX_IN_ITEMS",
    "MAX_MULTIPLICATIONS",
]

#: Longest accepted scope text, in characters.
MAX_SCOPE_LENGTH = 4000
#: Deepest accepted parenthesis nesting in the source text.
MAX_PAREN_DEPTH = 32
#: Deepest accepted expression tree (parentheses not counted).
MAX_TREE_DEPTH = 100
#: Most expression nodes accepted in one scope.
MAX_NODES = 2000
#: Most tokens accepted in one scope.
MAX_TOKENS = 2000
#: Most significant digits of a number (``numeric(38)``, the widest common decimal).
MAX_NUMBER_DIGITS = 38
#: Largest decimal exponent of a number, in magnitude (``1e38``, ``1e-38``).
MAX_NUMBER_EXPONENT = 38
#: Longest string literal, in characters.
MAX_STRING_LENGTH = 1000
#: Most items of one IN list.
MAX_IN_ITEMS = 500
#: Most multiplicative operators (``*``, ``/``, ``%``) in one scope.
MAX_MULTIPLICATIONS = 16

_DIALECT = Postgres()

# --------------------------------------------------------------------------
# whitelists
# --------------------------------------------------------------------------

#: Function names a buyer may *spell* (PostgreSQL functions; sqlglot maps some
#: of them onto the canonical form we render, e.g. ``substr`` -> ``substring``,
#: ``ltrim(x)`` -> ``trim(LEADING FROM x)``, ``date_part`` -> ``EXTRACT``).
ALLOWED_FUNCTIONS = (
    "lower", "upper", "coalesce", "abs", "round", "floor", "ceil", "ceiling",
    "length", "char_length", "character_length", "trim", "btrim", "ltrim",
    "rtrim", "date_trunc", "date_part", "extract", "substring", "substr",
)
_ALLOWED_FUNCTION_SET = frozenset(ALLOWED_FUNCTIONS)
_ALLOWED_FUNCTIONS_TEXT = ", ".join(
    ("lower", "upper", "coalesce", "abs", "round", "floor", "ceil", "length",
     "trim", "date_trunc", "extract/date_part", "substring"))

#: Words that sqlglot tokenizes as plain names but that may legitimately be
#: followed by ``(`` without being a function call, plus ``cast`` (which is
#: checked structurally).
_NON_FUNCTION_WORDS = frozenset({"cast", "varying", "symmetric", "precision"})

#: sqlglot expression classes of the functions we render (plus the structural
#: nodes sqlglot models as functions: AND/OR, CAST, CASE/WHEN).
_ALLOWED_FUNC_CLASSES = tuple(
    c for c in (
        getattr(exp, n, None) for n in (
            "And", "Or", "Cast", "Case", "If", "Lower", "Upper", "Coalesce",
            "Abs", "Round", "Floor", "Ceil", "Length", "Trim",
            "TimestampTrunc", "DateTrunc", "Extract", "Substring",
        )
    ) if c is not None
)

#: sqlglot data types we accept in casts -> how we spell them in PostgreSQL,
#: and how many integer type modifiers each may carry.
_TYPE_NAMES = {
    exp.DataType.Type.INT: ("integer", 0),
    exp.DataType.Type.BIGINT: ("bigint", 0),
    exp.DataType.Type.SMALLINT: ("smallint", 0),
    exp.DataType.Type.DECIMAL: ("numeric", 2),
    exp.DataType.Type.FLOAT: ("real", 0),
    exp.DataType.Type.DOUBLE: ("double precision", 0),
    exp.DataType.Type.TEXT: ("text", 0),
    exp.DataType.Type.VARCHAR: ("varchar", 1),
    exp.DataType.Type.CHAR: ("char", 1),
    exp.DataType.Type.DATE: ("date", 0),
    exp.DataType.Type.TIME: ("time", 0),
    exp.DataType.Type.TIMESTAMP: ("timestamp", 0),
    exp.DataType.Type.TIMESTAMPTZ: ("timestamptz", 0),
    exp.DataType.Type.INTERVAL: ("interval", 0),
    exp.DataType.Type.BOOLEAN: ("boolean", 0),
}
#: Types a buyer may cast to (as they would spell them).
ALLOWED_TYPES = (
    "int", "integer", "bigint", "smallint", "numeric", "decimal", "real",
    "double precision", "float", "text", "varchar", "char", "date", "time",
    "timestamp", "timestamptz", "interval", "boolean",
)
_ALLOWED_TYPES_TEXT = ", ".join(ALLOWED_TYPES)
#: Types rendered in the typed-literal form ``DATE '2017-05-08'``.
_TYPED_LITERAL_TYPES = frozenset({"date", "time", "timestamp", "timestamptz"})

_DATE_TRUNC_UNITS = frozenset({
    "microseconds", "milliseconds", "second", "minute", "hour", "day", "week",
    "month", "quarter", "year", "decade", "century", "millennium",
})
_EXTRACT_FIELDS = frozenset({
    "century", "day", "decade", "dow", "doy", "epoch", "hour", "isodow",
    "isoyear", "julian", "microseconds", "millennium", "milliseconds",
    "minute", "month", "quarter", "second", "timezone", "timezone_hour",
    "timezone_minute", "week", "year",
})
_INTERVAL_UNIT_RE = re.compile(r"^[A-Za-z]{1,16}$")
_NUMBER_RE = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
#: A string that PostgreSQL's numeric input reads as a number with an exponent
#: (surrounding whitespace and a sign allowed; PostgreSQL 16 also takes ``_``
#: between digits).
_NUMERIC_STRING_EXP_RE = re.compile(
    r"^[ \t\n\r\f\v]*[+-]?((?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?)"
    r"([eE][+-]?[0-9](?:_?[0-9])*)[ \t\n\r\f\v]*$")
#: Whitespace PostgreSQL's lexer skips.
_WHITESPACE = frozenset(" \t\n\r\f\v")

# lexical features we refuse outright (22023)
_REFUSED_TOKENS = {
    "HEREDOC_STRING": "dollar-quoted strings ($$...$$, $tag$...$tag$)",
    "RAW_STRING": "dollar-quoted strings ($$...$$, $tag$...$tag$)",
    "UNICODE_STRING": "unicode-escaped strings (U&'...')",
    "BYTE_STRING": "escape strings (E'...')",
    "NATIONAL_STRING": "national strings (N'...')",
    "HEX_STRING": "hexadecimal literals (X'...', 0x...)",
    "BIT_STRING": "bit-string literals (B'...')",
    "BYTE_STRING_LITERAL": "escape strings (E'...')",
    "PARAMETER": "parameters ($1, @x)",
    "PLACEHOLDER": "placeholders (?, %s, :name)",
    "SESSION_PARAMETER": "parameters",
}
_STRINGISH = frozenset({"STRING", "HEREDOC_STRING", "RAW_STRING", "UNICODE_STRING",
                        "BYTE_STRING", "NATIONAL_STRING"})

# classes that stand for whole statements (other than a predicate)
_STATEMENT_CLASSES = tuple(
    c for c in (
        getattr(exp, n, None) for n in (
            "DDL", "DML", "Command", "Set", "Transaction", "Commit", "Rollback",
            "Grant", "Revoke", "TruncateTable", "Use", "Pragma", "Describe",
            "Show", "Kill", "Analyze", "Merge", "Copy", "Cache", "Uncache",
            "Refresh", "Drop", "Alter", "Create", "Insert", "Update", "Delete",
        )
    ) if c is not None
)
# classes that stand for a subquery / row source
_SUBQUERY_CLASSES = tuple(
    c for c in (
        getattr(exp, n, None) for n in (
            "Query", "Subquery", "Exists", "UDTF", "DerivedTable", "Lateral",
            "Unnest", "From", "Join", "With", "CTE",
        )
    ) if c is not None
)
# session / clock dependent niladic functions -> how to name them
_SESSION_CLASSES = tuple(
    (c, name) for c, name in (
        (getattr(exp, n, None), name) for n, name in (
            ("CurrentUser", "current_user"), ("SessionUser", "session_user"),
            ("CurrentRole", "current_role"), ("CurrentSchema", "current_schema"),
            ("CurrentCatalog", "current_catalog"),
            ("CurrentVersion", "version()"),
            ("CurrentTimestamp", "now()/current_timestamp"),
            ("CurrentDate", "current_date"), ("CurrentTime", "current_time"),
            ("CurrentDatetime", "current_datetime"),
            ("Localtime", "localtime"), ("Localtimestamp", "localtimestamp"),
        )
    ) if c is not None
)

# friendly names for refused, non-capability syntax (22023)
_REFUSED_SYNTAX = [
    ("Star", "'*' is not allowed"),
    ("Array", "arrays are not allowed"),
    ("Tuple", "row constructors are not allowed"),
    ("Bracket", "array subscripts are not allowed"),
    ("Collate", "COLLATE is not allowed"),
    ("Parameter", "parameters ($1) are not allowed"),
    ("Placeholder", "placeholders (?, %s, :name) are not allowed"),
    ("SessionParameter", "parameters are not allowed"),
    ("Any", "ANY/SOME is not allowed (use IN (...))"),
    ("All", "ALL is not allowed"),
    ("SimilarTo", "SIMILAR TO (regular expressions) is not allowed"),
    ("RegexpLike", "regular expression matching (~) is not allowed"),
    ("RegexpILike", "regular expression matching (~*) is not allowed"),
    ("JSONExtract", "JSON operators are not allowed"),
    ("JSONExtractScalar", "JSON operators are not allowed"),
    ("JSONBExtract", "JSON operators are not allowed"),
    ("JSONBExtractScalar", "JSON operators are not allowed"),
    ("JSONBContains", "JSON operators are not allowed"),
    ("ArrayContains", "array operators are not allowed"),
    ("ArrayContainsAll", "array operators are not allowed"),
    ("ArrayContainsAny", "array operators are not allowed"),
    ("ArrayOverlaps", "array operators are not allowed"),
    ("AtTimeZone", "AT TIME ZONE is not allowed"),
    ("Overlaps", "OVERLAPS is not allowed"),
    ("Alias", "aliases (AS) are not allowed"),
    ("Concat", "adjacent string literals / concat() are not allowed"),
    ("BitwiseAnd", "bitwise operators (&) are not allowed"),
    ("BitwiseOr", "bitwise operators (|) are not allowed"),
    ("BitwiseXor", "bitwise operators (#) are not allowed"),
    ("BitwiseNot", "bitwise operators (~) are not allowed"),
    ("BitwiseLeftShift", "bitwise operators (<<) are not allowed"),
    ("BitwiseRightShift", "bitwise operators (>>) are not allowed"),
    ("IntervalSpan", "interval qualifiers (YEAR TO MONTH) are not allowed"),
    ("Pow", "the ^ operator is not allowed"),
    ("Sqrt", "the |/ operator is not allowed"),
    ("Cbrt", "the ||/ operator is not allowed"),
]
_REFUSED_SYNTAX = [(getattr(exp, n), m) for n, m in _REFUSED_SYNTAX if hasattr(exp, n)]
#: sqlglot models some operator syntax as functions (``a ^ b`` -> Pow,
#: ``x COLLATE c`` -> Collate, ``ARRAY[..]`` -> Array, ``->>`` -> JSON...);
#: these are unsupported syntax (22023), not function calls.  A buyer who
#: *spells* such a function (``power(x, 2)``) is caught by the token check.
_OPERATOR_FUNC_CLASSES = tuple(c for c, _ in _REFUSED_SYNTAX if issubclass(c, exp.Func))

#: Token types that, as the first token, start a statement rather than a
#: predicate.  Only keywords PostgreSQL reserves (a column of that name must be
#: double-quoted anyway); other statements are recognised after parsing.
_STATEMENT_START_TOKENS = frozenset({
    "SELECT", "CREATE", "GRANT", "TABLE", "WITH", "ANALYZE", "VALUES",
})
#: Token types after which sqlglot's tokenizer swallows the rest of the text
#: into one opaque token (CALL, DO, EXPLAIN, VACUUM, SHOW, EXECUTE, ...).
_COMMAND_TOKENS = frozenset(t.name for t in _DIALECT.tokenizer_class.COMMANDS) | {"COMMAND"}

# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

_BOOL, _ANY, _VALUE, _NULL = "boolean", "any", "value", "null"
#: rendered fragment: SQL text, what it may evaluate to, and its binding level
#: (used to decide where parentheses are needed)
_R = namedtuple("_R", "sql kind prec")
_ATOM, _ARITH, _PRED, _NOT, _AND, _OR = range(6)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    """PostgreSQL folds unquoted identifiers to lower case (ASCII letters only)."""
    return name.translate(_ASCII_LOWER)


def _short(text, limit=60) -> str:
    text = str(text)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_ident(name: str) -> str:
    """``"name"`` with embedded ``"`` doubled (PostgreSQL has no other escape in identifiers)."""
    if not name or "\x00" in name:
        raise InvalidParameter("scope: invalid identifier")
    return '"' + name.replace('"', '""') + '"'


def _quote_string(value: str) -> str:
    """Standard SQL string literal, ``'`` doubled.

    Backslashes are refused: with ``standard_conforming_strings = off``
    PostgreSQL would read them as escapes and the literal would not end where
    we rendered it to end.
    """
    if "\\" in value:
        raise InvalidParameter(
            "scope: backslashes in string literals are not allowed "
            "(for LIKE use ESCAPE with another character, e.g. ESCAPE '#')")
    if "\x00" in value:
        raise InvalidParameter("scope: NUL characters are not allowed")
    if len(value) > MAX_STRING_LENGTH:
        raise InvalidParameter(f"scope: string literal too long ({len(value)} characters, "
                               f"at most {MAX_STRING_LENGTH})")
    # '1e65000' = numeric_col reads the string as a 65001-digit number: bound it like one
    m = _NUMERIC_STRING_EXP_RE.match(value)
    if m and any(ch.isdigit() for ch in m.group(1)):
        _check_number(m.group(1).replace("_", ""), m.group(2)[1:].replace("_", ""),
                      f"'{value.strip()}' (a string read as a number)")
    return "'" + value.replace("'", "''") + "'"


def _check_number(mantissa: str, exponent: str, shown: str) -> None:
    """Bound a number's cost: at most MAX_NUMBER_DIGITS significant digits and a decimal
    exponent (that of its leading digit, as in ``1.5e38``) within ±MAX_NUMBER_EXPONENT.

    ``mantissa``: digits with an optional ``.``; ``exponent``: digits with an optional
    sign, or ``''``.  Zero counts as one digit at the exponent of its last written
    digit (``0.000`` is 0e-3): a zero's scale costs like any number's.
    """
    intpart, _, frac = mantissa.partition(".")
    sign = -1 if exponent.startswith("-") else 1
    exp_digits = exponent.lstrip("+-").lstrip("0")
    e = sign * (int(exp_digits) if len(exp_digits) <= 9 else 10 ** 9) if exp_digits else 0
    int_sig = intpart.lstrip("0")
    digits = int_sig + frac if int_sig else frac.lstrip("0")
    if digits:
        lead = len(int_sig) - 1 if int_sig else -(len(frac) - len(digits) + 1)
        ndigits = len(digits)
    else:
        lead, ndigits = -len(frac), 1
    shown = _short(shown, 40)
    if ndigits > MAX_NUMBER_DIGITS:
        raise InvalidParameter(f"scope: number {shown} has too many digits ({ndigits} significant "
                               f"digits, at most {MAX_NUMBER_DIGITS})")
    if abs(lead + e) > MAX_NUMBER_EXPONENT:
        raise InvalidParameter(f"scope: number {shown} is out of range (its decimal exponent must be "
                               f"between -{MAX_NUMBER_EXPONENT} and {MAX_NUMBER_EXPONENT}, "
                               f"e.g. 1.5e{MAX_NUMBER_EXPONENT})")


def _wrap(r: _R) -> str:
    """An operand of an operator: parenthesised unless atomic.

    Only operands of AND/OR go unparenthesised (see ``_Renderer.connector``):
    every other operator gets explicit parentheses around any compound
    operand, so PostgreSQL's precedence rules never matter.
    """
    return r.sql if r.prec == _ATOM else "(" + r.sql + ")"


def _unparen(node):
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_boolish(r: _R) -> bool:
    return r.kind in (_BOOL, _ANY)


def _func_name(node) -> str:
    if isinstance(node, exp.Anonymous):
        return _short(node.name, 63)
    try:
        return type(node).sql_name().lower()
    except Exception:  # pragma: no cover - defensive
        return type(node).__name__.lower()


def _function_refused(name: str) -> InsufficientPrivilege:
    return InsufficientPrivilege(
        f"scope: function {name}() is not allowed (allowed: {_ALLOWED_FUNCTIONS_TEXT})")


def _type_label(to) -> str:
    try:
        return _short(to.sql(dialect="postgres").lower(), 40)
    except Exception:  # pragma: no cover - defensive
        return "?"


def _cast_type(to):
    """PostgreSQL spelling of an allowed cast target (``numeric(10, 2)``), else ``None``."""
    if not isinstance(to, exp.DataType) or to.args.get("nested"):
        return None
    if to.args.get("kind") or to.args.get("values") or to.args.get("collate"):
        return None
    entry = _TYPE_NAMES.get(to.this)
    if entry is None:
        return None
    name, max_mods = entry
    mods = to.expressions or []
    if len(mods) > max_mods:
        return None
    rendered = []
    for m in mods:
        if not isinstance(m, exp.DataTypeParam) or m.args.get("expression"):
            return None
        lit = m.this
        if not (isinstance(lit, exp.Literal) and not lit.is_string
                and str(lit.this).isdigit() and len(str(lit.this)) <= 4):
            return None
        rendered.append(str(int(lit.this)))
    if rendered:
        name = f"{name}({', '.join(rendered)})"
    return name


# --------------------------------------------------------------------------
# stage 1: text and tokens
# --------------------------------------------------------------------------

def _check_text(text) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidParameter("scope: must be text")
    if "\x00" in text:
        raise InvalidParameter("scope: NUL characters are not allowed")
    if len(text) > MAX_SCOPE_LENGTH:
        raise InvalidParameter(
            f"scope: too long ({len(text)} characters, at most {MAX_SCOPE_LENGTH})")
    if not text.strip():
        return None
    return text


def _tokenize(text: str):
    try:
        tokens = _DIALECT.tokenize(text)
    except (TokenError, ParseError) as e:
        raise InvalidParameter(f"scope: syntax error: {_short(_clean(e), 120)}") from None
    except RecursionError:
        raise InvalidParameter("scope: nested too deeply") from None
    except NyopError:
        raise
    except Exception as e:
        raise InvalidParameter(
            f"scope: could not parse ({type(e).__name__})") from None
    return tokens


def _check_tokens(text: str, tokens) -> None:
    """Lexical checks, done on the token stream before parsing.

    * ``;`` (another statement) and function-call names outside the whitelist
      are capabilities (42501); the rest is unsupported syntax (22023).
    * Every character of the text must be covered by a token or be
      whitespace: this catches comments (``--``, ``/* */``) wherever sqlglot
      would have attached or dropped them, and anything the tokenizer skipped.
    """
    if not tokens:
        raise InvalidParameter("scope: empty predicate (only comments?)")
    if len(tokens) > MAX_TOKENS:
        raise InvalidParameter(f"scope: too complex (more than {MAX_TOKENS} tokens)")

    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            raise InsufficientPrivilege(
                "scope: ';' is not allowed (a scope is one predicate, not statements)")
    # sqlglot swallows the rest of the text after a command keyword (CALL,
    # EXPLAIN, VACUUM, DO, ...) into one opaque token: refuse it outright.
    first = tokens[0]
    for tok in tokens:
        if tok.token_type.name in _COMMAND_TOKENS or (
                tok is first and first.token_type.name in _STATEMENT_START_TOKENS):
            raise InsufficientPrivilege(
                f"scope: {_short(tok.text.upper(), 30)} statements are not allowed "
                "(a scope is one predicate; double-quote column names that are SQL keywords)")

    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if nxt.token_type != TokenType.L_PAREN:
            continue
        if tok.token_type == TokenType.VAR:
            name = _fold(tok.text)
        elif tok.token_type == TokenType.IDENTIFIER:
            name = tok.text
        else:
            continue
        if name in _NON_FUNCTION_WORDS:
            continue
        if name not in _ALLOWED_FUNCTION_SET:
            if name in ("now", "current_setting", "version", "pg_backend_pid",
                        "clock_timestamp", "statement_timestamp",
                        "transaction_timestamp", "timeofday", "random"):
                raise InsufficientPrivilege(
                    f"scope: function {_short(name, 63)}() is not allowed: a scope must "
                    "select the same rows whenever it is evaluated and must not "
                    "depend on the session (use literal values; allowed functions: "
                    f"{_ALLOWED_FUNCTIONS_TEXT})")
            raise _function_refused(_short(name, 63))

    depth = max_depth = 0
    case_depth = unary_run = 0
    covered_to = 0
    prev = None
    for tok in tokens:
        # comments / skipped characters between tokens
        gap = text[covered_to:tok.start]
        if any(ch not in _WHITESPACE for ch in gap):
            _refuse_gap(gap)
        covered_to = max(covered_to, tok.end + 1)
        if tok.comments:
            raise InvalidParameter("scope: comments are not allowed")

        name = tok.token_type.name
        if name in _REFUSED_TOKENS:
            raise InvalidParameter(f"scope: {_REFUSED_TOKENS[name]} are not allowed")
        if name == "STRING" and prev is not None and prev.token_type.name in _STRINGISH:
            raise InvalidParameter("scope: adjacent string literals are not allowed")
        if (name == "AMP" and prev is not None and prev.token_type == TokenType.VAR
                and prev.text in ("U", "u") and prev.end + 1 == tok.start):
            raise InvalidParameter(
                "scope: unicode-escaped identifiers or strings (U&\"...\") are not allowed")
        if tok.token_type == TokenType.NOT and tok.text == "!":
            raise InvalidParameter("scope: operator '!' is not allowed")
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
            max_depth = max(max_depth, depth)
            if max_depth > MAX_PAREN_DEPTH:
                raise InvalidParameter(
                    f"scope: nested too deeply (more than {MAX_PAREN_DEPTH} parentheses)")
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        # bound the parser's recursion: CASE nesting and runs of prefix
        # operators (NOT NOT ..., - - ...) recurse like parentheses do
        if tok.token_type == TokenType.CASE:
            case_depth += 1
            if case_depth > MAX_PAREN_DEPTH:
                raise InvalidParameter(
                    f"scope: nested too deeply (more than {MAX_PAREN_DEPTH} CASE levels)")
        elif tok.token_type == TokenType.END:
            case_depth -= 1
        if tok.token_type in (TokenType.NOT, TokenType.DASH, TokenType.PLUS):
            unary_run += 1
            if unary_run > MAX_PAREN_DEPTH:
                raise InvalidParameter(
                    "scope: nested too deeply (too many consecutive NOT/+/- operators)")
        else:
            unary_run = 0
        prev = tok
    tail = text[covered_to:]
    if any(ch not in _WHITESPACE for ch in tail):
        _refuse_gap(tail)


def _refuse_gap(gap: str):
    if "--" in gap or "/*" in gap:
        raise InvalidParameter("scope: comments are not allowed")
    bad = next(ch for ch in gap if ch not in _WHITESPACE)
    raise InvalidParameter(f"scope: unexpected character {bad!r}")


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def _clean(err) -> str:
    errors = getattr(err, "errors", None)
    if errors:
        first = errors[0]
        desc = first.get("description") or "invalid syntax"
        col = first.get("col")
        text = f"{desc} (near column {col})" if col else str(desc)
    else:
        text = str(err).split("\n")[0]
    text = _ANSI_RE.sub("", text)
    # "<class 'sqlglot.expressions.core.And'>" -> "And"
    return re.sub(r"<class '(?:[\w.]*\.)?(\w+)'>", r"\1", text)


class _Mute(logging.Filter):
    """Drops sqlglot's "falling back to parsing as a Command" warnings while we
    parse buyer text (they would copy the untrusted text into the server log;
    the statement is refused anyway)."""

    def filter(self, record):  # pragma: no cover - trivial
        return False


_SQLGLOT_LOGGER = logging.getLogger("sqlglot")


def _parse(text: str, tokens):
    mute = _Mute()
    _SQLGLOT_LOGGER.addFilter(mute)
    try:
        trees = _DIALECT.parser().parse(tokens, text)
    except (ParseError, TokenError) as e:
        raise InvalidParameter(f"scope: syntax error: {_short(_clean(e), 160)}") from None
    except RecursionError:
        raise InvalidParameter("scope: nested too deeply") from None
    except NyopError:
        raise
    except Exception as e:
        raise InvalidParameter(
            f"scope: could not parse ({type(e).__name__})") from None
    finally:
        _SQLGLOT_LOGGER.removeFilter(mute)
    trees = [t for t in trees if t is not None]
    if not trees:
        raise InvalidParameter("scope: empty predicate")
    if len(trees) != 1:
        raise InsufficientPrivilege("scope: only one predicate is allowed, not several statements")
    return trees[0]


# --------------------------------------------------------------------------
# stage 2: capabilities (42501), looked for anywhere in the tree
# --------------------------------------------------------------------------

def _check_capabilities(tree) -> None:
    """Refuse anything that reaches beyond a predicate over the offering's own row.

    Done as a separate pass over *all* nodes so that a forbidden capability is
    reported as such (42501) even when it sits inside otherwise unsupported
    syntax.
    """
    if isinstance(tree, _STATEMENT_CLASSES):
        raise InsufficientPrivilege(
            f"scope: {_statement_label(tree)} statements are not allowed "
            "(a scope is one predicate)")
    count = 0
    for node in tree.walk():
        count += 1
        if count > MAX_NODES:
            raise InvalidParameter(f"scope: too complex (more than {MAX_NODES} nodes)")
        if isinstance(node, _STATEMENT_CLASSES):
            raise InsufficientPrivilege(
                f"scope: {_statement_label(node)} statements are not allowed")
        if isinstance(node, _SUBQUERY_CLASSES) or isinstance(node, exp.Select):
            raise InsufficientPrivilege("scope: subqueries are not allowed")
        if isinstance(node, exp.Table):
            raise InsufficientPrivilege(
                f"scope: references to other tables ({_short(node.name, 63)}) are not allowed")
        if isinstance(node, exp.Column):
            qual = [p.name for p in (node.args.get("catalog"), node.args.get("db"),
                                      node.args.get("table")) if p is not None]
            if qual:
                full = ".".join(qual + [node.name])
                raise InsufficientPrivilege(
                    f"scope: qualified column {_short(full, 100)} is not allowed "
                    "(only the offering's own columns, unqualified)")
        if isinstance(node, exp.Dot):
            raise InsufficientPrivilege(
                "scope: qualified names (schema.name) are not allowed")
        if isinstance(node, exp.Window):
            raise InsufficientPrivilege("scope: window functions are not allowed")
        for cls, label in _SESSION_CLASSES:
            if isinstance(node, cls):
                raise InsufficientPrivilege(
                    f"scope: {label} is not allowed: a scope must select the same rows "
                    "whenever it is evaluated and must not depend on the session "
                    "(use literal values)")
        if isinstance(node, exp.Cast):
            if _cast_type(node.args.get("to")) is None:
                raise InsufficientPrivilege(
                    f"scope: cast to {_type_label(node.args.get('to'))} is not allowed "
                    f"(allowed types: {_ALLOWED_TYPES_TEXT})")
        if isinstance(node, exp.Func) and not isinstance(node, exp.Cast):
            if isinstance(node, _OPERATOR_FUNC_CLASSES):
                continue  # operator syntax: refused later (22023)
            if isinstance(node, exp.Anonymous) and _fold(node.name) == "row":
                continue  # row constructor: unsupported syntax, refused later (22023)
            if isinstance(node, exp.If) and not isinstance(node.parent, exp.Case):
                raise _function_refused("if")
            if isinstance(node, exp.Coalesce) and (node.args.get("is_nvl")
                                                   or node.args.get("is_null")):
                raise _function_refused("nvl/ifnull")
            if not isinstance(node, _ALLOWED_FUNC_CLASSES):
                raise _function_refused(_func_name(node))


def _statement_label(node) -> str:
    label = {"truncatetable": "truncate", "transaction": "begin"}.get(
        getattr(node, "key", ""), getattr(node, "key", None) or type(node).__name__)
    if isinstance(node, exp.Command):
        label = str(node.this or label)
    return _short(str(label).upper(), 30)


# --------------------------------------------------------------------------
# stage 3: whitelist rendering (22023 / 42703)
# --------------------------------------------------------------------------

def _only(node, *allowed) -> None:
    """Refuse a node carrying any argument we do not render."""
    for key, value in node.args.items():
        if key in allowed or value is None or value is False or value == []:
            continue
        raise InvalidParameter(
            f"scope: unsupported syntax ({_short(type(node).__name__.lower(), 30)} "
            f"with {_short(key, 30)})")


_COMPARISONS = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
    exp.GTE: ">=", exp.NullSafeEQ: "IS NOT DISTINCT FROM",
    exp.NullSafeNEQ: "IS DISTINCT FROM",
}
_ARITHMETIC = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%",
    exp.DPipe: "||",
}


class _Renderer:
    """Walks an already capability-checked tree and renders the whitelist."""

    def __init__(self, columns):
        self.columns = columns
        self.used: set[str] = set()
        self.multiplications = 0

    # -- entry -------------------------------------------------------------
    def predicate(self, tree) -> str:
        r = self.render(tree, 0)
        if not _is_boolish(r):
            raise InvalidParameter(
                "scope: must be a boolean predicate over the offering's columns "
                f"(e.g. station = 'FRA'), got a {r.kind} expression")
        return "(" + r.sql + ")"

    def boolean(self, node, depth, what) -> _R:
        r = self.render(node, depth)
        if not _is_boolish(r):
            raise InvalidParameter(
                f"scope: operand of {what} must be a boolean predicate, got a {r.kind} expression")
        return r

    # -- dispatch ----------------------------------------------------------
    def render(self, node, depth) -> _R:
        depth += 1
        if depth > MAX_TREE_DEPTH:
            raise InvalidParameter(f"scope: nested too deeply (more than {MAX_TREE_DEPTH} levels)")
        if node is None:
            raise InvalidParameter("scope: incomplete expression")

        if isinstance(node, exp.Paren):
            _only(node, "this")
            return self.render(node.this, depth)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Literal):
            return self.literal(node)
        if isinstance(node, exp.Boolean):
            _only(node, "this")
            return _R("TRUE" if node.this else "FALSE", _BOOL, _ATOM)
        if isinstance(node, exp.Null):
            return _R("NULL", _NULL, _ATOM)
        if isinstance(node, (exp.And, exp.Or)):
            return self.connector(node, depth)
        if isinstance(node, exp.Not):
            return self.not_(node, depth)
        for cls, op in _COMPARISONS.items():
            if type(node) is cls:
                _only(node, "this", "expression")
                left = self.render(node.this, depth)
                right = self.render(node.expression, depth)
                return _R(f"{_wrap(left)} {op} {_wrap(right)}", _BOOL, _PRED)
        for cls, op in _ARITHMETIC.items():
            if type(node) is cls:
                _only(node, "this", "expression", "typed", "safe")
                if cls in (exp.Mul, exp.Div, exp.Mod):
                    self.multiplications += 1
                    if self.multiplications > MAX_MULTIPLICATIONS:
                        raise InvalidParameter(
                            f"scope: too much arithmetic (at most {MAX_MULTIPLICATIONS} of the operators * / %)")
                left = self.render(node.this, depth)
                right = self.render(node.expression, depth)
                return _R(f"{_wrap(left)} {op} {_wrap(right)}", _VALUE, _ARITH)
        if isinstance(node, exp.Neg):
            return self.neg(node, depth)
        if isinstance(node, exp.Is):
            return self.is_(node, depth, negate=False)
        if isinstance(node, exp.In):
            return self.in_(node, depth, negate=False)
        if isinstance(node, exp.Between):
            return self.between(node, depth, negate=False)
        if isinstance(node, (exp.Like, exp.ILike)):
            return self.like(node, depth, negate=False)
        if isinstance(node, exp.Escape):
            return self.escape(node, depth, negate=False)
        if isinstance(node, exp.Cast):
            return self.cast(node, depth)
        if isinstance(node, exp.Interval):
            return self.interval(node)
        if isinstance(node, exp.Case):
            return self.case(node, depth)
        if isinstance(node, (exp.Lower, exp.Upper, exp.Abs, exp.Length, exp.Floor, exp.Ceil)):
            return self.simple_func(node, depth)
        if isinstance(node, exp.Round):
            _only(node, "this", "decimals")
            args = [self.render(node.this, depth)]
            if node.args.get("decimals") is not None:
                _check_round_decimals(node.args["decimals"])
                args.append(self.render(node.args["decimals"], depth))
            return _R("round(" + ", ".join(a.sql for a in args) + ")", _VALUE, _ATOM)
        if isinstance(node, exp.Coalesce):
            return self.coalesce(node, depth)
        if isinstance(node, exp.Trim):
            return self.trim(node, depth)
        if isinstance(node, (exp.TimestampTrunc, getattr(exp, "DateTrunc", exp.TimestampTrunc))):
            return self.date_trunc(node, depth)
        if isinstance(node, exp.Extract):
            return self.extract(node, depth)
        if isinstance(node, exp.Substring):
            return self.substring(node, depth)
        return self.refuse(node)

    def refuse(self, node):
        for cls, label in _REFUSED_SYNTAX:
            if isinstance(node, cls):
                raise InvalidParameter(f"scope: {label}")
        if isinstance(node, exp.Anonymous) and _fold(node.name) == "row":
            raise InvalidParameter("scope: row constructors are not allowed")
        if isinstance(node, exp.Func):  # pragma: no cover - caught by the capability pass
            raise _function_refused(_func_name(node))
        raise InvalidParameter(
            f"scope: {_short(type(node).__name__, 40)} expressions are not allowed")

    # -- leaves ------------------------------------------------------------
    def column(self, node) -> _R:
        _only(node, "this")
        ident = node.this
        if not isinstance(ident, exp.Identifier):
            return self.refuse(ident)
        _only(ident, "this", "quoted")
        raw = ident.this
        if not isinstance(raw, str) or not raw:
            raise InvalidParameter("scope: invalid column name")
        name = raw if ident.quoted else _fold(raw)
        if name not in self.columns:
            allowed = sorted(self.columns)
            listing = ", ".join(allowed[:40]) + (", …" if len(allowed) > 40 else "")
            raise UndefinedColumn(
                f"scope: column {_short(name, 63)!s} does not exist in this offering "
                f"(allowed: {listing or 'none'})")
        self.used.add(name)
        return _R(_quote_ident(name), _ANY, _ATOM)

    def literal(self, node) -> _R:
        _only(node, "this", "is_string")
        value = node.this
        if node.is_string:
            return _R(_quote_string(str(value)), _VALUE, _ATOM)
        text = str(value)
        if not _NUMBER_RE.match(text):
            raise InvalidParameter(f"scope: invalid number {_short(text, 40)!r}")
        mantissa, _, exponent = text.lower().partition("e")
        _check_number(mantissa, exponent, text)
        return _R(text, _VALUE, _ATOM)

    def string_literal(self, node, what) -> str:
        node = _unparen(node)
        if not (isinstance(node, exp.Literal) and node.is_string):
            raise InvalidParameter(f"scope: {what} must be a string literal")
        return str(node.this)

    # -- boolean structure -------------------------------------------------
    def connector(self, node, depth) -> _R:
        """``a AND b AND c`` / ``a OR b OR c``.

        sqlglot parses a chain as a left-deep tree; it is flattened here (and
        rendered without inner parentheses, which parses back to the same
        left-deep tree), so a long chain does not count as deep nesting.
        AND/OR bind more loosely than every other operator (NOT, IS,
        comparisons, LIKE, IN, BETWEEN, arithmetic), so only a nested AND/OR
        operand needs parentheses.
        """
        cls = type(node)
        op, prec = ("AND", _AND) if cls is exp.And else ("OR", _OR)
        operands = []
        current = node
        while type(current) is cls:
            _only(current, "this", "expression")
            operands.append(current.expression)
            current = current.this
            if len(operands) > MAX_NODES:  # pragma: no cover - bounded by MAX_TOKENS
                raise InvalidParameter("scope: too complex")
        operands.append(current)
        operands.reverse()
        parts = []
        for operand in operands:
            r = self.boolean(operand, depth, op)
            parts.append(r.sql if r.prec in (_ATOM, _ARITH, _PRED, _NOT) else "(" + r.sql + ")")
        return _R(f" {op} ".join(parts), _BOOL, prec)

    def not_(self, node, depth) -> _R:
        _only(node, "this")
        inner = node.this  # not unparenthesised: keep the source's shape
        if isinstance(inner, exp.Is) and not inner.args.get("negate"):
            return self.is_(inner, depth + 1, negate=True)
        if isinstance(inner, exp.In):
            return self.in_(inner, depth + 1, negate=True)
        if isinstance(inner, exp.Between):
            return self.between(inner, depth + 1, negate=True)
        if isinstance(inner, (exp.Like, exp.ILike)) and not inner.args.get("negate"):
            return self.like(inner, depth + 1, negate=True)
        r = self.boolean(inner, depth, "NOT")
        return _R(f"NOT {_wrap(r)}", _BOOL, _NOT)

    def is_(self, node, depth, negate) -> _R:
        _only(node, "this", "expression", "negate")
        negate = negate ^ bool(node.args.get("negate"))
        target = node.expression
        if isinstance(target, exp.Null):
            word = "NULL"
        elif isinstance(target, exp.Boolean):
            word = "TRUE" if target.this else "FALSE"
        else:
            raise InvalidParameter("scope: IS may only be followed by [NOT] NULL, TRUE or FALSE")
        subject = self.render(node.this, depth)
        return _R(f"{_wrap(subject)} IS {'NOT ' if negate else ''}{word}", _BOOL, _PRED)

    def in_(self, node, depth, negate) -> _R:
        _only(node, "this", "expressions")
        items = node.expressions
        if not items:
            raise InvalidParameter("scope: IN needs a non-empty list of literals")
        if len(items) > MAX_IN_ITEMS:
            raise InvalidParameter(f"scope: IN list too long ({len(items)} items, at most {MAX_IN_ITEMS})")
        subject = self.render(node.this, depth)
        rendered = [self.in_item(item, depth) for item in items]
        kw = "NOT IN" if negate else "IN"
        return _R(f"{_wrap(subject)} {kw} ({', '.join(rendered)})", _BOOL, _PRED)

    def in_item(self, item, depth) -> str:
        bare = _unparen(item)
        ok = (
            isinstance(bare, (exp.Literal, exp.Boolean, exp.Null, exp.Interval))
            or (isinstance(bare, exp.Neg) and isinstance(_unparen(bare.this), exp.Literal)
                and not _unparen(bare.this).is_string)
            or (isinstance(bare, exp.Cast) and isinstance(_unparen(bare.this), exp.Literal))
        )
        if not ok:
            if isinstance(bare, (exp.Select, exp.Subquery)):  # pragma: no cover
                raise InsufficientPrivilege("scope: subqueries are not allowed")
            raise InvalidParameter("scope: IN (...) may only contain literals")
        return self.render(item, depth).sql

    def between(self, node, depth, negate) -> _R:
        _only(node, "this", "low", "high", "symmetric")
        subject = self.render(node.this, depth)
        low = self.render(node.args.get("low"), depth)
        high = self.render(node.args.get("high"), depth)
        kw = "NOT BETWEEN" if negate else "BETWEEN"
        if node.args.get("symmetric"):
            kw += " SYMMETRIC"
        return _R(f"{_wrap(subject)} {kw} {_wrap(low)} AND {_wrap(high)}", _BOOL, _PRED)

    def like(self, node, depth, negate, escape=None) -> _R:
        _only(node, "this", "expression", "negate")
        negate = negate ^ bool(node.args.get("negate"))
        subject = self.render(node.this, depth)
        pattern = self.render(node.expression, depth)
        kw = "ILIKE" if isinstance(node, exp.ILike) else "LIKE"
        if negate:
            kw = "NOT " + kw
        sql = f"{_wrap(subject)} {kw} {_wrap(pattern)}"
        if escape is not None:
            sql += f" ESCAPE {escape}"
        return _R(sql, _BOOL, _PRED)

    def escape(self, node, depth, negate) -> _R:
        _only(node, "this", "expression")
        inner = node.this
        if not isinstance(inner, (exp.Like, exp.ILike)):
            raise InvalidParameter("scope: ESCAPE is only allowed after LIKE/ILIKE")
        esc = self.string_literal(node.expression, "the ESCAPE character")
        return self.like(inner, depth + 1, negate, escape=_quote_string(esc))

    # -- values --------------------------------------------------------------
    def neg(self, node, depth) -> _R:
        _only(node, "this")
        inner = self.render(node.this, depth)
        bare = _unparen(node.this)
        # unary minus binds tighter than everything we render; "--" would
        # start a comment, so a nested minus is always parenthesised
        if inner.prec == _ATOM and not inner.sql.startswith("-") and not isinstance(bare, exp.Neg):
            return _R("-" + inner.sql, _VALUE, _ATOM)
        return _R("-(" + inner.sql + ")", _VALUE, _ATOM)

    def cast(self, node, depth) -> _R:
        _only(node, "this", "to")
        type_sql = _cast_type(node.args.get("to"))
        if type_sql is None:  # pragma: no cover - caught by the capability pass
            raise InsufficientPrivilege(
                f"scope: cast to {_type_label(node.args.get('to'))} is not allowed")
        _check_type_size(node.args.get("to"), type_sql)
        kind = _BOOL if type_sql == "boolean" else _VALUE
        inner_node = node.this
        if (type_sql in _TYPED_LITERAL_TYPES and isinstance(inner_node, exp.Literal)
                and inner_node.is_string):
            return _R(f"{type_sql.upper()} {_quote_string(str(inner_node.this))}", kind, _ATOM)
        inner = self.render(inner_node, depth)
        return _R(f"CAST({inner.sql} AS {type_sql})", kind, _ATOM)

    def interval(self, node) -> _R:
        _only(node, "this", "unit", "fraction_in_string")
        value = node.this
        if not isinstance(value, exp.Literal):
            raise InvalidParameter("scope: INTERVAL must be followed by a string literal")
        text = str(value.this).strip()
        unit = node.args.get("unit")
        if unit is not None:
            if not isinstance(unit, exp.Var) or not _INTERVAL_UNIT_RE.match(str(unit.this)):
                return self.refuse(unit)
            text = f"{text} {str(unit.this).lower()}"
        if not text:
            raise InvalidParameter("scope: empty INTERVAL")
        return _R(f"INTERVAL {_quote_string(text)}", _VALUE, _ATOM)

    def case(self, node, depth) -> _R:
        _only(node, "this", "ifs", "default")
        parts = ["CASE"]
        operand = node.args.get("this")
        if operand is not None:
            parts.append(self.render(operand, depth).sql)
        kinds = []
        ifs = node.args.get("ifs") or []
        if not ifs:
            raise InvalidParameter("scope: CASE needs at least one WHEN")
        for branch in ifs:
            if not isinstance(branch, exp.If):
                return self.refuse(branch)
            _only(branch, "this", "true")
            if operand is None:
                cond = self.boolean(branch.this, depth + 1, "WHEN")
            else:
                cond = self.render(branch.this, depth + 1)
            value = self.render(branch.args.get("true"), depth + 1)
            kinds.append(value.kind)
            parts.append(f"WHEN {cond.sql} THEN {value.sql}")
        default = node.args.get("default")
        if default is not None:
            d = self.render(default, depth)
            kinds.append(d.kind)
            parts.append(f"ELSE {d.sql}")
        parts.append("END")
        return _R(" ".join(parts), _merge_kinds(kinds), _ATOM)

    def simple_func(self, node, depth) -> _R:
        _only(node, "this")
        name = {exp.Lower: "lower", exp.Upper: "upper", exp.Abs: "abs",
                exp.Length: "length", exp.Floor: "floor", exp.Ceil: "ceil"}[type(node)]
        arg = self.render(node.this, depth)
        return _R(f"{name}({arg.sql})", _VALUE, _ATOM)

    def coalesce(self, node, depth) -> _R:
        _only(node, "this", "expressions")
        args = [self.render(node.this, depth)]
        args += [self.render(e, depth) for e in node.expressions]
        return _R("coalesce(" + ", ".join(a.sql for a in args) + ")",
                  _merge_kinds([a.kind for a in args]), _ATOM)

    def trim(self, node, depth) -> _R:
        _only(node, "this", "expression", "position")
        subject = self.render(node.this, depth)
        position = node.args.get("position")
        chars = node.args.get("expression")
        if position is None and chars is None:
            return _R(f"trim({subject.sql})", _VALUE, _ATOM)
        head = []
        if position is not None:
            pos = str(position).upper()
            if pos not in ("BOTH", "LEADING", "TRAILING"):
                raise InvalidParameter("scope: TRIM position must be BOTH, LEADING or TRAILING")
            head.append(pos)
        if chars is not None:
            head.append(self.render(chars, depth).sql)
        return _R(f"trim({' '.join(head)} FROM {subject.sql})", _VALUE, _ATOM)

    def date_trunc(self, node, depth) -> _R:
        _only(node, "this", "unit", "input_type_preserved")
        unit = node.args.get("unit")
        bare = _unparen(unit)
        if isinstance(bare, exp.Var) or (isinstance(bare, exp.Literal) and bare.is_string):
            name = _fold(str(bare.this))
        else:
            name = None
        if name not in _DATE_TRUNC_UNITS:
            raise InvalidParameter(
                "scope: date_trunc unit must be one of " + ", ".join(sorted(_DATE_TRUNC_UNITS)))
        subject = self.render(node.this, depth)
        return _R(f"date_trunc({_quote_string(name)}, {subject.sql})", _VALUE, _ATOM)

    def extract(self, node, depth) -> _R:
        _only(node, "this", "expression")
        field = _unparen(node.this)
        if isinstance(field, exp.Var) or (isinstance(field, exp.Literal) and field.is_string):
            name = _fold(str(field.this))
        else:
            name = None
        if name not in _EXTRACT_FIELDS:
            raise InvalidParameter(
                "scope: EXTRACT/date_part field must be one of " + ", ".join(sorted(_EXTRACT_FIELDS)))
        subject = self.render(node.expression, depth)
        return _R(f"EXTRACT({name} FROM {subject.sql})", _VALUE, _ATOM)

    def substring(self, node, depth) -> _R:
        _only(node, "this", "start", "length")
        subject = self.render(node.this, depth)
        start = node.args.get("start")
        length = node.args.get("length")
        sql = f"substring({subject.sql}"
        if start is not None:
            bare = _unparen(start)
            if isinstance(bare, exp.Literal) and bare.is_string:
                raise InvalidParameter(
                    "scope: substring(x FROM 'pattern') (regular expressions) is not allowed")
            sql += f" FROM {self.render(start, depth).sql}"
        if length is not None:
            sql += f" FOR {self.render(length, depth).sql}"
        if start is None and length is None:
            raise InvalidParameter("scope: substring needs FROM and/or FOR")
        return _R(sql + ")", _VALUE, _ATOM)


def _check_round_decimals(node) -> None:
    """round(x, n): n an integer literal within ±MAX_NUMBER_EXPONENT (a larger n, up to
    PostgreSQL's 2000, gives every row's value that many digits to carry)."""
    bare = _unparen(node)
    negative = isinstance(bare, exp.Neg)
    if negative:
        bare = _unparen(bare.this)
    if not (isinstance(bare, exp.Literal) and not bare.is_string and str(bare.this).isdigit()
            and int(str(bare.this)) <= MAX_NUMBER_EXPONENT):
        raise InvalidParameter(f"scope: round(x, n) needs n to be an integer literal between "
                               f"-{MAX_NUMBER_EXPONENT} and {MAX_NUMBER_EXPONENT}")


def _check_type_size(to, type_sql) -> None:
    """Type modifiers of a cast: numeric(p, s) within MAX_NUMBER_DIGITS, varchar(n)/char(n)
    within MAX_STRING_LENGTH (a wide numeric scale makes every division carry it)."""
    mods = [int(str(m.this.this)) for m in (to.expressions or [])]
    if type_sql.startswith("numeric") and any(m > MAX_NUMBER_DIGITS for m in mods):
        raise InvalidParameter(f"scope: {type_sql} is too wide (precision and scale at most "
                               f"{MAX_NUMBER_DIGITS})")
    if type_sql.startswith(("varchar", "char")) and any(m > MAX_STRING_LENGTH for m in mods):
        raise InvalidParameter(f"scope: {type_sql} is too wide (at most {MAX_STRING_LENGTH} characters)")


def _merge_kinds(kinds) -> str:
    """Kind of coalesce()/CASE: boolean-ish only if every branch may be boolean."""
    if all(k in (_BOOL, _NULL) for k in kinds) and _BOOL in kinds:
        return _BOOL
    if all(k in (_BOOL, _ANY, _NULL) for k in kinds) and any(k != _NULL for k in kinds):
        return _ANY
    return _VALUE


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def _column_set(columns) -> frozenset:
    if columns is None:
        return frozenset()
    if isinstance(columns, str):
        columns = [columns]
    return frozenset(str(c) for c in columns)


def _analyse(text, columns):
    """(rendered SQL or None, referenced columns)."""
    text = _check_text(text)
    if text is None:
        return None, set()
    cols = _column_set(columns)
    try:
        tokens = _tokenize(text)
        _check_tokens(text, tokens)
        tree = _parse(text, tokens)
        _check_capabilities(tree)
        if not isinstance(tree, exp.Condition):
            raise InvalidParameter("scope: must be a boolean predicate over the offering's columns")
        renderer = _Renderer(cols)
        sql = renderer.predicate(tree)
        return sql, renderer.used
    except NyopError:
        raise
    except RecursionError:
        raise InvalidParameter("scope: nested too deeply") from None
    except Exception as e:  # never leak anything but NyopError
        raise InvalidParameter(f"scope: could not parse ({type(e).__name__})") from None


def parse_scope(text: str | None, columns: Iterable[str]) -> str | None:
    """Validate a buyer's scope and re-render it as safe PostgreSQL.

    ``None``, ``''`` or whitespace -> ``None`` (no scope).  Otherwise returns
    the predicate rendered from the parsed tree, wrapped in parentheses, with
    every identifier double-quoted, suitable for ``WHERE <result>``.

    ``columns`` are the offering's column names as stored in PostgreSQL;
    unquoted identifiers in the scope are folded to lower case first.

    Raises InsufficientPrivilege (42501), UndefinedColumn (42703) or
    InvalidParameter (22023); see the module docstring.
    """
    return _analyse(text, columns)[0]


def scope_columns(text: str | None, columns: Iterable[str]) -> set[str]:
    """The offering columns the accepted scope references (empty for no scope).

    Validates exactly like :func:`parse_scope` (and raises the same errors).
    """
    return set(_analyse(text, columns)[1])
