"""The handler registry: every entry point the SQL functions reach through the door
(nyop._call / nyop._call_definer / nyop._call_buyer), by name."""

from __future__ import annotations

HANDLERS = {}

# Handlers reachable through each SECURITY DEFINER door (read-only). 'measures' is
# nyop._call_definer (buyers and providers), 'quotes' nyop._call_buyer (buyers and the
# operator); True is the single door of schemas before 0.3.0.
DOORS = {
    "measures": frozenset({"quality_of", "audit_offering", "solve_mckp"}),
    "quotes": frozenset({"quote", "explain"}),
    True: frozenset({"quality_of", "quote", "explain", "audit_offering", "solve_mckp"}),
}


def handler(fn):
    """Register ``fn`` under its name."""
    HANDLERS[fn.__name__] = fn
    return fn
