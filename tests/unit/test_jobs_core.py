"""The jobs core with a fake clock: schedules, epsilon, retries, concurrency, timeouts, DAGs."""

from __future__ import annotations

from typing import Any

import pytest

from corral.frameworks.jobs import runs as R
from corral.frameworks.jobs.core import JobsCore
from corral.frameworks.jobs.effects import PutRun, Revive, TrimRuns
from corral.frameworks.jobs.model import JobError, decode_job

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole minute


def job(**kw: Any) -> Any:
    base: dict[str, Any] = {"name": "a", "command": "true", "owner": "", "disabled": False}
    base.update(kw)
    return decode_job(base)


class Harness:
    def __init__(self) -> None:
        self.core = JobsCore()
        self.now = T0
        self.effects: list[Any] = []
        self.tasks: dict[str, str] = {}  # group -> task id
        self.n = 0

    def feed(self, effects: list[Any]) -> list[Any]:
        self.effects += effects
        return effects

    def add(self, **kw: Any) -> None:
        self.feed(self.core.add_job(job(**kw), self.now))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            wake = self.core.next_wake()
            if wake is None or wake > end:
                break
            self.now = max(self.now, wake)
            self.feed(self.core.tick(self.now))
        self.now = end
        self.feed(self.core.tick(self.now))

    def launch_wanted(self) -> list[str]:
        out = []
        for r in self.core.wanted(self.now):
            if r.group in self.tasks:
                continue
            self.n += 1
            tid = f"{r.group}.t{self.n}"
            self.tasks[r.group] = tid
            self.feed(self.core.launched(r.group, tid, "agent1", "host1", self.now))
            self.feed(self.core.task_update(r.group, tid, "TASK_RUNNING", "", "agent1", self.now))
            out.append(r.group)
        return out

    def end(self, group: str, state: str = "TASK_FINISHED", message: str = "") -> None:
        tid = self.tasks.pop(group)
        self.feed(self.core.task_update(group, tid, state, message, "agent1", self.now))

    def kill_unwanted(self) -> None:
        """What the toolkit does with a task whose group is no longer wanted."""
        wanted = {r.group for r in self.core.wanted(self.now)}
        for g in [g for g in self.tasks if g not in wanted]:
            self.end(g, "TASK_KILLED")

    def runs(self, name: str = "a") -> dict[str, R.Run]:
        out: dict[str, R.Run] = {}
        for e in self.effects:
            if isinstance(e, PutRun) and e.job == name:
                out[e.run_id] = R.decode_run(e.data)
        return out

    def states(self, name: str = "a") -> list[str]:
        return [r.state for _, r in sorted(self.runs(name).items(), key=lambda x: R.sort_key(x[0]))]


def test_a_pt2s_schedule_runs_each_instant_once() -> None:
    h = Harness()
    h.add(schedule=f"R/{'2027-01-15T08:00:00Z'}/PT2S")
    for _ in range(5):
        for g in h.launch_wanted():
            h.end(g)
        h.advance(2)
    runs = h.runs()
    assert [r.scheduled - T0 for r in sorted(runs.values(), key=lambda r: r.scheduled)] == [
        0,
        2,
        4,
        6,
        8,
        10,
    ]
    assert h.states()[:5] == [R.SUCCEEDED] * 5
    assert h.core.entry("a").state.success_count == 5


def test_finite_repeats_stop() -> None:
    h = Harness()
    h.add(schedule="R3/2027-01-15T08:00:00Z/PT1S")
    for _ in range(6):
        for g in h.launch_wanted():
            h.end(g)
        h.advance(1)
    assert len(h.runs()) == 3
    assert h.core.entry("a").next_due is None


def test_epsilon_miss_is_recorded_with_the_reason() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT1M", epsilon="PT10S")
    h.core.set_unplaced(h.core.wanted(h.now)[0].group, "needs cpus 8, largest free is 2")
    h.advance(11)
    (run,) = h.runs().values()
    assert run.state == R.MISSED
    assert "epsilon (PT10S)" in run.reason and "needs cpus 8" in run.reason
    assert not h.core.wanted(h.now)
    assert h.core.entry("a").state.error_count == 0


def test_retries_with_backoff_then_failure() -> None:
    h = Harness()
    h.add(schedule="R1/2027-01-15T08:00:00Z/PT1H", retries=2, retryBackoffSeconds=5)
    (g1,) = h.launch_wanted()
    h.end(g1, "TASK_FAILED", "Command exited with status 3")
    run = h.runs()["s" + str(int(T0 * 1000))]
    assert run.state == R.RETRYING and run.not_before == T0 + 5
    assert h.launch_wanted() == []  # waits for the backoff
    h.advance(5)
    (g2,) = h.launch_wanted()
    assert g2.endswith(":2:a")
    h.end(g2, "TASK_FAILED", "Command exited with status 3")
    h.advance(9.9)
    assert h.launch_wanted() == []  # 10 s the second time
    h.advance(0.1)
    (g3,) = h.launch_wanted()
    h.end(g3, "TASK_FAILED", "Command exited with status 4")
    run = h.runs()["s" + str(int(T0 * 1000))]
    assert run.state == R.FAILED and len(run.attempts) == 3
    assert run.attempts[-1].exit_status == 4
    assert "after 3 attempt(s)" in run.reason
    assert h.core.entry("a").state.error_count == 1


@pytest.mark.parametrize(
    ("policy", "expect"),
    [("forbid", [R.RUNNING, R.SKIPPED]), ("allow", [R.RUNNING, R.RUNNING])],
)
def test_concurrency_forbid_and_allow(policy: str, expect: list[str]) -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT1M", concurrencyPolicy=policy)
    h.launch_wanted()
    h.advance(60)
    h.launch_wanted()
    assert h.states() == expect


def test_concurrency_replace_kills_the_old_run() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT1M", concurrencyPolicy="replace")
    h.launch_wanted()
    h.advance(60)
    h.kill_unwanted()
    h.launch_wanted()
    assert h.states() == [R.REPLACED, R.RUNNING]


def test_chronos_concurrent_true_means_allow() -> None:
    assert job(concurrent=True).policy == "allow"
    assert job().policy == "forbid"


def test_timeout_kills_and_counts_as_a_failed_attempt() -> None:
    h = Harness()
    h.add(schedule="R1/2027-01-15T08:00:00Z/PT1H", maxCompletionTime=30, retries=0)
    h.launch_wanted()
    h.advance(30)
    assert h.core.wanted(h.now) == []
    h.kill_unwanted()
    (run,) = h.runs().values()
    assert run.state == R.FAILED and "timed out after 30 s" in run.reason


def test_chain_runs_in_order_and_stops_at_a_failed_parent() -> None:
    h = Harness()
    h.add(name="a", schedule="R/2027-01-15T08:00:00Z/PT1H")
    h.add(name="b", parents=["a"], retries=1, retryBackoffSeconds=0)
    h.add(name="c", parents=["b"])
    (ga,) = h.launch_wanted()
    assert ga.endswith(":a")
    h.end(ga)
    (gb,) = h.launch_wanted()
    assert gb.endswith(":b")
    h.end(gb)
    (gc,) = h.launch_wanted()
    h.end(gc)
    assert [h.states(n) for n in "abc"] == [[R.SUCCEEDED]] * 3
    cycle = h.runs("a")[next(iter(h.runs("a")))].cycle
    assert h.runs("c")[cycle].kind == R.DEPENDENCY
    # The next cycle: b fails after its retry, c does not run and says why.
    h.advance(3600)
    (ga,) = h.launch_wanted()
    h.end(ga)
    (gb,) = h.launch_wanted()
    h.end(gb, "TASK_FAILED", "Command exited with status 1")
    (gb2,) = h.launch_wanted()
    h.end(gb2, "TASK_FAILED", "Command exited with status 1")
    assert h.launch_wanted() == []
    assert h.states("c") == [R.SUCCEEDED, R.SKIPPED]
    skipped = h.runs("c")[max(h.runs("c"), key=R.sort_key)]
    assert "parent b's run" in skipped.reason and "failed" in skipped.reason
    assert "parent b" in (h.core.blocked("c") or "")


def test_a_child_of_two_parents_waits_for_both_in_the_same_cycle() -> None:
    h = Harness()
    h.add(name="a", schedule="R/2027-01-15T08:00:00Z/PT1H")
    h.add(name="b", schedule="R/2027-01-15T08:00:00Z/PT1H")
    h.add(name="c", parents=["a", "b"])
    ga, gb = sorted(h.launch_wanted())
    h.end(ga)
    assert h.launch_wanted() == []
    h.end(gb)
    (gc,) = h.launch_wanted()
    assert gc.endswith(":c")


def test_bad_input_is_refused_naming_the_problem() -> None:
    h = Harness()
    h.add(name="a", schedule="R/2027-01-15T08:00:00Z/PT1H")
    with pytest.raises(JobError, match="schedule"):
        h.add(name="x", schedule="R/not-a-date/PT1H")
    with pytest.raises(JobError, match="no job named 'nope'"):
        h.add(name="x", parents=["nope"])
    h.add(name="b", parents=["a"])
    with pytest.raises(JobError, match="cycle"):
        h.add(name="a", parents=["b"])
    assert set(h.core.jobs) == {"a", "b"}
    assert h.core.graph.parents["a"] == ()


def test_failover_catch_up_runs_late_within_epsilon_and_records_older_misses() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT10S", epsilon="PT15S")
    (g,) = h.launch_wanted()
    h.end(g)
    saved_jobs = [e.job for e in h.core.jobs.values()]
    saved_states = {n: R.decode_state(R.encode_state(e.state)) for n, e in h.core.jobs.items()}
    saved_runs = list(h.runs().values())
    # The leader dies; a new one loads the store 40 s later.
    new = JobsCore()
    effects = new.load(saved_jobs, saved_states, saved_runs, {}, T0 + 40)
    written = [R.decode_run(e.data) for e in effects if isinstance(e, PutRun)]
    by_instant = {r.scheduled - T0: r.state for r in written}
    assert by_instant == {10: R.MISSED, 20: R.MISSED, 30: R.PENDING, 40: R.SKIPPED}
    assert any(isinstance(e, Revive) for e in effects)


def test_failover_never_runs_a_taken_instant_again() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT10S")
    (g,) = h.launch_wanted()
    jobs = [e.job for e in h.core.jobs.values()]
    states = {n: R.decode_state(R.encode_state(e.state)) for n, e in h.core.jobs.items()}
    new = JobsCore()
    live = {g: (h.tasks[g], "agent1", "host1")}
    effects = new.load(jobs, states, list(h.runs().values()), live, T0 + 5)
    assert not [e for e in effects if isinstance(e, PutRun) and e.launchable]
    assert [r.group for r in new.wanted(T0 + 5)] == [g]  # the same task, kept


def test_history_is_trimmed_now_and_then() -> None:
    h = Harness()
    h.core.history = 3
    h.add(schedule="R/2027-01-15T08:00:00Z/PT1S")
    for _ in range(12):
        for g in h.launch_wanted():
            h.end(g)
        h.advance(1)
    trims = [e for e in h.effects if isinstance(e, TrimRuns)]
    assert trims and trims[0].keep == 3


def test_a_run_is_written_ahead_of_its_instant_and_wanted_only_at_it() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:01:00Z/PT1M")
    h.advance(57.5)  # 2.5 s before: nothing yet
    assert not h.runs()
    h.advance(0.5)  # 2 s before: written, not wanted
    (run,) = h.runs().values()
    assert run.state == R.PENDING and run.not_before == T0 + 60
    assert h.core.wanted(h.now) == []
    h.advance(2)
    assert [r.id for r in h.core.wanted(h.now)] == [run.id]
    assert isinstance(h.effects[-1], Revive) or any(isinstance(e, Revive) for e in h.effects[-3:])


def test_forbid_is_decided_at_the_instant_not_when_prestaging() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT1M")
    (g,) = h.launch_wanted()
    h.advance(59)  # the first run is still going when the next would be prestaged
    h.end(g)  # ... and ends before the instant
    h.advance(1)
    assert h.states() == [R.SUCCEEDED, R.PENDING]


def test_an_instant_waiting_for_its_decision_is_owed_after_a_failover() -> None:
    h = Harness()
    h.add(schedule="R/2027-01-15T08:00:00Z/PT10S", epsilon="PT30S")
    h.launch_wanted()
    h.advance(8.5)  # instant 10 is prestaged while run 0 is active: undecided
    assert h.core.entry("a").state.last_instant is not None
    assert h.core.entry("a").state.last_instant < T0 + 10
    jobs = [e.job for e in h.core.jobs.values()]
    states = {n: R.decode_state(R.encode_state(e.state)) for n, e in h.core.jobs.items()}
    new = JobsCore()
    effects = new.load(jobs, states, list(h.runs().values()), {}, T0 + 12)
    written = {R.decode_run(e.data).scheduled - T0 for e in effects if isinstance(e, PutRun)}
    assert 10 in written
