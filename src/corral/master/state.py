"""What the master holds in memory: agents, frameworks, tasks and offers (data only)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from corral.master.allocator import Filter
from corral.resources import Resources
from corral.transport.streaming import EventStream
from corral.wire.agent import MasterToAgent
from corral.wire.common import AgentInfo, FrameworkInfo
from corral.wire.tasks import ExecutorInfo, TaskInfo, TaskStatus

MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50
MAX_STATUSES = 8
MAX_REMEMBERED_ACKS = 10000


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
    expiry: asyncio.TimerHandle | None = None
    created: float = 0.0  # time.perf_counter() when offered, for the offer->accept timer


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
    send: Callable[[MasterToAgent], None] | None = None
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
    # total - used - offered, and the three objects it was computed from (Resources are
    # immutable and replaced on every change, so identity says whether it is still right).
    _available: tuple[Resources, Resources, Resources, Resources] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def available(self) -> Resources:
        c = self._available
        if c is not None and c[0] is self.total and c[1] is self.used and c[2] is self.offered:
            return c[3]
        value = self.total - self.used - self.offered
        self._available = (self.total, self.used, self.offered, value)
        return value

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
    stream: EventStream | None = None
    stream_id: str | None = None
    connected: bool = False
    active: bool = False
    recovered: bool = False
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    failover_timer: asyncio.TimerHandle | None = None
    suppressed_roles: set[str] = field(default_factory=set)
    filters: dict[str, list[Filter]] = field(default_factory=dict)  # agent id -> filters
    filters_pruned: float = 0.0  # when expired filters were last dropped
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    unreachable_tasks: dict[str, TaskRecord] = field(default_factory=dict)
    completed_tasks: deque[TaskRecord] = field(
        default_factory=lambda: deque(maxlen=MAX_COMPLETED_TASKS)
    )
    executors: dict[tuple[str, str], ExecutorRecord] = field(default_factory=dict)
    # task id -> uuid of the last update the framework acknowledged (bounded, oldest dropped)
    acknowledged: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
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
