"""Slots: which dask process each corral task is (pure)."""

from __future__ import annotations

from corral.integrations.dask import slots as sl

W = "dask-worker"
S = "dask-scheduler"


def test_launches_bind_to_the_oldest_waiting_slot() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 1.0)
    sl.want(s, "b", W, 2.0)
    assert sl.goal_counts(s, (S, W)) == {S: 0, W: 2}
    slot = sl.bind(s, W, "t1", "h1", (31000, 31001), 3.0)
    assert slot is not None and slot.name == "a" and slot.ports == (31000, 31001)
    assert [p.name for p in sl.pending(s)] == ["b"]
    assert sl.update(s, "t1", "TASK_RUNNING", "", 4.0) == sl.Change("a", "running")
    assert s.slots["a"].state == sl.RUNNING
    assert sl.goal_counts(s, (S, W)) == {S: 0, W: 2}


def test_a_launch_nobody_waits_for_is_surplus_and_still_counted() -> None:
    s = sl.Slots()
    assert sl.bind(s, W, "t1", "h", (1, 2), 0.0) is None
    assert sl.goal_counts(s, (W,)) == {W: 1}  # the planner must not kill some other task
    assert sl.update(s, "t1", "TASK_FINISHED", "", 1.0) is None
    assert sl.goal_counts(s, (W,)) == {W: 0}


def test_released_task_counts_until_its_kill_is_sent() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0)
    sl.want(s, "b", W, 0.0)
    sl.bind(s, W, "t1", "h", (1, 2), 0.0)
    sl.bind(s, W, "t2", "h", (3, 4), 0.0)
    assert sl.release(s, "a") == "t1"
    assert sl.goal_counts(s, (W,)) == {W: 2}  # t2 and the unsent kill of t1
    sl.kill_sent(s, "t1")
    assert sl.goal_counts(s, (W,)) == {W: 1}
    assert "t1" in s.ending
    assert sl.update(s, "t1", "TASK_KILLED", "", 1.0) is None  # its slot is gone
    assert s.ending == set()


def test_releasing_a_waiting_slot_kills_nothing() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0)
    assert sl.release(s, "a") is None
    assert sl.release(s, "never") is None
    assert sl.goal_counts(s, (W,)) == {W: 0}


def test_failed_task_is_launched_again_until_max_failures() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0, max_failures=2)
    sl.bind(s, W, "t1", "h", (1, 2), 0.0)
    change = sl.update(s, "t1", "TASK_FAILED", "exit 1", 1.0)
    assert change == sl.Change("a", "ended", again=True, message="TASK_FAILED: exit 1")
    assert s.slots["a"].state == sl.PENDING and s.slots["a"].last_task == "t1"
    sl.bind(s, W, "t2", "h", (1, 2), 2.0)
    change = sl.update(s, "t2", "TASK_LOST", "", 3.0)
    assert change is not None and not change.again
    assert s.slots["a"].state == sl.FAILED
    assert sl.goal_counts(s, (W,)) == {W: 0}
    sl.want(s, "a", W, 4.0)  # wanted again (dask scaled it up anew): a fresh slot
    assert s.slots["a"].state == sl.PENDING and s.slots["a"].failures == 0


def test_a_clean_exit_is_not_launched_again() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0)
    sl.bind(s, W, "t1", "h", (1, 2), 0.0)
    sl.update(s, "t1", "TASK_RUNNING", "", 0.5)
    change = sl.update(s, "t1", "TASK_FINISHED", "", 1.0)
    assert change == sl.Change("a", "ended", message="TASK_FINISHED")
    assert s.slots["a"].state == sl.FINISHED
    assert sl.goal_counts(s, (W,)) == {W: 0}
    assert sl.release(s, "a") is None  # nothing left to kill


def test_wanting_an_active_slot_again_changes_nothing() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0)
    sl.bind(s, W, "t1", "h", (1, 2), 0.0)
    assert sl.want(s, "a", W, 5.0).task_id == "t1"
    assert sl.goal_counts(s, (W,)) == {W: 1}


def test_updates_of_old_tasks_are_ignored() -> None:
    s = sl.Slots()
    sl.want(s, "a", W, 0.0)
    sl.bind(s, W, "t1", "h", (1, 2), 0.0)
    sl.update(s, "t1", "TASK_FAILED", "", 1.0)
    sl.bind(s, W, "t2", "h", (1, 2), 2.0)
    assert sl.update(s, "t1", "TASK_RUNNING", "", 3.0) is None
    assert s.slots["a"].task_id == "t2"
