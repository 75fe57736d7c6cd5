"""Simulated agents: thousands of agents in one process, speaking the real agent protocol.

Each simulated agent opens its own WebSocket to the master's ``/master/agent`` route, registers
with resources and attributes like a real agent, answers pings, and "runs" the tasks it is sent
by reporting ``TASK_STARTING`` (optional), ``TASK_RUNNING`` and, after ``task_duration``
seconds, ``TASK_FINISHED`` — no process is started. A task with a health check is reported
healthy at once (the second ``TASK_RUNNING``, with ``healthy`` set, that a real agent sends
when its first probe passes). Status updates follow the agent's rules:
one in flight per task, in order, resent until the master forwards the framework's
acknowledgement, with ``latest_state`` set, and resent at once when a framework re-subscribes.
Kills answer ``TASK_KILLED``. The master cannot tell these agents from real ones.

Used by ``bench/scale.py``, and runnable on its own::

    python -m corral.testing.simagents --master 127.0.0.1:5050 --agents 2500

which prints one JSON line of counters every ``--stats-interval`` seconds and stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import aiohttp

from corral import __version__
from corral.resources import ResourceError, Resources, parse, parse_attributes
from corral.transport.link import Backoff, LeaderLink, LeaderSource, LinkPolicy, refused_handshake
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.codec import encode
from corral.wire.common import AgentInfo, Attribute, FrameworkInfo, Scalar, Text
from corral.wire.tasks import TaskInfo, TaskStatus, is_terminal

# Reconnect after 0.1 s doubling to 5 s, jittered by 0.5-1.5; no quick retries while an
# election is under way, so thousands of agents do not hammer a master that is recovering.
LINK_POLICY = LinkPolicy(
    backoff=Backoff(base=0.05, cap=5.0, max_exponent=7, jitter_low=0.5, jitter_high=1.5),
    election_retry=None,
)


@dataclass
class SimConfig:
    master: str  # host:port of the master, or a zk:// URL of HA masters
    agents: int = 100
    resources: str = "cpus:16;mem:65536;disk:500000;ports:[31000-32000]"
    attributes: dict[str, str | float] = field(default_factory=dict)
    racks: int = 20  # attribute rack = r<i % racks>, to look like a real fleet
    task_duration: float = 0.0  # seconds from RUNNING to FINISHED; 0 = run until killed
    report_starting: bool = False  # also send TASK_STARTING before TASK_RUNNING
    update_retry: float = 10.0  # resend an unacknowledged update after this long
    hostname_prefix: str = "sim"
    index_base: int = 0  # distinguishes hostnames across simulator processes
    connect_concurrency: int = 200  # registrations in flight at once (the master's backlog)


@dataclass
class Counters:
    registered: int = 0
    reregistered: int = 0
    tasks_received: int = 0
    tasks_running: int = 0
    tasks_finished: int = 0
    tasks_killed: int = 0
    updates_sent: int = 0
    updates_resent: int = 0
    acks: int = 0
    pings: int = 0
    disconnects: int = 0


@dataclass
class SimTask:
    framework_id: str
    info: TaskInfo
    executor_id: str | None = None
    state: str = "TASK_STAGING"
    pending: deque[msg.StatusUpdate] = field(default_factory=deque)  # head is in flight
    sent_at: float = 0.0
    finish: asyncio.TimerHandle | None = None
    healthy: bool | None = None  # set once its (simulated) health check passed


class SimAgent:
    """One simulated agent: a WebSocket to the master and the tasks it pretends to run."""

    def __init__(self, pool: SimAgentPool, index: int, resources: Resources) -> None:
        self.pool = pool
        self.index = index
        self.hostname = f"{pool.config.hostname_prefix}-{pool.config.index_base + index}"
        self.port = 5051
        self.resources = resources
        self.agent_id: str | None = None
        self.frameworks: dict[str, FrameworkInfo] = {}
        self.tasks: dict[tuple[str, str], SimTask] = {}
        self.registered = asyncio.Event()
        self._out: list[msg.AgentToMaster] = []
        self._wake = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.link = LeaderLink(pool.leader, LINK_POLICY)

    # ------------------------------------------------------------------ the link
    def agent_info(self) -> AgentInfo:
        cfg = self.pool.config
        attrs: dict[str, str | float] = {"rack": f"r{self.index % max(1, cfg.racks)}"}
        attrs.update(cfg.attributes)
        return AgentInfo(
            hostname=self.hostname,
            port=self.port,
            resources=self.resources.to_wire(),
            attributes=[
                Attribute(name=k, type="SCALAR", scalar=Scalar(value=v))
                if isinstance(v, float)
                else Attribute(name=k, type="TEXT", text=Text(value=str(v)))
                for k, v in sorted(attrs.items())
            ],
            id=ID(self.agent_id) if self.agent_id else None,
        )

    def register_message(self) -> msg.RegisterAgent:
        live = [t for t in self.tasks.values() if not is_terminal(t.state) or t.pending]
        return msg.RegisterAgent(
            agent_info=self.agent_info(),
            agent_id=ID(self.agent_id) if self.agent_id else None,
            address=f"127.0.0.1:{self.port}",
            version=__version__,
            frameworks=list(self.frameworks.values()),
            tasks=[
                msg.AgentTask(
                    framework_id=ID(t.framework_id),
                    task=t.info,
                    state=t.state,
                    executor_id=ID(t.executor_id) if t.executor_id else None,
                )
                for t in live
            ],
        )

    async def run(self) -> None:
        await self.link.run(self.connect, self.lost)

    async def connect(self, master: str) -> None:
        """One connection: register, then answer the master until it goes."""
        try:
            async with self.pool.connect_slots:
                ws = await self.pool.leader.client().ws_connect(
                    f"http://{master}/master/agent", max_msg_size=0, autoping=True
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise refused_handshake(exc) from exc
        async with ws:
            self._ws = ws
            self.link.up()
            writer = asyncio.get_running_loop().create_task(self._writer(ws))
            try:
                await ws.send_bytes(encode([self.register_message()]))
                async for frame in ws:
                    if frame.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        break
                    for m in msg.master_to_agent_decoder.decode(frame.data):
                        self.handle(m)
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
                self._ws = None

    async def lost(self, master: str, error: BaseException | None) -> None:
        if self.registered.is_set():
            self.pool.counters.disconnects += 1
        self.registered.clear()

    def leader_changed(self) -> None:
        if self._ws is not None:
            asyncio.get_running_loop().create_task(self._ws.close())

    async def _writer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._out:
                batch, self._out = self._out, []
                await ws.send_bytes(encode(batch))

    def send(self, m: msg.AgentToMaster) -> None:
        if self._ws is None:
            return  # resent after re-registration (updates) or not needed (pongs)
        self._out.append(m)
        self._wake.set()

    # ------------------------------------------------------------------ master messages
    def handle(self, m: msg.MasterToAgent) -> None:
        c = self.pool.counters
        if isinstance(m, msg.Ping):
            c.pings += 1
            self.send(msg.Pong())
        elif isinstance(m, msg.Registered):
            if self.agent_id is None:
                c.registered += 1
            else:
                c.reregistered += 1
            self.agent_id = m.agent_id.value
            self.registered.set()
            now = time.monotonic()
            for task in self.tasks.values():
                self._send_head(task, now)
        elif isinstance(m, msg.RunTask):
            fid = m.framework_info.id.value if m.framework_info.id else ""
            self.frameworks[fid] = m.framework_info
            self.run_task(fid, m.task, None)
        elif isinstance(m, msg.RunTaskGroup):
            fid = m.framework_info.id.value if m.framework_info.id else ""
            self.frameworks[fid] = m.framework_info
            for info in m.task_group.tasks:
                self.run_task(fid, info, m.executor.executor_id.value)
        elif isinstance(m, msg.KillTask):
            killed = self.tasks.get((m.framework_id.value, m.task_id.value))
            if killed is not None:
                self.end(killed, "TASK_KILLED", "Killed by the framework")
        elif isinstance(m, msg.ShutdownExecutor):
            for task in list(self.tasks.values()):
                if task.executor_id == m.executor_id.value:
                    self.end(task, "TASK_KILLED", "Executor was shut down")
        elif isinstance(m, msg.ShutdownFramework):
            for task in list(self.tasks.values()):
                if task.framework_id == m.framework_id.value:
                    self.end(task, "TASK_KILLED", "Framework was shut down")
            self.frameworks.pop(m.framework_id.value, None)
        elif isinstance(m, msg.AcknowledgeUpdate):
            self.acknowledge(m)
        elif isinstance(m, msg.FrameworkSubscribed):
            now = time.monotonic()
            for task in self.tasks.values():
                if task.framework_id == m.framework_id.value:
                    self._send_head(task, now)
        elif isinstance(m, msg.ShutdownAgent) and self._ws is not None:
            # Removed by the master: re-register under the same id, as a real agent does.
            asyncio.get_running_loop().create_task(self._ws.close())

    # ------------------------------------------------------------------ tasks
    def run_task(self, fid: str, info: TaskInfo, executor_id: str | None) -> None:
        key = (fid, info.task_id.value)
        if key in self.tasks:
            return  # a duplicate launch: the master refuses those; ignore defensively
        self.pool.counters.tasks_received += 1
        task = SimTask(framework_id=fid, info=info, executor_id=executor_id)
        self.tasks[key] = task
        if self.pool.config.report_starting:
            self.update(task, "TASK_STARTING")
        self.update(task, "TASK_RUNNING")
        if info.health_check is not None:
            # A simulated probe that passes at once: the update a real agent sends when a
            # task turns healthy; every later update carries it.
            task.healthy = True
            self.update(task, "TASK_RUNNING", reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
        self.pool.counters.tasks_running += 1
        duration = self.pool.config.task_duration
        if duration > 0:
            task.finish = asyncio.get_running_loop().call_later(
                duration, self.end, task, "TASK_FINISHED", "Command exited with status 0"
            )

    def end(self, task: SimTask, state: str, message: str) -> None:
        if is_terminal(task.state):
            return
        if task.finish is not None:
            task.finish.cancel()
            task.finish = None
        c = self.pool.counters
        if task.state == "TASK_RUNNING":
            c.tasks_running -= 1
        if state == "TASK_FINISHED":
            c.tasks_finished += 1
        else:
            c.tasks_killed += 1
        self.update(task, state, message)

    def update(
        self, task: SimTask, state: str, message: str | None = None, reason: str | None = None
    ) -> None:
        task.state = state
        status = TaskStatus(
            task_id=task.info.task_id,
            state=state,
            message=message,
            reason=reason,
            healthy=task.healthy,
            source="SOURCE_EXECUTOR",
            agent_id=ID(self.agent_id or ""),
            executor_id=ID(task.executor_id) if task.executor_id else None,
            timestamp=time.time(),
            uuid=uuid.uuid4().bytes,
        )
        task.pending.append(msg.StatusUpdate(framework_id=ID(task.framework_id), status=status))
        if len(task.pending) == 1:
            self._send_head(task, time.monotonic())

    def _send_head(self, task: SimTask, now: float) -> None:
        if not task.pending or self._ws is None:
            return
        head = task.pending[0]
        head.latest_state = task.state if task.state != head.status.state else None
        if task.sent_at:
            self.pool.counters.updates_resent += 1
        self.pool.counters.updates_sent += 1
        task.sent_at = now
        self.send(head)

    def acknowledge(self, m: msg.AcknowledgeUpdate) -> None:
        key = (m.framework_id.value, m.task_id.value)
        task = self.tasks.get(key)
        if task is None or not task.pending or task.pending[0].status.uuid != m.uuid:
            return
        self.pool.counters.acks += 1
        task.pending.popleft()
        task.sent_at = 0.0
        if task.pending:
            self._send_head(task, time.monotonic())
        elif is_terminal(task.state):
            del self.tasks[key]

    def retry(self, now: float) -> None:
        for task in self.tasks.values():
            due = task.sent_at and now - task.sent_at >= self.pool.config.update_retry
            if task.pending and due:
                self._send_head(task, now)


class SimAgentPool:
    """``config.agents`` simulated agents in this process, each with its own connection."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.counters = Counters()
        resources = parse(config.resources)
        self.leader = LeaderSource(config.master)  # one ZooKeeper session for all the agents
        self.leader.subscribe(self.leader_changed)
        self.agents = [SimAgent(self, i, resources) for i in range(config.agents)]
        self.stopping = False
        self.connect_slots = asyncio.Semaphore(config.connect_concurrency)
        self._runners: list[asyncio.Task[None]] = []

    def is_stopping(self) -> bool:
        return self.stopping

    def leader_changed(self, address: str | None) -> None:
        for agent in self.agents:
            agent.leader_changed()

    async def start(self) -> None:
        await self.leader.start()
        loop = asyncio.get_running_loop()
        self._runners = [loop.create_task(a.run()) for a in self.agents]
        self._runners.append(loop.create_task(self._retry_loop()))

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for agent in self.agents:
                agent.retry(now)

    def all_registered(self) -> bool:
        return all(a.registered.is_set() for a in self.agents)

    async def stop(self) -> None:
        self.stopping = True
        for agent in self.agents:
            agent.link.stop()
            if agent._ws is not None:
                with contextlib.suppress(Exception):
                    await agent._ws.close()
        for t in self._runners:
            t.cancel()
        for t in self._runners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.leader.stop()


async def _amain(config: SimConfig, stats_interval: float) -> None:
    pool = SimAgentPool(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await pool.start()
    started = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), stats_interval)
        line = {"t": round(time.monotonic() - started, 3), **pool.counters.__dict__}
        print(json.dumps(line), flush=True)
    await pool.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="simulated corral agents (the real agent protocol)")
    p.add_argument("--master", required=True, help="host:port of the master, or zk://…")
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--resources", default=SimConfig.resources)
    p.add_argument("--attributes", default="", help="NAME:VALUE;... added to every agent")
    p.add_argument("--task-duration", type=float, default=0.0, help="seconds; 0 = until killed")
    p.add_argument("--report-starting", action="store_true")
    p.add_argument("--update-retry", type=float, default=10.0)
    p.add_argument("--index-base", type=int, default=0)
    p.add_argument("--stats-interval", type=float, default=1.0)
    args = p.parse_args(argv)
    if args.agents < 1:
        p.error("--agents: must be at least 1")
    try:
        parse(args.resources)
        attributes = parse_attributes(args.attributes) if args.attributes else {}
    except ResourceError as exc:
        p.error(f"--resources/--attributes: {exc}")
    config = SimConfig(
        master=args.master,
        agents=args.agents,
        resources=args.resources,
        attributes=attributes,
        task_duration=args.task_duration,
        report_starting=args.report_starting,
        update_retry=args.update_retry,
        index_base=args.index_base,
    )
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_amain(config, args.stats_interval))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
