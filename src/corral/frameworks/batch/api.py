"""The batch framework's HTTP API.

``POST /v1/jobs`` (a ``JobRequest``: 201 with the job; 400 for JSON that does not parse,
422 naming the bad field), ``GET /v1/jobs`` (the queue, highest priority first),
``GET /v1/jobs/{id}`` (the job and its elements), ``POST /v1/jobs/{id}/cancel`` and
``DELETE /v1/jobs/{id}`` (cancel: queued elements are dropped, running ones killed),
``GET /ping``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from corral.frameworks.batch import queue as Q
from corral.frameworks.batch.framework import BatchShell
from corral.frameworks.batch.model import JobRequest, validate
from corral.frameworks.batch.views import detail, summary


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def build_app(shell: BatchShell) -> web.Application:
    app = web.Application()

    async def not_ready() -> web.Response | None:
        if shell.ready.is_set():
            return None
        return _error(503, "the batch framework is not leading yet (reading its store)")

    async def submit(request: web.Request) -> web.Response:
        if (busy := await not_ready()) is not None:
            return busy
        body = await request.read()
        try:
            req = msgspec.json.decode(body, type=JobRequest)
        except msgspec.ValidationError as exc:
            return _error(422, str(exc))
        except msgspec.DecodeError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        try:
            array = validate(req)
        except ValueError as exc:
            return _error(422, str(exc))
        job = await shell.submit(req, array)
        return web.json_response(summary(job), status=201)

    async def listing(request: web.Request) -> web.Response:
        if (busy := await not_ready()) is not None:
            return busy
        jobs = Q.ordered(shell.state.jobs.values())
        return web.json_response({"jobs": [summary(j) for j in jobs]})

    async def show(request: web.Request) -> web.Response:
        if (busy := await not_ready()) is not None:
            return busy
        job = shell.state.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, f"no job {request.match_info['id']!r}")
        body: dict[str, Any] = detail(job, shell.framework_id(), shell.unplaced)
        return web.json_response(body)

    async def cancel(request: web.Request) -> web.Response:
        if (busy := await not_ready()) is not None:
            return busy
        job_id = request.match_info["id"]
        if not await shell.cancel(job_id):
            return _error(404, f"no job {job_id!r}")
        return web.json_response(summary(shell.state.jobs[job_id]))

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app.router.add_post("/v1/jobs", submit)
    app.router.add_get("/v1/jobs", listing)
    app.router.add_get("/v1/jobs/{id}", show)
    app.router.add_post("/v1/jobs/{id}/cancel", cancel)
    app.router.add_delete("/v1/jobs/{id}", cancel)
    app.router.add_get("/", listing)
    app.router.add_get("/ping", ping)
    return app


__all__ = ["build_app"]
