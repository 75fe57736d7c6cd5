"""The health check and check policy: defaults, validation and decisions, without a clock."""

from __future__ import annotations

import msgspec
import pytest

from corral.health import policy as hp
from corral.wire.base import ID
from corral.wire.codec import decode
from corral.wire.tasks import CheckInfo, HealthCheck, TaskInfo, TaskStatus

FAIL = hp.ProbeResult(ok=False, detail="GET http://127.0.0.1:1/: 500", status_code=500)
PASS = hp.ProbeResult(ok=True, detail="GET http://127.0.0.1:1/: 200", status_code=200)


def health(**kw: object) -> hp.HealthPolicy:
    base: dict[str, object] = {"type": "HTTP", "http": {"port": 8080}}
    return hp.health_policy(msgspec.convert({**base, **kw}, HealthCheck))


def test_mesos_defaults() -> None:
    p = health()
    assert (p.delay, p.interval, p.probe.timeout, p.grace, p.consecutive_failures) == (
        15.0,
        10.0,
        20.0,
        10.0,
        3,
    )
    assert (p.probe.type, p.probe.port, p.probe.path, p.probe.scheme) == ("HTTP", 8080, "/", "http")


def test_json_round_trips_unchanged() -> None:
    raw = {"type": "TCP", "tcp": {"port": 9}, "delay_seconds": 15.0}
    hc = msgspec.convert(raw, HealthCheck)
    assert msgspec.to_builtins(hc) == raw


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "HTTP"}, "health_check.http"),
        ({"type": "TCP", "tcp": {"port": 0}}, "health_check.tcp.port"),
        ({"type": "COMMAND"}, "health_check.command"),
        ({"type": "PING"}, "health_check.type"),
        ({"type": "HTTP", "http": {"port": 1, "scheme": "ftp"}}, "health_check.http.scheme"),
        ({"type": "TCP", "tcp": {"port": 1}, "interval_seconds": -1}, "interval_seconds"),
        ({"type": "TCP", "tcp": {"port": 1}, "consecutive_failures": 0}, "consecutive_failures"),
    ],
)
def test_invalid_health_checks_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(hp.InvalidCheck, match=field):
        hp.health_policy(msgspec.convert(raw, HealthCheck))


def test_validate_a_task_for_task_error() -> None:
    raw = b'{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},'
    task = decode(raw + b' "check": {"type": "HTTP"}}', TaskInfo)
    assert hp.validate(task) == "check.http: a HTTP check needs it"
    task.check = None
    assert hp.validate(task) is None


def test_type_inferred_for_old_frameworks() -> None:
    p = hp.health_policy(msgspec.convert({"command": {"value": "true"}}, HealthCheck))
    assert p.probe.type == "COMMAND"


def test_schedule() -> None:
    p = health(delay_seconds=2, interval_seconds=1)
    assert hp.first_probe_at(p.delay, 100.0) == 102.0
    assert hp.next_probe_at(p.interval, 103.5) == 104.5


def test_failures_inside_the_grace_period_are_ignored_until_the_first_success() -> None:
    p = health(grace_period_seconds=5, consecutive_failures=1)
    s = hp.HealthState(started=0.0)
    s, effects = hp.on_health_result(p, s, FAIL, now=4.0)
    assert effects == [] and s.failures == 0
    s, effects = hp.on_health_result(p, s, PASS, now=4.5)
    assert effects == [hp.ReportHealth(True, "health check passed")]
    # After a success the grace period is over, even inside its window.
    s, effects = hp.on_health_result(p, s, FAIL, now=4.8)
    assert [type(e) for e in effects] == [hp.ReportHealth, hp.KillUnhealthy]


def test_healthy_reported_only_on_change_unhealthy_every_time_then_kill() -> None:
    p = health(grace_period_seconds=0, consecutive_failures=3)
    s = hp.HealthState(started=0.0)
    s, e1 = hp.on_health_result(p, s, PASS, 1.0)
    s, e2 = hp.on_health_result(p, s, PASS, 2.0)
    assert len(e1) == 1 and e2 == []
    s, e3 = hp.on_health_result(p, s, FAIL, 3.0)
    s, e4 = hp.on_health_result(p, s, FAIL, 4.0)
    assert [e.healthy for e in e3 + e4 if isinstance(e, hp.ReportHealth)] == [False, False]
    assert not s.killed and s.failures == 2
    s, e5 = hp.on_health_result(p, s, FAIL, 5.0)
    assert s.killed and isinstance(e5[-1], hp.KillUnhealthy)
    assert "3 consecutive health check failures" in e5[-1].message
    assert "500" in e5[-1].message
    assert hp.on_health_result(p, s, PASS, 6.0) == (s, [])  # killed: nothing more


def test_a_success_resets_the_count() -> None:
    p = health(grace_period_seconds=0, consecutive_failures=2)
    s = hp.HealthState(started=0.0)
    s, _ = hp.on_health_result(p, s, FAIL, 1.0)
    s, e = hp.on_health_result(p, s, PASS, 2.0)
    assert e == [hp.ReportHealth(True, "health check passed")] and s.failures == 0
    s, _ = hp.on_health_result(p, s, FAIL, 3.0)
    assert not s.killed


def test_check_status_reported_when_it_changes() -> None:
    probe = hp.check_policy(
        msgspec.convert({"type": "COMMAND", "command": {"command": {"value": "x"}}}, CheckInfo)
    ).probe
    ok = hp.ProbeResult(ok=True, exit_code=0)
    s, changed = hp.on_check_result(probe, None, ok)
    assert changed and s.command is not None and s.command.exit_code == 0
    s, changed = hp.on_check_result(probe, s, ok)
    assert not changed
    s, changed = hp.on_check_result(probe, s, hp.ProbeResult(ok=False, exit_code=3))
    assert changed and s.command is not None and s.command.exit_code == 3
    status = TaskStatus(task_id=ID("t"), state="TASK_RUNNING", check_status=s)
    assert msgspec.to_builtins(status)["check_status"] == {
        "type": "COMMAND",
        "command": {"exit_code": 3},
    }


def test_http_and_tcp_check_status() -> None:
    http = hp.Probe(type="HTTP", timeout=1, port=1)
    assert hp.check_status(http, hp.ProbeResult(ok=False)).http is not None
    tcp = hp.check_status(hp.Probe(type="TCP", timeout=1, port=1), hp.ProbeResult(ok=True))
    assert tcp.tcp is not None and tcp.tcp.succeeded is True
    assert hp.http_healthy(204) and hp.http_healthy(302) and not hp.http_healthy(404)


def test_probe_address() -> None:
    assert hp.probe_address(8080, "10.0.0.5", False, {}) == ("127.0.0.1", 8080)
    assert hp.probe_address(8080, "10.0.0.5", True, {}) == ("10.0.0.5", 8080)
    assert hp.probe_address(80, "10.0.0.5", False, {80: 31000}) == ("127.0.0.1", 31000)
