"""The agent's link to the leading master: (re-)registration, the WebSocket loop with
coalesced writes, leader detection, and the commands that come down it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING

import aiohttp

from corral import __version__
from corral.agent.environment import kill_grace
from corral.agent.usage import container_usage
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


def on_leader(self: Agent, address: str | None) -> None:
    """From the ZooKeeper detector: the leading master changed."""
    if address == self.current_master:
        return
    log.info("leading master is now %s", address)
    self.current_master = address
    self._master_changed.set()
    if self._ws is not None:
        asyncio.get_running_loop().create_task(self._ws.close())


async def _master_loop(self: Agent) -> None:
    assert self._session is not None
    backoff = self.config.registration_backoff_factor
    attempt = 0
    while not self.stopping():
        self._master_changed.clear()
        master = self.current_master
        if master is None:
            await self._master_changed.wait()
            continue
        url = f"http://{master}/master/agent"
        no_leader_yet = False
        try:
            log.debug("connecting to the master at %s", master)
            async with self._session.ws_connect(url, max_msg_size=0, autoping=True) as ws:
                log.debug("connected to the master at %s; registering", master)
                self._ws = ws
                attempt = 0
                self._last_heard = asyncio.get_running_loop().time()
                writer = asyncio.get_running_loop().create_task(self._writer(ws))
                try:
                    await ws.send_bytes(encode([self._register_message()]))
                    async for frame in ws:
                        if frame.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                            break
                        self._last_heard = asyncio.get_running_loop().time()
                        try:
                            messages = msg.master_to_agent_decoder.decode(frame.data)
                        except Exception as exc:  # e.g. a newer master's message type
                            log.warning("ignoring a message from the master: %s", exc)
                            continue
                        for m in messages:
                            try:
                                self._handle_master(m)
                            except Exception:
                                log.exception("handling %s failed", type(m).__name__)
                finally:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await writer
                    self._ws = None
        except aiohttp.WSServerHandshakeError as exc:
            location = str(exc.headers.get("Location", "")) if exc.headers else ""
            if exc.status == 307 and location and self._detector is None:
                # A standby: follow it to the leader at once.
                self.current_master = location.lstrip("/").split("/", 1)[0]
                continue
            no_leader_yet = exc.status in (503, 307)
            log.debug("master %s refused the connection: %s", master, exc.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.debug("master connection failed: %s", exc)
        if self.stopping():
            break
        if self.registered.is_set():
            log.warning("lost the master at %s; reconnecting", master)
        self.registered.clear()
        self.updates.on_disconnected()
        if self.current_master != master:
            attempt = 0
            continue  # a new leader was detected: go now
        if no_leader_yet or self._detector is not None:
            # An election is under way, or ZooKeeper names a leader that does not answer
            # yet (a standby it reaches may still redirect to the old one): ask again soon.
            delay = 0.1 + random.random() * 0.15
        else:
            attempt += 1
            delay = min(60.0, backoff * (2 ** min(attempt, 6))) * random.random()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._master_changed.wait(), max(delay, 0.05))


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
