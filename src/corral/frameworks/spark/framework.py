"""The spark framework's shell: a Spark master task, and workers added and removed by the
pure rules of ``scaling``.

``SparkFramework`` is a toolkit ``Framework``: its goals are the Spark master (one task,
three ports from the offer) and one goal per worker of ours (each worker is its own group,
so removing one idle worker kills exactly that one). ``poll`` reads the Spark master's
``/json/`` once per interval, feeds it with our workers and the time to
``scaling.step``, and carries the effects out: a ``Launch`` adds a worker goal (and asks
the master for offers again), a ``Kill`` drops one (the toolkit kills its task).
Everything else — the store, election, reconciliation, placement with reasons — is the
toolkit's (``corral.scheduler_client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import msgspec

from corral.frameworks.spark import scaling
from corral.frameworks.spark.commands import SparkResources, master_command, worker_command
from corral.frameworks.spark.view import MasterView, parse_view
from corral.resources import scalars
from corral.scheduler_client import Framework, Goal, TaskSpec, TrackedTask, Tracker, Unknown
from corral.wire.tasks import TaskStatus

log = logging.getLogger("corral.spark")

MASTER_GROUP = "spark-master"
WORKER_PREFIX = "spark-worker-"
KILL_GRACE = 5.0
LOG_SIZE = 500
_WORKER_NAME = re.compile(re.escape(WORKER_PREFIX) + r"(\d+)$")


@dataclass(frozen=True)
class Decision:
    at: float
    kind: str  # add, remove, gone, wait
    reason: str
    worker: str = ""


class SparkFramework(Framework):
    """The goals (a Spark master, our workers) and the scaling rules' state."""

    name = "spark"
    unknown_tasks = Unknown.ADOPT
    refuse_seconds = 2.0

    def __init__(
        self,
        home: Path,
        resources: SparkResources,
        scale: scaling.ScaleConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.resources = resources
        self.scale = scale
        self.clock = clock
        self.workers: dict[str, scaling.Worker] = {}
        self.counter = 0
        self.view: MasterView | None = None
        self.view_error = "the Spark master is not running yet"
        self.waiting: tuple[str, ...] = ()
        self.demand = 0
        self.unplaced: dict[str, str] = {}
        self.log: deque[Decision] = deque(maxlen=LOG_SIZE)
        self.tracker: Callable[[], Tracker | None] = lambda: None  # the shell's, once leading
        self.wake: Callable[[], None] = lambda: None  # ask the master for offers again
        self.master_spec = TaskSpec(
            name=MASTER_GROUP,
            group=MASTER_GROUP,
            resources=scalars(cpus=resources.master_cpus, mem=resources.master_mem),
            ports=3,
        )

    # ------------------------------------------------------------------ where the master is
    def master_task(self) -> TrackedTask | None:
        tracker = self.tracker()
        if tracker is None:
            return None
        for t in tracker.live(MASTER_GROUP):
            if t.state == "TASK_RUNNING" and len(t.ports) >= 3 and t.hostname:
                return t
        return None

    def master_url(self) -> str | None:
        """``spark://host:port`` of the running Spark master."""
        t = self.master_task()
        return f"spark://{t.hostname}:{t.ports[0]}" if t else None

    def master_ui(self) -> str | None:
        t = self.master_task()
        return f"http://{t.hostname}:{t.ports[1]}" if t else None

    def rest_url(self) -> str | None:
        """The REST submission server's ``spark://`` URL (``spark-submit --deploy-mode
        cluster``)."""
        t = self.master_task()
        return f"spark://{t.hostname}:{t.ports[2]}" if t else None

    # ------------------------------------------------------------------ the toolkit's hooks
    def worker_spec(self, name: str) -> TaskSpec:
        r = self.resources
        return TaskSpec(
            name=name, group=name, resources=scalars(cpus=r.worker_cpus, mem=r.worker_mem), ports=2
        )

    def desired(self) -> Sequence[Goal]:
        goals = [
            Goal(
                self.master_spec,
                1,
                command=master_command(self.home, self.resources),
                kill_grace_period=KILL_GRACE,
            )
        ]
        self._adopt()
        url = self.master_url()
        for w in self.workers.values():
            if w.state == scaling.REMOVING:
                continue
            if w.state == scaling.PENDING and url is None:
                continue  # nothing to point it at yet
            target = w.master_url or url or ""
            goals.append(
                Goal(
                    self.worker_spec(w.name),
                    1,
                    command=worker_command(self.home, self.resources, target),
                    kill_grace_period=KILL_GRACE,
                )
            )
        return goals

    def on_update(self, task: TrackedTask, status: TaskStatus) -> None:
        if task.group == MASTER_GROUP and status.state == "TASK_RUNNING":
            log.info("spark: the Spark master's task %s runs on %s", task.task_id, task.hostname)
        if not task.terminal:
            return
        how = status.state + (f": {status.message}" if status.message else "")
        if task.group == MASTER_GROUP:
            self.say("gone", f"the Spark master's task ended ({how})")
            return
        w = self.workers.pop(task.group, None)
        if w is not None and w.state != scaling.REMOVING:
            self.say("gone", f"its task ended ({how})", w.name)

    def on_unplaced(self, group: str, reason: str) -> None:
        self.unplaced[group] = reason
        what = "the Spark master" if group == MASTER_GROUP else group
        self.say("wait", f"cluster full: {what} waits for resources ({reason})", group)

    # ------------------------------------------------------------------ state
    def say(self, kind: str, reason: str, worker: str = "") -> None:
        d = Decision(self.clock(), kind, reason, worker)
        self.log.append(d)
        log.info("spark %s%s: %s", kind, f" {worker}" if worker else "", reason)

    def _adopt(self) -> None:
        """Worker tasks the tracker has that we hold no record of (read back from the
        store after a restart of this framework) become our workers again."""
        tracker = self.tracker()
        if tracker is None:
            return
        for t in tracker.live():
            m = _WORKER_NAME.match(t.group)
            if m is None or t.group in self.workers:
                continue
            self.counter = max(self.counter, int(m.group(1)))
            self.workers[t.group] = scaling.Worker(
                name=t.group,
                created_at=t.launched_at,
                state=scaling.STARTING,
                host=t.hostname,
                port=t.ports[0] if t.ports else None,
                launched_at=t.launched_at,
            )

    def _sync_launched(self) -> None:
        """Pending workers whose task the toolkit launched are starting, at its address."""
        tracker = self.tracker()
        if tracker is None:
            return
        url = self.master_url()
        for name, w in list(self.workers.items()):
            if w.state == scaling.REMOVING and not any(
                t.group == name and not t.terminal for t in tracker.tasks.values()
            ):
                del self.workers[name]  # dropped before launch, or its task is gone
                continue
            if w.state != scaling.PENDING:
                continue
            tasks = tracker.live(name)
            if tasks and tasks[0].ports:
                t = tasks[0]
                self.unplaced.pop(name, None)
                self.workers[name] = replace(
                    w,
                    state=scaling.STARTING,
                    host=t.hostname,
                    port=t.ports[0],
                    master_url=url,
                    launched_at=t.launched_at,
                    note=f"launched on {t.hostname}",
                )

    def apply(self, view: MasterView | None, now: float) -> scaling.Step:
        """One round of the rules with this view of the Spark master."""
        self.view = view
        self._adopt()
        self._sync_launched()
        result = scaling.step(
            view, list(self.workers.values()), now, self.scale, master_url=self.master_url() or ""
        )
        self.workers = {w.name: w for w in result.workers}
        if result.waiting != self.waiting:
            for why in result.waiting:
                self.say("wait", why)
        self.waiting = result.waiting
        self.demand = result.demand
        woke = False
        for e in result.effects:
            if isinstance(e, scaling.Launch):
                self.counter += 1
                name = f"{WORKER_PREFIX}{self.counter}"
                self.workers[name] = scaling.Worker(
                    name=name, created_at=now, note="waiting for an offer"
                )
                self.say("add", e.reason, name)
                woke = True
            else:
                self.say("remove", e.reason, e.name)
        if woke:
            self.wake()
        return result

    async def poll(self, session: aiohttp.ClientSession, interval: float) -> None:
        """Read the Spark master's JSON and apply the rules, every ``interval`` seconds."""
        said = ""
        while True:
            await asyncio.sleep(interval)
            view: MasterView | None = None
            ui = self.master_ui()
            if ui is None:
                self.view_error = "the Spark master is not running yet"
            else:
                try:
                    timeout = aiohttp.ClientTimeout(total=max(2.0, interval))
                    async with session.get(ui + "/json/", timeout=timeout) as resp:
                        body = await resp.read()
                        if resp.status != 200:
                            raise ValueError(f"HTTP {resp.status}")
                    view = parse_view(body)
                    self.view_error = "" if view.alive else f"Spark master is {view.status}"
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                    self.view_error = f"cannot read {ui}/json/: {exc or type(exc).__name__}"
            if self.view_error != said:
                said = self.view_error
                log.info("spark: %s", said or "the Spark master answers")
            try:
                self.apply(view, self.clock())
            except Exception:
                log.exception("spark: applying the scaling rules failed")

    # ------------------------------------------------------------------ views
    def _master_task_state(self) -> str | None:
        tracker = self.tracker()
        tasks = tracker.live(MASTER_GROUP) if tracker is not None else []
        return tasks[0].state if tasks else None

    def status(self) -> dict[str, object]:
        v = self.view
        mt = self.master_task()
        return {
            "spark_url": self.master_url() if v is not None and v.alive else None,
            "master_ui": self.master_ui(),
            "rest_url": self.rest_url(),
            "spark_status": v.status if v is not None else None,
            "problem": self.view_error or None,
            "master_task": mt.task_id if mt else None,
            "master_task_state": self._master_task_state(),
            "min_workers": self.scale.min_workers,
            "max_workers": self.scale.max_workers,
            "idle_timeout": self.scale.idle_timeout,
            "worker": {
                "cpus": self.resources.worker_cpus,
                "mem": self.resources.worker_mem,
                "spark_cores": self.resources.worker_cores,
                "spark_memory": self.resources.worker_spark_memory,
            },
            "workers": [msgspec.structs.asdict(_worker_view(w)) for w in self.workers.values()],
            "apps": [
                {"id": a.id, "name": a.name, "state": a.state, "cores": a.cores}
                for a in (v.activeapps if v is not None else [])
            ],
            "demand": self.demand,
            "waiting": list(self.waiting),
            "unplaced": dict(self.unplaced),
            "decisions": [
                {"at": d.at, "kind": d.kind, "worker": d.worker, "reason": d.reason}
                for d in reversed(list(self.log)[-100:])
            ],
        }


class WorkerView(msgspec.Struct):
    name: str
    state: str
    host: str
    port: int | None
    idle_since: float | None
    note: str


def _worker_view(w: scaling.Worker) -> WorkerView:
    return WorkerView(w.name, w.state, w.host, w.port, w.idle_since, w.note)


async def stop_poll(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


__all__ = ["MASTER_GROUP", "WORKER_PREFIX", "Decision", "SparkFramework", "stop_poll"]
