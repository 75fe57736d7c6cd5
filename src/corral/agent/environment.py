"""What a task or executor process is started with: its argv and its environment (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from corral.agent.users import OsUser
from corral.resources import from_wire
from corral.wire import secrets
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, ExecutorInfo, KillPolicy, TaskInfo

EXECUTOR_TOKEN_ENV = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"


def command_argv(value: str, shell: bool, arguments: list[str]) -> tuple[str, list[str]]:
    """(program, argv) as Mesos runs a CommandInfo: ``/bin/sh -c value`` when ``shell``,
    else ``value`` with ``arguments`` as the whole argv (argv[0] included)."""
    if shell:
        return "/bin/sh", ["/bin/sh", "-c", value]
    return value, list(arguments) if arguments else [value]


def duration(seconds: float) -> str:
    """A Mesos duration string: ``5secs``, ``1500ms``."""
    if seconds == int(seconds):
        return f"{int(seconds)}secs"
    return f"{int(seconds * 1000)}ms"


def kill_grace(policy: KillPolicy | None) -> float | None:
    """The grace period of a kill policy in seconds, or None when it sets none."""
    if policy is None or policy.grace_period is None:
        return None
    return max(0.0, policy.grace_period.nanoseconds / 1e9)


def environment(
    *,
    base: Mapping[str, str],
    framework: FrameworkInfo,
    task: TaskInfo | None,
    executor: ExecutorInfo | None,
    sandbox: Path,
    executor_id: str,
    agent_id: str,
    agent_address: str,
    hostname: str,
    ip: str,
    shutdown_grace: float,
    user: OsUser | None = None,
    executor_token: str = "",
) -> dict[str, str]:
    """Mesos's executor environment, the task's ports, then CommandInfo.environment last.

    ``user``: the container runs as that user, so ``USER``, ``LOGNAME`` and ``HOME`` are its
    own, not the agent's. ``executor_token``: a custom executor's token for the executor API
    (``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``, as in Mesos)."""
    env = dict(base)
    if user is not None:
        env.update(USER=user.name, LOGNAME=user.name, HOME=user.home)
    if executor_token:
        env[EXECUTOR_TOKEN_ENV] = executor_token
    fid = framework.id.value if framework.id else ""
    env.update(
        MESOS_SANDBOX=str(sandbox),
        MESOS_DIRECTORY=str(sandbox),
        MESOS_FRAMEWORK_ID=fid,
        MESOS_EXECUTOR_ID=executor_id,
        MESOS_AGENT_ID=agent_id,
        MESOS_SLAVE_ID=agent_id,
        MESOS_AGENT_ENDPOINT=agent_address,
        MESOS_SLAVE_PID=f"slave(1)@{agent_address}",
        MESOS_CHECKPOINT="1" if framework.checkpoint else "0",
        MESOS_HTTP_COMMAND_EXECUTOR="0",
        MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=duration(shutdown_grace),
        HOST=hostname,
        LIBPROCESS_IP=ip,
        LIBPROCESS_PORT="0",
    )
    if framework.checkpoint:
        env["MESOS_RECOVERY_TIMEOUT"] = "15mins"
        env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs"
    command: CommandInfo | None = None
    if task is not None:
        env["MESOS_TASK_ID"] = task.task_id.value
        ports = [
            str(p) for b, e in from_wire(task.resources).port_ranges() for p in range(b, e + 1)
        ]
        for i, port in enumerate(ports):
            env[f"PORT{i}"] = port
        if ports:
            env["PORT"] = ports[0]
            env["PORTS"] = ",".join(ports)
        command = task.command
    if executor is not None:
        command = executor.command
    if command is not None and command.environment is not None:
        for var in command.environment.variables:
            if secrets.is_secret(var):
                env[var.name] = secrets.value(var)  # checked by the master at launch
            elif var.value is not None:
                env[var.name] = var.value
    return env
