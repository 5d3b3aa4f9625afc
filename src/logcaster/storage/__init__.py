"""Where lines are kept: the in-memory :mod:`.ring` of byte blocks that every query
reads first, and the stores that also receive every accepted line (the file store
in :mod:`.files`), all built on one batching and backpressure mechanism
(:mod:`.batch`).
"""
