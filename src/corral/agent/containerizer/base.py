"""The containerizer interface: what the agent asks of every kind of container, and the
events every containerizer reports back through its sink.

A containerizer never reaches into the agent: it is handed a ``LaunchSpec`` (everything a
container needs, as data) and reports what happens to its containers as ``ContainerEvent``s
to the sink it was made with. Which containerizer runs a container is ``router.Router``'s
business alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from corral.agent.users import OsUser
from corral.resources import Resources
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, ContainerInfo, ExecutorInfo, TaskInfo

Statistics = dict[str, int]  # a container's usage, in Mesos's ResourceStatistics field names


@dataclass(frozen=True)
class ContainerizerConfig:
    """The agent flags the containerizers read."""

    work_dir: Path
    containerizers: tuple[str, ...] = ("linux", "process")
    isolation: tuple[str, ...] = ()  # "network/private"
    ip: str = "127.0.0.1"  # where mapped ports listen
    cgroups_enable_cfs: bool = False
    cgroups_pids_max: int = 4096
    images_dir: Path | None = None
    docker_endpoint: str = ""
    pull_timeout: float = 60.0  # --executor-registration-timeout bounds a docker pull


@dataclass(frozen=True)
class AgentFacts:
    """Who runs the container: what goes into its Mesos environment and docker labels."""

    agent_id: str
    address: str  # ip:port of the agent's API
    hostname: str
    ip: str


@dataclass(frozen=True)
class LaunchSpec:
    """One container to launch: a command task (``task``) or a custom executor
    (``executor``), in ``sandbox``, holding ``resources``."""

    container_id: str
    framework: FrameworkInfo
    sandbox: Path
    command: CommandInfo
    resources: Resources
    executor_id: str  # MESOS_EXECUTOR_ID: the executor's, or a command task's own task id
    agent: AgentFacts
    shutdown_grace: float
    task: TaskInfo | None = None
    executor: ExecutorInfo | None = None
    # Asked before a slow launch step commits (a docker pull): the task was killed meanwhile.
    kill_requested: Callable[[], bool] = field(default=lambda: False)
    # Run as this user (its sandbox is given to it first); None: as the agent's own user.
    user: OsUser | None = None
    executor_token: str = ""  # a custom executor's MESOS_EXECUTOR_AUTHENTICATION_TOKEN

    @property
    def container(self) -> ContainerInfo | None:
        return self.task.container if self.task is not None else None


@dataclass(frozen=True)
class Recoverable:
    """A container the agent's checkpoint says it had when it stopped."""

    sandbox: Path
    container: ContainerInfo | None


# ---------------------------------------------------------------- events
@dataclass(frozen=True)
class Started:
    container_id: str
    pid: int


@dataclass(frozen=True)
class Recovered:
    """Still running after an agent restart (or a launcher reconnection)."""

    container_id: str
    pid: int


@dataclass(frozen=True)
class LaunchFailed:
    container_id: str
    message: str  # names the field or flag at fault


@dataclass(frozen=True)
class LaunchCancelled:
    """The task was killed while its container was being made; nothing runs."""

    container_id: str


@dataclass(frozen=True)
class Exited:
    container_id: str
    status: int  # a raw wait status (docker: the exit code shifted as one)
    succeeded: bool
    message: str  # "Command exited with status 1", "Container exited with status 1: ..."
    limitation: str | None = None  # "memory": the kernel's OOM killer ended it at its limit


@dataclass(frozen=True)
class Lost:
    """The containerizer cannot tell how the container ended (gone after a restart, or its
    daemon lost track of it); it is not running."""

    container_id: str
    message: str


ContainerEvent = Started | Recovered | LaunchFailed | LaunchCancelled | Exited | Lost
ContainerEventSink = Callable[[ContainerEvent], None]
TERMINAL_EVENTS = (LaunchFailed, LaunchCancelled, Exited, Lost)


@dataclass
class RecoverySummary:
    """What ``recover`` found, for the agent's log line."""

    running: int = 0  # re-adopted
    ended: int = 0  # ended while the agent was down (reported as Exited)
    gone: int = 0  # unknown to the containerizer (reported as Lost)
    unknown: int = 0  # the containerizer's containers the agent has no task for: destroyed

    def __add__(self, other: RecoverySummary) -> RecoverySummary:
        return RecoverySummary(
            self.running + other.running,
            self.ended + other.ended,
            self.gone + other.gone,
            self.unknown + other.unknown,
        )


class Containerizer(Protocol):
    """One kind of container. Every method returns at once or after its own I/O; outcomes
    (started, failed, exited, ...) arrive through the sink, never as return values."""

    name: str  # "process" | "linux" | "docker": what /state and /containers show

    async def launch(self, spec: LaunchSpec) -> None:
        """Make and start the container; Started or LaunchFailed (or LaunchCancelled)
        follows, then Exited or Lost."""

    def kill(self, container_id: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; Exited follows."""

    def destroy(self, container_id: str) -> None:
        """Kill at once (a quota exceeded, a timeout, a leftover); Exited follows."""

    def update(self, container_id: str, resources: Resources) -> None:
        """A running container now holds ``resources`` (an executor that got a task)."""

    async def recover(self, containers: Mapping[str, Recoverable]) -> RecoverySummary:
        """After an agent restart: report each of ``containers`` (Recovered, Exited or Lost)
        and destroy this containerizer's containers that are not among them."""

    async def usage(self, container_ids: Collection[str]) -> dict[str, Statistics]:
        """The usage of those of ``container_ids`` that it can measure."""

    async def cleanup(self) -> int:
        """``--recover cleanup``: destroy everything an earlier agent left (how many)."""

    async def close(self, kill: bool) -> None:
        """The agent stops: with ``kill``, end every container; else leave them running for
        the next agent to recover."""
