"""How people and tools ask: each frontend parses its own protocol into query specs,
runs them on the shared engine and renders the matches its own way. Frontends
import the engine, the pipeline and the stats registry, never one another.
"""
