"""``corral events``: the master's operator event stream (SUBSCRIBE on ``/api/v1``), one
line per event, or one JSON object per line with ``--json``."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import msgspec
import typer

from corral.cli.common import EXIT_RUNTIME, fail, resolve_master
from corral.security.client import ClientSecurity
from corral.wire import operator as op
from corral.wire.codec import decode, to_builtins
from corral.wire.recordio import Decoder, RecordIOError

MasterOpt = typer.Option(
    None,
    "--master",
    help="HOST:PORT of the master (default: $CORRAL_MASTER or the `corral up` cluster).",
)


def describe(e: op.OperatorEvent) -> str:
    """One event as a short line of text."""
    t = e.type
    if isinstance(e.subscribed, op.SubscribedOf):
        st = e.subscribed.get_state
        return (
            f"{t} agents={len(st.get_agents.agents)} "
            f"frameworks={len(st.get_frameworks.frameworks)} tasks={len(st.get_tasks.tasks)}"
        )
    if isinstance(e.task_added, op.TaskAdded):
        task = e.task_added.task
        return (
            f"{t} {task.task_id.value} {task.state} framework={task.framework_id.value} "
            f"agent={task.agent_id.value}"
        )
    if isinstance(e.task_updated, op.TaskUpdated):
        u = e.task_updated
        extra = f" ({u.status.message})" if u.status.message else ""
        return f"{t} {u.status.task_id.value} {u.state} framework={u.framework_id.value}{extra}"
    if isinstance(e.agent_added, op.AgentAdded):
        a = e.agent_added.agent
        aid = a.agent_info.id.value if a.agent_info.id else "?"
        return f"{t} {aid} {a.agent_info.hostname}"
    if isinstance(e.agent_removed, op.AgentRemoved):
        return f"{t} {e.agent_removed.agent_id.value}"
    fw = e.framework_added if not isinstance(e.framework_added, msgspec.UnsetType) else None
    fw = fw or (
        e.framework_updated if not isinstance(e.framework_updated, msgspec.UnsetType) else None
    )
    if fw is not None:
        info = fw.framework.framework_info
        state = "active" if fw.framework.active else "inactive"
        return f"{t} {info.id.value if info.id else '?'} {info.name} {state}"
    if isinstance(e.framework_removed, op.FrameworkRemoved):
        info = e.framework_removed.framework_info
        return f"{t} {info.id.value if info.id else '?'} {info.name}"
    return t


async def stream(master: str, follow: bool, as_json: bool, heartbeats: bool) -> None:
    body = {"type": "SUBSCRIBE"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    sec = ClientSecurity.from_env()
    connector = aiohttp.TCPConnector(ssl=sec.ssl_context())
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        try:
            resp = await session.post(
                sec.url(master, "/api/v1"),
                json=body,
                headers={"Accept": "application/json", **sec.headers()},
            )
        except aiohttp.ClientError as exc:
            fail(f"cannot reach the master at {master}: {exc}", EXIT_RUNTIME)
        async with resp:
            if resp.status != 200:
                fail(
                    f"the master at {master} refused SUBSCRIBE: {resp.status} {await resp.text()}",
                    EXIT_RUNTIME,
                )
            records = Decoder()
            async for chunk in resp.content.iter_any():
                try:
                    items = records.feed(chunk)
                except RecordIOError as exc:
                    fail(f"bad event stream from {master}: {exc}", EXIT_RUNTIME)
                for raw in items:
                    event = decode(raw, op.OperatorEvent)
                    if event.type == "HEARTBEAT" and not heartbeats:
                        continue
                    if as_json:
                        print(json.dumps(to_builtins(event)), flush=True)
                    else:
                        stamp = time.strftime("%H:%M:%S")
                        print(f"{stamp} {describe(event)}", flush=True)
                    if not follow:
                        return
    if follow:
        fail(f"the master at {master} closed the event stream", EXIT_RUNTIME)


def events(
    master: str | None = MasterOpt,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing events as they come."),
    as_json: bool = typer.Option(False, "--json", help="One JSON event (master::Event) per line."),
    heartbeats: bool = typer.Option(False, "--heartbeats", help="Print HEARTBEAT events too."),
) -> None:
    """The master's operator events: SUBSCRIBED (the state) then, with --follow, TASK_ADDED,
    TASK_UPDATED, AGENT_ADDED/REMOVED and FRAMEWORK_ADDED/UPDATED/REMOVED as they happen."""
    try:
        asyncio.run(stream(resolve_master(master), follow, as_json, heartbeats))
    except KeyboardInterrupt:
        pass
