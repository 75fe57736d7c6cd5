"""The ci framework's state, events and decisions: plain data (see ``provisioning``)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from corral.frameworks.ci.templates import CiConfig

AgentStateName = Literal["pending", "starting", "idle", "busy", "draining", "removing"]
DecisionKind = Literal["create", "keep", "remove", "drain", "wait", "gone"]
LOG_SIZE = 1000
STATES = ("pending", "starting", "idle", "busy", "draining", "removing")
LIVE = ("pending", "starting", "idle", "busy")  # states that give capacity


class Refused(Exception):
    """An event the core will not take (unknown template or agent, bad value): nothing
    changed. ``status`` is the HTTP status that fits (404, 409, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Agent(msgspec.Struct, kw_only=True):
    """One build agent: a task of the template's command (persisted by the shell)."""

    name: str
    template: str
    created_at: float
    state: AgentStateName = "pending"
    named: bool = False  # asked for by name (a Buildbot latent worker), with its env
    env: dict[str, str] = {}
    busy: int = 0  # executors running a build, as the agent (or its CI system) reports
    task_id: str | None = None
    agent_id: str | None = None
    hostname: str = ""
    idle_since: float | None = None
    reason: str = ""  # why it was created
    note: str = ""  # its latest news: waiting for resources, draining, ...


@dataclass(frozen=True)
class Decision:
    at: float
    kind: DecisionKind
    template: str
    reason: str
    agent: str | None = None
    task_id: str | None = None  # for a remove: the task to kill (None: nothing runs yet)
    agent_id: str | None = None


@dataclass
class Demand:
    labels: frozenset[str]
    units: list[float] = field(default_factory=list)  # arrival times, oldest first


@dataclass
class Request:
    name: str
    template: str
    env: dict[str, str]
    since: float


@dataclass
class CiState:
    config: CiConfig
    agents: dict[str, Agent] = field(default_factory=dict)
    demand: dict[tuple[str, frozenset[str]], Demand] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    unplaced: dict[str, str] = field(default_factory=dict)  # template -> why it cannot launch
    ended: dict[str, str] = field(default_factory=dict)  # agent -> how its task ended (recent)
    said: dict[str, str] = field(default_factory=dict)  # subject -> the last wait/keep said
    counter: int = 0
    log: deque[Decision] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))

    # ------------------------------------------------------------------ queries
    def of_template(self, name: str) -> list[Agent]:
        return [a for a in self.agents.values() if a.template == name]

    def pending(self) -> list[Agent]:
        """Agents decided but not launched yet, oldest first (the shell launches them)."""
        return sorted(
            (a for a in self.agents.values() if a.state == "pending"),
            key=lambda a: (a.created_at, a.name),
        )

    def needs_master(self) -> bool:
        """Whether the framework must be registered: it holds agents, or has decided to
        make one (work that waits within its provision-delay needs no resources yet)."""
        return bool(self.agents)

    def waiting_units(self) -> int:
        return sum(len(d.units) for d in self.demand.values()) + len(self.requests)


# ---------------------------------------------------------------------- events
@dataclass(frozen=True)
class SetDemand:
    """``count`` builds (of ``source``) now wait for an agent with ``labels``."""

    labels: frozenset[str]
    count: int
    source: str = "default"


@dataclass(frozen=True)
class RequestAgent:
    """An agent of ``template`` named ``name`` with ``env`` (a Buildbot latent worker)."""

    name: str
    template: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseAgent:
    """The agent (or request) ``name`` is no longer wanted: removed, or drained if busy."""

    name: str
    why: str = "released"


@dataclass(frozen=True)
class Report:
    """The agent runs builds on ``busy`` of its executors (0: idle)."""

    name: str
    busy: int


@dataclass(frozen=True)
class Launched:
    name: str
    task_id: str
    agent_id: str
    hostname: str = ""


@dataclass(frozen=True)
class Running:
    name: str


@dataclass(frozen=True)
class Ended:
    name: str
    state: str
    message: str = ""


@dataclass(frozen=True)
class Unplaced:
    """The cluster has no room for an agent of ``template`` now, and why."""

    template: str
    reason: str


@dataclass(frozen=True)
class Placed:
    """Agents of ``template`` fit again."""

    template: str


@dataclass(frozen=True)
class Tick:
    pass


Event = (
    SetDemand
    | RequestAgent
    | ReleaseAgent
    | Report
    | Launched
    | Running
    | Ended
    | Unplaced
    | Placed
    | Tick
)


def agent_sort_key(a: Agent) -> tuple[str, float, str]:
    return (a.template, a.created_at, a.name)


__all__ = [
    "LIVE",
    "STATES",
    "Agent",
    "CiState",
    "Decision",
    "Demand",
    "Ended",
    "Event",
    "Launched",
    "Placed",
    "Refused",
    "ReleaseAgent",
    "Report",
    "Request",
    "RequestAgent",
    "Running",
    "SetDemand",
    "Tick",
    "Unplaced",
    "agent_sort_key",
]
