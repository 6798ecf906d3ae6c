"""Handlers: one module per SQL area, mirroring sql/idempotent/ — registration (030),
pricing (040), delivery (050), market (060). Each handler receives the call's context and
the SQL function's arguments, and returns what the function returns (as jsonb)."""

from . import delivery, market, pricing, registration  # noqa: F401  (they register themselves)
from .registry import DOORS, HANDLERS  # noqa: F401
