#!/usr/bin/env python3
"""Long fuzzing runs (Hypothesis) of the three parsers that take bytes from the network.

- ``framer``:  LineFramer fed arbitrary bytes in arbitrary reads (two framers
  sharing one scratch buffer); lines out are the reference lines, never another
  exception, pending bytes bounded.
- ``parser``:  parse_command on arbitrary bytes (and on structured near-valid
  lines): a command or an Error with a one-line reply, never another exception.
- ``request``: RequestReader (with and without a token) on arbitrary bytes in
  arbitrary reads: a Command, one of the two refusals, or None; the same answer
  however the bytes are cut.

    python tests/stress/fuzz.py                       # 1 000 000 examples per target
    python tests/stress/fuzz.py --examples 20000 --target request

Exits 1 (after printing the falsifying example) if a property fails.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcaster.frontends.line import grammar as cmd
from logcaster.frontends.line.reader import AUTH_REQUIRED, TOO_LONG, Outcome, Refuse, RequestReader
from logcaster.frontends.line.reader import CommandLine as Command
from logcaster.inputs.framing import LineFramer, Scratch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support
from support import cut, request_reference

TOKEN = "s3cret-token-42"
NOW = 1_700_000_000_000_000_000


# ------------------------------------------------------------------ framer

framer_bytes = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"xyz" * 7, b"\r" * 40]),
        max_size=80,
    ).map(b"".join),
)


def check_framer(data: bytes, max_line: int, points: list[int]) -> None:
    scratch = Scratch(max_line, read_size=64)
    framer, other = LineFramer(max_line, scratch), LineFramer(max_line, scratch)
    out = bytearray()
    for chunk in cut(data, points):
        view = memoryview(chunk)
        while view:
            space = framer.get_buffer()
            n = min(len(space), len(view))
            space[:n] = view[:n]
            out += framer.commit(n)
            view = view[n:]
            other.get_buffer()
            other.commit(0)
            assert framer.pending <= max_line + 2
    out += framer.close()
    stored = out.split(b"\n")[:-1]
    sent = [x for x in (line.rstrip(b"\r") for line in data.split(b"\n")) if x]
    assert len(stored) == len(sent), (stored, sent)
    for got, line in zip(stored, sent, strict=True):
        assert got == (line if len(line) <= max_line else line[:max_line] + b"...")


# ------------------------------------------------------------------ parser

verbs = st.sampled_from(["QUERY", "FOLLOW", "TAIL", "query", "STATS", "INFO", "HELP", "COUNT", ""])
values = st.text(alphabet=st.sampled_from(list('ab =,"\\-:.0123456789[]()*+?$^|Zz\u00e9\x00\r')))
params = st.sampled_from([*cmd.PARAMETERS, "bogus", ""])
parser_lines = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda v, pairs: (v + " " + " ".join(f"{k}={x}" for k, x in pairs)).encode(),
        verbs,
        st.lists(st.tuples(params, values), max_size=6),
    ),
)
RESULTS = (cmd.Stats, cmd.Count, cmd.Help, cmd.Info, cmd.Query, cmd.Tail, cmd.Follow, cmd.Error)


def check_parser(line: bytes) -> None:
    result = cmd.parse_command(line, now_ns=NOW)
    assert isinstance(result, RESULTS), result
    if isinstance(result, cmd.Error):
        reply = result.reply()
        assert reply.startswith(b"ERROR: ") and reply.count(b"\n") == 1, reply


# ----------------------------------------------------------------- request

request_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                b"AUTH s3cret-token-42\n",
                b"auth s3cret-token-42\r\n",
                b"AUTH wrong\n",
                b"AUTH ",
                b"STATS",
                b"\n",
                b"\r",
                b" ",
                b"\x00\xff",
                b"x" * 9,
            ]
        ),
        max_size=14,
    ).map(b"".join),
)


def check_request(data: bytes, token: str, max_line: int, points: list[int]) -> None:
    reader = RequestReader(token, max_line_bytes=max_line)
    outcome: Outcome = None
    for chunk in cut(data, points):
        got = reader.feed(chunk)
        assert got is None or outcome is None, "answered twice"
        outcome = outcome or got
        assert len(reader._buf) <= max_line
    got = reader.eof()
    assert got is None or outcome is None, "answered again at EOF"
    outcome = outcome or got
    assert outcome == request_reference(token.encode(), data, max_line), outcome
    if isinstance(outcome, Refuse):
        assert outcome.reply in (AUTH_REQUIRED, TOO_LONG)
    if isinstance(outcome, Command):
        assert b"\n" not in outcome.line and len(outcome.line) <= max_line


# -------------------------------------------------------------------- main

cuts = st.lists(st.integers(min_value=0, max_value=1000), max_size=10)

TARGETS: dict[str, Callable[[], Callable[..., None]]] = {
    "framer": lambda: given(framer_bytes, st.integers(min_value=1, max_value=48), cuts)(
        check_framer
    ),
    "parser": lambda: given(parser_lines)(check_parser),
    "request": lambda: given(
        request_bytes, st.sampled_from(["", TOKEN]), st.sampled_from([4, 16, 65536]), cuts
    )(check_request),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--examples", type=int, default=1_000_000, help="per target (1000000)")
    p.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    p.add_argument("--batch", type=int, default=100_000, help="examples per progress line")
    args = p.parse_args(argv)
    names = list(TARGETS) if args.target == "all" else [args.target]
    failed = []
    for name in names:
        t0 = time.monotonic()
        done = 0
        while done < args.examples:
            n = min(args.batch, args.examples - done)
            test = settings(
                max_examples=n,
                deadline=None,
                database=None,  # each batch explores afresh; nothing written to disk
                suppress_health_check=list(HealthCheck),
                derandomize=False,
            )(TARGETS[name]())
            try:
                test()
            except Exception:
                traceback.print_exc()
                failed.append(name)
                break
            done += n
            rate = done / (time.monotonic() - t0)
            print(f"{name:8} {done:>9,} examples  {rate:8,.0f}/s", flush=True)
        status = "FAIL" if name in failed else "PASS"
        print(f"{status} {name}: {done:,} examples in {time.monotonic() - t0:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
