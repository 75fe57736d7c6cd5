"""The legacy JSON read by Mesos tools: ``/master/state`` (and ``/master/slaves``,
``/master/frameworks``, ``/master/tasks``), the agent's ``/state``, ``/version`` and
``/metrics/snapshot``.

Ids are plain strings here, resources one object (``{"cpus": 1.0, "ports": "[1-2]"}``).
The lists of tasks and agents are generic: the master serves them as ``msgspec.Raw`` (each
record's JSON, encoded once and cached); a reader decodes them as ``StateTask`` and
``StateAgent`` (``MasterState = MasterStateOf[StateTask, StateAgent]``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from msgspec import UNSET, UnsetType

from corral.wire.base import View
from corral.wire.common import Label
from corral.wire.tasks import ContainerInfo

T = TypeVar("T")  # a task: StateTask when read, msgspec.Raw when served
A = TypeVar("A")  # an agent: StateAgent when read, msgspec.Raw when served

# {"cpus": 0.1, "mem": 32.0, "disk": 0, "gpus": 0, "ports": "[31000-32000]", "x": "{a,b}"}
LegacyResources = dict[str, int | float | str]  # numbers as sent: 0, not 0.0
MetricsSnapshot = dict[str, float]  # /metrics/snapshot: one flat object, name -> number


class VersionInfo(View, kw_only=True):
    """``/version``, and ``version_info`` of GET_VERSION (without ``corral_version``)."""

    version: str
    corral_version: str | UnsetType = UNSET
    build_date: str = ""
    build_time: float = 0
    build_user: str = "corral"


class StateStatus(View, kw_only=True):
    state: str
    timestamp: float | UnsetType = UNSET
    healthy: bool | UnsetType = UNSET


class StateTask(View, kw_only=True):
    """A task in ``/master/state`` (with ``role``) and in the agent's ``/state``."""

    id: str
    name: str
    framework_id: str
    executor_id: str  # "" for a command task
    slave_id: str
    state: str
    resources: LegacyResources
    role: str | UnsetType = UNSET
    statuses: list[StateStatus] = []
    labels: list[Label] | UnsetType = UNSET
    container: ContainerInfo | UnsetType = UNSET
    statistics: dict[str, int] | UnsetType = UNSET  # its container's usage, when reported


class StateAgent(View, kw_only=True):
    """One of ``slaves`` in ``/master/state``."""

    id: str
    hostname: str
    port: int
    pid: str
    version: str
    corral_version: str
    attributes: dict[str, float | str]
    registered_time: float
    reregistered_time: float | UnsetType = UNSET
    resources: LegacyResources
    used_resources: LegacyResources
    offered_resources: LegacyResources
    unreserved_resources: LegacyResources
    reserved_resources: dict[str, LegacyResources]
    active: bool
    deactivated: bool
    capabilities: list[str]
    usage: dict[str, int | float] | UnsetType = UNSET  # totals over its containers, when reported
    # While drained or draining (DRAIN_AGENT), as Mesos ≥ 1.9: {"state": "DRAINING" | "DRAINED",
    # "config": {"max_grace_period": {"nanoseconds": N}, "mark_gone": bool}}.
    drain_info: dict[str, Any] | UnsetType = UNSET


class StateOffer(View, kw_only=True):
    id: str
    framework_id: str
    slave_id: str
    resources: LegacyResources


class StateExecutor(View, kw_only=True):
    executor_id: str
    name: str
    slave_id: str
    framework_id: str
    resources: LegacyResources


class StateFrameworkOf(View, Generic[T], kw_only=True):
    """One of ``frameworks`` (or ``completed_frameworks``) in ``/master/state``."""

    id: str
    name: str
    user: str
    hostname: str
    webui_url: str
    principal: str | None
    active: bool
    connected: bool
    recovered: bool
    failover_timeout: float
    checkpoint: bool
    capabilities: list[str]
    role: str
    roles: list[str]
    suppressed_roles: list[str]
    registered_time: float
    unregistered_time: float
    reregistered_time: float | UnsetType = UNSET
    resources: LegacyResources
    used_resources: LegacyResources
    offered_resources: LegacyResources
    tasks: list[T]
    unreachable_tasks: list[T]
    completed_tasks: list[T]
    offers: list[StateOffer]
    executors: list[StateExecutor]
    labels: list[Label]


class LeaderInfo(View, kw_only=True):
    id: str
    pid: str
    port: int
    hostname: str


class MasterStateOf(View, Generic[T, A], kw_only=True):
    """``/master/state`` (also ``/state``, ``/master/state.json``)."""

    version: str
    corral_version: str
    build_date: str
    build_time: float
    build_user: str
    start_time: float
    elected_time: float
    id: str
    pid: str
    hostname: str
    capabilities: list[str]
    activated_slaves: int
    deactivated_slaves: int
    unreachable_slaves: int
    leader: str
    leader_info: LeaderInfo
    flags: dict[str, str]
    slaves: list[A]
    recovered_slaves: list[dict[str, Any]]
    frameworks: list[StateFrameworkOf[T]]
    completed_frameworks: list[StateFrameworkOf[T]]
    orphan_tasks: list[T]
    unregistered_frameworks: list[str]


class SlavesOf(View, Generic[A], kw_only=True):
    """``/master/slaves``."""

    slaves: list[A]
    recovered_slaves: list[dict[str, Any]]


class FrameworksOf(View, Generic[T], kw_only=True):
    """``/master/frameworks``."""

    frameworks: list[StateFrameworkOf[T]]
    completed_frameworks: list[StateFrameworkOf[T]]
    unregistered_frameworks: list[str]


class TasksOf(View, Generic[T], kw_only=True):
    """``/master/tasks``: every task the master knows, running, unreachable and completed."""

    tasks: list[T]


# What a reader decodes.
StateFramework = StateFrameworkOf[StateTask]
MasterState = MasterStateOf[StateTask, StateAgent]
Slaves = SlavesOf[StateAgent]
Frameworks = FrameworksOf[StateTask]
Tasks = TasksOf[StateTask]


# ---------------------------------------------------------------------- the agent's /state
class AgentStateExecutor(View, kw_only=True):
    id: str
    name: str
    source: str
    directory: str  # read a task's output with /files/read?path=<directory>/stdout
    tasks: list[StateTask] = []
    queued_tasks: list[StateTask] = []
    completed_tasks: list[StateTask] = []


class AgentStateFramework(View, kw_only=True):
    id: str
    name: str
    user: str
    executors: list[AgentStateExecutor]
    completed_executors: list[AgentStateExecutor]


class AgentState(View, kw_only=True):
    """The agent's ``/state`` (also ``/state.json``, ``/slave(1)/state``)."""

    version: str
    id: str
    pid: str
    hostname: str
    start_time: float
    resources: LegacyResources
    attributes: dict[str, float | str]
    master_hostname: str | None
    flags: dict[str, str]
    containerizers: list[str]
    frameworks: list[AgentStateFramework]
    completed_frameworks: list[AgentStateFramework]
    launcher_pid: int | None
    time: float
    uptime: float
    registered: bool
    pending_status_updates: int
    used_resources: LegacyResources


# ---------------------------------------------------------------------- the agent's /files
class FileInfo(View, kw_only=True):
    """One entry of ``/files/browse``."""

    path: str
    nlink: int
    size: int
    mtime: int  # seconds
    mode: str  # "drwxr-xr-x"
    uid: str
    gid: str


class FileData(View, kw_only=True):
    """``/files/read``: text (not base64) from ``offset``; empty at EOF."""

    data: str
    offset: int
