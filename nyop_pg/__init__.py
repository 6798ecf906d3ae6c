"""nyop_pg: the client side of nyop — installer, throwaway servers, demo, benchmarks, CLI."""

__version__ = "0.3.0"
EXTENSION_VERSION = "0.3.0"
