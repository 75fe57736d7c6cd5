"""The operator API's HTTP side (``/api/v1``, ``/master/state`` and the other read
routes): decode the call, answer with the view encoded (``views.MasterViews``), feed the write
calls (TEARDOWN, the agent maintenance calls) to the shell, and stream SUBSCRIBE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from corral.logs import http as logs_http
from corral.master import kill_api, quota_views, schedule_api
from corral.master.core import events as ev
from corral.master.core import maintenance, quota
from corral.master.core.state import MasterState
from corral.master.errors import CallError
from corral.master.maintenance_api import maintenance_call
from corral.master.quota_api import quota_call
from corral.master.views import HEARTBEAT, OPERATOR_CALLS, MasterViews, Raw, metrics_snapshot
from corral.security.middleware import check, principal_of, require_write
from corral.transport import files_calls
from corral.transport.http import error, json_response, read_call
from corral.transport.streaming import EventStream
from corral.wire import files_calls as fc
from corral.wire import operator as op
from corral.wire.codec import encode

if TYPE_CHECKING:
    from corral.master.subscribers import Subscribers

log = logging.getLogger("corral.master")


class OperatorAPI:
    """The HTTP side: decode the call, answer with the view encoded; SUBSCRIBE streams the
    operator events (the shell's ``Subscribers`` fan them out)."""

    def __init__(
        self,
        master: MasterState,
        subscribers: Subscribers | None = None,
        feed: Callable[[ev.Event], None] | None = None,
        persisted: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.master = master
        self.views = MasterViews(master)
        self.subscribers = subscribers
        self.feed = feed  # the shell's: the write calls become core events
        self.persisted = persisted  # the shell's: wait for the registry's writes

    async def call(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request, op.OperatorCall, "master::Call")
        if isinstance(call, web.Response):
            return call
        if call.type == "TEARDOWN":
            return self.teardown(request, call)
        if call.type in quota.CALLS:
            refused = require_write(request) or check(request, "operator_writes", None)
            if refused is not None:
                return refused
            return await quota_call(call, self.feed, self.persisted, principal_of(request))
        if call.type == kill_api.CALL:
            return kill_api.kill_task_call(request, call, self.feed)
        if call.type in fc.CALLS:
            body = await request.read()
            return files_calls.answer(body, "master::Call", logs_http.master_file)
        if call.type in schedule_api.CALLS:
            return schedule_api.operator_call(request, call, self.master, self.feed)
        if call.type not in OPERATOR_CALLS:
            return error(*op.unserved("master::Call", call.type, op.MESOS_MASTER_CALLS))
        if call.type == "SUBSCRIBE":
            return await self.subscribe(request)
        if call.type in maintenance.CALLS:
            refused = require_write(request) or check(request, "operator_writes", None)
            if refused is not None:
                return refused
            return maintenance_call(call, self.feed, principal_of(request))
        with self.views.viewing(principal_of(request)):
            return json_response(self.views.response(call.type))

    def teardown(self, request: web.Request, call: op.OperatorCall) -> web.Response:
        refused = require_write(request)
        if refused is not None:
            return refused
        if call.teardown is None:
            return error(400, "Failed to validate master::Call: Expecting 'teardown' to be present")
        if self.feed is None:
            return error(400, "TEARDOWN is not served here")
        try:
            self.feed(ev.OperatorTeardown(principal_of(request), call.teardown.framework_id.value))
        except CallError as exc:
            if exc.status == 403:
                log.warning("denied: %s", exc.message)
            return error(exc.status, exc.message)
        return web.Response(status=200)

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        subs = self.subscribers
        if subs is None:
            return error(400, "SUBSCRIBE is not served here")
        if subs.full():
            return error(
                503, f"Too many operator event subscribers (at most {subs.max_subscribers})"
            )
        interval = self.master.config.heartbeat_interval
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        stream = EventStream(resp, HEARTBEAT, interval)
        with self.views.viewing(principal_of(request)):
            state = self.views.response("GET_STATE").get_state
        assert not isinstance(state, msgspec.UnsetType)
        first: op.OperatorEventOf[Raw, Raw] = op.OperatorEventOf(
            type="SUBSCRIBED",
            subscribed=op.SubscribedOf(get_state=state, heartbeat_interval_seconds=interval),
        )
        stream.send(encode(first))
        sid = subs.add(stream)  # nothing can happen between the snapshot and this
        try:
            await resp.prepare(request)
            await stream.run()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            stream.close()
            subs.remove(sid)
        return resp

    async def state(self, request: web.Request) -> web.Response:
        with self.views.viewing(principal_of(request)):
            body = self.views.state()
        jsonp = request.query.get("jsonp")
        if jsonp:
            return web.Response(
                body=f"{jsonp}(".encode() + encode(body) + b");",
                content_type="text/javascript",
            )
        return json_response(body)

    async def metrics(self, request: web.Request) -> web.Response:
        return json_response(metrics_snapshot(self.master))

    async def slaves(self, request: web.Request) -> web.Response:
        return json_response(self.views.slaves())

    async def frameworks(self, request: web.Request) -> web.Response:
        with self.views.viewing(principal_of(request)):
            return json_response(self.views.frameworks())

    async def roles(self, request: web.Request) -> web.Response:
        """Mesos's ``/roles``: every role's weight, frameworks, allocation and quota."""
        with self.views.viewing(principal_of(request)):
            fws = self.views.visible(self.master.frameworks.values())
        return json_response(quota_views.roles(self.master, fws))

    async def tasks(self, request: web.Request) -> web.Response:
        with self.views.viewing(principal_of(request)):
            return json_response(self.views.tasks())
