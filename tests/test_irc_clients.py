"""Real IRC clients against a running server: a bot written with the PyPI ``irc``
library, and ``irssi`` run under ``tmux`` (skipped when either program is missing),
each receiving a line sent to the ingest port and asking a ``!query``."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import irc.client
import pytest
from irc_support import IrcServer, irc_factory, irc_server
from support import wait_for

__all__ = ["irc_factory", "irc_server"]  # fixtures used below


def test_bot_with_the_irc_library_joins_and_receives_lines(irc_server: IrcServer) -> None:
    reactor = irc.client.Reactor()
    joined: list[str] = []
    public: list[tuple[str, str, str]] = []
    notices: list[str] = []
    reactor.add_global_handler("welcome", lambda c, e: c.join("#logs-error"))
    reactor.add_global_handler("join", lambda c, e: joined.append(e.target))
    reactor.add_global_handler(
        "pubmsg", lambda c, e: public.append((e.target, e.source.nick, e.arguments[0]))
    )
    reactor.add_global_handler("privnotice", lambda c, e: notices.append(e.arguments[0]))
    conn = reactor.server().connect("127.0.0.1", irc_server.irc_port, "pybot")

    def pump(predicate):  # type: ignore[no-untyped-def]
        def step():  # type: ignore[no-untyped-def]
            reactor.process_once(0.05)
            return predicate()

        return wait_for(step, 15, what="the bot's events")

    try:
        pump(lambda: joined == ["#logs-error"])
        marker = f"bot-check-{uuid.uuid4().hex[:8]}"
        irc_server.send(f"INFO not for the bot\nERROR {marker} failed\n".encode())
        pump(lambda: any(marker in text for _, _, text in public))
        target, sender, text = next(p for p in public if marker in p[2])
        assert (target, sender) == ("#logs-error", "logcaster")
        assert text.endswith(f"ERROR ERROR {marker} failed")
        assert not any("not for the bot" in p[2] for p in public)
        conn.privmsg("#logs-error", "!query COUNT level:ERROR")
        pump(lambda: any(p[2] == "COUNT: 1" for p in public))
    finally:
        conn.disconnect("done")


IRSSI = shutil.which("irssi")
TMUX = shutil.which("tmux")


@pytest.mark.skipif(IRSSI is None or TMUX is None, reason="needs irssi and tmux (apt)")
def test_irssi_under_tmux_shows_an_ingested_line(irc_server: IrcServer, tmp_path: Path) -> None:
    home = tmp_path / "irssi-home"
    home.mkdir()
    sock = f"logcaster-irc-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmux = [str(TMUX), "-L", sock, "-f", os.devnull]
    command = f"{IRSSI} --home={home} -n watcher -c 127.0.0.1 -p {irc_server.irc_port}"
    env = dict(os.environ, TERM="xterm")
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "irc", "-x", "200", "-y", "50", command],
        check=True,
        env=env,
    )

    def pane() -> str:
        done = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "irc"], capture_output=True, text=True, env=env
        )
        return done.stdout

    def keys(text: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", "irc", "-l", text], check=True, env=env)
        subprocess.run([*tmux, "send-keys", "-t", "irc", "Enter"], check=True, env=env)

    try:
        wait_for(lambda: int(irc_server.info()["IrcRegistered"]) >= 1, 20, what="irssi registered")
        keys("/join #logs-error")
        wait_for(lambda: "#logs-error" in pane() and "logcaster" in pane(), 20, what="joined")
        wait_for(lambda: irc_server.info()["IrcChannels"] == "1", 20, what="irssi in channel")
        marker = f"irssi-check-{uuid.uuid4().hex[:8]}"
        irc_server.send(f"INFO quiet line\nERROR {marker} disk full\n".encode())
        shown = wait_for(lambda: marker in pane() and pane(), 20, what="the line in irssi")
        assert f"ERROR {marker} disk full" in shown
        assert "quiet line" not in shown
        keys("!query COUNT level:ERROR")
        wait_for(lambda: "COUNT: 1" in pane(), 20, what="the !query reply in irssi")
    finally:
        (tmp_path / "irssi-pane.txt").write_text(pane())
        subprocess.run([*tmux, "kill-server"], capture_output=True, env=env)
