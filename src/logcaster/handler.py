"""``LogCasterHandler``: Python ``logging`` to a LogCaster ingest port, one JSON line per
record, without ever making the application wait for the network.

``emit()`` turns the record into a dict (message, exception text, ``extra`` fields) and
puts it on a bounded queue; a daemon thread encodes what has queued up, a batch at a
time, and writes it to one TCP (optionally TLS) connection. When the queue is full the
record is dropped and counted; the count goes to the server as a WARNING record as soon
as a batch is delivered again. A lost connection is retried with exponential backoff
(from ``backoff`` to ``max_backoff`` seconds) and the batch that failed is sent again on
the new one. ``flush()`` and ``close()`` (which ``logging.shutdown`` calls at exit) wait
at most ``flush_timeout`` seconds.

What can be lost: records dropped on a full queue (counted and reported), records left
queued when ``close()`` gives up after ``flush_timeout``, and, when the server goes away
mid-stream, what it had received but not yet read plus what was in this connection's send
buffer (``SO_SNDBUF``, 64 KiB by default) at that moment.

Usable from ``logging.config.dictConfig``::

    "handlers": {"logcaster": {"class": "logcaster.handler.LogCasterHandler",
                               "host": "127.0.0.1", "port": 9999, "level": "INFO"}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_STOP = object()


class LogCasterHandler(logging.Handler):
    """Send each record as one JSON line to a LogCaster ingest port, from a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9999,
        *,
        queue_size: int = 10_000,
        batch_size: int = 512,
        tls: bool | ssl.SSLContext = False,
        tls_ca: str | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        backoff: float = 0.1,
        max_backoff: float = 30.0,
        flush_timeout: float = 5.0,
        send_buffer: int = 64 << 10,
        fields: Mapping[str, Any] | None = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.host, self.port = host, port
        self.batch_size = max(1, batch_size)
        self.connect_timeout = connect_timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self.flush_timeout = flush_timeout
        self.send_buffer = send_buffer
        self.fields = dict(fields or {})
        self.tls = self._tls_context(tls, tls_ca)
        self.server_hostname = server_hostname or host
        self.dropped = 0  # records dropped on a full queue, ever
        self.sent = 0  # records written to a connection, ever
        self.connections = 0  # connections opened, ever (reconnects: this minus one)
        self._unreported = 0
        self._queue: queue.Queue[Any] = queue.Queue(max(1, queue_size))
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"LogCasterHandler {host}:{port}", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _tls_context(tls: bool | ssl.SSLContext, ca: str | None) -> ssl.SSLContext | None:
        if isinstance(tls, ssl.SSLContext):
            return tls
        if not tls and ca is None:
            return None
        return ssl.create_default_context(cafile=ca)

    # ------------------------------------------------------------ the application's side
    def record_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The JSON object of one record (built in the logging thread, encoded later)."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
            "thread": record.thread,
            "thread_name": record.threadName,
            "process": record.process,
        }
        if record.exc_info:
            out["exception"] = logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        for key, value in self.fields.items():
            out.setdefault(key, value)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        return out

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record; drop and count it when the queue is full. Never waits."""
        try:
            item = self.record_fields(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._idle:
                self.dropped += 1
                self._unreported += 1

    def flush(self) -> None:
        """Wait, at most ``flush_timeout`` seconds, until every queued record is written."""
        self.wait_sent()

    def wait_sent(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout``, default ``flush_timeout`` s) until every queued record
        has been written; True if it was."""
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        with self._idle:
            while self._queue.unfinished_tasks and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        """Flush (bounded by ``flush_timeout``), then stop the thread and disconnect."""
        if not self._stopping.is_set():
            self.flush()
            self._stopping.set()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
            self._thread.join(max(0.1, self.flush_timeout / 5))
            self._disconnect()
        super().close()

    # --------------------------------------------------------------- the sender thread
    def _run(self) -> None:
        pending: list[Any] = []
        delay = self.backoff
        stopping = False
        while True:
            if not pending:
                if stopping:
                    return
                first = self._queue.get()
                if first is _STOP:
                    self._queue.task_done()
                    return
                pending = [first]
                while len(pending) < self.batch_size:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.task_done()
                        stopping = True
                        break
                    pending.append(item)
            if self._deliver(pending):
                done = len(pending)
                pending = []
                delay = self.backoff
                for _ in range(done):
                    self._queue.task_done()
                with self._idle:
                    self._idle.notify_all()
                continue
            if self._stopping.is_set() and self._queue.unfinished_tasks == 0:
                return
            # No server: wait, then try again (close() stops waiting).
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff)

    def _deliver(self, records: list[Any]) -> bool:
        """Write ``records`` (and a report of drops) on the connection; False if it failed."""
        sock = self._connection()
        if sock is None:
            return False
        with self._idle:
            unreported = self._unreported
        lines = [self._encode(r) for r in records]
        if unreported:
            lines.append(self._encode(self._drop_report(unreported)))
        try:
            sock.sendall("".join(lines).encode("utf-8", "replace"))
        except OSError:
            self._disconnect()
            return False
        with self._idle:
            self._unreported -= unreported
        self.sent += len(records)
        return True

    def _drop_report(self, count: int) -> dict[str, Any]:
        record = logging.LogRecord(
            "logcaster.handler",
            logging.WARNING,
            __file__,
            0,
            "LogCasterHandler dropped %d records: its queue was full",
            (count,),
            None,
        )
        record.dropped = count
        return self.record_fields(record)

    @staticmethod
    def _encode(fields: dict[str, Any]) -> str:
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"

    def _connection(self) -> socket.socket | None:
        """The open connection, or a new one; None when the server cannot be reached."""
        sock = self._sock
        if sock is not None and not self._peer_closed(sock):
            return sock
        self._disconnect()
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError:
            return None
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            if self.tls is not None:
                raw = self.tls.wrap_socket(raw, server_hostname=self.server_hostname)
            raw.settimeout(None)
        except (OSError, ssl.SSLError):
            raw.close()
            return None
        self.connections += 1
        self._sock = raw
        return raw

    @staticmethod
    def _peer_closed(sock: socket.socket) -> bool:
        """The server closed or reset the connection (the ingest port never writes)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        if isinstance(sock, ssl.SSLSocket):
            return True  # close_notify or EOF: the ingest port sends no data
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a send blocked on a deaf server
            with contextlib.suppress(OSError):
                sock.close()

    def __repr__(self) -> str:
        return f"<LogCasterHandler {self.host}:{self.port} ({logging.getLevelName(self.level)})>"
