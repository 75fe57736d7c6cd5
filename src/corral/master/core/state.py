"""What the master holds in memory: agents, frameworks, tasks and offers — plain data.

No streams, send callables, timer handles or threads: a framework's event stream is named by
``stream_id`` and an agent's connection by ``link`` (ids the shell assigns); timers are named
by keys in effects. Only ``core/`` transitions change these records."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from corral.master.allocator import Filter, Quota
from corral.master.core.config import MasterConfig, make_master_info
from corral.master.core.machines import Maintenance
from corral.master.core.preemption_records import PreemptionBook
from corral.master.timings import TimerWindow
from corral.resources import Resources
from corral.wire.common import AgentInfo, FrameworkInfo, MasterInfo
from corral.wire.tasks import ExecutorInfo, TaskInfo, TaskStatus

MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50
MAX_STATUSES = 8
MAX_REMEMBERED_ACKS = 10000
MAX_FORWARDED = 10000  # updates awaiting an ACKNOWLEDGE that are timed, per framework


@dataclass
class TaskRecord:
    framework_id: str
    agent_id: str
    info: TaskInfo
    role: str
    resources: Resources
    state: str = "TASK_STAGING"
    executor_id: str | None = None
    statuses: list[TaskStatus] = field(default_factory=list)
    latest: TaskStatus | None = None
    status_update_state: str | None = None
    status_update_uuid: bytes | None = None
    statistics: dict[str, int] | None = None  # its container's usage, from the agent's report

    @property
    def task_id(self) -> str:
        return self.info.task_id.value

    def record(self, status: TaskStatus) -> None:
        self.latest = status
        self.state = status.state
        self.statuses.append(status)
        if len(self.statuses) > MAX_STATUSES:
            del self.statuses[0]


@dataclass
class OfferRecord:
    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    created: float = 0.0  # ``now`` when offered, for the offer->accept timer


@dataclass
class ExecutorRecord:
    framework_id: str
    agent_id: str
    info: ExecutorInfo
    role: str
    resources: Resources


@dataclass
class AgentRecord:
    id: str
    info: AgentInfo
    address: str
    version: str
    total: Resources
    registered_time: float
    link: int | None = None  # the shell's id of its current connection; None: disconnected
    reregistered_time: float | None = None
    used: Resources = field(default_factory=Resources)
    offered: Resources = field(default_factory=Resources)
    connected: bool = True
    active: bool = True
    pong_pending: bool = False
    missed_pings: int = 0
    tasks: dict[tuple[str, str], TaskRecord] = field(default_factory=dict)
    executors: dict[tuple[str, str], ExecutorRecord] = field(default_factory=dict)
    offers: set[str] = field(default_factory=set)
    usage: dict[str, float] | None = None  # totals over its containers, from its last report
    deactivated: bool = False  # by the operator (DEACTIVATE_AGENT, DRAIN_AGENT): no offers
    drain: DrainRecord | None = None
    # total - used - offered, kept up to date by the methods below (or refresh()); computed
    # when the record is made unless given.
    available: Resources = field(default_factory=Resources)

    def __post_init__(self) -> None:
        a = self.available
        if not (a.scalars or a.ranges or a.sets):
            self.refresh()

    def refresh(self) -> None:
        """Recompute ``available`` after ``total`` or ``used`` changed."""
        self.available = self.total - self.used - self.offered

    def add_offer(self, r: Resources) -> None:
        """``r`` (part of ``available``) is now offered."""
        self.offered = self.offered + r
        self.available = self.available - r

    def drop_offer(self, r: Resources, *, back: bool = True) -> None:
        """An offer of ``r`` ended; ``back``: unused, so ``r`` is available again."""
        self.offered = self.offered - r
        if back:
            self.available = self.available + r

    @property
    def hostname(self) -> str:
        return self.info.hostname

    @property
    def port(self) -> int:
        try:
            return int(self.address.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return self.info.port


@dataclass
class FrameworkRecord:
    id: str
    info: FrameworkInfo
    registered_time: float
    stream_id: str | None = None  # its current event stream (the shell's id), while connected
    connected: bool = False
    active: bool = False
    recovered: bool = False
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    suppressed_roles: set[str] = field(default_factory=set)
    filters: dict[str, list[Filter]] = field(default_factory=dict)  # agent id -> filters
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    unreachable_tasks: dict[str, TaskRecord] = field(default_factory=dict)
    completed_tasks: deque[TaskRecord] = field(
        default_factory=lambda: deque(maxlen=MAX_COMPLETED_TASKS)
    )
    executors: dict[tuple[str, str], ExecutorRecord] = field(default_factory=dict)
    # task id -> uuid of the last update the framework acknowledged (bounded, oldest dropped)
    acknowledged: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    # uuid of each forwarded update -> ``now`` it went out, until acknowledged (bounded)
    forwarded: dict[bytes, float] = field(default_factory=dict)
    used: dict[str, Resources] = field(default_factory=dict)  # role -> resources of tasks
    offered: dict[str, Resources] = field(default_factory=dict)  # role -> outstanding offers

    def remember_ack(self, task_id: str, uuid: bytes) -> None:
        self.acknowledged[task_id] = uuid
        self.acknowledged.move_to_end(task_id)
        if len(self.acknowledged) > MAX_REMEMBERED_ACKS:
            self.acknowledged.popitem(last=False)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.info.role_list())

    @property
    def capabilities(self) -> set[str]:
        return self.info.capability_set()

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    def allocated(self) -> dict[str, Resources]:
        out = dict(self.used)
        for role, r in self.offered.items():
            out[role] = out.get(role, Resources()) + r
        return out

    def add_used(self, role: str, r: Resources) -> None:
        self.used[role] = self.used.get(role, Resources()) + r

    def sub_used(self, role: str, r: Resources) -> None:
        self.used[role] = self.used.get(role, Resources()) - r

    def total_used(self) -> Resources:
        out = Resources()
        for r in self.used.values():
            out = out + r
        return out

    def total_offered(self) -> Resources:
        out = Resources()
        for r in self.offered.values():
            out = out + r
        return out


def new_metrics() -> dict[str, int]:
    return {
        "master/valid_status_updates": 0,
        "master/invalid_status_updates": 0,
        "master/messages_launch_tasks": 0,
        "master/slave_registrations": 0,
        "master/slave_reregistrations": 0,
        "master/slave_removals": 0,
        "master/tasks_launched": 0,
    }


@dataclass
class DrainRecord:
    """An agent being drained (DRAIN_AGENT): DRAINING until its last task ended, then
    DRAINED. Its frameworks get inverse offers and ``notice`` seconds (or until all of them
    accepted) before the master kills what is left, each kill's grace capped by
    ``max_grace``."""

    state: str  # DRAINING | DRAINED
    since: float
    kill_at: float
    max_grace: float | None = None
    mark_gone: bool = False
    killed: bool = False  # the kills were sent


@dataclass
class InverseOfferRecord:
    id: str
    framework_id: str
    agent_id: str
    accepted: bool = False
    answered_at: float | None = None  # ``now`` of its ACCEPT or DECLINE


@dataclass
class MasterState:
    """Everything one leading master knows. Changed only by ``core.handle``."""

    config: MasterConfig
    id: str
    start_time: float
    elected_time: float = 0.0
    paused: bool = False
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    links: dict[int, str] = field(default_factory=dict)  # agent connection id -> agent id
    recovered_agents: dict[str, dict[str, object]] = field(default_factory=dict)
    unreachable_agents: dict[str, float] = field(default_factory=dict)
    gone_agents: dict[str, float] = field(default_factory=dict)  # MARK_AGENT_GONE: id -> when
    inverse_offers: dict[str, InverseOfferRecord] = field(default_factory=dict)
    next_inverse_offer: int = 0
    maintenance: Maintenance = field(default_factory=Maintenance)  # schedule, DOWN machines
    frameworks: dict[str, FrameworkRecord] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)  # open stream id -> framework id
    completed_frameworks: list[FrameworkRecord] = field(default_factory=list)
    removed_framework_ids: set[str] = field(default_factory=set)
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    next_framework: int = 0
    next_agent: int = 0
    next_offer: int = 0
    next_filter_timer: int = 0
    allocation_pending: bool = False  # an AllocateSoon is out and its AllocationDue not in
    metrics: dict[str, int] = field(default_factory=new_metrics)
    terminal_counts: dict[str, int] = field(default_factory=dict)
    # The resources of active, connected agents; None: to be recomputed (agents changed).
    cluster_total: Resources | None = None
    # One allocation pass (measured by the shell), and offer -> ACCEPT (from ``now``s).
    allocation_run_ms: TimerWindow = field(default_factory=TimerWindow)
    offer_accept_ms: TimerWindow = field(default_factory=TimerWindow)
    # Role -> quota and role -> weight (the --weights flag, then UPDATE_WEIGHTS), durable in
    # the registry (``core/quota.py``).
    quotas: dict[str, Quota] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    preemptions: PreemptionBook = field(default_factory=PreemptionBook)  # docs/preemption.md

    def __post_init__(self) -> None:
        self.weights = {**self.config.weights, **self.weights}
        if not self.elected_time:
            self.elected_time = self.start_time

    def master_info(self) -> MasterInfo:
        return make_master_info(self.config, self.id)
