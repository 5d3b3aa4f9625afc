"""The IRC frontend: an embedded IRC server where people watch logs live in any IRC
client and ask the engine questions with ``!`` commands. The wire format is sans-IO
(:mod:`.message`), routing to channels uses the live taps (:mod:`.channels`), the
conversation is transport-free (:mod:`.session`, :mod:`.commands`) and
:mod:`.protocol` is the asyncio adapter and the owner of the connections.
"""
