"""How log lines and replies look on IRC: each log line is one PRIVMSG from the
``logcaster`` pseudo-user, prefixed with its receive time and level, split into
several messages (UTF-8 safe) when it would not fit in 512 bytes; CR and NUL in
log text become spaces, so log content can never end a message or start another.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator

from ...query.levels import level_of
from ...query.matches import Matches, lines_of
from ...scan import as_utf8, count_lines
from .message import MAX_LINE, encode, split_text

BOT = "logcaster"  # the pseudo-user that speaks for the server
BOT_MASK = f"{BOT}!{BOT}@{BOT}"
SERVER = "logcaster"
CONTINUED = b"... "  # starts each further piece of a split log line
_CLEAN = bytes.maketrans(b"\r\0", b"  ")


def clean(text: bytes) -> bytes:
    """One log line's text (no LF) made safe for IRC: valid UTF-8, no CR or NUL."""
    return as_utf8(text.translate(_CLEAN))


def clock(ts_ns: int) -> bytes:
    return time.strftime("[%H:%M:%S] ", time.localtime(ts_ns // 1_000_000_000)).encode()


def stamp(ts_ns: int) -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.localtime(ts_ns // 1_000_000_000)).encode()


def log_messages(target: str, head: bytes, text: bytes) -> list[bytes]:
    """The PRIVMSGs to ``target`` that carry one log line: ``head`` (time and level)
    then the text, split to fit the 512-byte limit."""
    start = f":{BOT_MASK} PRIVMSG {target} :".encode()
    room = MAX_LINE - 2 - len(start)
    first_room = room - len(head)
    if len(text) <= first_room:
        return [start + head + text + b"\r\n"]
    first = split_text(text, first_room)[0]
    out = [start + head + first + b"\r\n"]
    rest = split_text(text[len(first) :], room - len(CONTINUED))
    out.extend(start + CONTINUED + piece + b"\r\n" for piece in rest)
    return out


def line_head(ts_ns: int, level: str | None) -> bytes:
    return clock(ts_ns) + (f"{level} ".encode() if level else b"")


def live_messages(
    target: str,
    block: bytes,
    spans: array[int],
    ts_ns: int,
    level: str | None,
    limit: int,
) -> tuple[bytes, int, int]:
    """A live delivery for a channel: at most ``limit`` lines as PRIVMSGs, each with
    ``level`` (or, when None, the level the engine reads in the line).

    Returns (wire bytes, lines rendered, lines left over for lack of budget)."""
    out: list[bytes] = []
    done = 0
    left = 0
    when = clock(ts_ns)  # one receive time per delivery
    heads: dict[str | None, bytes] = {}
    fixed = when + f"{level} ".encode() if level is not None else b""
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        if done >= limit:
            left += count_lines(block, s, e)
            continue
        pos = s
        while pos < e:
            nl = block.find(b"\n", pos, e)
            end = nl if nl >= 0 else e
            line = block[pos:end]
            pos = end + 1
            if fixed:
                head = fixed
            else:
                found = level_of(line)
                head = heads.get(found) or heads.setdefault(
                    found, when + (f"{found} ".encode() if found else b"")
                )
            out.extend(log_messages(target, head, clean(line)))
            done += 1
            if done >= limit:
                if pos < e:
                    left += count_lines(block, pos, e)
                break
    return b"".join(out), done, left


def reply_lines(matches: Matches, descending: bool, most: int) -> Iterator[bytes]:
    """Up to ``most`` matching lines as ``[YYYY-MM-DD HH:MM:SS] <line>`` (safe text)."""
    shown = 0
    ranges = reversed(matches.ranges) if descending else iter(matches.ranges)
    for view, spans in ranges:
        buf = view.buf
        for s, e in lines_of(view, spans, descending):
            if shown >= most:
                return
            yield stamp(view.time_of(s)) + clean(bytes(buf[s:e]).rstrip(b"\n"))
            shown += 1


def privmsgs(target: str, text: bytes) -> list[bytes]:
    """Reply text (one line) from the pseudo-user to ``target``, split to fit."""
    return log_messages(target, b"", text)


def notice(target: str, text: str) -> bytes:
    return encode("NOTICE", target, text, prefix=BOT_MASK)
