"""Sans-IO RFC 6587 framing: detection, OctetFramer and StreamFramer against a reference."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import cut

from logcaster.inputs.framing import LineFramer, Scratch
from logcaster.inputs.octet import OctetFramer, detect
from logcaster.inputs.stream import StreamFramer

# --------------------------------------------------------------- reference

COUNT = re.compile(rb"([1-9][0-9]{0,8}) ")


def ref_clean(msg: bytes) -> bytes:
    return msg.rstrip(b"\r\n\0").replace(b"\r\n", b"#012").replace(b"\n", b"#012")


def ref_cut(line: bytes, max_line: int) -> tuple[bytes, int]:
    return (line[:max_line] + b"...", 1) if len(line) > max_line else (line, 0)


def reference(data: bytes, max_line: int) -> tuple[bytes, int, int]:
    """A whole octet-counted stream -> (stored entries, truncated, malformed)."""
    out: list[bytes] = []
    truncated = malformed = 0
    i = 0
    while i < len(data):
        if data[i] in b"\r\n\0":
            i += 1
            continue
        m = COUNT.match(data, i)
        if m and int(m[1]) <= max_line:
            start, n = m.end(), int(m[1])
            msg = data[start : start + n]
            if start + n > len(data):
                malformed += 1  # cut by the peer
            out.append(ref_clean(msg))  # a count of at most max_line is never cut
            i = start + n
            continue
        if m and data[m.end() : m.end() + 1] in (b"<", b""):  # too long: cut, rest dropped
            start, n = m.end(), int(m[1])
            msg = data[start : start + n]
            if len(msg) < n:
                malformed += 1  # cut by the peer
            if len(msg) >= max_line:
                out.append(ref_clean(msg[:max_line]) + b"...")
                truncated += 1
            else:
                line, t = ref_cut(ref_clean(msg), max_line)
                out.append(line)
                truncated += t
            i = start + n
            continue
        if re.fullmatch(rb"[0-9]{1,9}", data[i:]):  # a count, then the peer closed
            malformed += 1
            out.append(data[i:])
            break
        malformed += 1  # not a count: text up to the next newline
        nl = data.find(b"\n", i)
        text = data[i:] if nl < 0 else data[i:nl]
        if len(text) > max_line + 1:
            out.append(text[:max_line] + b"...")
            truncated += 1
        else:
            line, t = ref_cut(text.rstrip(b"\r\0"), max_line)
            out.append(line)
            truncated += t
        i = len(data) if nl < 0 else nl + 1
    return b"".join(x + b"\n" for x in out if x), truncated, malformed


def run(framer: OctetFramer | StreamFramer, chunks: list[bytes]) -> bytes:
    out = bytearray()
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            space = framer.get_buffer()
            assert len(space) > 0
            n = min(len(space), len(view))
            space[:n] = view[:n]
            block = bytes(framer.commit(n))
            assert framer.lines == block.count(b"\n")
            assert block == b"" or block.endswith(b"\n")
            out += block
            view = view[n:]
    tail = framer.close()
    assert tail == b"" or (tail.endswith(b"\n") and tail.count(b"\n") == 1)
    return bytes(out + tail)


def frame(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    ("head", "octet"),
    [
        (b"12 <13>1 2026", True),
        (b"123456789 <191>x", True),
        (b"7 <0>abc", True),
        (b"2026-11-26T17:00:00Z INFO boot", False),
        (b"2026 <13> is not a pri?", True),  # indistinguishable by design: count + PRI
        (b"200 OK", False),
        (b"200 <html>", False),
        (b"12 13>", False),
        (b"012 <13>x", False),
        (b"1234567890 <13>", False),
        (b"12  <13>", False),
        (b"12 <1234>", False),
        (b"12 <>", False),
        (b"<13>Nov 26 host app: msg", False),
        (b"hello", False),
        (b"", None),
        (b"12", None),
        (b"12 ", None),
        (b"12 <", None),
        (b"12 <13", None),
        (b"123456789", None),
    ],
)
def test_detect(head: bytes, octet: bool | None) -> None:
    assert detect(head) is octet


@given(st.binary(max_size=20))
def test_detect_decides_monotonically(head: bytes) -> None:
    """Once known, more bytes never change the answer; 15 bytes always decide."""
    answers = [detect(head[:i]) for i in range(len(head) + 1)]
    known = [a for a in answers if a is not None]
    assert len(set(known)) <= 1
    if len(head) >= 15:
        assert answers[-1] is not None


@given(st.from_regex(rb"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.Z+-]{0,20}\Z"))
def test_timestamps_are_never_counts(line: bytes) -> None:
    assert detect(line) is False or len(line) < 5


# ------------------------------------------------------------------ framer examples


def test_frames_become_entries() -> None:
    msgs = [b"<13>1 2026-12-01T19:00:59Z vm app - - - hello", b"<11>err", b"x" * 50]
    data = b"".join(frame(m) for m in msgs)
    framer = OctetFramer(64)
    assert run(framer, [data]) == b"".join(m + b"\n" for m in msgs)
    assert framer.malformed == 0 and framer.truncated == 0


def test_embedded_newlines_are_escaped_and_trailing_ones_dropped() -> None:
    data = frame(b"<13>one\ntwo\r\nthree\n") + b"\n" + frame(b"<13>plain\x00") + b"\r\n"
    assert run(OctetFramer(64), [data]) == b"<13>one#012two#012three\n<13>plain\n"


def test_bad_counts_keep_text_and_resynchronise() -> None:
    framer = OctetFramer(32)
    data = frame(b"<13>ok") + b"x12 <13>not a count\n" + b"99 too long, no PRI\n" + frame(b"<1>b")
    assert run(framer, [data]) == b"<13>ok\nx12 <13>not a count\n99 too long, no PRI\n<1>b\n"
    assert framer.malformed == 2


def test_frame_cut_by_peer_is_kept_and_counted() -> None:
    framer = OctetFramer(64)
    assert run(framer, [frame(b"<13>whole") + b"20 <13>cut sh"]) == b"<13>whole\n<13>cut sh\n"
    assert framer.malformed == 1


def test_frame_longer_than_max_line_bytes_is_cut_and_the_stream_stays_in_step() -> None:
    framer = OctetFramer(8)
    data = frame(b"<13>" + b"L" * 100) + frame(b"<1>next")
    assert run(framer, [data[i : i + 7] for i in range(0, len(data), 7)]) == (
        b"<13>LLLL...\n<1>next\n"
    )
    assert framer.truncated == 1 and framer.malformed == 0


def test_absurd_count_is_bounded() -> None:
    framer = OctetFramer(8)
    data = b"999999999999999 " + b"z" * 100 + b"\n" + frame(b"<1>ok")
    assert run(framer, [data[i : i + 3] for i in range(0, len(data), 3)]) == (
        b"99999999...\n<1>ok\n"
    )
    assert framer.malformed == 1 and framer.truncated == 1


# ------------------------------------------------------------------ fuzzing

atoms = st.sampled_from(
    [b"a", b" ", b"\n", b"\r", b"\0", b"<13>", b"1", b"0", b"9", b"12 ", b"\xff", b"x" * 20]
)
messages = st.lists(atoms, max_size=12).map(b"".join)
octet_streams = st.lists(
    st.one_of(
        messages.map(frame),
        messages,
        st.sampled_from([b"\n", b"\r\n", b"\0"]),
    ),
    max_size=12,
).map(b"".join)
max_lines = st.integers(1, 64)


@given(data=octet_streams, max_line=max_lines, cuts=st.lists(st.integers(0, 1000), max_size=20))
def test_octet_random_splits_match_reference(data: bytes, max_line: int, cuts: list[int]) -> None:
    framer = OctetFramer(max_line)
    expected, truncated, malformed = reference(data, max_line)
    assert run(framer, cut(data, cuts) or [b""]) == expected
    assert (framer.truncated, framer.malformed) == (truncated, malformed)


@given(data=octet_streams, max_line=max_lines)
def test_octet_byte_at_a_time_matches_reference(data: bytes, max_line: int) -> None:
    framer = OctetFramer(max_line)
    expected, truncated, malformed = reference(data, max_line)
    assert run(framer, [data[i : i + 1] for i in range(len(data))]) == expected
    assert (framer.truncated, framer.malformed) == (truncated, malformed)


@given(data=st.binary(max_size=400), max_line=max_lines)
def test_octet_any_bytes_never_crash(data: bytes, max_line: int) -> None:
    framer = OctetFramer(max_line)
    whole = run(framer, [data])
    assert whole == reference(data, max_line)[0]
    assert run(OctetFramer(max_line), [data[i : i + 1] for i in range(len(data))]) == whole


@given(
    msgs=st.lists(messages.filter(lambda m: m.strip(b"\r\n\0")), min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 1000), max_size=10),
)
def test_stream_framer_detects_octet_counting(msgs: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frame(b"<13>" + m) for m in msgs)
    framer = StreamFramer(128)
    assert run(framer, cut(data, cuts) or [b""]) == reference(data, 128)[0]
    assert framer.octet_counted is True


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 1000), max_size=10))
def test_stream_framer_matches_the_framer_it_chose(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(32)
    got = run(framer, cut(data, cuts) or [b""])
    if detect(data[:15]) is True:
        assert got == reference(data, 32)[0]
    else:
        plain = LineFramer(32)
        assert got == plain.feed(data) + plain.close()


@given(st.lists(st.from_regex(rb"\A[0-9][0-9 :TZ.-]{0,30}[a-z ]{0,10}\Z"), max_size=20))
def test_plain_lines_starting_with_digits_stay_plain(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    framer = StreamFramer(64)
    plain = LineFramer(64)
    assert run(framer, [data[i : i + 1] for i in range(len(data))]) == plain.feed(data) + (
        plain.close()
    )


@given(
    a=octet_streams,
    b=st.binary(max_size=200),
    order=st.lists(st.booleans(), max_size=80),
    read_size=st.integers(1, 40),
)
def test_framers_of_both_kinds_sharing_one_scratch_buffer(
    a: bytes, b: bytes, order: list[bool], read_size: int
) -> None:
    """An octet-counted and a plain connection interleaving reads through one buffer."""
    max_line = 24
    scratch = Scratch(max_line, read_size=read_size)
    a = frame(b"<13>start") + a  # so that it is detected as octet counted
    framers = [StreamFramer(max_line, scratch), StreamFramer(max_line, scratch)]
    pending = [memoryview(a), memoryview(b)]
    outs = [bytearray(), bytearray()]
    picks = iter(order)
    while pending[0] or pending[1]:
        i = int(next(picks, False)) if pending[0] and pending[1] else int(not pending[0])
        space = framers[i].get_buffer()
        assert len(space) > 0
        n = min(len(space), len(pending[i]), read_size)
        space[:n] = pending[i][:n]
        pending[i] = pending[i][n:]
        outs[i] += framers[i].commit(n)  # copied before the other framer reuses the buffer
    for i in (0, 1):
        outs[i] += framers[i].close()
    assert bytes(outs[0]) == reference(a, max_line)[0]
    alone = StreamFramer(max_line)
    assert bytes(outs[1]) == alone.feed(b) + alone.close()


@pytest.mark.parametrize("read_size", [1, 5, 1000])
def test_an_over_long_frame_cut_short_by_the_peer_is_cut_once_cleaned(read_size: int) -> None:
    """A frame longer than max_line whose peer closes before max_line bytes of it came:
    stored as far as it got, and cut like any over-long line when its newline,
    stored as "#012", makes it longer than max_line."""
    data = frame(b"<13>start") + b"94 <13>0 0 0 0 0 6 a\n<13>"
    framer = OctetFramer(24)
    out = run(framer, [data[i : i + read_size] for i in range(0, len(data), read_size)])
    want, truncated, malformed = reference(data, 24)
    assert out == want == b"<13>start\n<13>0 0 0 0 0 6 a#012<13...\n"
    assert (framer.truncated, framer.malformed) == (truncated, malformed) == (1, 1)
