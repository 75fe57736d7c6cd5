"""The batch queue's core, without an event loop: arrays, ordering, the %P limit, retries,
preemption, cancel, and the record's round trip."""

from __future__ import annotations

import pytest

from corral.frameworks.batch import queue as Q
from corral.frameworks.batch.arrays import ArraySpec, format_array, parse_array
from corral.frameworks.batch.model import (
    JobRequest,
    decode_job,
    encode_job,
    validate,
)


def test_parse_array_ranges_lists_steps_and_limit() -> None:
    assert parse_array("1-5") == ArraySpec((1, 2, 3, 4, 5), None)
    assert parse_array("1-100%5").limit == 5
    assert len(parse_array("1-100%5").indices) == 100
    assert parse_array("1,3,5-7").indices == (1, 3, 5, 6, 7)
    assert parse_array("0-10:5").indices == (0, 5, 10)
    assert parse_array("3,1,3").indices == (1, 3)
    assert format_array(parse_array("1-3,7,9-10%2")) == "1-3,7,9-10%2"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("5-1", "below the start"),
        ("1-x", "the end 'x' is not a whole number"),
        ("1-10%0", "at least 1"),
        ("1-10%a", "not a whole number"),
        ("1,,2", "empty item"),
        ("-3", "start at 0"),
        ("0-1000000", "more than"),
        ("4:2", "a step needs a range"),
    ],
)
def test_parse_array_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_array(text)


def test_validate_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^array: "):
        validate(JobRequest(command="true", array="9-1"))
    with pytest.raises(ValueError, match=r"^cpus: "):
        validate(JobRequest(command="true", cpus=0))
    with pytest.raises(ValueError, match=r"^tier: 'gold'"):
        validate(JobRequest(command="true", tier="gold"))
    with pytest.raises(ValueError, match=r"^command: "):
        validate(JobRequest(command="  "))


def submit(st: Q.QueueState, now: float, array: str | None = None, **kw: object) -> str:
    req = JobRequest(command="true", array=array, **kw)  # type: ignore[arg-type]
    effects = Q.handle(st, Q.Submit(req, validate(req)), now)
    return next(e.job_id for e in effects if isinstance(e, Q.Submitted))


def groups(pairs: list[tuple[Q.Job, object]]) -> list[str]:
    return [Q.group_of(j.id, e.index) for j, e in pairs]  # type: ignore[attr-defined]


def start(st: Q.QueueState, group: str, task: str, now: float) -> None:
    Q.handle(st, Q.Started(group, task, "agent-1", "host"), now)


def end(st: Q.QueueState, group: str, task: str, state: str, now: float, **kw: object) -> None:
    Q.handle(st, Q.Ended(group, task, state, **kw), now)  # type: ignore[arg-type]


def test_higher_priority_first_then_submission_order() -> None:
    st = Q.QueueState()
    low = submit(st, 1.0, "1-2")
    high = submit(st, 2.0, "1-2", priority=10)
    later_low = submit(st, 3.0)
    assert groups(Q.wanted(st, set())) == [
        Q.group_of(high, 1),
        Q.group_of(high, 2),
        Q.group_of(low, 1),
        Q.group_of(low, 2),
        Q.group_of(later_low, 0),
    ]
    assert [j.id for j in Q.ordered(st.jobs.values())] == [high, low, later_low]


def test_limit_counts_running_and_launched_elements() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, "1-10%3")
    assert groups(Q.wanted(st, set())) == [Q.group_of(jid, i) for i in (1, 2, 3)]
    g1, g2, g3 = (Q.group_of(jid, i) for i in (1, 2, 3))
    start(st, g1, "t1", 1.0)
    # 2 launched (live, no update yet) keeps its place; a live task is always wanted.
    assert groups(Q.wanted(st, {g1, g2})) == [g1, g2, g3]
    end(st, g1, "t1", "TASK_FINISHED", 2.0)
    assert groups(Q.wanted(st, {g2})) == [g2, g3, Q.group_of(jid, 4)]
    # An element thought running but not live (its end unknown yet) still uses a slot.
    start(st, g3, "t3", 3.0)
    assert groups(Q.wanted(st, {g2})) == [g2, Q.group_of(jid, 4)]


def test_the_limit_is_never_exceeded_over_a_whole_run() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, "1-20%4")
    live: set[str] = set()
    done = 0
    now = 0.0
    while done < 20:
        want = groups(Q.wanted(st, live))
        assert len(want) <= 4
        for g in want:
            if g not in live:
                live.add(g)
                start(st, g, g + ".t", now)
        g = sorted(live)[0]
        live.discard(g)
        end(st, g, g + ".t", "TASK_FINISHED", now)
        done += 1
        now += 1
    job = st.jobs[jid]
    assert Q.job_state(job) == "DONE" and job.ended_at is not None
    assert Q.counts(job)["DONE"] == 20
    assert Q.wanted(st, set()) == []


def test_retries_then_failed_and_a_preemption_costs_no_retry() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, retries=1)
    g = Q.group_of(jid, 0)
    start(st, g, "a", 1.0)
    end(st, g, "a", "TASK_KILLED", 2.0, preempted=True)
    assert st.jobs[jid].elements[0].state == "QUEUED"
    start(st, g, "b", 3.0)
    end(st, g, "b", "TASK_FAILED", 4.0, exit_code=3)
    assert st.jobs[jid].elements[0].state == "QUEUED"  # one retry left
    assert groups(Q.wanted(st, set())) == [g]
    start(st, g, "c", 5.0)
    end(st, g, "c", "TASK_FAILED", 6.0, exit_code=4)
    el = st.jobs[jid].elements[0]
    assert el.state == "FAILED" and el.current is not None and el.current.exit_code == 4
    assert [a.task_id for a in el.attempts] == ["a", "b", "c"]
    assert Q.job_state(st.jobs[jid]) == "FAILED"
    assert Q.wanted(st, set()) == []
    # A late or repeated end changes nothing.
    assert Q.handle(st, Q.Ended(g, "c", "TASK_FAILED"), 7.0) == []


def test_a_finished_element_is_never_wanted_again() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, "1-2")
    g = Q.group_of(jid, 1)
    start(st, g, "a", 1.0)
    end(st, g, "a", "TASK_FINISHED", 2.0)
    assert Q.handle(st, Q.Started(g, "stray", None, None), 3.0) == []
    assert groups(Q.wanted(st, set())) == [Q.group_of(jid, 2)]


def test_cancel_drops_queued_and_lets_running_be_killed() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, "1-3")
    g1 = Q.group_of(jid, 1)
    start(st, g1, "a", 1.0)
    assert Q.handle(st, Q.Cancel(jid), 2.0) == [Q.Persist(jid)]
    job = st.jobs[jid]
    assert [e.state for e in job.elements] == ["RUNNING", "CANCELLED", "CANCELLED"]
    assert Q.wanted(st, {g1}) == []  # no goal: the toolkit kills its task
    assert Q.job_state(job) == "RUNNING"
    end(st, g1, "a", "TASK_KILLED", 3.0)
    assert job.elements[0].state == "CANCELLED"
    assert Q.job_state(job) == "CANCELLED" and job.ended_at == 3.0
    assert Q.handle(st, Q.Cancel(jid), 4.0) == []  # again: nothing to do
    assert Q.handle(st, Q.Cancel("nope"), 4.0) == []


def test_the_record_round_trips_and_ids_go_on_after_a_reload() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0, "1-3%2", priority=5, env={"A": "b"})
    start(st, Q.group_of(jid, 1), "a", 1.0)
    job = decode_job(encode_job(st.jobs[jid]))
    assert job == st.jobs[jid]
    again = Q.QueueState(jobs={job.id: job}, next_seq=job.seq + 1)
    assert submit(again, 2.0) == str(int(jid) + 1)


def test_groups_parse_back() -> None:
    assert Q.parse_group(Q.group_of("12", 7)) == ("12", 7)
    assert Q.parse_group("other-1") is None
    assert Q.parse_group("batch-x") is None


def test_a_lost_task_is_launched_again_without_using_a_retry_a_few_times() -> None:
    st = Q.QueueState()
    jid = submit(st, 0.0)
    g = Q.group_of(jid, 0)
    for n in range(Q.MAX_LOST):
        end(st, g, f"lost{n}", "TASK_LOST", float(n))
        assert st.jobs[jid].elements[0].state == "QUEUED"
    end(st, g, "last", "TASK_GONE", 9.0)  # lost too often: a failure now (no retries)
    assert st.jobs[jid].elements[0].state == "FAILED"
