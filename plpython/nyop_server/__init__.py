"""Server-side logic of the nyop extension.

Every module here is plain Python: importable and unit-testable without a
PostgreSQL server. Only :mod:`nyop_server.edge` touches ``plpy``; the SQL
functions in ``sql/src`` are thin wrappers around it.
"""

__version__ = "0.3.0"
