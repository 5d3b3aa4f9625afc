"""The HTTP ingestion endpoints fed by real shippers: rsyslog's omelasticsearch (bulk
mode) and syslog-ng's elasticsearch-http() (``POST /_bulk``), and syslog-ng's http()
posting NDJSON batches (``POST /insert/jsonline``).

Each daemon takes syslog messages on a TCP input of its own and forwards them with its
documented settings; every message must arrive once, with no item refused, and the
host, app and level the daemon wrote into each document must be what ``host=``,
``app=`` and ``level=`` select (rsyslog's property names, syslog-ng's macros). The
daemons are the ones ``scripts/install-test-deps`` unpacks into ``.deps/`` (with
rsyslog-elasticsearch, syslog-ng-mod-http and syslog-ng-scl), run in the foreground
with a private config; a test is skipped when its module is not there.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from support import Server, wait_for
from test_http_ingest import request, stats, stored
from test_senders import DEPS, daemon, free_port, unpacked

pytestmark = pytest.mark.senders

N = 300  # messages per daemon
SEVERITIES = {3: "ERROR", 4: "WARN", 6: "INFO"}  # syslog severity -> level


def messages(tag: str) -> list[tuple[int, str, str, str]]:
    """(severity, host, app, text) of each message: three hosts, two apps."""
    sev = list(SEVERITIES)
    return [
        (sev[i % 3], f"{tag}-h{i % 3}", f"app{i % 2}", f"{tag} message {i:04d} done")
        for i in range(N)
    ]


def send(port: int, msgs: list[tuple[int, str, str, str]], octet: bool) -> None:
    """The messages as RFC 5424 (facility user) on the daemon's TCP input."""
    out = bytearray()
    for sev, host, app, text in msgs:
        line = f"<{8 + sev}>1 2026-12-05T04:00:00Z {host} {app} 42 - - {text}".encode()
        out += str(len(line)).encode() + b" " + line if octet else line + b"\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(bytes(out))


def check(srv: Server, tag: str, msgs: list[tuple[int, str, str, str]], copies: int = 1) -> None:
    """Every message stored ``copies`` times, none refused; the filters select by the
    host, app and level in the documents."""
    wait_for(lambda: srv.stats()["Total"] >= copies * N, timeout=60, what=f"{copies * N} docs")
    lines = stored(srv, f"keywords={tag}")
    assert len(lines) == copies * N
    for sev, host, app, text in msgs[:9]:
        got = stored(srv, f"keywords={text.split()[-2]}&host={host}&app={app}")
        assert len(got) == copies, (text, got)
        params = f"keywords={text.split()[-2]}&level={SEVERITIES[sev]}"
        assert len(stored(srv, params)) == copies
    for level in SEVERITIES.values():
        picked = stored(srv, f"keywords={tag}&level={level}")
        assert len(picked) == copies * N // 3
    counters = stats(srv)
    assert counters["HttpRefused"] == 0 and counters["HttpMalformed"] == 0


def test_rsyslog_omelasticsearch_bulk(server: Server, tmp_path: Path) -> None:
    daemon_cmd = unpacked("rsyslog", "rsyslogd")
    modules = DEPS / "rsyslog/usr/lib/x86_64-linux-gnu/rsyslog"
    if daemon_cmd is None or not (modules / "omelasticsearch.so").exists():
        pytest.skip("rsyslog's omelasticsearch is not installed (scripts/install-test-deps)")
    work = tmp_path / "rsyslog"
    work.mkdir()
    in_port = free_port()
    errors = work / "errors.json"
    conf = work / "rsyslog.conf"
    # A document of rsyslog's properties, as its omelasticsearch docs template them.
    conf.write_text(
        f"""
global(workDirectory="{work}")
module(load="imtcp")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {{
    property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
    property(outname="hostname" name="hostname" format="jsonf")
    property(outname="severity" name="syslogseverity-text" format="jsonf")
    property(outname="programname" name="programname" format="jsonf")
    property(outname="message" name="msg" format="jsonf")
}}
input(type="imtcp" address="127.0.0.1" port="{in_port}" ruleset="es")
ruleset(name="es") {{
    action(type="omelasticsearch" server="127.0.0.1" serverport="{server.http_port}"
           searchIndex="syslog" template="doc" bulkmode="on" maxbytes="100k"
           errorFile="{errors}" action.resumeRetryCount="-1")
}}
"""
    )
    prefix, env = daemon_cmd
    cmd = [*prefix, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")]
    msgs = messages("rsyslog")
    with daemon(cmd, in_port, work / "rsyslogd.log", env):
        send(in_port, msgs, octet=False)
        check(server, "rsyslog", msgs)
        doc = json.loads(stored(server, "keywords=0000")[0])
        assert doc["hostname"] == "rsyslog-h0" and doc["programname"] == "app0"
    assert not errors.exists(), errors.read_text()[:2000]
    assert stats(server)["HttpLinesBulk"] == N


def test_syslog_ng_elasticsearch_http_and_http_ndjson(server: Server, tmp_path: Path) -> None:
    daemon_cmd = unpacked("syslog-ng", "syslog-ng")
    root = DEPS / "syslog-ng"
    scl = root / "usr/share/syslog-ng/include/scl/elasticsearch/elastic-http.conf"
    if daemon_cmd is None or not list(root.glob("usr/lib/syslog-ng/3.*/libhttp.so")):
        pytest.skip("syslog-ng's http module is not installed (scripts/install-test-deps)")
    if not scl.exists():
        pytest.skip("syslog-ng's SCL is not installed (scripts/install-test-deps)")
    work = tmp_path / "syslog-ng"
    work.mkdir()
    in_port = free_port()
    base = f"http://127.0.0.1:{server.http_port}"
    # elasticsearch-http() with its default document ($(format-json --scope rfc5424 ...):
    # HOST, PROGRAM, PRIORITY, MESSAGE); http() posting the same as NDJSON batches.
    conf = work / "syslog-ng.conf"
    conf.write_text(
        f"""@version: 3.38
@include "{scl}"
options {{ stats-freq(0); keep-hostname(yes); }};
source s_in {{ syslog(ip("127.0.0.1") port({in_port}) transport("tcp")); }};
destination d_bulk {{
    elasticsearch-http(url("{base}/_bulk") index("syslog-ng") type("") batch-lines(50));
}};
destination d_ndjson {{
    http(url("{base}/insert/jsonline") method("POST") batch-lines(50) batch-timeout(100)
         headers("Content-Type: application/x-ndjson")
         body("$(format-json --scope rfc5424 --key ISODATE)") body-suffix("\\n"));
}};
log {{ source(s_in); destination(d_bulk); destination(d_ndjson); }};
"""
    )
    prefix, env = daemon_cmd
    cmd = [*prefix, "-F", "--no-caps", "-f", str(conf)]
    cmd += [f"--persist-file={work / 'persist'}", f"--pidfile={work / 'pid'}"]
    cmd += [f"--control={work / 'ctl'}"]
    msgs = messages("sng")
    with daemon(cmd, in_port, work / "syslog-ng.log", env):
        send(in_port, msgs, octet=True)
        check(server, "sng", msgs, copies=2)
    counters = stats(server)
    assert counters["HttpLinesBulk"] == counters["HttpLinesJsonline"] == N
    doc = json.loads(stored(server, "keywords=0001")[0])
    assert (doc["HOST"], doc["PROGRAM"], doc["PRIORITY"]) == ("sng-h1", "app1", "warning")
    status, _, body = request(server, "GET", "/api/v1/query?keywords=0001&limit=1")
    record = json.loads(body)
    assert status == 200
    assert (record["host"], record["app"], record["level"]) == ("sng-h1", "app1", "WARN")
