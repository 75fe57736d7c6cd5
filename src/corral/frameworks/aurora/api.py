"""The front end's HTTP API (JSON), used by ``corral job create|status|killall|update``.

| route | what |
|---|---|
| ``GET /ping`` | ``pong`` |
| ``GET /jobs`` | ``{"jobs": [{job, kind, version, instances, update}]}`` |
| ``POST /jobs/{role}/{env}/{name}`` | create (body: the spec as JSON); 409: exists, no quota |
| ``GET /jobs/{key}`` | status: spec, instances, update summary |
| ``DELETE /jobs/{key}`` | kill every instance and forget the job |
| ``POST /jobs/{key}/update`` | start an update to the spec in the body |
| ``POST /jobs/{key}/update/{pause,resume,abort}`` | |
| ``GET /jobs/{key}/update`` | the update's state and log |

Errors: ``{"message": ...}`` with 400 (not JSON), 404, 409, 422 (a bad spec or key; also
``"field"``), 502 (a framework or the master unreachable).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from corral.frameworks.aurora import update as eng
from corral.frameworks.aurora.clients import ApiError
from corral.frameworks.aurora.frontend import FrontEnd
from corral.frameworks.aurora.spec import JobKey, JobSpec, SpecError, decode_spec, parse_key

COMMANDS: dict[str, eng.Event] = {
    "pause": eng.Pause(),
    "resume": eng.Resume(),
    "abort": eng.Abort(),
}


def reply(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(obj), status=status, content_type="application/json"
    )


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except SpecError as exc:
        return reply({"message": str(exc), "field": exc.field}, 422)
    except ApiError as exc:
        return reply({"message": exc.message}, exc.status)


def key_of(request: web.Request) -> JobKey:
    m = request.match_info
    return parse_key(f"{m['role']}/{m['env']}/{m['name']}")


async def spec_of(request: web.Request) -> JobSpec:
    try:
        data = msgspec.json.decode(await request.read())
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    return decode_spec(data, source="spec")


def make_app(front: FrontEnd) -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def list_jobs(request: web.Request) -> web.Response:
        out = []
        for name, record in sorted(front.state.jobs.items()):
            upd = front.state.updates.get(name)
            out.append(
                {
                    "job": name,
                    "kind": record.kind,
                    "version": record.version,
                    "instances": record.spec.instances,
                    "update": upd.status if upd else None,
                }
            )
        return reply({"jobs": out})

    async def create(request: web.Request) -> web.Response:
        return reply(await front.create(key_of(request), await spec_of(request)), 201)

    async def status(request: web.Request) -> web.Response:
        return reply(await front.status(key_of(request)))

    async def killall(request: web.Request) -> web.Response:
        return reply(await front.killall(key_of(request)))

    async def update_start(request: web.Request) -> web.Response:
        return reply(await front.update_start(key_of(request), await spec_of(request)), 201)

    async def update_info(request: web.Request) -> web.Response:
        return reply(front.update_info(key_of(request)))

    async def update_command(request: web.Request) -> web.Response:
        command = COMMANDS.get(request.match_info["command"])
        if command is None:
            raise ApiError(404, f"no update command {request.match_info['command']!r}")
        return reply(await front.update_command(key_of(request), command))

    app = web.Application(middlewares=[errors])
    job = "/jobs/{role}/{env}/{name}"
    app.router.add_get("/ping", ping)
    app.router.add_get("/jobs", list_jobs)
    app.router.add_post(job, create)
    app.router.add_get(job, status)
    app.router.add_delete(job, killall)
    app.router.add_post(job + "/update", update_start)
    app.router.add_get(job + "/update", update_info)
    app.router.add_post(job + "/update/{command}", update_command)
    return app
