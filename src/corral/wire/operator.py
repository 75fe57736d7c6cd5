"""The v1 operator API (``POST /api/v1`` on the master and the agent): calls and responses.

A response is ``{"type": T, "<t>": {...}}``, as Mesos's ``master::Response`` and
``agent::Response``: one struct with an optional field per call. The master's task and agent
lists are generic, like those of ``state_views``: served as ``msgspec.Raw`` (cached per
record), read as ``Task`` and ``Agent`` (``MasterResponse = MasterResponseOf[Task, Agent]``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from msgspec import UNSET, UnsetType

from corral.wire import maintenance as wm
from corral.wire.base import ID, Message, View
from corral.wire.common import (
    AgentInfo,
    Capability,
    DurationInfo,
    FrameworkInfo,
    MasterInfo,
    Resource,
    TimeInfo,
)
from corral.wire.quota import GetQuota, GetWeights, RoleQuotaView, UpdateQuota, UpdateWeights
from corral.wire.state_views import VersionInfo
from corral.wire.tasks import ExecutorInfo, KillPolicy, TaskStatus

T = TypeVar("T")  # a task: Task when read, msgspec.Raw when served
A = TypeVar("A")  # an agent: Agent when read, msgspec.Raw when served

MASTER_CALLS = (
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
    "GET_MASTER",
    "GET_ROLES",
    "GET_QUOTA",
    "GET_WEIGHTS",
)
AGENT_CALLS = (
    "GET_HEALTH",
    "GET_VERSION",
    "GET_AGENT",
    "GET_FLAGS",
    "GET_TASKS",
    "GET_STATE",
    "GET_CONTAINERS",
    "GET_EXECUTORS",
    "GET_FRAMEWORKS",
)

# Every call type of Mesos's v1 operator API (mesos/v1/master/master.proto,
# mesos/v1/agent/agent.proto): a known type corral does not serve answers 501 naming it; an
# unknown one is a 400.
MESOS_MASTER_CALLS = frozenset(
    [
        "GET_HEALTH",
        "GET_FLAGS",
        "GET_VERSION",
        "GET_METRICS",
        "GET_LOGGING_LEVEL",
        "SET_LOGGING_LEVEL",
        "LIST_FILES",
        "READ_FILE",
        "GET_STATE",
        "GET_AGENTS",
        "GET_FRAMEWORKS",
        "GET_EXECUTORS",
        "GET_OPERATIONS",
        "GET_TASKS",
        "GET_ROLES",
        "GET_WEIGHTS",
        "UPDATE_WEIGHTS",
        "GET_MASTER",
        "SUBSCRIBE",
        "RESERVE_RESOURCES",
        "UNRESERVE_RESOURCES",
        "CREATE_VOLUMES",
        "DESTROY_VOLUMES",
        "GROW_VOLUME",
        "SHRINK_VOLUME",
        "GET_MAINTENANCE_STATUS",
        "GET_MAINTENANCE_SCHEDULE",
        "UPDATE_MAINTENANCE_SCHEDULE",
        "START_MAINTENANCE",
        "STOP_MAINTENANCE",
        "DRAIN_AGENT",
        "DEACTIVATE_AGENT",
        "REACTIVATE_AGENT",
        "GET_QUOTA",
        "UPDATE_QUOTA",
        "SET_QUOTA",
        "REMOVE_QUOTA",
        "TEARDOWN",
        "MARK_AGENT_GONE",
    ]
)
MESOS_AGENT_CALLS = frozenset(
    [
        "GET_HEALTH",
        "GET_FLAGS",
        "GET_VERSION",
        "GET_METRICS",
        "GET_LOGGING_LEVEL",
        "SET_LOGGING_LEVEL",
        "LIST_FILES",
        "READ_FILE",
        "GET_STATE",
        "GET_CONTAINERS",
        "GET_FRAMEWORKS",
        "GET_EXECUTORS",
        "GET_OPERATIONS",
        "GET_TASKS",
        "GET_AGENT",
        "GET_RESOURCE_PROVIDERS",
        "LAUNCH_NESTED_CONTAINER",
        "WAIT_NESTED_CONTAINER",
        "KILL_NESTED_CONTAINER",
        "REMOVE_NESTED_CONTAINER",
        "LAUNCH_NESTED_CONTAINER_SESSION",
        "ATTACH_CONTAINER_INPUT",
        "ATTACH_CONTAINER_OUTPUT",
        "LAUNCH_CONTAINER",
        "WAIT_CONTAINER",
        "KILL_CONTAINER",
        "REMOVE_CONTAINER",
        "ADD_RESOURCE_PROVIDER_CONFIG",
        "UPDATE_RESOURCE_PROVIDER_CONFIG",
        "REMOVE_RESOURCE_PROVIDER_CONFIG",
        "MARK_RESOURCE_PROVIDER_GONE",
        "PRUNE_IMAGES",
    ]
)


def unserved(kind: str, call_type: str, known: frozenset[str]) -> tuple[int, str]:
    """The status and message for a call type not served: 501 for one of Mesos's, else 400."""
    if call_type in known:
        return 501, f"{kind} type {call_type} is not implemented by corral"
    return 400, f"Failed to validate {kind}: unsupported call type '{call_type}' in field 'type'"


class AgentRef(Message, kw_only=True):
    """The payload of DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE."""

    agent_id: ID


class DrainAgent(Message, kw_only=True):
    agent_id: ID
    max_grace_period: DurationInfo | None = None  # caps each task's kill grace period
    mark_gone: bool = False  # once drained, the agent is gone for good


class Teardown(Message, kw_only=True):
    framework_id: ID


class KillTask(Message, kw_only=True):
    """corral's KILL_TASK (not Mesos's): the master kills one task as the operator asks."""

    task_id: ID
    framework_id: ID | None = None  # needed only when two frameworks use the task id
    kill_policy: KillPolicy | None = None  # else the task's own grace period


class OperatorCall(Message, kw_only=True):
    """A call to ``/api/v1`` of the master (``master::Call``) or the agent (``agent::Call``):
    the read calls take no payload; TEARDOWN names its framework and the agent maintenance
    calls name the agent."""

    type: str
    teardown: Teardown | None = None
    kill_task: KillTask | None = None
    drain_agent: DrainAgent | None = None
    deactivate_agent: AgentRef | None = None
    reactivate_agent: AgentRef | None = None
    mark_agent_gone: AgentRef | None = None
    update_quota: UpdateQuota | None = None
    update_weights: UpdateWeights | None = None
    update_maintenance_schedule: wm.UpdateMaintenanceSchedule | None = None
    start_maintenance: wm.Machines | None = None
    stop_maintenance: wm.Machines | None = None


# ---------------------------------------------------------------------- shared by both
class GetHealth(View, kw_only=True):
    healthy: bool


class Flag(View, kw_only=True):
    name: str
    value: str


class GetFlags(View, kw_only=True):
    flags: list[Flag]


class GetVersion(View, kw_only=True):
    version_info: VersionInfo


class Metric(View, kw_only=True):
    name: str
    value: float


class GetMetrics(View, kw_only=True):
    metrics: list[Metric]


class Task(View, kw_only=True):
    """``mesos.v1.Task``: the master sends its statuses, the agent does not."""

    name: str
    task_id: ID
    framework_id: ID
    agent_id: ID
    state: str
    resources: list[Resource]
    statuses: list[TaskStatus] | UnsetType = UNSET
    executor_id: ID | UnsetType = UNSET
    status_update_state: str | UnsetType = UNSET


# ---------------------------------------------------------------------- master
class GetTasksOf(View, Generic[T], kw_only=True):
    tasks: list[T]
    unreachable_tasks: list[T]
    completed_tasks: list[T]


class Agent(View, kw_only=True):
    """``GetAgents.Agent``."""

    agent_info: AgentInfo
    active: bool
    deactivated: bool
    version: str
    pid: str
    registered_time: TimeInfo
    total_resources: list[Resource]
    allocated_resources: list[Resource]
    offered_resources: list[Resource]
    capabilities: list[Capability]
    drain_info: dict[str, Any] | UnsetType = UNSET  # as in /master/state, while draining


class GetAgentsOf(View, Generic[A], kw_only=True):
    agents: list[A]
    recovered_agents: list[AgentInfo]


class Framework(View, kw_only=True):
    """``GetFrameworks.Framework``."""

    framework_info: FrameworkInfo
    active: bool
    connected: bool
    recovered: bool
    registered_time: TimeInfo
    allocated_resources: list[Resource]
    offered_resources: list[Resource]


class GetFrameworks(View, kw_only=True):
    frameworks: list[Framework]
    completed_frameworks: list[Framework]


class Executor(View, kw_only=True):
    executor_info: ExecutorInfo
    agent_id: ID


class GetExecutors(View, kw_only=True):
    executors: list[Executor]


class GetStateOf(View, Generic[T, A], kw_only=True):
    get_tasks: GetTasksOf[T]
    get_executors: GetExecutors
    get_frameworks: GetFrameworks
    get_agents: GetAgentsOf[A]


class GetMaster(View, kw_only=True):
    master_info: MasterInfo
    start_time: float
    elected_time: float


class Role(View, kw_only=True):
    name: str
    weight: float
    resources: list[Resource]  # allocated (used + offered)
    frameworks: list[ID] = []
    quota: RoleQuotaView | UnsetType = UNSET  # roles with quota: guarantee, limit, consumed
    corral_quota_reason: str | UnsetType = UNSET  # below its guarantee or at its limit: why


class GetRoles(View, kw_only=True):
    roles: list[Role]


class MasterResponseOf(View, Generic[T, A], kw_only=True):
    """``master::Response``: ``type`` and the one payload of that call."""

    type: str
    get_health: GetHealth | UnsetType = UNSET
    get_flags: GetFlags | UnsetType = UNSET
    get_version: GetVersion | UnsetType = UNSET
    get_metrics: GetMetrics | UnsetType = UNSET
    get_state: GetStateOf[T, A] | UnsetType = UNSET
    get_agents: GetAgentsOf[A] | UnsetType = UNSET
    get_frameworks: GetFrameworks | UnsetType = UNSET
    get_executors: GetExecutors | UnsetType = UNSET
    get_tasks: GetTasksOf[T] | UnsetType = UNSET
    get_master: GetMaster | UnsetType = UNSET
    get_roles: GetRoles | UnsetType = UNSET
    get_quota: GetQuota | UnsetType = UNSET
    get_weights: GetWeights | UnsetType = UNSET


# What a reader decodes.
GetTasks = GetTasksOf[Task]
GetAgents = GetAgentsOf[Agent]
GetState = GetStateOf[Task, Agent]
MasterResponse = MasterResponseOf[Task, Agent]


# ---------------------------------------------------------------------- agent
class GetAgent(View, kw_only=True):
    agent_info: AgentInfo


class AgentGetTasks(View, kw_only=True):
    """The agent's ``GetTasks``: its tasks not yet sent to an executor (pending, queued),
    running ones (launched), ended ones whose executor still runs (terminated) and those of
    ended executors (completed)."""

    pending_tasks: list[Task] = []
    queued_tasks: list[Task] = []
    launched_tasks: list[Task]
    terminated_tasks: list[Task] = []
    completed_tasks: list[Task]


class AgentExecutor(View, kw_only=True):
    executor_info: ExecutorInfo


class AgentGetExecutors(View, kw_only=True):
    executors: list[AgentExecutor]
    completed_executors: list[AgentExecutor]


class AgentFramework(View, kw_only=True):
    framework_info: FrameworkInfo


class AgentGetFrameworks(View, kw_only=True):
    frameworks: list[AgentFramework]
    completed_frameworks: list[AgentFramework]


class AgentGetState(View, kw_only=True):
    """The agent's ``GetState`` (and corral's ``get_agent``)."""

    get_tasks: AgentGetTasks
    get_executors: AgentGetExecutors | UnsetType = UNSET
    get_frameworks: AgentGetFrameworks | UnsetType = UNSET
    get_agent: GetAgent


class Container(View, kw_only=True):
    """A running container (GET_CONTAINERS, the agent's ``/containers``)."""

    container_id: ID
    framework_id: ID
    executor_id: ID
    executor_name: str | UnsetType = UNSET
    containerizer: str  # process | linux | docker
    statistics: dict[str, int] | UnsetType = UNSET  # ResourceStatistics names, when readable
    resource_statistics: dict[str, int] | UnsetType = UNSET  # Mesos's name of the same


class GetContainers(View, kw_only=True):
    containers: list[Container]


class AgentResponse(View, kw_only=True):
    """``agent::Response``: ``type`` and the one payload of that call."""

    type: str
    get_health: GetHealth | UnsetType = UNSET
    get_version: GetVersion | UnsetType = UNSET
    get_agent: GetAgent | UnsetType = UNSET
    get_flags: GetFlags | UnsetType = UNSET
    get_tasks: AgentGetTasks | UnsetType = UNSET
    get_executors: AgentGetExecutors | UnsetType = UNSET
    get_frameworks: AgentGetFrameworks | UnsetType = UNSET
    get_state: AgentGetState | UnsetType = UNSET
    get_containers: GetContainers | UnsetType = UNSET


# ---------------------------------------------------------------------- operator events
# ``master::Event``: what SUBSCRIBE on ``/api/v1`` streams (RecordIO), ``{"type": T, "<t>": …}``.
OPERATOR_EVENT_TYPES = (
    "SUBSCRIBED",
    "TASK_ADDED",
    "TASK_UPDATED",
    "AGENT_ADDED",
    "AGENT_REMOVED",
    "FRAMEWORK_ADDED",
    "FRAMEWORK_UPDATED",
    "FRAMEWORK_REMOVED",
    "HEARTBEAT",
)


class SubscribedOf(View, Generic[T, A], kw_only=True):
    get_state: GetStateOf[T, A]
    heartbeat_interval_seconds: float


class TaskAdded(View, kw_only=True):
    task: Task


class TaskUpdated(View, kw_only=True):
    framework_id: ID
    status: TaskStatus
    state: str


class AgentAdded(View, kw_only=True):
    agent: Agent


class AgentRemoved(View, kw_only=True):
    agent_id: ID


class FrameworkEvent(View, kw_only=True):
    """The payload of FRAMEWORK_ADDED and FRAMEWORK_UPDATED."""

    framework: Framework


class FrameworkRemoved(View, kw_only=True):
    framework_info: FrameworkInfo


class OperatorEventOf(View, Generic[T, A], kw_only=True):
    """``master::Event``: ``type`` and the one payload of that type (none for HEARTBEAT)."""

    type: str
    subscribed: SubscribedOf[T, A] | UnsetType = UNSET
    task_added: TaskAdded | UnsetType = UNSET
    task_updated: TaskUpdated | UnsetType = UNSET
    agent_added: AgentAdded | UnsetType = UNSET
    agent_removed: AgentRemoved | UnsetType = UNSET
    framework_added: FrameworkEvent | UnsetType = UNSET
    framework_updated: FrameworkEvent | UnsetType = UNSET
    framework_removed: FrameworkRemoved | UnsetType = UNSET


OperatorEvent = OperatorEventOf[Task, Agent]
