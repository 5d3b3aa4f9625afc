"""The query engine, free of any wire protocol: a :class:`~.spec.QuerySpec` (built
from the shared ``key=value`` parameters) is compiled into a :class:`~.matcher.Matcher`
and run by the :class:`~.engine.Engine` over ring snapshots or stored history on
the worker pool; it returns :class:`~.matches.Matches` (byte spans), which each
frontend renders its own way. Severity detection lives here too (:mod:`.levels`).
"""
