"""The planner: from what should run and what runs, the launches and kills to make (pure).

A framework says what it wants as ``Goal``s (a task spec and how many copies); the planner
compares them with the tracker's live tasks and the offers at hand, and returns a ``Plan``:
tasks to launch (each with the offer it goes to), tasks to kill (a goal that shrank or went
away: the youngest first), tasks that cannot be placed with the reason, and the offers left
to decline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.resources import Resources
from corral.scheduler_client.placement import (
    AgentOffer,
    Assignment,
    Placed,
    TaskSpec,
    Unplaced,
    place,
)
from corral.scheduler_client.tracker import TrackedTask


@dataclass(frozen=True)
class Goal:
    """``count`` copies of ``spec`` running ``command`` (a shell command line)."""

    spec: TaskSpec
    count: int
    command: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    kill_grace_period: float | None = None

    @property
    def group(self) -> str:
        return self.spec.key


@dataclass(frozen=True)
class Launch:
    goal: Goal
    assignment: Assignment


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    kills: list[TrackedTask] = field(default_factory=list)
    unplaced: dict[str, str] = field(default_factory=dict)  # group -> why
    decline: list[str] = field(default_factory=list)  # offer ids nothing went to

    def missing(self) -> bool:
        return bool(self.unplaced)


def plan(
    goals: Sequence[Goal],
    live: Sequence[TrackedTask],
    agents: Sequence[AgentOffer],
    *,
    totals: Mapping[str, Resources] | None = None,
) -> Plan:
    out = Plan()
    by_group: dict[str, list[TrackedTask]] = {}
    for t in live:
        by_group.setdefault(t.group, []).append(t)
    wanted = {g.group for g in goals}
    for group, tasks in sorted(by_group.items()):
        if group not in wanted:
            out.kills += tasks
    specs: list[TaskSpec] = []
    goal_of: dict[int, Goal] = {}
    # Higher priorities are placed first, preferred before preemptible (stable otherwise).
    for g in sorted(goals, key=lambda g: (-g.spec.priority, g.spec.tier != "preferred")):
        have = sorted(by_group.get(g.group, []), key=lambda t: (t.launched_at, t.task_id))
        if len(have) > g.count:
            out.kills += have[g.count :][::-1]  # youngest first
        for _ in range(max(0, g.count - len(have))):
            goal_of[len(specs)] = g
            specs.append(g.spec)
    killed = {t.task_id for t in out.kills}  # by id: comparing records is slow and O(n)
    placed = [
        Placed(t.group, t.agent_id or "", t.hostname, t.attributes)
        for t in live
        if t.task_id not in killed
    ]
    result = place(specs, agents, placed, totals=totals)
    for i, outcome in enumerate(result.outcomes):
        goal = goal_of[i]
        if isinstance(outcome, Unplaced):
            out.unplaced.setdefault(goal.group, outcome.reason)
        else:
            out.launches.append(Launch(goal, outcome))
    used = result.offer_ids()
    out.decline = [o for a in agents for o in a.offer_ids if o not in used]
    return out


__all__ = ["Goal", "Launch", "Plan", "plan"]
