"""corral's KILL_TASK operator call on ``/api/v1`` (``corral kill``): decoded into the core's
``OperatorKill`` (the transition is ``master/core/operator_kill.py``)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from corral.master.core import events as ev
from corral.master.errors import CallError
from corral.security.middleware import principal_of, require_write
from corral.transport.http import error
from corral.wire import operator as op

CALL = "KILL_TASK"


def kill_task_call(
    request: web.Request, call: op.OperatorCall, feed: Callable[[ev.Event], None] | None
) -> web.Response:
    """200 once the kill is sent to the task's agent; 404 for a task no framework runs."""
    refused = require_write(request)
    if refused is not None:
        return refused
    payload = call.kill_task
    if payload is None:
        return error(400, "Failed to validate master::Call: Expecting 'kill_task' to be present")
    if feed is None:
        return error(503, "not the leading master")
    grace = None
    policy = payload.kill_policy
    if policy is not None and policy.grace_period is not None:
        grace = policy.grace_period.nanoseconds / 1e9
    fid = payload.framework_id.value if payload.framework_id is not None else None
    event = ev.OperatorKill(principal_of(request), payload.task_id.value, fid, grace)
    try:
        feed(event)
    except CallError as exc:
        return error(exc.status, exc.message)
    return web.Response(status=200)
