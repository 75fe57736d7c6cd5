"""What an agent holds, as plain data: frameworks, their tasks and executors, the containers
that run them, and the reliable status updates still waiting for acknowledgement."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corral.agent.core.effects import Effect, SendToMaster, WriteUpdateJournal
from corral.agent.status_updates import JournalRecord, StatusUpdateManager
from corral.health.policy import Reported
from corral.wire.agent import StatusUpdate
from corral.wire.common import AgentInfo, FrameworkInfo, MasterInfo
from corral.wire.executor import ExecutorEvent
from corral.wire.tasks import ExecutorInfo, TaskInfo

MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50


@dataclass
class TaskEntry:
    framework_id: str
    info: TaskInfo
    sandbox: Path
    state: str = "TASK_STAGING"
    executor_id: str | None = None  # custom or task-group executor; None for command tasks
    container_id: str | None = None  # command and task-group tasks have their own container
    kill_requested: bool = False
    kill_reason: str | None = None  # the reason its TASK_KILLED carries
    pid: int | None = None
    probes: Reported | None = None  # its health check and check (corral.agent.core.probes)

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
    queued: list[ExecutorEvent] = field(default_factory=list)  # waiting for SUBSCRIBE
    connected: bool = False  # an executor API stream is open
    subscribed: bool = False  # it subscribed at least once
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


@dataclass(frozen=True)
class AgentSettings:
    """The flags the core's transitions read."""

    work_dir: Path
    info: AgentInfo  # hostname, port, resources, attributes (the id is the state's)
    address: str  # ip:port of the agent's API
    version: str
    executor_registration_timeout: float = 60.0
    executor_shutdown_grace_period: float = 5.0
    status_update_retry: float = 10.0


def new_container_id() -> str:
    return str(uuid.uuid4())


def new_update_uuid() -> bytes:
    return uuid.uuid4().bytes


@dataclass
class AgentState:
    """Everything the agent knows. Only ``handle`` (and ``recovery.recover``) changes it; the
    shell and the HTTP views read it."""

    settings: AgentSettings
    agent_id: str | None = None
    master_info: MasterInfo | None = None
    registered: bool = False
    frameworks: dict[str, FrameworkEntry] = field(default_factory=dict)
    completed_frameworks: list[FrameworkEntry] = field(default_factory=list)
    containers: dict[str, TaskEntry | ExecutorEntry] = field(default_factory=dict)
    latest_state: dict[tuple[str, str], str] = field(default_factory=dict)  # newest, per task
    disk_exceeded: dict[str, str] = field(default_factory=dict)  # container id -> why killed
    updates: StatusUpdateManager = field(init=False)
    # What the status update manager asked for during the current event (drained by handle).
    outbox: list[Effect] = field(default_factory=list)
    container_ids: Callable[[], str] = new_container_id
    update_uuids: Callable[[], bytes] = new_update_uuid

    def __post_init__(self) -> None:
        def forward(update: StatusUpdate) -> None:
            key = (update.framework_id.value, update.status.task_id.value)
            latest = self.latest_state.get(key)
            update.latest_state = latest if latest and latest != update.status.state else None
            self.outbox.append(SendToMaster(update))

        def record(rec: JournalRecord) -> None:
            self.outbox.append(WriteUpdateJournal(rec))

        self.updates = StatusUpdateManager(
            None, forward, retry_min=self.settings.status_update_retry, record=record
        )

    # ------------------------------------------------------------------ lookups
    def framework_entry(self, info: FrameworkInfo) -> FrameworkEntry:
        """The framework's entry, made on first sight; its newest FrameworkInfo kept."""
        assert info.id is not None
        fid = info.id.value
        fw = self.frameworks.get(fid)
        if fw is None:
            fw = self.frameworks[fid] = FrameworkEntry(info=info)
        else:
            fw.info = info
        return fw

    def executor(self, fid: str, eid: str) -> ExecutorEntry | None:
        fw = self.frameworks.get(fid)
        return fw.executors.get(eid) if fw else None

    def framework_or_completed(self, fid: str) -> FrameworkEntry | None:
        return self.frameworks.get(fid) or next(
            (f for f in reversed(self.completed_frameworks) if f.framework_id == fid), None
        )
