"""The web UI in a real browser: Debian's headless Chromium driven by Playwright, against
real LogCaster servers. Skipped when Chromium or Playwright is not installed.

Timings (page interactive, first results after Enter, tail latency) are printed and,
with ``LOGCASTER_UI_ARTIFACTS=<dir>``, written there with the screenshots.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Server, start_server, wait_for
from uiproxy import Proxy

from logcaster.frontends.line.grammar import tokenize as line_tokenize

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = os.environ.get("LOGCASTER_UI_ARTIFACTS")
TIMINGS: dict[str, float] = {}
TOKEN = "browser-token-41d7"
# Resolves after two animation frames: whatever was scheduled has been rendered.
NEXT_FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
MILLION = 1_000_000
LEVELS = [b"INFO", b"INFO", b"INFO", b"WARN", b"ERROR", b"DEBUG"]


def note(name: str, value: float) -> None:
    TIMINGS[name] = round(value, 1)
    print(f"{name}: {value:.1f}")
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        (Path(ARTIFACTS) / "ui-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


def shot(page: Any, tmp: Path, name: str) -> Path:
    path = tmp / name
    page.screenshot(path=str(path))
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ARTIFACTS) / name)
    return path


def js(page: Any, expr: str, timeout: float = 15.0, what: str | None = None) -> Any:
    """Poll a JavaScript expression until it is truthy (page.evaluate is not subject
    to the page's CSP, unlike Playwright's wait_for_function)."""
    return wait_for(lambda: page.evaluate(expr), timeout, interval=0.01, what=what or expr)


def row_texts(page: Any) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('#spacer .row')]"
        ".sort((a, b) => a.dataset.index - b.dataset.index)"
        ".map((r) => (r.querySelector('.text') || r).textContent)"
    )


def million_lines() -> bytes:
    """1 M lines, one in 1000 holding the word ``needle``."""
    return b"".join(
        b"2026-12-01 %s svc-%d request %d took %dms%s\n"
        % (LEVELS[i % 6], i % 7, i, i % 1000, b" needle" if i % 1000 == 0 else b"")
        for i in range(MILLION)
    )


def varied_lines(n: int, rng: random.Random) -> list[bytes]:
    out = []
    for i in range(n):
        level = rng.choice(["INFO"] * 6 + ["WARN"] * 2 + ["ERROR", "DEBUG"])
        host = rng.choice(["web-1", "web-2", "db-1"])
        if i % 3 == 0:
            rec = {"level": level.lower(), "host": host, "path": "/api/items", "ms": i % 900}
            out.append(json.dumps(rec).encode())
        elif level == "ERROR":
            out.append(
                f"2026-12-01 ERROR {host} upstream timeout after 30s path=/api/items".encode()
            )
        else:
            out.append(f"2026-12-01 {level} {host} GET /api/items/{i} 200 in {i % 90}ms".encode())
    return out


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.errors = []  # type: ignore[attr-defined]

    def on_dialog(d: Any) -> None:
        pg.dialogs.append(d.message)  # type: ignore[attr-defined]
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert pg.errors == []  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("million"), "--capacity", str(MILLION))
    try:
        srv.send(million_lines(), timeout=60)
        srv.wait_total(MILLION, timeout=60)
        yield srv
    finally:
        srv.reap()


@pytest.fixture
def varied(server_factory: Callable[..., Server]) -> Server:
    """A server holding 3000 lines of several levels and hosts, sent over about 2 s."""
    srv = server_factory()
    rng = random.Random(7)
    for _ in range(10):
        srv.send(b"\n".join(varied_lines(300, rng)) + b"\n")
        time.sleep(0.2)  # spread over time: the histogram gets several buckets
    srv.wait_total(3000)
    return srv


def url(srv: Server | Proxy, path: str = "/") -> str:
    port = srv.port if isinstance(srv, Proxy) else srv.http_port
    return f"http://127.0.0.1:{port}{path}"


def searched(page: Any, timeout: float = 30.0) -> None:
    """Wait for the match count, and for the rows once the list is complete."""
    js(page, "document.body.dataset.total !== undefined", timeout, "the match count")
    js(
        page,
        "document.body.dataset.total === '0' || document.querySelector('#spacer .row')",
        timeout,
        "the first rows",
    )


# ------------------------------------------------------------------ 1 M lines
def test_page_loads_with_a_million_lines(page: Any, million: Server, tmp_path: Path) -> None:
    start = time.monotonic()
    page.goto(url(million))
    searched(page)
    assert page.evaluate("document.body.dataset.total") == str(MILLION)
    first = row_texts(page)[0]
    assert first == "2026-12-01 WARN svc-0 request 999999 took 999ms"
    nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
    interactive = float(page.evaluate("document.body.dataset.readyMs"))
    note("page_interactive_ms", interactive)
    note("dom_interactive_ms", json.loads(nav)["domInteractive"])
    note("page_load_to_count_s", time.monotonic() - start)
    # The figure is noted and claimed in docs/ui.md; the bound only catches a page that hangs.
    assert interactive < 15_000
    shot(page, tmp_path, "ui-million.png")


def test_search_shows_the_count_and_the_lines(page: Any, million: Server) -> None:
    page.goto(url(million))
    searched(page)
    page.fill("#q", "needle")
    t0 = time.monotonic()
    page.press("#q", "Enter")
    js(page, "document.querySelector('#spacer .row mark')?.textContent === 'needle'")
    note("first_results_after_enter_ms", (time.monotonic() - t0) * 1000)
    searched(page)
    note("first_results_in_page_ms", float(page.evaluate("document.body.dataset.firstResultsMs")))
    assert page.evaluate("document.body.dataset.total") == "1000"
    assert page.evaluate("location.search") == "?q=needle"
    texts = row_texts(page)
    assert texts[0] == "2026-12-01 INFO svc-2 request 999000 took 0ms needle"
    assert all(t.endswith("needle") for t in texts)
    js(page, "document.getElementById('spacer').offsetHeight === 22000")  # 1000 rows
    assert "1,000 matches" in page.text_content("#status")
    assert float(page.evaluate("document.body.dataset.firstResultsMs")) > 0  # noted above


def bar_pixels(page: Any) -> int:
    """Saturated (bar-coloured) pixels on the histogram's canvas."""
    return page.evaluate(
        """(() => {
          const c = document.querySelector('#chart canvas');
          if (!c) return 0;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) {
            const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
            if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 80) n++;
          }
          return n;
        })()"""
    )


def test_histogram_has_bars(page: Any, million: Server) -> None:
    page.goto(url(million, "/?q=needle"))
    searched(page)
    js(page, "Number(document.getElementById('chart').dataset.buckets) > 0")
    assert wait_for(lambda: bar_pixels(page) > 100, what="bars on the histogram")


def test_virtual_list_scrolls_through_100000_rows(page: Any, million: Server) -> None:
    page.goto(url(million, "/?q=request"))
    js(page, "document.getElementById('spacer').offsetHeight === 2200000", 60)
    assert page.evaluate("document.querySelectorAll('#spacer .row').length") < 200
    durations = page.evaluate(
        """new Promise((done) => {
          const list = document.getElementById('list');
          const times = [];
          let last = performance.now();
          let step = 0;
          function frame(now) {
            times.push(now - last);
            last = now;
            list.scrollTop = (step * 37_000) % list.scrollHeight;
            if (++step < 60) requestAnimationFrame(frame); else done(times);
          }
          requestAnimationFrame(frame);
        })"""
    )
    frames = sorted(durations[1:])
    note("scroll_100k_median_frame_ms", frames[len(frames) // 2])
    note("scroll_100k_worst_frame_ms", frames[-1])
    assert frames[-1] < 500  # no long freeze, even on a loaded shared machine
    texts = row_texts(page)
    assert texts and all("request" in t for t in texts)


# ------------------------------------------------------------------ facets, state
def test_error_facet_narrows_and_state_survives_reload(
    page: Any, varied: Server, tmp_path: Path
) -> None:
    n_error = len(varied.query("QUERY level=ERROR").splitlines()) - 1
    page.goto(url(varied, "/?q=items"))
    searched(page)
    button = "#facets [data-field=level] [data-value=ERROR]"
    js(page, f"document.querySelector('{button}')", 30, "the level facet")
    js(page, "document.getElementById('chart').dataset.by === 'level'", 30)
    json_row = page.evaluate(
        "[...document.querySelectorAll('#spacer .row')]"
        ".find((r) => r.querySelector('.text').textContent.startsWith('{')).dataset.index"
    )
    page.click(f"#spacer .row[data-index='{json_row}']")  # opens the line's parsed fields
    js(page, "!document.getElementById('detail').hidden")
    fields = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#detail tr')]"
        ".map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]))"
    )
    assert fields["path"] == "/api/items" and fields["host"] in {"web-1", "web-2", "db-1"}
    shot(page, tmp_path, "ui.png")
    page.click(button)
    js(page, f"document.body.dataset.total === '{n_error}'", 30)
    assert page.evaluate("new URLSearchParams(location.search).get('q')") == "items level=ERROR"
    levels = page.evaluate(
        "[...document.querySelectorAll('#spacer .row .lvl')].map(e => e.textContent)"
    )
    assert levels and set(levels) == {"ERROR"}
    js(page, f"document.querySelector('{button}')?.classList.contains('active')")
    # the state is in the URL: a reload shows the same view
    page.reload()
    js(page, f"document.body.dataset.total === '{n_error}'", 30)
    assert page.input_value("#q") == "items level=ERROR"
    # clicking again removes the filter
    js(page, f"document.querySelector('{button}')?.classList.contains('active')", 30)
    page.click(button)
    js(page, "document.body.dataset.total === '3000'", 30)
    assert page.evaluate("location.search") == "?q=items"


def test_url_state_quick_picks_and_keys(page: Any, varied: Server) -> None:
    page.goto(url(varied, "/?q=keywords%3Dtimeout&from=-1h"))
    searched(page)
    assert page.input_value("#q") == "keywords=timeout"
    assert page.input_value("#from") == "-1h"
    total = int(page.evaluate("document.body.dataset.total"))
    assert total == len(varied.query("QUERY keywords=timeout").splitlines()) - 1 > 0
    assert all("timeout" in t for t in row_texts(page))
    page.click("[data-range='-15m']")
    js(page, "new URLSearchParams(location.search).get('from') === '-15m'")
    page.reload()
    searched(page)
    assert page.input_value("#from") == "-15m" and page.input_value("#q") == "keywords=timeout"
    assert page.evaluate(
        "document.querySelector(\"[data-range='-15m']\").classList.contains('active')"
    )
    # "/" focuses the search box; the help popover opens and Escape closes it
    page.click("#list")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.click("#help-button")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")


# ------------------------------------------------------------------ XSS
def test_log_lines_are_shown_as_text_never_as_html(page: Any, server: Server) -> None:
    evil = [
        b"<img src=x onerror=alert(1)>",
        b"<script>alert(1)</script>",
        b'{"level":"error","msg":"<img src=x onerror=alert(2)>"}',
    ]
    server.send(b"\n".join(evil) + b"\n")
    server.wait_total(3)
    page.goto(url(server, "/?q=alert"))
    searched(page)
    texts = row_texts(page)
    assert sorted(texts) == sorted(e.decode() for e in evil)
    for i in range(3):
        page.click(f"#spacer .row[data-index='{i}']")
        js(page, "!document.getElementById('detail').hidden")
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1  # the page's module
    assert page.dialogs == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the token
def test_wrong_token_is_refused_and_the_right_one_kept_for_the_tab(
    page: Any, server_factory: Callable[..., Server]
) -> None:
    srv = server_factory("--auth-token", TOKEN)
    srv.send(b"INFO secret line\n")

    def held() -> bytes:
        request = urllib.request.Request(
            url(srv, "/api/v1/query"), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.read()

    wait_for(held, what="the line to be held")
    page.goto(url(srv))
    js(page, "document.getElementById('token-dialog').open", what="the token prompt")
    page.fill("#token", "wrong-token")
    page.click("#token-ok")
    js(page, "document.getElementById('token-error').textContent.includes('refused')")
    assert page.evaluate("document.getElementById('token-dialog').open")
    assert row_texts(page) == []
    page.fill("#token", TOKEN)
    page.click("#token-ok")
    searched(page)
    assert row_texts(page) == ["INFO secret line"]
    assert page.evaluate("sessionStorage.getItem('logcaster.token')") == TOKEN
    assert page.evaluate("document.cookie") == ""
    assert TOKEN not in page.url
    page.reload()
    searched(page)
    assert not page.evaluate("document.getElementById('token-dialog').open")


# ------------------------------------------------------------------ live tail
def test_live_tail_shows_a_new_line_within_a_second(page: Any, server: Server) -> None:
    page.goto(url(server, "/?tail=1"))
    js(page, "document.body.dataset.tail === 'live'")
    marker = f"tail-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    server.send(f"ERROR {marker}\n".encode())
    js(page, f"document.querySelector('#spacer .row .text')?.textContent === 'ERROR {marker}'", 5)
    latency = time.monotonic() - t0
    note("tail_line_visible_s", latency)  # the line itself was awaited above (5 s at most)
    # follows the bottom while the user has not scrolled up
    server.send(b"".join(b"INFO follow %d\n" % i for i in range(300)))
    js(page, "document.body.dataset.rows === '301'")
    # scrolled for real (not the 1-row list before its next frame) and at the bottom
    at_bottom = "(l => l.scrollTop > 0 && l.scrollTop + l.clientHeight >= l.scrollHeight - 22)"
    js(page, at_bottom + "(document.getElementById('list'))")
    page.evaluate("document.getElementById('list').scrollTop = 0")
    server.send(b"".join(b"INFO more %d\n" % i for i in range(100)))
    js(page, "document.body.dataset.rows === '401'")
    page.evaluate(NEXT_FRAMES)  # the new rows are rendered, not just counted
    assert page.evaluate("document.getElementById('list').scrollTop") == 0
    # pause holds new lines back; resume shows them
    page.click("#pause")
    server.send(b"INFO while paused\n")
    js(page, "document.getElementById('status').textContent.includes('1 new')")
    assert page.evaluate("document.body.dataset.rows") == "401"
    page.click("#pause")
    js(page, "document.body.dataset.rows === '402'")


def test_live_tail_reconnects_and_backfills_without_duplicates(page: Any, server: Server) -> None:
    proxy = Proxy(server.http_port)
    try:
        page.goto(url(proxy, "/?tail=1"))
        js(page, "document.body.dataset.tail === 'live'")
        server.send(b"INFO before the cut\n")
        js(page, "document.body.dataset.rows === '1'")
        proxy.cut()
        js(page, "document.body.dataset.tail !== 'live'", what="the page noticing the cut")
        server.send(b"INFO during the cut\n")
        server.wait_total(2)
        proxy.resume()
        js(page, "document.body.dataset.tail === 'live'", 15)
        shown = ["INFO before the cut", "INFO during the cut"]
        wait_for(lambda: row_texts(page) == shown, 10, what=f"rows {shown}")
        server.send(b"INFO after the cut\n")
        shown.append("INFO after the cut")
        wait_for(lambda: row_texts(page) == shown, 10, what=f"rows {shown}")
        assert page.evaluate("document.body.dataset.rows") == "3"
    finally:
        proxy.close()


def test_live_tail_marks_skipped_lines_when_the_reader_falls_behind(
    page: Any, server: Server
) -> None:
    proxy = Proxy(server.http_port)
    try:
        page.goto(url(proxy, "/?tail=1"))
        js(page, "document.body.dataset.tail === 'live'")
        proxy.flowing.clear()  # the page's reader stops receiving
        line = b"INFO " + b"x" * 200 + b"\n"
        for _ in range(20):
            server.send(line * 20_000)  # 80 MB in all: far past the tail's backlog
        proxy.flowing.set()
        server.send(b"INFO caught up\n")
        js(page, "document.querySelector('#spacer .row.skipped') !== null", 30, "a skipped marker")
        marker = page.text_content("#spacer .row.skipped")
        assert marker is not None and marker.endswith("lines skipped")
        assert int(marker.split()[1]) > 0
        assert int(page.evaluate("document.body.dataset.rows")) <= 50_000
    finally:
        proxy.close()


TAIL_SECONDS = float(os.environ.get("LOGCASTER_UI_TAIL_SECONDS", "5"))


def test_live_tail_at_5000_lines_per_second_stays_responsive(page: Any, server: Server) -> None:
    page.goto(url(server, "/?tail=1"))
    js(page, "document.body.dataset.tail === 'live'")
    page.evaluate(
        """window.longTasks = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.longTasks.push(e.duration);
        }).observe({ type: 'longtask' });"""
    )
    rate, sent = 5000, 0
    sock = server.connect_ingest()
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < TAIL_SECONDS:
            due = int(elapsed * rate) + 500
            if due > sent:
                sock.sendall(b"".join(b"INFO tail load %d\n" % i for i in range(sent, due)))
                sent = due
            time.sleep(0.05)
    finally:
        sock.close()
    server.wait_total(sent)
    last = f"INFO tail load {sent - 1}"
    js(
        page,
        f"document.querySelector('#spacer .row:last-child .text')?.textContent === '{last}'",
        30,
    )
    tasks = page.evaluate("window.longTasks")
    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
    rows = int(page.evaluate("document.body.dataset.rows"))
    note("tail_load_lines", sent)
    note("tail_load_longest_task_ms", max(tasks, default=0))
    note("tail_load_heap_mb", heap / 2**20)
    assert rows == min(sent, 50_000)
    assert max(tasks, default=0) < 500  # target 200 ms; the machine is shared


# ------------------------------------------------------------------ the query text
TEXT = st.text(alphabet='ab =",\\kKeywordslvLE', max_size=24) | st.builds(
    " ".join,
    st.lists(
        st.builds(
            "{}={}".format,
            st.sampled_from(["keywords", "level", "regex", "keyword", "operator", "Keywords"]),
            st.text(alphabet='ab ,"\\x', max_size=8),
        ),
        max_size=4,
    ),
)


@pytest.fixture(scope="module")
def query_page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = start_server(tmp_path_factory.mktemp("tokenizer"))
    context = browser.new_context()
    pg = context.new_page()
    try:
        pg.goto(url(srv))
        js(pg, "document.body.dataset.state === 'done'")
        pg.evaluate("import('/ui/query.js').then((m) => { window.queryModule = m; })")
        js(pg, "window.queryModule !== undefined")
        yield pg
    finally:
        context.close()
        srv.reap()


def js_tokens(page: Any, text: str) -> list[tuple[str | None, list[str]]] | str:
    return page.evaluate(
        """(text) => {
          try {
            return window.queryModule.tokenize(text).map((t) => [t.key, t.items]);
          } catch (e) { return e.message; }
        }""",
        text,
    )


@settings(max_examples=300)
@given(TEXT)
def test_query_text_is_tokenized_as_the_line_port_does(query_page: Any, text: str) -> None:
    """key=value text splits as QUERY's tokenizer splits it (same items, same errors);
    a word without '=' is the UI's shorthand for a keyword."""
    got = js_tokens(query_page, text)
    try:
        want = [(k, items) for k, _, items in line_tokenize(text)]
    except ValueError as exc:
        if isinstance(got, str) and not str(exc).startswith("Expected key=value"):
            assert got == str(exc)
        return  # bare words: not QUERY syntax
    assert isinstance(got, list), got
    assert [(k, items) for k, items in got] == [(k, list(items)) for k, items in want]


def test_query_text_with_bare_words_and_errors(query_page: Any) -> None:
    assert js_tokens(query_page, 'disk "full now" level=ERROR,"WARN"') == [
        [None, ["disk"]],
        [None, ["full now"]],
        ["level", ["ERROR", "WARN"]],
    ]
    assert js_tokens(query_page, 'regex="a') == "Unterminated quote in value of 'regex'"
    params = query_page.evaluate("window.queryModule.toParams('x keyword=disk full')")
    assert params == [["keywords", "x"], ["keywords", "disk full"]]
    page_error = query_page.evaluate(
        """(() => {
          document.getElementById('q').value = 'regex="unclosed';
          document.getElementById('run').click();
          return document.getElementById('error').textContent;
        })()"""
    )
    assert page_error == "Unterminated quote in value of 'regex'"
