"""Priorities and preemption in the toolkit (pure; docs/preemption.md).

* A ``TaskSpec`` carries a ``tier`` and a ``priority``; its tasks carry them to the master as
  the labels ``corral.tier`` and ``corral.priority`` (``with_labels``).
* ``Asker`` decides when to ask the master to preempt for a goal that stays short of its
  count (``preemption_delay`` seconds without enough offers): a REQUEST call whose entries
  carry corral's demand, one per missing task, keyed ``<group>/<n>`` so that asking again
  while the master serves a request does not preempt twice.
* ``notice_of`` reads the tasks an inverse offer takes back; the toolkit kills them and its
  goals launch them again when capacity returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from corral.resources import Resources
from corral.scheduler_client.placement import TaskSpec
from corral.scheduler_client.planner import Goal
from corral.scheduler_client.tracker import TrackedTask
from corral.wire import scheduler as s
from corral.wire.common import Label, Labels
from corral.wire.preemption import (
    DEFAULT_PRIORITY,
    DEFAULT_TIER,
    PRIORITY_LABEL,
    TIER_LABEL,
    Demand,
    Request,
    ResourceRequest,
    tier_and_priority,
)
from corral.wire.tasks import TaskInfo

MAX_ASKED = 20  # missing tasks asked for per group in one REQUEST


def spec_priority(labels: Mapping[str, str], where: str = "labels") -> tuple[str, int]:
    """Tier and priority from a ``{key: value}`` label map (an app definition's); a bad
    value is a ValueError naming ``<where>.corral.tier`` or ``<where>.corral.priority``."""
    return tier_and_priority(
        Labels(labels=[Label(key=k, value=v) for k, v in labels.items()]), where
    )


def with_labels(info: TaskInfo, spec: TaskSpec) -> TaskInfo:
    """``info`` with the spec's tier and priority as labels, unless it names them already
    (or the spec has the defaults)."""
    if spec.tier == DEFAULT_TIER and spec.priority == DEFAULT_PRIORITY:
        return info
    have = {lb.key for lb in info.labels.labels} if info.labels is not None else set()
    extra = []
    if TIER_LABEL not in have:
        extra.append(Label(key=TIER_LABEL, value=spec.tier))
    if PRIORITY_LABEL not in have:
        extra.append(Label(key=PRIORITY_LABEL, value=str(spec.priority)))
    if not extra:
        return info
    labels = Labels(labels=[*(info.labels.labels if info.labels else []), *extra])
    return msgspec.structs.replace(info, labels=labels)


def missing(goals: Sequence[Goal], live: Sequence[TrackedTask]) -> dict[str, tuple[Goal, int]]:
    """Per group, how many tasks its goal still lacks (launched ones count)."""
    have: dict[str, int] = {}
    for t in live:
        have[t.group] = have.get(t.group, 0) + 1
    out = {}
    for g in goals:
        n = g.count - have.get(g.group, 0)
        if n > 0 and not g.spec.resources.is_empty():
            out[g.group] = (g, n)
    return out


def demand_of(spec: TaskSpec, key: str, role: str) -> ResourceRequest:
    wanted: Resources = spec.resources
    for port in spec.named_ports:
        wanted = wanted + Resources(ranges={("ports", "*"): ((port, port),)})
    return ResourceRequest(
        resources=wanted.to_wire(),
        corral=Demand(
            priority=spec.priority,
            tier=spec.tier,
            role=spec.role if spec.role != "*" else role,
            key=key,
            name=spec.name,
        ),
    )


def request_call(requests: list[ResourceRequest]) -> s.Call:
    return s.Call(type="REQUEST", request=Request(requests=requests))


@dataclass
class Asker:
    """When to ask for preemption: a group short of its count for ``delay`` seconds is
    asked for, then again every ``every`` seconds while it stays short."""

    since: dict[str, float] = field(default_factory=dict)  # group -> short since
    asked: dict[str, float] = field(default_factory=dict)  # group -> last asked

    def due(
        self,
        short: Mapping[str, tuple[Goal, int]],
        now: float,
        delay: float,
        every: float,
        role: str,
        force: bool = False,
    ) -> list[ResourceRequest]:
        for group in [g for g in self.since if g not in short]:
            del self.since[group]
            self.asked.pop(group, None)
        out = []
        for group, (goal, n) in sorted(short.items()):
            first = self.since.setdefault(group, now)
            if not force:
                if now - first < delay:
                    continue
                if now - self.asked.get(group, float("-inf")) < every:
                    continue
            self.asked[group] = now
            for i in range(min(n, MAX_ASKED)):
                out.append(demand_of(goal.spec, f"{group}/{i}", role))
        return out


def notice_of(io: s.InverseOffer) -> list[str] | None:
    """The task ids an inverse offer takes back (a preemption), or None (maintenance)."""
    if io.preemption is None:
        return None
    return [t.value for t in io.preemption.task_ids]
