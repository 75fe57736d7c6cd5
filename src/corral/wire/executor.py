"""Executor API calls and events (mesos/v1/executor/executor.proto)."""

from __future__ import annotations

from typing import Any

from corral.wire.base import ID, Message
from corral.wire.common import AgentInfo, FrameworkInfo
from corral.wire.tasks import ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus

EXECUTOR_CALL_TYPES = ("SUBSCRIBE", "UPDATE", "MESSAGE", "HEARTBEAT")


class UnacknowledgedUpdate(Message, kw_only=True):
    status: TaskStatus


class ExecutorSubscribe(Message, kw_only=True):
    unacknowledged_tasks: list[TaskInfo] = []
    unacknowledged_updates: list[UnacknowledgedUpdate] = []


class ExecutorUpdate(Message, kw_only=True):
    status: TaskStatus


class ExecutorMessageCall(Message, kw_only=True):
    data: bytes


class ExecutorCall(Message, kw_only=True):
    type: str
    executor_id: ID
    framework_id: ID
    subscribe: ExecutorSubscribe | None = None
    update: ExecutorUpdate | None = None
    message: ExecutorMessageCall | None = None


class ExecutorSubscribed(Message, kw_only=True):
    executor_info: ExecutorInfo
    framework_info: FrameworkInfo
    agent_info: AgentInfo
    container_id: dict[str, Any] | None = None


class ExecutorLaunch(Message, kw_only=True):
    task: TaskInfo


class ExecutorLaunchGroup(Message, kw_only=True):
    task_group: TaskGroupInfo


class ExecutorKill(Message, kw_only=True):
    task_id: ID
    kill_policy: KillPolicy | None = None


class ExecutorAcknowledged(Message, kw_only=True):
    task_id: ID
    uuid: bytes


class ExecutorMessageEvent(Message, kw_only=True):
    data: bytes


class ExecutorError(Message, kw_only=True):
    message: str


class ExecutorEvent(Message, kw_only=True):
    type: str
    subscribed: ExecutorSubscribed | None = None
    launch: ExecutorLaunch | None = None
    launch_group: ExecutorLaunchGroup | None = None
    kill: ExecutorKill | None = None
    acknowledged: ExecutorAcknowledged | None = None
    message: ExecutorMessageEvent | None = None
    error: ExecutorError | None = None
