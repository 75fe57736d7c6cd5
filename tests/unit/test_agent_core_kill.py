"""The agent core killing: with the kill policy's grace, during a launch, executors'
shutdown with their grace period, whole frameworks."""

from __future__ import annotations

from agent_core_world import (
    FID,
    Agent,
    command_task,
    executor_events,
    executor_info,
    executor_task,
    framework,
    grace,
    journaled,
    of_type,
)

from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.wire import agent as msg
from corral.wire.base import ID


def kill(tid: str, seconds: float | None = None) -> msg.KillTask:
    return msg.KillTask(
        framework_id=ID(FID), task_id=ID(tid), kill_policy=grace(seconds) if seconds else None
    )


def test_kill_with_grace_sends_killing_then_killed() -> None:
    a = Agent()
    a.run(command_task("t1"), framework("TASK_KILLING_STATE"))
    cid = a.start("t1")
    out = a.master(kill("t1", 7.5))
    assert journaled(out) == [("t1", "TASK_KILLING")]
    assert of_type(out, fx.KillContainer) == [fx.KillContainer(cid, 7.5)]
    assert a.master(kill("t1", 7.5)) == []  # a second kill while the first is under way
    out = a.feed(ev.ContainerExited(cid, 15, False, "Command terminated by signal 15"))
    assert journaled(out) == [("t1", "TASK_KILLED")]


def test_kill_grace_comes_from_the_task_when_the_kill_names_none() -> None:
    a = Agent()
    a.run(command_task("t1", kill_policy=grace(2.0)))
    a.run(command_task("t2"))
    c1, c2 = a.start("t1"), a.start("t2")
    out = [*a.master(kill("t1")), *a.master(kill("t2"))]
    # no TASK_KILLING without the capability; the default grace without a policy
    assert journaled(out) == []
    assert of_type(out, fx.KillContainer) == [fx.KillContainer(c1, 2.0), fx.KillContainer(c2, 3.0)]


def test_a_task_killed_before_its_sandbox_is_ready_is_never_launched() -> None:
    a = Agent()
    a.run(command_task("t1"))
    assert a.master(kill("t1")) == []
    out = a.feed(ev.SandboxReady("c1"))
    assert of_type(out, fx.LaunchContainer) == []
    (rec,) = [e.record for e in of_type(out, fx.WriteUpdateJournal)]
    assert rec.update.status.state == "TASK_KILLED"  # type: ignore[union-attr]
    assert rec.update.status.reason == "REASON_TASK_KILLED_DURING_LAUNCH"  # type: ignore[union-attr]
    assert "c1" not in a.state.containers


def test_a_task_killed_while_its_container_spawns_is_killed_once_it_started() -> None:
    a = Agent()
    a.run(command_task("t1"))
    a.feed(ev.SandboxReady("c1"))
    assert a.master(kill("t1", 1.0)) == []
    out = a.feed(ev.ContainerStarted("c1", 5))
    assert journaled(out) == []  # never reported RUNNING
    assert of_type(out, fx.KillContainer) == [fx.KillContainer("c1", 3.0)]
    out = a.feed(ev.ContainerExited("c1", 9, False, "Command terminated by signal 9"))
    assert journaled(out) == [("t1", "TASK_KILLED")]


def test_a_custom_executors_task_is_killed_by_its_executor() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    out = a.master(kill("t1", 4.0))
    assert executor_events(out) == ["KILL"] and of_type(out, fx.KillContainer) == []


def test_shutting_down_a_subscribed_executor_gives_it_its_grace_then_destroys_it() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    a.feed(ev.ContainerStarted(ex.container_id, 7))
    a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    out = a.master(msg.ShutdownExecutor(framework_id=ID(FID), executor_id=ID("ex-1")))
    assert executor_events(out) == ["SHUTDOWN"]
    (timer,) = of_type(out, fx.SetTimer)
    assert timer.at == a.now + 5.0  # --executor-shutdown-grace-period
    a.now = timer.at
    assert a.feed(timer.event) == [fx.DestroyContainer(ex.container_id)]  # type: ignore[arg-type]
    out = a.feed(ev.ContainerExited(ex.container_id, 9, False, "killed"))
    assert journaled(out) == [("t1", "TASK_KILLED")]


def test_shutting_down_an_executor_that_never_subscribed_kills_its_container() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    out = a.master(msg.ShutdownExecutor(framework_id=ID(FID), executor_id=ID("ex-1")))
    assert out == [fx.KillContainer(ex.container_id, 5.0)]


def test_shutting_down_a_framework_ends_its_executors_and_command_tasks() -> None:
    a = Agent()
    a.run(command_task("t1"))
    c1 = a.start("t1")
    a.run(executor_task("t2", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    out = a.master(msg.ShutdownFramework(framework_id=ID(FID)))
    assert of_type(out, fx.KillContainer) == [
        fx.KillContainer(ex.container_id, 5.0),
        fx.KillContainer(c1, 3.0),
    ]


def test_a_kill_with_a_reason_ends_killed_with_that_reason() -> None:
    a = Agent()
    a.run(command_task("t1"))
    cid = a.start("t1")
    out = a.master(
        msg.KillTask(framework_id=ID(FID), task_id=ID("t1"), reason="REASON_CONTAINER_PREEMPTED")
    )
    assert of_type(out, fx.KillContainer) == [fx.KillContainer(cid, 3.0)]
    out = a.feed(ev.ContainerExited(cid, 15, False, "Command terminated by signal 15"))
    (rec,) = [e.record for e in of_type(out, fx.WriteUpdateJournal)]
    assert rec.update.status.state == "TASK_KILLED"  # type: ignore[union-attr]
    assert rec.update.status.reason == "REASON_CONTAINER_PREEMPTED"  # type: ignore[union-attr]
