"""Loki's push API: ``{"streams": [{"stream": {labels}, "values": [[ns, line(, meta)]]}]}``
as JSON (snappy-compressed too, with ``Content-Encoding: snappy``), or the logproto
``PushRequest`` as snappy-compressed protobuf (Promtail's, Alloy's and Vector's
default).

Each entry is stored as ``{"_msg": <line>, <stream labels>..., <structured
metadata>...}``. The protobuf message classes are built at run time from a
descriptor of the four messages used (no generated code); labels arrive there as
Prometheus selector text (``{app="api", host="h1"}``) and are parsed here.
"""

from __future__ import annotations

import json
import operator
import re
import threading
from collections.abc import Callable
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from . import native
from .records import (
    Batch,
    Body,
    Growth,
    PayloadError,
    TooLarge,
    compact,
    finish,
    message_lines,
    text_of,
)

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)', re.S)
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
# An entry's timestamp, as Loki reads it: a string of a decimal int64 (nanoseconds).
# Every int64 of up to 18 digits, and every 19-digit one before 2033 (the usual), at
# once; the other 19-digit ones are compared with the bound.
_NS_SURE = re.compile(r"-?(?:[0-9]{1,18}|1[0-9]{18})").fullmatch
_NS_19 = re.compile(r"-?[0-9]{19}").fullmatch
_INT64 = 1 << 63


def is_timestamp(ns: object) -> bool:
    """Whether ``ns`` is a Loki entry timestamp: a string of a decimal int64 (no
    number, sign ``+``, spaces or fraction; Loki refuses the entry otherwise)."""
    if not isinstance(ns, str):
        return False
    if _NS_SURE(ns) is not None:
        return True
    return _NS_19(ns) is not None and -_INT64 <= int(ns) < _INT64


_UNESCAPE = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _push_request_class(text: int) -> Any:
    """PushRequest with its text fields of type ``text`` (string: UTF-8 checked by the
    decoder; bytes: anything, decoded here with U+FFFD for invalid sequences)."""
    name = f"logcaster_logproto_{text}.proto"
    f = descriptor_pb2.FileDescriptorProto(name=name, package="logproto")
    f.syntax = "proto3"
    T = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple[str, int, int, str, bool]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, type_name, repeated in fields:
            fd = m.field.add(name=fname, number=number, type=ftype)
            fd.label = T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL
            if type_name:
                fd.type_name = type_name

    message(
        "Timestamp", ("seconds", 1, T.TYPE_INT64, "", False), ("nanos", 2, T.TYPE_INT32, "", False)
    )
    message("LabelPair", ("name", 1, text, "", False), ("value", 2, text, "", False))
    message(
        "Entry",
        ("timestamp", 1, T.TYPE_MESSAGE, ".logproto.Timestamp", False),
        ("line", 2, text, "", False),
        ("structuredMetadata", 3, T.TYPE_MESSAGE, ".logproto.LabelPair", True),
    )
    message(
        "Stream",
        ("labels", 1, text, "", False),
        ("entries", 2, T.TYPE_MESSAGE, ".logproto.Entry", True),
        ("hash", 3, T.TYPE_UINT64, "", False),
    )
    message("PushRequest", ("streams", 1, T.TYPE_MESSAGE, ".logproto.Stream", True))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


_T = descriptor_pb2.FieldDescriptorProto
PushRequest = _push_request_class(_T.TYPE_STRING)
LenientPushRequest = _push_request_class(_T.TYPE_BYTES)  # for invalid UTF-8


def parse_labels(text: str) -> dict[str, str]:
    """``{app="api", host="h1"}`` -> ``{"app": "api", "host": "h1"}``."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise PayloadError(f"Invalid stream labels: {text[:80]}")
    inner = inner[1:-1].strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        m = _LABEL.match(inner, pos)
        if m is None or m.end() == pos:
            raise PayloadError(f"Invalid stream labels: {text[:80]}")
        value = re.sub(r"\\(.)", lambda e: _UNESCAPE.get(e.group(1), e.group(1)), m.group(2))
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def _suffix(fields: dict[str, str]) -> str:
    """``,"k":"v",...`` for the labels every entry of a stream carries."""
    fields = {k: v for k, v in fields.items() if k != "_msg"}
    return "," + compact(fields)[1:-1] if fields else ""


def _record(line: str, suffix: str, meta: dict[str, str] | None) -> str:
    text = '{"_msg":' + compact(line) + suffix
    if meta:
        extra = _suffix(meta)
        text += extra
    return text + "}"


def parse_json(body: Body, max_line: int, most: int = 0) -> Batch:
    """The entries of a JSON push; raises :class:`PayloadError` if it is no push at all,
    :class:`TooLarge` if its lines would pass ``most`` bytes (not 0: no bound; a
    stream's labels are repeated on each of its lines). A well-formed push is read by
    the C scanner; anything else by :func:`parse_json_python`."""
    fast = native.loki_json(body, max_line, most)
    return fast if fast is not None else parse_json_python(body, max_line, most)


def parse_json_snappy(body: Body, max_line: int, limit: int, most: int = 0) -> Batch:
    """:func:`parse_json` of a snappy-compressed JSON push (``Content-Encoding:
    snappy``, Vector's), inflated as :func:`snappy_block` does, within ``limit``."""
    return parse_json(snappy_block(body, limit), max_line, most)


def parse_json_python(body: Body, max_line: int, most: int = 0) -> Batch:
    """:func:`parse_json` in Python alone: the reference of the C scanner."""
    try:
        doc = json.loads(text_of(body))
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"Invalid JSON: {exc}") from None
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, list):
        raise PayloadError('Invalid push: no "streams" list')
    batch = Batch()
    out: list[str] = []
    count = 0
    growth = Growth(max_line, most)
    for stream in streams:
        labels = stream.get("stream", {}) if isinstance(stream, dict) else None
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            # each entry of a stream without labels is lost: each is counted
            entries = len(values) if isinstance(values, list) else 0
            batch.skip('Invalid stream: want {"stream": {...}, "values": [...]}', max(entries, 1))
            continue
        suffix = _suffix({str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()})
        texts = _plain_lines(values)
        if texts is not None:  # the common case: [ns, line] pairs, handled in bulk
            if texts:
                growth.add(len(texts), len(suffix) + 11)  # before they are made
                out.append(message_lines(texts, suffix))
                count += len(texts)
            continue
        for entry in values:  # Loki refuses an entry of another shape, or timestamp
            if (
                isinstance(entry, list)
                and len(entry) in (2, 3)
                and is_timestamp(entry[0])
                and isinstance(entry[1], str)
                and (len(entry) == 2 or isinstance(entry[2], dict))
            ):
                meta = entry[2] if len(entry) == 3 else None
                out.append(_record(entry[1], suffix, meta))
                growth.add(1, len(out[-1]))
                count += 1
            else:
                batch.skip(f'Invalid entry: want ["<ns>", "<line>"], got {str(entry)[:80]}')
    return finish(batch, out, max_line, count, most)


def _plain_lines(values: list[object]) -> list[str] | None:
    """The lines of ``values`` if every entry is a plain ``[ns, line]`` pair (checked
    with C-level passes), else None."""
    if not values:
        return []
    if set(map(type, values)) != {list} or set(map(len, values)) != {2}:  # type: ignore[arg-type]
        return None
    texts = list(map(_SECOND, values))  # type: ignore[arg-type]
    stamps = list(map(_FIRST, values))  # type: ignore[arg-type]
    if set(map(type, texts)) != {str} or set(map(type, stamps)) != {str}:
        return None
    if not all(map(_NS_SURE, stamps)) and not all(map(is_timestamp, stamps)):
        return None
    return texts


# Each parsing thread inflates into a buffer of its own, kept from body to body: a
# fresh one per body cost its zeroing and a page fault per 4 KiB (~5% of the
# server's CPU under Promtail-sized pushes). Larger bodies get one of their own.
_INFLATED = threading.local()
INFLATE_LEAST = 1 << 20
INFLATE_KEEP = 8 << 20


def snappy_block(body: Body, limit: int) -> memoryview:
    """Inflate a snappy *block* (raw) body, refusing one that claims more than ``limit``;
    a view of this thread's inflate buffer, valid until its next call here (the
    parsers copy what they keep)."""
    size = shift = 0
    for byte in body[:10]:
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise PayloadError("Invalid snappy body")
    if size > limit:
        raise TooLarge(f"Decompressed body larger than {limit} bytes")
    buf = getattr(_INFLATED, "buf", None)
    if buf is None or len(buf) < size:
        buf = bytearray(max(size, INFLATE_LEAST))
        if len(buf) <= INFLATE_KEEP:
            _INFLATED.buf = buf
    try:
        return memoryview(buf)[: cramjam.snappy.decompress_raw_into(body, buf)]
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise PayloadError(f"Invalid snappy body: {exc}") from None


def parse_protobuf(body: Body, max_line: int, limit: int, most: int = 0) -> Batch:
    """The entries of a snappy-compressed protobuf push: read by the C scanner in
    the plain case, else by :func:`parse_protobuf_python`; ``most`` as for
    :func:`parse_json`."""
    raw = snappy_block(body, limit)
    fast = native.loki_protobuf(raw, max_line, _encoded_suffix, most)
    return fast if fast is not None else _parse_raw(raw, max_line, most)


def _encoded_suffix(text: bytes) -> bytes | str:
    """A stream's label text as the bytes each of its records ends with, or the problem."""
    try:
        return _suffix(parse_labels(text.decode())).encode("utf-8", "backslashreplace")
    except PayloadError as exc:
        return str(exc)


def parse_protobuf_python(body: Body, max_line: int, limit: int, most: int = 0) -> Batch:
    """:func:`parse_protobuf` with the protobuf library alone: the C scanner's reference."""
    return _parse_raw(snappy_block(body, limit), max_line, most)


def _parse_raw(raw: Body, max_line: int, most: int = 0) -> Batch:
    raw = bytes(raw)
    try:
        request = PushRequest.FromString(raw)
        decode: Callable[[Any], str] = _same
    except (DecodeError, RecursionError, ValueError):
        try:  # invalid UTF-8 (the string-typed reader refuses it) or not protobuf at all
            request = LenientPushRequest.FromString(raw)
            decode = text_of
        except (DecodeError, RecursionError, ValueError) as exc:
            raise PayloadError(f"Invalid protobuf PushRequest: {exc}") from None
    batch = Batch()
    out: list[str] = []
    count = 0
    growth = Growth(max_line, most)
    for stream in request.streams:
        try:
            suffix = _suffix(parse_labels(decode(stream.labels)))
        except PayloadError as exc:  # each of its entries is lost, and counted
            batch.skip(str(exc), max(len(stream.entries), 1))
            continue
        entries = stream.entries
        if not any(e.structuredMetadata for e in entries):
            texts = [decode(e.line) for e in entries]
            if texts:
                growth.add(len(texts), len(suffix) + 11)  # before they are made
                out.append(message_lines(texts, suffix))
                count += len(texts)
            continue
        for entry in entries:
            meta = {decode(p.name): decode(p.value) for p in entry.structuredMetadata}
            out.append(_record(decode(entry.line), suffix, meta or None))
            growth.add(1, len(out[-1]))
            count += 1
    return finish(batch, out, max_line, count, most)


def _same(text: str) -> str:
    return text
