"""The requests Elasticsearch shippers make before their first ``_bulk``.

``GET /`` (and ``HEAD``) is the handshake every client makes: a version, and the
``X-Elastic-Product`` header the official clients check (:func:`info`; the HTTP
frontend hands ``/`` here unless a browser asks for the page).

Filebeat installs an index template and a lifecycle policy on connecting, and
will not send a line until each request succeeds (its defaults:
``setup.template.enabled``, ``setup.ilm.enabled``); Logstash asks for the
license and the X-Pack features, and checks its template and rollover alias;
health checks ask for the cluster's health. All of it is answered at the root and
under ``/insert/elasticsearch``, VictoriaLogs' path for this API.
LogCaster keeps no indices, so there is nothing to configure: every such
resource is answered as present (``GET``/``HEAD``: 200) and every change as
done (``PUT``/``POST``/``DELETE``: ``{"acknowledged": true}``). Other paths stay
404, so a client that needs something else says so.
"""

from __future__ import annotations

from aiohttp import web

ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
# where the API is: the root, and VictoriaLogs' path for it (its users' shippers
# point there: http://host:port/insert/elasticsearch/)
PREFIXES = ("", "/insert/elasticsearch")
ES_INFO = {
    "name": "logcaster",
    "cluster_name": "logcaster",
    "version": {
        "number": "8.11.0",
        "build_flavor": "default",
        "lucene_version": "9.8.0",
        "minimum_wire_compatibility_version": "7.17.0",
        "minimum_index_compatibility_version": "7.0.0",
    },
    "tagline": "You Know, for Search",
}
LICENSE = {
    "status": "active",
    "uid": "logcaster",
    "type": "basic",
    "mode": "basic",
    "issue_date_in_millis": 0,
    "expiry_date_in_millis": 253402300799000,  # 9999-12-31
}
# the resources a shipper may create or look up before it sends; {name} is any name
RESOURCES = "_ilm/policy|_index_template|_template|_component_template|_ingest/pipeline|_alias"
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")


async def info(request: web.Request) -> web.Response:
    """``GET /`` from an Elasticsearch client: the handshake it expects."""
    return web.json_response(ES_INFO, headers=ES_HEADERS)


async def license_info(request: web.Request) -> web.Response:
    """``GET /_license``: an active basic license, as Logstash's license check wants."""
    return web.json_response({"license": LICENSE}, headers=ES_HEADERS)


async def xpack(request: web.Request) -> web.Response:
    """``GET /_xpack``: the features Logstash and Filebeat look for, available."""
    features = {"ilm": {"available": True, "enabled": True}}
    body = {"build": {}, "license": LICENSE, "features": features}
    return web.json_response(body, headers=ES_HEADERS)


async def health(request: web.Request) -> web.Response:
    """``GET /_cluster/health``: green (the server answers, so it can take lines)."""
    body = {"cluster_name": "logcaster", "status": "green", "timed_out": False}
    nodes = {"number_of_nodes": 1, "number_of_data_nodes": 1}
    return web.json_response(body | nodes, headers=ES_HEADERS)


async def resource(request: web.Request) -> web.Response:
    """A template, policy, pipeline or alias: present when asked for, changed when
    told to (nothing is kept: LogCaster has no indices to apply it to)."""
    if request.method in ("GET", "HEAD"):
        name = request.match_info["name"]
        return web.json_response({name: {}}, headers=ES_HEADERS)
    return web.json_response({"acknowledged": True}, headers=ES_HEADERS)


def add_routes(app: web.Application) -> None:
    """These requests under every prefix; ``GET /`` itself is the HTTP frontend's."""
    r = app.router
    for prefix in PREFIXES:
        if prefix:
            r.add_get(prefix, info)  # HEAD too
            r.add_get(prefix + "/", info)
        r.add_get(prefix + "/_license", license_info)
        r.add_get(prefix + "/_xpack", xpack)
        r.add_get(prefix + "/_cluster/health", health)
        for method in METHODS:
            r.add_route(method, prefix + "/{api:(?:" + RESOURCES + ")}/{name}", resource)
