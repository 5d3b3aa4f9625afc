"""What a registered IRC client does: JOIN, PART, NAMES, TOPIC, LIST, WHO, MODE, and
PRIVMSG/NOTICE to channels and nicks; a ``!`` command (in a channel, or any text sent
privately to ``logcaster``) becomes a job whose reply the pseudo-user says.
"""

from __future__ import annotations

from .channels import Channel
from .message import Message, encode
from .render import BOT, SERVER
from .session import Job, Session


class Chat(Session):
    """A session with the channel and message commands."""

    # ------------------------------------------------------------ channels
    def on_join(self, msg: Message) -> None:
        if not self._need(msg, 1):
            return
        if msg.params[0] == "0":
            for joined in self.hub.channels.of(self):
                self._part(joined, "Left all channels")
            return
        for name in msg.params[0].split(","):
            channel = self.hub.channels.open(name)
            if channel is None:
                self.reply("403", name, "No such channel (LogCaster channels are #logs-*)")
                continue
            if self in channel.members:
                continue
            channel.add(self)
            line = encode("JOIN", channel.name, prefix=self.mask)
            for member in channel.members:
                member.send(line)
            self._topic(channel)
            self._names(channel)

    def on_part(self, msg: Message) -> None:
        if not self._need(msg, 1):
            return
        for name in msg.params[0].split(","):
            channel = self.hub.channels.get(name)
            if channel is None:
                self.reply("403", name, "No such channel")
            elif self not in channel.members:
                self.reply("442", name, "You're not on that channel")
            else:
                self._part(channel, msg.param(1))

    def _part(self, channel: Channel, reason: str) -> None:
        line = encode("PART", channel.name, *([reason] if reason else []), prefix=self.mask)
        for member in channel.members:
            member.send(line)
        self.hub.channels.leave(channel, self)

    def _topic(self, channel: Channel) -> None:
        if channel.topic:
            self.reply("332", channel.name, channel.topic)
        else:
            self.reply("331", channel.name, "No topic is set")

    def _names(self, channel: Channel) -> None:
        nicks = ["@" + BOT, *(m.nick for m in channel.members)]
        line: list[str] = []
        for nick in nicks:
            line.append(nick)
            if sum(len(n) + 1 for n in line) > 350:
                self.reply("353", "=", channel.name, " ".join(line))
                line = []
        if line:
            self.reply("353", "=", channel.name, " ".join(line))
        self.reply("366", channel.name, "End of /NAMES list")

    def on_names(self, msg: Message) -> None:
        for name in msg.param(0).split(",") if msg.param(0) else []:
            channel = self.hub.channels.get(name)
            if channel is not None:
                self._names(channel)
            else:
                self.reply("366", name, "End of /NAMES list")
        if not msg.param(0):
            self.reply("366", "*", "End of /NAMES list")

    def on_topic(self, msg: Message) -> None:
        if not self._need(msg, 1):
            return
        channel = self.hub.channels.get(msg.params[0])
        if channel is None:
            self.reply("403", msg.params[0], "No such channel")
        elif len(msg.params) < 2:
            self._topic(channel)
        elif channel.builtin:
            self.reply("482", channel.name, "The topic of a LogCaster channel is fixed")
        elif self not in channel.members:
            self.reply("442", channel.name, "You're not on that channel")
        else:
            channel.topic = msg.params[1]
            line = encode("TOPIC", channel.name, channel.topic, prefix=self.mask)
            for member in channel.members:
                member.send(line)

    def on_list(self, msg: Message) -> None:
        wanted = {n.lower() for n in msg.param(0).split(",") if n}
        self.reply("321", "Channel", "Users  Name")
        for channel in self.hub.channels:
            if not wanted or channel.name in wanted:
                self.reply("322", channel.name, str(len(channel.members)), channel.topic)
        self.reply("323", "End of /LIST")

    def on_who(self, msg: Message) -> None:
        target = msg.param(0, "*")
        channel = self.hub.channels.get(target)
        if channel is not None:
            self.reply("352", channel.name, BOT, BOT, SERVER, BOT, "H@", f"0 {BOT}")
            for m in channel.members:
                if isinstance(m, Session):
                    who = (m.user or m.nick, m.client.host, SERVER, m.nick, "H", f"0 {m.realname}")
                    self.reply("352", channel.name, *who)
        self.reply("315", target, "End of /WHO list")

    def on_mode(self, msg: Message) -> None:
        if not self._need(msg, 1):
            return
        target = msg.params[0]
        channel = self.hub.channels.get(target)
        if channel is not None:
            if len(msg.params) > 1 and msg.params[1].lstrip("+") == "b":
                self.reply("368", channel.name, "End of channel ban list")
            else:
                self.reply("324", channel.name, "+nt")
        elif target.lower() == self.nick.lower():
            self.reply("221", "+i")
        elif target.startswith("#"):
            self.reply("403", target, "No such channel")
        else:
            self.reply("401", target, "No such nick/channel")

    # ------------------------------------------------------------ messages
    def on_privmsg(self, msg: Message) -> Job | None:
        return self._message(msg, notice=False)

    def on_notice(self, msg: Message) -> Job | None:
        return self._message(msg, notice=True)

    def _message(self, msg: Message, notice: bool) -> Job | None:
        if not msg.param(0):
            if not notice:
                self.reply("411", f"No recipient given ({msg.command})")
            return None
        if len(msg.params) < 2 or not msg.params[1]:
            if not notice:
                self.reply("412", "No text to send")
            return None
        target, text = msg.params[0], msg.params[1]
        line = encode(msg.command, target, text, prefix=self.mask)
        if target.startswith("#"):
            channel = self.hub.channels.get(target)
            if channel is None or self not in channel.members:
                if not notice:
                    self.reply("404" if channel else "403", target, "Cannot send to channel")
                return None
            for member in channel.members:
                if member is not self:
                    member.send(line)
            if not notice and text.startswith("!"):
                return self._command(channel, channel.name, text)
            return None
        if target.lower() == BOT:
            return None if notice else self._command(None, self.nick, text)
        peer = self.hub.find(target)
        if peer is None:
            if not notice:
                self.reply("401", target, "No such nick/channel")
            return None
        peer.send(line)
        return None

    async def _command(self, channel: Channel | None, reply_to: str, text: str) -> None:
        self.hub.stats.commands += 1
        lines = await self.hub.commands.run(self, channel, text)
        if not self.closed:
            self.say(reply_to, lines)
