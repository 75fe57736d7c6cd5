"""The HTTP side of maintenance schedules (the transitions are ``core/schedules.py``): the
operator API's UPDATE_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS,
START_MAINTENANCE and STOP_MAINTENANCE, and Mesos's legacy routes for the same:
``/maintenance/schedule`` (GET, POST), ``/maintenance/status``, ``/machine/down`` and
``/machine/up`` (POST, a JSON list of machines)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from corral.master.core import events as ev
from corral.master.core import schedules
from corral.master.core.state import MasterState
from corral.master.errors import CallError
from corral.security.middleware import check, principal_of, require_write
from corral.transport.http import error, json_response, read_call
from corral.wire import maintenance as wm
from corral.wire import operator as op

if TYPE_CHECKING:
    from corral.master.server import Term

Feed = Callable[[ev.Event], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Lead = Callable[[Callable[["Term"], Handler]], Handler]

CALLS = (*schedules.CALLS, *schedules.READS)


def refused(request: web.Request) -> web.Response | None:
    """A schedule write needs a read-write principal allowed ``operator_writes``."""
    return require_write(request) or check(request, "operator_writes", None)


def apply(feed: Feed | None, event: ev.MachineMaintenance, ok: int) -> web.Response:
    if feed is None:
        return error(503, "not the leading master")
    try:
        feed(event)
    except CallError as exc:
        return error(exc.status, exc.message)
    return web.Response(status=ok)


def operator_call(
    request: web.Request, call: op.OperatorCall, master: MasterState, feed: Feed | None
) -> web.Response:
    """One of ``CALLS`` on ``/api/v1``: the reads answer the view, the writes 202 (as Mesos's
    v1 API) once applied, or the refusal naming the field."""
    if call.type == "GET_MAINTENANCE_SCHEDULE":
        return json_response(
            wm.MaintenanceResponse(
                type=call.type,
                get_maintenance_schedule=wm.GetMaintenanceSchedule(
                    schedule=master.maintenance.schedule_wire()
                ),
            )
        )
    if call.type == "GET_MAINTENANCE_STATUS":
        return json_response(
            wm.MaintenanceResponse(
                type=call.type,
                get_maintenance_status=wm.GetMaintenanceStatus(status=schedules.status(master)),
            )
        )
    no = refused(request)
    if no is not None:
        return no
    principal = principal_of(request)
    if call.type == "UPDATE_MAINTENANCE_SCHEDULE":
        payload = call.update_maintenance_schedule
        if payload is None:
            return error(
                400, "Failed to validate master::Call: 'update_maintenance_schedule' is missing"
            )
        event = ev.MachineMaintenance(call.type, principal, schedule=payload.schedule)
    else:
        machines = (
            call.start_maintenance if call.type == "START_MAINTENANCE" else call.stop_maintenance
        )
        if machines is None:
            return error(400, f"Failed to validate master::Call: '{call.type.lower()}' is missing")
        event = ev.MachineMaintenance(call.type, principal, machines=tuple(machines.machines))
    return apply(feed, event, 202)


# ---------------------------------------------------------------------- legacy routes
async def get_schedule(term: Term, request: web.Request) -> web.Response:
    return json_response(term.shell.state.maintenance.schedule_wire())


async def post_schedule(term: Term, request: web.Request) -> web.Response:
    no = refused(request)
    if no is not None:
        return no
    body = await read_call(request, wm.Schedule, "maintenance schedule")
    if isinstance(body, web.Response):
        return body
    event = ev.MachineMaintenance(
        "UPDATE_MAINTENANCE_SCHEDULE", principal_of(request), schedule=body
    )
    return apply(term.shell.feed, event, 200)


async def get_status(term: Term, request: web.Request) -> web.Response:
    return json_response(schedules.status(term.shell.state))


def machine_route(kind: str) -> Callable[[Term, web.Request], Awaitable[web.Response]]:
    async def route(term: Term, request: web.Request) -> web.Response:
        no = refused(request)
        if no is not None:
            return no
        body = await read_call(request, list[wm.MachineID], "list of machines")
        if isinstance(body, web.Response):
            return body
        event = ev.MachineMaintenance(kind, principal_of(request), machines=tuple(body))
        return apply(term.shell.feed, event, 200)

    return route


def add_routes(app: web.Application, lead: Lead) -> None:
    """The legacy routes, on the leader only (a standby redirects)."""

    def on(fn: Callable[[Term, web.Request], Awaitable[web.Response]]) -> Handler:
        return lead(lambda term: lambda request: fn(term, request))

    for prefix in ("", "/master"):
        app.router.add_get(prefix + "/maintenance/schedule", on(get_schedule))
        app.router.add_post(prefix + "/maintenance/schedule", on(post_schedule))
        app.router.add_get(prefix + "/maintenance/status", on(get_status))
        app.router.add_post(prefix + "/machine/down", on(machine_route("START_MAINTENANCE")))
        app.router.add_post(prefix + "/machine/up", on(machine_route("STOP_MAINTENANCE")))
