"""The file store (``-P``): plain-text log files in ``--dir`` that ``grep`` and
``tail -f`` read as they are, with a sidecar index of receive times.

:mod:`.layout` names the files, :mod:`.recovery` repairs a crash's torn tail,
:mod:`.history` reads lines back (for ``scope=all`` and to refill the ring at
start) and :mod:`.writer` appends, rotates and applies retention.
"""

from .history import history_views, load_newest, open_block, reload_ring
from .layout import (
    CURRENT,
    CURRENT_IDX,
    IDX_RECORD,
    LogFile,
    PersistError,
    all_files,
    check_directory,
    rotated_files,
)
from .recovery import read_index, recover
from .writer import PersistStats, PersistWriter

__all__ = [
    "CURRENT",
    "CURRENT_IDX",
    "IDX_RECORD",
    "LogFile",
    "PersistError",
    "PersistStats",
    "PersistWriter",
    "all_files",
    "check_directory",
    "history_views",
    "load_newest",
    "open_block",
    "read_index",
    "recover",
    "reload_ring",
    "rotated_files",
]
