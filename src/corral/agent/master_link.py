"""The agent's link to the leading master: (re-)registration, the WebSocket loop with
coalesced writes, leader detection, and the commands that come down it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import TYPE_CHECKING

import aiohttp

from corral import __version__
from corral.agent.environment import kill_grace
from corral.agent.usage import container_usage
from corral.transport.link import Backoff, LinkPolicy, refused_handshake
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.codec import encode
from corral.wire.common import AgentInfo, Attribute, Scalar, Text
from corral.wire.executor import ExecutorEvent, ExecutorMessageEvent

if TYPE_CHECKING:
    from corral.agent.agent import Agent

log = logging.getLogger("corral.agent")


def agent_info(self: Agent) -> AgentInfo:
    attrs = []
    for name, value in sorted(self.config.attributes.items()):
        if isinstance(value, float):
            attrs.append(Attribute(name=name, type="SCALAR", scalar=Scalar(value=value)))
        else:
            attrs.append(Attribute(name=name, type="TEXT", text=Text(value=value)))
    return AgentInfo(
        hostname=self.hostname,
        port=self.config.port,
        resources=self.config.resources.to_wire(),
        attributes=attrs,
        id=ID(self.agent_id) if self.agent_id else None,
    )


def _register_message(self: Agent) -> msg.RegisterAgent:
    tasks: list[msg.AgentTask] = []
    for fw in self.frameworks.values():
        # Ended tasks whose updates are not yet acknowledged are reported too, so the
        # master waits for those updates instead of declaring the tasks lost.
        unacked = [t for t in fw.completed if self.updates.has_pending(fw.framework_id, t.task_id)]
        for t in [*fw.tasks.values(), *unacked]:
            tasks.append(
                msg.AgentTask(
                    framework_id=ID(fw.framework_id),
                    task=t.info,
                    state=t.state,
                    executor_id=ID(t.executor_id) if t.executor_id else None,
                )
            )
    return msg.RegisterAgent(
        agent_info=self.agent_info(),
        agent_id=ID(self.agent_id) if self.agent_id else None,
        address=self.address,
        version=__version__,
        frameworks=[fw.info for fw in self.frameworks.values()],
        tasks=tasks,
        executors=[
            msg.AgentExecutor(framework_id=ID(fw.framework_id), executor=ex.info)
            for fw in self.frameworks.values()
            for ex in fw.executors.values()
        ],
    )


def link_policy(backoff_factor: float) -> LinkPolicy:
    """How an agent reconnects: backoff from ``--registration-backoff-factor`` (full jitter,
    at most a minute); retried quickly while an election is under way and, following
    ZooKeeper, always (the leader it names may not answer yet, or a standby it reaches may
    still redirect to the old one)."""
    return LinkPolicy(
        backoff=Backoff(
            base=backoff_factor, cap=60.0, max_exponent=6, jitter_low=0.0, jitter_high=1.0
        ),
        election_attempts=None,
        min_delay=0.05,
    )


def on_leader(agent: Agent, address: str | None) -> None:
    """From the ZooKeeper detector: the leading master changed."""
    log.info("leading master is now %s", address)
    if agent._ws is not None:
        asyncio.get_running_loop().create_task(agent._ws.close())


async def master_loop(agent: Agent) -> None:
    """Connect to the leading master, register, serve; again whenever the link breaks."""
    await agent.link.run(partial(serve_master, agent), partial(master_lost, agent))


async def serve_master(agent: Agent, master: str) -> None:
    """One connection to the master at ``master``: register, then handle what comes down."""
    url = f"http://{master}/master/agent"
    log.debug("connecting to the master at %s", master)
    try:
        ws_context = agent.leader.client().ws_connect(url, max_msg_size=0, autoping=True)
        async with ws_context as ws:
            log.debug("connected to the master at %s; registering", master)
            agent._ws = ws
            agent.link.up()
            agent._last_heard = asyncio.get_running_loop().time()
            writer = asyncio.get_running_loop().create_task(agent._writer(ws))
            try:
                await ws.send_bytes(encode([agent._register_message()]))
                async for frame in ws:
                    if frame.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        break
                    agent._last_heard = asyncio.get_running_loop().time()
                    try:
                        messages = msg.master_to_agent_decoder.decode(frame.data)
                    except Exception as exc:  # e.g. a newer master's message type
                        log.warning("ignoring a message from the master: %s", exc)
                        continue
                    for m in messages:
                        try:
                            agent._handle_master(m)
                        except Exception:
                            log.exception("handling %s failed", type(m).__name__)
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
                agent._ws = None
    except aiohttp.WSServerHandshakeError as exc:
        log.debug("master %s refused the connection: %s", master, exc.status)
        raise refused_handshake(exc) from exc


async def master_lost(agent: Agent, master: str, error: BaseException | None) -> None:
    """The connection to ``master`` broke (or was never made)."""
    if error is not None:
        log.debug("master connection failed: %s", error)
    if agent.registered.is_set():
        log.warning("lost the master at %s; reconnecting", master)
    agent.registered.clear()
    agent.updates.on_disconnected()


def stopping(self: Agent) -> bool:
    return self._stopping


async def _writer(self: Agent, ws: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        await self._out_wake.wait()
        self._out_wake.clear()
        if not self._out:
            continue
        batch, self._out = self._out, []
        self.updates.flush()
        self.checkpoint.flush()
        await ws.send_bytes(encode(batch))


def _send(self: Agent, m: msg.AgentToMaster) -> None:
    if self._ws is None:
        return
    self._out.append(m)
    self._out_wake.set()


async def _timers(self: Agent) -> None:
    loop = asyncio.get_running_loop()
    next_usage = loop.time() + self.config.usage_report_interval
    while True:
        await asyncio.sleep(1.0)
        self.updates.retry(loop.time())
        interval = self.config.usage_report_interval
        if interval > 0 and loop.time() >= next_usage:
            next_usage = loop.time() + interval
            if self.registered.is_set():
                usage = await container_usage(self)
                if usage:
                    self.send(msg.UsageReport(containers=usage))
        if self._ws is not None and loop.time() - self._last_heard > self.config.master_timeout:
            log.warning(
                "no word from the master for %.0fs; reconnecting", self.config.master_timeout
            )
            await self._ws.close()


def _forward_update(self: Agent, update: msg.StatusUpdate) -> None:
    latest = self.latest_state.get((update.framework_id.value, update.status.task_id.value))
    update.latest_state = latest if latest and latest != update.status.state else None
    self.send(update)


# ------------------------------------------------------------------ master messages
def _handle_master(self: Agent, m: msg.MasterToAgent) -> None:
    if isinstance(m, msg.Ping):
        self.send(msg.Pong())
    elif isinstance(m, msg.Registered):
        if self.agent_id != m.agent_id.value:
            self.agent_id = m.agent_id.value
            self.checkpoint.save_agent_id(self.agent_id)
        self.master_info = m.master_info
        self.registered.set()
        log.info("registered with master as %s", self.agent_id)
        self.updates.on_connected(asyncio.get_running_loop().time())
    elif isinstance(m, msg.RunTask):
        self.run_task(m.framework_info, m.task)
    elif isinstance(m, msg.RunTaskGroup):
        self.run_task_group(m.framework_info, m.executor, m.task_group.tasks)
    elif isinstance(m, msg.KillTask):
        self.kill_task(m.framework_id.value, m.task_id.value, kill_grace(m.kill_policy))
    elif isinstance(m, msg.AcknowledgeUpdate):
        self._acknowledge(m)
    elif isinstance(m, msg.ShutdownExecutor):
        self.shutdown_executor(m.framework_id.value, m.executor_id.value)
    elif isinstance(m, msg.ShutdownFramework):
        self.shutdown_framework(m.framework_id.value)
    elif isinstance(m, msg.FrameworkToExecutor):
        ex = self._executor(m.framework_id.value, m.executor_id.value)
        if ex is not None:
            self._to_executor(
                ex, ExecutorEvent(type="MESSAGE", message=ExecutorMessageEvent(data=m.data))
            )
    elif isinstance(m, msg.FrameworkSubscribed):
        self.updates.resend(m.framework_id.value, asyncio.get_running_loop().time())
    elif isinstance(m, msg.ShutdownAgent):
        # Removed (e.g. after missed pings): reconnect with the same id, so the master
        # treats it as a returning agent (and kills what its frameworks gave up on).
        log.error("the master removed this agent: %s; re-registering", m.message)
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())
