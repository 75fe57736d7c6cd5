"""The argv and environment a task or executor is started with."""

from __future__ import annotations

from pathlib import Path

from corral.agent.environment import command_argv, duration, environment, kill_grace
from corral.resources import parse
from corral.wire.base import ID
from corral.wire.common import DurationInfo, FrameworkInfo
from corral.wire.tasks import (
    CommandInfo,
    Environment,
    EnvironmentVariable,
    ExecutorInfo,
    KillPolicy,
    TaskInfo,
)


def test_command_argv_follows_mesos_shell_rules() -> None:
    assert command_argv("echo $HOME", True, ["ignored"]) == (
        "/bin/sh",
        ["/bin/sh", "-c", "echo $HOME"],
    )
    assert command_argv("/bin/echo", False, ["echo", "a b"]) == ("/bin/echo", ["echo", "a b"])
    assert command_argv("/bin/true", False, []) == ("/bin/true", ["/bin/true"])


def test_duration_and_kill_grace() -> None:
    assert duration(5) == "5secs" and duration(1.5) == "1500ms"
    assert kill_grace(None) is None and kill_grace(KillPolicy()) is None
    assert kill_grace(KillPolicy(grace_period=DurationInfo(nanoseconds=2_500_000_000))) == 2.5
    assert kill_grace(KillPolicy(grace_period=DurationInfo(nanoseconds=-5))) == 0.0


def _env(task: TaskInfo | None, executor: ExecutorInfo | None, checkpoint: bool) -> dict[str, str]:
    fw = FrameworkInfo(user="u", name="f", id=ID("fw-1"), checkpoint=checkpoint)
    return environment(
        base={"PATH": "/bin", "GREETING": "from agent"},
        framework=fw,
        task=task,
        executor=executor,
        sandbox=Path("/sb/c1"),
        executor_id="ex",
        agent_id="a-S0",
        agent_address="10.0.0.2:5051",
        hostname="h2",
        ip="10.0.0.2",
        shutdown_grace=5,
    )


def test_task_environment_has_mesos_variables_ports_and_its_own_last() -> None:
    task = TaskInfo(
        name="t",
        task_id=ID("t1"),
        agent_id=ID("a-S0"),
        resources=parse("cpus:1;ports:[31000-31001,31005-31005]").to_wire(),
        command=CommandInfo(
            value="true",
            environment=Environment(variables=[EnvironmentVariable(name="GREETING", value="mine")]),
        ),
    )
    env = _env(task, None, checkpoint=False)
    assert env["PATH"] == "/bin" and env["GREETING"] == "mine"
    assert env["MESOS_SANDBOX"] == env["MESOS_DIRECTORY"] == "/sb/c1"
    assert env["MESOS_TASK_ID"] == "t1" and env["MESOS_FRAMEWORK_ID"] == "fw-1"
    assert env["MESOS_AGENT_ENDPOINT"] == "10.0.0.2:5051" and env["MESOS_SLAVE_ID"] == "a-S0"
    assert (env["PORT0"], env["PORT1"], env["PORT2"]) == ("31000", "31001", "31005")
    assert env["PORT"] == "31000" and env["PORTS"] == "31000,31001,31005"
    assert env["MESOS_CHECKPOINT"] == "0" and "MESOS_RECOVERY_TIMEOUT" not in env
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "5secs"


def test_executor_environment_for_a_checkpointing_framework() -> None:
    ex = ExecutorInfo(executor_id=ID("ex"), command=CommandInfo(value="run-executor"))
    env = _env(None, ex, checkpoint=True)
    assert env["MESOS_EXECUTOR_ID"] == "ex" and "MESOS_TASK_ID" not in env
    assert env["MESOS_CHECKPOINT"] == "1" and env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] == "2secs"
    assert env["GREETING"] == "from agent"
