"""The ``!`` commands, said in a channel or privately to ``logcaster``: ``!help``,
``!query COUNT|SEARCH|LAST``, ``!stats``, ``!stream`` and ``!filter``. Queries run
on the shared engine (``Engine.search``, ``Engine.tail``); replies are lines of
safe text, at most ``--irc-max-reply`` log lines, then where to get the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ...query.engine import Engine
from ...query.errors import QueryError
from ...query.spec import Param, build_spec
from ...stats import Registry
from .channels import Channel, Channels, Filter, Member, parse_filter
from .render import reply_lines

HELP = (
    "LogCaster commands (in a channel, or privately to logcaster):",
    "!query COUNT [level:X] [keyword:Y]  -- how many lines held match",
    "!query SEARCH <words> [level:X] [regex:R] [host:H]  -- newest matches first",
    "!query LAST N  -- the newest N lines",
    "!stats  -- every server counter",
    "!stream on|off|status [#channel]  -- live lines for you in this channel",
    "!filter add keyword:X | level:ERROR | regex:R | host:H  -- in a #logs-<name> channel",
    "!filter list | !filter remove <filter or number>",
    "Channels: #logs-all #logs-error #logs-warning #logs-info #logs-debug, any #logs-<name>",
)
MORE = "... {} more: use the query port or HTTP API"
STATS_WIDTH = 380


def _ok(text: str) -> list[bytes]:
    return [text.encode("utf-8", "replace")]


def query_params(words: Iterable[str]) -> list[Param]:
    """``kind:value`` words are filters, other words keywords (AND-combined)."""
    params: list[Param] = []
    for word in words:
        kind, sep, _ = word.partition(":")
        if sep and kind.lower() in ("keyword", "level", "regex", "host"):
            params.append(parse_filter(word).param())
        else:
            params.append(("keyword", word, [word]))
    return params


class BotCommands:
    """Runs one ``!`` command for a session; returns the reply lines."""

    def __init__(self, engine: Engine, registry: Registry, channels: Channels, max_reply: int):
        self.engine = engine
        self.registry = registry
        self.channels = channels
        self.max_reply = max_reply
        engine.metrics.declare("irc", ("QUERY", "STATS"))

    async def run(self, session: Member, channel: Channel | None, text: str) -> list[bytes]:
        words = text.split()
        name = words[0].lstrip("!").lower() if words else "help"
        args = words[1:]
        try:
            if name == "help":
                return [line.encode() for line in HELP]
            if name == "query":
                with self.engine.metrics.timed("irc", "QUERY"):
                    return await self.query(args)
            if name == "stats":
                with self.engine.metrics.timed("irc", "STATS"):
                    return self.stats()
            if name == "stream":
                return self.stream(session, channel, args)
            if name == "filter":
                return self.filter(channel, args)
        except QueryError as exc:
            return _ok(f"ERROR: {exc}")
        return _ok(f"ERROR: Unknown command '!{name}'. Try !help")

    # --------------------------------------------------------------- query
    async def query(self, args: list[str]) -> list[bytes]:
        verb = args[0].upper() if args else ""
        rest = args[1:]
        if verb == "COUNT":
            spec = build_spec(query_params(rest), time.time_ns())
            matches = await self.engine.search(spec)
            return _ok(f"COUNT: {matches.count}")
        if verb == "SEARCH":
            if not rest:
                raise QueryError("!query SEARCH needs words to look for")
            spec = build_spec(query_params(rest), time.time_ns())
            matches = await self.engine.search(spec)
            out = _ok(f"FOUND: {matches.count} matches, newest first")
            out.extend(reply_lines(matches, True, self.max_reply))
            if matches.count > self.max_reply:
                out += _ok(MORE.format(matches.count - self.max_reply))
            return out
        if verb == "LAST":
            try:
                count = int(rest[0]) if rest else 10
            except ValueError:
                count = 0
            if count < 1:
                raise QueryError("!query LAST N needs a whole number N >= 1")
            shown = min(count, self.max_reply)
            matches = await self.engine.tail(shown)
            out = list(reply_lines(matches, False, shown))
            held = min(count, self.engine.ring.current)
            if held > len(out):
                out += _ok(MORE.format(held - len(out)))
            return out or _ok("No lines held yet")
        raise QueryError("Use !query COUNT, !query SEARCH <words> or !query LAST N")

    def stats(self) -> list[bytes]:
        out: list[bytes] = []
        line = ""
        for metric in self.registry:
            item = f"{metric.name}={metric.value}"
            if line and len(line) + len(item) + 2 > STATS_WIDTH:
                out += _ok(line)
                line = ""
            line = f"{line}, {item}" if line else item
        if line:
            out += _ok(line)
        return out

    # ------------------------------------------------------------- streams
    def stream(self, session: Member, channel: Channel | None, args: list[str]) -> list[bytes]:
        mode = args[0].lower() if args else "status"
        named = [a for a in args[1:] if a.startswith("#")]
        if named:
            targets = [c for c in (self.channels.get(n) for n in named) if c is not None]
        elif channel is not None:
            targets = [channel]
        else:
            targets = self.channels.of(session)
        targets = [c for c in targets if session in c.members]
        if not targets:
            return _ok("You are in no LogCaster channel: /join #logs-all")
        if mode not in ("on", "off", "status"):
            raise QueryError("Use !stream on, !stream off or !stream status")
        out: list[bytes] = []
        for target in targets:
            if mode != "status":
                target.set_streaming(session, mode == "on")
            state = target.members[session]
            out += _ok(f"{target.name}: stream {'on' if state.streaming else 'off'}")
        return out

    # ------------------------------------------------------------- filters
    def filter(self, channel: Channel | None, args: list[str]) -> list[bytes]:
        if channel is None or channel.builtin:
            raise QueryError("!filter works in a custom channel: /join #logs-<name>")
        verb = args[0].lower() if args else "list"
        value = " ".join(args[1:])
        if verb == "list":
            if not channel.filters:
                return _ok(f"{channel.name}: no filters, every line")
            return [
                f"{i}. {f}".encode("utf-8", "replace") for i, f in enumerate(channel.filters, 1)
            ]
        if verb == "add":
            found = parse_filter(value)
            channel.set_filters([*channel.filters, found])
            return _ok(f"{channel.name}: added {found} ({len(channel.filters)} filters, AND)")
        if verb in ("remove", "del", "rm"):
            kept = self._without(channel.filters, value)
            channel.set_filters(kept)
            return _ok(f"{channel.name}: removed {value} ({len(kept)} filters)")
        raise QueryError("Use !filter add <filter>, !filter list or !filter remove <filter>")

    @staticmethod
    def _without(filters: list[Filter], value: str) -> list[Filter]:
        if value.isdigit() and 1 <= int(value) <= len(filters):
            index = int(value) - 1
            return filters[:index] + filters[index + 1 :]
        gone = parse_filter(value)
        if gone not in filters:
            raise QueryError(f"No filter {gone} in this channel")
        return [f for f in filters if f != gone]
