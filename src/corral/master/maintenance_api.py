"""The operator API's agent maintenance calls (DRAIN_AGENT, DEACTIVATE_AGENT,
REACTIVATE_AGENT, MARK_AGENT_GONE): decoded into the core's event and fed to the shell."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from corral.master.core import events as ev
from corral.master.errors import CallError
from corral.transport.http import error
from corral.wire import operator as op


def maintenance_call(
    call: op.OperatorCall, feed: Callable[[ev.Event], None] | None, principal: str | None = None
) -> web.Response:
    """200 with an empty body once applied (as Mesos), or the refusal naming the field."""
    name = call.type.lower()
    payload = getattr(call, name, None)
    if payload is None:
        return error(400, f"Failed to validate master::Call: '{name}' is missing")
    grace = None
    mark_gone = False
    if isinstance(payload, op.DrainAgent):
        if payload.max_grace_period is not None:
            grace = payload.max_grace_period.nanoseconds / 1e9
        mark_gone = payload.mark_gone
    if feed is None:
        return error(503, "not the leading master")
    event = ev.AgentMaintenance(
        call.type, payload.agent_id.value, principal, max_grace=grace, mark_gone=mark_gone
    )
    try:
        feed(event)
    except CallError as exc:
        return error(exc.status, exc.message)
    return web.Response(status=200)
