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


@dataclass
class _Search:
    """One agent's search, over floats: each allowed candidate's amount of every scalar kind
    the demand is short of, and its share of the agent (for "resources freed")."""

    demand: Demand
    room: Room
    allowed: list[Candidate]
    kinds: list[str]
    have: list[float]
    want: list[float]
    amounts: list[list[float]]  # [candidate][kind]
    weights: list[float]
    generic: bool  # the demand is short of ranges or sets too: check those with Resources

    def fits(self, idx: Sequence[int]) -> bool:
        for k in range(len(self.kinds)):
            got = self.have[k] + sum(self.amounts[i][k] for i in idx)
            if round(got - self.want[k], 3) < 0:
                return False
        if self.generic:
            return fits(self.demand, self.room.free, [self.allowed[i] for i in idx])
        return True

    def key(self, idx: Sequence[int]) -> tuple[int, float, tuple[int, ...], tuple[str, ...]]:
        vs = [self.allowed[i] for i in idx]
        return (
            len(vs),
            round(sum(self.weights[i] for i in idx), 9),
            tuple(sorted((v.priority for v in vs), reverse=True)),
            tuple(sorted(v.task_id for v in vs)),
        )


def _amounts(r: Resources, role: str) -> dict[str, float]:
    """The scalars of ``r`` a task in ``role`` may use, by name (unreserved + ``role``)."""
    out: dict[str, float] = {}
    for (name, res_role), v in r.scalars.items():
        if res_role in (UNRESERVED, role):
            out[name] = out.get(name, 0.0) + v
    return out


def _search(demand: Demand, room: Room) -> _Search | None:
    """None when the demand fits already."""
    role = demand.role
    want_r = usable(demand.resources, role)
    have_r = usable(room.free, role)
    if have_r.contains(want_r):
        return None
    deficit = want_r - have_r
    kinds = sorted({n for n, _ in deficit.scalars})
    generic = bool(deficit.ranges or deficit.sets)
    other = {n for n, _ in (*deficit.ranges, *deficit.sets)}
    totals: dict[str, float] = {}
    for (name, _), v in room.total.scalars.items():
        totals[name] = totals.get(name, 0.0) + v
    allowed: list[Candidate] = []
    amounts: list[list[float]] = []
    weights: list[float] = []
    for c in sorted(room.candidates, key=lambda c: (c.priority, c.task_id)):
        if not may_preempt(demand, c):
            continue
        mine = _amounts(c.resources, role)
        vec = [mine.get(k, 0.0) for k in kinds]
        if not any(vec) and not (
            other
            and other
            & {n for n, r in (*c.resources.ranges, *c.resources.sets) if r in (UNRESERVED, role)}
        ):
            continue  # it holds nothing the demand is short of
        allowed.append(c)
        amounts.append(vec)
        w = 0.0
        for (name, _), v in c.resources.scalars.items():
            tot = totals.get(name, 0.0)
            w += v / tot if tot > 0 else v
        weights.append(w)
    return _Search(
        demand,
        room,
        allowed,
        kinds,
        [have_r.scalar(k) for k in kinds],
        [want_r.scalar(k) for k in kinds],
        amounts,
        weights,
        generic,
    )


def choose_victims(
    demand: Demand, room: Room, max_count: int | None = None
) -> tuple[Candidate, ...] | None:
    """The victims on ``room`` that make ``demand`` fit: ``()`` when it fits already, None
    when no allowed set of victims is enough (or none of at most ``max_count``, when the
    search is exact)."""
    search = _search(demand, room)
    if search is None:
        return ()
    everyone = list(range(len(search.allowed)))
    if not search.fits(everyone):
        return None
    picked, complete = _exact(search, max_count)
    if picked is None and complete:
        return None
    if picked is None:
        picked = _greedy(search)
    if picked is None:
        return None
    return tuple(search.allowed[i] for i in picked)


def _exact(search: _Search, max_count: int | None) -> tuple[list[int] | None, bool]:
    """The best set of at most ``max_count`` victims, and whether the search was complete
    (False: over budget, with no answer)."""
    n = len(search.allowed)
    by_kind = [
        sorted((a[k] for a in search.amounts), reverse=True) for k in range(len(search.kinds))
    ]
    budget = MAX_EVALUATIONS
    top = n if max_count is None else min(n, max_count)
    for k in range(1, top + 1):
        # No k of them hold enough of some kind: no k-subset can fit.
        if any(
            round(search.have[j] + sum(by_kind[j][:k]) - search.want[j], 3) < 0
            for j in range(len(search.kinds))
        ):
            continue
        best: list[int] | None = None
        best_key = None
        for combo in combinations(range(n), k):
            budget -= 1
            if budget < 0:
                return None, False
            if search.fits(combo):
                key = search.key(combo)
                if best_key is None or key < best_key:
                    best, best_key = list(combo), key
        if best is not None:
            return best, True
    return None, True


def _greedy(search: _Search) -> list[int] | None:
    kinds = range(len(search.kinds))
    chosen: list[int] = []
    left = list(range(len(search.allowed)))
    need = [search.want[k] - search.have[k] for k in kinds]

    def gain(i: int) -> tuple[float, int, str]:
        a = search.amounts[i]
        g = sum(min(a[k], need[k]) / need[k] for k in kinds if need[k] > 0)
        c = search.allowed[i]
        return (-g, c.priority, c.task_id)

    while left and not search.fits(chosen):
        pick = min(left, key=gain)
        left.remove(pick)
        chosen.append(pick)
        need = [need[k] - search.amounts[pick][k] for k in kinds]
    if not search.fits(chosen):
        return None
    # Drop victims the others make redundant, the highest priority first.
    for i in sorted(chosen, key=lambda i: (-search.allowed[i].priority, search.allowed[i].task_id)):
        rest = [j for j in chosen if j != i]
        if search.fits(rest):
            chosen = rest
    return sorted(chosen)


def choose(demand: Demand, rooms: Iterable[Room]) -> Choice | None:
    """The best agent and its victims (no victims: the demand fits somewhere already);
    None when it fits nowhere, whatever is preempted."""
    best: Choice | None = None
    best_key: tuple[int, float, tuple[int, ...], tuple[str, ...], str] | None = None
    for room in rooms:
        limit = best_key[0] if best_key is not None else None
        if limit == 0:
            break  # it fits somewhere without preempting: nothing beats that
        victims = choose_victims(demand, room, limit)
        if victims is None:
            continue
        key = (*order_key(victims, room.total), room.agent_id)
        if best_key is None or key < best_key:
            best, best_key = Choice(room.agent_id, victims), key
    return best
