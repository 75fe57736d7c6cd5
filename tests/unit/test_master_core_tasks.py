"""The master core: status update -> forward -> acknowledge, kill, reconciliation."""

from __future__ import annotations

import uuid

import pytest
from master_builders import Harness, framework_info, launch, status, subscribe, task

from corral.master.core import events as ev
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID


def running(h: Harness, *task_ids: str, **info: object) -> tuple[str, str]:
    fid = h.framework("st1", **info)
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(*(task(t, aid) for t in task_ids)))
    return fid, aid


def test_update_is_forwarded_then_acknowledged() -> None:
    h = Harness()
    fid, aid = running(h, "t1")
    uid = uuid.uuid4().bytes
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))
    (fwd,) = h.updates("st1")
    assert fwd.state == "TASK_RUNNING" and fwd.agent_id == ID(aid)
    t = h.state.frameworks[fid].tasks["t1"]
    assert t.state == "TASK_RUNNING" and t.status_update_uuid == uid
    assert h.state.metrics["master/valid_status_updates"] == 1
    h.call(
        fid,
        "st1",
        "ACKNOWLEDGE",
        acknowledge=s.Acknowledge(agent_id=ID(aid), task_id=ID("t1"), uuid=uid),
    )
    (ack,) = h.to_agent(1, amsg.AcknowledgeUpdate)
    assert ack.uuid == uid and ack.task_id == ID("t1")
    # a resend crossing the ack: acknowledged again for the framework, not forwarded
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))
    assert h.updates("st1") == []
    assert h.to_agent(1, amsg.AcknowledgeUpdate)


def test_acknowledge_with_a_bad_uuid_is_refused() -> None:
    h = Harness()
    fid, aid = running(h, "t1")
    with pytest.raises(CallError) as e:
        h.call(
            fid,
            "st1",
            "ACKNOWLEDGE",
            acknowledge=s.Acknowledge(agent_id=ID(aid), task_id=ID("t1"), uuid=b"x"),
        )
    assert "'acknowledge.uuid'" in e.value.message
    assert h.state.frameworks[fid].acknowledged == {}


def test_resent_update_in_flight_is_forwarded_again_without_recording() -> None:
    h = Harness()
    fid, _ = running(h, "t1")
    uid = uuid.uuid4().bytes
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))
    n = len(h.state.frameworks[fid].tasks["t1"].statuses)
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))
    assert len(h.updates("st1")) == 1
    assert len(h.state.frameworks[fid].tasks["t1"].statuses) == n


def test_terminal_update_frees_resources() -> None:
    h = Harness()
    fid, aid = running(h, "t1")
    h.update(1, fid, status("t1", "TASK_FINISHED"))
    assert "t1" not in h.state.frameworks[fid].tasks
    assert h.state.frameworks[fid].completed_tasks[-1].state == "TASK_FINISHED"
    agent = h.state.agents[aid]
    assert agent.used.is_empty() and agent.available == agent.total
    assert h.state.terminal_counts == {"TASK_FINISHED": 1}


def test_latest_state_terminal_frees_resources_early() -> None:
    h = Harness()
    fid, aid = running(h, "t1")
    h.update(1, fid, status("t1", "TASK_RUNNING"), latest="TASK_FAILED")
    (fwd,) = h.updates("st1")
    assert fwd.state == "TASK_RUNNING"
    assert "t1" not in h.state.frameworks[fid].tasks
    assert h.state.agents[aid].used.is_empty()


def test_update_for_a_removed_framework_is_acknowledged_and_killed() -> None:
    h = Harness()
    fid, _ = running(h, "t1")
    h.call(fid, "st1", "TEARDOWN")
    assert h.to_agent(1, amsg.ShutdownFramework)
    h.update(1, fid, status("t1", "TASK_RUNNING"))
    assert h.to_agent(1, amsg.AcknowledgeUpdate) and h.to_agent(1, amsg.KillTask)
    assert h.state.metrics["master/invalid_status_updates"] == 1


def test_kill_sends_kill_task_and_unknown_kill_reconciles() -> None:
    h = Harness()
    fid, aid = running(h, "t1")
    h.call(fid, "st1", "KILL", kill=s.Kill(task_id=ID("t1")))
    (k,) = h.to_agent(1, amsg.KillTask)
    assert k.task_id == ID("t1")
    h.call(fid, "st1", "KILL", kill=s.Kill(task_id=ID("nope"), agent_id=ID(aid)))
    (u,) = h.updates("st1")
    assert u.state == "TASK_LOST" and u.reason == "REASON_RECONCILIATION"


def test_implicit_reconciliation_answers_every_known_task() -> None:
    h = Harness()
    fid, _ = running(h, "t1", "t2")
    h.call(fid, "st1", "RECONCILE", reconcile=s.Reconcile())
    assert sorted((u.task_id.value, u.state) for u in h.updates("st1")) == [
        ("t1", "TASK_STAGING"),
        ("t2", "TASK_STAGING"),
    ]


def test_explicit_reconciliation() -> None:
    h = Harness()
    fid, aid = running(h, "t1", partition_aware=True)
    h.update(1, fid, status("t2" if False else "t1", "TASK_RUNNING"))
    h.call(
        fid,
        "st1",
        "RECONCILE",
        reconcile=s.Reconcile(
            tasks=[
                s.ReconcileTask(task_id=ID("t1")),
                s.ReconcileTask(task_id=ID("gone"), agent_id=ID(aid)),
                s.ReconcileTask(task_id=ID("unknown"), agent_id=ID("no-such-agent")),
            ]
        ),
    )
    assert [(u.task_id.value, u.state) for u in h.updates("st1")] == [
        ("t1", "TASK_RUNNING"),
        ("gone", "TASK_GONE"),
        ("unknown", "TASK_UNKNOWN"),
    ]


def test_reconciliation_waits_for_recovered_agents() -> None:
    from corral.coordination.interfaces import RegistrySnapshot

    h = Harness()
    h.feed(ev.RegistryRecovered(RegistrySnapshot(agents={"A1": {"hostname": "h"}})))
    h.feed(subscribe("st1", framework_info()))
    fid = h.state.streams["st1"]
    h.call(
        fid,
        "st1",
        "RECONCILE",
        reconcile=s.Reconcile(tasks=[s.ReconcileTask(task_id=ID("x"), agent_id=ID("A1"))]),
    )
    assert h.updates("st1") == []
