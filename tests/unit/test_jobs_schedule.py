"""Schedules (ISO 8601 repeating intervals, cron, zones, DST), the job model and the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.frameworks.jobs.graph import Graph, GraphError, rewire_on_delete
from corral.frameworks.jobs.model import JobError, check_job, decode_job, load_job_file
from corral.frameworks.jobs.schedule import ScheduleError, iso, parse_duration, parse_schedule


def test_infinite_and_finite_repeats() -> None:
    s = parse_schedule("R/2026-01-01T00:00:00Z/PT1H")
    t0 = s.occurrence(0)
    assert s.next_at(t0 + 1) == t0 + 3600
    assert s.next_at(t0 + 10 * 86400 + 1) == t0 + 10 * 86400 + 3600
    f = parse_schedule("R2/2026-01-01T00:00:00Z/PT1H")
    assert f.upcoming(0, 5) == [t0, t0 + 3600]
    assert parse_schedule("R0/2026-01-01T00:00:00Z/PT1H").next_at(0) is None


def test_p1d_keeps_the_wall_clock_across_dst_and_pt24h_does_not() -> None:
    day = parse_schedule("R/2026-03-07T09:00:00/P1D", "America/New_York")
    assert [iso(t) for t in day.upcoming(day.occurrence(0), 3)] == [
        "2026-03-07T14:00:00.000Z",  # EST
        "2026-03-08T13:00:00.000Z",  # EDT: still 09:00 on the wall
        "2026-03-09T13:00:00.000Z",
    ]
    hours = parse_schedule("R/2026-03-07T09:00:00/PT24H", "America/New_York")
    assert [iso(t) for t in hours.upcoming(hours.occurrence(0), 2)][1] == "2026-03-08T14:00:00.000Z"


def test_a_wall_time_in_the_spring_gap_runs_an_hour_later() -> None:
    s = parse_schedule("R/2026-03-07T02:30:00/P1D", "America/New_York")
    assert iso(s.occurrence(1)) == "2026-03-08T07:30:00.000Z"  # 03:30 EDT


def test_months_do_not_drift() -> None:
    s = parse_schedule("R/2026-01-31T00:00:00Z/P1M")
    assert [iso(t)[:10] for t in s.upcoming(0, 3)] == ["2026-01-31", "2026-02-28", "2026-03-31"]


def test_cron_in_a_zone() -> None:
    s = parse_schedule("0 9 * * *", "Europe/Paris")
    t = parse_schedule("R/2026-06-01T00:00:00Z/PT1H").occurrence(0)
    assert iso(s.next_at(t)) == "2026-06-01T07:00:00.000Z"  # 09:00 CEST
    assert s.next_at(s.next_at(t) or 0) == s.next_at(t)  # at or after


@pytest.mark.parametrize(
    "bad",
    [
        "R/x/PT1H",
        "Rx/2026-01-01T00:00:00Z/PT1H",
        "R/2026-01-01T00:00:00Z/PT0S",
        "61 * * * *",
        "nonsense",
        "R/1960-01-01T00:00:00Z/PT1H",
    ],
)
def test_bad_schedules_say_why(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


def test_durations_and_zones() -> None:
    assert parse_duration("PT90S") == 90
    with pytest.raises(ScheduleError):
        parse_duration("90s")
    with pytest.raises(ScheduleError, match="unknown time zone"):
        parse_schedule("R/2026-01-01T00:00:00/PT1H", "Mars/Olympus")


def test_model_defaults_and_errors() -> None:
    j = check_job(decode_job(b'{"name":"a","command":"x","schedule":"R//PT1H","cpus":0}'), 1e9)
    assert j.schedule.startswith("R/2001-09-09T01:46:40Z/") and j.cpus == 0.1
    once = check_job(decode_job({"name": "b", "command": "x"}), 1e9)
    assert once.schedule.startswith("R1/")
    with pytest.raises(JobError, match="retries"):
        decode_job({"name": "a", "retries": "many"})
    with pytest.raises(JobError, match="name"):
        check_job(decode_job({"name": "a b", "command": "x"}), 1e9)
    with pytest.raises(JobError, match="concurrencyPolicy"):
        check_job(decode_job({"name": "a", "command": "x", "concurrencyPolicy": "maybe"}), 1e9)
    t = check_job(decode_job({"name": "a", "command": "x", "timeoutSeconds": 5}), 1e9)
    assert t.max_completion_time == 5


def test_load_job_file(tmp_path: Path) -> None:
    f = tmp_path / "job.toml"
    f.write_text(
        'name = "nightly"\ncommand = "make"\nschedule = "0 2 * * *"\nschedule_time_zone = "UTC"\n'
    )
    assert load_job_file(f)["scheduleTimeZone"] == "UTC"
    f.write_text("name = ")
    with pytest.raises(JobError, match=r"job\.toml"):
        load_job_file(f)


def test_graph_cycles_and_rewiring() -> None:
    g = Graph()
    g.put("a", [])
    g.put("b", ["a"])
    g.put("c", ["b"])
    with pytest.raises(GraphError, match="cycle"):
        g.check("a", ["c"])
    with pytest.raises(GraphError, match="no job named"):
        g.check("d", ["zz"])
    assert rewire_on_delete("b", ("a",), "", g) == {"c": (("a",), "")}
    assert rewire_on_delete("a", (), "R/x/PT1H", g) == {"b": ((), "R/x/PT1H")}
    g.remove("b")
    assert g.parents["c"] == () and g.edges() == []


def test_containers_map_to_mesos_container_info() -> None:
    from corral.frameworks.jobs.containers import container_info

    d = container_info({"type": "DOCKER", "image": "busybox", "network": "bridge"})
    assert d.type == "DOCKER" and d.docker is not None and d.docker.network == "BRIDGE"
    m = container_info({"type": "MESOS", "image": "alpine"})
    assert m.mesos is not None and m.mesos.image is not None
    with pytest.raises(JobError, match=r"container\.type"):
        container_info({"type": "RKT", "image": "x"})
