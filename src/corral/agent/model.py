"""What an agent holds: the tasks and executors it runs, per framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corral.transport.streaming import EventStream
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import ExecutorInfo, TaskInfo


@dataclass
class TaskEntry:
    framework_id: str
    info: TaskInfo
    sandbox: Path
    state: str = "TASK_STAGING"
    executor_id: str | None = None  # custom or task-group executor; None for command tasks
    container_id: str | None = None  # command and task-group tasks have their own process
    kill_requested: bool = False
    kill_reason: str | None = None
    pid: int | None = None

    @property
    def task_id(self) -> str:
        return self.info.task_id.value


@dataclass
class ExecutorEntry:
    framework_id: str
    info: ExecutorInfo
    sandbox: Path
    container_id: str
    kind: str  # "custom" (a process speaking the executor API) or "group" (tasks run by the agent)
    tasks: set[str] = field(default_factory=set)
    queued: list[bytes] = field(default_factory=list)  # events waiting for SUBSCRIBE
    stream: EventStream | None = None
    subscribed: bool = False
    pid: int | None = None
    shutting_down: bool = False

    @property
    def executor_id(self) -> str:
        return self.info.executor_id.value


@dataclass
class FrameworkEntry:
    info: FrameworkInfo
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    executors: dict[str, ExecutorEntry] = field(default_factory=dict)
    completed: list[TaskEntry] = field(default_factory=list)

    @property
    def framework_id(self) -> str:
        assert self.info.id is not None
        return self.info.id.value
