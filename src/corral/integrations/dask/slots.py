"""Which dask process each corral task is (pure).

dask names its workers (``SpecCluster`` keeps one spec per name, and ``adapt`` retires
workers by name), while the toolkit's planner counts tasks per group. A *slot* is one
wanted process (the scheduler, or a named worker); ``goal_counts`` turns the slots into the
planner's counts, ``bind`` gives a launched task to the oldest slot waiting for one (so the
task's command carries that name), and ``update`` follows the task's states. A slot released
while its task lives leaves a kill to send; until it is sent the task still counts, so the
planner never picks some other task to kill in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from corral.wire.tasks import is_terminal

PENDING = "pending"  # wanted, no task yet (waiting for an offer that fits)
LAUNCHED = "launched"  # a task on its way
RUNNING = "running"  # its process runs
FINISHED = "finished"  # exited on its own, status 0: not launched again
FAILED = "failed"  # ended too often: not launched again

ACTIVE = (PENDING, LAUNCHED, RUNNING)


@dataclass
class Slot:
    name: str
    group: str
    max_failures: int
    state: str = PENDING
    task_id: str | None = None
    last_task: str | None = None  # the latest task it had (its sandbox tells why it ended)
    host: str = ""
    ports: tuple[int, ...] = ()
    failures: int = 0
    message: str = ""
    since: float = 0.0  # when it entered its state
    running_at: float | None = None  # the agent's timestamp of its TASK_RUNNING


@dataclass
class Slots:
    slots: dict[str, Slot] = field(default_factory=dict)  # by name, oldest first
    by_task: dict[str, str] = field(default_factory=dict)  # task id -> slot name
    unsent: dict[str, str] = field(default_factory=dict)  # released task -> group: kill due
    ending: set[str] = field(default_factory=set)  # released tasks not yet ended
    surplus: dict[str, str] = field(default_factory=dict)  # task id -> group: bound to none


@dataclass(frozen=True)
class Change:
    """What an update did to a slot: ``running``, ``ended`` (``again``: launched anew)."""

    name: str
    what: str
    again: bool = False
    message: str = ""


def want(s: Slots, name: str, group: str, now: float, max_failures: int = 3) -> Slot:
    """A process named ``name`` should run (again, if it had finished or failed)."""
    slot = s.slots.get(name)
    if slot is not None and slot.state in ACTIVE:
        return slot
    if slot is not None and slot.task_id is not None:
        s.by_task.pop(slot.task_id, None)
    s.slots.pop(name, None)
    slot = s.slots[name] = Slot(name, group, max_failures, since=now)
    return slot


def release(s: Slots, name: str) -> str | None:
    """``name`` should no longer run: the task to kill, if one lives."""
    slot = s.slots.pop(name, None)
    if slot is None or slot.task_id is None:
        return None
    s.by_task.pop(slot.task_id, None)
    if slot.state in (LAUNCHED, RUNNING):
        s.unsent[slot.task_id] = slot.group
        s.ending.add(slot.task_id)
        return slot.task_id
    return None


def kill_sent(s: Slots, task_id: str) -> None:
    """The kill of a released task went out (the tracker no longer counts the task)."""
    s.unsent.pop(task_id, None)


def goal_counts(s: Slots, groups: Sequence[str]) -> dict[str, int]:
    """The planner's count per group: the active slots, and the tasks that are ours but
    bound to no slot (a kill not sent yet, a surplus launch), which it must not replace."""
    out = dict.fromkeys(groups, 0)
    for slot in s.slots.values():
        if slot.state in ACTIVE:
            out[slot.group] = out.get(slot.group, 0) + 1
    for group in (*s.unsent.values(), *s.surplus.values()):
        out[group] = out.get(group, 0) + 1
    return out


def bind(
    s: Slots, group: str, task_id: str, host: str, ports: Sequence[int], now: float
) -> Slot | None:
    """A task of ``group`` is being launched: it is the oldest pending slot's. None when no
    slot waits (released since the planner counted): the caller launches a no-op."""
    for slot in s.slots.values():
        if slot.group == group and slot.state == PENDING:
            slot.state, slot.task_id, slot.since = LAUNCHED, task_id, now
            slot.host, slot.ports = host, tuple(ports)
            slot.last_task = task_id
            s.by_task[task_id] = slot.name
            return slot
    s.surplus[task_id] = group
    return None


def update(
    s: Slots, task_id: str, state: str, message: str, now: float, timestamp: float | None = None
) -> Change | None:
    """A task's state (``timestamp``: the status's, from the agent's clock). Ended on its
    own with TASK_FINISHED: done; otherwise it is launched again until it has failed
    ``max_failures`` times."""
    if is_terminal(state):
        s.surplus.pop(task_id, None)
        s.unsent.pop(task_id, None)
        s.ending.discard(task_id)
    name = s.by_task.get(task_id)
    slot = s.slots.get(name) if name is not None else None
    if slot is None or slot.task_id != task_id:
        return None
    if not is_terminal(state):
        if state == "TASK_RUNNING" and slot.state != RUNNING:
            slot.state, slot.since, slot.running_at = RUNNING, now, timestamp
            return Change(slot.name, "running")
        return None
    del s.by_task[task_id]
    slot.task_id = None
    slot.message = f"{state}: {message}" if message else state
    slot.since = now
    if state == "TASK_FINISHED":
        slot.state = FINISHED
        return Change(slot.name, "ended", message=slot.message)
    slot.failures += 1
    slot.state = FAILED if slot.failures >= slot.max_failures else PENDING
    return Change(slot.name, "ended", again=slot.state == PENDING, message=slot.message)


def pending(s: Slots, group: str | None = None) -> list[Slot]:
    """The slots waiting for an offer that fits, oldest first."""
    return [
        slot
        for slot in s.slots.values()
        if slot.state == PENDING and (group is None or slot.group == group)
    ]


__all__ = [
    "ACTIVE",
    "FAILED",
    "FINISHED",
    "LAUNCHED",
    "PENDING",
    "RUNNING",
    "Change",
    "Slot",
    "Slots",
    "bind",
    "goal_counts",
    "kill_sent",
    "pending",
    "release",
    "update",
    "want",
]
