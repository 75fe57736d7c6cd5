"""The framework toolkit: store + election + driver + tracker + placement, tied together.

A framework author subclasses ``Framework`` and writes decisions only: ``desired()`` returns
the ``Goal``s (what should run, how many), optionally ``task_info`` (how a task is built) and
``on_update`` (to watch tasks). ``run_framework`` does the rest: it elects one leader among
the instances sharing a store, subscribes with the framework id kept there (and the
framework's ``failover_timeout``), reconciles before acting, launches and kills what the
planner says, and fences itself the moment it loses the election.

``FrameworkCore`` is the part that reacts to events; it makes its calls through any
``CallSink`` (the real driver, or ``corral.scheduler_client.testing.FakeMaster``), so a
framework's logic is unit-tested without processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import aiohttp

from corral.resources import Resources
from corral.scheduler_client.driver import (
    CallbackErrors,
    CallFailed,
    Fenced,
    Scheduler,
    SchedulerDriver,
)
from corral.scheduler_client.matching import command_task
from corral.scheduler_client.placement import agents_from_offers
from corral.scheduler_client.planner import Goal, Launch, Plan, plan
from corral.scheduler_client.priorities import Asker, missing, notice_of, request_call, with_labels
from corral.scheduler_client.store import FrameworkState, Store, open_state
from corral.scheduler_client.tracker import (
    Changes,
    TrackedTask,
    Tracker,
    Unknown,
    UnknownRule,
    decode_task,
    encode_task,
    new_task_id,
)
from corral.security.client import ClientSecurity
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import Capability, Filters, FrameworkInfo
from corral.wire.tasks import TaskInfo, TaskStatus

log = logging.getLogger("corral.scheduler_client.toolkit")

TASK_PREFIX = "task/"
REVIVE_EVERY = 0.5  # seconds between two REVIVEs for replacements


class CallSink(Protocol):
    async def call(self, call: s.Call) -> None: ...


class Framework:
    """Override ``desired`` (and, if you like, the other hooks). Keep them pure and quick:
    they run on the event loop between events."""

    name: str = "framework"
    role: str = "*"
    failover_timeout: float = 7 * 24 * 3600.0  # how long the master keeps our tasks for us
    unknown_tasks: UnknownRule = Unknown.KILL
    refuse_seconds: float = 5.0  # how long declined offers stay away
    webui_url: str | None = None  # the framework's own page, linked from the master's UI
    # Preemption (docs/preemption.md): after a goal stayed short this long, ask the master
    # to preempt lower-priority tasks for it (a REQUEST call), then again every
    # ``preemption_every`` seconds while it stays short; None: never ask.
    preemption_delay: float | None = 5.0
    preemption_every: float = 10.0

    def desired(self) -> Sequence[Goal]:
        """What should run now."""
        return []

    def task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        """The TaskInfo for one launch: by default the goal's command, with Marathon's
        ``PORT0..N``, ``PORTS``, ``PORT`` and ``HOST`` in the environment."""
        a = launch.assignment
        env = dict(launch.goal.env)
        for i, port in enumerate(a.ports):
            env[f"PORT{i}"] = str(port)
        if a.ports:
            env["PORT"] = str(a.ports[0])
            env["PORTS"] = ",".join(str(p) for p in a.ports)
        env["HOST"] = a.hostname
        return command_task(
            task_id,
            launch.goal.spec.name,
            a.agent_id,
            launch.goal.command,
            a.resources,
            role=launch.goal.spec.role,
            env=env,
        )

    def on_update(self, task: TrackedTask, status: TaskStatus) -> Awaitable[None] | None:
        """A status update for one of our tasks (after the tracker recorded it). It may be
        async: the update is acknowledged only once it returns (so a framework can persist
        what the update means before the agent forgets it)."""
        return None

    def on_unplaced(self, group: str, reason: str) -> None:
        """A goal that cannot be met with the offers at hand, and why."""
        log.info("%s: cannot place %s: %s", self.name, group, reason)

    def on_inverse_offer(self, offer_id: str, agent_id: str) -> None:
        """The master wants ``agent_id`` back (it is being drained): move what runs there.
        Say so through ``moved``. By default nothing is moved early: the master kills the
        tasks after its notice, and the goals relaunch them elsewhere."""

    def on_rescind_inverse_offer(self, offer_id: str) -> None:
        """The master no longer wants the agent back (reactivated, or drained already)."""

    def on_preempted(self, task_ids: list[str], reason: str) -> list[str]:
        """The master takes these tasks back for a higher-priority one (an inverse offer
        naming them). Return the ids the toolkit should kill now (the default: all of them;
        their goals launch them again when capacity returns). A framework that kills them
        through its own logic returns the others."""
        log.info("%s: preempted: %s", self.name, reason)
        return task_ids

    async def on_leading(self, store: Store | None, tracker: Tracker) -> None:
        """This instance leads: the tracked tasks are read back, and nothing is subscribed,
        launched or killed yet. Read the framework's own state from ``store`` here, so that
        ``desired()`` is complete before the planner acts on it (a goal missing then would
        kill its tasks). ``tracker.load`` adds tasks the framework knows and the tracker
        does not (reconciliation then asks the master about them)."""

    def moved(self) -> list[str]:
        """Inverse offers whose agent this framework has left: accepted on the next tick."""
        return []


class FrameworkCore:
    """Reacts to subscription, offers, updates and ticks; persists, then calls."""

    def __init__(
        self,
        framework: Framework,
        store: Store | None,
        tracker: Tracker | None = None,
        clock: Callable[[], float] = time.time,
        totals: Callable[[], dict[str, Resources]] | None = None,
    ) -> None:
        self.framework = framework
        self.store = store
        self.tracker = tracker or Tracker(framework.unknown_tasks)
        self.clock = clock
        self.totals = totals
        self.framework_id: str | None = None
        self.last_plan: Plan | None = None
        self.unplaced: dict[str, str] = {}
        self.last_revive = float("-inf")
        self.revive_pending = False
        self.asker = Asker()  # when to ask the master to preempt for a short goal

    async def load(self) -> str | None:
        """Read the framework id and the tracked tasks back from the store."""
        if self.store is None:
            return None
        tasks = []
        for key in await self.store.keys(TASK_PREFIX):
            data = await self.store.get(key)
            if data is not None:
                tasks.append(decode_task(data))
        self.tracker.load(tasks)
        self.framework_id = await self.store.framework_id()
        return self.framework_id

    async def apply(self, sink: CallSink, changes: Changes) -> None:
        """Persist first, then make the calls in order (a crash in between re-reconciles)."""
        if self.store is not None:
            if changes.persist:
                await self.store.put_many(
                    [(TASK_PREFIX + t.task_id, encode_task(t)) for t in changes.persist]
                )
            for tid in changes.forget:
                await self.store.delete(TASK_PREFIX + tid)
        for call in changes.calls:
            await sink.call(call)

    # ------------------------------------------------------------------ events
    async def subscribed(self, sink: CallSink, framework_id: str) -> None:
        if framework_id != self.framework_id and self.store is not None:
            await self.store.set_framework_id(framework_id)
        self.framework_id = framework_id
        await self.apply(sink, self.tracker.subscribed(self.clock()))

    def disconnected(self) -> None:
        self.tracker.disconnected()

    async def update(self, sink: CallSink, status: TaskStatus) -> None:
        changes = self.tracker.update(status, self.clock())
        await self.apply(sink, changes)
        tid = status.task_id.value
        ended = next((t for t in changes.ended if t.task_id == tid), None)
        task = self.tracker.tasks.get(tid) or ended
        if task is not None:
            done = self.framework.on_update(task, status)
            if done is not None:
                await done
        if ended is not None and self.tracker.ready:
            self.revive_pending = True  # a replacement may be due
            await self._revive(sink)

    async def _revive(self, sink: CallSink) -> None:
        """REVIVE at most once per ``REVIVE_EVERY`` seconds: 1,000 tasks ending at once (a
        rolling restart) ask for offers once, not 1,000 times; the tick sends what waits."""
        now = self.clock()
        if self.revive_pending and now - self.last_revive >= REVIVE_EVERY:
            self.revive_pending = False
            self.last_revive = now
            await sink.call(s.Call(type="REVIVE", revive=s.Roles()))

    async def offers(self, sink: CallSink, offers: list[s.Offer]) -> None:
        ids = [o.id.value for o in offers]
        if not self.tracker.ready:
            await self._decline(sink, ids, 1.0)  # not reconciled: act on nothing yet
            return
        p = plan(
            self.goals(),
            self.tracker.live(),
            agents_from_offers(offers),
            totals=self.totals() if self.totals else None,
        )
        self.last_plan = p
        for group, reason in p.unplaced.items():
            if self.unplaced.get(group) != reason:
                self.framework.on_unplaced(group, reason)
        self.unplaced = dict(p.unplaced)
        await self._kill(sink, p)
        by_agent: dict[str, list[Launch]] = {}
        for launch in p.launches:
            by_agent.setdefault(launch.assignment.agent_id, []).append(launch)
        for launches in by_agent.values():
            infos = []
            records = Changes()
            for launch in launches:
                tid = new_task_id(launch.goal.group)
                a = launch.assignment
                record = TrackedTask(
                    task_id=tid,
                    group=launch.goal.group,
                    agent_id=a.agent_id,
                    hostname=a.hostname,
                    attributes=_attributes_of(offers, a.agent_id),
                    ports=list(a.ports),
                    launched_at=self.clock(),
                    updated_at=self.clock(),
                )
                records.extend(self.tracker.launching(record))
                infos.append(with_labels(self.framework.task_info(launch, tid), launch.goal.spec))
            await self.apply(sink, records)  # every record of this ACCEPT in one write
            op = s.Operation(type="LAUNCH", launch=s.Launch(task_infos=infos))
            accept = s.Call(
                type="ACCEPT",
                accept=s.Accept(
                    offer_ids=[ID(o) for o in launches[0].assignment.offer_ids],
                    operations=[op],
                    filters=Filters(refuse_seconds=self.framework.refuse_seconds),
                ),
            )
            try:
                await sink.call(accept)
            except Fenced:
                raise
            except (CallFailed, OSError, aiohttp.ClientError) as exc:
                # Did the master get it? Ask (the periodic reconciliation asks again).
                log.warning("%s: launching failed: %s", self.framework.name, exc)
                asked = self.tracker.launch_failed(i.task_id.value for i in infos)
                with contextlib.suppress(CallFailed, OSError, aiohttp.ClientError):
                    await self.apply(sink, asked)
        if p.decline:
            await self._decline(sink, p.decline, self.framework.refuse_seconds)

    def goals(self) -> list[Goal]:
        """The framework's goals; a spec in the default role takes the framework's role
        (so its reservations are used, and the task is allocated to that role)."""
        role = self.framework.role
        out = []
        for g in self.framework.desired():
            if g.spec.role == "*" and role != "*":
                g = replace(g, spec=replace(g.spec, role=role))
            out.append(g)
        return out

    async def inverse_offers(self, sink: CallSink, inverse: list[s.InverseOffer]) -> None:
        for io in inverse:
            taken = notice_of(io)
            if taken is not None:
                await self._preempted(sink, io, taken)
            elif io.agent_id is not None:
                self.framework.on_inverse_offer(io.id.value, io.agent_id.value)
        await self._accept_moved(sink)

    async def _preempted(self, sink: CallSink, io: s.InverseOffer, task_ids: list[str]) -> None:
        """Kill the tasks a preemption takes back (their goals relaunch them later), then
        accept the inverse offer."""
        reason = io.preemption.reason if io.preemption is not None else ""
        goals = {g.group: g for g in self.goals()}
        for tid in self.framework.on_preempted(task_ids, reason):
            task = self.tracker.tasks.get(tid)
            if task is None or not task.live or not self.tracker.ready:
                continue
            goal = goals.get(task.group)
            await self.apply(sink, self.tracker.kill(tid, goal.kill_grace_period if goal else None))
        await sink.call(
            s.Call(
                type="ACCEPT_INVERSE_OFFERS",
                accept_inverse_offers=s.InverseOffers(inverse_offer_ids=[io.id]),
            )
        )

    async def ask_preemption(self, sink: CallSink, *, force: bool = False) -> None:
        """Ask the master to preempt for the goals that are short (``force``: now, without
        waiting ``preemption_delay``)."""
        delay = self.framework.preemption_delay
        if not self.tracker.ready or (delay is None and not force):
            return
        short = missing(self.goals(), self.tracker.live())
        requests = self.asker.due(
            short,
            self.clock(),
            delay or 0.0,
            self.framework.preemption_every,
            self.framework.role,
            force=force,
        )
        if requests:
            log.info(
                "%s: asking the master to preempt for %d task(s) of %s",
                self.framework.name, len(requests), ", ".join(sorted(short)),
            )  # fmt: skip
            await sink.call(request_call(requests))

    async def _accept_moved(self, sink: CallSink) -> None:
        moved = self.framework.moved()
        if moved:
            await sink.call(
                s.Call(
                    type="ACCEPT_INVERSE_OFFERS",
                    accept_inverse_offers=s.InverseOffers(inverse_offer_ids=[ID(i) for i in moved]),
                )
            )

    async def tick(self, sink: CallSink) -> None:
        """Timers: reconciliation retries, and kills (scaling down needs no offer)."""
        await self._accept_moved(sink)
        await self.apply(sink, self.tracker.tick(self.clock()))
        if self.tracker.ready and self.revive_pending:
            await self._revive(sink)
        if self.tracker.ready:
            p = plan(self.goals(), self.tracker.live(), [])
            await self._kill(sink, p)
            await self.ask_preemption(sink)

    async def _kill(self, sink: CallSink, p: Plan) -> None:
        goals = {g.group: g for g in self.goals()}
        for t in p.kills:
            goal = goals.get(t.group)
            grace = goal.kill_grace_period if goal else None
            await self.apply(sink, self.tracker.kill(t.task_id, grace))

    async def _decline(self, sink: CallSink, offer_ids: list[str], refuse: float) -> None:
        await sink.call(
            s.Call(
                type="DECLINE",
                decline=s.Decline(
                    offer_ids=[ID(o) for o in offer_ids], filters=Filters(refuse_seconds=refuse)
                ),
            )
        )


def _attributes_of(offers: list[s.Offer], agent_id: str) -> dict[str, str]:
    for a in agents_from_offers(o for o in offers if o.agent_id.value == agent_id):
        return dict(a.attributes)
    return {}


class _DriverScheduler(Scheduler):
    """Bridges the driver's callbacks to the core."""

    def __init__(self, core: FrameworkCore) -> None:
        self.core = core

    async def subscribed(self, driver: SchedulerDriver, framework_id: str) -> None:
        log.info("%s: subscribed as %s", self.core.framework.name, framework_id)
        await self.core.subscribed(driver, framework_id)

    async def offers(self, driver: SchedulerDriver, offers: list[s.Offer]) -> None:
        await self.core.offers(driver, offers)

    async def update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        await self.core.update(driver, status)

    async def inverse_offers(self, driver: SchedulerDriver, inverse: list[s.InverseOffer]) -> None:
        await self.core.inverse_offers(driver, inverse)

    def rescind_inverse_offer(self, driver: SchedulerDriver, inverse_offer_id: str) -> None:
        self.core.framework.on_rescind_inverse_offer(inverse_offer_id)

    def disconnected(self, driver: SchedulerDriver) -> None:
        self.core.disconnected()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        log.error("%s: the master says: %s", self.core.framework.name, message)


class Runner:
    """Run a ``Framework`` as one instance of an HA group sharing ``state`` (a directory or
    ``zk://`` URL). ``leading`` is set once this instance leads; ``subscribed`` once it
    subscribed; ``run`` returns when stopped or fenced."""

    def __init__(
        self,
        framework: Framework,
        master: str,
        state: str | Path,
        *,
        user: str | None = None,
        lease_ttl: float = 5.0,
        session_timeout: float = 10.0,
        on_callback_error: CallbackErrors = "log",
        tick_interval: float = 0.5,
        security: ClientSecurity | None = None,
    ) -> None:
        self.security = security  # None: the environment's (see SchedulerDriver)
        self.framework = framework
        self.master = master
        self.location = state
        self.user = user or getpass.getuser()
        self.lease_ttl = lease_ttl
        self.session_timeout = session_timeout
        self.on_callback_error: CallbackErrors = on_callback_error
        self.tick_interval = tick_interval
        self.leading = asyncio.Event()
        self.fenced = False
        self.state: FrameworkState | None = None
        self.core: FrameworkCore | None = None
        self.driver: SchedulerDriver | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._stopping = False

    async def run(self) -> None:
        """Campaign, then lead until stopped or fenced. Returns normally when stopped."""
        self._task = asyncio.current_task()
        self.state = await open_state(
            self.location,
            self.framework.name,
            lease_ttl=self.lease_ttl,
            session_timeout=self.session_timeout,
        )
        try:
            try:
                await self.state.election.campaign()
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            self.leading.set()
            core = self.core = FrameworkCore(self.framework, self.state.store)
            framework_id = await core.load()
            await self.framework.on_leading(self.state.store, core.tracker)
            log.info(
                "%s: leading (framework id %s, %d tracked tasks)",
                self.framework.name,
                framework_id or "new",
                len(core.tracker.tasks),
            )
            info = FrameworkInfo(
                user=self.user,
                name=self.framework.name,
                id=ID(framework_id) if framework_id else None,
                failover_timeout=self.framework.failover_timeout,
                checkpoint=True,
                roles=[self.framework.role],
                capabilities=[Capability(type="MULTI_ROLE")],
                webui_url=self.framework.webui_url,
            )
            driver = self.driver = SchedulerDriver(
                self.master,
                info,
                _DriverScheduler(core),
                on_callback_error=self.on_callback_error,
                security=self.security,
            )
            await self._lead(driver, core, self.state)
        finally:
            await self.state.close()

    async def _lead(self, driver: SchedulerDriver, core: FrameworkCore, st: FrameworkState) -> None:
        running = asyncio.create_task(driver.run())
        lost = asyncio.create_task(st.election.lost.wait())
        ticker = asyncio.create_task(self._tick(driver, core))
        try:
            await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost.done():
                self.fenced = True
                driver.fence()
            await running
        finally:
            for t in (lost, ticker):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def _tick(self, driver: SchedulerDriver, core: FrameworkCore) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            if not driver.connected.is_set():
                continue
            try:
                await core.tick(driver)
            except Fenced:
                return
            except CallFailed as exc:
                log.warning("%s: %s", self.framework.name, exc)
            except Exception:
                # The framework's own code (``desired``) raised: never lost, never silent.
                log.exception("%s: a tick failed", self.framework.name)
                if self.on_callback_error == "stop":
                    await driver.stop(failover=True)
                    return

    async def stop(self) -> None:
        """Stop this instance; the framework stays registered (another instance takes over,
        the lease or lock is released at once)."""
        self._stopping = True
        if self.driver is not None:
            await self.driver.stop(failover=True)
        elif self._task is not None:
            self._task.cancel()  # still campaigning

    def request_stop(self) -> None:
        """``stop`` from a signal handler."""
        self._stop_task = asyncio.get_running_loop().create_task(self.stop())


async def run_framework(
    framework: Framework,
    master: str,
    state: str | Path,
    *,
    lease_ttl: float = 5.0,
    session_timeout: float = 10.0,
    on_callback_error: CallbackErrors = "log",
) -> None:
    """Run ``framework`` until it is stopped or loses its election (see ``Runner``)."""
    runner = Runner(
        framework,
        master,
        state,
        lease_ttl=lease_ttl,
        session_timeout=session_timeout,
        on_callback_error=on_callback_error,
    )
    await runner.run()


__all__ = ["CallSink", "Framework", "FrameworkCore", "Goal", "Runner", "run_framework"]
