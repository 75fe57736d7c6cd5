"""Marathon's TaskReplace rule, level-triggered (pure).

Given the target count ``n``, the upgrade strategy and the instances of the old and the new
version, say how many new instances may exist now and which old ones to kill:

* ``min_healthy = ceil(n * minimumHealthCapacity)``, ``max_capacity =
  floor(n * (1 + maximumOverCapacity))`` (one more when the two are equal, or nothing
  could ever move);
* old instances that do not count (not healthy / not running) go first; of those that
  count, enough are kept that old + new counting ones stay >= ``min_healthy``;
* new ones are launched up to ``n``, while old (terminating included) + new stays
  <= ``max_capacity`` (old ones being killed no longer count, as in Marathon). So a
  replacement is started before a counting old one is killed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    task_id: str
    counts: bool  # healthy (with health checks) or running (without)
    staged_at: float


@dataclass(frozen=True)
class Decision:
    launch: int  # how many instances to launch now
    kill: tuple[str, ...]


def kill_order(members: list[Member], kill_selection: str) -> list[Member]:
    """Which go first: those that do not count, then by killSelection."""
    youngest = kill_selection != "OLDEST_FIRST"
    return sorted(
        members,
        key=lambda m: (m.counts, -m.staged_at if youngest else m.staged_at, m.task_id),
    )


def bounds(n: int, min_health_capacity: float, max_over_capacity: float) -> tuple[int, int]:
    min_healthy = math.ceil(n * min_health_capacity - 1e-9)
    max_capacity = math.floor(n * (1 + max_over_capacity) + 1e-9)
    if n > 0 and min_healthy >= max_capacity:
        max_capacity = min_healthy + 1
    return min_healthy, max_capacity


def replace(
    n: int,
    min_health_capacity: float,
    max_over_capacity: float,
    old: list[Member],
    new: list[Member],
    *,
    old_terminating: int = 0,
    kill_selection: str = "YOUNGEST_FIRST",
) -> Decision:
    min_healthy, max_capacity = bounds(n, min_health_capacity, max_over_capacity)
    kills: list[str] = []
    if len(new) > n:
        extra = kill_order(new, kill_selection)[: len(new) - n]
        kills += [m.task_id for m in extra]
        new = [m for m in new if m not in extra]
    new_counting = sum(1 for m in new if m.counts)
    keep = max(0, min_healthy - new_counting)
    order = kill_order(old, kill_selection)
    counting_old = [m for m in order if m.counts]
    to_kill = [m for m in order if not m.counts]
    if len(counting_old) > keep:
        to_kill += counting_old[: len(counting_old) - keep]
    kills += [m.task_id for m in to_kill]
    old_active = len(old) - len(to_kill) + old_terminating  # as Marathon: killed ones free
    room = max_capacity - old_active - len(new)
    return Decision(launch=max(0, min(n - len(new), room)), kill=tuple(kills))


def scale(
    n: int, members: list[Member], *, kill_selection: str = "YOUNGEST_FIRST"
) -> Decision:
    """No restart: keep ``n`` of whatever version; extra ones by killSelection."""
    if len(members) > n:
        extra = kill_order(members, kill_selection)[: len(members) - n]
        return Decision(launch=0, kill=tuple(m.task_id for m in extra))
    return Decision(launch=n - len(members), kill=())


__all__ = ["Decision", "Member", "bounds", "kill_order", "replace", "scale"]
