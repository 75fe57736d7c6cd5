"""The services API: Marathon's ``/v2`` on aiohttp, plus corral's ``/why`` and the page.

``make_app(api)`` puts the route modules together behind one middleware that gives every
error Marathon's shape (JSON with ``message``; ``details`` for 400/422; ``deployments`` on a
409 lock) and never a traceback. Paths served: see ``PATHS`` (also the contract's Requests
and the OpenAPI table).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from corral.frameworks.services import api_apps, api_misc, api_tasks
from corral.frameworks.services.api_common import (
    BadRequest,
    bad_request_response,
    error,
    invalid_response,
)
from corral.frameworks.services.api_context import Api, InstanceInfo
from corral.frameworks.services.errors import Invalid
from corral.frameworks.services.views import AlreadyExists, Locked, NotFound, NotLeader
from corral.frameworks.services.views import BadRequest as CommandRefused
from corral.frameworks.serving import Handler
from corral.scheduler_client.driver import Fenced

log = logging.getLogger("corral.frameworks.services.api")

API_KEY = web.AppKey("api", Api)

PATHS = (
    "GET POST PUT PATCH /v2/apps",
    "GET PUT PATCH DELETE /v2/apps/{appId}",
    "GET /v2/apps/{groupId}/*",
    "POST /v2/apps/{appId}/restart",
    "GET DELETE /v2/apps/{appId}/tasks",
    "DELETE /v2/apps/{appId}/tasks/{taskId}",
    "GET /v2/apps/{appId}/versions",
    "GET /v2/apps/{appId}/versions/{version}",
    "GET /v2/apps/{appId}/why",
    "GET /v2/tasks",
    "POST /v2/tasks/delete",
    "GET /v2/groups",
    "GET POST PUT PATCH DELETE /v2/groups/{groupId}",
    "GET /v2/groups/{groupId}/versions",
    "GET /v2/deployments",
    "DELETE /v2/deployments/{deploymentId}",
    "GET /v2/queue",
    "DELETE /v2/queue/{appId}/delay",
    "GET /v2/info",
    "GET /v2/leader",
    "GET /v2/events",
    "GET POST DELETE /v2/eventSubscriptions",
    "GET /ping",
    "GET /version",
    "GET /metrics",
    "GET /openapi.json",
    "GET /",
    "GET /ui/",
    "GET /ui/{file}",
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = request.app[API_KEY]
    try:
        response = await _settled(api, request, handler)
    except Invalid as exc:
        response = invalid_response(exc)
    except BadRequest as exc:
        response = bad_request_response(exc)
    except CommandRefused as exc:
        response = error(400, exc.message)
    except NotFound as exc:
        response = error(404, exc.message)
    except AlreadyExists as exc:
        response = error(409, exc.message)
    except Locked as exc:
        response = error(409, exc.message, deployments=[{"id": d} for d in exc.deployments])
    except (NotLeader, Fenced) as exc:
        response = error(503, str(exc) or "this instance is not the leader")
    except web.HTTPException as exc:
        if exc.status == 404:
            message = f"no such path: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        else:
            message = exc.reason
        response = error(exc.status, message)
    except Exception:
        log.exception("%s %s failed", request.method, request.path_qs)
        response = error(500, f"internal error in {request.method} {request.path}; see the log")
    api.requests[f"{response.status // 100}xx"] += 1
    return response


async def _settled(api: Api, request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer; a command that reaches a leader still reconciling (just
    elected) waits for it, up to ``api.settle_seconds``, instead of failing at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + api.settle_seconds
    while True:
        try:
            return await handler(request)
        except NotLeader:
            if not api.elected() or loop.time() >= deadline:
                raise
            await request.read()  # kept by aiohttp: the retry sees the same body
            while not api.leading() and api.elected() and loop.time() < deadline:
                await asyncio.sleep(0.1)


def make_app(api: Api) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=16 * 1024 * 1024)
    app[API_KEY] = api
    for module in (api_apps, api_tasks, api_misc):
        app.router.add_routes(module.routes(api))
    return app


__all__ = ["PATHS", "Api", "InstanceInfo", "make_app"]
