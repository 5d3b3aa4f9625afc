"""The web UI's server side against a running server: /api/v1/hits and /api/v1/top
(the same answers as the line port's HITS and TOP), the page and its files, their
security headers (CSP without unsafe-inline, nosniff, no CORS), caching, the token,
and static checks of the page's scripts (log text is never parsed as HTML)."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import Server, wait_for

from logcaster.frontends.http.aggregate import AUTO_BUCKETS, NICE_STEPS, auto_step
from logcaster.frontends.http.ui import CSP, load_files

STATIC = Path(__file__).resolve().parents[1] / "src/logcaster/frontends/http/static"
TOKEN = "ui-token-8c1f"
LINES = [
    b"2026-12-01 INFO boot ok",
    b"2026-12-01 ERROR disk full on /var",
    b"2026-12-01 WARN disk 91% full",
    b'{"level":"error","msg":"timeout talking to db"}',
    b"2026-12-01 DEBUG cache warm",
    b"2026-12-01 INFO request done",
    b"no level here",
]


def get(
    srv: Server, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def get_json(srv: Server, path: str) -> tuple[int, dict[str, object]]:
    status, _, body = get(srv, path)
    return status, json.loads(body)


@pytest.fixture
def loaded(server: Server) -> Server:
    server.send(b"\n".join(LINES) + b"\n")
    wait_for(lambda: server.query("COUNT") == b"COUNT: 7\n", what="7 lines")
    return server


# ------------------------------------------------------------------ /api/v1/hits
def test_hits_by_level_counts_every_match_once(loaded: Server) -> None:
    status, body = get_json(loaded, "/api/v1/hits?step=1m&by=level")
    assert status == 200
    assert body["step_ns"] == 60 * 10**9 and body["by"] == "level" and body["total"] == 7
    buckets = body["buckets"]
    assert isinstance(buckets, list) and buckets
    by: dict[str, int] = {}
    for b in buckets:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000000000Z", b["time"])
        assert sum(b["by"].values()) == b["count"]
        for k, v in b["by"].items():
            by[k] = by.get(k, 0) + v
    assert by == {"ERROR": 2, "WARN": 1, "INFO": 2, "DEBUG": 1, "NONE": 1}


def test_hits_matches_the_line_ports_hits(loaded: Server) -> None:
    _, body = get_json(loaded, "/api/v1/hits?step=10s&keywords=disk")
    reply = loaded.query("HITS step=10s keywords=disk").decode().splitlines()
    assert reply[0] == f"HITS: {len(body['buckets'])}"
    got = [(b["time"][:19], b["count"]) for b in body["buckets"]]
    want = [(line.split()[0][:19], int(line.split()[1])) for line in reply[1:]]
    assert got == want and sum(c for _, c in got) == 2
    assert "by" not in body["buckets"][0]


def test_hits_step_auto_fits_the_range(loaded: Server) -> None:
    for path in ("/api/v1/hits", "/api/v1/hits?step=auto", "/api/v1/hits?time_from=-1h"):
        status, body = get_json(loaded, path)
        assert status == 200 and body["total"] == 7
        assert body["step_ns"] in NICE_STEPS
        assert 1 <= len(body["buckets"]) <= AUTO_BUCKETS + 1
    _, body = get_json(loaded, "/api/v1/hits?time_from=-1h&step=auto")
    assert body["step_ns"] == 60 * 10**9  # 3600 s: 30 s makes 120 buckets, 1 m is the first < 120


@given(st.integers(0, 10**19), st.integers(0, 10**19))
def test_auto_step_is_the_smallest_round_step_that_fits(lo: int, span: int) -> None:
    step = auto_step(lo, lo + span)
    assert max(span, 1) // step < AUTO_BUCKETS
    smaller = [s for s in NICE_STEPS if s < step]
    assert all(max(span, 1) // s >= AUTO_BUCKETS for s in smaller)


@pytest.mark.parametrize(
    ("params", "command"),
    [
        ("step=1x", "HITS step=1x"),
        ("step=1m&by=colour", "HITS step=1m by=colour"),
        ("step=1m&limit=5", "HITS step=1m limit=5"),
        ("step=1m&regex=%5B", "HITS step=1m regex=["),
        ("step=1m&level=LOUD", "HITS step=1m level=LOUD"),
        ("step=1s&time_from=0&time_to=9999999999", "HITS step=1s time_from=0 time_to=9999999999"),
    ],
)
def test_hits_bad_parameters_are_400_with_the_line_ports_message(
    loaded: Server, params: str, command: str
) -> None:
    status, body = get_json(loaded, f"/api/v1/hits?{params}")
    line = loaded.query(command).decode()
    assert line.startswith("ERROR: ")
    assert status == 400 and body == {"error": line.removeprefix("ERROR: ").rstrip("\n")}


# ------------------------------------------------------------------ /api/v1/top
def test_top_lists_values_most_frequent_first(loaded: Server) -> None:
    status, body = get_json(loaded, "/api/v1/top?field=level&limit=3")
    assert status == 200
    assert body == {
        "field": "level",
        "values": [
            {"value": "ERROR", "count": 2},
            {"value": "INFO", "count": 2},
            {"value": "DEBUG", "count": 1},
        ],
        "matched": 7,
    }
    reply = loaded.query("TOP level limit=3").decode().splitlines()
    assert reply[1:] == [f"{v['value']} {v['count']}" for v in body["values"]]  # type: ignore[index, union-attr]
    _, narrowed = get_json(loaded, "/api/v1/top?field=level&keywords=disk")
    assert narrowed["values"] == [{"value": "ERROR", "count": 1}, {"value": "WARN", "count": 1}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("", "TOP needs a field: field=level"),
        (
            "field=colour",
            "Unknown field 'colour' for TOP. Fields: level, host, app, facility, field.NAME",
        ),
        ("field=level&limit=0", "Invalid limit '0': a whole number from 1 to 10000"),
        ("field=level&order=desc", "Parameter 'order' does not apply to TOP. Use HELP for usage."),
        ("field=level&nope=1", "Unknown parameter 'nope'. Use HELP for usage."),
    ],
)
def test_top_bad_parameters_are_400(loaded: Server, params: str, message: str) -> None:
    status, body = get_json(loaded, f"/api/v1/top?{params}")
    assert status == 400 and body == {"error": message}


# ------------------------------------------------------------------ the page
def test_root_is_the_page_for_browsers_and_the_es_handshake_for_clients(server: Server) -> None:
    status, headers, body = get(server, "/", {"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    status, headers, body = get(server, "/", {"Accept": "application/json"})
    assert status == 200 and headers["X-Elastic-Product"] == "Elasticsearch"
    assert b'"tagline"' in body


def test_page_and_files_are_served_with_strict_headers(server: Server) -> None:
    page = {"Origin": "http://evil.example", "Accept": "text/html,application/xhtml+xml"}
    status, headers, body = get(server, "/", page)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/ui/app.js">' in body
    csp = headers["Content-Security-Policy"]
    assert csp == CSP and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert not any(k.lower().startswith("access-control-") for k in headers)
    for path, ctype in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/vendor/uplot/uPlot.esm.js", "text/javascript; charset=utf-8"),
        ("/ui/vendor/uplot/LICENSE", "application/octet-stream"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ]:
        status, headers, body = get(server, path)
        assert status == 200 and headers["Content-Type"] == ctype and body, path
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_api_answers_carry_nosniff_and_no_cors(server: Server) -> None:
    status, headers, _ = get(server, "/api/v1/stats", {"Origin": "http://evil.example"})
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    assert not any(k.lower().startswith("access-control-") for k in headers)
    preflight = get(
        server,
        "/api/v1/query",
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert preflight[0] == 405
    assert not any(k.lower().startswith("access-control-") for k in preflight[1])


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/nope.js", "/ui/../pyproject.toml", "/ui/%2e%2e/ui.py", "/index.html"]
)
def test_unknown_or_escaping_paths_are_404(server: Server, path: str) -> None:
    status, _, body = get(server, path)
    assert status == 404 and json.loads(body) == {"error": "Not Found"}


def test_files_are_revalidated_by_etag(server: Server) -> None:
    status, headers, body = get(server, "/ui/app.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    etag = headers["ETag"]
    again = get(server, "/ui/app.js", {"If-None-Match": etag})
    assert again[0] == 304 and again[2] == b""
    assert get(server, "/ui/app.js", {"If-None-Match": '"other"'})[2] == body


def test_page_is_public_and_the_api_is_not_with_a_token(server_factory) -> None:
    srv = server_factory("--auth-token", TOKEN)
    assert get(srv, "/")[0] == 200
    assert get(srv, "/ui/app.js")[0] == 200
    for path in ("/api/v1/hits", "/api/v1/top?field=level", "/api/v1/tail"):
        status, _, body = get(srv, path)
        assert status == 401 and json.loads(body) == {"error": "Authentication required"}
    ok = get(srv, "/api/v1/top?field=level", {"Authorization": f"Bearer {TOKEN}"})
    assert ok[0] == 200


# ------------------------------------------------------------------ static checks
OWN_SCRIPTS = sorted(p for p in STATIC.glob("*.js"))


def test_every_static_file_is_served() -> None:
    files = load_files()
    on_disk = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    assert set(files) == {"/" if n == "index.html" else f"/ui/{n}" for n in on_disk}
    assert "/ui/vendor/uplot/LICENSE" in files


@pytest.mark.parametrize("script", OWN_SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_parse_text_as_html(script: Path) -> None:
    source = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{script.name} uses {sink}"
    assert "new Function" not in source


def test_page_loads_nothing_from_elsewhere() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    for script in OWN_SCRIPTS:
        imports = re.findall(r"""from\s+["']([^"']+)["']""", script.read_text())
        assert all(i.startswith("./") for i in imports), (script.name, imports)
