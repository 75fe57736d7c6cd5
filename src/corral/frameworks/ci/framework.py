"""The ci framework's shell: the provisioning rules carried out on the public SDK.

``CiFramework`` owns the pure ``CiState`` and feeds it events (from the HTTP API, from the
master through the driver, and a tick), then carries out the decisions: a created agent is
launched as a task when an offer fits it (or said to wait, with the placement's reason,
when the cluster is full); a removed one is killed. Agents and their tasks are persisted in
the framework's store before the calls that depend on them, and reconciled after every
subscription (``corral.scheduler_client.Tracker``) before anything is launched or killed.

``CiRunner`` is the process's ``Runner``: it campaigns among instances sharing the store and,
once leading, registers with the master **on demand**: it subscribes when the rules hold or
want an agent, and when none is left (and none is wanted) for ``unregister_after`` seconds it
tears the framework down (TEARDOWN: there are no tasks to lose) and forgets its framework
id, as the Jenkins mesos plugin's ``supervise()`` stops its driver. The next demand
registers a new framework. With ``on-demand = false`` it stays registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec

from corral.frameworks.ci import provisioning as p
from corral.frameworks.ci.templates import CiConfig, Template
from corral.resources import scalars
from corral.scheduler_client import (
    CallFailed,
    Constraint,
    Fenced,
    Scheduler,
    SchedulerDriver,
    TaskSpec,
    Tracker,
    Unknown,
    command_task,
    place,
)
from corral.scheduler_client.constraints import Placed as PlacedTask
from corral.scheduler_client.placement import Assignment, agents_from_offers
from corral.scheduler_client.store import FRAMEWORK_ID, Store, open_state
from corral.scheduler_client.toolkit import CallSink, Framework, Runner
from corral.scheduler_client.tracker import (
    Changes,
    TrackedTask,
    decode_task,
    encode_task,
    group_of,
)
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Capability, Filters, FrameworkInfo
from corral.wire.tasks import ContainerInfo, DockerInfo, TaskInfo, TaskStatus, is_terminal

log = logging.getLogger("corral.ci")

AGENT_PREFIX = "agent/"
TASK_PREFIX = "task/"
KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL for an agent's task
IDLE_REFUSE = 30.0  # how long offers stay away while no agent is pending


def task_spec(agent: p.Agent, t: Template) -> TaskSpec:
    return TaskSpec(
        name=agent.name,
        group=t.name,
        resources=scalars(cpus=t.cpus, mem=t.mem, disk=t.disk),
        constraints=tuple(Constraint.parse(c) for c in t.constraints),
    )


def agent_task(agent: p.Agent, t: Template, a: Assignment, task_id: str, api_url: str) -> TaskInfo:
    """The TaskInfo of one agent: the template's command with its environment, the
    agent's own (a named agent's), and where to report: ``CORRAL_CI_AGENT``,
    ``CORRAL_CI_TEMPLATE`` and ``CORRAL_CI_URL``."""
    env = {**t.env, **agent.env}
    env.update(
        CORRAL_CI_AGENT=agent.name,
        CORRAL_CI_TEMPLATE=t.name,
        CORRAL_CI_URL=api_url,
    )
    info = command_task(task_id, agent.name, a.agent_id, t.command, a.resources, env=env)
    if t.container == "DOCKER":
        info = msgspec.structs.replace(
            info,
            container=ContainerInfo(
                type="DOCKER", docker=DockerInfo(image=t.image, network="HOST")
            ),
        )
    return info


class CiFramework(Scheduler):
    """The rules' state and its shell; a ``Scheduler`` for the driver."""

    def __init__(
        self,
        config: CiConfig,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.time,
        api_url: str = "",
    ) -> None:
        self.config = config
        self.state = p.CiState(config)
        self.store = store
        self.clock = clock
        self.api_url = api_url
        self.tracker = Tracker(Unknown.KILL, kill_grace_period=KILL_GRACE)
        self.sink: CallSink | None = None  # the driver, while subscribed
        self.framework_id: str | None = None
        self.persisted: dict[str, bytes] = {}
        self.kills: dict[str, str | None] = {}  # task id -> agent id, until they can be sent
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()  # set whenever needs_master may have changed
        self.suppressed = False
        self.registrations = 0

    # ------------------------------------------------------------------ loading
    async def load(self) -> None:
        """Agents and tasks back from the store (a restart, or another instance's)."""
        if self.store is None:
            return
        agents = []
        for key in await self.store.keys(AGENT_PREFIX):
            data = await self.store.get(key)
            if data is not None:
                agents.append(msgspec.json.decode(data, type=p.Agent))
                self.persisted[key] = data
        self.state = p.restore(self.config, agents)
        tasks = []
        for key in await self.store.keys(TASK_PREFIX):
            data = await self.store.get(key)
            if data is not None:
                tasks.append(decode_task(data))
        self.tracker.load(tasks)
        self.framework_id = await self.store.framework_id()
        if agents:
            log.info("ci: %d agent(s) read back from the store", len(agents))

    # ------------------------------------------------------------------ events in
    async def submit(self, event: p.Event) -> list[p.Decision]:
        """Feed one event (``Refused`` raises before anything changed) and carry out what
        the rules decided."""
        decisions = p.handle(self.state, event, self.clock())
        await self.carry_out(decisions)
        return decisions

    async def carry_out(self, decisions: list[p.Decision]) -> None:
        for d in decisions:
            log.info(
                "ci %s%s%s: %s",
                d.kind,
                f" {d.template}" if d.template else "",
                f"/{d.agent}" if d.agent else "",
                d.reason,
            )
            if d.kind == "remove" and d.task_id is not None:
                self.kills[d.task_id] = d.agent_id
        async with self.lock:
            await self._persist_agents()
            if self.sink is not None and self.tracker.ready:
                await self._send_kills(self.sink)
                if self.state.pending() and self.suppressed:
                    self.suppressed = False
                    await self.sink.call(s.Call(type="REVIVE", revive=s.Roles()))
        self.changed.set()

    async def _persist_agents(self) -> None:
        if self.store is None:
            return
        now = {AGENT_PREFIX + a.name: msgspec.json.encode(a) for a in self.state.agents.values()}
        for key, data in now.items():
            if self.persisted.get(key) != data:
                await self.store.put(key, data)
        for key in [k for k in self.persisted if k not in now]:
            await self.store.delete(key)
        self.persisted = now

    async def _apply(self, sink: CallSink, changes: Changes) -> None:
        if self.store is not None:
            for t in changes.persist:
                await self.store.put(TASK_PREFIX + t.task_id, encode_task(t))
            for tid in changes.forget:
                await self.store.delete(TASK_PREFIX + tid)
        for call in changes.calls:
            await sink.call(call)

    async def _send_kills(self, sink: CallSink) -> None:
        for tid in list(self.kills):
            del self.kills[tid]
            if tid in self.tracker.tasks:
                await self._apply(sink, self.tracker.kill(tid, KILL_GRACE))

    def _agent_of(self, task_id: str) -> p.Agent | None:
        a = self.state.agents.get(group_of(task_id))
        return a if a is not None and a.task_id == task_id else None

    # ------------------------------------------------------------------ the driver's side
    async def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        log.info("ci: registered with the master as %s", framework_id)
        if framework_id != self.framework_id and self.store is not None:
            await self.store.set_framework_id(framework_id)
        self.framework_id = framework_id
        self.sink = driver
        self.suppressed = False
        self.registrations += 1
        await self._apply(driver, self.tracker.subscribed(self.clock()))

    def disconnected(self, driver: SchedulerDriver) -> None:
        self.sink = None
        self.tracker.disconnected()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        log.error("ci: the master says: %s", message)

    async def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        changes = self.tracker.update(status, self.clock())
        await self._apply(driver, changes)
        agent = self._agent_of(status.task_id.value)
        if agent is None:
            return
        if is_terminal(status.state):
            await self.submit(p.Ended(agent.name, status.state, status.message or ""))
        elif status.state == "TASK_RUNNING":
            await self.submit(p.Running(agent.name))
        if self.tracker.ready:
            async with self.lock:
                await self._send_kills(driver)

    async def offers(self, driver: SchedulerDriver, offers: list[s.Offer]) -> None:
        ids = [o.id.value for o in offers]
        if not self.tracker.ready:
            await self._decline(driver, ids, 1.0)
            return
        pending = self.state.pending()
        if not pending:
            await self._decline(driver, ids, IDLE_REFUSE)
            if not self.suppressed:
                self.suppressed = True
                await driver.call(s.Call(type="SUPPRESS", suppress=s.Roles()))
            return
        templates = [self.config.template(a.template) for a in pending]
        specs = [task_spec(a, t) for a, t in zip(pending, templates, strict=True) if t]
        placed = [
            PlacedTask(t.group, t.agent_id or "", t.hostname, t.attributes)
            for t in self.tracker.live()
        ]
        result = place(specs, agents_from_offers(offers), placed)
        by_agent: dict[str, list[tuple[p.Agent, Template, Assignment]]] = {}
        unplaced: dict[str, str] = {}
        fitted: set[str] = set()
        for agent, t, outcome in zip(pending, templates, result.outcomes, strict=True):
            assert t is not None
            if isinstance(outcome, Assignment):
                by_agent.setdefault(outcome.agent_id, []).append((agent, t, outcome))
                fitted.add(t.name)
            else:
                unplaced.setdefault(t.name, outcome.reason)
        for launches in by_agent.values():
            await self._launch(driver, offers, launches)
        for name, reason in unplaced.items():
            await self.submit(p.Unplaced(name, reason))
        for name in fitted - set(unplaced):
            if name in self.state.unplaced:
                await self.submit(p.Placed(name))
        used = result.offer_ids()
        rest = [o for o in ids if o not in used]
        if rest:
            await self._decline(driver, rest, 1.0 if unplaced else 5.0)

    async def _launch(
        self,
        driver: SchedulerDriver,
        offers: list[s.Offer],
        launches: list[tuple[p.Agent, Template, Assignment]],
    ) -> None:
        infos = []
        now = self.clock()
        for agent, t, a in launches:
            tid = f"{agent.name}.{uuid.uuid4().hex[:10]}"
            record = TrackedTask(
                task_id=tid,
                group=agent.name,
                agent_id=a.agent_id,
                hostname=a.hostname,
                launched_at=now,
                updated_at=now,
            )
            await self._apply(driver, self.tracker.launching(record))
            await self.submit(p.Launched(agent.name, tid, a.agent_id, a.hostname))
            infos.append(agent_task(agent, t, a, tid, self.api_url))
        offer_ids = launches[0][2].offer_ids
        call = s.Call(
            type="ACCEPT",
            accept=s.Accept(
                offer_ids=[ID(o) for o in offer_ids],
                operations=[s.Operation(type="LAUNCH", launch=s.Launch(task_infos=infos))],
                filters=Filters(refuse_seconds=1.0),
            ),
        )
        try:
            await driver.call(call)
        except Fenced:
            raise
        except (CallFailed, OSError, aiohttp.ClientError) as exc:
            log.warning("ci: launching failed: %s", exc)
            with contextlib.suppress(CallFailed, OSError, aiohttp.ClientError):
                await self._apply(
                    driver, self.tracker.launch_failed(i.task_id.value for i in infos)
                )

    async def _decline(self, driver: SchedulerDriver, ids: list[str], refuse: float) -> None:
        await driver.call(
            s.Call(
                type="DECLINE",
                decline=s.Decline(
                    offer_ids=[ID(o) for o in ids], filters=Filters(refuse_seconds=refuse)
                ),
            )
        )

    async def tick(self) -> None:
        await self.submit(p.Tick())
        sink = self.sink
        if sink is not None:
            await self._apply(sink, self.tracker.tick(self.clock()))
            if self.tracker.ready:
                async with self.lock:
                    await self._send_kills(sink)


class CiRunner(Runner):
    """One instance of the ci framework: elected among the instances sharing ``state``,
    registered with the master only while the rules need or hold agents (unless the
    configuration says ``on-demand = false``)."""

    def __init__(
        self,
        ci: CiFramework,
        master: str,
        state: str | Path,
        *,
        unregister_after: float = 5.0,
        lease_ttl: float = 5.0,
        session_timeout: float = 10.0,
        tick_interval: float = 0.5,
    ) -> None:
        framework = Framework()
        framework.name = ci.config.name
        framework.role = ci.config.role
        super().__init__(
            framework,
            master,
            state,
            lease_ttl=lease_ttl,
            session_timeout=session_timeout,
            tick_interval=tick_interval,
        )
        self.ci = ci
        self.unregister_after = unregister_after
        self.halt = asyncio.Event()
        self.registered = False
        self.main: asyncio.Task[None] | None = None

    def framework_info(self) -> FrameworkInfo:
        fid = self.ci.framework_id
        return FrameworkInfo(
            user=self.user,
            name=self.ci.config.name,
            id=ID(fid) if fid else None,
            failover_timeout=self.framework.failover_timeout,
            checkpoint=True,
            roles=[self.ci.config.role],
            capabilities=[Capability(type="MULTI_ROLE")],
            webui_url=self.framework.webui_url,
        )

    def wants_master(self) -> bool:
        return not self.ci.config.on_demand or self.ci.state.needs_master()

    async def run(self) -> None:
        self.main = asyncio.current_task()
        self.state = await open_state(
            self.location,
            self.ci.config.name,
            lease_ttl=self.lease_ttl,
            session_timeout=self.session_timeout,
        )
        try:
            try:
                await self.state.election.campaign()
            except asyncio.CancelledError:
                if self.halt.is_set():
                    return
                raise
            self.leading.set()
            self.ci.store = self.state.store
            await self.ci.load()
            log.info("ci: leading (framework %s)", self.ci.framework_id or "not registered")
            ticker = asyncio.create_task(self._ticks())
            lost = asyncio.create_task(self.state.election.lost.wait())
            try:
                while not self.halt.is_set() and not lost.done():
                    if not self.wants_master():
                        await self._wait_for_need(lost)
                        continue
                    await self._registered(lost)
            finally:
                for t in (ticker, lost):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
        finally:
            await self.state.close()

    async def _wait_for_need(self, lost: asyncio.Task[bool]) -> None:
        self.ci.changed.clear()
        if self.wants_master():
            return
        changed = asyncio.create_task(self.ci.changed.wait())
        halted = asyncio.create_task(self.halt.wait())
        await asyncio.wait({changed, halted, lost}, return_when=asyncio.FIRST_COMPLETED)
        for t in (changed, halted):
            t.cancel()

    async def _registered(self, lost: asyncio.Task[bool]) -> None:
        """Subscribe; run until halted, fenced, or no longer needed for a while."""
        driver = self.driver = SchedulerDriver(self.master, self.framework_info(), self.ci)
        running = asyncio.create_task(driver.run())
        idle = asyncio.create_task(self._until_unneeded())
        halted = asyncio.create_task(self.halt.wait())
        self.registered = True
        try:
            await asyncio.wait({running, idle, halted, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost.done():
                self.fenced = True
                driver.fence()
            elif idle.done() and not running.done():
                log.info("ci: no agent needed or held: unregistering from the master")
                await driver.stop(failover=False)  # TEARDOWN: nothing runs
                await self._forget_framework()
            elif self.halt.is_set() and not running.done():
                held = bool(self.ci.state.agents)
                await driver.stop(failover=held)  # agents keep running for the next instance
                if not held:
                    await self._forget_framework()
            with contextlib.suppress(Exception):
                await running
        finally:
            self.registered = False
            self.ci.sink = None
            self.ci.tracker.disconnected()
            for t in (idle, halted):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def _forget_framework(self) -> None:
        self.ci.framework_id = None
        if self.ci.store is not None:
            await self.ci.store.delete(FRAMEWORK_ID)

    async def _until_unneeded(self) -> None:
        since: float | None = None
        while True:
            await asyncio.sleep(min(self.tick_interval, max(self.unregister_after, 0.05)))
            if self.wants_master() or self.ci.sink is None:
                since = None
                continue
            now = time.monotonic()
            since = since if since is not None else now
            if now - since >= self.unregister_after:
                return

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.ci.tick()
            except Fenced:
                return
            except (CallFailed, OSError, aiohttp.ClientError) as exc:
                log.warning("ci: %s", exc)
            except Exception:
                log.exception("ci: a tick failed")

    async def stop(self) -> None:
        """Stop this instance: agents that run keep running (the framework fails over to
        the next instance); with none, the framework is torn down."""
        self.halt.set()
        if not self.leading.is_set() and self.main is not None:
            self.main.cancel()  # still campaigning


__all__ = ["CiFramework", "CiRunner", "agent_task", "task_spec"]
