"""Sans-IO reading of a query connection's request: optional ``AUTH`` line, then one command.

Fed bytes as they arrive, :class:`RequestReader` returns the command line once
it is complete, or the one ``ERROR`` line to answer with before closing:
a missing or wrong ``AUTH <token>`` (when a token is configured; compared in
constant time, never echoed) or a line longer than the limit.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ...query.spec import MAX_COMMAND_BYTES

MAX_LINE_BYTES = MAX_COMMAND_BYTES
AUTH_REQUIRED = b"ERROR: Authentication required\n"
TOO_LONG = b"ERROR: Command line too long (limit 65536 bytes)\n"


@dataclass(frozen=True, slots=True)
class CommandLine:
    line: bytes


@dataclass(frozen=True, slots=True)
class Refuse:
    reply: bytes


Outcome = CommandLine | Refuse | None


class RequestReader:
    def __init__(self, token: str = "", max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._token = token.encode()
        self._authed = not token
        self._max = max_line_bytes
        self._buf = bytearray()
        self.done = False

    def feed(self, data: bytes) -> Outcome:
        """Take received bytes; the command or refusal once known, else None."""
        if self.done:
            return None
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self._max:
                    return self._finish(Refuse(TOO_LONG))
                return None
            if nl > self._max:
                return self._finish(Refuse(TOO_LONG))
            line = bytes(self._buf[:nl]).rstrip(b"\r")
            del self._buf[: nl + 1]
            outcome = self._line(line)
            if outcome is not None:
                return outcome

    def eof(self) -> Outcome:
        """The client half-closed: a last line without newline still counts."""
        if self.done:
            return None
        line = bytes(self._buf).rstrip(b"\r")
        self._buf.clear()
        if line:
            outcome = self._line(line)
            if outcome is not None:
                return outcome
        if not self._authed:
            return self._finish(Refuse(AUTH_REQUIRED))
        return None

    def _line(self, line: bytes) -> Outcome:
        if self._authed:
            return self._finish(CommandLine(line))
        verb, _, given = line.partition(b" ")
        if verb.upper() == b"AUTH" and hmac.compare_digest(given.strip(), self._token):
            self._authed = True
            return None
        return self._finish(Refuse(AUTH_REQUIRED))

    def _finish(self, outcome: CommandLine | Refuse) -> Outcome:
        self.done = True
        self._buf.clear()
        return outcome
