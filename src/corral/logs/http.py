"""HTTP of the component logs, on the master and the agent: ``/logging/toggle`` (Mesos's),
the operator calls ``GET_LOGGING_LEVEL`` / ``SET_LOGGING_LEVEL``, and the process's own log
file as the ``/files`` path ``/master/log`` or ``/slave/log``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from corral.logs import levels, setup
from corral.logs.control import control
from corral.transport.files_read import read_response
from corral.transport.http import error, json_response, read_call
from corral.wire import logging_calls as lc
from corral.wire.codec import WireError, decode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOG_PATHS = ("/master/log", "/slave/log")


async def toggle(request: web.Request) -> web.Response:
    """``/logging/toggle?level=N&duration=10secs``."""
    q = request.query
    if "level" not in q:
        return error(400, "Expecting 'level=value' in query.")
    if "duration" not in q:
        return error(400, "Expecting 'duration=value' in query.")
    try:
        glog = int(q["level"])
    except ValueError:
        return error(400, f"Invalid level '{q['level']}': expected an integer")
    try:
        control().toggle(glog, levels.parse_duration(q["duration"]))
    except ValueError as exc:
        return error(400, str(exc))
    return web.Response(status=200, text="OK\n")


async def logging_call(request: web.Request) -> web.Response | None:
    """The answer to a logging call of the operator API; None for every other call."""
    try:
        kind = decode(await request.read(), lc.CallType).type
    except WireError:
        return None
    if kind not in lc.LOGGING_CALLS:
        return None
    call = await read_call(request, lc.LoggingCall, "Call")
    if isinstance(call, web.Response):
        return call
    if call.type == "GET_LOGGING_LEVEL":
        level = lc.GetLoggingLevel(level=levels.glog_level(control().current))
        return json_response(lc.LoggingResponse(type=call.type, get_logging_level=level))
    s = call.set_logging_level
    if isinstance(s, lc.SetLoggingLevel):
        try:
            control().toggle(s.level, s.duration.nanoseconds / 1e9)
        except ValueError as exc:
            return error(400, f"Failed to validate Call: 'set_logging_level': {exc}")
        return web.Response(status=200)
    return error(400, "Failed to validate Call: Expecting 'set_logging_level' to be present")


def with_logging_calls(inner: Handler) -> Handler:
    """``inner`` (an operator API handler), answering the logging calls itself first."""

    async def handler(request: web.Request) -> web.StreamResponse:
        answer = await logging_call(request)
        return answer if answer is not None else await inner(request)

    return handler


def resolve_log(virtual: str) -> Path | web.Response:
    """``/master/log`` or ``/slave/log``: this process's log file, or a 404 saying why not."""
    path = setup.current_log_file()
    if path is None:
        return error(404, f"{virtual}: this process writes no log file: start it with --log-dir")
    if not path.exists():
        return error(404, f"{virtual}: {path} does not exist (yet)")
    return path


def master_file(raw: str) -> Path | web.Response:
    """What the master serves under ``/files`` (its log), or a 404."""
    if raw not in LOG_PATHS:
        return error(404, f"File not found: {raw} (the master serves /master/log)")
    return resolve_log(raw)


async def read_log(request: web.Request) -> web.Response:
    """The master's ``/files/read?path=/master/log&offset=&length=`` (Mesos's semantics)."""
    raw = request.query.get("path")
    if not raw:
        return error(400, "Missing 'path' query parameter")
    path = master_file(raw)
    if isinstance(path, web.Response):
        return path
    return read_response(path, request.query)


def add_routes(app: web.Application, master: bool) -> None:
    """``/logging/toggle`` on both; on the master also ``/files/read`` of its log."""
    app.router.add_get("/logging/toggle", toggle)
    if master:
        app.router.add_get("/files/read", read_log)
        app.router.add_get("/files/read.json", read_log)
