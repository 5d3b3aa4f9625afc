from array import array
from collections.abc import Sequence

Buffer = bytes | bytearray | memoryview

avx2: int  # 1 when the AVX2 paths run (the CPU has AVX2 and LOGCASTER_NO_AVX2 is unset)

def clean_lines(buf: Buffer, start: int, end: int, max_line: int, /) -> int: ...
def find_lines(buf: Buffer, start: int, end: int, needle: bytes, out: array[int], /) -> int: ...
def gather(buf: Buffer, spans: array[int], /) -> bytes: ...
def count_lines(buf: Buffer, start: int, end: int, /) -> int: ...
def covered(spans: array[int], /) -> int: ...
def prefault(buf: bytearray, /) -> None: ...
def keep_freed_memory(trim: int, mmap: int, /) -> bool: ...
def gather_stamped(
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    lo: int,
    hi: int,
    prefixes: bytes,
    width: int,
    descending: bool = False,
    /,
) -> bytes: ...
def stamp_into(
    out: bytearray,
    pos: int,
    buf: Buffer,
    spans: array[int],
    index: int,
    at: int,
    offs: array[int],
    lo: int,
    hi: int,
    prefixes: bytes,
    width: int,
    descending: bool = False,
    /,
) -> tuple[int, int, int]: ...
def filter_lines(
    buf: Buffer,
    start: int,
    end: int,
    all: tuple[bytes, ...],
    any: tuple[bytes, ...],
    levels: int,
    out: array[int],
    /,
) -> int: ...
def line_level(line: bytes, /) -> int: ...
def split_frames(
    buf: bytearray, end: int, max_line: int, skip: int, state: int, out: bytearray, /
) -> tuple[int, int, int, int, int, int, int]: ...
def encode_records(
    out: bytearray,
    at: int,
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    stamps: array[int],
    head: bytes,
    tail: bytes,
    descending: bool,
    unsure: array[int],
    /,
) -> int: ...
def native_strings(buf: Buffer, /) -> tuple[bytes, int]: ...
def native_columns(
    bufs: Sequence[Buffer],
    fixes: Sequence[tuple[int, bytes | None, bytes | None, bytes | None, int]] = (),
    /,
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, list[tuple[int, bytes]]]: ...
def field_lines(
    buf: Buffer,
    spans: array[int],
    kind: int,
    value: bytes,
    prefix: bool,
    out: array[int],
    unsure: array[int],
    name: bytes = b"",
    /,
) -> int: ...
def field_values(
    buf: Buffer, spans: array[int], kind: int, unsure: array[int], name: bytes = b"", /
) -> dict[bytes | None, int]: ...
def level_lines(
    buf: Buffer, spans: array[int], levels: int, out: array[int], unsure: array[int], /
) -> int: ...
def utf8_valid(data: bytes | bytearray | memoryview, /) -> bool: ...
def find_lines_icase(
    buf: bytes | bytearray | memoryview,
    start: int,
    end: int,
    needle: bytes,
    out: array[int],
    /,
) -> int: ...
def prefix_lines(
    buf: bytes | bytearray | memoryview,
    start: int,
    end: int,
    prefixes: tuple[bytes, ...],
    out: array[int],
    /,
) -> int: ...
def find_lines_spelled(
    buf: bytes | bytearray | memoryview,
    start: int,
    end: int,
    spellings: tuple[bytes, ...],
    out: array[int],
    before: tuple[tuple[bytes, ...], ...] = (),
    after: tuple[tuple[bytes, ...], ...] = (),
    /,
) -> int: ...
def ndjson_scan(
    body: Buffer, max_line: int, /
) -> tuple[bytes | memoryview, int, int, int, int, int] | int: ...
def loki_json_scan(
    body: Buffer, max_line: int, most: int = 0, /
) -> tuple[bytes | memoryview, int, int] | int: ...
def bulk_scan(
    body: Buffer, max_line: int, index: bytes, prefix: bytes, /
) -> tuple[bytes | memoryview, int, int, int, bytes | memoryview, int, int, int] | int: ...
def loki_proto_labels(raw: Buffer, /) -> list[tuple[bytes, int]] | int: ...
def loki_proto_scan(
    raw: Buffer, suffixes: list[bytes | None], max_line: int, most: int = 0, /
) -> tuple[bytes | memoryview, int, int] | int: ...
def otlp_logs_scan(
    body: Buffer, max_line: int, most: int = 0, /
) -> tuple[bytes | memoryview, int, int] | int: ...
def otlp_json_scan(
    body: Buffer, max_line: int, most: int = 0, /
) -> tuple[bytes | memoryview, int, int] | int: ...
