"""The allocator's input and output: frozen views, built by the master from its state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corral.master.allocator.quota import Quota
from corral.resources import Resources

MIN_ALLOCATABLE_CPUS = 0.01
MIN_ALLOCATABLE_MEM = 32.0


def allocatable(
    r: Resources, min_cpus: float = MIN_ALLOCATABLE_CPUS, min_mem: float = MIN_ALLOCATABLE_MEM
) -> bool:
    """Mesos's minimum allocatable resources: worth offering when one of these is met."""
    return r.scalar("cpus") >= min_cpus or r.scalar("mem") >= min_mem


@dataclass(frozen=True)
class Filter:
    """A DECLINE's ``refuse_seconds``: do not re-offer resources contained in ``resources``."""

    resources: Resources
    until: float


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    total: Resources
    available: Resources  # total - used - offered


@dataclass(frozen=True)
class FrameworkView:
    framework_id: str
    roles: tuple[str, ...]
    allocated: Mapping[str, Resources]  # role -> used + offered, for DRF
    suppressed_roles: frozenset[str] = frozenset()
    # agent id -> filters (expired ones may still be listed: compare ``until`` with ``now``)
    filters: Mapping[str, Sequence[Filter]] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    # The agents that may get offers; the master leaves out those with nothing to offer.
    agents: tuple[AgentView, ...]
    frameworks: tuple[FrameworkView, ...]
    now: float
    weights: Mapping[str, float] = field(default_factory=dict)
    # The whole cluster's resources, for shares; None: the sum of ``agents``' totals.
    total: Resources | None = None
    # Mesos's minimum allocatable resources: an offer must carry at least one of these.
    min_cpus: float = MIN_ALLOCATABLE_CPUS
    min_mem: float = MIN_ALLOCATABLE_MEM
    # Role -> its quota (guarantees and limits, ``quota.py``); roles absent have none.
    quotas: Mapping[str, Quota] = field(default_factory=dict)


@dataclass(frozen=True)
class OfferPlan:
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
