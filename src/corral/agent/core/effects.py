"""What the agent core asks its shell to do. Each effect is data; the shell carries it out
(agent/agent.py) in the order the core returned them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.agent.checkpoint import ExecutorRecord, TaskRecord
from corral.agent.status_updates import JournalRecord
from corral.resources import Resources
from corral.wire import agent as msg
from corral.wire.common import FrameworkInfo
from corral.wire.executor import ExecutorEvent
from corral.wire.tasks import CommandInfo, ExecutorInfo, TaskInfo


# ------------------------------------------------------------------ the master and executors
@dataclass(frozen=True, slots=True)
class SendToMaster:
    """Queue a message on the master link (dropped while there is no link)."""

    message: msg.AgentToMaster


@dataclass(frozen=True, slots=True)
class SendToExecutor:
    """Write an event on a custom executor's open executor API stream."""

    framework_id: str
    executor_id: str
    event: ExecutorEvent


@dataclass(frozen=True, slots=True)
class CloseExecutorStream:
    framework_id: str
    executor_id: str


@dataclass(frozen=True, slots=True)
class Registered:
    """The master accepted this agent (as ``agent_id``)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Drop the master link and register again (the master removed this agent)."""

    reason: str


# ------------------------------------------------------------------ containers
@dataclass(frozen=True, slots=True)
class PrepareSandbox:
    """Make ``sandbox`` and fetch ``uris`` into it; then SandboxReady or SandboxFailed."""

    container_id: str
    sandbox: Path
    command: CommandInfo | None
    executor: bool = False  # a custom executor's: its command must have a value


@dataclass(frozen=True, slots=True)
class MakeSandbox:
    """Make a task group's sandbox now (nothing to fetch, nothing reports back)."""

    sandbox: Path


@dataclass(frozen=True, slots=True)
class LaunchContainer:
    """Launch a container through the containerizer router: a command task or group task
    (``task``) or a custom executor (``executor``)."""

    container_id: str
    framework: FrameworkInfo
    sandbox: Path
    command: CommandInfo
    resources: Resources
    executor_id: str  # MESOS_EXECUTOR_ID: the executor's, or a command task's own task id
    shutdown_grace: float
    task: TaskInfo | None = None
    executor: ExecutorInfo | None = None


@dataclass(frozen=True, slots=True)
class KillContainer:
    """SIGTERM, SIGKILL after ``grace`` seconds; ContainerExited follows."""

    container_id: str
    grace: float


@dataclass(frozen=True, slots=True)
class DestroyContainer:
    """Kill at once; ContainerExited follows."""

    container_id: str


@dataclass(frozen=True, slots=True)
class UpdateContainer:
    """A running container now holds ``resources``."""

    container_id: str
    resources: Resources


# ------------------------------------------------------------------ durable state
@dataclass(frozen=True, slots=True)
class CheckpointTask:
    record: TaskRecord


@dataclass(frozen=True, slots=True)
class CheckpointExecutor:
    record: ExecutorRecord


@dataclass(frozen=True, slots=True)
class ForgetTask:
    framework_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class ForgetExecutor:
    framework_id: str
    executor_id: str


@dataclass(frozen=True, slots=True)
class SaveAgentId:
    agent_id: str


@dataclass(frozen=True, slots=True)
class WriteUpdateJournal:
    """Append a record to the status-update journal."""

    record: JournalRecord


# ------------------------------------------------------------------ timers
@dataclass(frozen=True, slots=True)
class SetTimer:
    """Feed ``event`` back to the core at ``at`` (the core's clock), unless cancelled."""

    key: tuple[str, ...]
    at: float
    event: object  # an events.Event (typed there; effects do not import events)


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: tuple[str, ...]


Effect = (
    SendToMaster
    | SendToExecutor
    | CloseExecutorStream
    | Registered
    | Reconnect
    | PrepareSandbox
    | MakeSandbox
    | LaunchContainer
    | KillContainer
    | DestroyContainer
    | UpdateContainer
    | CheckpointTask
    | CheckpointExecutor
    | ForgetTask
    | ForgetExecutor
    | SaveAgentId
    | WriteUpdateJournal
    | SetTimer
    | CancelTimer
)
