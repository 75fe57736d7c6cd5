"""Tasks, executors, commands and task status (mesos.proto)."""

from __future__ import annotations

from typing import Any

from corral.wire.base import ID, Message
from corral.wire.common import DurationInfo, Labels, Resource

TASK_STATES = (
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
)
TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES


class URI(Message, kw_only=True):
    value: str
    executable: bool | None = None
    extract: bool = True
    cache: bool | None = None
    output_file: str | None = None


class EnvironmentVariable(Message, kw_only=True):
    name: str
    type: str | None = None
    value: str | None = None
    secret: dict[str, Any] | None = None


class Environment(Message, kw_only=True):
    variables: list[EnvironmentVariable] = []


class CommandInfo(Message, kw_only=True):
    uris: list[URI] = []
    environment: Environment | None = None
    shell: bool = True
    value: str | None = None
    arguments: list[str] = []
    user: str | None = None


class KillPolicy(Message, kw_only=True):
    grace_period: DurationInfo | None = None


# ---------------------------------------------------------------- health checks and checks
# Every number is optional on the wire (so the JSON a framework sent is the JSON it reads
# back); ``corral.agent.health`` applies Mesos's defaults.


class HTTPCheckInfo(Message, kw_only=True):
    """HealthCheck.http / CheckInfo.http: GET ``path`` on ``port`` of the task."""

    port: int
    path: str | None = None
    scheme: str | None = None  # http (default) | https
    protocol: str | None = None  # IPv4 (default) | IPv6
    statuses: list[int] = []  # ignored, as by Mesos's built-in executors (200-399 is healthy)


class TCPCheckInfo(Message, kw_only=True):
    """HealthCheck.tcp / CheckInfo.tcp: a TCP connection to ``port`` of the task."""

    port: int
    protocol: str | None = None


class HealthCheck(Message, kw_only=True):
    """mesos.proto HealthCheck: the agent probes the task and kills it after
    ``consecutive_failures`` failures once the grace period is over."""

    type: str | None = None  # COMMAND | HTTP | TCP
    command: CommandInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None
    delay_seconds: float | None = None  # default 15
    interval_seconds: float | None = None  # default 10
    timeout_seconds: float | None = None  # default 20
    consecutive_failures: int | None = None  # default 3
    grace_period_seconds: float | None = None  # default 10


class CommandCheckInfo(Message, kw_only=True):
    command: CommandInfo


class CheckInfo(Message, kw_only=True):
    """mesos.proto CheckInfo: a probe whose result is reported, never acted on."""

    type: str | None = None  # COMMAND | HTTP | TCP
    command: CommandCheckInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None
    delay_seconds: float | None = None  # default 15
    interval_seconds: float | None = None  # default 10
    timeout_seconds: float | None = None  # default 20


class CommandCheckStatus(Message, kw_only=True):
    exit_code: int | None = None  # unset: the command could not run or timed out


class HTTPCheckStatus(Message, kw_only=True):
    status_code: int | None = None  # unset: no answer in time


class TCPCheckStatus(Message, kw_only=True):
    succeeded: bool | None = None


class CheckStatusInfo(Message, kw_only=True):
    """TaskStatus.check_status: the newest result of the task's CheckInfo."""

    type: str | None = None
    command: CommandCheckStatus | None = None
    http: HTTPCheckStatus | None = None
    tcp: TCPCheckStatus | None = None


class ExecutorInfo(Message, kw_only=True):
    executor_id: ID
    type: str | None = None
    framework_id: ID | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    resources: list[Resource] = []
    name: str | None = None
    source: str | None = None
    data: bytes | None = None
    discovery: dict[str, Any] | None = None
    shutdown_grace_period: DurationInfo | None = None
    labels: Labels | None = None


class Volume(Message, kw_only=True):
    """ContainerInfo.volumes[]: a host path (relative: inside the sandbox) mounted in the
    container (relative container paths are under the sandbox mount)."""

    container_path: str | None = None  # required by Mesos; the containerizer says so
    host_path: str | None = None
    mode: str | None = None  # RW (default) | RO
    image: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


class PortMapping(Message, kw_only=True):
    host_port: int
    container_port: int
    protocol: str | None = None  # tcp (default) | udp


class Parameter(Message, kw_only=True):
    key: str
    value: str


class DockerInfo(Message, kw_only=True):
    """ContainerInfo.docker. Unset fields stay unset (the JSON passes through unchanged);
    the defaults are Mesos's: network HOST, not privileged, no forced pull."""

    image: str | None = None  # required by Mesos; the docker containerizer says so
    network: str | None = None  # HOST (default) | BRIDGE | NONE | USER
    port_mappings: list[PortMapping] = []
    privileged: bool | None = None
    parameters: list[Parameter] = []
    force_pull_image: bool | None = None
    volume_driver: str | None = None


class ImageAppc(Message, kw_only=True):
    name: str | None = None
    id: str | None = None
    labels: Labels | None = None


class ImageDocker(Message, kw_only=True):
    name: str | None = None
    credential: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


class Image(Message, kw_only=True):
    """mesos.proto Image: a root filesystem for a MESOS container."""

    type: str | None = None  # DOCKER (corral's default) | APPC
    appc: ImageAppc | None = None
    docker: ImageDocker | None = None
    cached: bool | None = None


class MesosInfo(Message, kw_only=True):
    image: Image | None = None


class RLimit(Message, kw_only=True):
    """RLimitInfo.rlimits[]: ``type`` is RLMT_NOFILE, RLMT_NPROC, ...; neither ``soft`` nor
    ``hard`` set means unlimited."""

    type: str | None = None
    hard: int | None = None
    soft: int | None = None


class RLimitInfo(Message, kw_only=True):
    rlimits: list[RLimit] = []


class ContainerInfo(Message, kw_only=True):
    """mesos.proto ContainerInfo, every field (so none is lost on its way to the agent)."""

    type: str | None = None  # MESOS (when unset) | DOCKER
    volumes: list[Volume] = []
    hostname: str | None = None
    docker: DockerInfo | None = None
    mesos: MesosInfo | None = None
    network_infos: list[dict[str, Any]] = []
    linux_info: dict[str, Any] | None = None
    rlimit_info: RLimitInfo | None = None
    tty_info: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """DOCKER or MESOS (Mesos requires ``type``; corral reads a missing one as MESOS)."""
        return self.type or "MESOS"


class TaskInfo(Message, kw_only=True):
    name: str
    task_id: ID
    agent_id: ID
    resources: list[Resource] = []
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    health_check: HealthCheck | None = None
    check: CheckInfo | None = None
    kill_policy: KillPolicy | None = None
    data: bytes | None = None
    labels: Labels | None = None
    discovery: dict[str, Any] | None = None
    max_completion_time: DurationInfo | None = None
    limits: dict[str, Any] | None = None


class TaskGroupInfo(Message, kw_only=True):
    tasks: list[TaskInfo] = []


class ContainerStatus(Message, kw_only=True):
    container_id: dict[str, Any] | None = None
    network_infos: list[dict[str, Any]] = []
    executor_pid: int | None = None


class TaskStatus(Message, kw_only=True):
    task_id: ID
    state: str
    message: str | None = None
    source: str | None = None
    reason: str | None = None
    data: bytes | None = None
    agent_id: ID | None = None
    executor_id: ID | None = None
    timestamp: float | None = None
    uuid: bytes | None = None
    healthy: bool | None = None
    check_status: CheckStatusInfo | None = None
    labels: Labels | None = None
    container_status: ContainerStatus | None = None
    unreachable_time: dict[str, Any] | None = None
    limitation: dict[str, Any] | None = None
