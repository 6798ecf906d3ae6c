"""Services: one job each, over the server (through a :class:`~nyop_server.services.catalog.Ctx`)
— catalog reads, scopes, measures, quoting, history, views. Handlers call them; they call the
pure core (the modules of :mod:`nyop_server` itself)."""
