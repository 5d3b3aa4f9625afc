"""Reading a query-port reply as it streams: its first line (``FOUND: N matches``,
``FOLLOWING``, ``ERROR: ...``) apart from the lines after it, and building command
lines from user-given filters."""

from __future__ import annotations

from collections.abc import Iterator

from ..client import ClientError


def split_head(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The reply's first line (without ``\\n``) and an iterator over the rest of it."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        nl = buf.find(b"\n")
        if nl >= 0:
            return buf[:nl], _remainder(buf[nl + 1 :], chunks)
    return buf, iter(())


def _remainder(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from chunks


def check_head(head: bytes) -> None:
    """An ``ERROR: ...`` reply as a ClientError carrying the server's message."""
    if head.startswith(b"ERROR"):
        message = head.decode("utf-8", "replace").removeprefix("ERROR:").strip()
        raise ClientError(f"the server answered: {message}")


def found_count(head: bytes) -> int:
    """N of ``FOUND: N matches``."""
    check_head(head)
    parts = head.split()
    if len(parts) < 2 or parts[0] != b"FOUND:" or not parts[1].isdigit():
        raise ClientError(f"unexpected reply: {head[:80].decode('utf-8', 'replace')!r}")
    return int(parts[1])


def quote(value: str) -> str:
    """``value`` as one query-port parameter value (double-quoted when it must be)."""
    if value and not any(c in value for c in ' ,"\\'):
        return value
    out = []
    for i, ch in enumerate(value):
        nxt = value[i + 1] if i + 1 < len(value) else '"'  # the closing quote follows
        if ch == '"':
            out.append('\\"')
        elif ch == "\\" and nxt in '"\\':
            out.append("\\\\")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def filter_params(
    filters: list[str], level: str | None, since: str | None, until: str | None
) -> str:
    """The parameters of QUERY/FOLLOW: ``key=value`` filters as given, then the options."""
    for f in filters:
        if "=" not in f:
            raise ClientError(
                f"filter '{f}' is not key=value (e.g. level=ERROR, keywords=disk,timeout)"
            )
    params = list(filters)
    if level:
        params.append(f"level={level}")
    if since:
        params.append(f"time_from={quote(since)}")
    if until:
        params.append(f"time_to={quote(until)}")
    return " ".join(params)
