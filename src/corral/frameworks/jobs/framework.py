"""The jobs framework's shell: the core on the toolkit, the store, one timer.

``JobsShell`` owns the clock, the timer armed for the core's next wake, and the writer that
carries the core's effects out in order. A run's group is handed to ``desired()`` only after
its record is written (``durable``), so a run always exists in the store before its task.
When this instance becomes leader it reads the store (jobs, their states, active runs, the
runs of the instants since the last recorded one), gives it to the core, and re-asks the
master about tasks of running runs the toolkit no longer tracks (a run that ended during
the failover is then recorded once, from the master's answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from corral.frameworks.jobs import runs as R
from corral.frameworks.jobs.containers import container_info
from corral.frameworks.jobs.core import JobsCore
from corral.frameworks.jobs.effects import (
    DeleteJob,
    Effect,
    PutJob,
    PutRun,
    PutState,
    Revive,
    TrimRuns,
)
from corral.frameworks.jobs.model import Job, encode_job, stored_job
from corral.resources import scalars
from corral.scheduler_client import Framework, Goal, Runner, TaskSpec, Unknown, command_task
from corral.scheduler_client.placement import Constraint
from corral.scheduler_client.planner import Launch
from corral.scheduler_client.store import Store
from corral.scheduler_client.toolkit import TASK_PREFIX
from corral.scheduler_client.tracker import TrackedTask, encode_task, group_of
from corral.wire.tasks import TaskInfo, TaskStatus

log = logging.getLogger("corral.frameworks.jobs")


def _constraints(job: Job) -> tuple[Constraint, ...]:
    out = []
    for attr, op, value in job.constraints:
        mapped = {"EQUALS": "CLUSTER", "LIKE": "LIKE", "UNLIKE": "UNLIKE"}[op]
        out.append(Constraint.parse([attr, mapped, value]))
    return tuple(out)


class JobsFramework(Framework):
    name = "jobs"
    unknown_tasks = Unknown.ADOPT  # a live task of one of our runs; the planner kills strays
    refuse_seconds = 5.0

    def __init__(self, shell: JobsShell) -> None:
        self.shell = shell

    def desired(self) -> Sequence[Goal]:
        return self.shell.goals()

    def task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        return self.shell.task_info(launch, task_id)

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        self.shell.update(task, status)

    def on_unplaced(self, group: str, reason: str) -> None:
        self.shell.core.set_unplaced(group, reason)


class JobsShell:
    def __init__(self, *, history: int = 100, kill_grace: float = 3.0) -> None:
        self.core = JobsCore(history=history)
        self.framework = JobsFramework(self)
        self.runner: Runner | None = None
        self.durable: set[str] = set()
        self.kill_grace = kill_grace
        self.ready = asyncio.Event()
        self._queue: asyncio.Queue[tuple[list[Effect], asyncio.Future[None]]] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ clock
    @staticmethod
    def now() -> float:
        return time.time()

    @property
    def store(self) -> Store:
        assert self.runner is not None and self.runner.state is not None
        return self.runner.state.store

    # ------------------------------------------------------------------ lifecycle
    def attach(self, runner: Runner) -> None:
        self.runner = runner
        self._tasks.append(asyncio.create_task(self._lead()))
        self._tasks.append(asyncio.create_task(self.write_forever()))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _lead(self) -> None:
        assert self.runner is not None
        await self.runner.leading.wait()
        while self.runner.state is None or self.runner.core is None:
            await asyncio.sleep(0.01)
        store = self.store
        started = time.monotonic()
        jobs: list[Job] = []
        for key in await store.keys("job/"):
            data = await store.get(key)
            if data is not None:
                jobs.append(stored_job(data))
        states: dict[str, R.JobState] = {}
        for key in await store.keys("jobstate/"):
            data = await store.get(key)
            if data is not None:
                states[key[len("jobstate/") :]] = R.decode_state(data)
        tracked: dict[str, TrackedTask] = {}
        for key in await store.keys(TASK_PREFIX):
            data = await store.get(key)
            if data is not None:
                from corral.scheduler_client.tracker import decode_task

                t = decode_task(data)
                tracked[t.group or group_of(t.task_id)] = t
        wanted: set[tuple[str, str]] = set()
        now = self.now()
        children = {p for j in jobs for p in j.parents}
        for j in jobs:
            st = states.get(j.name) or R.JobState()
            for rid in [*st.active, *self.core.checks_on_load(j, st, now)]:
                wanted.add((j.name, rid))
            if j.name in children:
                for key in (await store.keys(f"run/{j.name}/"))[-20:]:
                    wanted.add((j.name, key.rsplit("/", 1)[1]))
        for g in tracked:
            parsed = R.parse_group(g)
            if parsed is not None:
                wanted.add((parsed[0], parsed[1]))
        runs: list[R.Run] = []
        for name, rid in sorted(wanted):
            data = await store.get(R.run_key(name, rid))
            if data is not None:
                runs.append(R.decode_run(data))
        live = {g: (t.task_id, t.agent_id or "", t.hostname) for g, t in tracked.items()}
        effects = self.core.load(jobs, states, runs, live, self.now())
        self.durable |= {r.group for r in self.core.runs.values()}
        orphans = []
        tracker = self.runner.core.tracker
        for r in self.core.runs.values():
            cur = r.current
            if r.state == R.RUNNING and cur and cur.task_id and cur.task_id not in tracker.tasks:
                t = TrackedTask(
                    task_id=cur.task_id,
                    group=r.group,
                    agent_id=cur.agent_id or None,
                    hostname=cur.host,
                    state="TASK_RUNNING",
                )
                tracker.load([t])
                await store.put(TASK_PREFIX + t.task_id, encode_task(t))
                orphans.append((t.task_id, t.agent_id))
        log.info(
            "jobs: loaded %d jobs and %d active runs in %.2f s",
            len(jobs),
            len(self.core.runs),
            time.monotonic() - started,
        )
        self.ready.set()
        await self.feed(effects)
        if orphans:
            driver = self.runner.driver
            while driver is None or not driver.connected.is_set():
                await asyncio.sleep(0.05)
                driver = self.runner.driver
            with contextlib.suppress(Exception):
                await driver.reconcile(orphans)

    # ------------------------------------------------------------------ effects
    def submit(self, effects: list[Effect]) -> asyncio.Future[None]:
        """Queue effects for the writer; the future is done once they are carried out."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((effects, fut))
        self._rearm()
        return fut

    async def feed(self, effects: list[Effect]) -> None:
        await self.submit(effects)

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        wake = self.core.next_wake()
        if wake is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + max(0.0, wake - self.now()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self.ready.is_set():
            self.submit(self.core.tick(self.now()))

    async def write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            revive = False
            states: dict[str, bytes] = {}
            puts: list[tuple[str, bytes]] = []  # written together, before any delete
            launchable: list[str] = []
            try:
                for effects, _ in batch:
                    for e in effects:
                        if isinstance(e, PutState):
                            states[e.name] = e.data
                        elif isinstance(e, Revive):
                            revive = True
                        elif isinstance(e, PutRun):
                            puts.append((R.run_key(e.job, e.run_id), e.data))
                            if e.launchable:
                                launchable.append(e.launchable)
                        elif isinstance(e, PutJob):
                            puts.append((f"job/{e.job.name}", encode_job(e.job)))
                        else:
                            await self._flush(puts, launchable)
                            await self._apply(e, states)
                puts += [(f"jobstate/{name}", data) for name, data in states.items()]
                await self._flush(puts, launchable)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            except Exception as exc:
                log.exception("jobs: writing to the store failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            if revive:
                await self._revive()

    async def _flush(self, puts: list[tuple[str, bytes]], launchable: list[str]) -> None:
        """Write the pending puts in one batch; only then may their runs be launched."""
        if puts:
            await self.store.put_many(puts)
            puts.clear()
        self.durable.update(launchable)
        launchable.clear()

    async def _apply(self, e: Effect, states: dict[str, bytes]) -> None:
        store = self.store
        if isinstance(e, DeleteJob):
            states.pop(e.name, None)
            await store.delete(f"job/{e.name}")
            await store.delete(f"jobstate/{e.name}")
            for key in await store.keys(f"run/{e.name}/"):
                await store.delete(key)
        elif isinstance(e, TrimRuns):
            keys = await store.keys(f"run/{e.job}/")
            ids = sorted((k.rsplit("/", 1)[1] for k in keys), key=R.sort_key)
            old = [i for i in ids if i not in e.active][: max(0, len(ids) - e.keep)]
            for rid in old:
                await store.delete(R.run_key(e.job, rid))

    async def _revive(self) -> None:
        driver = self.runner.driver if self.runner is not None else None
        if driver is not None and driver.connected.is_set():
            with contextlib.suppress(Exception):
                await driver.revive()

    # ------------------------------------------------------------------ toolkit hooks
    def goals(self) -> list[Goal]:
        if not self.ready.is_set():
            # Not loaded yet: keep whatever runs (no goal would kill it).
            tracker = self.runner.core.tracker if self.runner and self.runner.core else None
            if tracker is None:
                return []
            return [
                Goal(TaskSpec(name=t.group, group=t.group, resources=scalars(cpus=0.01)), 1)
                for t in tracker.live()
            ]
        out = []
        for r in self.core.wanted(self.now()):
            if r.group not in self.durable:
                continue
            e = self.core.jobs.get(r.job)
            if e is None:
                continue
            j = e.job
            spec = TaskSpec(
                name=j.name,
                group=r.group,
                resources=scalars(cpus=j.cpus, mem=j.mem, disk=j.disk),
                constraints=_constraints(j),
            )
            out.append(Goal(spec, 1, command=j.command, kill_grace_period=self.kill_grace))
        return out

    def task_info(self, launch: Launch, task_id: str) -> TaskInfo:
        group = launch.goal.group
        a = launch.assignment
        parsed = R.parse_group(group)
        e = self.core.jobs.get(parsed[0]) if parsed else None
        self.submit(self.core.launched(group, task_id, a.agent_id, a.hostname, self.now()))
        if e is None:
            return command_task(task_id, group, a.agent_id, "true", a.resources)
        j = e.job
        env = {v.name: v.value for v in j.environment_variables}
        env.update({"CHRONOS_JOB_NAME": j.name, "HOST": a.hostname})
        if parsed:
            env["CORRAL_JOB_RUN"] = parsed[1]
        info = command_task(
            task_id,
            f"ChronosTask:{j.name}",
            a.agent_id,
            j.command,
            a.resources,
            role=launch.goal.spec.role,
            shell=j.shell,
            arguments=list(j.arguments) if not j.shell else None,
            env=env,
            uris=list(j.uris) or [str(f.get("uri", "")) for f in j.fetch],
        )
        if j.container is not None:
            info.container = container_info(j.container)  # checked when the job was added
        return info

    def update(self, task: TrackedTask, status: TaskStatus) -> None:
        group = task.group or group_of(task.task_id)
        agent = status.agent_id.value if status.agent_id else ""
        effects = self.core.task_update(
            group, task.task_id, status.state, status.message or "", agent, self.now()
        )
        if effects:
            self.submit(effects)

    # ------------------------------------------------------------------ for the API
    def framework_id(self) -> str | None:
        return self.runner.core.framework_id if self.runner and self.runner.core else None


__all__ = ["JobsFramework", "JobsShell"]
