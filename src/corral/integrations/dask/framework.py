"""The dask framework on the toolkit, and its shell in the client's process.

``DaskFramework`` is a toolkit ``Framework``: its goals are the slots' counts, and its
``task_info`` binds each launch to a slot and builds the process's command line. It
registers with ``failover_timeout`` 0: when the client's process dies, the master removes
the framework and kills its tasks at once.

``CorralDask`` runs it (a ``Runner`` on the cluster's event loop, its store in a private
temporary directory) and is what ``CorralScheduler`` and ``CorralWorker`` call: want a
process, wait for the scheduler's address, release a process and wait for its task's end,
and say why what waits cannot be placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence

from distributed.comm.core import CommClosedError
from distributed.core import rpc

from corral.integrations.dask import slots as sl
from corral.integrations.dask.commands import (
    SCHEDULER_GROUP,
    WORKER_GROUP,
    SchedulerOptions,
    WorkerOptions,
    scheduler_address,
    scheduler_argv,
    scheduler_spec,
    worker_argv,
    worker_spec,
)
from corral.scheduler_client import (
    CallFailed,
    Fenced,
    Framework,
    Goal,
    Runner,
    TrackedTask,
    Unknown,
    command_task,
)
from corral.scheduler_client.planner import Launch
from corral.scheduler_client.tracker import NotReconciled
from corral.wire import scheduler as s
from corral.wire.tasks import TaskInfo, TaskStatus

log = logging.getLogger("corral.integrations.dask")

SCHEDULER = "scheduler"  # the scheduler's slot name (workers are named by SpecCluster)
KILL_GRACE = 5.0  # SIGTERM, then SIGKILL after this
HOUSEKEEPING = 0.2  # seconds between two rounds of kills and revives
REVIVE_EVERY = 0.5


class DaskFramework(Framework):
    failover_timeout = 0.0  # the client's process is the framework: its death ends it all
    unknown_tasks = Unknown.KILL
    refuse_seconds = 5.0

    def __init__(
        self,
        name: str,
        python: str,
        scheduler: SchedulerOptions,
        worker: WorkerOptions,
        *,
        role: str = "*",
        max_worker_failures: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.role = role
        self.python = python
        self.scheduler_options = scheduler
        self.worker_options = worker
        self.specs = {SCHEDULER_GROUP: scheduler_spec(scheduler), WORKER_GROUP: worker_spec(worker)}
        self.max_worker_failures = max_worker_failures
        self.clock = clock
        self.slots = sl.Slots()
        self.scheduler_address: str | None = None  # where workers connect
        self.listeners: list[Callable[[], None]] = []

    def notify(self) -> None:
        for f in list(self.listeners):
            f()

    # ------------------------------------------------------------------ slots
    def want_scheduler(self) -> None:
        sl.want(self.slots, SCHEDULER, SCHEDULER_GROUP, self.clock(), max_failures=1)

    def want_worker(self, name: str, scheduler: str) -> None:
        self.scheduler_address = scheduler
        sl.want(self.slots, name, WORKER_GROUP, self.clock(), self.max_worker_failures)

    # ------------------------------------------------------------------ toolkit hooks
    def desired(self) -> Sequence[Goal]:
        counts = sl.goal_counts(self.slots, (SCHEDULER_GROUP, WORKER_GROUP))
        if self.scheduler_address is None:  # no worker before there is a scheduler to join
            counts[WORKER_GROUP] = 0
        return [
            Goal(spec, counts[group], kill_grace_period=KILL_GRACE)
            for group, spec in self.specs.items()
        ]

    def task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        a = launch.assignment
        group = launch.goal.group
        slot = sl.bind(self.slots, group, task_id, a.hostname, a.ports, self.clock())
        role = launch.goal.spec.role
        if slot is None:  # released while this launch was planned: a no-op that ends at once
            return command_task(
                task_id, f"{group} (unneeded)", a.agent_id, "true", a.resources, role=role
            )
        if group == SCHEDULER_GROUP:
            opts = self.scheduler_options
            argv = scheduler_argv(self.python, opts, a.hostname, a.ports)
            env = dict(opts.env)
        else:
            assert self.scheduler_address is not None  # desired() wants no worker before
            wopts = self.worker_options
            argv = worker_argv(
                self.python,
                wopts,
                self.scheduler_address,
                slot.name,
                a.hostname,
                a.ports,
                a.resources,
            )
            env = dict(wopts.env)
        log.info("dask: launching %s as task %s on %s", slot.name, task_id, a.hostname)
        return command_task(
            task_id,
            f"dask {slot.name}",
            a.agent_id,
            argv[0],
            a.resources,
            role=role,
            shell=False,
            arguments=argv,
            env=env,
        )

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        change = sl.update(
            self.slots,
            task.task_id,
            status.state,
            status.message or "",
            self.clock(),
            status.timestamp,
        )
        if change is not None and change.what == "ended":
            if change.again:
                log.warning("dask: %s ended (%s); launching it again", change.name, change.message)
            elif change.message != "TASK_FINISHED":
                log.error(
                    "dask: %s ended (%s); not launching it again", change.name, change.message
                )
        self.notify()

    def on_unplaced(self, group: str, reason: str) -> None:
        waiting = [str(slot.name) for slot in sl.pending(self.slots, group)]
        if waiting:
            names = ", ".join(waiting[:3]) + (
                f" and {len(waiting) - 3} more" if waiting[3:] else ""
            )
            log.warning("dask: %s cannot be placed yet: %s", names, reason)
        self.notify()


class CorralDask:
    """The framework's shell: a ``Runner`` and a housekeeping loop on the running loop."""

    def __init__(
        self, master: str, framework: DaskFramework, *, connect_timeout: float = 30.0
    ) -> None:
        self.master = master
        self.framework = framework
        self.connect_timeout = connect_timeout
        self.runner: Runner | None = None
        self._dir: str | None = None
        self._run: asyncio.Task[None] | None = None
        self._house: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._last_revive = float("-inf")
        self._revive_due = False
        framework.listeners.append(self._wake)

    # ------------------------------------------------------------------ waiting
    def _wake(self) -> None:
        for f in self._waiters:
            if not f.done():
                f.set_result(None)
        self._waiters.clear()

    async def _changed(self, timeout: float) -> None:
        f = asyncio.get_running_loop().create_future()
        self._waiters.append(f)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(f, timeout)

    @property
    def ready(self) -> bool:
        r = self.runner
        return bool(
            r is not None
            and r.core is not None
            and r.core.tracker.ready
            and r.driver is not None
            and r.driver.connected.is_set()
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Register with the master; raise, saying why, if that does not happen in time."""
        if self.runner is not None:
            return
        self._dir = tempfile.mkdtemp(prefix="corral-dask-")
        # One instance, on a store of its own: the election is a formality, and a short
        # lease would fence us (and so end the cluster) whenever the client's loop is busy
        # for a few seconds, e.g. unpickling a large result.
        self.runner = Runner(self.framework, self.master, self._dir, lease_ttl=24 * 3600.0)
        self._run = asyncio.create_task(self.runner.run())
        deadline = time.monotonic() + self.connect_timeout
        while not self.ready:
            if self._run.done():
                exc = self._run.exception()
                raise RuntimeError(f"corral: the dask framework stopped: {exc!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"corral: not registered with the master at {self.master} after "
                    f"{self.connect_timeout:g}s (is it running and reachable?)"
                )
            await asyncio.sleep(0.05)
        self._house = asyncio.create_task(self._housekeeping())
        log.info("dask: registered with %s", self.master)

    async def stop(self) -> None:
        """Tear the framework down (the master kills whatever task is left)."""
        if self._house is not None:
            self._house.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._house
        r = self.runner
        if r is not None:
            if r.driver is not None:
                await r.driver.stop(failover=False)  # TEARDOWN
            else:
                await r.stop()
        if self._run is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._run, 10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING)
            try:
                await self._send_kills()
                await self._revive()  # one put off by the rate limit
            except (Fenced, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("dask: housekeeping failed")

    async def _send_kills(self) -> None:
        r = self.runner
        if not self.ready or r is None or r.core is None or r.driver is None:
            return
        for tid in list(self.framework.slots.unsent):
            try:
                changes = r.core.tracker.kill(tid, KILL_GRACE)
            except KeyError:  # ended already
                sl.kill_sent(self.framework.slots, tid)
                self.framework.slots.ending.discard(tid)
                continue
            except NotReconciled:
                return
            sl.kill_sent(self.framework.slots, tid)
            try:
                await r.core.apply(r.driver, changes)
            except CallFailed as exc:
                log.warning("dask: killing %s: %s (the tracker asks again)", tid, exc)

    async def _revive(self, now: bool = False) -> None:
        """Ask for offers again on new demand (offers declined while nothing waited were
        filtered away for ``refuse_seconds``), at most every ``REVIVE_EVERY`` seconds. While
        a process waits for room nothing more is needed: declined offers come back after
        ``refuse_seconds``, and resources that free up are offered at once."""
        if now:
            self._revive_due = True
        r = self.runner
        t = time.monotonic()
        if not self._revive_due or t - self._last_revive < REVIVE_EVERY:
            return
        if not self.ready or r is None or r.driver is None:
            return
        self._revive_due = False
        self._last_revive = t
        with contextlib.suppress(CallFailed):
            await r.driver.call(s.Call(type="REVIVE", revive=s.Roles()))

    # ------------------------------------------------------------------ the processes
    async def start_scheduler(self, timeout: float) -> str:
        """Launch the scheduler; its address once it accepts connections."""
        fw = self.framework
        fw.want_scheduler()
        await self._revive(now=True)
        deadline = time.monotonic() + timeout
        while True:
            slot = fw.slots.slots[SCHEDULER]
            if slot.state in (sl.FAILED, sl.FINISHED):
                raise RuntimeError(
                    f"the dask scheduler's task {slot.last_task} ended: {slot.message} "
                    "(its stderr is in the task's sandbox)"
                )
            if slot.state == sl.RUNNING:
                address = scheduler_address(slot.host, slot.ports)
                if await _is_our_scheduler(address, slot.running_at):
                    return address
            if time.monotonic() > deadline:
                why = self.reasons().get(SCHEDULER, slot.state)
                raise TimeoutError(f"the dask scheduler is not up after {timeout:g}s: {why}")
            await self._changed(0.1 if slot.state == sl.RUNNING else 1.0)

    async def start_worker(self, name: str, scheduler: str) -> None:
        self.framework.want_worker(name, scheduler)
        await self._revive(now=True)

    async def release(self, name: str, wait: float = KILL_GRACE + 5.0) -> None:
        """``name`` should stop: kill its task (if it has one) and wait for the task's end."""
        tid = sl.release(self.framework.slots, name)
        self.framework.notify()
        if tid is None:
            return
        await self._send_kills()
        deadline = time.monotonic() + wait
        while tid in self.framework.slots.ending and time.monotonic() < deadline:
            await self._changed(0.5)

    # ------------------------------------------------------------------ queries
    def reasons(self) -> dict[str, str]:
        """Why each waiting process waits: the placement's reason for its group."""
        fw = self.framework
        core = self.runner.core if self.runner is not None else None
        unplaced = core.unplaced if core is not None else {}
        out = {}
        for slot in sl.pending(fw.slots):
            why = unplaced.get(slot.group)
            if not self.ready:
                why = f"not registered with the master at {self.master}"
            elif why is None:
                waited = max(0.0, fw.clock() - slot.since)
                why = f"waiting for an offer from the master ({waited:.0f}s so far)"
            out[slot.name] = why
        return out

    def tasks(self) -> dict[str, str]:
        """The live task of each process, by name."""
        return {
            slot.name: slot.task_id
            for slot in self.framework.slots.slots.values()
            if slot.task_id is not None
        }


async def _is_our_scheduler(address: str, running_at: float | None) -> bool:
    """A dask scheduler answers at ``address``, and it started after our task did (by the
    agent's clock, which is its machine's): not some other process on the same port."""
    try:
        async with rpc(address, timeout=2) as r:  # type: ignore[no-untyped-call]
            ident = await asyncio.wait_for(r.identity(), 2)
    except (OSError, TimeoutError, CommClosedError):
        return False
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        return False
    started = ident.get("started")
    if running_at is None or not isinstance(started, int | float):
        return True  # an agent that sends no timestamps: trust the port
    return float(started) >= running_at - 1.0


__all__ = ["CorralDask", "DaskFramework"]
