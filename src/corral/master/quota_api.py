"""The operator API's UPDATE_QUOTA and UPDATE_WEIGHTS: decoded into the core's events, fed
to the shell, answered once the registry holds them (so a failover right after keeps them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from corral.master.core import events as ev
from corral.master.errors import CallError
from corral.transport.http import error
from corral.wire import operator as op


async def quota_call(
    call: op.OperatorCall,
    feed: Callable[[ev.Event], None] | None,
    persisted: Callable[[], Awaitable[None]] | None,
    principal: str | None = None,
) -> web.Response:
    """200 (UPDATE_QUOTA) or 202 (UPDATE_WEIGHTS) with an empty body, as Mesos; else the
    refusal naming the field."""
    event: ev.Event
    if call.type == "UPDATE_QUOTA":
        if call.update_quota is None:
            return error(400, "Failed to validate master::Call: 'update_quota' is missing")
        u = call.update_quota
        event = ev.QuotaUpdate(principal, tuple(u.quota_configs), force=u.force)
        status = 200
    else:
        if call.update_weights is None:
            return error(400, "Failed to validate master::Call: 'update_weights' is missing")
        event = ev.WeightsUpdate(principal, tuple(call.update_weights.weight_infos))
        status = 202
    if feed is None:
        return error(503, "not the leading master")
    try:
        feed(event)
    except CallError as exc:
        return error(exc.status, exc.message)
    if persisted is not None:
        await persisted()
    return web.Response(status=status)
