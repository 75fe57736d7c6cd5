"""The allocator's input and output: frozen views, built by the master from its state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from corral.resources import Resources


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
    filters: Mapping[str, tuple[Filter, ...]] = field(default_factory=dict)  # agent id -> filters


@dataclass(frozen=True)
class Snapshot:
    agents: tuple[AgentView, ...]
    frameworks: tuple[FrameworkView, ...]
    now: float
    weights: Mapping[str, float] = field(default_factory=dict)
    # Mesos's minimum allocatable resources: an offer must carry at least one of these.
    min_cpus: float = 0.01
    min_mem: float = 32.0


@dataclass(frozen=True)
class OfferPlan:
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
