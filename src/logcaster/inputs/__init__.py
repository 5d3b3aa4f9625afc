"""How lines arrive: sans-IO framing of byte streams into lines (:mod:`.framing`),
admission control (:mod:`.guard`) and the asyncio adapters that own the sockets
(:mod:`.tcp`). Inputs hand complete lines to the intake and nothing else.
"""
