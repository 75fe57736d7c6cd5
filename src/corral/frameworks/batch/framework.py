"""The batch framework's shell: the queue core on the toolkit, its store records, the
commands the API calls.

One store record per job (``batch/job/<id>``), written whole in order by one writer (a
lock: the newest state is encoded inside it). A submission or cancellation is answered once
its record is written; a task's end is written before its update is acknowledged (the
toolkit awaits ``on_update``), so a restart never runs a finished element again and never
loses a queued one. When this instance becomes leader it reads the jobs back and gives the
tracker any element's task it no longer knows (reconciliation then says how it ended).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import time
from collections.abc import Callable, Sequence

import msgspec

from corral.frameworks.batch import queue as Q
from corral.frameworks.batch.arrays import ArraySpec
from corral.frameworks.batch.model import RUNNING, Job, JobRequest, decode_job, encode_job
from corral.resources import scalars
from corral.scheduler_client import Framework, FrameworkCore, Goal, TaskSpec, Unknown
from corral.scheduler_client.store import Store
from corral.scheduler_client.toolkit import TASK_PREFIX
from corral.scheduler_client.tracker import TrackedTask, Tracker, encode_task
from corral.wire.preemption import REASON_PREEMPTED
from corral.wire.tasks import TaskStatus

log = logging.getLogger("corral.frameworks.batch")

JOB_PREFIX = "batch/job/"
_EXIT = re.compile(r"exited with status (-?\d+)")
_STARTED = frozenset({"TASK_STARTING", "TASK_RUNNING"})
_TERMINAL = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)


def command_line(argv: Sequence[str]) -> str:
    """One argument is a shell command line as it is; several are quoted and joined."""
    return argv[0] if len(argv) == 1 else shlex.join(argv)


class BatchFramework(Framework):
    name = "batch"
    unknown_tasks = Unknown.ADOPT  # a live element's task: ours (the goals kill strays)
    refuse_seconds = 1.0

    def __init__(self, shell: BatchShell) -> None:
        self.shell = shell

    def desired(self) -> Sequence[Goal]:
        return self.shell.goals()

    def on_update(self, task: TrackedTask, status: TaskStatus) -> asyncio.Future[None] | None:
        return self.shell.update(task, status)

    async def on_leading(self, store: Store | None, tracker: Tracker) -> None:
        assert store is not None
        await self.shell.load(store, tracker)

    def on_unplaced(self, group: str, reason: str) -> None:
        self.shell.unplaced[group] = reason

    def on_preempted(self, task_ids: list[str], reason: str) -> list[str]:
        log.info("batch: preempted: %s", reason)
        self.shell.preempted.update(task_ids)
        return task_ids


class BatchShell:
    """Owns the queue state, the store writes and the clock."""

    def __init__(self, *, kill_grace: float = 3.0) -> None:
        self.state = Q.QueueState()
        self.framework = BatchFramework(self)
        self._core: Callable[[], FrameworkCore | None] = lambda: None
        self._store: Store | None = None
        self.kill_grace = kill_grace
        self.ready = asyncio.Event()  # the jobs are loaded: the API may answer
        self.unplaced: dict[str, str] = {}  # group -> why it waits (from the planner)
        self.preempted: set[str] = set()
        self._write = asyncio.Lock()

    @staticmethod
    def now() -> float:
        return time.time()

    @property
    def store(self) -> Store:
        assert self._store is not None, "the jobs are not loaded yet"
        return self._store

    @property
    def core(self) -> FrameworkCore | None:
        return self._core()

    def framework_id(self) -> str | None:
        core = self.core
        return core.framework_id if core is not None else None

    # ------------------------------------------------------------------ lifecycle
    def attach(self, core: Callable[[], FrameworkCore | None]) -> None:
        """``core``: the toolkit's core while this instance leads (``lambda: runner.core``)."""
        self._core = core

    async def load(self, store: Store, tracker: Tracker) -> None:
        """Read the jobs back (before the framework subscribes: the toolkit's
        ``on_leading``), and give the tracker the task of any element it no longer knows
        (its end was being written when we stopped; reconciliation will tell)."""
        self._store = store
        self.state = Q.QueueState()
        for key in await store.keys(JOB_PREFIX):
            data = await store.get(key)
            if data is None:
                continue
            try:
                job = decode_job(data)
            except msgspec.DecodeError as exc:  # never lose the others for one bad record
                log.error("batch: cannot read %s: %s", key, exc)
                continue
            self.state.jobs[job.id] = job
            self.state.next_seq = max(self.state.next_seq, job.seq + 1)
        known = {t.group for t in tracker.tasks.values()}
        orphans = []
        for job in self.state.jobs.values():
            for el in job.elements:
                cur = el.current
                group = Q.group_of(job.id, el.index)
                if el.state != RUNNING or cur is None or cur.ended_at is not None:
                    continue
                if group in known or cur.task_id in tracker.tasks:
                    continue
                orphans.append(
                    TrackedTask(
                        task_id=cur.task_id,
                        group=group,
                        agent_id=cur.agent_id,
                        hostname=cur.hostname or "",
                        state="TASK_RUNNING",
                        launched_at=cur.started_at,
                    )
                )
        if orphans:
            tracker.load(orphans)
            await store.put_many([(TASK_PREFIX + t.task_id, encode_task(t)) for t in orphans])
        log.info("batch: loaded %d job(s); %d task(s) to ask about", len(self.state.jobs),
                 len(orphans))  # fmt: skip
        self.ready.set()

    # ------------------------------------------------------------------ core
    async def _persist(self, effects: list[Q.Effect]) -> None:
        ids = [e.job_id for e in effects if isinstance(e, Q.Persist)]
        if not ids:
            return
        async with self._write:  # in order; the newest state of each job
            items = [(JOB_PREFIX + i, encode_job(self.state.jobs[i])) for i in dict.fromkeys(ids)]
            await self.store.put_many(items)

    async def submit(self, request: JobRequest, array: ArraySpec | None) -> Job:
        effects = Q.handle(self.state, Q.Submit(request, array), self.now())
        await self._persist(effects)
        self._wake()
        job_id = next(e.job_id for e in effects if isinstance(e, Q.Submitted))
        return self.state.jobs[job_id]

    async def cancel(self, job_id: str) -> bool:
        """False when there is no such job."""
        if job_id not in self.state.jobs:
            return False
        await self._persist(Q.handle(self.state, Q.Cancel(job_id), self.now()))
        return True

    def _wake(self) -> None:
        if self.core is not None:
            self.core.revive_pending = True  # the next tick REVIVEs

    def update(self, task: TrackedTask, status: TaskStatus) -> asyncio.Future[None] | None:
        st = status.state
        now = self.now()
        agent = status.agent_id.value if status.agent_id else task.agent_id
        event: Q.Event
        if st in _STARTED:
            cid = None
            if status.container_status and status.container_status.container_id:
                value = status.container_status.container_id.get("value")
                cid = value if isinstance(value, str) else None
            event = Q.Started(task.group, task.task_id, agent, task.hostname, cid, task.launched_at)
            self.unplaced.pop(task.group, None)
        elif st in _TERMINAL:
            m = _EXIT.search(status.message or "")
            preempted = task.task_id in self.preempted or status.reason == REASON_PREEMPTED
            self.preempted.discard(task.task_id)
            self.unplaced.pop(task.group, None)
            event = Q.Ended(
                task.group,
                task.task_id,
                st,
                int(m.group(1)) if m else None,
                status.message,
                preempted,
                agent,
                task.hostname,
                task.launched_at,
            )
        else:
            return None
        effects = Q.handle(self.state, event, now)
        if not effects:
            return None
        return asyncio.ensure_future(self._persist(effects))

    # ------------------------------------------------------------------ goals
    def live_groups(self) -> set[str]:
        core = self.core
        return set() if core is None else {t.group for t in core.tracker.live()}

    def goals(self) -> list[Goal]:
        if not self.ready.is_set():
            return []  # never act before the jobs are read back
        out = []
        for job, el in Q.wanted(self.state, self.live_groups()):
            r = job.request
            env = dict(r.env)
            env["CORRAL_JOB_ID"] = job.id
            env["CORRAL_JOB_NAME"] = r.name or f"batch-{job.id}"
            if job.is_array:
                env["CORRAL_ARRAY_INDEX"] = str(el.index)
            spec = TaskSpec(
                name=f"{r.name or 'batch'}[{el.index}]" if job.is_array else r.name or "batch",
                group=Q.group_of(job.id, el.index),
                resources=scalars(cpus=r.cpus, mem=r.mem),
                tier=r.tier,
                priority=r.priority,
            )
            out.append(Goal(spec, 1, r.command, env, kill_grace_period=self.kill_grace))
        return out


__all__ = ["JOB_PREFIX", "BatchFramework", "BatchShell", "command_line"]
