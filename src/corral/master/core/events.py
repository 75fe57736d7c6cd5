"""What the master core reacts to: calls, streams, agent connections and messages, timers,
election and pause. Built by the shell (and the HTTP layer), consumed by ``core.handle``."""

from __future__ import annotations

from dataclasses import dataclass

from corral.coordination.interfaces import RegistrySnapshot
from corral.wire import agent as amsg
from corral.wire import maintenance as wm
from corral.wire import scheduler as s
from corral.wire.quota import QuotaConfig, WeightInfo


# ---------------------------------------------------------------- frameworks
@dataclass(frozen=True, slots=True)
class StreamOpened:
    """A SUBSCRIBE call (validated by the HTTP layer) on a fresh event stream."""

    principal: str | None
    call: s.Call
    stream_id: str


@dataclass(frozen=True, slots=True)
class StreamClosed:
    stream_id: str


@dataclass(frozen=True, slots=True)
class SchedulerCall:
    """Any non-SUBSCRIBE scheduler call, with the ``Mesos-Stream-Id`` header it came with."""

    principal: str | None
    call: s.Call
    stream_id: str | None


@dataclass(frozen=True, slots=True)
class OperatorTeardown:
    """The operator API's TEARDOWN of a framework, by ``principal`` (ACL-checked)."""

    principal: str | None
    framework_id: str


@dataclass(frozen=True, slots=True)
class OperatorKill:
    """corral's KILL_TASK operator call, by ``principal`` (ACL-checked as a TEARDOWN of the
    task's framework would be)."""

    principal: str | None
    task_id: str
    framework_id: str | None = None
    grace: float | None = None  # seconds; None: the task's own kill policy


# ---------------------------------------------------------------- agents
@dataclass(frozen=True, slots=True)
class AgentRegistered:
    """A RegisterAgent message on connection ``link``."""

    link: int
    message: amsg.RegisterAgent


@dataclass(frozen=True, slots=True)
class AgentMessages:
    """The other messages of one frame from connection ``link``, in order."""

    link: int
    messages: list[amsg.AgentToMaster]


@dataclass(frozen=True, slots=True)
class AgentDisconnected:
    link: int


# ---------------------------------------------------------------- timers
@dataclass(frozen=True, slots=True)
class AllocationDue:
    """The shell's answer to ``AllocateSoon``, ``allocation_delay`` later."""


@dataclass(frozen=True, slots=True)
class AllocationTimed:
    """How long the last allocation pass took (the shell measures it)."""

    ms: float


@dataclass(frozen=True, slots=True)
class PingDue:
    """Every ``agent_ping_timeout``: count missed pongs, ping again."""


@dataclass(frozen=True, slots=True)
class FailoverTimeout:
    framework_id: str


@dataclass(frozen=True, slots=True)
class OfferTimeout:
    offer_id: str
    notify: bool = True


@dataclass(frozen=True, slots=True)
class FilterLapsed:
    framework_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ReregisterTimeout:
    """Agents recovered from the registry had their time to come back."""


@dataclass(frozen=True, slots=True)
class DrainDue:
    """A draining agent's notice is over: kill what still runs there."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class PreemptionDue:
    """A preemption's notice is over: the master kills the victims still running."""

    preemption_id: str


@dataclass(frozen=True, slots=True)
class HoldLapsed:
    """The resources a preemption freed are no longer kept for the framework that asked."""

    preemption_id: str


TimerEvent = (
    FailoverTimeout
    | OfferTimeout
    | FilterLapsed
    | ReregisterTimeout
    | DrainDue
    | PreemptionDue
    | HoldLapsed
)


# ---------------------------------------------------------------- operator
@dataclass(frozen=True, slots=True)
class AgentMaintenance:
    """An operator's DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT or MARK_AGENT_GONE."""

    kind: str  # the call type
    agent_id: str
    principal: str | None = None
    max_grace: float | None = None  # DRAIN_AGENT
    mark_gone: bool = False  # DRAIN_AGENT


@dataclass(frozen=True, slots=True)
class QuotaUpdate:
    """UPDATE_QUOTA (``core/quota.py``): all the configs, applied all or nothing."""

    principal: str | None
    configs: tuple[QuotaConfig, ...]
    force: bool = False


@dataclass(frozen=True, slots=True)
class WeightsUpdate:
    """UPDATE_WEIGHTS (``core/quota.py``)."""

    principal: str | None
    weights: tuple[WeightInfo, ...]


@dataclass(frozen=True, slots=True)
class MachineMaintenance:
    """An operator's UPDATE_MAINTENANCE_SCHEDULE (``schedule``), START_MAINTENANCE or
    STOP_MAINTENANCE (``machines``), checked by the core (``core/schedules.py``)."""

    kind: str  # the call type
    principal: str | None = None
    schedule: wm.Schedule | None = None
    machines: tuple[wm.MachineID, ...] = ()


# ---------------------------------------------------------------- leadership
@dataclass(frozen=True, slots=True)
class RegistryRecovered:
    """On election: what the registry holds from earlier masters."""

    snapshot: RegistrySnapshot


@dataclass(frozen=True, slots=True)
class Paused:
    """Stop acting (no offers, no answers) without forgetting anything."""


@dataclass(frozen=True, slots=True)
class Resumed:
    pass


Event = (
    StreamOpened
    | StreamClosed
    | SchedulerCall
    | OperatorTeardown
    | OperatorKill
    | AgentRegistered
    | AgentMessages
    | AgentDisconnected
    | AllocationDue
    | AllocationTimed
    | PingDue
    | TimerEvent
    | RegistryRecovered
    | AgentMaintenance
    | QuotaUpdate
    | WeightsUpdate
    | MachineMaintenance
    | Paused
    | Resumed
)
