"""Agent restart in the core: checkpoint + status-update journal → state; then what the
containerizers say of each container (still running, ended while the agent was down, gone)
→ ordinary container events → updates sent once registered."""

from __future__ import annotations

from agent_core_world import (
    FID,
    WORK,
    Agent,
    command_task,
    executor_info,
    executor_task,
    framework,
    journaled,
    make_state,
    of_type,
    sent_updates,
    states,
)

from corral.agent.checkpoint import ExecutorRecord, Recovered, TaskRecord
from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.agent.core.recovery import recover
from corral.agent.core.registration import register_message
from corral.agent.status_updates import AckRecord, UpdateRecord, replay
from corral.wire import agent as msg
from corral.wire.base import ID
from corral.wire.tasks import TaskStatus


def record(tid: str, cid: str | None, executor_id: str | None = None) -> TaskRecord:
    info = command_task(tid) if executor_id is None else executor_task(tid, executor_info())
    return TaskRecord(
        framework=framework(),
        task=info,
        sandbox=str(WORK / "sandboxes" / (cid or "ex")),
        container_id=cid,
        executor_id=executor_id,
    )


def upd(tid: str, state: str, n: int) -> UpdateRecord:
    status = TaskStatus(task_id=ID(tid), state=state, uuid=n.to_bytes(16, "big"))
    return UpdateRecord(update=msg.StatusUpdate(framework_id=ID(FID), status=status))


def ack(tid: str, n: int) -> AckRecord:
    return AckRecord(framework_id=FID, task_id=tid, uuid=n.to_bytes(16, "big"))


def restarted() -> tuple[Agent, list[fx.Effect]]:
    """The last agent ran: 'running' (still running), 'ended' (exited while the agent was
    down), 'gone' (unknown to its containerizer now), 'done' (finished, acknowledged) and
    'unacked' (finished, its update not acknowledged), and a custom executor with 'ext'."""
    checkpoint = Recovered(
        agent_id="agent-7",
        tasks=[
            record("running", "c-run"),
            record("ended", "c-end"),
            record("gone", "c-gone"),
            record("done", "c-done"),
            record("unacked", "c-unacked"),
            record("ext", None, executor_id="ex-1"),
        ],
        executors=[
            ExecutorRecord(
                framework=framework(),
                executor=executor_info(),
                sandbox=str(WORK / "sandboxes" / "c-ex"),
                container_id="c-ex",
                kind="custom",
            )
        ],
    )
    journal = [
        upd("running", "TASK_STARTING", 1),
        ack("running", 1),
        upd("running", "TASK_RUNNING", 2),
        ack("running", 2),
        upd("ended", "TASK_RUNNING", 3),
        ack("ended", 3),
        upd("done", "TASK_FINISHED", 4),
        ack("done", 4),
        upd("unacked", "TASK_FINISHED", 5),
        upd("gone", "TASK_STARTING", 6),
    ]
    pending, latest = replay(journal)
    a = Agent(make_state())
    return a, recover(a.state, checkpoint, pending, latest)


def test_recovery_rebuilds_tasks_and_executors_and_forgets_acknowledged_ended_tasks() -> None:
    a, out = restarted()
    assert out == [fx.ForgetTask(FID, "done")]
    st = a.state
    assert st.agent_id == "agent-7"
    fw = st.frameworks[FID]
    assert sorted(fw.tasks) == ["ended", "ext", "gone", "running"]
    assert fw.tasks["running"].state == "TASK_RUNNING"
    assert [t.task_id for t in fw.completed] == ["unacked"]
    assert fw.executors["ex-1"].tasks == {"ext"}
    assert sorted(st.containers) == ["c-end", "c-ex", "c-gone", "c-run"]
    # Re-registering reports the unacknowledged ended task too.
    m = register_message(st)
    assert m.agent_id == ID("agent-7")
    assert ("unacked", "TASK_FINISHED") in [(t.task.task_id.value, t.state) for t in m.tasks]


def test_containers_that_ended_while_the_agent_was_down_are_reported_once_registered() -> None:
    a, _ = restarted()
    out = [
        *a.feed(ev.ContainerRecovered("c-run", 11)),
        *a.feed(ev.ContainerExited("c-end", 0, True, "Command exited with status 0")),
        *a.feed(ev.ContainerLost("c-gone", "gone after the agent restarted")),
        *a.feed(ev.ContainerRecovered("c-ex", 12)),
        *a.feed(ev.ContainerRecovered("c-stranger", 13)),  # nobody's: it must not go on
        *a.feed(ev.RecoveryFinished()),
    ]
    assert journaled(out) == [("ended", "TASK_FINISHED"), ("gone", "TASK_FAILED")]
    assert of_type(out, fx.DestroyContainer) == [fx.DestroyContainer("c-stranger")]
    assert sent_updates(out) == []  # not registered yet
    assert a.state.frameworks[FID].tasks["running"].pid == 11
    assert a.state.frameworks[FID].executors["ex-1"].pid == 12
    gone = [e.record for e in of_type(out, fx.WriteUpdateJournal)][1]
    assert gone.update.status.reason == "REASON_EXECUTOR_TERMINATED"  # type: ignore[union-attr]

    out = a.register("agent-7")
    assert of_type(out, fx.SaveAgentId) == []  # the same id as before
    assert sorted(states(out)) == [
        ("ended", "TASK_FINISHED"),
        ("gone", "TASK_STARTING"),  # its unacknowledged update from before comes first,
        ("unacked", "TASK_FINISHED"),
    ]
    (gone_head,) = [u for u in sent_updates(out) if u.status.task_id == ID("gone")]
    assert gone_head.latest_state == "TASK_FAILED"  # ... telling the master how it ended
    # The acknowledged terminal updates let the checkpoint forget those tasks.
    while unacked := sent_updates(out):
        out = [e for u in unacked for e in a.ack(u)]
    forgotten = sorted(e.task_id for e in of_type(a.log, fx.ForgetTask))
    assert forgotten == ["ended", "gone", "unacked"]


def test_a_recovered_task_still_starting_is_reported_running() -> None:
    a, _ = restarted()
    a.state.frameworks[FID].tasks["gone"].state = "TASK_STARTING"
    out = a.feed(ev.ContainerRecovered("c-gone", 3))
    assert journaled(out) == [("gone", "TASK_RUNNING")]


def test_a_task_group_whose_tasks_all_ended_while_down_is_dropped_after_recovery() -> None:
    checkpoint = Recovered(
        agent_id="agent-7",
        tasks=[
            TaskRecord(
                framework=framework(),
                task=command_task("g1"),
                sandbox=str(WORK / "sandboxes" / "c-g" / "tasks" / "g1"),
                container_id="c-g1",
                executor_id="default",
            )
        ],
        executors=[
            ExecutorRecord(
                framework=framework(),
                executor=executor_info("default", cmd=None),
                sandbox=str(WORK / "sandboxes" / "c-g"),
                container_id="c-g",
                kind="group",
            )
        ],
    )
    a = Agent(make_state())
    recover(a.state, checkpoint, {}, {})
    assert "c-g" not in a.state.containers  # a group has no container of its own
    out = a.feed(ev.ContainerExited("c-g1", 0, True, "ok"))
    assert journaled(out) == [("g1", "TASK_FINISHED")]
    assert of_type(out, fx.ForgetExecutor) == [fx.ForgetExecutor(FID, "default")]
    assert a.feed(ev.RecoveryFinished()) == []
