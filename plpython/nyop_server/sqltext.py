"""Quoting for SQL we generate. Every identifier goes through :func:`ident`."""


def ident(name: str) -> str:
    """Quote an identifier as PostgreSQL's quote_ident would (always quoted)."""
    if not isinstance(name, str) or name == "" or "\x00" in name:
        raise ValueError("bad identifier %r" % (name,))
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote a text literal (standard_conforming_strings = on)."""
    if "\x00" in value:
        raise ValueError("NUL in literal")
    return "'" + value.replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    return ident(schema) + "." + ident(name)
