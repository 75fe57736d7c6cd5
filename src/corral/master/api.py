"""The master's hot HTTP routes: scheduler API (/api/v1/scheduler) and the agent link."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import msgspec
from aiohttp import web

from corral.master.core import events as ev
from corral.master.core.authz import check_call, check_subscribe
from corral.master.errors import CallError
from corral.master.shell import MasterShell
from corral.security.middleware import check, principal_of
from corral.transport.http import accepts_json, error, read_call
from corral.transport.streaming import EventStream
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.codec import encode

log = logging.getLogger("corral.master")

# Which payload field each call type requires (Mesos: "Expecting 'x' to be present").
REQUIRED_PAYLOAD = {
    "SUBSCRIBE": "subscribe",
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "MESSAGE": "message",
    "UPDATE_FRAMEWORK": "update_framework",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "REQUEST": "request",
}


def validate_call(call: s.Call) -> None:
    if call.type not in s.CALL_TYPES:
        raise CallError(
            400,
            f"Failed to validate scheduler::Call: unknown call type '{call.type}' in field 'type'",
        )
    payload = REQUIRED_PAYLOAD.get(call.type)
    if payload and getattr(call, payload) is None:
        raise CallError(
            400, f"Failed to validate scheduler::Call: Expecting '{payload}' to be present"
        )
    if call.type == "SUBSCRIBE":
        assert call.subscribe is not None
        info = call.subscribe.framework_info
        if call.framework_id is not None and (
            info.id is None or info.id.value != call.framework_id.value
        ):
            raise CallError(
                400,
                "Failed to validate scheduler::Call: "
                "'framework_id' differs from 'subscribe.framework_info.id'",
            )
        if not info.user:
            raise CallError(
                400, "Failed to validate scheduler::Call: 'subscribe.framework_info.user' is empty"
            )
    elif call.framework_id is None:
        raise CallError(
            400, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"
        )


class SchedulerAPI:
    def __init__(self, shell: MasterShell) -> None:
        self.shell = shell
        self.agent_sockets: set[web.WebSocketResponse] = set()

    async def close_agent_links(self) -> None:
        """Drop every agent's connection (this master stops leading); they re-detect."""
        for ws in list(self.agent_sockets):
            with contextlib.suppress(Exception):
                await ws.close()

    async def scheduler(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request, s.Call, "scheduler::Call")
        if isinstance(call, web.Response):
            return call
        try:
            validate_call(call)
        except CallError as exc:
            return error(exc.status, exc.message)
        stream_id = request.headers.get("Mesos-Stream-Id")
        if call.type == "SUBSCRIBE":
            if stream_id is not None:
                return error(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
            if not accepts_json(request):
                return error(406, "Expected 'Accept' to allow 'application/json'")
            try:
                check_subscribe(self.shell.state, principal(request), call)
            except CallError as exc:
                log.warning("refused a SUBSCRIBE from %s: %s", request.remote, exc.message)
                return error(exc.status, exc.message)
            return await self._subscribe(request, call)
        try:
            check_call(self.shell.state, principal(request), call)
            self.shell.feed(ev.SchedulerCall(principal(request), call, stream_id))
        except CallError as exc:
            return error(exc.status, exc.message)
        if call.type == "UPDATE_FRAMEWORK":
            return web.Response(status=200)
        return web.Response(status=202)

    async def _subscribe(self, request: web.Request, call: s.Call) -> web.StreamResponse:
        shell = self.shell
        heartbeat = encode(s.Event(type="HEARTBEAT"))
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        stream = EventStream(resp, heartbeat, shell.state.config.heartbeat_interval)
        stream_id = shell.open_stream(stream)
        shell.feed(ev.StreamOpened(principal(request), call, stream_id))
        if stream_id in shell.state.streams:  # subscribed (not refused on the stream)
            resp.headers["Mesos-Stream-Id"] = stream_id
        try:
            await resp.prepare(request)
            await stream.run()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away before or while streaming
        finally:
            stream.close()
            shell.close_stream(stream_id)
        return resp

    # ------------------------------------------------------------------ agents
    async def agent_link(self, request: web.Request) -> web.StreamResponse:
        denied = check(request, "register_agents", None)
        if denied is not None:
            return denied
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.agent_sockets.add(ws)
        outbox: list[amsg.MasterToAgent] = []
        wake = asyncio.Event()

        def send(m: amsg.MasterToAgent) -> None:
            outbox.append(m)
            wake.set()

        async def writer() -> None:
            while not ws.closed:
                await wake.wait()
                wake.clear()
                if outbox:
                    batch = outbox[:]
                    outbox.clear()
                    await ws.send_bytes(encode(batch))

        writer_task = asyncio.get_running_loop().create_task(writer())
        shell = self.shell
        link = shell.open_link(send)
        try:
            async for frame in ws:
                if frame.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    break
                try:
                    messages = amsg.agent_to_master_decoder.decode(frame.data)
                except Exception:
                    # One message this master does not know (a newer agent's) must not cost
                    # the others in the frame (an update, a pong): decode them one by one.
                    messages = _decode_each(frame.data, request.remote)
                if shell.closed:
                    continue
                feed_frame(shell, link, messages)
        finally:
            self.agent_sockets.discard(ws)
            if not shell.closed:
                shell.close_link(link)
            writer_task.cancel()
        return ws


def feed_frame(shell: MasterShell, link: int, messages: list[amsg.AgentToMaster]) -> None:
    """One frame's messages as events: registrations on their own, the runs between them
    as one AgentMessages each."""
    start = 0
    for i, m in enumerate(messages):
        if isinstance(m, amsg.RegisterAgent):
            if i > start:
                shell.feed(ev.AgentMessages(link, messages[start:i]))
            shell.feed(ev.AgentRegistered(link, m))
            start = i + 1
    if start == 0:
        if messages:
            shell.feed(ev.AgentMessages(link, messages))
    elif start < len(messages):
        shell.feed(ev.AgentMessages(link, messages[start:]))


def principal(request: web.Request) -> str | None:
    """Who makes the call: the principal the authentication middleware found (or None)."""
    return principal_of(request)


_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_one_message = msgspec.json.Decoder(amsg.AgentToMaster)


def _decode_each(data: bytes | str, remote: str | None) -> list[amsg.AgentToMaster]:
    out: list[amsg.AgentToMaster] = []
    try:
        raws = _raw_list.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        log.warning("bad frame from agent at %s: %s", remote, exc)
        return out
    for raw in raws:
        try:
            out.append(_one_message.decode(raw))
        except (msgspec.DecodeError, RecursionError) as exc:
            log.warning("ignoring a message from agent at %s: %s", remote, exc)
    return out
