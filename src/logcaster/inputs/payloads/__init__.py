"""Sans-IO parsers of the HTTP ingestion payloads: bytes in, a :class:`~.records.Batch`
of newline-terminated lines out, no sockets and no aiohttp. One module per format:
NDJSON (:mod:`.jsonline`), Elasticsearch bulk (:mod:`.bulk`), Loki push
(:mod:`.loki`, JSON and protobuf), OTLP logs (:mod:`.otlp`); the shared record
encoding, cutting and body decoding live in :mod:`.records`.
"""
