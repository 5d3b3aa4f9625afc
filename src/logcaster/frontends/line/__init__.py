"""The seed's line protocol on the query port: one command line per connection
(:mod:`.reader` for the optional ``AUTH`` and the line, :mod:`.grammar` for the
commands, :mod:`.help` for ``HELP``), executed by :mod:`.handler`, written by
:mod:`.render`, over the asyncio adapter in :mod:`.protocol`.
"""
