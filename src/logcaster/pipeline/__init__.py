"""The path of an accepted line: the :mod:`.intake` fans each read's lines out to the
ring, the live taps (:mod:`.taps`) and every store, and applies the stores'
backpressure to the input connections.
"""
