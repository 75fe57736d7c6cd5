"""``Services``: the services framework as the API and the page see it (Seam 2).

Construction (the daemon)::

    services = Services.create(master="127.0.0.1:5050", state="/var/lib/corral-services")
    server = FrameworkServer(services.runner, app, host, port)   # the api helper's app
    await server.start()
    await services.run()          # runs the Runner and the services shell until stopped
    ...
    await services.stop()         # from a signal handler: services.request_stop()

or, with a ``Runner`` built elsewhere (its framework must be a ``ServicesFramework``)::

    framework = ServicesFramework()
    runner = Runner(framework, master, state)
    services = Services(runner)
    await services.run()

Queries are synchronous and read in-memory indexes. Commands are async: they validate
against the current state, persist, then act; they raise ``NotFound``, ``AlreadyExists``,
``Locked``, ``BadRequest`` or ``NotLeader`` (see ``views``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from corral.frameworks.services import core as c
from corral.frameworks.services import deployments as dp
from corral.frameworks.services import queries as q
from corral.frameworks.services import records as rec
from corral.frameworks.services import taskinfo
from corral.frameworks.services.agent_totals import AgentTotals
from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.backoff import Backoff
from corral.frameworks.services.codec import now_version
from corral.frameworks.services.events import EventBus, EventQueue
from corral.frameworks.services.framework import ServicesFramework, app_goals, held_goals, preempted
from corral.frameworks.services.ids import is_under
from corral.frameworks.services.serviceports import assign_service_ports, service_ports
from corral.frameworks.services.state import App, Instance, State, config_of, counts
from corral.frameworks.services.views import (
    AlreadyExists,
    AppView,
    BadRequest,
    DeploymentResult,
    DeploymentView,
    InstanceView,
    Locked,
    NotFound,
    NotLeader,
    QueueItem,
)
from corral.resources import Resources, scalars
from corral.scheduler_client.placement import TaskSpec
from corral.scheduler_client.planner import Goal, Launch
from corral.scheduler_client.store import Store
from corral.scheduler_client.toolkit import CallSink, FrameworkCore, Runner
from corral.scheduler_client.tracker import KILLED, NotReconciled, TrackedTask
from corral.wire import scheduler as s
from corral.wire.tasks import TaskInfo, TaskStatus

log = logging.getLogger("corral.frameworks.services")


class Services:
    def __init__(
        self,
        runner: Runner | None = None,
        *,
        core: FrameworkCore | None = None,
        sink: CallSink | None = None,
        clock: Callable[[], float] = time.time,
        bus: EventBus | None = None,
        tick_interval: float = 0.5,
    ) -> None:
        """``Services(runner)`` in the daemon; ``Services(core=..., sink=FakeMaster)`` in
        tests (then ``await load()``, and ``await tick()`` to drive it)."""
        self.runner = runner
        fw = runner.framework if runner is not None else core.framework if core else None
        if not isinstance(fw, ServicesFramework):
            raise TypeError("Services needs a Runner or FrameworkCore of a ServicesFramework")
        self.fw = fw
        self.core = core
        self.sink = sink
        self.clock = clock
        self.bus = bus or EventBus()
        self.tick_interval = tick_interval
        self.st = State()
        self.framework_id: str | None = None
        self.loaded = False
        self.indexed = False
        self._pending: list[c.Effect] = []
        self._lock = asyncio.Lock()
        self._flushing = asyncio.Lock()
        self._flushes: set[asyncio.Task[None]] = set()
        self._last_version = ""
        self._specs: dict[tuple[str, str], TaskSpec] = {}
        self._goals: list[Goal] | None = None
        self._stopping = False
        self._totals = AgentTotals()
        fw.goals_of = self._desired
        fw.launch_hook = self._task_info
        fw.update_hook = self._on_update
        fw.inverse_hook = self._on_inverse_offer
        fw.rescind_hook = lambda offer_id: c.agent_returned(self.st, offer_id)
        fw.moved_hook = lambda: c.moved(self.st) if self.indexed else []
        fw.preempt_hook = self._on_preempted

    @classmethod
    def create(
        cls, master: str, state: str | Path, *, name: str = "services", lease_ttl: float = 5.0
    ) -> Services:
        return cls(Runner(ServicesFramework(name), master, state, lease_ttl=lease_ttl))

    # ------------------------------------------------------------------ lifecycle
    @property
    def leading(self) -> bool:
        return self.loaded and self.core is not None

    async def run(self) -> None:
        """Run the Runner and the services shell until stopped or fenced."""
        if self.runner is None:
            raise RuntimeError("Services.run needs a Runner")
        shell = asyncio.create_task(self._shell())
        try:
            await self.runner.run()
        finally:
            shell.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shell
            self.bus.close()

    async def stop(self) -> None:
        self._stopping = True
        if self.runner is not None:
            await self.runner.stop()

    def request_stop(self) -> None:
        if self.runner is not None:
            self._stopping = True
            self.runner.request_stop()

    async def _shell(self) -> None:
        assert self.runner is not None
        await self.runner.leading.wait()
        self.core = self.runner.core
        assert self.core is not None
        self.core.totals = self._resource_totals
        await self.load()
        while True:
            await asyncio.sleep(self.tick_interval)
            if self.runner.driver is None or not self.runner.driver.connected.is_set():
                continue
            self.sink = self.runner.driver
            try:
                await self.tick()
                await self._refresh_totals()
            except Exception:
                log.exception("services: a tick failed")

    async def load(self) -> None:
        """Read every app, deployment and instance version back (once, when leading)."""
        assert self.core is not None
        store = self.core.store
        st = self.st
        if store is not None:
            heads = [rec.decode_head(d) for d in await _values(store, "apphead/")]
            defs = [rec.decode_definition(d) for d in await _values(store, "app/")]
            deps = [rec.decode_deployment(d) for d in await _values(store, "deployment/")]
            self._instance_versions = {
                k.removeprefix("instance/"): rec.decode_instance(v)
                for k, v in zip(await store.keys("instance/"),
                                await _values(store, "instance/"), strict=False)
            }
            by_app: dict[str, dict[str, AppDefinition]] = {}
            for d in defs:
                by_app.setdefault(d.id, {})[d.version or ""] = d
            for h in heads:
                ds = by_app.get(h.app_id, {})
                latest = ds.get(h.latest)
                if latest is None:
                    log.error("services: app %s has no definition %s", h.app_id, h.latest)
                    continue
                app = App(h.app_id, latest, ds.get(h.goal) if h.goal else None, ds,
                          [v for v in h.versions if v in ds], deleting=h.deleting,
                          backoff=h.backoff, last_task_failure=h.last_task_failure)
                st.apps[h.app_id] = app
                st.group_app[rec.group_of_app(h.app_id)] = h.app_id
            for dep in sorted(deps, key=lambda d: d.started_at):
                st.deployments[dep.id] = dep
                for k, step in enumerate(dep.steps):
                    for _act, app_id in step:
                        found = st.apps.get(app_id)
                        if found is None:
                            continue
                        found.goal = dep.target[app_id] if k <= dep.current else \
                            dep.original.get(app_id)
        self.framework_id = self.core.framework_id
        self.loaded = True
        self._goals = None

    def _index(self) -> None:
        """Once reconciled: every tracked task under its app (O(tasks), once)."""
        assert self.core is not None
        versions = getattr(self, "_instance_versions", {})
        for t in self.core.tracker.tasks.values():
            if t.terminal:
                continue
            iv = versions.get(t.task_id)
            ok = c.adopt(self.st, t.task_id, iv.version if iv else None, t.agent_id,
                         t.hostname, list(t.ports), t.state, t.healthy, t.launched_at)
            if ok and t.desired == KILLED:
                app = self.st.apps[self.st.task_app[t.task_id]]
                app.instances[t.task_id].killing = True
        self.indexed = True
        self.st.ready = True
        now = self.clock()
        for app_id in list(self.st.apps):
            self._enqueue(c.converge(self.st, app_id, now))

    async def tick(self) -> None:
        """Timers: index once reconciled, backoff and unreachable timers, step progress,
        placement reasons; then carry out what is pending."""
        if self.core is None or not self.loaded:
            return
        self.framework_id = self.core.framework_id
        if not self.indexed:
            if not self.core.tracker.ready:
                return
            self._index()
        now = self.clock()
        self._enqueue(c.placement(self.st, self.core.unplaced, now))
        self._enqueue(c.tick(self.st, now))
        await self.flush()

    # ------------------------------------------------------------------ the toolkit side
    def _desired(self) -> Sequence[Goal]:
        if not self.indexed:
            assert self.core is not None
            return held_goals(self.core.tracker.tasks.values())
        if self._goals is None or self.st.dirty:
            self.st.dirty.clear()
            self._goals = app_goals(self.st, self._specs)
        return self._goals

    def _task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        app_id = self.st.group_app.get(launch.goal.group)
        app = self.st.apps.get(app_id or "")
        if app is None or app.goal is None:
            raise RuntimeError(f"services: no app for group {launch.goal.group}")
        a = launch.assignment
        self._enqueue(c.launched(self.st, app.app_id, task_id, a.agent_id, a.hostname,
                                 list(a.ports), self.clock()))
        self._goals = None
        return taskinfo.task_info(app.goal, task_id, a, framework_name=self.fw.name)

    def _on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        if not self.indexed:
            return
        tid = task.task_id
        if tid not in self.st.task_app and not task.terminal:
            c.adopt(self.st, tid, None, task.agent_id, task.hostname, list(task.ports),
                    task.state, task.healthy, task.launched_at)
        self._enqueue(c.updated(
            self.st, tid, status.state, healthy=status.healthy, message=status.message,
            reason=status.reason, agent_id=status.agent_id.value if status.agent_id else None,
            ended=task.terminal, killed=task.desired == KILLED, now=self.clock()))
        self._goals = None
        with contextlib.suppress(RuntimeError):
            job = asyncio.get_running_loop().create_task(self.flush())
            self._flushes.add(job)
            job.add_done_callback(self._flushed)

    def _on_inverse_offer(self, offer_id: str, agent_id: str) -> None:
        log.info("services: agent %s is being drained: moving its instances", agent_id)
        self._enqueue(c.agent_draining(self.st, offer_id, agent_id, self.clock()))
        self._goals = None

    def _on_preempted(self, task_ids: list[str], reason: str) -> list[str]:
        log.info("services: %s", reason)
        if not self.indexed:
            return task_ids
        effects, others = preempted(self.st, task_ids, self.clock())
        self._enqueue(effects)
        self._goals = None
        job = asyncio.get_running_loop().create_task(self.flush())
        self._flushes.add(job)
        job.add_done_callback(self._flushed)
        return others

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("services: carrying out effects failed", exc_info=task.exception())

    def _enqueue(self, effects: list[c.Effect]) -> None:
        """The synchronous part at once (events, the tracker's kill marks); the rest
        (store writes, calls) in order by ``flush``."""
        for e in effects:
            if isinstance(e, c.Publish):
                with contextlib.suppress(ValueError):
                    self.bus.publish(e.event_type, e.payload, self.clock())
            else:
                self._pending.append(e)

    async def flush(self) -> None:
        assert self.core is not None
        async with self._flushing:  # one at a time: effects are carried out in order
            while self._pending:
                batch, self._pending = self._pending, []
                for e in batch:
                    await self._carry_out(e)

    async def _carry_out(self, e: c.Effect) -> None:
        assert self.core is not None
        store = self.core.store
        if isinstance(e, c.Put):
            if store is not None:
                await store.put(e.key, e.data)
        elif isinstance(e, c.Delete):
            if store is not None:
                await store.delete(e.key)
        elif isinstance(e, c.Kill):
            if self.sink is None or e.task_id not in self.core.tracker.tasks:
                return
            try:
                changes = self.core.tracker.kill(e.task_id, e.grace)
            except NotReconciled:
                return
            await self.core.apply(self.sink, changes)
        elif isinstance(e, c.Revive) and self.sink is not None:
            with contextlib.suppress(Exception):
                await self.sink.call(s.Call(type="REVIVE", revive=s.Roles()))

    def _resource_totals(self) -> dict[str, Resources]:
        return {a: scalars(**t) for a, t in self.st.totals.items()}

    async def _refresh_totals(self) -> None:
        driver = self.runner.driver if self.runner else None
        totals = await self._totals.read(driver, self.clock())
        if totals is not None:
            self.st.totals = totals

    # ------------------------------------------------------------------ queries
    def apps(self) -> list[AppView]:
        return q.apps(self.st)

    def app(self, app_id: str) -> AppView | None:
        return q.app(self.st, app_id)

    def versions(self, app_id: str) -> list[str]:
        return q.versions(self.st, app_id)

    def version(self, app_id: str, version: str) -> AppDefinition | None:
        return q.version(self.st, app_id, version)

    def instances(self, app_id: str | None = None) -> list[InstanceView]:
        return q.instances(self.st, app_id)

    def deployments(self) -> list[DeploymentView]:
        return q.deployments(self.st, self.clock())

    def queue(self) -> list[QueueItem]:
        return q.queue(self.st, self.clock())

    def why(self, app_id: str) -> list[str]:
        return q.why(self.st, app_id)

    def subscribe(self) -> EventQueue:
        return self.bus.subscribe()

    def publish(self, event_type: str, payload: dict[str, object]) -> None:
        self.bus.publish(event_type, payload, self.clock())

    # ------------------------------------------------------------------ commands
    def _check_leading(self) -> None:
        if not self.leading or not self.indexed:
            raise NotLeader("not leading, or still reconciling: try again shortly")

    def _stamp(self) -> str:
        t = self.clock()
        v = now_version(t)
        while v <= self._last_version:
            t += 0.001
            v = now_version(t)
        self._last_version = v
        return v

    async def _deploy(self, target: dict[str, AppDefinition | None], version: str, *,
                      force: bool, original: dict[str, AppDefinition | None] | None = None,
                      kill_first: list[str] | None = None) -> DeploymentResult:
        st, now = self.st, self.clock()
        locks = sorted({d for a in target for d in st.locks(a)})
        if locks and not force:
            raise Locked(sorted(target), locks)
        if original is None:
            original = {}
            for a in target:
                app = st.apps.get(a)
                original[a] = None if app is None or app.deleting else app.definition
        everyone = {a.app_id: a.definition for a in st.apps.values() if not a.deleting}
        for a, d in target.items():
            if d is None:
                everyone.pop(a, None)
            else:
                everyone[a] = d
        dep = dp.plan(str(uuid.uuid4()), version, original, target, everyone, now, kill_first)
        for d_id in locks:
            self._enqueue(c.cancel(st, d_id, now))
        store = self.core.store if self.core else None
        if store is not None:  # persist before acting
            for a, d in target.items():
                if d is not None:
                    await store.put(rec.app_key(a, d.version or ""), rec.encode(d))
            await store.put(rec.deployment_key(dep.id), rec.encode(dep))
        self._enqueue(c.start_deployment(st, dep, now))
        self._goals = None
        await self.flush()
        return DeploymentResult(dep.id, version)

    async def put_apps(
        self, apps: list[AppDefinition], *, force: bool = False, create: bool = True
    ) -> DeploymentResult:
        async with self._lock:
            self._check_leading()
            version = self._stamp()
            target: dict[str, AppDefinition | None] = {}
            changing = {a.id for a in apps}
            taken = {
                p
                for a in self.st.apps.values()
                if a.app_id not in changing and not a.deleting
                for p in service_ports(a.definition)
            }
            for new in apps:
                old = self.st.apps.get(new.id)
                current = None if old is None or old.deleting else old.definition
                if current is None and not create:
                    raise NotFound.app(new.id)
                keep = service_ports(current) if current is not None else []
                new = assign_service_ports(new, taken, keep=keep)  # Invalid when none left
                taken |= set(service_ports(new))
                target[new.id] = dp.stamp(new, current, version)
            return await self._deploy(target, version, force=force)

    async def create_app(self, app: AppDefinition, *, force: bool = False) -> DeploymentResult:
        old = self.st.apps.get(app.id)
        if old is not None and not old.deleting:
            raise AlreadyExists(app.id)
        return await self.put_apps([app], force=force)

    async def delete_apps(self, app_ids: list[str], *, force: bool = False) -> DeploymentResult:
        async with self._lock:
            self._check_leading()
            for a in app_ids:
                if self.app(a) is None:
                    raise NotFound.app(a)
            return await self._deploy(dict.fromkeys(app_ids), self._stamp(), force=force)

    async def restart(self, app_id: str, *, force: bool = False) -> DeploymentResult:
        async with self._lock:
            self._check_leading()
            app = self.st.apps.get(app_id)
            if app is None or app.deleting:
                raise NotFound.app(app_id)
            version = self._stamp()
            new = dp.stamp(app.definition, app.definition, version, restart=True)
            return await self._deploy({app_id: new}, version, force=force)

    async def scale_group(
        self, group_id: str, factor: float, *, force: bool = False
    ) -> DeploymentResult:
        async with self._lock:
            self._check_leading()
            version = self._stamp()
            target: dict[str, AppDefinition | None] = {}
            for a in self.st.apps.values():
                if not a.deleting and is_under(a.app_id, group_id):
                    scaled = msgspec.structs.replace(
                        a.definition, instances=math.ceil(a.definition.instances * factor))
                    target[a.app_id] = dp.stamp(scaled, a.definition, version)
            if not target:
                raise NotFound(f"Group '{group_id}' does not exist")
            return await self._deploy(target, version, force=force)

    async def kill(
        self,
        task_ids: list[str],
        *,
        scale: bool = False,
        wipe: bool = False,
        force: bool = False,
    ) -> list[InstanceView] | DeploymentResult:
        async with self._lock:
            self._check_leading()
            found: list[Instance] = []
            for tid in task_ids:
                app = self.st.apps.get(self.st.task_app.get(tid, ""))
                if app is None or tid not in app.instances:
                    raise NotFound(f"Task '{tid}' does not exist")
                found.append(app.instances[tid])
            if not scale:
                views = [q.instance_view(i) for i in found]
                now = self.clock()
                for i in found:
                    self._enqueue(c.kill_instance(self.st, i.task_id))
                    self._enqueue(c.converge(self.st, i.app_id, now))
                self._goals = None
                await self.flush()
                return views
            version = self._stamp()
            target: dict[str, AppDefinition | None] = {}
            for i in found:
                app = self.st.apps[i.app_id]
                base = target.get(i.app_id) or app.definition
                assert base is not None
                target[i.app_id] = msgspec.structs.replace(
                    base, instances=max(0, base.instances - 1))
            target = {a: dp.stamp(d, self.st.apps[a].definition, version)
                      for a, d in target.items() if d is not None}
            return await self._deploy(target, version, force=force,
                                      kill_first=[i.task_id for i in found])

    async def cancel_deployment(
        self, deployment_id: str, *, force: bool = False
    ) -> DeploymentResult | None:
        async with self._lock:
            self._check_leading()
            dep = self.st.deployments.get(deployment_id)
            if dep is None:
                raise NotFound(f"DeploymentPlan {deployment_id} does not exist")
            if force:
                self._enqueue(c.cancel(self.st, deployment_id, self.clock()))
                await self.flush()
                return None
            version = self._stamp()
            back = dict(dep.original)
            return await self._deploy(back, version, force=True)

    async def reset_delay(self, app_id: str) -> None:
        async with self._lock:
            app = self.st.apps.get(app_id)
            if app is None or app.deleting:
                raise NotFound.app(app_id)
            app.backoff = Backoff()
            self._enqueue([c.Put(rec.head_key(app_id), rec.encode(app.head()))])
            self._enqueue(c.converge(self.st, app_id, self.clock()))
            self._goals = None
            await self.flush()


async def _values(store: Store, prefix: str) -> list[bytes]:
    keys = await store.keys(prefix)
    out: list[bytes] = []
    for i in range(0, len(keys), 64):
        got = await asyncio.gather(*(store.get(k) for k in keys[i:i + 64]))
        out += [g for g in got if g is not None]
    return out


__all__ = [
    "AlreadyExists",
    "AppView",
    "BadRequest",
    "DeploymentResult",
    "DeploymentView",
    "EventQueue",
    "InstanceView",
    "Locked",
    "NotFound",
    "NotLeader",
    "QueueItem",
    "Services",
    "config_of",
    "counts",
]
