"""Placement: which offer each task goes to, and why a task fits nowhere (pure).

``place(specs, offers, placed=...)`` matches task specs to offered agents beyond
``fit_count``: scalar resources, port ranges (any N ports or named ones), roles and
reservations, and constraints on the hostname and agent attributes with Marathon's
operators (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS). Tasks placed in the same
call count against the constraints of the next ones. A task that cannot be placed comes back
with a sentence a user understands, e.g. ``needs cpus 8, largest free on any agent is 2
(agent total 4)`` or ``hostname:UNIQUE leaves 0 of 3 agents``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from corral.resources import UNRESERVED, RangeList, Resources, from_wire
from corral.scheduler_client.constraints import (
    OPERATORS,
    Constraint,
    Placed,
    allows,
    attribute_text,
    field_value,
    format_number,
    rejection,
)
from corral.wire.preemption import DEFAULT_PRIORITY, DEFAULT_TIER, check_tier
from corral.wire.scheduler import Offer


@dataclass(frozen=True)
class TaskSpec:
    """What one task needs. ``group`` names the tasks the constraints count together
    (an app's instances); ``role`` is the role it runs in (reserved resources of that role
    are used first, then unreserved ones, unless ``reserved_only``)."""

    name: str
    resources: Resources
    group: str = ""
    ports: int = 0  # any N ports
    named_ports: tuple[int, ...] = ()  # exactly these port numbers
    role: str = UNRESERVED
    reserved_only: bool = False
    constraints: tuple[Constraint, ...] = ()
    # Preemption (docs/preemption.md): "preferred" or "preemptible", and a whole number;
    # the tasks carry them as the labels corral.tier and corral.priority.
    tier: str = DEFAULT_TIER
    priority: int = DEFAULT_PRIORITY

    def __post_init__(self) -> None:
        check_tier(self.tier, "TaskSpec.tier")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValueError(f"TaskSpec.priority: {self.priority!r} is not a whole number")

    @property
    def key(self) -> str:
        return self.group or self.name


@dataclass(frozen=True)
class AgentOffer:
    """What one agent offers now: the offers' resources merged."""

    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    available: Resources
    offer_ids: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    spec: TaskSpec
    agent_id: str
    hostname: str
    offer_ids: tuple[str, ...]
    resources: Resources  # exactly what the task takes (roles as offered, chosen ports)
    ports: tuple[int, ...]  # the chosen ports, named ones first, in order


@dataclass(frozen=True)
class Unplaced:
    spec: TaskSpec
    reason: str


@dataclass
class Placement:
    assignments: list[Assignment] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    outcomes: list[Assignment | Unplaced] = field(default_factory=list)  # one per spec, in order

    def by_agent(self) -> dict[str, list[Assignment]]:
        out: dict[str, list[Assignment]] = {}
        for a in self.assignments:
            out.setdefault(a.agent_id, []).append(a)
        return out

    def offer_ids(self) -> set[str]:
        return {o for a in self.assignments for o in a.offer_ids}


# ---------------------------------------------------------------------- agents from offers
def agents_from_offers(offers: Iterable[Offer]) -> list[AgentOffer]:
    """One AgentOffer per agent (several offers for one agent are merged), in offer order."""
    merged: dict[str, AgentOffer] = {}
    for o in offers:
        attrs: dict[str, str] = {}
        for a in o.attributes:
            kv = attribute_text(a)
            if kv is not None:
                attrs[kv[0]] = kv[1]
        res = from_wire(o.resources)
        prev = merged.get(o.agent_id.value)
        if prev is None:
            merged[o.agent_id.value] = AgentOffer(
                o.agent_id.value, o.hostname, attrs, res, (o.id.value,)
            )
        else:
            merged[o.agent_id.value] = AgentOffer(
                prev.agent_id,
                prev.hostname,
                {**prev.attributes, **attrs},
                prev.available + res,
                (*prev.offer_ids, o.id.value),
            )
    return list(merged.values())


def totals_from_state(state: Mapping[str, object]) -> dict[str, Resources]:
    """Each agent's total resources from the master's ``/master/state`` (or ``/slaves``)
    JSON, for the "(agent total N)" in the reasons. Entries it cannot read are skipped."""
    out: dict[str, Resources] = {}
    agents = state.get("slaves", [])
    for agent in agents if isinstance(agents, list) else []:
        if not isinstance(agent, Mapping) or not isinstance(agent.get("id"), str):
            continue
        res = agent.get("resources", {})
        total = Resources()
        for name, value in res.items() if isinstance(res, Mapping) else []:
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                total = total + Resources({(str(name), UNRESERVED): round(float(value), 3)})
            elif isinstance(value, str) and value.startswith("[") and value.endswith("]"):
                spans = []
                for part in value[1:-1].split(","):
                    lo, dash, hi = part.strip().partition("-")
                    if dash and lo.isdigit() and hi.isdigit():
                        spans.append((int(lo), int(hi)))
                if spans:
                    total = total + Resources(ranges={(str(name), UNRESERVED): tuple(spans)})
        out[str(agent["id"])] = total
    return out


# ---------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class _Candidate:
    agent: AgentOffer
    value_of: Mapping[str, str | None]  # field -> value on this agent


# ---------------------------------------------------------------------- resources
def _usable(available: Resources, spec: TaskSpec) -> Resources:
    """What ``spec`` may use of an agent's offer: its role's reservations and unreserved."""
    ok = {spec.role} if spec.reserved_only else {spec.role, UNRESERVED}
    return Resources(
        {k: v for k, v in available.scalars.items() if k[1] in ok},
        {k: v for k, v in available.ranges.items() if k[1] in ok},
        {k: v for k, v in available.sets.items() if k[1] in ok},
    )


def _role_order(roles: Iterable[str], spec: TaskSpec) -> list[str]:
    # Reserved for the task's role first, so reservations are used before the shared pool.
    return sorted(set(roles), key=lambda r: (r == UNRESERVED, r))


def _take_scalars(usable: Resources, spec: TaskSpec) -> Resources | None:
    taken: dict[tuple[str, str], float] = {}
    for name in sorted({n for n, _ in spec.resources.scalars}):
        need = spec.resources.scalar(name)
        if need <= 0:
            continue
        roles = [r for (n, r) in usable.scalars if n == name]
        for role in _role_order(roles, spec):
            if need <= 0:
                break
            have = usable.scalars[(name, role)]
            part = round(min(have, need), 3)
            if part > 0:
                taken[(name, role)] = part
                need = round(need - part, 3)
        if need > 1e-9:
            return None
    return Resources(taken)


def _port_ranges(usable: Resources) -> dict[str, RangeList]:
    return {role: r for (n, role), r in usable.ranges.items() if n == "ports"}


def _take_ports(usable: Resources, spec: TaskSpec) -> tuple[Resources, tuple[int, ...]] | None:
    by_role = _port_ranges(usable)
    chosen: list[tuple[int, str]] = []

    def role_having(port: int) -> str | None:
        for role in _role_order(by_role, spec):
            if any(b <= port <= e for b, e in by_role[role]) and (port, role) not in chosen:
                return role
        return None

    for port in spec.named_ports:
        role = role_having(port)
        if role is None or any(p == port for p, _ in chosen):
            return None
        chosen.append((port, role))
    need = spec.ports
    for role in _role_order(by_role, spec):
        for b, e in by_role[role]:
            port = b
            while need > 0 and port <= e:
                if all(p != port for p, _ in chosen):
                    chosen.append((port, role))
                    need -= 1
                port += 1
    if need > 0:
        return None
    ranges: dict[tuple[str, str], RangeList] = {}
    for port, role in chosen:
        ranges[("ports", role)] = (*ranges.get(("ports", role), ()), (port, port))
    return Resources(ranges=ranges) + Resources(), tuple(p for p, _ in chosen)


def _free_ports(usable: Resources) -> int:
    return sum(e - b + 1 for r in _port_ranges(usable).values() for b, e in r)


def _ports_free(usable: Resources, port: int) -> bool:
    return any(b <= port <= e for r in _port_ranges(usable).values() for b, e in r)


def _resource_reason(
    spec: TaskSpec,
    candidates: Sequence[AgentOffer],
    usable: Mapping[str, Resources],
    totals: Mapping[str, Resources] | None,
    all_agents: int,
) -> str:
    where = (
        "any agent"
        if len(candidates) == all_agents
        else (
            f"any of the {len(candidates)} agent{'s' if len(candidates) != 1 else ''} "
            "the constraints allow"
        )
    )
    role_note = (
        ""
        if spec.role == UNRESERVED
        else (
            f" reserved for role {spec.role}"
            if spec.reserved_only
            else f" (unreserved or reserved for role {spec.role})"
        )
    )
    for name in sorted({n for n, _ in spec.resources.scalars}):
        need = spec.resources.scalar(name)
        if need <= 0:
            continue
        best = max(candidates, key=lambda a: usable[a.agent_id].scalar(name))
        largest = usable[best.agent_id].scalar(name)
        if largest < need:
            total = ""
            if totals is not None and best.agent_id in totals:
                total = f" (agent total {format_number(totals[best.agent_id].scalar(name))})"
            return (
                f"needs {name} {format_number(need)}{role_note}, largest free on {where} "
                f"is {format_number(largest)}{total}"
            )
    for port in spec.named_ports:
        if not any(_ports_free(usable[a.agent_id], port) for a in candidates):
            return f"needs port {port}, which is free on no agent"
    need_ports = spec.ports + len(spec.named_ports)
    if need_ports:
        most = max(_free_ports(usable[a.agent_id]) for a in candidates)
        if most < need_ports:
            plural = "s" if need_ports != 1 else ""
            return f"needs {need_ports} port{plural}, most free on {where} is {most}"
    wanted = ", ".join(
        f"{n} {format_number(spec.resources.scalar(n))}"
        for n in sorted({n for n, _ in spec.resources.scalars})
    )
    if spec.named_ports:
        wanted += ", ports " + ",".join(str(p) for p in spec.named_ports)
    if spec.ports:
        wanted += f", {spec.ports} port{'s' if spec.ports != 1 else ''}"
    return f"no single agent has {wanted.strip(', ')} free at once"


# ---------------------------------------------------------------------- place
def place(
    specs: Sequence[TaskSpec],
    offers: Sequence[Offer] | Sequence[AgentOffer],
    placed: Sequence[Placed] = (),
    *,
    totals: Mapping[str, Resources] | None = None,
) -> Placement:
    """Place ``specs`` in order onto the offered agents.

    ``placed`` are the framework's running tasks (for UNIQUE, CLUSTER, GROUP_BY, MAX_PER);
    ``totals`` optionally maps agent ids to their total resources, for the reasons.
    Among the agents a task fits, the one with the fewest tasks of its group wins (spread),
    then the first offered.
    """
    agents: list[AgentOffer] = (
        agents_from_offers(offers)  # type: ignore[arg-type]
        if offers and isinstance(offers[0], Offer)
        else list(offers)  # type: ignore[arg-type]
    )
    free = {a.agent_id: a.available for a in agents}
    placed_now = list(placed)
    by_id = {a.agent_id: a for a in agents}
    # Tasks per (group, agent), kept as tasks are placed: the spread rule reads it for every
    # fitting agent, so counting ``placed`` there would be tasks x agents x placed.
    counts: dict[tuple[str, str], int] = {}
    for p in placed_now:
        counts[(p.group, p.agent_id)] = counts.get((p.group, p.agent_id), 0) + 1
    result = Placement()
    for spec in specs:
        found = _place_one(spec, agents, free, placed_now, totals, counts)
        if isinstance(found, str):
            result.unplaced.append(Unplaced(spec, found))
            result.outcomes.append(result.unplaced[-1])
            continue
        result.assignments.append(found)
        result.outcomes.append(found)
        free[found.agent_id] = free[found.agent_id] - found.resources
        agent = by_id[found.agent_id]
        placed_now.append(Placed(spec.key, agent.agent_id, agent.hostname, agent.attributes))
        counts[(spec.key, agent.agent_id)] = counts.get((spec.key, agent.agent_id), 0) + 1
    return result


def _place_one(
    spec: TaskSpec,
    agents: Sequence[AgentOffer],
    free: Mapping[str, Resources],
    placed: Sequence[Placed],
    totals: Mapping[str, Resources] | None,
    counts: Mapping[tuple[str, str], int],
) -> Assignment | str:
    if not agents:
        return "no agent is offering resources to this framework right now"
    candidates = [
        _Candidate(
            a, {c.field: field_value(c.field, a.hostname, a.attributes) for c in spec.constraints}
        )
        for a in agents
    ]
    for c in spec.constraints:
        all_values = {v for cand in candidates if (v := cand.value_of.get(c.field)) is not None}
        kept = [
            cand
            for cand in candidates
            if allows(c, spec.key, cand.value_of.get(c.field), placed, all_values)
        ]
        if not kept:
            values = [cand.value_of.get(c.field) for cand in candidates]
            return rejection(c, values, len(candidates))
        candidates = kept
    # The agent with the fewest tasks of the group wins, then the first offered: try them in
    # that order and stop at the first that fits (sorted() is stable).
    order = sorted(candidates, key=lambda c: counts.get((spec.key, c.agent.agent_id), 0))
    found: tuple[AgentOffer, Resources, tuple[int, ...]] | None = None
    for cand in order:
        u = _usable(free[cand.agent.agent_id], spec)
        scal = _take_scalars(u, spec)
        if scal is None:
            continue
        took = _take_ports(u, spec)
        if took is None:
            continue
        found = (cand.agent, scal + took[0], took[1])
        break
    if found is None:
        usable = {c.agent.agent_id: _usable(free[c.agent.agent_id], spec) for c in candidates}
        return _resource_reason(spec, [c.agent for c in candidates], usable, totals, len(agents))
    agent, res, ports = found
    return Assignment(spec, agent.agent_id, agent.hostname, agent.offer_ids, res, ports)


__all__ = [
    "OPERATORS",
    "AgentOffer",
    "Assignment",
    "Constraint",
    "Placed",
    "Placement",
    "TaskSpec",
    "Unplaced",
    "agents_from_offers",
    "attribute_text",
    "field_value",
    "place",
    "totals_from_state",
]
