from array import array
from typing import Any

Buffer = bytes | bytearray | memoryview

def compile(pattern: bytes, /) -> Any | None: ...
def scan(pattern: Any, buf: Buffer, spans: array[int], out: array[int], /) -> int: ...
