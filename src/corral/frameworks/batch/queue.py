"""The batch queue's core (pure): ``handle(state, event, now) -> effects`` and the read
functions over it.

Events: a job submitted, a job cancelled, an element's task started, an element's task
ended. Effects: persist a job's record. What should run now is ``wanted(state, live)``: the
elements of the jobs by priority (higher first), then submission order, then index, with
each array's ``%P`` limit counting the elements that are running; the shell turns them into
the toolkit's goals, and a cancelled element's goal going away is what kills its task.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corral.frameworks.batch.arrays import ArraySpec
from corral.frameworks.batch.model import (
    CANCELLED,
    DONE,
    ELEMENT_DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Attempt,
    Element,
    Job,
    JobRequest,
)

GROUP_PREFIX = "batch-"
# Ends that say nothing about the command (never launched, agent gone): launched again, up
# to MAX_LOST times, without using a retry.
LOST_STATES = frozenset(
    {"TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
)
MAX_LOST = 5


@dataclass
class QueueState:
    jobs: dict[str, Job] = field(default_factory=dict)
    next_seq: int = 1


# ---------------------------------------------------------------------- events
@dataclass(frozen=True)
class Submit:
    request: JobRequest
    array: ArraySpec | None


@dataclass(frozen=True)
class Cancel:
    job_id: str


@dataclass(frozen=True)
class Started:
    group: str
    task_id: str
    agent_id: str | None = None
    hostname: str | None = None
    container_id: str | None = None
    launched_at: float | None = None


@dataclass(frozen=True)
class Ended:
    group: str
    task_id: str
    state: str  # the terminal task state
    exit_code: int | None = None
    message: str | None = None
    preempted: bool = False  # killed to make room for a higher priority: not a failure
    agent_id: str | None = None
    hostname: str | None = None
    launched_at: float | None = None


Event = Submit | Cancel | Started | Ended


@dataclass(frozen=True)
class Persist:
    job_id: str


@dataclass(frozen=True)
class Submitted:
    job_id: str


Effect = Persist | Submitted


# ---------------------------------------------------------------------- groups
def group_of(job_id: str, index: int) -> str:
    """The toolkit group of one element (no '.', which separates a task id's group)."""
    return f"{GROUP_PREFIX}{job_id}-{index}"


def parse_group(group: str) -> tuple[str, int] | None:
    if not group.startswith(GROUP_PREFIX):
        return None
    job_id, dash, index = group[len(GROUP_PREFIX) :].rpartition("-")
    if not dash or not index.isdigit():
        return None
    return job_id, int(index)


def element_of(state: QueueState, group: str) -> tuple[Job, Element] | None:
    parsed = parse_group(group)
    if parsed is None or parsed[0] not in state.jobs:
        return None
    job = state.jobs[parsed[0]]
    i = bisect_left(job.elements, parsed[1], key=lambda e: e.index)  # sorted by index
    if i < len(job.elements) and job.elements[i].index == parsed[1]:
        return job, job.elements[i]
    return None


# ---------------------------------------------------------------------- handle
def handle(state: QueueState, event: Event, now: float) -> list[Effect]:
    if isinstance(event, Submit):
        return _submit(state, event, now)
    if isinstance(event, Cancel):
        return _cancel(state, event, now)
    if isinstance(event, Started):
        return _started(state, event, now)
    return _ended(state, event, now)


def _submit(state: QueueState, ev: Submit, now: float) -> list[Effect]:
    seq = state.next_seq
    state.next_seq += 1
    job_id = str(seq)
    indices = ev.array.indices if ev.array is not None else (0,)
    job = Job(
        id=job_id,
        seq=seq,
        request=ev.request,
        submitted_at=now,
        elements=[Element(index=i) for i in indices],
        is_array=ev.array is not None,
        limit=ev.array.limit if ev.array is not None else None,
    )
    state.jobs[job_id] = job
    return [Persist(job_id), Submitted(job_id)]


def _cancel(state: QueueState, ev: Cancel, now: float) -> list[Effect]:
    job = state.jobs.get(ev.job_id)
    if job is None or job.cancelled or job_state(job) in (DONE, FAILED):
        return []
    job.cancelled = True
    for el in job.elements:
        if el.state == QUEUED:
            el.state = CANCELLED
    _maybe_ended(job, now)
    return [Persist(job.id)]


def _attempt(el: Element, task_id: str, now: float, launched_at: float | None) -> Attempt:
    cur = el.current
    if cur is not None and cur.task_id == task_id:
        return cur
    a = Attempt(task_id=task_id, started_at=launched_at if launched_at is not None else now)
    el.attempts.append(a)
    return a


def _started(state: QueueState, ev: Started, now: float) -> list[Effect]:
    found = element_of(state, ev.group)
    if found is None:
        return []
    job, el = found
    if el.state in ELEMENT_DONE and not (el.current and el.current.task_id == ev.task_id):
        return []  # a stray start after the element was settled
    a = _attempt(el, ev.task_id, now, ev.launched_at)
    if a.ended_at is not None:
        return []  # an old update arriving late
    changed = el.state != RUNNING or a.agent_id != ev.agent_id
    el.state = RUNNING if el.state != CANCELLED else el.state
    a.agent_id = ev.agent_id or a.agent_id
    a.hostname = ev.hostname or a.hostname
    a.container_id = ev.container_id or a.container_id
    return [Persist(job.id)] if changed else []


def _ended(state: QueueState, ev: Ended, now: float) -> list[Effect]:
    found = element_of(state, ev.group)
    if found is None:
        return []
    job, el = found
    if el.state in (DONE, FAILED):
        return []
    a = _attempt(el, ev.task_id, now, ev.launched_at)
    if a.ended_at is not None:
        return []
    a.ended_at = now
    a.state = ev.state
    a.exit_code = ev.exit_code
    a.message = ev.message
    a.agent_id = a.agent_id or ev.agent_id
    a.hostname = a.hostname or ev.hostname
    a.preempted = ev.preempted and ev.state != "TASK_FINISHED"
    a.lost = ev.state in LOST_STATES and ev.exit_code is None and el.lost < MAX_LOST
    if ev.state == "TASK_FINISHED":
        el.state = DONE
    elif job.cancelled:
        el.state = CANCELLED
    elif a.preempted or a.lost or el.failures <= job.request.retries:
        el.state = QUEUED  # again (a preemption costs no retry)
    else:
        el.state = FAILED
    _maybe_ended(job, now)
    return [Persist(job.id)]


def _maybe_ended(job: Job, now: float) -> None:
    if job.ended_at is None and all(e.state in ELEMENT_DONE for e in job.elements):
        job.ended_at = now


# ---------------------------------------------------------------------- reads
def ordered(jobs: Iterable[Job]) -> list[Job]:
    """Higher priority first, then submission order."""
    return sorted(jobs, key=lambda j: (-j.priority, j.seq))


def wanted(state: QueueState, live: set[str], cap: int = 2000) -> list[tuple[Job, Element]]:
    """The elements that should have a task now, in launch order: every element with a live
    task (``live``: their groups) of a job not cancelled, then queued elements, each array's
    running count kept within its limit; at most ``cap`` queued ones in all. An element the
    queue thinks RUNNING but has no live task is left out (no second task for it) and still
    counts against its limit until its end is known."""
    out: list[tuple[Job, Element]] = []
    queued = 0
    for job in ordered(state.jobs.values()):
        if job.cancelled or job.ended_at is not None:
            continue
        active = [e for e in job.elements if group_of(job.id, e.index) in live]
        busy = len(active) + sum(
            1 for e in job.elements if e.state == RUNNING and group_of(job.id, e.index) not in live
        )
        out += [(job, e) for e in active]
        room = (job.limit - busy) if job.limit is not None else len(job.elements)
        for e in job.elements:
            if room <= 0 or queued >= cap:
                break
            if e.state == QUEUED and group_of(job.id, e.index) not in live:
                out.append((job, e))
                room -= 1
                queued += 1
    return out


def counts(job: Job) -> dict[str, int]:
    out = {QUEUED: 0, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0}
    for e in job.elements:
        out[e.state] += 1
    return out


def job_state(job: Job) -> str:
    """QUEUED (nothing started), RUNNING, DONE (all done), FAILED (all settled, some
    failed), CANCELLED (cancelled and nothing running any more)."""
    c = counts(job)
    if c[RUNNING]:
        return RUNNING
    if job.cancelled:
        return CANCELLED
    if c[QUEUED]:
        return RUNNING if any(e.attempts for e in job.elements) else QUEUED
    return FAILED if c[FAILED] else DONE


def running_in(jobs: Sequence[Job]) -> int:
    return sum(counts(j)[RUNNING] for j in jobs)


__all__ = [
    "LOST_STATES",
    "MAX_LOST",
    "Cancel",
    "Effect",
    "Ended",
    "Event",
    "Persist",
    "QueueState",
    "Started",
    "Submit",
    "Submitted",
    "counts",
    "element_of",
    "group_of",
    "handle",
    "job_state",
    "ordered",
    "parse_group",
    "running_in",
    "wanted",
]
