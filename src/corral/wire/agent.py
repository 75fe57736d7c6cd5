"""The master <-> agent protocol: JSON messages over one long-lived WebSocket.

corral's own design (Mesos uses internal libprocess messages here, which no client sees).
Each WebSocket frame carries a JSON list of messages, so bursts are coalesced per write.
"""

from __future__ import annotations

import msgspec

from corral.wire.base import ID, Message
from corral.wire.common import AgentInfo, FrameworkInfo, MasterInfo
from corral.wire.tasks import ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus


class Tagged(Message, tag_field="type", kw_only=True):
    """Base of protocol messages: the tag goes in ``type``."""


class AgentTask(Message, kw_only=True):
    """A task as the agent knows it, reported on (re-)registration."""

    framework_id: ID
    task: TaskInfo
    state: str
    executor_id: ID | None = None


class AgentExecutor(Message, kw_only=True):
    """An executor the agent runs (custom or task group), reported on (re-)registration."""

    framework_id: ID
    executor: ExecutorInfo


# ------------------------------------------------------------------ agent -> master


class RegisterAgent(Tagged, tag="REGISTER", kw_only=True):
    agent_info: AgentInfo
    agent_id: ID | None = None
    address: str
    version: str
    frameworks: list[FrameworkInfo] = []
    tasks: list[AgentTask] = []
    executors: list[AgentExecutor] = []


class StatusUpdate(Tagged, tag="STATUS_UPDATE", kw_only=True):
    framework_id: ID
    status: TaskStatus
    # The task's newest state when it is newer than ``status`` (updates go one at a time,
    # in order): lets the master free a finished task's resources before the framework has
    # acknowledged the older updates in front of it (Mesos's ``latest_state``).
    latest_state: str | None = None


class ExecutorToFramework(Tagged, tag="EXECUTOR_MESSAGE", kw_only=True):
    framework_id: ID
    executor_id: ID
    data: bytes


class ExecutorExited(Tagged, tag="EXECUTOR_EXITED", kw_only=True):
    framework_id: ID
    executor_id: ID
    status: int


class Pong(Tagged, tag="PONG", kw_only=True):
    pass


class ContainerUsage(Message, kw_only=True):
    """One isolated container's resource usage, in Mesos's ResourceStatistics field names."""

    container_id: str
    framework_id: ID
    executor_id: ID  # a command task's executor id is its task id, as in Mesos
    statistics: dict[str, int]
    task_id: ID | None = None  # the task in the container; None: a custom executor's


class UsageReport(Tagged, tag="USAGE", kw_only=True):
    """Every ``--usage-report-interval``: the usage of the agent's isolated containers."""

    containers: list[ContainerUsage]


AgentToMaster = (
    RegisterAgent | StatusUpdate | ExecutorToFramework | ExecutorExited | Pong | UsageReport
)


# ------------------------------------------------------------------ master -> agent


class Registered(Tagged, tag="REGISTERED", kw_only=True):
    agent_id: ID
    master_info: MasterInfo


class RunTask(Tagged, tag="RUN_TASK", kw_only=True):
    framework_info: FrameworkInfo
    task: TaskInfo


class RunTaskGroup(Tagged, tag="RUN_TASK_GROUP", kw_only=True):
    framework_info: FrameworkInfo
    executor: ExecutorInfo
    task_group: TaskGroupInfo


class KillTask(Tagged, tag="KILL_TASK", kw_only=True):
    framework_id: ID
    task_id: ID
    kill_policy: KillPolicy | None = None
    reason: str | None = None  # the TASK_KILLED's reason (e.g. REASON_CONTAINER_PREEMPTED)


class ShutdownExecutor(Tagged, tag="SHUTDOWN_EXECUTOR", kw_only=True):
    framework_id: ID
    executor_id: ID


class ShutdownFramework(Tagged, tag="SHUTDOWN_FRAMEWORK", kw_only=True):
    framework_id: ID


class AcknowledgeUpdate(Tagged, tag="ACKNOWLEDGE", kw_only=True):
    framework_id: ID
    task_id: ID
    uuid: bytes


class FrameworkToExecutor(Tagged, tag="FRAMEWORK_MESSAGE", kw_only=True):
    framework_id: ID
    executor_id: ID
    data: bytes


class FrameworkSubscribed(Tagged, tag="FRAMEWORK_SUBSCRIBED", kw_only=True):
    """A framework (re-)subscribed: resend its unacknowledged updates now, not at the next
    retry (updates sent while it was away had nobody to go to)."""

    framework_id: ID


class Ping(Tagged, tag="PING", kw_only=True):
    pass


class ShutdownAgent(Tagged, tag="SHUTDOWN", kw_only=True):
    message: str


MasterToAgent = (
    Registered
    | RunTask
    | RunTaskGroup
    | KillTask
    | ShutdownExecutor
    | ShutdownFramework
    | AcknowledgeUpdate
    | FrameworkToExecutor
    | FrameworkSubscribed
    | Ping
    | ShutdownAgent
)

agent_to_master_decoder = msgspec.json.Decoder(list[AgentToMaster])
master_to_agent_decoder = msgspec.json.Decoder(list[MasterToAgent])
