"""Server-side logic of the nyop extension, in three layers (dependencies point down):

* :mod:`~nyop_server.door` — the only module the SQL functions call (``nyop._call*``):
  dispatch to a handler, limits, the error envelope. Nothing imports it.
* :mod:`~nyop_server.handlers` — one module per SQL area (registration, pricing, delivery,
  market), mirroring ``sql/idempotent/``.
* :mod:`~nyop_server.services` — one job each, over the server: catalog reads, scopes,
  measures, quoting, history, views.
* the pure core, the modules of this package itself — model, mckp, pricing, quality, scope,
  delivery (SQL text), registration (checks), audit, limits, errors, sqltext: plain Python,
  unit-tested without a server.
"""

__version__ = "0.3.0"
