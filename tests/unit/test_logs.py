"""Component logs, the pure parts: glog ↔ Python levels, Mesos durations, the toggle's
revert decision, the JSON line formatter, the status-update round-trip histogram."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from corral.agent.status_updates import StatusUpdateManager
from corral.agent.update_latency import LatencyHistogram, family
from corral.cli.component_logs import normalize_argv
from corral.logs import levels, setup
from corral.logs.jsonfmt import JsonFormatter, formatter
from corral.wire.agent import StatusUpdate
from corral.wire.base import ID
from corral.wire.tasks import TaskStatus


def test_glog_levels_map_to_python_levels_and_back() -> None:
    assert [levels.python_level(v) for v in (0, 1, 2, 3, 9)] == [20, 10, 5, 1, 1]
    for v in (0, 1, 2, 3):
        assert levels.glog_level(levels.python_level(v)) == v
    assert levels.glog_level(logging.WARNING) == 0
    assert levels.glog_level(logging.ERROR) == 0
    assert levels.glog_level(15) == 0  # between DEBUG and INFO: not yet DEBUG
    with pytest.raises(ValueError, match="< 0"):
        levels.python_level(-1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10secs", 10.0), ("15mins", 900.0), ("2hrs", 7200.0), ("100ms", 0.1),
     ("1days", 86400.0), ("1weeks", 604800.0), ("0.5secs", 0.5), ("3", 3.0), (" 5mins ", 300.0)],
)  # fmt: skip
def test_mesos_durations(text: str, seconds: float) -> None:
    assert levels.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "secs", "10 fortnights", "-3secs", "1e3secs"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="Invalid duration"):
        levels.parse_duration(text)


def test_toggle_lasts_its_duration_then_the_configured_level_returns() -> None:
    base = levels.LevelState(base=logging.INFO, current=logging.INFO)
    on = levels.toggle(base, 1, 30.0, now=100.0)
    assert on == levels.LevelState(base=logging.INFO, current=logging.DEBUG, revert_at=130.0)
    assert levels.expire(on, 129.9) is on
    assert levels.expire(on, 130.0) == levels.LevelState(logging.INFO, logging.INFO)
    # A later toggle replaces the earlier one, its deadline too.
    again = levels.toggle(on, 2, 60.0, now=120.0)
    assert levels.expire(again, 130.0) == again
    assert again.current == levels.TRACE
    assert levels.expire(again, 180.0).current == logging.INFO
    # The configured level, whatever it is, is what comes back.
    warn = levels.LevelState(base=logging.WARNING, current=logging.WARNING)
    assert levels.expire(levels.toggle(warn, 0, 1.0, 0.0), 1.0).current == logging.WARNING


def test_toggle_rejects_bad_levels_and_durations() -> None:
    state = levels.LevelState(base=20, current=20)
    with pytest.raises(ValueError, match="< 0"):
        levels.toggle(state, -1, 10.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        levels.toggle(state, 1, 0.0, 0.0)


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("corral.master", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.created = 1764700000.25
    return rec


def test_json_lines_carry_time_level_logger_message() -> None:
    line = JsonFormatter().format(record('agent %s said "hi"\nand left', "a1"))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2025-12-02T18:26:40.250+00:00",
        "level": "WARNING",
        "logger": "corral.master",
        "message": 'agent a1 said "hi"\nand left',
    }


def test_json_lines_carry_the_exception() -> None:
    obj = json.loads(JsonFormatter().format(record("failed", exc=True)))
    assert obj["message"] == "failed"
    assert "RuntimeError: boom" in obj["exception"]
    assert obj["exception"].startswith("Traceback")


def test_formats_and_flag_checks() -> None:
    assert isinstance(formatter("json"), JsonFormatter)
    assert "WARNING corral.master: x" in formatter("text").format(record("x"))
    with pytest.raises(ValueError, match="unknown log format"):
        formatter("xml")
    assert "--log-format" in (setup.check(setup.LogOptions(log_format="xml")) or "")
    assert "--log-max-bytes" in (setup.check(setup.LogOptions(max_bytes=10)) or "")
    assert "--log-backups" in (setup.check(setup.LogOptions(backups=0)) or "")
    assert setup.check(setup.LogOptions(log_dir=Path("/x"), log_format="json")) is None


def test_child_args_pass_the_log_settings_to_the_launcher() -> None:
    opts = setup.LogOptions(log_dir=Path("/l"), log_format="json", max_bytes=2048, backups=2)
    assert setup.child_args(opts) == [
        "--log-dir", "/l", "--log-format", "json", "--log-max-bytes", "2048", "--log-backups", "2",
    ]  # fmt: skip
    assert setup.child_args(setup.LogOptions()) == []


def test_round_trip_histogram_buckets_are_cumulative() -> None:
    h = LatencyHistogram()
    for s in (0.0005, 0.003, 0.003, 20.0, 100.0):
        h.observe(s)
    buckets = dict(h.cumulative())
    assert buckets["0.001"] == 1
    assert buckets["0.005"] == 3
    assert buckets["10.0"] == 3
    assert buckets["30.0"] == 4
    assert buckets["+Inf"] == 5
    assert h.count == 5
    assert h.total == pytest.approx(120.0065)


def test_the_manager_times_the_round_trip_from_the_latest_send() -> None:
    sent: list[StatusUpdate] = []
    m = StatusUpdateManager(None, sent.append, retry_min=10.0)
    m.on_connected(0.0)
    status = TaskStatus(task_id=ID("t"), state="TASK_RUNNING", uuid=uuid.uuid4().bytes)
    m.push(StatusUpdate(framework_id=ID("fw"), status=status), 100.0)
    m.retry(110.0)  # resent at 110
    assert len(sent) == 2
    m.acknowledge(ID("fw"), ID("t"), status.uuid or b"", 110.02)
    assert m.round_trips.count == 1
    assert m.round_trips.total == pytest.approx(0.02)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Only(m.round_trips))
    text = generate_latest(registry).decode()
    assert 'corral_agent_status_update_round_trip_seconds_bucket{le="0.025"} 1.0' in text
    assert "corral_agent_status_update_round_trip_seconds_count 1.0" in text


class Only(Collector):
    def __init__(self, h: LatencyHistogram) -> None:
        self.h = h

    def collect(self) -> Iterator[Metric]:
        yield family(self.h)


def test_a_bare_master_flag_of_logs_means_the_masters_log() -> None:
    assert normalize_argv(["logs", "--master"]) == ["logs", "--master-log"]
    assert normalize_argv(["logs", "--master", "-f"]) == ["logs", "--master-log", "-f"]
    assert normalize_argv(["logs", "--master", "h:5050"]) == ["logs", "--master", "h:5050"]
    assert normalize_argv(["logs", "t1", "--master", "h:1", "-f"])[2] == "--master"
    assert normalize_argv(["tasks", "--master"]) == ["tasks", "--master"]  # only `logs`
    assert normalize_argv([]) == []
