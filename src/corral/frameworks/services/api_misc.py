"""``/v2/info``, ``/v2/leader``, ``/ping``, ``/metrics``, ``/v2/events`` (SSE),
``/v2/eventSubscriptions``, ``/openapi.json`` and the page (``/``, ``/ui/``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import time

from aiohttp import web

from corral.frameworks.services import openapi
from corral.frameworks.services.api_common import BadRequest, error, json_response
from corral.frameworks.services.api_context import Api
from corral.frameworks.services.events import make_event, parse_event_types, sse

log = logging.getLogger("corral.frameworks.services.api")

PLACEHOLDER = b"<!doctype html><title>corral services</title><p>The page is not installed.</p>"
KEEPALIVE = 15.0  # seconds between SSE comments on a quiet stream


def _hostport(url: str | None) -> str | None:
    if not url:
        return None
    return url.split("://", 1)[-1].rstrip("/")


def routes(api: Api) -> list[web.RouteDef]:
    async def info(request: web.Request) -> web.Response:
        i = api.info
        leader = _hostport(await api.leader()) if api.leader else None
        zk_config: dict[str, object] = {}
        if i.zk:
            zk_config = {"zk": i.zk, "zk_session_timeout": int(i.zk_session_timeout * 1000)}
        return json_response(
            {
                "name": "corral-services",
                "version": i.version,
                "buildref": "corral",
                "elected": api.leading(),
                "leader": leader,
                "frameworkId": api.services.framework_id,
                "marathon_config": {
                    "master": i.master,
                    "framework_name": i.framework_name,
                    "hostname": i.hostname,
                    "webui_url": i.webui_url,
                    "ha": i.ha,
                    "checkpoint": True,
                    "failover_timeout": int(i.failover_timeout),
                    "local_port_min": 10000,
                    "local_port_max": 20000,
                    "mesos_role": i.role,
                    "mesos_user": i.user,
                },
                "zookeeper_config": zk_config,
                "http_config": {"http_port": i.http_port, "https_port": None},
                "event_subscriber": None,
            }
        )

    async def leader(request: web.Request) -> web.Response:
        who = _hostport(await api.leader()) if api.leader else None
        if who is None:
            return error(404, "There is no leader")
        return json_response({"leader": who})

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/plain")

    async def metrics(request: web.Request) -> web.Response:
        apps = api.services.apps() if api.leading() else []
        return json_response(
            {
                "version": "4.0.0",
                "gauges": {
                    "services.apps": {"value": len(apps)},
                    "services.instances.running": {"value": sum(a.running for a in apps)},
                    "services.instances.staged": {"value": sum(a.staged for a in apps)},
                    "services.instances.healthy": {"value": sum(a.healthy for a in apps)},
                    "services.deployments": {
                        "value": len(api.services.deployments()) if api.leading() else 0
                    },
                    "services.leading": {"value": 1 if api.leading() else 0},
                    "services.uptime_seconds": {"value": round(time.time() - api.started, 1)},
                },
                "counters": {
                    f"http.responses.{k}": {"count": v} for k, v in sorted(api.requests.items())
                },
                "histograms": {},
                "meters": {},
                "timers": {},
            }
        )

    async def events(request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "*/*")
        if not any(a in accept for a in ("text/event-stream", "*/*", "text/*")):
            return error(406, "GET /v2/events needs 'Accept: text/event-stream'")
        try:
            wanted = parse_event_types(request.query.getall("event_type", []))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        queue = api.services.subscribe()
        out = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        try:
            await out.prepare(request)
            remote = {"remoteAddress": request.remote or ""}
            if wanted is None or "event_stream_attached" in wanted:
                await out.write(sse(make_event("event_stream_attached", remote)))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    await out.write(b":\n\n")  # keeps proxies and the client's socket alive
                    continue
                if item is None:
                    break
                event_type, payload = item
                if wanted is not None and event_type not in wanted:
                    continue
                try:
                    event = make_event(event_type, dict(payload))
                except ValueError:
                    log.warning("not sending an event of unknown type %r", event_type)
                    continue
                await out.write(sse(event))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            queue.close()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await out.write_eof()
        return out

    async def subscriptions(request: web.Request) -> web.Response:
        if request.method == "GET":
            return json_response({"callbackUrls": []})
        return error(
            400,
            "HTTP callback subscriptions are not supported by corral services: "
            "read the event stream at GET /v2/events",
        )

    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(openapi.openapi_document())

    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("file", "") or "index.html"
        root = api.page_dir.resolve()
        path = (root / name).resolve()
        if root not in path.parents or not path.is_file():
            if name == "index.html":
                return web.Response(body=PLACEHOLDER, content_type="text/html")
            return error(404, f"no file {name!r} in the page")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.Response(body=path.read_bytes(), content_type=ctype)

    return [
        web.get("/v2/info", info),
        web.get("/v2/leader", leader),
        web.get("/ping", ping),
        web.get("/metrics", metrics),
        web.get("/v2/events", events),
        web.route("*", "/v2/eventSubscriptions", subscriptions),
        web.get("/openapi.json", openapi_json),
        web.get("/", page),
        web.get("/ui", page),
        web.get("/ui/", page),
        web.get("/ui/{file:.+}", page),
    ]


__all__ = ["routes"]
