"""A buyer's scope over an offering: parsed and whitelisted once per session per text
(:mod:`nyop_server.scope` does the parsing), then checked against what a scope may read."""

from __future__ import annotations

from ..errors import InsufficientPrivilege


_SCOPES = {}          # (text, columns) -> (rendered SQL, columns used); per session
_SCOPES_MAX = 4096


def parsed_scope(scope, columns) -> tuple:
    """(rendered predicate, columns it reads) — parsed once per session per text and offering
    columns: a bid parses its scope for the quote, the measures and the view."""
    if scope is None or not str(scope).strip():
        return None, ()
    key = (scope, tuple(columns))
    hit = _SCOPES.get(key)
    if hit is None:
        from .. import scope as scope_mod   # sqlglot is imported only when a scope is used
        hit = (scope_mod.parse_scope(scope, columns), tuple(sorted(scope_mod.scope_columns(scope, columns))))
        if len(_SCOPES) >= _SCOPES_MAX:
            _SCOPES.clear()
        _SCOPES[key] = hit
    return hit


def offering_scope(scope, off: dict) -> tuple:
    """A buyer's scope over an offering: (rendered predicate, columns it reads).

    A scope selects rows by entity and time only — key and last-updated columns — because a
    scoped measure or quote answers before purchase: a predicate on any other column would
    be an oracle for cell values ("rows: 1" iff temperature = 17)."""
    rendered, used = parsed_scope(scope, off["columns"])
    allowed = list(off["key_columns"]) + ([off["last_updated"]] if off.get("last_updated") else [])
    bad = [c for c in used if c not in allowed]
    if bad:
        raise InsufficientPrivilege(
            "scope may select rows only by the key and last-updated columns (%s), not by %s: a predicate on "
            "other columns would reveal their values before purchase" % (", ".join(allowed), ", ".join(bad)))
    return rendered, used
