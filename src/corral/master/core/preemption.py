"""Which running tasks to preempt so that a demand fits on one agent (pure).

A *demand* is what a framework cannot place: resources, a tier, a priority and a role. A
*candidate* is a task running on an agent, with its own tier, priority and role. The rule
(Aurora's, made strict so that preemption can never go round in a cycle):

* a victim always has a **lower priority** than the demand, and
* it is **preemptible** (of any role), or it is **preferred and of the demand's role** while
  the demand is preferred too. A preemptible demand never evicts a preferred task, and a
  preferred task of another role is never evicted.

Among the sets of victims on an agent whose resources, with what is free there, make the
demand fit, the choice minimises the number of victims, then the resources freed (each
kind as a fraction of the agent's total, summed), then prefers the lowest priorities; task
ids break the last ties, so the choice is deterministic. The search is exact (by increasing
number of victims, pruned by per-kind bounds) within ``MAX_EVALUATIONS`` subsets, and greedy
beyond that (then redundant victims are dropped). Across agents, the agent whose choice is
best by the same order wins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from corral.resources import UNRESERVED, Resources
from corral.wire.preemption import DEFAULT_PRIORITY, DEFAULT_TIER, PREEMPTIBLE, PREFERRED

MAX_EVALUATIONS = 20_000  # subsets tried exactly on one agent before going greedy


@dataclass(frozen=True)
class Demand:
    resources: Resources
    priority: int = DEFAULT_PRIORITY
    tier: str = DEFAULT_TIER
    role: str = UNRESERVED


@dataclass(frozen=True)
class Candidate:
    task_id: str
    framework_id: str
    resources: Resources
    priority: int = DEFAULT_PRIORITY
    tier: str = DEFAULT_TIER
    role: str = UNRESERVED


@dataclass(frozen=True)
class Room:
    """One agent: what the demand may use there without preempting, its total (to weigh
    resources freed), and the tasks running there."""

    agent_id: str
    free: Resources
    total: Resources
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Choice:
    agent_id: str
    victims: tuple[Candidate, ...] = field(default=())


def may_preempt(demand: Demand, victim: Candidate) -> bool:
    """May ``demand`` evict ``victim``? (The rule in the module's docstring.)"""
    if victim.priority >= demand.priority:
        return False
    if victim.tier == PREEMPTIBLE:
        return True
    return victim.role == demand.role and demand.tier == PREFERRED


def usable(r: Resources, role: str) -> Resources:
    """What of ``r`` a task in ``role`` may use, as unreserved resources (so reserved and
    unreserved amounts add up in one comparison)."""
    part = r.for_role(role)
    out = Resources()
    for (n, _), v in part.scalars.items():
        out = out + Resources({(n, UNRESERVED): v})
    for (n, _), rr in part.ranges.items():
        out = out + Resources(ranges={(n, UNRESERVED): rr})
    for (n, _), ss in part.sets.items():
        out = out + Resources(sets={(n, UNRESERVED): ss})
    return out


def fits(demand: Demand, free: Resources, victims: Iterable[Candidate]) -> bool:
    """Does the demand fit in ``free`` plus what ``victims`` hold?"""
    room = free
    for v in victims:
        room = room + v.resources
    return usable(room, demand.role).contains(usable(demand.resources, demand.role))


def freed_weight(victims: Iterable[Candidate], total: Resources) -> float:
    """The resources ``victims`` free, each scalar kind as a fraction of ``total``, summed."""
    freed = Resources()
    for v in victims:
        freed = freed + v.resources
    weight = 0.0
    for name in {n for n, _ in freed.scalars}:
        t = total.scalar(name)
        amount = freed.scalar(name)
        weight += amount / t if t > 0 else amount
    return round(weight, 9)


def order_key(
    victims: Sequence[Candidate], total: Resources
) -> tuple[int, float, tuple[int, ...], tuple[str, ...]]:
    """Fewer victims, then less freed, then lower priorities (highest first compared),
    then task ids."""
    return (
        len(victims),
        freed_weight(victims, total),
        tuple(sorted((v.priority for v in victims), reverse=True)),
        tuple(sorted(v.task_id for v in victims)),
    )


def choose_victims(demand: Demand, room: Room) -> tuple[Candidate, ...] | None:
    """The victims on ``room`` that make ``demand`` fit: ``()`` when it fits already, None
    when no allowed set of victims is enough."""
    if fits(demand, room.free, ()):
        return ()
    want = usable(demand.resources, demand.role)
    have = usable(room.free, demand.role)
    deficit = want - have  # only the kinds still short
    short = deficit.names()
    allowed = [
        c
        for c in room.candidates
        if may_preempt(demand, c) and usable(c.resources, demand.role).names() & short
    ]
    allowed.sort(key=lambda c: (c.priority, c.task_id))
    if not fits(demand, room.free, allowed):
        return None
    exact = _exact(demand, room, allowed, deficit)
    if exact is not None:
        return exact
    return _greedy(demand, room, allowed, deficit)


def _exact(
    demand: Demand, room: Room, allowed: list[Candidate], deficit: Resources
) -> tuple[Candidate, ...] | None:
    amounts = {
        name: sorted((usable(c.resources, demand.role).scalar(name) for c in allowed), reverse=True)
        for name in {n for n, _ in deficit.scalars}
    }
    budget = MAX_EVALUATIONS
    for k in range(1, len(allowed) + 1):
        # No k of them hold enough of some kind: no k-subset can fit.
        if any(sum(a[:k]) + 1e-9 < deficit.scalar(n) for n, a in amounts.items()):
            continue
        best: tuple[Candidate, ...] | None = None
        best_key = None
        for combo in combinations(allowed, k):
            budget -= 1
            if budget < 0:
                return None
            if fits(demand, room.free, combo):
                key = order_key(combo, room.total)
                if best_key is None or key < best_key:
                    best, best_key = combo, key
        if best is not None:
            return best
    return None


def _greedy(
    demand: Demand, room: Room, allowed: list[Candidate], deficit: Resources
) -> tuple[Candidate, ...] | None:
    chosen: list[Candidate] = []
    left = list(allowed)
    need = {n: deficit.scalar(n) for n, _ in deficit.scalars}

    def gain(c: Candidate, need: dict[str, float]) -> tuple[float, int, str]:
        r = usable(c.resources, demand.role)
        g = sum(min(r.scalar(n), v) / v for n, v in need.items() if v > 0)
        return (-g, c.priority, c.task_id)

    while left and not fits(demand, room.free, chosen):
        pick = min(left, key=lambda c: gain(c, need))
        left.remove(pick)
        chosen.append(pick)
        r = usable(pick.resources, demand.role)
        need = {n: v - r.scalar(n) for n, v in need.items()}
    if not fits(demand, room.free, chosen):
        return None
    # Drop victims the others make redundant, the highest priority first.
    for v in sorted(chosen, key=lambda c: (-c.priority, c.task_id)):
        rest = [c for c in chosen if c is not v]
        if fits(demand, room.free, rest):
            chosen = rest
    return tuple(sorted(chosen, key=lambda c: (c.priority, c.task_id)))


def choose(demand: Demand, rooms: Iterable[Room]) -> Choice | None:
    """The best agent and its victims (no victims: the demand fits somewhere already);
    None when it fits nowhere, whatever is preempted."""
    best: Choice | None = None
    best_key = None
    for room in rooms:
        victims = choose_victims(demand, room)
        if victims is None:
            continue
        key = (*order_key(victims, room.total), room.agent_id)
        if best_key is None or key < best_key:
            best, best_key = Choice(room.agent_id, victims), key
    return best
