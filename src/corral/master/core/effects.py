"""What the master core asks its shell to do. Effects are carried out in list order."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from corral.master.core.events import TimerEvent
from corral.master.core.state import AgentRecord, FrameworkRecord, TaskRecord
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import TaskStatus


@dataclass(frozen=True, slots=True)
class SendToFramework:
    stream_id: str
    event: s.Event


@dataclass(frozen=True, slots=True)
class CloseStream:
    stream_id: str


@dataclass(frozen=True, slots=True)
class SendToAgent:
    link: int
    message: amsg.MasterToAgent


@dataclass(frozen=True, slots=True)
class AdmitAgent:
    agent_id: str
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MarkUnreachable:
    agent_id: str
    when: float


@dataclass(frozen=True, slots=True)
class MarkGone:
    """MARK_AGENT_GONE: the agent may never come back."""

    agent_id: str
    when: float


@dataclass(frozen=True, slots=True)
class StoreQuota:
    """A role's quota (``core/quota.py``); both empty: the role has none any more."""

    role: str
    guarantees: dict[str, float]
    limits: dict[str, float]


@dataclass(frozen=True, slots=True)
class StoreWeights:
    """Roles' weights set by UPDATE_WEIGHTS (merged into those stored)."""

    weights: dict[str, float]


@dataclass(frozen=True, slots=True)
class SaveMaintenance:
    """The maintenance schedule and the DOWN machines (``machines.Maintenance.to_registry``)."""

    data: dict[str, Any]


RegistryOp = AdmitAgent | MarkUnreachable | MarkGone | StoreQuota | StoreWeights | SaveMaintenance


@dataclass(frozen=True, slots=True)
class Persist:
    """Apply ``op`` to the registry, after every earlier Persist and off the event loop."""

    op: RegistryOp


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Deliver ``event`` at ``at`` (the clock ``now`` comes from); replaces a timer of ``key``."""

    key: Hashable
    at: float
    event: TimerEvent


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: Hashable


@dataclass(frozen=True, slots=True)
class AllocateSoon:
    """Feed ``AllocationDue`` after ``allocation_delay``."""


# ---------------------------------------------------------------- what happened, for operators
# The operator API's SUBSCRIBE events (Mesos's ``master::Event``), said by the core as it
# changes the state; the shell renders them for its subscribers (if it has any) right after
# ``handle`` returns, so a record they name is read in the state that transition left.
@dataclass(frozen=True, slots=True)
class TaskAdded:
    task: TaskRecord


@dataclass(frozen=True, slots=True)
class TaskUpdated:
    framework_id: str
    status: TaskStatus
    state: str  # the task's latest state (may be newer than ``status``)


@dataclass(frozen=True, slots=True)
class AgentAdded:
    agent: AgentRecord


@dataclass(frozen=True, slots=True)
class AgentRemoved:
    agent_id: str


@dataclass(frozen=True, slots=True)
class FrameworkAdded:
    framework: FrameworkRecord


@dataclass(frozen=True, slots=True)
class FrameworkUpdated:
    framework: FrameworkRecord


@dataclass(frozen=True, slots=True)
class FrameworkRemoved:
    info: FrameworkInfo


Happened = (
    TaskAdded
    | TaskUpdated
    | AgentAdded
    | AgentRemoved
    | FrameworkAdded
    | FrameworkUpdated
    | FrameworkRemoved
)


@dataclass(frozen=True, slots=True)
class Publish:
    """Tell the operator event stream's subscribers what ``happened``."""

    happened: Happened


@dataclass(frozen=True, slots=True)
class Observe:
    """A duration the core computed from its ``now``s (e.g. offer -> ACCEPT), for the
    shell's latency histograms; ``metric`` names one of them."""

    metric: str
    seconds: float


Effect = (
    SendToFramework
    | CloseStream
    | SendToAgent
    | Persist
    | SetTimer
    | CancelTimer
    | AllocateSoon
    | Publish
    | Observe
)
Effects = list[Effect]
