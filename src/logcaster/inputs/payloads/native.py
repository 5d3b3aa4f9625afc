"""The C scanners of NDJSON, Loki JSON, Loki protobuf, Elasticsearch bulk and OTLP
protobuf bodies (``_speedups``, GIL released), as :class:`~.records.Batch` results,
or None where the Python parsers must decide.

The C code handles the plain case only: a body outside it (nesting deeper than the
scanner's bound; for Loki any malformed part, non-string label or metadata values,
repeated keys; for bulk escaped or repeated action keys, an odd ``_index`` or ``_id``)
comes back as None and the caller runs its Python parser, which is the reference
(``tests/test_http_native.py`` and ``tests/test_http_bulk.py`` compare the two). A body that is not
valid UTF-8 gets its bad sequences replaced first, as the Python parsers do.
A block the scanners write is a read-only memoryview of their output buffer (no
copy into bytes); the buffer is used again once the view is gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .records import Batch, Body, expanded_too_far, text_of

BAD_UTF8 = 1  # the scanners' answer for a body that is not valid UTF-8
TOO_LARGE = 3  # theirs for a body whose lines would pass ``most`` bytes

NdjsonResult = tuple[bytes | memoryview, int, int, int, int, int] | int
LokiResult = tuple[bytes | memoryview, int, int] | int
BulkResult = tuple[bytes | memoryview, int, int, int, bytes | memoryview, int, int, int] | int

ndjson_scan: Callable[[Body, int], NdjsonResult] | None
loki_json_scan: Callable[[Body, int, int], LokiResult] | None
loki_proto_labels: Callable[[Body], list[tuple[bytes, int]] | int] | None
loki_proto_scan: Callable[[Body, list[bytes | None], int, int], LokiResult] | None
bulk_scan: Callable[[Body, int, bytes, bytes], BulkResult] | None
otlp_logs_scan: Callable[[Body, int, int], LokiResult] | None
otlp_json_scan: Callable[[Body, int, int], LokiResult] | None
try:
    from ..._speedups import (
        bulk_scan,
        loki_json_scan,
        loki_proto_labels,
        loki_proto_scan,
        ndjson_scan,
        otlp_json_scan,
        otlp_logs_scan,
    )
except ImportError:  # pragma: no cover - depends on the install
    ndjson_scan = loki_json_scan = loki_proto_labels = loki_proto_scan = None
    bulk_scan = otlp_logs_scan = otlp_json_scan = None


def utf8_fixed(body: Body) -> bytes:
    """``body`` with every invalid UTF-8 sequence as U+FFFD (one C-speed pass each way)."""
    return text_of(body).encode()


def ndjson(body: Body, max_line: int) -> tuple[Body, Batch, tuple[int, int]] | None:
    """The batch of an NDJSON body, the body as scanned and the span of its first
    malformed line ((-1, -1) if none); None when the Python parser must decide."""
    if ndjson_scan is None:
        return None
    res = ndjson_scan(body, max_line)
    if res == BAD_UTF8:
        body = utf8_fixed(body)
        res = ndjson_scan(body, max_line)
    if isinstance(res, int):
        return None
    block, lines, truncated, malformed, bad_start, bad_end = res
    batch = Batch(block=block if lines else b"", lines=lines, truncated=truncated)
    batch.malformed = malformed
    return body, batch, (bad_start, bad_end)


def _lines_batch(res: LokiResult, most: int, batch: Batch) -> Batch | None:
    """``batch`` with a Loki or OTLP scanner's lines; None where Python decides."""
    if res == TOO_LARGE:
        raise expanded_too_far(most)
    if isinstance(res, int):
        return None
    block, batch.lines, batch.truncated = res
    batch.block = block if batch.lines else b""
    return batch


def loki_json(body: Body, max_line: int, most: int = 0) -> Batch | None:
    """The batch of a well-formed Loki JSON push; None for any other body. ``most``
    (not 0): the most bytes of lines it may store (:class:`TooLarge` past it)."""
    if loki_json_scan is None:
        return None
    res = loki_json_scan(body, max_line, most)
    if res == BAD_UTF8:
        res = loki_json_scan(utf8_fixed(body), max_line, most)
    return _lines_batch(res, most, Batch())


def loki_protobuf(
    raw: Body, max_line: int, suffix_of: Callable[[bytes], bytes | str], most: int = 0
) -> Batch | None:
    """The batch of an (inflated) protobuf push in the plain case, else None.
    ``suffix_of`` turns a stream's label text into the encoded ``,"k":"v"...`` it
    adds to each entry, or into the problem that gets the stream's entries skipped
    (each counted, one if it has none)."""
    if loki_proto_labels is None or loki_proto_scan is None:
        return None
    labels = loki_proto_labels(raw)
    if isinstance(labels, int):
        return None
    batch = Batch()
    suffixes: list[bytes | None] = []
    for text, entries in labels:
        suffix = suffix_of(text)
        if isinstance(suffix, str):
            batch.skip(suffix, max(entries, 1))
            suffixes.append(None)
        else:
            suffixes.append(suffix)
    return _lines_batch(loki_proto_scan(raw, suffixes, max_line, most), most, batch)


def bulk(body: Body, max_line: int, index: str, prefix: str) -> Batch | None:
    """The batch of a bulk body in the plain case, with its answer's items rendered
    (``answer``); None when the Python parser must decide. ``index`` is the default
    ``_index``, ``prefix`` that of the ids made for actions without one."""
    if bulk_scan is None:
        return None
    index_text = json.dumps(index)[1:-1].encode()
    res = bulk_scan(body, max_line, index_text, prefix.encode())
    if res == BAD_UTF8:
        res = bulk_scan(utf8_fixed(body), max_line, index_text, prefix.encode())
    if isinstance(res, int):
        return None
    block, lines, truncated, malformed, answer, answered, err_start, err_end = res
    batch = Batch(block=block if lines else b"", lines=lines, truncated=truncated)
    batch.malformed, batch.answer, batch.answered = malformed, answer, answered
    if malformed:  # the first skipped record's reason, as its item says it
        batch.first_error = json.loads(b"".join((b'"', answer[err_start:err_end], b'"')))
    return batch


def otlp_protobuf(body: Body, max_line: int, most: int = 0) -> Batch | None:
    """The batch of an OTLP logs request (protobuf) in the plain case, else None."""
    if otlp_logs_scan is None:
        return None
    res = otlp_logs_scan(body, max_line, most)
    return _lines_batch(res, most, Batch())


def otlp_json(body: Body, max_line: int, most: int = 0) -> Batch | None:
    """The batch of an OTLP logs request in OTLP JSON, in the shapes exporters write
    (read as wire format by the same scanner), else None."""
    if otlp_json_scan is None:
        return None
    res = otlp_json_scan(body, max_line, most)
    return _lines_batch(res, most, Batch())
