"""The task tracker's reconciliation rules: explicit, then implicit, then act (pure)."""

from __future__ import annotations

import pytest

from corral.scheduler_client.tracker import (
    KILLED,
    MARKER_PREFIX,
    NotReconciled,
    Phase,
    TrackedTask,
    Tracker,
    Unknown,
    decode_task,
    encode_task,
    group_of,
    new_task_id,
)
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.tasks import TaskStatus


def status(task_id: str, state: str, agent: str | None = "a1", **kw: object) -> TaskStatus:
    return TaskStatus(
        task_id=ID(task_id),
        state=state,
        agent_id=ID(agent) if agent else None,
        **kw,  # type: ignore[arg-type]
    )


def reconciled(call: s.Call) -> list[tuple[str, str | None]]:
    assert call.type == "RECONCILE" and call.reconcile is not None
    return [
        (t.task_id.value, t.agent_id.value if t.agent_id else None) for t in call.reconcile.tasks
    ]


def marker_of(tracker: Tracker) -> str:
    assert tracker.marker is not None
    return tracker.marker


def known(*ids: str) -> Tracker:
    t = Tracker()
    t.load(
        TrackedTask(task_id=i, group=group_of(i), agent_id="a1", state="TASK_RUNNING") for i in ids
    )
    return t


def test_nothing_known_goes_straight_to_implicit_then_marker() -> None:
    t = Tracker()
    ch = t.subscribed(now=0)
    assert t.phase is Phase.IMPLICIT and not t.ready
    assert [reconciled(c) for c in ch.calls] == [[], [(marker_of(t), None)]]
    t.update(status(marker_of(t), "TASK_LOST", agent=None), now=0.1)
    assert t.ready


def test_explicit_for_known_tasks_with_their_agents_first() -> None:
    t = known("web.1", "web.2")
    ch = t.subscribed(now=0)
    assert t.phase is Phase.EXPLICIT
    assert sorted(reconciled(ch.calls[0])) == [("web.1", "a1"), ("web.2", "a1")]
    assert len(ch.calls) == 1
    t.update(status("web.1", "TASK_RUNNING", reason="REASON_RECONCILIATION"), now=0.1)
    assert t.phase is Phase.EXPLICIT  # web.2 still unanswered
    ch = t.update(status("web.2", "TASK_RUNNING", reason="REASON_RECONCILIATION"), now=0.2)
    assert t.phase is Phase.IMPLICIT
    assert [reconciled(c) for c in ch.calls] == [[], [(marker_of(t), None)]]


def test_no_launch_or_kill_before_reconciled() -> None:
    t = known("web.1")
    with pytest.raises(NotReconciled):
        t.launching(TrackedTask(task_id="web.2", group="web"))
    t.subscribed(now=0)
    with pytest.raises(NotReconciled, match="explicit"):
        t.kill("web.1")
    t.update(status("web.1", "TASK_RUNNING"), now=0)
    with pytest.raises(NotReconciled, match="implicit"):
        t.kill("web.1")
    t.update(status(marker_of(t), "TASK_LOST", agent=None), now=0)
    assert (
        t.kill("web.1", grace_period=2).calls[0].kill.kill_policy.grace_period.nanoseconds
        == 2 * 10**9
    )  # type: ignore[union-attr]


def test_a_task_the_master_never_saw_is_lost_and_forgotten() -> None:
    # The leader persisted it, then died before its ACCEPT reached the master.
    t = known("web.1")
    t.subscribed(now=0)
    ch = t.update(status("web.1", "TASK_LOST", reason="REASON_RECONCILIATION"), now=1)
    assert ch.forget == ["web.1"] and [e.task_id for e in ch.ended] == ["web.1"]
    assert t.live() == []


def test_answers_update_the_record() -> None:
    t = known("web.1")
    t.subscribed(now=0)
    ch = t.update(status("web.1", "TASK_RUNNING", agent="a9", healthy=False), now=5)
    rec = t.tasks["web.1"]
    assert (rec.agent_id, rec.healthy, rec.updated_at) == ("a9", False, 5)
    assert ch.persist == [rec]


def test_unknown_task_killed_by_default() -> None:
    t = Tracker()
    t.subscribed(now=0)
    ch = t.update(status("stray.1", "TASK_RUNNING", agent="a2"), now=0)
    assert [(c.type, c.kill.task_id.value, c.kill.agent_id.value) for c in ch.calls] == [  # type: ignore[union-attr]
        ("KILL", "stray.1", "a2")
    ]
    assert "stray.1" not in t.tasks
    # Reported again before it died: not killed twice.
    assert t.update(status("stray.1", "TASK_RUNNING", agent="a2"), now=0).calls == []


def test_unknown_task_adopted() -> None:
    t = Tracker(Unknown.ADOPT)
    t.subscribed(now=0)
    ch = t.update(status("web.7", "TASK_RUNNING"), now=3)
    assert ch.calls == []
    assert t.tasks["web.7"].adopted and t.tasks["web.7"].group == "web"
    assert ch.persist == [t.tasks["web.7"]]


def test_unknown_task_rule_is_the_frameworks_choice() -> None:
    t = Tracker(lambda st: Unknown.ADOPT if st.task_id.value.startswith("web.") else Unknown.KILL)
    t.subscribed(now=0)
    assert t.update(status("web.1", "TASK_RUNNING"), now=0).calls == []
    assert t.update(status("db.1", "TASK_RUNNING"), now=0).calls[0].type == "KILL"


def test_unknown_terminal_task_needs_nothing() -> None:
    t = Tracker()
    t.subscribed(now=0)
    ch = t.update(status("old.1", "TASK_FINISHED"), now=0)
    assert ch.calls == [] and ch.persist == [] and "old.1" not in t.tasks


def test_explicit_retried_with_backoff_then_goes_on() -> None:
    t = Tracker(explicit_timeout=1.0)
    t.load([TrackedTask(task_id="web.1", agent_id="a1", state="TASK_RUNNING")])
    t.subscribed(now=0)
    assert t.tick(now=0.5).calls == []
    retry = t.tick(now=1.0).calls
    assert [reconciled(c) for c in retry] == [[("web.1", "a1")]]
    assert t.tick(now=2.9).calls == []  # backoff: 2 s now
    assert len(t.tick(now=3.0).calls) == 1
    # Third time: go on to implicit; the task keeps its last known state (still live).
    ch = t.tick(now=100)
    assert t.phase is Phase.IMPLICIT and reconciled(ch.calls[0]) == []
    assert [x.task_id for x in t.live()] == ["web.1"]


def test_marker_retried_then_ready() -> None:
    t = Tracker(implicit_timeout=1.0)
    t.subscribed(now=0)
    first = marker_of(t)
    ch = t.tick(now=1.0)
    assert marker_of(t) != first and len(ch.calls) == 2
    # An old marker's answer does not open the gate.
    t.update(status(first, "TASK_LOST", agent=None), now=1.1)
    assert not t.ready
    t.tick(now=100)
    t.tick(now=1000)
    assert t.ready


def test_resubscription_reconciles_again() -> None:
    t = known("web.1")
    t.subscribed(now=0)
    t.update(status("web.1", "TASK_RUNNING"), now=0)
    t.update(status(marker_of(t), "TASK_LOST", agent=None), now=0)
    assert t.ready
    t.disconnected()
    assert not t.ready
    ch = t.subscribed(now=10)
    assert reconciled(ch.calls[0]) == [("web.1", "a1")]


def test_kill_asked_before_a_failover_is_asked_again_once_reconciled() -> None:
    t = known("web.1")
    t.tasks["web.1"].desired = KILLED
    t.subscribed(now=0)
    t.update(status("web.1", "TASK_RUNNING"), now=0)
    ch = t.update(status(marker_of(t), "TASK_LOST", agent=None), now=0)
    assert [c.type for c in ch.calls] == ["KILL"]
    assert t.live() == []  # not counted: a replacement may be launched


def test_markers_are_never_adopted_or_killed() -> None:
    t = Tracker(Unknown.ADOPT)
    t.subscribed(now=0)
    ch = t.update(status(MARKER_PREFIX + "stale", "TASK_LOST", agent=None), now=0)
    assert ch.calls == [] and not t.tasks


def test_record_round_trip_and_ids() -> None:
    rec = TrackedTask(task_id=new_task_id("web"), group="web", ports=[31000], attributes={"r": "a"})
    assert decode_task(encode_task(rec)) == rec
    assert group_of(rec.task_id) == "web"
    assert group_of("plain") == ""


def test_periodic_explicit_reconciliation_once_ready() -> None:
    t = Tracker(periodic=30)
    t.subscribed(now=0)
    t.update(status(marker_of(t), "TASK_LOST", agent=None), now=1)
    assert t.tick(now=20).calls == []  # nothing known yet, and not due
    t.launching(TrackedTask(task_id="web.1", group="web", agent_id="a1"))
    assert t.tick(now=30).calls == []
    (call,) = t.tick(now=31).calls
    assert reconciled(call) == [("web.1", "a1")]
    assert t.tick(now=32).calls == []  # next one in 30 s


def test_a_failed_accept_asks_the_master() -> None:
    t = Tracker()
    t.subscribed(now=0)
    t.update(status(marker_of(t), "TASK_LOST", agent=None), now=0)
    t.launching(TrackedTask(task_id="web.1", group="web", agent_id="a1"))
    (call,) = t.launch_failed(["web.1", "nope"]).calls
    assert reconciled(call) == [("web.1", "a1")]
