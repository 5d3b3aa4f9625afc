"""The web UI's files: ``/`` is the page, ``/ui/<file>`` its scripts, styles and
vendored libraries, all read from the package's ``static/`` directory, never templated.

Every file is known when the application is built (a fixed table: no path from a
request ever reaches the file system) and is served without a token, since none holds
log data; the page asks for the token itself and sends it with each API request.
Every response of the HTTP port gets ``X-Content-Type-Options: nosniff``; the UI's
also get a Content-Security-Policy that allows scripts, styles and connections from
this origin only (no inline script or style, no eval) and forbids framing. No CORS
header is ever sent, so other origins cannot read any answer.
"""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web
from aiohttp.typedefs import Handler

PREFIX = "/ui/"
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
FILES = web.AppKey("ui_files", dict[str, tuple[bytes, str, str]])


def is_public(path: str) -> bool:
    """Paths answered without a token: the page and its files."""
    return path == "/" or path.startswith(PREFIX)


def _walk(node: Traversable, prefix: str) -> dict[str, Traversable]:
    out: dict[str, Traversable] = {}
    for child in node.iterdir():
        name = prefix + child.name
        if child.is_dir():
            out.update(_walk(child, name + "/"))
        elif child.is_file():
            out[name] = child
    return out


def load_files() -> dict[str, tuple[bytes, str, str]]:
    """URL path -> (body, content type, ETag) for every file under ``static/``."""
    root = resources.files(__package__ or "logcaster.frontends.http") / "static"
    files: dict[str, tuple[bytes, str, str]] = {}
    for name, node in _walk(root, "").items():
        suffix = name[name.rfind(".") :] if "." in name else ""
        ctype = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        path = "/" if name == "index.html" else PREFIX + name
        body = node.read_bytes()
        files[path] = (body, ctype, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return files


async def serve(request: web.Request) -> web.Response:
    found = request.app[FILES].get(request.path)
    if found is None:
        raise web.HTTPNotFound(reason="Not Found")
    body, ctype, etag = found
    # Revalidated every time (a 304 when unchanged): an upgrade never mixes versions.
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": ctype})


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if is_public(request.path):
        response.headers.update(PAGE_HEADERS)


def add_routes(app: web.Application, root_api: Handler | None = None) -> None:
    """The page and its files; ``/`` goes to ``root_api`` for clients that do not ask
    for HTML (an API's handshake at the server's root, such as Elasticsearch's)."""
    app[FILES] = load_files()

    async def root(request: web.Request) -> web.StreamResponse:
        if root_api is not None and "text/html" not in request.headers.get("Accept", ""):
            return await root_api(request)
        return await serve(request)

    app.router.add_get("/", root)
    app.router.add_get(PREFIX + "{name:.+}", serve)
    app.on_response_prepare.append(_security_headers)
