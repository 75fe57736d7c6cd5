"""What the agent core reacts to: commands from the master, the containerizers' reports,
executor API calls, timers, and the shell's lifecycle (the master link, recovery)."""

from __future__ import annotations

from dataclasses import dataclass

from corral.wire import agent as msg
from corral.wire.tasks import TaskStatus


# ------------------------------------------------------------------ the master
@dataclass(frozen=True, slots=True)
class FromMaster:
    """A message from the master (RunTask, KillTask, AcknowledgeUpdate, Registered, ...)."""

    message: msg.MasterToAgent


@dataclass(frozen=True, slots=True)
class MasterDisconnected:
    """The master link dropped: hold status updates until registered again."""


# ------------------------------------------------------------------ sandboxes
@dataclass(frozen=True, slots=True)
class SandboxReady:
    container_id: str


@dataclass(frozen=True, slots=True)
class SandboxFailed:
    container_id: str
    message: str


# ------------------------------------------------------------------ containers
@dataclass(frozen=True, slots=True)
class ContainerStarted:
    container_id: str
    pid: int


@dataclass(frozen=True, slots=True)
class ContainerRecovered:
    """Still running after an agent restart."""

    container_id: str
    pid: int


@dataclass(frozen=True, slots=True)
class ContainerLaunchFailed:
    container_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ContainerLaunchCancelled:
    """The task was killed while its container was being made; nothing runs."""

    container_id: str


@dataclass(frozen=True, slots=True)
class ContainerExited:
    container_id: str
    status: int  # a raw wait status
    succeeded: bool
    message: str
    limitation: str | None = None  # "memory": OOM-killed at its limit


@dataclass(frozen=True, slots=True)
class ContainerLost:
    """Not running, and how it ended is unknown (gone after a restart)."""

    container_id: str
    message: str


@dataclass(frozen=True, slots=True)
class DiskQuotaExceeded:
    """The disk watcher found the container's sandbox over its ``disk``: it is destroyed."""

    container_id: str
    message: str


# ------------------------------------------------------------------ the executor API
@dataclass(frozen=True, slots=True)
class ExecutorSubscribed:
    """A custom executor opened its executor API stream; ``unacknowledged`` are the tasks it
    says it already runs."""

    framework_id: str
    executor_id: str
    unacknowledged: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ExecutorDisconnected:
    framework_id: str
    executor_id: str


@dataclass(frozen=True, slots=True)
class ExecutorUpdate:
    """UPDATE from an executor (validated by the HTTP layer)."""

    framework_id: str
    executor_id: str
    status: TaskStatus


@dataclass(frozen=True, slots=True)
class ExecutorMessage:
    framework_id: str
    executor_id: str
    data: bytes


# ------------------------------------------------------------------ timers
@dataclass(frozen=True, slots=True)
class Tick:
    """About once a second: resend unacknowledged status updates whose backoff lapsed."""


@dataclass(frozen=True, slots=True)
class ExecutorRegistrationTimeout:
    framework_id: str
    executor_id: str
    container_id: str


@dataclass(frozen=True, slots=True)
class ShutdownGraceElapsed:
    """An executor told to shut down had its grace period: destroy its container."""

    container_id: str


@dataclass(frozen=True, slots=True)
class RecoveryFinished:
    """Every containerizer has reported its recovered containers."""


Event = (
    FromMaster
    | MasterDisconnected
    | SandboxReady
    | SandboxFailed
    | ContainerStarted
    | ContainerRecovered
    | ContainerLaunchFailed
    | ContainerLaunchCancelled
    | ContainerExited
    | ContainerLost
    | DiskQuotaExceeded
    | ExecutorSubscribed
    | ExecutorDisconnected
    | ExecutorUpdate
    | ExecutorMessage
    | Tick
    | ExecutorRegistrationTimeout
    | ShutdownGraceElapsed
    | RecoveryFinished
)
