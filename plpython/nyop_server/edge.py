"""Install scripts of nyop 0.1.0 and 0.2.0 load ``nyop_server.edge``: the door under its old
name, until ALTER EXTENSION nyop UPDATE (0.3.0 on load :mod:`nyop_server.door`)."""

from .door import call, solve_mckp_arrays  # noqa: F401
