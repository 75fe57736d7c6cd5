"""Reliable status updates: one in flight per task, resends, acknowledgements, the journal."""

from __future__ import annotations

import uuid
from pathlib import Path

from corral.agent.checkpoint import Checkpoint, TaskRecord
from corral.agent.status_updates import StatusUpdateManager
from corral.wire.agent import StatusUpdate
from corral.wire.base import ID
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, TaskInfo, TaskStatus


def update(task: str, state: str, fw: str = "fw") -> StatusUpdate:
    status = TaskStatus(task_id=ID(task), state=state, uuid=uuid.uuid4().bytes)
    return StatusUpdate(framework_id=ID(fw), status=status)


def manager(tmp_path: Path, sent: list[StatusUpdate]) -> StatusUpdateManager:
    m = StatusUpdateManager(tmp_path / "updates.log", sent.append, retry_min=10.0)
    m.on_connected(0.0)
    return m


def test_one_update_in_flight_per_task_in_order(tmp_path: Path) -> None:
    sent: list[StatusUpdate] = []
    m = manager(tmp_path, sent)
    a1, a2, b1 = (
        update("a", "TASK_STARTING"),
        update("a", "TASK_RUNNING"),
        update("b", "TASK_RUNNING"),
    )
    for u in (a1, a2, b1):
        m.push(u, 0.0)
    assert sent == [a1, b1]  # a2 waits for a1's acknowledgement
    assert m.acknowledge(ID("fw"), ID("a"), b"wrong uuid......", 1.0) is None
    assert m.acknowledge(ID("fw"), ID("a"), a1.status.uuid or b"", 1.0) is a1
    assert sent == [a1, b1, a2]
    m.acknowledge(ID("fw"), ID("a"), a2.status.uuid or b"", 2.0)
    assert not m.has_pending("fw", "a") and m.has_pending("fw", "b")


def test_resends_back_off_and_wait_for_a_connection(tmp_path: Path) -> None:
    sent: list[StatusUpdate] = []
    m = manager(tmp_path, sent)
    u = update("a", "TASK_RUNNING")
    m.push(u, 0.0)
    m.retry(5.0)
    assert sent == [u]  # not yet due
    m.retry(10.0)
    assert sent == [u, u]  # resent after 10 s
    m.retry(25.0)
    assert len(sent) == 2  # the next one is due 20 s after the last
    m.retry(30.0)
    assert len(sent) == 3
    m.on_disconnected()
    m.retry(1000.0)
    assert len(sent) == 3  # no master, no resend
    m.on_connected(1000.0)
    assert len(sent) == 4  # but at once when one is back
    m.resend("other-framework", 1000.0)
    assert len(sent) == 4
    m.resend("fw", 1000.0)
    assert len(sent) == 5


def test_journal_recovers_unacknowledged_updates_and_latest_states(tmp_path: Path) -> None:
    sent: list[StatusUpdate] = []
    m = manager(tmp_path, sent)
    a1, a2, b1 = (
        update("a", "TASK_RUNNING"),
        update("a", "TASK_FINISHED"),
        update("b", "TASK_RUNNING"),
    )
    for u in (a1, a2, b1):
        m.push(u, 0.0)
    m.acknowledge(ID("fw"), ID("a"), a1.status.uuid or b"", 0.0)
    m.close()
    with open(tmp_path / "updates.log", "ab") as f:
        f.write(b'{"k":"upd","upd')  # a torn last line from a crash
    again: list[StatusUpdate] = []
    r = StatusUpdateManager(tmp_path / "updates.log", again.append)
    latest = r.recover()
    assert latest == {("fw", "a"): "TASK_FINISHED", ("fw", "b"): "TASK_RUNNING"}
    r.on_connected(0.0)
    assert [u.status.uuid for u in again] == [a2.status.uuid, b1.status.uuid]
    r.close()


def test_checkpoint_keeps_what_is_live(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "meta")
    fw = FrameworkInfo(user="u", name="n", id=ID("fw"))
    for tid in ("t1", "t2"):
        info = TaskInfo(name=tid, task_id=ID(tid), agent_id=ID("a"), command=CommandInfo(value="x"))
        cp.task(TaskRecord(framework=fw, task=info, sandbox=f"/s/{tid}", container_id=f"c-{tid}"))
    cp.forget_task("fw", "t1")
    cp.save_agent_id("agent-7")
    cp.close()
    rec = Checkpoint(tmp_path / "meta").recover()
    assert rec.agent_id == "agent-7"
    assert [t.task.task_id.value for t in rec.tasks] == ["t2"]
    assert rec.tasks[0].container_id == "c-t2"
