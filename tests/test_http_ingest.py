"""The HTTP ingestion endpoints against a running server, fed by the real clients:
curl and urllib (NDJSON), python-logging-loki and a protobuf+snappy push (Loki),
the elasticsearch client's helpers.bulk, and the OpenTelemetry SDK's OTLP/HTTP log
exporter; then the limits (body size, gzip bombs, malformed records, the token)."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support import Server, parse_found, parse_stats, wait_for
from test_http_payloads import loki_protobuf, otlp_request

TOKEN = "ingest-token-81c2"


def request(
    srv: Server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def error_of(headers: dict[str, str], reply: bytes) -> str:
    """A refusal's message: ``{"error": ...}``, or OTLP's ``google.rpc.Status``
    (``code`` and ``message``, protobuf or JSON like the request)."""
    if headers["Content-Type"].startswith("application/x-protobuf"):
        from google.rpc.status_pb2 import Status

        return str(Status.FromString(reply).message)
    doc = json.loads(reply)
    if "error" in doc:
        return str(doc["error"])
    assert set(doc) == {"code", "message"} and isinstance(doc["code"], int), doc
    return str(doc["message"])


def stored(srv: Server, params: str = "") -> list[bytes]:
    """Every line held (or those matching ``params``), as stored."""
    status, _, body = request(
        srv, "GET", "/api/v1/query?" + params, headers={"Accept": "text/plain"}
    )
    assert status == 200, body
    return body.splitlines()


def records(srv: Server, params: str = "") -> list[dict[str, object]]:
    return [json.loads(line) for line in stored(srv, params)]


def wait_lines(srv: Server, n: int) -> list[bytes]:
    wait_for(lambda: len(stored(srv)) >= n, what=f"{n} lines")
    lines = stored(srv)
    assert len(lines) == n
    return lines


def stats(srv: Server) -> dict[str, object]:
    return json.loads(request(srv, "GET", "/api/v1/stats")[2])


# ------------------------------------------------------------------ NDJSON
NDJSON = (
    b'{"level":"error","message":"disk full on /var","host":"h1"}\n'
    b'{"level":"info","message":"boot ok","host":"h2"}\r\n'
    b"\n"
)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_jsonline_with_curl_plain_and_gzip(server: Server, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.http_port}/insert/jsonline?_msg_field=message"
    plain = tmp_path / "logs.ndjson"
    plain.write_bytes(NDJSON)
    packed = tmp_path / "logs.ndjson.gz"
    packed.write_bytes(gzip.compress(b'{"message":"from gzip","level":"warn"}\n'))
    curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
    for path, extra in ((plain, []), (packed, ["-H", "Content-Encoding: gzip"])):
        out = subprocess.run(
            [*curl, "--data-binary", f"@{path}", *extra, url],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert out.stdout == b"204"
    assert stored(server) == [
        b'{"_msg":"disk full on /var","level":"error","host":"h1"}',
        b'{"_msg":"boot ok","level":"info","host":"h2"}',
        b'{"_msg":"from gzip","level":"warn"}',
    ]
    # Level detection and keyword search work on the stored JSON.
    assert [r["_msg"] for r in records(server, "level=ERROR,WARN")] == [
        "disk full on /var",
        "from gzip",
    ]
    assert [r["host"] for r in records(server, "keywords=boot")] == ["h2"]
    s = stats(server)
    assert s["HttpLinesJsonline"] == 3 and s["Total"] == 3 and s["HttpMalformed"] == 0


def test_jsonline_with_urllib_and_a_malformed_record(server: Server) -> None:
    url = f"http://127.0.0.1:{server.http_port}/insert/jsonline?_time_field=ts"
    body = b'{"ts":"2026-12-01T10:00:00Z","msg":"kept"}\nnot json\n[1]\n{"msg":"bad \xff"}\n'
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as resp:
        assert resp.status == 200
        summary = json.loads(resp.read())
    assert summary["accepted"] == 2 and summary["malformed"] == 2
    assert summary["error"].startswith("Invalid JSON")
    assert stored(server) == [
        b'{"ts":"2026-12-01T10:00:00Z","msg":"kept"}',  # _time_field: the field is kept
        '{"msg":"bad \ufffd"}'.encode(),
    ]
    assert stats(server)["HttpMalformed"] == 2


def test_jsonline_msg_field_as_header_names_and_nested(server: Server) -> None:
    # VictoriaLogs' VL-Msg-Field header, several names, a dotted one into an object
    body = b'{"log":{"message":"nested","level":"error"}}\n{"text":"second name"}\n{"x":1}\n'
    headers = {"VL-Msg-Field": "log.message,text"}
    assert request(server, "POST", "/insert/jsonline", body, headers)[0] == 204
    assert stored(server) == [
        b'{"_msg":"nested","log":{"level":"error"}}',
        b'{"_msg":"second name"}',
        b'{"x":1}',
    ]
    assert [r["_msg"] for r in records(server, "level=ERROR")] == ["nested"]
    # the query argument wins over the header
    path = "/insert/jsonline?_msg_field=b"
    assert request(server, "POST", path, b'{"a":"A","b":"B"}\n', {"VL-Msg-Field": "a"})[0] == 204
    assert stored(server)[-1] == b'{"_msg":"B","a":"A"}'


def test_nothing_accepted_is_400_with_the_first_error(server: Server) -> None:
    status, _, body = request(server, "POST", "/insert/jsonline", b"nope\n[2]\n")
    assert status == 400
    assert json.loads(body)["error"].startswith("Invalid JSON: Expecting value")
    assert stats(server)["Total"] == 0


# -------------------------------------------------------------------- Loki
def test_loki_json_from_python_logging_loki(server: Server) -> None:
    import logging_loki

    handler = logging_loki.LokiHandler(
        url=f"http://127.0.0.1:{server.http_port}/loki/api/v1/push",
        tags={"app": "billing", "host": "web-1"},
        version="1",
    )
    errors: list[str] = []
    handler.handleError = lambda record: errors.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("test-loki-client")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.error("payment failed for order %d", 42)
        log.warning('multi\nline "quoted"')
    finally:
        log.removeHandler(handler)
        handler.close()
    assert errors == []  # every push got the 204 the client wants
    got = [json.loads(x) for x in wait_lines(server, 2)]
    assert got[0]["_msg"] == "payment failed for order 42"
    assert {got[0]["app"], got[0]["host"], got[0]["severity"]} == {"billing", "web-1", "error"}
    assert got[1]["_msg"] == 'multi\nline "quoted"'
    assert [r["_msg"] for r in records(server, "level=ERROR")] == ["payment failed for order 42"]
    assert stats(server)["HttpLinesLoki"] == 2


def test_loki_protobuf_snappy_push(server: Server) -> None:
    body = loki_protobuf(
        [
            ('{app="api", level="error"}', [("upstream timeout", {"trace_id": "abc"})]),
            ('{app="web"}', [("GET / 200", {}), ("GET /x 404", {})]),
        ]
    )
    status, _, reply = request(
        server, "POST", "/loki/api/v1/push", body, {"Content-Type": "application/x-protobuf"}
    )
    assert status == 204, reply
    assert stored(server) == [
        b'{"_msg":"upstream timeout","app":"api","level":"error","trace_id":"abc"}',
        b'{"_msg":"GET / 200","app":"web"}',
        b'{"_msg":"GET /x 404","app":"web"}',
    ]
    assert [r["_msg"] for r in records(server, "level=error")] == ["upstream timeout"]


def test_loki_empty_lines_are_stored_and_counted(server: Server) -> None:
    push = {"streams": [{"stream": {"app": "emptyL"}, "values": [["1764600000000000000", ""]]}]}
    headers = {"Content-Type": "application/json"}
    assert (
        request(server, "POST", "/loki/api/v1/push", json.dumps(push).encode(), headers)[0] == 204
    )
    body = loki_protobuf([('{app="emptyP"}', [("", {})])])
    assert request(server, "POST", "/loki/api/v1/push", body)[0] == 204
    assert stored(server) == [b'{"_msg":"","app":"emptyL"}', b'{"_msg":"","app":"emptyP"}']
    assert stats(server)["HttpLinesLoki"] == 2


def test_loki_stream_with_bad_labels_counts_each_entry(server: Server) -> None:
    body = loki_protobuf(
        [("{app=bad}", [("a", {}), ("b", {}), ("c", {})]), ('{app="good"}', [("kept", {})])]
    )
    status, _, reply = request(server, "POST", "/loki/api/v1/push", body)
    assert status == 200
    assert json.loads(reply) == {
        "accepted": 1,
        "malformed": 3,
        "error": "Invalid stream labels: {app=bad}",
    }
    push = {"streams": [{"stream": "app=bad", "values": [["1", "a"], ["2", "b"]]}]}
    headers = {"Content-Type": "application/json"}
    status, _, reply = request(
        server, "POST", "/loki/api/v1/push", json.dumps(push).encode(), headers
    )
    assert status == 400 and json.loads(reply)["malformed"] == 2
    assert stored(server) == [b'{"_msg":"kept","app":"good"}']
    assert stats(server)["HttpMalformed"] == 5


def test_loki_entries_with_bad_timestamps_are_malformed(server: Server) -> None:
    values = [["yesterday", "l1"], ["1.5e18", "l2"], [1764600000000000000, "l3"], ["1", "ok"]]
    push = {"streams": [{"stream": {"app": "ts"}, "values": values}]}
    headers = {"Content-Type": "application/json"}
    status, _, reply = request(
        server, "POST", "/loki/api/v1/push", json.dumps(push).encode(), headers
    )
    assert status == 200 and json.loads(reply)["malformed"] == 3
    assert (
        json.loads(reply)["error"]
        == "Invalid entry: want [\"<ns>\", \"<line>\"], got ['yesterday', 'l1']"
    )
    assert stored(server) == [b'{"_msg":"ok","app":"ts"}']
    assert stats(server)["HttpMalformed"] == 3


def test_loki_bad_protobuf_is_400(server: Server) -> None:
    status, _, body = request(
        server,
        "POST",
        "/loki/api/v1/push",
        b"\x05garbage",
        {"Content-Type": "application/x-protobuf"},
    )
    assert status == 400 and json.loads(body)["error"].startswith("Invalid snappy body")


def test_loki_snappy_encoding_as_vector_sends_it(server_factory) -> None:
    """Vector's Loki sink says its snappy in Content-Encoding too, as Loki accepts:
    a protobuf body is the snappy block already; a JSON one is inflated (within
    --http-max-body) and read. Other endpoints refuse the encoding."""
    import cramjam

    srv = server_factory("--http-max-body", "4096")
    body = loki_protobuf([('{app="vec"}', [("from vector", {})])])
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    status, _, reply = request(srv, "POST", "/loki/api/v1/push", body, headers)
    assert status == 204, reply
    push = {"streams": [{"stream": {"app": "vj"}, "values": [["1764600000000000000", "json"]]}]}
    packed = bytes(cramjam.snappy.compress_raw(json.dumps(push).encode()))
    headers = {"Content-Type": "application/json", "Content-Encoding": "snappy"}
    status, _, reply = request(srv, "POST", "/insert/loki/api/v1/push", packed, headers)
    assert status == 204, reply
    assert stored(srv) == [b'{"_msg":"from vector","app":"vec"}', b'{"_msg":"json","app":"vj"}']
    bomb = bytes(cramjam.snappy.compress_raw(b" " * 60_000 + json.dumps(push).encode()))
    assert len(bomb) < 4096
    status, _, reply = request(srv, "POST", "/loki/api/v1/push", bomb, headers)
    assert status == 413 and "larger than 4096" in json.loads(reply)["error"]
    status, _, reply = request(srv, "POST", "/loki/api/v1/push", json.dumps(push).encode(), headers)
    assert status == 400 and json.loads(reply)["error"].startswith("Invalid snappy body")
    for path in ("/insert/jsonline", "/_bulk", "/v1/logs"):
        status, got, reply = request(srv, "POST", path, packed, headers)
        assert status == 415 and error_of(got, reply) == "Unsupported Content-Encoding: snappy"
    assert stats(srv)["HttpLinesLoki"] == 2 and stats(srv)["HttpRefused"] == 5


def test_loki_push_without_content_type_is_protobuf(server: Server) -> None:
    """As Loki: a push is JSON only when typed so; none, or any other type, is protobuf."""
    body = loki_protobuf([('{app="untyped"}', [("no type", {})])])
    for headers in ({}, {"Content-Type": "application/octet-stream"}):
        status, _, reply = request(server, "POST", "/loki/api/v1/push", body, headers)
        assert status == 204, reply
    push = json.dumps({"streams": [{"stream": {}, "values": [["1", "j"]]}]}).encode()
    status, _, reply = request(server, "POST", "/loki/api/v1/push", push)
    assert status == 400 and json.loads(reply)["error"].startswith("Invalid snappy body")
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert request(server, "POST", "/loki/api/v1/push", push, headers)[0] == 204
    assert stored(server) == [b'{"_msg":"no type","app":"untyped"}'] * 2 + [b'{"_msg":"j"}']


def test_x_gzip_is_gzip_on_every_endpoint(server_factory) -> None:
    """x-gzip, gzip's old name (RFC 9110), which aiohttp leaves as sent: inflated
    here within --http-max-body; a bomb is a 413, a body that is no gzip a 400."""
    srv = server_factory("--http-max-body", "4096")
    x = {"Content-Encoding": "x-gzip"}
    bodies = {
        "/insert/jsonline": b'{"_msg":"xg ndjson"}\n',
        "/loki/api/v1/push": b'{"streams":[{"stream":{},"values":[["1","xg loki"]]}]}',
        "/_bulk": b'{"create":{}}\n{"_msg":"xg bulk"}\n',
        "/v1/logs": b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":'
        b'{"stringValue":"xg otlp"}}]}]}]}',
    }
    for path, body in bodies.items():
        headers = {**x, "Content-Type": "application/json"}
        # two members, as `cat a.gz b.gz` makes them
        packed = gzip.compress(body[:5]) + gzip.compress(body[5:])
        status, _, reply = request(srv, "POST", path, packed, headers)
        assert status in (200, 204), (path, reply)
    assert [r["_msg"] for r in records(srv)] == ["xg ndjson", "xg loki", "xg bulk", "xg otlp"]
    bomb = gzip.compress(b'{"a":"' + b"x" * 3_000_000 + b'"}\n')
    assert len(bomb) < 4096
    for path in bodies:
        status, got, reply = request(srv, "POST", path, bomb, x)
        assert status == 413 and "larger than 4096" in error_of(got, reply), path
        for bad in (b"garbage", gzip.compress(b'{"a":1}\n')[:-4]):
            status, got, reply = request(srv, "POST", path, bad, x)
            assert status == 400, (path, reply)
            assert error_of(got, reply) == "Invalid x-gzip-compressed body"
    assert stats(srv)["HttpRefused"] == 12 and stats(srv)["Total"] == 4
    # a body past 64 KiB is read as its chunks, joined and inflated on a thread
    big = server_factory()
    lines = [json.dumps({"_msg": f"xg{i}", "r": os.urandom(40).hex()}) for i in range(2000)]
    packed = gzip.compress("\n".join(lines).encode())
    assert len(packed) > 64 << 10
    status, _, reply = request(big, "POST", "/insert/jsonline", packed, x)
    assert status == 204, reply
    assert stored(big) == [line.encode() for line in lines]


# ---------------------------------------------------------- Elasticsearch
def test_elasticsearch_client_bulk(server: Server) -> None:
    from elasticsearch import Elasticsearch, helpers

    es = Elasticsearch(f"http://127.0.0.1:{server.http_port}", request_timeout=30)
    try:
        assert es.info()["version"]["number"] == "8.11.0"
        docs = [
            {"_index": "app-logs", "_source": {"level": "error", "message": f"failure {i}"}}
            for i in range(3)
        ] + [{"_op_type": "create", "_index": "audit", "_id": "a1", "_source": {"user": "ann"}}]
        ok, errors = helpers.bulk(es, docs)
        assert (ok, errors) == (4, [])
        failed = helpers.bulk(
            es, [{"_op_type": "delete", "_index": "app-logs", "_id": "x"}], raise_on_error=False
        )
        assert failed[0] == 0 and failed[1][0]["delete"]["status"] == 400
    finally:
        es.close()
    assert stored(server) == [
        b'{"level":"error","message":"failure 0"}',
        b'{"level":"error","message":"failure 1"}',
        b'{"level":"error","message":"failure 2"}',
        b'{"user":"ann"}',
    ]
    assert stats(server)["HttpLinesBulk"] == 4


def test_ecs_documents_give_host_app_and_level(server: Server) -> None:
    # Filebeat's documents and Elastic's ECS loggers': host.name and service.name
    # nested in objects, the level in a "log.level" member.
    from elasticsearch import Elasticsearch, helpers

    def doc(host: str, level: str, message: str) -> dict[str, object]:
        return {
            "@timestamp": "2026-12-05T04:00:00.000Z",
            "log.level": level,
            "message": message,
            "host": {"name": host, "os": {"family": "debian"}},
            "service": {"name": "checkout", "type": "python"},
            "ecs": {"version": "8.11.0"},
        }

    es = Elasticsearch(f"http://127.0.0.1:{server.http_port}", request_timeout=30)
    try:
        docs = [doc("web-1", "error", "card declined"), doc("web-2", "info", "paid")]
        assert helpers.bulk(es, [{"_index": "filebeat-8", "_source": d} for d in docs])[0] == 2
    finally:
        es.close()
    wait_lines(server, 2)
    status, _, body = request(server, "GET", "/api/v1/query?host=web-1")
    got = [json.loads(x) for x in body.splitlines()]
    assert status == 200
    assert [r["line"] for r in got] == [json.dumps(docs[0], separators=(",", ":"))]
    assert (got[0]["host"], got[0]["app"], got[0]["level"]) == ("web-1", "checkout", "ERROR")
    assert len(stored(server, "app=checkout&level=INFO&host=web-2")) == 1
    found = parse_found(server.query("QUERY level=ERROR host=web-1"))[1]  # "[time] line"
    assert len(found) == 1 and found[0].endswith(b" " + stored(server)[0])
    top = json.loads(request(server, "GET", "/api/v1/top?field=host")[2])
    assert {v["value"]: v["count"] for v in top["values"]} == {"web-1": 1, "web-2": 1}


def test_victorialogs_paths_and_msg_field_on_bulk(server: Server) -> None:
    # A shipper set up for VictoriaLogs (its paths under /insert/, _msg_field on the
    # bulk endpoint too) sends here unchanged: the elasticsearch client with that
    # path prefix and the header, a Loki push and an OTLP request at theirs.
    from elasticsearch import Elasticsearch, helpers

    es = Elasticsearch(f"http://127.0.0.1:{server.http_port}/insert/elasticsearch")
    try:
        assert es.info()["version"]["number"] == "8.11.0"
        assert es.indices.exists_index_template(name="filebeat")
        vl = es.options(headers={"VL-Msg-Field": "message"})
        doc = {"message": "disk full", "host": {"name": "db-1"}}
        assert helpers.bulk(vl, [{"_index": "logs", "_source": doc}]) == (1, [])
    finally:
        es.close()
    push = {"streams": [{"stream": {"app": "vl"}, "values": [["1", "via loki"]]}]}
    path = "/insert/loki/api/v1/push"
    headers = {"Content-Type": "application/json"}
    assert request(server, "POST", path, json.dumps(push).encode(), headers)[0] == 204
    otlp = {"Content-Type": "application/x-protobuf"}
    path = "/insert/opentelemetry/v1/logs"
    assert request(server, "POST", path, otlp_request().SerializeToString(), otlp)[0] == 200
    query = "/insert/elasticsearch/_bulk?_msg_field=msg"
    body = b'{"create":{}}\n{"t":1,"msg":"by argument"}\n'
    assert request(server, "POST", query, body, headers)[0] == 200
    lines = wait_lines(server, 5)
    assert lines[0] == b'{"_msg":"disk full","host":{"name":"db-1"}}'
    assert lines[1] == b'{"_msg":"via loki","app":"vl"}'
    assert lines[-1] == b'{"_msg":"by argument","t":1}'
    assert stored(server, "host=db-1") == [lines[0]]


def test_elasticsearch_setup_requests_are_answered(server: Server) -> None:
    # What Filebeat (template, lifecycle policy) and Logstash (license, X-Pack,
    # template, rollover alias) ask before their first _bulk, through the client.
    from elasticsearch import Elasticsearch

    es = Elasticsearch(f"http://127.0.0.1:{server.http_port}", request_timeout=30)
    try:
        assert es.license.get()["license"]["status"] == "active"
        assert es.xpack.info()["features"]["ilm"]["available"] is True
        assert es.indices.exists_index_template(name="filebeat-8.15.0")
        put = es.indices.put_index_template(name="filebeat-8.15.0", index_patterns=["fb-*"])
        assert put["acknowledged"] is True
        assert es.ilm.put_lifecycle(name="filebeat", policy={"phases": {}})["acknowledged"]
        assert "filebeat" in es.ilm.get_lifecycle(name="filebeat")
        assert es.indices.exists_alias(name="logstash")
        assert es.ingest.put_pipeline(id="p1", processors=[])["acknowledged"] is True
    finally:
        es.close()
    assert request(server, "GET", "/_cat/indices")[0] == 404  # not a setup request
    status, _, body = request(server, "GET", "/_cluster/health")
    assert status == 200 and json.loads(body)["status"] == "green"
    status, headers, _ = request(server, "PUT", "/_template/t", b"x" * 100)
    assert status == 200 and headers["X-Elastic-Product"] == "Elasticsearch"
    assert server.stats()["Total"] == 0


def test_bulk_response_shape_and_handshake(server: Server) -> None:
    status, headers, body = request(server, "HEAD", "/")
    assert status == 200 and headers["X-Elastic-Product"] == "Elasticsearch"
    status, headers, body = request(
        server, "POST", "/logs/_bulk", b'{"index":{"_id":"7"}}\n{"m":"x"}\n{"update":{}}\n{}\n'
    )
    answer = json.loads(body)
    assert status == 200 and headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer["errors"] is True and isinstance(answer["took"], int)
    assert answer["items"][0] == {
        "index": {"_index": "logs", "_id": "7", "_version": 1, "result": "created", "status": 201}
    }
    assert answer["items"][1]["update"]["status"] == 400
    assert stored(server) == [b'{"m":"x"}']


def test_bulk_with_an_unknown_action_is_refused_whole(server: Server) -> None:
    """Elasticsearch refuses such a body: were it answered item by item, the line
    after the unknown action would be read as one more, and the items would no
    longer line up with the actions the client sent."""
    body = b'{"index":{}}\n{"m":1}\n{"bogus":{}}\n{"m":2}\n{"create":{}}\n{"m":3}\n'
    ctype = {"Content-Type": "application/x-ndjson"}
    status, headers, reply = request(server, "POST", "/_bulk", body, ctype)
    assert status == 400 and headers["X-Elastic-Product"] == "Elasticsearch"
    assert json.loads(reply)["error"] == (
        "Malformed action/metadata line [3], expected one of [create, delete, index, update]"
        " but found [bogus]"
    )
    status, _, reply = request(server, "POST", "/_bulk", b"nope\n" + body, ctype)
    assert status == 400 and json.loads(reply)["error"].startswith("Malformed action")
    # a delete has no document line: a {"m":2} after it is an unknown action too
    status, _, _ = request(server, "POST", "/_bulk", body.replace(b"bogus", b"delete"), ctype)
    assert status == 400 and stored(server) == []
    good = body.replace(b'{"bogus":{}}\n{"m":2}\n', b'{"delete":{}}\n')
    status, _, reply = request(server, "POST", "/_bulk", good, ctype)
    items = json.loads(reply)["items"]
    assert status == 200 and [next(iter(i)) for i in items] == ["index", "delete", "create"]
    assert [v["status"] for i in items for v in i.values()] == [201, 400, 201]
    assert stored(server) == [b'{"m":1}', b'{"m":3}']
    assert stats(server)["HttpRefused"] == 3


# -------------------------------------------------------------------- OTLP
# The SDK's own logging bridge, deprecated in favour of a separate package but still the
# SDK's way to send Python logging records.
@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_opentelemetry_sdk_otlp_http_exporter(server: Server) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    log = logging.getLogger("test-otlp-client")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    try:
        log.error("card declined", extra={"order.id": 42})
        log.info("cart viewed")
        provider.force_flush()
    finally:
        log.removeHandler(handler)
        provider.shutdown()
    got = [json.loads(x) for x in wait_lines(server, 2)]
    assert got[0]["_msg"] == "card declined" and got[0]["severity"] == "ERROR"
    assert got[0]["service.name"] == "checkout" and got[0]["order.id"] == 42
    assert got[1]["_msg"] == "cart viewed" and got[1]["severity"] == "INFO"
    assert [r["_msg"] for r in records(server, "level=ERROR")] == ["card declined"]
    # the resource's service.name is the records' app, for app= and the HTTP record
    assert len(records(server, "app=checkout")) == 2
    status, _, body = request(server, "GET", "/api/v1/query?app=checkout&level=INFO")
    assert status == 200 and json.loads(body)["app"] == "checkout"
    assert stats(server)["HttpLinesOtlp"] == 2


def test_otlp_json(server: Server) -> None:
    doc = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "h"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "severityNumber": 13,
                                "body": {"stringValue": "slow query"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    status, _, body = request(
        server, "POST", "/v1/logs", json.dumps(doc).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body) == {}
    assert records(server) == [
        {
            "_msg": "slow query",
            "severity": "WARN",
            "host.name": "h",
            "trace_id": "5b8efff798038103d269b633813fc60c",
        }
    ]


def test_a_records_own_level_beats_words_in_its_message(server: Server) -> None:
    # Loki's level label, an OTLP severity and an ECS log.level are stored after the
    # message; the message's own words (ERROR, [warn]) must not decide the level.
    loki = {
        "streams": [
            {"stream": {"app": "lk", "level": "info"}, "values": [["1", "retry after ERROR"]]},
            {"stream": {"app": "lk", "level": "error"}, "values": [["2", "[info] nginx x"]]},
        ]
    }
    otlp = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"severityNumber": 9, "body": {"stringValue": "ot ERROR upstream"}}
                        ]
                    }
                ]
            }
        ]
    }
    bulk = b'{"create":{"_index":"f"}}\n{"message":"es WARN x","log":{"level":"error"}}\n'
    json_type = {"Content-Type": "application/json"}
    assert (
        request(server, "POST", "/loki/api/v1/push", json.dumps(loki).encode(), json_type)[0] == 204
    )
    assert request(server, "POST", "/v1/logs", json.dumps(otlp).encode(), json_type)[0] == 200
    assert (
        request(server, "POST", "/_bulk", bulk, {"Content-Type": "application/x-ndjson"})[0] == 200
    )
    wait_lines(server, 4)
    info = [r["_msg"] if "_msg" in r else r["message"] for r in records(server, "level=INFO")]
    assert info == ["retry after ERROR", "ot ERROR upstream"]
    error = [r.get("_msg", r.get("message")) for r in records(server, "level=ERROR")]
    assert error == ["[info] nginx x", "es WARN x"]
    assert [
        r["level"] for r in map(json.loads, request(server, "GET", "/api/v1/query")[2].splitlines())
    ] == ["INFO", "ERROR", "INFO", "ERROR"]
    assert b"Total=4" in server.query("STATS")
    assert len(parse_found(server.query("QUERY level=INFO"))[1]) == 2


def test_otlp_protobuf_cut_short_is_400_and_whole_is_stored(server: Server) -> None:
    raw = otlp_request().SerializeToString()
    ctype = {"Content-Type": "application/x-protobuf"}
    for bad in (raw[:-3], raw.replace(b"disk", b"d\xffsk"), b"\x0a\xff\xff\xff\xff\x0f"):
        status, headers, _ = request(server, "POST", "/v1/logs", bad, ctype)
        assert status == 400 and headers["Content-Type"].startswith("application/")
    status, _, _ = request(server, "POST", "/v1/logs", raw, ctype)
    assert status == 200
    assert [r["_msg"] for r in records(server)] == ["disk full", '{"k":true}']


def test_otlp_errors_are_a_google_rpc_status_in_the_requests_encoding(server_factory) -> None:
    """OTLP/HTTP: the body of a 4xx or 5xx answer is a google.rpc.Status, protobuf for
    a protobuf request and JSON for a JSON one."""
    from google.rpc.status_pb2 import Status

    srv = server_factory("--http-max-body", "4096")
    proto = {"Content-Type": "application/x-protobuf"}
    status, headers, reply = request(srv, "POST", "/v1/logs", b"\x0a\xff\xff\xff\xff\x0f", proto)
    assert status == 400 and headers["Content-Type"] == "application/x-protobuf"
    answer = Status.FromString(reply)
    assert answer.code == 3 and answer.message.startswith("Invalid OTLP logs request")
    status, headers, reply = request(srv, "POST", "/v1/logs", b"x" * 5000, proto)
    answer = Status.FromString(reply)
    assert status == 413 and (answer.code, answer.message) == (
        8,
        "Request body larger than 4096 bytes",
    )
    status, headers, reply = request(
        srv, "POST", "/v1/logs", b"", {**proto, "Content-Encoding": "lz4"}
    )
    assert status == 415 and Status.FromString(reply).code == 12
    ctype = {"Content-Type": "application/json"}
    status, headers, reply = request(srv, "POST", "/v1/logs", b'{"resourceLogs": 5}', ctype)
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(reply)
    assert set(doc) == {"code", "message"} and doc["code"] == 3
    assert doc["message"].startswith("Invalid OTLP logs request")
    assert stats(srv)["HttpRefused"] == 4


# ------------------------------------------------------------------ limits
def test_body_size_limit_and_gzip_bomb_are_json_413(server_factory) -> None:
    srv = server_factory("--http-max-body", "4096")
    status, _, body = request(srv, "POST", "/insert/jsonline", b'{"a":1}\n' * 1000)
    assert status == 413 and "larger than 4096" in json.loads(body)["error"]
    bomb = gzip.compress(b'{"a":"' + b"x" * 3_000_000 + b'"}\n')
    assert len(bomb) < 4096
    status, _, body = request(srv, "POST", "/insert/jsonline", bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and "error" in json.loads(body)
    status, _, body = request(srv, "POST", "/_bulk", b"{}\n" * 2000)
    assert status == 413 and "error" in json.loads(body)
    ok = request(srv, "POST", "/insert/jsonline", b'{"small":true}\n')
    assert ok[0] == 204 and stored(srv) == [b'{"small":true}']
    assert stats(srv)["HttpRefused"] == 3


def test_zstd_and_brotli_bodies_and_undecodable_ones(server_factory) -> None:
    # zstd (an OpenTelemetry Collector's and Vector's compression option) and br (a
    # browser's, Vector's) are inflated like gzip, within the same bound; a body that
    # does not inflate is a JSON 400.
    import brotli
    from backports import zstd  # the library aiohttp inflates zstd with, before 3.14

    srv = server_factory("--http-max-body", "4096")
    packed = zstd.compress(b'{"_msg":"from zstd"}\n')
    assert request(srv, "POST", "/insert/jsonline", packed, {"Content-Encoding": "zstd"})[0] == 204
    raw = zstd.compress(otlp_request().SerializeToString())
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"}
    assert request(srv, "POST", "/v1/logs", raw, headers)[0] == 200
    bomb = zstd.compress(b'{"a":"' + b"x" * 3_000_000 + b'"}\n')
    assert len(bomb) < 4096
    status, _, body = request(srv, "POST", "/insert/jsonline", bomb, {"Content-Encoding": "zstd"})
    assert status == 413 and "larger than 4096" in json.loads(body)["error"]
    packed = brotli.compress(b'{"_msg":"from br"}\n')
    assert request(srv, "POST", "/insert/jsonline", packed, {"Content-Encoding": "br"})[0] == 204
    bomb = brotli.compress(b'{"a":"' + b"x" * 3_000_000 + b'"}\n')
    assert len(bomb) < 4096
    status, _, body = request(srv, "POST", "/_bulk", bomb, {"Content-Encoding": "br"})
    assert status == 413 and "larger than 4096" in json.loads(body)["error"]
    for encoding in ("gzip", "deflate", "zstd", "br"):
        for path in ("/insert/jsonline", "/loki/api/v1/push", "/_bulk", "/v1/logs"):
            status, got, body = request(
                srv, "POST", path, b"garbage", {"Content-Encoding": encoding}
            )
            assert status == 400, (encoding, path, body)
            assert error_of(got, body) == f"Invalid {encoding}-compressed body"
    status, _, body = request(srv, "POST", "/insert/jsonline", b"x", {"Content-Encoding": "lz4"})
    assert status == 415 and json.loads(body)["error"] == "Unsupported Content-Encoding: lz4"
    lines = wait_lines(srv, 4)  # the two OTLP records between
    assert (lines[0], lines[-1]) == (b'{"_msg":"from zstd"}', b'{"_msg":"from br"}')


def test_a_push_repeating_long_labels_past_eight_bodies_is_413(server_factory) -> None:
    """Labels and resource attributes are repeated on every line: a request whose
    lines would pass 8x --http-max-body is refused whole, the server stays up."""
    srv = server_factory("--http-max-body", "65536")
    label = "x" * 4000
    push = {"streams": [{"stream": {"app": label}, "values": [["1", "m"]] * 200}]}
    body = json.dumps(push).encode()
    assert len(body) < 65536  # 200 lines of ~4 kB: 800 kB > 8 x 64 KiB
    status, _, answer = request(
        srv, "POST", "/loki/api/v1/push", body, {"Content-Type": "application/json"}
    )
    assert status == 413 and "exceed 524288 bytes" in json.loads(answer)["error"]
    raw = otlp_request()
    raw.resource_logs[0].resource.attributes[0].value.string_value = label
    for _ in range(200):
        raw.resource_logs[0].scope_logs[0].log_records.add().body.string_value = "m"
    ctype = {"Content-Type": "application/x-protobuf"}
    status, got, answer = request(srv, "POST", "/v1/logs", raw.SerializeToString(), ctype)
    assert status == 413 and "exceed" in error_of(got, answer)
    push["streams"][0]["values"] = [["1", "m"]] * 100  # 400 kB of lines: under the bound
    status, _, _ = request(
        srv, "POST", "/loki/api/v1/push", json.dumps(push).encode(),
        {"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 204
    assert len(wait_lines(srv, 100)) == 100
    assert stats(srv)["HttpRefused"] == 2


def test_bulk_index_names_past_255_bytes_are_400(server: Server) -> None:
    """The path's index is echoed in every item: Elasticsearch's 255-byte bound keeps
    a small body of empty actions from asking for gigabytes of answer."""
    body = b'{"index":{}}\n{"m":1}\n' * 3
    ctype = {"Content-Type": "application/x-ndjson"}
    path = "/" + urllib.parse.quote("é" * 128) + "/_bulk"  # 256 bytes of UTF-8
    status, _, answer = request(server, "POST", path, body, ctype)
    assert status == 400 and "too long, (256 > 255)" in json.loads(answer)["error"]
    status, _, answer = request(server, "POST", "/" + "i" * 255 + "/_bulk", body, ctype)
    assert status == 200
    items = json.loads(answer)["items"]
    assert [i["index"]["_index"] for i in items] == ["i" * 255] * 3
    assert len(wait_lines(server, 3)) == 3


def test_long_records_are_cut_and_counted(server_factory) -> None:
    srv = server_factory("--max-line-bytes", "64")
    long = b'{"m":"' + b"y" * 200 + b'"}'
    assert request(srv, "POST", "/insert/jsonline", long + b"\n")[0] == 204
    assert stored(srv) == [long[:64] + b"..."]
    assert stats(srv)["HttpTruncated"] == 1


def test_unsupported_encoding_is_415(server: Server) -> None:
    status, _, body = request(
        server, "POST", "/insert/jsonline", b"{}\n", {"Content-Encoding": "compress"}
    )
    assert status == 415 and "compress" in json.loads(body)["error"]


def test_ingestion_wants_the_token(server_factory) -> None:
    srv = server_factory("--auth-token", TOKEN)
    for path in ("/insert/jsonline", "/loki/api/v1/push", "/_bulk", "/v1/logs", "/_template/t"):
        status, _, body = request(srv, "POST", path, b'{"a":1}\n')
        assert status == 401 and json.loads(body) == {"error": "Authentication required"}
    assert request(srv, "GET", "/_license")[0] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert request(srv, "POST", "/insert/jsonline", b'{"a":1}\n', auth)[0] == 204
    assert parse_stats(srv.query("STATS", token=TOKEN))["Total"] == 1


def test_tcp_and_http_lines_share_the_ring(server: Server) -> None:
    server.send(b"ERROR from tcp\n")
    assert request(server, "POST", "/insert/jsonline", b'{"level":"error","m":"http"}\n')[0] == 204
    assert stored(server, "level=ERROR") == [b"ERROR from tcp", b'{"level":"error","m":"http"}']
    assert server.stats()["Total"] == 2


GARBAGE = [b"", b"\x00\xff" * 50, b"{" * 5000, b'{"streams":[{"values":[[1]]}]}', b"[]\n{}\n"]


@pytest.mark.parametrize("ctype", ["application/json", "application/x-protobuf"])
def test_garbage_to_every_endpoint_is_answered_and_the_server_stays_up(
    server: Server, ctype: str
) -> None:
    for path in ("/insert/jsonline", "/loki/api/v1/push", "/_bulk", "/x/_bulk", "/v1/logs"):
        for body in GARBAGE:
            status, headers, reply = request(server, "POST", path, body, {"Content-Type": ctype})
            assert status in (200, 204, 400), (path, body[:20], status, reply)
            if status != 204:
                assert headers["Content-Type"].startswith("application/")
    server.send(b"still ingesting\n")
    assert stored(server, "keywords=still") == [b"still ingesting"]
