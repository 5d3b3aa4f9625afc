"""The HTTP frontend (aiohttp, on the server's own event loop): the JSON query API, the
live tail, statistics as JSON, Prometheus ``/metrics`` and health checks. Each endpoint
is a thin adapter over the shared engine, live taps and stats registry; it renders
their results as NDJSON, Server-Sent Events or JSON.
"""
