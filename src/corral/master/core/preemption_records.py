"""What the master keeps of preemptions (plain data, part of ``MasterState``): every
preemption decided, with its victims and reasons (the newest ``MAX_PREEMPTIONS``), and the
freed resources held for the framework that asked."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from corral.resources import Resources
from corral.wire.preemption import REASON_PREEMPTED

MAX_PREEMPTIONS = 1000

NOTIFIED = "NOTIFIED"  # inverse offers sent, the notice runs
KILLING = "KILLING"  # the notice is over: the master killed what was left
HELD = "HELD"  # freed resources are offered only to the asker
OFFERED = "OFFERED"  # they were offered to it
LAPSED = "LAPSED"  # the hold ran out before they were all free
CANCELLED = "CANCELLED"  # the asker was removed before the notice was over


def covering(a: Resources, b: Resources) -> Resources:
    """The least that contains both ``a`` and ``b``: per key the larger scalar, the union of
    ranges and sets."""
    scalars = dict(a.scalars)
    for k, v in b.scalars.items():
        scalars[k] = max(scalars.get(k, 0.0), v)
    both = Resources(scalars) + Resources(ranges=a.ranges, sets=a.sets)
    return both + Resources(ranges=b.ranges, sets=b.sets)


@dataclass
class Victim:
    task_id: str
    framework_id: str
    role: str
    tier: str
    priority: int
    resources: Resources
    reason: str


@dataclass
class Preemption:
    id: str
    time: float
    framework_id: str  # the framework that asked
    framework_name: str
    key: str | None
    name: str | None
    role: str
    tier: str
    priority: int
    agent_id: str
    hostname: str
    resources: Resources  # what it asked for
    kill_at: float
    hold_until: float
    victims: list[Victim] = field(default_factory=list)
    inverse_offers: dict[str, str] = field(default_factory=dict)  # id -> framework id
    state: str = NOTIFIED
    hold: str = HELD

    @property
    def held(self) -> Resources:
        """What is kept from others on the agent: what was asked for or what the victims
        free, whichever is more, kind by kind."""
        freed = Resources()
        for v in self.victims:
            freed = freed + v.resources
        return covering(self.resources, freed)

    @property
    def active(self) -> bool:
        return self.hold == HELD or self.state == NOTIFIED


@dataclass
class PreemptionBook:
    records: OrderedDict[str, Preemption] = field(default_factory=OrderedDict)
    next_id: int = 0
    # (framework id, task id) -> preemption id, while the task is a victim being taken back
    victims: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, rec: Preemption) -> None:
        self.records[rec.id] = rec
        while len(self.records) > MAX_PREEMPTIONS:
            oldest = next(iter(self.records.values()))
            if oldest.active:
                break
            self.forget(oldest)

    def forget(self, rec: Preemption) -> None:
        self.records.pop(rec.id, None)
        for v in rec.victims:
            if self.victims.get((v.framework_id, v.task_id)) == rec.id:
                del self.victims[(v.framework_id, v.task_id)]

    def kill_reason(self, framework_id: str, task_id: str) -> str | None:
        """A kill of a task being preempted (by its framework or the master) says so."""
        return REASON_PREEMPTED if (framework_id, task_id) in self.victims else None

    def active(self) -> list[Preemption]:
        return [r for r in self.records.values() if r.active]

    def serving(self, framework_id: str, key: str) -> bool:
        """A request of ``key`` by the framework is still being served."""
        return any(
            r.framework_id == framework_id and r.key == key
            for r in self.records.values()
            if r.active
        )
