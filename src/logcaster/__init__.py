"""LogCaster: a log collection and query server."""

__version__ = "0.1.0"
