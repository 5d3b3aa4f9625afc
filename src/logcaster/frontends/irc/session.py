"""One IRC client's conversation, transport-free: dispatch of parsed messages,
registration (PASS, NICK, USER, ``CAP LS 302``/``CAP END``), welcome and MOTD,
PING, numeric replies and errors, QUIT and leaving. The channel and message
commands are in :mod:`.chat`; a handler may return a job (a ``!`` command's
coroutine) for the adapter to run in order.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ... import __version__
from .channels import Channel, Channels
from .message import Message, encode
from .render import BOT, SERVER, privmsgs

NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]{0,29}\Z")
MOTD = (
    "LogCaster: live logs on IRC.",
    "Join #logs-all, #logs-error, #logs-warning, #logs-info or #logs-debug;",
    "any other #logs-<name> is yours to filter (!filter add keyword:X).",
    "Say !help in a channel, or to logcaster in private.",
)
BEFORE_REGISTRATION = {"PASS", "NICK", "USER", "CAP", "PING", "PONG", "QUIT"}
Job = Coroutine[Any, Any, None]


class Client(Protocol):
    """The connection a session talks through."""

    host: str

    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int: ...

    def close(self) -> None:
        """Send what is queued, then close."""
        ...


class Commands(Protocol):
    async def run(self, session: Session, channel: Channel | None, text: str) -> list[bytes]: ...


@dataclass(slots=True)
class IrcStats:
    registered: int = 0  # connections that completed registration
    commands: int = 0  # ! commands run
    unknown: int = 0  # commands answered 421
    bad_lines: int = 0  # overlong or malformed lines dropped
    ping_timeouts: int = 0  # connections closed for not answering PING
    password_failures: int = 0  # connections refused with 464


@dataclass(eq=False)
class Hub:
    """What every session shares: nicks, channels, the password, the commands."""

    channels: Channels
    commands: Commands
    password: str = ""
    created: str = ""
    stats: IrcStats = field(default_factory=IrcStats)
    nicks: dict[str, Session] = field(default_factory=dict)  # folded nick -> session

    def find(self, nick: str) -> Session | None:
        return self.nicks.get(nick.lower())


class Session:
    """Registration, replies and leaving; :class:`~.chat.Chat` adds the channels."""

    def __init__(self, hub: Hub, client: Client) -> None:
        self.hub = hub
        self.client = client
        self.nick = ""
        self.user = ""
        self.realname = ""
        self.password = ""
        self.registered = False
        self.negotiating = False  # CAP LS seen, CAP END not yet
        self.closed = False

    # ---------------------------------------------------------- as a Member
    def buffered(self) -> int:
        return self.client.buffered()

    def send(self, data: bytes) -> None:
        self.client.write(data)

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user or self.nick}@{self.client.host}"

    def reply(self, numeric: str, *params: str) -> None:
        self.send(encode(numeric, self.nick or "*", *params, prefix=SERVER))

    def say(self, target: str, lines: list[bytes]) -> None:
        """Lines from the pseudo-user to ``target`` (a channel or this nick)."""
        self.send(b"".join(m for line in lines for m in privmsgs(target, line)))

    # ------------------------------------------------------------ dispatch
    def handle(self, msg: Message) -> Job | None:
        if self.closed:
            return None
        if not self.registered and msg.command not in BEFORE_REGISTRATION:
            self.reply("451", "You have not registered")
            return None
        handler: Callable[[Message], Job | None] | None = getattr(
            self, "on_" + msg.command.lower(), None
        )
        if handler is None or not msg.command.isalpha():
            self.hub.stats.unknown += 1
            self.reply("421", msg.command, "Unknown command")
            return None
        return handler(msg)

    def _need(self, msg: Message, count: int) -> bool:
        if len(msg.params) < count or not msg.params[count - 1]:
            self.reply("461", msg.command, "Not enough parameters")
            return False
        return True

    # -------------------------------------------------------- registration
    def on_cap(self, msg: Message) -> None:
        sub = msg.param(0).upper()
        if sub == "LS":
            self.negotiating = not self.registered
            self.send(encode("CAP", self.nick or "*", "LS", "", prefix=SERVER))
        elif sub == "LIST":
            self.send(encode("CAP", self.nick or "*", "LIST", "", prefix=SERVER))
        elif sub == "REQ":
            self.send(encode("CAP", self.nick or "*", "NAK", msg.param(1), prefix=SERVER))
        elif sub == "END":
            self.negotiating = False
            self._try_register()
        else:
            self.reply("410", sub or "*", "Invalid CAP command")

    def on_pass(self, msg: Message) -> None:
        if self.registered:
            self.reply("462", "You may not reregister")
        elif self._need(msg, 1):
            self.password = msg.params[0]

    def on_nick(self, msg: Message) -> None:
        if not msg.param(0):
            self.reply("431", "No nickname given")
            return
        nick = msg.params[0]
        if not NICK.match(nick):
            self.reply("432", nick, "Erroneous nickname")
            return
        holder = self.hub.find(nick)
        if nick.lower() == BOT or (holder is not None and holder is not self):
            self.reply("433", nick, "Nickname is already in use")
            return
        old, old_mask = self.nick, self.mask
        if self.nick:
            self.hub.nicks.pop(self.nick.lower(), None)
        self.nick = nick
        self.hub.nicks[nick.lower()] = self
        if self.registered and old != nick:
            line = encode("NICK", nick, prefix=old_mask)
            for peer in self._peers(include_self=True):
                peer.send(line)
        self._try_register()

    def on_user(self, msg: Message) -> None:
        if self.registered:
            self.reply("462", "You may not reregister")
        elif len(msg.params) < 4 or not msg.params[0]:
            self.reply("461", "USER", "Not enough parameters")
        else:
            self.user = msg.params[0][:20]
            self.realname = msg.params[3]
            self._try_register()

    def _try_register(self) -> None:
        if self.registered or not self.nick or not self.user or self.negotiating:
            return
        wanted = self.hub.password
        if wanted and not hmac.compare_digest(self.password.encode(), wanted.encode()):
            self.hub.stats.password_failures += 1
            self.reply("464", "Password incorrect")
            self.quit("Bad password")
            return
        self.registered = True
        self.hub.stats.registered += 1
        nick = self.nick
        self.reply("001", f"Welcome to LogCaster, {self.mask}")
        self.reply("002", f"Your host is {SERVER}, running version {__version__}")
        self.reply("003", f"This server was created {self.hub.created}")
        self.send(encode("004", nick, SERVER, __version__, "i", "nt", prefix=SERVER))
        isupport = ("CHANTYPES=#", "NICKLEN=30", "CHANNELLEN=50", "CASEMAPPING=ascii")
        self.send(
            encode(
                "005",
                nick,
                *isupport,
                "NETWORK=LogCaster",
                "are supported by this server",
                prefix=SERVER,
            )
        )
        self.on_motd(Message("MOTD"))

    def on_motd(self, msg: Message) -> None:
        self.reply("375", f"- {SERVER} Message of the day -")
        for text in MOTD:
            self.reply("372", f"- {text}")
        self.reply("376", "End of /MOTD command")

    def on_ping(self, msg: Message) -> None:
        if self._need(msg, 1):
            self.send(encode("PONG", SERVER, msg.params[0], prefix=SERVER))

    def on_pong(self, msg: Message) -> None:
        """Any traffic proves the client alive; the adapter notes it."""

    def on_quit(self, msg: Message) -> None:
        self.quit(f"Quit: {msg.param(0)}" if msg.param(0) else "Client Quit")

    def quit(self, reason: str) -> None:
        """Leave every channel (telling its members), free the nick, close."""
        if self.closed:
            return
        self.gone(reason)
        self.send(encode("ERROR", f"Closing Link: {self.client.host} ({reason})"))
        self.client.close()

    def gone(self, reason: str) -> None:
        """The connection is ending: members of its channels see it quit."""
        if self.closed:
            return
        self.closed = True
        if self.registered:
            line = encode("QUIT", reason, prefix=self.mask)
            for peer in self._peers(include_self=False):
                peer.send(line)
        self.hub.channels.leave_all(self)
        if self.nick and self.hub.find(self.nick) is self:
            del self.hub.nicks[self.nick.lower()]

    def _peers(self, include_self: bool) -> list[Session]:
        """Every session sharing a channel with this one, once each."""
        seen: dict[int, Session] = {id(self): self} if include_self else {}
        for channel in self.hub.channels.of(self):
            for member in channel.members:
                if member is not self and isinstance(member, Session):
                    seen.setdefault(id(member), member)
        return list(seen.values())
