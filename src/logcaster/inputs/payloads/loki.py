"""Loki's push API: ``{"streams": [{"stream": {labels}, "values": [[ns, line(, meta)]]}]}``
as JSON, or the logproto ``PushRequest`` as snappy-compressed protobuf (Promtail's
and Alloy's default).

Each entry is stored as ``{"_msg": <line>, <stream labels>..., <structured
metadata>...}``. The protobuf message classes are built at run time from a
descriptor of the four messages used (no generated code); labels arrive there as
Prometheus selector text (``{app="api", host="h1"}``) and are parsed here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from .records import Batch, PayloadError, TooLarge, compact, finish, text_of

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)', re.S)
_UNESCAPE = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _push_request_class() -> Any:
    f = descriptor_pb2.FileDescriptorProto(name="logcaster_logproto.proto", package="logproto")
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
    # Text fields as bytes: invalid UTF-8 is stored as U+FFFD, not a refused request.
    message(
        "LabelPair", ("name", 1, T.TYPE_BYTES, "", False), ("value", 2, T.TYPE_BYTES, "", False)
    )
    message(
        "Entry",
        ("timestamp", 1, T.TYPE_MESSAGE, ".logproto.Timestamp", False),
        ("line", 2, T.TYPE_BYTES, "", False),
        ("structuredMetadata", 3, T.TYPE_MESSAGE, ".logproto.LabelPair", True),
    )
    message(
        "Stream",
        ("labels", 1, T.TYPE_BYTES, "", False),
        ("entries", 2, T.TYPE_MESSAGE, ".logproto.Entry", True),
        ("hash", 3, T.TYPE_UINT64, "", False),
    )
    message("PushRequest", ("streams", 1, T.TYPE_MESSAGE, ".logproto.Stream", True))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = _push_request_class()


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


def parse_json(body: bytes, max_line: int) -> Batch:
    """The entries of a JSON push; raises :class:`PayloadError` if it is no push at all."""
    try:
        doc = json.loads(text_of(body))
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"Invalid JSON: {exc}") from None
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, list):
        raise PayloadError('Invalid push: no "streams" list')
    batch = Batch()
    out: list[str] = []
    for stream in streams:
        labels = stream.get("stream", {}) if isinstance(stream, dict) else None
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            batch.skip('Invalid stream: want {"stream": {...}, "values": [...]}')
            continue
        suffix = _suffix({str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()})
        for entry in values:
            if (
                isinstance(entry, list)
                and len(entry) in (2, 3)
                and isinstance(entry[0], str | int)
                and isinstance(entry[1], str)
                and (len(entry) == 2 or isinstance(entry[2], dict))
            ):
                meta = entry[2] if len(entry) == 3 else None
                if entry[1]:
                    out.append(_record(entry[1], suffix, meta))
            else:
                batch.skip(f'Invalid entry: want ["<ns>", "<line>"], got {str(entry)[:80]}')
    return finish(batch, out, max_line)


def snappy_block(body: bytes, limit: int) -> bytes:
    """Inflate a snappy *block* (raw) body, refusing one that claims more than ``limit``."""
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
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise PayloadError(f"Invalid snappy body: {exc}") from None


def parse_protobuf(body: bytes, max_line: int, limit: int) -> Batch:
    """The entries of a snappy-compressed protobuf push."""
    raw = snappy_block(body, limit)
    request = PushRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise PayloadError(f"Invalid protobuf PushRequest: {exc}") from None
    batch = Batch()
    out: list[str] = []
    for stream in request.streams:
        try:
            suffix = _suffix(parse_labels(text_of(stream.labels)))
        except PayloadError as exc:
            batch.skip(str(exc))
            continue
        for entry in stream.entries:
            if not entry.line:
                continue
            meta = {text_of(p.name): text_of(p.value) for p in entry.structuredMetadata}
            out.append(_record(text_of(entry.line), suffix, meta or None))
    return finish(batch, out, max_line)
