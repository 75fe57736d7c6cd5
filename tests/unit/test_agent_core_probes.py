"""The agent core and health checks: which tasks are probed, the verdicts as updates, the
kill of an unhealthy task, and the last result on every later update."""

from __future__ import annotations

import msgspec
from agent_core_world import FID, WORK, Agent, command_task, framework, make_state, of_type

from corral.agent.checkpoint import Recovered, TaskRecord
from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.agent.core.recovery import recover
from corral.agent.status_updates import UpdateRecord, replay
from corral.wire.agent import StatusUpdate
from corral.wire.base import ID
from corral.wire.tasks import (
    CheckInfo,
    CheckStatusInfo,
    CommandCheckStatus,
    HealthCheck,
    TaskStatus,
)

HEALTH = msgspec.convert({"type": "TCP", "tcp": {"port": 31000}}, HealthCheck)
CHECK = msgspec.convert({"type": "COMMAND", "command": {"command": {"value": "x"}}}, CheckInfo)


def updates(effects: list[fx.Effect]) -> list[StatusUpdate]:
    return [
        e.record.update
        for e in of_type(effects, fx.WriteUpdateJournal)
        if isinstance(e.record, UpdateRecord)
    ]


def test_running_starts_the_probes_and_the_end_stops_them() -> None:
    a = Agent()
    a.run(command_task("plain"))
    a.run(command_task("probed", health_check=HEALTH))
    a.start("plain")
    cid = a.container_of("probed")
    out = a.feed(ev.ContainerStarted(cid, 4242))
    assert of_type(out, fx.StartProbes) == [fx.StartProbes(FID, "probed")]
    out = a.feed(ev.ContainerExited(cid, 0, True, "Command exited with status 0"))
    assert of_type(out, fx.StopProbes) == [fx.StopProbes(FID, "probed")]


def test_verdicts_become_updates_and_too_many_failures_a_kill() -> None:
    a = Agent()
    a.run(command_task("t", health_check=HEALTH), framework("TASK_KILLING_STATE"))
    cid = a.start("t")
    out = a.feed(ev.HealthResult(FID, "t", True, "health check passed"))
    (up,) = updates(out)
    assert (up.status.state, up.status.healthy) == ("TASK_RUNNING", True)
    assert up.status.reason == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    out = a.feed(ev.HealthResult(FID, "t", False, "failed 3 times", kill="Task killed: 3 failures"))
    assert [(u.status.state, u.status.healthy) for u in updates(out)] == [
        ("TASK_RUNNING", False),
        ("TASK_KILLING", False),  # every later update carries the last verdict
    ]
    assert of_type(out, fx.KillContainer)[0].container_id == cid
    out = a.feed(ev.ContainerExited(cid, 15, False, "Command terminated with signal SIGTERM"))
    (end,) = updates(out)
    assert (end.status.state, end.status.healthy) == ("TASK_KILLED", False)
    assert end.status.message == "Task killed: 3 failures"
    assert a.feed(ev.HealthResult(FID, "t", True, "late")) == []  # ended: ignored


def test_check_results_are_carried_by_later_updates() -> None:
    a = Agent()
    a.run(command_task("t", check=CHECK))
    cid = a.start("t")
    result = CheckStatusInfo(type="COMMAND", command=CommandCheckStatus(exit_code=3))
    (up,) = updates(a.feed(ev.CheckResult(FID, "t", result)))
    assert up.status.check_status == result and up.status.healthy is None
    assert up.status.reason == "REASON_TASK_CHECK_STATUS_UPDATED"
    (end,) = updates(a.feed(ev.ContainerExited(cid, 0, True, "Command exited with status 0")))
    assert end.status.state == "TASK_FINISHED" and end.status.check_status == result


def test_a_running_task_is_probed_again_after_an_agent_restart() -> None:
    def record(tid: str, cid: str) -> TaskRecord:
        return TaskRecord(
            framework=framework(),
            task=command_task(tid, health_check=HEALTH),
            sandbox=str(WORK / "sandboxes" / cid),
            container_id=cid,
        )

    running = TaskStatus(task_id=ID("probed"), state="TASK_RUNNING", uuid=bytes(16))
    ended = TaskStatus(task_id=ID("ended"), state="TASK_RUNNING", uuid=bytes(15) + b"\x01")
    journal = [
        UpdateRecord(update=StatusUpdate(framework_id=ID(FID), status=s)) for s in (running, ended)
    ]
    pending, latest = replay(journal)
    a = Agent(make_state())
    recover(
        a.state,
        Recovered(
            agent_id="agent-7",
            tasks=[record("probed", "c-1"), record("ended", "c-2")],
            executors=[],
        ),
        pending,
        latest,
    )
    a.feed(ev.ContainerRecovered("c-1", 11))
    a.feed(ev.ContainerExited("c-2", 0, True, "Command exited with status 0"))
    out = a.feed(ev.RecoveryFinished())
    assert of_type(out, fx.StartProbes) == [fx.StartProbes(FID, "probed")]  # not the ended one
    assert a.feed(ev.RecoveryFinished()) == []  # once
