"""The agent core launching tasks: command tasks, custom executors, task groups.
Worked examples: feed events at a fixed clock, read the effects."""

from __future__ import annotations

from agent_core_world import (
    FID,
    WORK,
    Agent,
    command_task,
    executor_events,
    executor_info,
    executor_task,
    framework,
    journaled,
    of_type,
    sent_updates,
    states,
    update_status,
)

from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.agent.core.registration import register_message
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.tasks import TaskGroupInfo


def test_a_command_task_is_checkpointed_prepared_launched_and_reported_running() -> None:
    a = Agent()
    a.register()
    out = a.run(command_task("t1", "echo hi"))
    assert [type(e) for e in out] == [fx.CheckpointTask, fx.PrepareSandbox]
    prep = of_type(out, fx.PrepareSandbox)[0]
    assert prep.container_id == "c1" and prep.sandbox == WORK / "sandboxes" / "c1"
    assert of_type(out, fx.CheckpointTask)[0].record.container_id == "c1"

    out = a.feed(ev.SandboxReady("c1"))
    assert states(out) == [("t1", "TASK_STARTING")]
    (launch,) = of_type(out, fx.LaunchContainer)
    assert launch.container_id == "c1" and launch.task is not None
    assert launch.executor_id == "t1"  # MESOS_EXECUTOR_ID of a command task is its task id
    assert launch.resources.scalar("cpus") == 0.1

    out = a.feed(ev.ContainerStarted("c1", 99))
    assert journaled(out) == [("t1", "TASK_RUNNING")]
    assert states(out) == []  # one update in flight per task: RUNNING waits for STARTING's ack
    a.ack(sent_updates(a.log)[0])
    assert states(a.log[-1:]) == [("t1", "TASK_RUNNING")]
    assert a.state.frameworks[FID].tasks["t1"].pid == 99


def test_a_task_that_exits_zero_finishes_and_is_forgotten_once_acknowledged() -> None:
    a = Agent()
    a.register()
    a.run(command_task("t1"))
    a.start("t1")
    out = a.feed(ev.ContainerExited("c1", 0, True, "Command exited with status 0"))
    assert journaled(out) == [("t1", "TASK_FINISHED")]
    assert "c1" not in a.state.containers
    assert [t.task_id for t in a.state.frameworks[FID].completed] == ["t1"]
    for _ in range(3):  # STARTING, RUNNING, FINISHED, one at a time
        a.ack(sent_updates(a.log)[-1])
    assert of_type(a.log[-3:], fx.ForgetTask) == [fx.ForgetTask(FID, "t1")]
    assert FID not in a.state.frameworks  # nothing left of the framework here
    assert [f.framework_id for f in a.state.completed_frameworks] == [FID]


def test_a_failing_command_and_a_failed_launch_are_task_failed() -> None:
    a = Agent()
    a.run(command_task("t1"))
    a.start("t1")
    a.run(command_task("t2"))
    a.feed(ev.ContainerExited("c1", 256, False, "Command exited with status 1"))
    out = a.feed(ev.SandboxFailed("c2", "Failed to fetch http://x/f: 404"))
    assert journaled(a.log)[-2:] == [("t1", "TASK_FAILED"), ("t2", "TASK_FAILED")]
    assert sent_updates(out) == []  # not registered yet: nothing goes out
    (rec,) = [e.record for e in of_type(out, fx.WriteUpdateJournal)]
    assert rec.update.status.reason == "REASON_CONTAINER_LAUNCH_FAILED"  # type: ignore[union-attr]
    assert rec.update.status.source == "SOURCE_AGENT"  # type: ignore[union-attr]


def test_uris_mean_starting_while_they_are_fetched_and_a_duplicate_run_is_ignored() -> None:
    a = Agent()
    a.register()
    out = a.run(command_task("t1", uris=True))
    assert states(out) == [("t1", "TASK_STARTING")]
    assert a.run(command_task("t1")) == []
    out = a.feed(ev.SandboxReady("c1"))
    assert states(out) == [] and len(of_type(out, fx.LaunchContainer)) == 1


def test_an_oom_killed_task_fails_with_the_memory_limitation() -> None:
    a = Agent()
    a.run(command_task("t1"))
    a.start("t1")
    out = a.feed(ev.ContainerExited("c1", 9, False, "Command terminated by signal 9", "memory"))
    (rec,) = [e.record for e in of_type(out, fx.WriteUpdateJournal)]
    status = rec.update.status  # type: ignore[union-attr]
    assert status.reason == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert status.message is not None and "limit of 32 MB" in status.message


def test_a_sandbox_over_its_disk_quota_is_destroyed_and_the_task_fails_for_it() -> None:
    a = Agent()
    a.run(command_task("t1"))
    a.start("t1")
    out = a.feed(ev.DiskQuotaExceeded("c1", "Disk usage (9.0 MB) exceeds quota (1 MB)"))
    assert out == [fx.DestroyContainer("c1")]
    out = a.feed(ev.ContainerExited("c1", 9, False, "Command terminated by signal 9"))
    (rec,) = [e.record for e in of_type(out, fx.WriteUpdateJournal)]
    assert rec.update.status.reason == "REASON_CONTAINER_LIMITATION_DISK"  # type: ignore[union-attr]


# ------------------------------------------------------------------ custom executors
def test_a_custom_executor_is_launched_once_and_gets_its_tasks_when_it_subscribes() -> None:
    a = Agent()
    a.register()
    einfo = executor_info()
    out = a.run(executor_task("t1", einfo))
    assert [type(e) for e in out] == [fx.CheckpointExecutor, fx.PrepareSandbox, fx.CheckpointTask]
    assert of_type(out, fx.PrepareSandbox)[0].executor
    out = a.run(executor_task("t2", einfo))  # the same executor: no second container
    assert [type(e) for e in out] == [fx.CheckpointTask]
    ex = a.state.frameworks[FID].executors["ex-1"]
    assert ex.tasks == {"t1", "t2"} and len(ex.queued) == 2

    out = a.feed(ev.SandboxReady(ex.container_id))
    (launch,) = of_type(out, fx.LaunchContainer)
    assert launch.executor is einfo and launch.task is None
    assert launch.resources.scalar("cpus") == 1.1  # the executor's and its tasks'
    (timer,) = of_type(out, fx.SetTimer)
    assert timer.at == a.now + 60.0
    assert isinstance(timer.event, ev.ExecutorRegistrationTimeout)

    out = a.feed(ev.ContainerStarted(ex.container_id, 7))
    assert of_type(out, fx.UpdateContainer) == [
        fx.UpdateContainer(ex.container_id, launch.resources)
    ]
    out = a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    assert executor_events(out) == ["SUBSCRIBED", "LAUNCH", "LAUNCH"]
    sub = of_type(out, fx.SendToExecutor)[0].event.subscribed
    assert sub is not None and sub.agent_info.id == ID("agent-1")
    assert sub.container_id == {"value": ex.container_id}
    # A task for a running, subscribed executor goes straight to it.
    out = a.run(executor_task("t3", einfo))
    assert executor_events(out) == ["LAUNCH"] and len(of_type(out, fx.UpdateContainer)) == 1


def test_executor_updates_are_recorded_and_acknowledged_to_the_executor() -> None:
    a = Agent()
    a.register()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    a.feed(ev.ContainerStarted(ex.container_id, 7))
    a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    out = a.feed(ev.ExecutorUpdate(FID, "ex-1", update_status("t1", "TASK_RUNNING", 77)))
    assert states(out) == [("t1", "TASK_RUNNING")]
    assert executor_events(out) == ["ACKNOWLEDGED"]
    update = sent_updates(out)[0]
    assert update.status.executor_id == ID("ex-1") and update.status.source == "SOURCE_EXECUTOR"
    out = a.feed(ev.ExecutorMessage(FID, "ex-1", b"hello"))
    assert [e.message for e in of_type(out, fx.SendToMaster)] == [
        msg.ExecutorToFramework(framework_id=ID(FID), executor_id=ID("ex-1"), data=b"hello")
    ]


def test_a_resubscribing_executor_gets_only_launches_it_did_not_start() -> None:
    a = Agent()
    einfo = executor_info()
    a.run(executor_task("t1", einfo))
    a.run(executor_task("t2", einfo))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    a.feed(ev.ExecutorDisconnected(FID, "ex-1"))
    # Queued while it was away: a framework message.
    a.master(msg.FrameworkToExecutor(framework_id=ID(FID), executor_id=ID("ex-1"), data=b"x"))
    out = a.feed(ev.ExecutorSubscribed(FID, "ex-1", frozenset({"t1"})))
    assert executor_events(out) == ["SUBSCRIBED", "MESSAGE", "LAUNCH"]
    assert of_type(out, fx.SendToExecutor)[2].event.launch.task.task_id == ID("t2")  # type: ignore[union-attr]


def test_an_executor_that_does_not_subscribe_in_time_fails_its_tasks() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    out = a.feed(ev.SandboxReady(ex.container_id))
    timer = of_type(out, fx.SetTimer)[0]
    a.feed(ev.ContainerStarted(ex.container_id, 7))
    a.now = timer.at
    out = a.feed(timer.event)  # type: ignore[arg-type]
    assert journaled(out) == [("t1", "TASK_FAILED")]
    assert out[-1] == fx.DestroyContainer(ex.container_id)
    out = a.feed(ev.ContainerExited(ex.container_id, 9, False, "killed"))
    exited = [e.message for e in of_type(out, fx.SendToMaster)]
    assert isinstance(exited[-1], msg.ExecutorExited)
    assert of_type(out, fx.ForgetExecutor) == [fx.ForgetExecutor(FID, "ex-1")]
    assert "ex-1" not in a.state.frameworks[FID].executors


def test_an_executor_without_a_command_fails_its_tasks_once_its_sandbox_is_made() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info(cmd=None)))
    ex = a.state.frameworks[FID].executors["ex-1"]
    out = a.feed(ev.SandboxReady(ex.container_id))
    assert journaled(out) == [("t1", "TASK_FAILED")] and of_type(out, fx.LaunchContainer) == []


def test_when_an_executor_ends_its_running_tasks_fail() -> None:
    a = Agent()
    a.run(executor_task("t1", executor_info()))
    ex = a.state.frameworks[FID].executors["ex-1"]
    a.feed(ev.SandboxReady(ex.container_id))
    a.feed(ev.ContainerStarted(ex.container_id, 7))
    a.feed(ev.ExecutorSubscribed(FID, "ex-1"))
    out = a.feed(ev.ContainerExited(ex.container_id, 256, False, "exited 1"))
    assert journaled(out) == [("t1", "TASK_FAILED")]
    assert fx.CloseExecutorStream(FID, "ex-1") in out


# ------------------------------------------------------------------ task groups
def group(*tids: str) -> msg.RunTaskGroup:
    return msg.RunTaskGroup(
        framework_info=framework(),
        executor=executor_info("default", cmd=None),
        task_group=TaskGroupInfo(tasks=[command_task(t, "sleep 100") for t in tids]),
    )


def test_a_task_group_runs_each_task_in_its_own_container_under_the_group_sandbox() -> None:
    a = Agent()
    out = a.master(group("a", "b"))
    (exe,) = of_type(out, fx.CheckpointExecutor)
    assert exe.record.kind == "group"
    (made,) = of_type(out, fx.MakeSandbox)
    prepared = of_type(out, fx.PrepareSandbox)
    assert [p.sandbox for p in prepared] == [
        made.sandbox / "tasks" / "a",
        made.sandbox / "tasks" / "b",
    ]
    assert all(r.record.executor_id == "default" for r in of_type(out, fx.CheckpointTask))
    ex = a.state.frameworks[FID].executors["default"]
    assert ex.tasks == {"a", "b"} and ex.container_id not in a.state.containers


def test_a_group_task_that_fails_kills_its_siblings_and_the_last_ends_the_group() -> None:
    a = Agent()
    a.master(group("a", "b"))
    ca, cb = a.start("a"), a.start("b")
    out = a.feed(ev.ContainerExited(ca, 256, False, "Command exited with status 1"))
    assert journaled(out) == [("a", "TASK_FAILED")]
    assert of_type(out, fx.KillContainer) == [fx.KillContainer(cb, 3.0)]
    out = a.feed(ev.ContainerExited(cb, 15, False, "Command terminated by signal 15"))
    assert journaled(out) == [("b", "TASK_KILLED")]
    assert of_type(out, fx.ForgetExecutor) == [fx.ForgetExecutor(FID, "default")]
    (exited,) = [e.message for e in of_type(out, fx.SendToMaster)]
    assert isinstance(exited, msg.ExecutorExited) and exited.status == 0


def test_the_registration_message_lists_tasks_executors_and_unacknowledged_ended_tasks() -> None:
    a = Agent()
    a.register()
    a.run(command_task("t1"))
    a.run(command_task("t2"))
    a.start("t2")
    a.feed(ev.ContainerExited("c2", 0, True, "ok"))
    a.run(executor_task("t3", executor_info()))
    m = register_message(a.state)
    assert m.agent_id == ID("agent-1") and m.address == "127.0.0.1:5051"
    assert sorted((t.task.task_id.value, t.state) for t in m.tasks) == [
        ("t1", "TASK_STAGING"),
        ("t2", "TASK_FINISHED"),  # ended, its update not yet acknowledged
        ("t3", "TASK_STAGING"),
    ]
    assert [e.executor.executor_id.value for e in m.executors] == ["ex-1"]
