"""The task tracker: a framework's record of every task it launched, reconciled (pure).

Each record holds what the framework wants of the task (RUNNING or KILLED) and what it last
heard (state, agent, ports, health). After every (re)subscription the tracker reconciles
before anything may be killed or launched: first explicitly, for every task it knows (with
its agent, so a task the master never saw comes back TASK_LOST/GONE), retried with backoff;
then implicitly, followed by a marker task no one launched: the master answers calls in
order, so when the marker's answer arrives every task the master knows has been reported.
A task the master reports that the tracker does not know is adopted or killed, by the
framework's rule; never ignored.

Every method returns ``Changes``: the calls to make (in order), the records to persist and
the ids to forget. The shell carries them out; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import DurationInfo
from corral.wire.tasks import KillPolicy, TaskStatus, is_terminal

log = logging.getLogger("corral.scheduler_client.tracker")

RUNNING = "RUNNING"
KILLED = "KILLED"
MARKER_PREFIX = "corral-reconcile-marker-"


class Unknown(enum.Enum):
    """What to do with a live task the master reports and the tracker does not know."""

    ADOPT = "adopt"
    KILL = "kill"


UnknownRule = Unknown | Callable[[TaskStatus], Unknown]


class Phase(enum.Enum):
    IDLE = "idle"  # not subscribed
    EXPLICIT = "explicit"  # waiting for answers about the known tasks
    IMPLICIT = "implicit"  # waiting for the marker after implicit reconciliation
    READY = "ready"  # reconciled: the framework may act


class TrackedTask(msgspec.Struct, kw_only=True):
    task_id: str
    group: str = ""
    agent_id: str | None = None
    hostname: str = ""
    attributes: dict[str, str] = {}
    ports: list[int] = []
    desired: str = RUNNING
    state: str = "TASK_STAGING"
    healthy: bool | None = None
    message: str | None = None
    reason: str | None = None
    launched_at: float = 0.0
    updated_at: float = 0.0
    adopted: bool = False

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def live(self) -> bool:
        """Running or on its way (counts against the desired instances)."""
        return not self.terminal and self.desired == RUNNING


def encode_task(task: TrackedTask) -> bytes:
    return msgspec.json.encode(task)


def decode_task(data: bytes) -> TrackedTask:
    return msgspec.json.decode(data, type=TrackedTask)


@dataclass
class Changes:
    calls: list[s.Call] = field(default_factory=list)
    persist: list[TrackedTask] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    ended: list[TrackedTask] = field(default_factory=list)  # tasks that reached a terminal state

    def extend(self, other: Changes) -> Changes:
        self.calls += other.calls
        self.persist += other.persist
        self.forget += other.forget
        self.ended += other.ended
        return self


class NotReconciled(RuntimeError):
    """The tracker has not finished reconciling: acting now could act on stale state."""


def reconcile_call(tasks: Iterable[tuple[str, str | None]]) -> s.Call:
    return s.Call(
        type="RECONCILE",
        reconcile=s.Reconcile(
            tasks=[s.ReconcileTask(task_id=ID(t), agent_id=ID(a) if a else None) for t, a in tasks]
        ),
    )


def kill_call(task_id: str, agent_id: str | None, grace_period: float | None = None) -> s.Call:
    policy = None
    if grace_period is not None:
        policy = KillPolicy(grace_period=DurationInfo(nanoseconds=int(grace_period * 1e9)))
    return s.Call(
        type="KILL",
        kill=s.Kill(
            task_id=ID(task_id), agent_id=ID(agent_id) if agent_id else None, kill_policy=policy
        ),
    )


def group_of(task_id: str) -> str:
    """The group in a toolkit task id ``<group>.<unique>`` (Marathon's convention)."""
    return task_id.rsplit(".", 1)[0] if "." in task_id else ""


def new_task_id(group: str) -> str:
    return f"{group}.{uuid.uuid4().hex[:12]}"


class Tracker:
    def __init__(
        self,
        unknown: UnknownRule = Unknown.KILL,
        *,
        explicit_timeout: float = 3.0,
        implicit_timeout: float = 3.0,
        max_backoff: float = 30.0,
        kill_grace_period: float | None = None,
        periodic: float = 60.0,
    ) -> None:
        """``periodic``: once reconciled, reconcile the known tasks explicitly again this
        often (a launch whose ACCEPT never arrived, an update lost: Mesos's advice)."""
        self.tasks: dict[str, TrackedTask] = {}
        self.unknown = unknown
        self.phase = Phase.IDLE
        self.pending: set[str] = set()
        self.marker: str | None = None
        self.explicit_timeout = explicit_timeout
        self.implicit_timeout = implicit_timeout
        self.max_backoff = max_backoff
        self.kill_grace_period = kill_grace_period
        self.deadline = 0.0
        self.attempt = 0
        self.killing_unknown: set[str] = set()
        self.periodic = periodic
        self.next_periodic = 0.0

    # ------------------------------------------------------------------ queries
    @property
    def ready(self) -> bool:
        return self.phase is Phase.READY

    def live(self, group: str | None = None) -> list[TrackedTask]:
        return sorted(
            (t for t in self.tasks.values() if t.live and (group is None or t.group == group)),
            key=lambda t: (t.launched_at, t.task_id),
        )

    # ------------------------------------------------------------------ lifecycle
    def load(self, tasks: Iterable[TrackedTask]) -> None:
        """Records read back from the store (before the first subscription)."""
        for t in tasks:
            self.tasks[t.task_id] = t

    def subscribed(self, now: float) -> Changes:
        """A (re)subscription: reconcile from scratch before acting."""
        self.attempt = 0
        return self._start_explicit(now)

    def disconnected(self) -> None:
        self.phase = Phase.IDLE
        self.pending.clear()
        self.marker = None

    def _start_explicit(self, now: float) -> Changes:
        known = [t for t in self.tasks.values() if not t.terminal]
        self.pending = {t.task_id for t in known}
        if not known:
            return self._start_implicit(now)
        self.phase = Phase.EXPLICIT
        self.deadline = now + self._backoff(self.explicit_timeout)
        return Changes(calls=[reconcile_call((t.task_id, t.agent_id) for t in known)])

    def _start_implicit(self, now: float) -> Changes:
        self.phase = Phase.IMPLICIT
        self.marker = f"{MARKER_PREFIX}{uuid.uuid4().hex[:12]}"
        self.deadline = now + self._backoff(self.implicit_timeout)
        return Changes(calls=[reconcile_call([]), reconcile_call([(self.marker, None)])])

    def _backoff(self, base: float) -> float:
        return min(self.max_backoff, base * 2.0 ** min(self.attempt, 10))

    def tick(self, now: float) -> Changes:
        """Retry reconciliation whose answers are overdue."""
        if self.phase is Phase.EXPLICIT and now >= self.deadline:
            self.attempt += 1
            if self.attempt >= 3:
                # Still unanswered (an agent that has not come back after a master failover):
                # those tasks keep their last known state (so they are not launched again)
                # and the framework goes on; implicit reconciliation will report them.
                log.warning(
                    "no reconciliation answer for %d task(s) after %d tries: going on with "
                    "their last known state",
                    len(self.pending),
                    self.attempt,
                )
                self.attempt = 0
                return self._start_implicit(now)
            known = [self.tasks[t] for t in sorted(self.pending) if t in self.tasks]
            self.deadline = now + self._backoff(self.explicit_timeout)
            return Changes(calls=[reconcile_call((t.task_id, t.agent_id) for t in known)])
        if self.phase is Phase.IMPLICIT and now >= self.deadline:
            self.attempt += 1
            if self.attempt >= 3:
                log.warning("no answer for the reconciliation marker: going on")
                return self._ready(now)
            return self._start_implicit(now)
        if self.phase is Phase.READY and now >= self.next_periodic:
            self.next_periodic = now + self.periodic
            known = [t for t in self.tasks.values() if not t.terminal]
            if known:
                return Changes(calls=[reconcile_call((t.task_id, t.agent_id) for t in known)])
        return Changes()

    def launch_failed(self, task_ids: Iterable[str]) -> Changes:
        """The ACCEPT for these tasks failed: ask the master what became of them."""
        known = [self.tasks[t] for t in task_ids if t in self.tasks]
        return Changes(calls=[reconcile_call((t.task_id, t.agent_id) for t in known)])

    def _ready(self, now: float) -> Changes:
        self.phase = Phase.READY
        self.next_periodic = now + self.periodic
        self.marker = None
        self.attempt = 0
        # Kills asked for before a failover may never have reached the master: ask again.
        return Changes(
            calls=[
                kill_call(t.task_id, t.agent_id, self.kill_grace_period)
                for t in self.tasks.values()
                if t.desired == KILLED and not t.terminal
            ]
        )

    # ------------------------------------------------------------------ events
    def update(self, status: TaskStatus, now: float) -> Changes:
        tid = status.task_id.value
        if tid.startswith(MARKER_PREFIX):
            if tid == self.marker and self.phase is Phase.IMPLICIT:
                return self._ready(now)
            return Changes()
        task = self.tasks.get(tid)
        self.pending.discard(tid)
        out = self._unknown(status, now) if task is None else self._record(task, status, now)
        if self.phase is Phase.EXPLICIT and not self.pending:
            self.attempt = 0
            out.extend(self._start_implicit(now))
        return out

    def _record(self, task: TrackedTask, status: TaskStatus, now: float) -> Changes:
        task.state = status.state
        task.updated_at = now
        if status.agent_id is not None:
            task.agent_id = status.agent_id.value
        if status.healthy is not None:
            task.healthy = status.healthy
        task.message = status.message
        task.reason = status.reason
        if task.terminal:
            del self.tasks[task.task_id]
            return Changes(forget=[task.task_id], ended=[task])
        out = Changes(persist=[task])
        if task.desired == KILLED and self.ready:
            # Still alive although we asked it to stop (a kill lost in a failover): again.
            out.calls.append(kill_call(task.task_id, task.agent_id, self.kill_grace_period))
        return out

    def _unknown(self, status: TaskStatus, now: float) -> Changes:
        tid = status.task_id.value
        if is_terminal(status.state):
            self.killing_unknown.discard(tid)
            return Changes()
        rule = self.unknown if isinstance(self.unknown, Unknown) else self.unknown(status)
        if rule is Unknown.ADOPT:
            task = TrackedTask(
                task_id=tid,
                group=group_of(tid),
                agent_id=status.agent_id.value if status.agent_id else None,
                state=status.state,
                healthy=status.healthy,
                message=status.message,
                launched_at=now,
                updated_at=now,
                adopted=True,
            )
            self.tasks[tid] = task
            log.info("adopting task %s (%s), which the master reports", tid, status.state)
            return Changes(persist=[task])
        if tid in self.killing_unknown:
            return Changes()
        self.killing_unknown.add(tid)
        log.info("killing task %s (%s): the framework does not know it", tid, status.state)
        agent = status.agent_id.value if status.agent_id else None
        return Changes(calls=[kill_call(tid, agent, self.kill_grace_period)])

    # ------------------------------------------------------------------ the framework acts
    def launching(self, task: TrackedTask) -> Changes:
        """Record a task about to be launched (persist it before the ACCEPT goes out)."""
        self._check_ready("launch")
        self.tasks[task.task_id] = task
        return Changes(persist=[task])

    def kill(self, task_id: str, grace_period: float | None = None) -> Changes:
        self._check_ready("kill")
        task = self.tasks.get(task_id)
        if task is None:
            raise KeyError(f"task {task_id!r} is not tracked")
        task.desired = KILLED
        grace = grace_period if grace_period is not None else self.kill_grace_period
        return Changes(calls=[kill_call(task_id, task.agent_id, grace)], persist=[task])

    def _check_ready(self, what: str) -> None:
        if not self.ready:
            raise NotReconciled(f"cannot {what} before reconciliation ends ({self.phase.value})")


__all__ = [
    "KILLED",
    "RUNNING",
    "Changes",
    "NotReconciled",
    "Phase",
    "TrackedTask",
    "Tracker",
    "Unknown",
    "UnknownRule",
    "decode_task",
    "encode_task",
    "group_of",
    "kill_call",
    "new_task_id",
    "reconcile_call",
]
