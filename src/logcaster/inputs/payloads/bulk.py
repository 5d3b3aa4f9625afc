"""Elasticsearch ``_bulk``: action lines, each ``index``/``create`` followed by its
document's source line; the source is stored as the one JSON line it arrived as.

Every action gets an item in the ES-shaped answer (:func:`response`): 201 "created"
for a stored document, 400 for a malformed one, and an error for ``delete`` and
``update`` (LogCaster stores logs append-only; ``update``'s body line is skipped).
A malformed action line, or an unknown action, cannot say whether a document line
follows it, so the items would no longer line up with the actions sent (clients
map them by position): the whole body is refused (:class:`PayloadError`, a 400
with nothing stored), as Elasticsearch refuses it.

With ``msg_field`` (VictoriaLogs' ``_msg_field``, as for ``/insert/jsonline``:
Filebeat's and Logstash's documents name their message ``message``) each stored
document has that field moved first as ``_msg`` (:func:`.jsonline.renamed`).

The C scanner (:mod:`.native`) reads the body (one without ``msg_field``) and
writes the stored block and the answer's items with the GIL released; the Python
parser below is the reference and the fallback (``tests/test_http_bulk.py``
compares the two). Made ids are the
process's prefix, the time in ns and a counter, in hex: even counts here, odd ones
in C, so the two never make the same id.
"""

from __future__ import annotations

import itertools
import json
import os
import time

from . import native
from .jsonline import msg_fields, renamed
from .records import Batch, Body, PayloadError, finish, text_of

_ids = itertools.count(0, 2)
_PREFIX = os.urandom(4).hex()
STORE = ("index", "create")
REFUSED = ("delete", "update")


def _error(kind: str, reason: str) -> dict[str, object]:
    return {"type": kind, "reason": reason}


def _new_id() -> str:
    return f"{_PREFIX}{time.time_ns():x}{next(_ids):x}"


def parse(body: Body, max_line: int, default_index: str = "", msg_field: str = "") -> Batch:
    """The documents of a bulk body, and one item per action; raises
    :class:`PayloadError` for a body with a malformed or unknown action."""
    if msg_fields(msg_field):
        return parse_python(body, max_line, default_index, msg_field)
    batch = native.bulk(body, max_line, default_index, _PREFIX)
    return parse_python(body, max_line, default_index) if batch is None else batch


def parse_python(body: Body, max_line: int, default_index: str = "", msg_field: str = "") -> Batch:
    """:func:`parse` in Python alone: the reference of the C scanner (which leaves a
    body it would refuse to this one)."""
    names = msg_fields(msg_field)
    batch = Batch()
    lines = [ln.rstrip("\r") for ln in text_of(body).split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    stored: list[str] = []
    docs: list[object] = []  # stored's, parsed
    i = 0
    while i < len(lines):
        action_line = lines[i]
        i += 1
        try:
            action = json.loads(action_line)
        except (ValueError, RecursionError) as exc:
            action = exc
        if not isinstance(action, dict) or len(action) != 1:
            raise PayloadError(f"Malformed action/metadata line [{i}]: {action_line[:80]}")
        ((op, meta),) = action.items()
        if op not in STORE and op not in REFUSED:
            raise PayloadError(
                f"Malformed action/metadata line [{i}], expected one of "
                f"[create, delete, index, update] but found [{op[:80]}]"
            )
        meta = meta if isinstance(meta, dict) else {}
        index = str(meta.get("_index") or default_index)
        doc_id = str(meta.get("_id") or _new_id())
        head: dict[str, object] = {"_index": index, "_id": doc_id}
        if op in STORE:
            source = lines[i] if i < len(lines) else ""
            i += 1
            try:
                doc = json.loads(source)
            except (ValueError, RecursionError) as exc:
                doc = exc
            if isinstance(doc, dict):
                stored.append(source)
                docs.append(doc)
                head.update(_version=1, result="created", status=201)
            else:
                problem = f"Document [{doc_id}] is not a JSON object: {source[:80]}"
                batch.skip(problem)
                head.update(status=400, error=_error("document_parsing_exception", problem))
        else:
            if op == "update":
                i += 1  # its partial document
            head.update(
                status=400,
                error=_error(
                    "illegal_argument_exception",
                    f"{op} is not supported: LogCaster stores logs append-only",
                ),
            )
        batch.items.append({op: head})
    return finish(batch, renamed(docs, stored, names) if names else stored, max_line)


def response(batch: Batch, took_ms: int) -> bytes:
    """The ``_bulk`` answer for a parsed batch, as JSON."""
    if batch.answer:
        items, errors = batch.answer, batch.answered != batch.lines
    else:
        items = json.dumps(batch.items, separators=(",", ":")).encode()
        errors = any(
            int(str(v.get("status", 500))) >= 300
            for item in batch.items
            for v in item.values()
            if isinstance(v, dict)
        )
    head = b'{"took":%d,"errors":%b,"items":' % (took_ms, b"true" if errors else b"false")
    return b"".join((head, items, b"}"))
