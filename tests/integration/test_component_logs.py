"""Component logs with real processes: rotating JSON-line files from a master, an agent and
its launcher; the level toggled at run time and reverting; the operator calls; `corral logs
--master` / `--agent` reading the logs through the API, and their error without a
--log-dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, wait_until

pytestmark = pytest.mark.integration

LOG_FLAGS = ["--log-format", "json", "--log-max-bytes", "4096", "--log-backups", "2"]


@pytest.fixture(scope="module")
def logged() -> Iterator[LocalCluster]:
    with LocalCluster(1, log_dirs=True, master_flags=LOG_FLAGS, agent_flags=LOG_FLAGS) as c:
        yield c


def agent_url(c: LocalCluster) -> str:
    return f"http://127.0.0.1:{c.agents[0].port}"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def call(base: str, body: dict[str, Any]) -> tuple[int, str]:
    req = urllib.request.Request(
        f"{base}/api/v1", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def level(base: str) -> int:
    status, body = call(base, {"type": "GET_LOGGING_LEVEL"})
    assert status == 200, body
    got = json.loads(body)
    assert got["type"] == "GET_LOGGING_LEVEL"
    return int(got["get_logging_level"]["level"])


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for obj in lines:
        assert {"time", "level", "logger", "message"} <= obj.keys(), obj
    return lines


def corral(c: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CORRAL_MASTER=c.master)
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_master_agent_and_launcher_write_json_lines(logged: LocalCluster) -> None:
    logs = logged.work_dir / "logs"
    master = json_lines(logs / "master0" / "master.log")
    assert any("master listening" in m["message"] for m in master)
    assert json_lines(logs / "agent0" / "agent.log")
    launcher = json_lines(logs / "agent0" / "launcher.log")
    assert any(m["logger"] == "corral.launcher" for m in launcher)


def test_files_rotate_and_stay_json(logged: LocalCluster) -> None:
    log_dir = logged.work_dir / "logs" / "master0"
    for _ in range(60):  # each toggle logs a line; 4 KiB rotates after ~35 of them
        assert get(f"{logged.url}/logging/toggle?level=0&duration=1mins")[0] == 200
    wait_until(lambda: (log_dir / "master.log.1").exists(), 10, what="master.log.1")
    assert not (log_dir / "master.log.3").exists()  # --log-backups 2
    for p in log_dir.glob("master.log*"):
        assert p.stat().st_size <= 4096 + 1024
        json_lines(p)


@pytest.mark.parametrize("where", ["master", "agent"])
def test_toggle_changes_the_level_and_it_reverts(logged: LocalCluster, where: str) -> None:
    base = logged.url if where == "master" else agent_url(logged)
    status, body = get(f"{base}/logging/toggle?level=2&duration=1secs")
    assert status == 200, body
    assert level(base) == 2
    wait_until(lambda: level(base) == 0, 10, what=f"the {where}'s level to revert to 0")
    status, body = get(f"{base}/logging/toggle?duration=1secs")
    assert status == 400 and "level" in body
    status, body = get(f"{base}/logging/toggle?level=1")
    assert status == 400 and "duration" in body
    status, body = get(f"{base}/logging/toggle?level=1&duration=10fortnights")
    assert status == 400 and "Invalid duration" in body
    status, body = get(f"{base}/logging/toggle?level=-1&duration=1secs")
    assert status == 400 and "< 0" in body


@pytest.mark.parametrize("where", ["master", "agent"])
def test_set_and_get_logging_level(logged: LocalCluster, where: str) -> None:
    base = logged.url if where == "master" else agent_url(logged)
    ten_min = {"nanoseconds": 600 * 10**9}
    status, body = call(
        base, {"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1, "duration": ten_min}}
    )
    assert status == 200, body
    assert level(base) == 1
    # A later call replaces it; this one lasts 0.2 s.
    short = {"level": 3, "duration": {"nanoseconds": 2 * 10**8}}
    assert call(base, {"type": "SET_LOGGING_LEVEL", "set_logging_level": short})[0] == 200
    wait_until(lambda: level(base) == 0, 10, what=f"the {where}'s level to revert")
    status, body = call(base, {"type": "SET_LOGGING_LEVEL"})
    assert status == 400 and "set_logging_level" in body
    assert call(base, {"type": "GET_HEALTH"})[0] == 200  # other calls still answered


def test_corral_logs_master_and_agent(logged: LocalCluster) -> None:
    out = corral(logged, "logs", "--master")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() and all(json.loads(line) for line in out.stdout.splitlines())
    on_disk = (logged.work_dir / "logs" / "master0" / "master.log").read_text()
    assert on_disk.startswith(out.stdout)  # the file as it is (rotated by now), through the API
    explicit = corral(logged, "logs", "--master", logged.master, "-n", "2")
    assert explicit.returncode == 0 and len(explicit.stdout.splitlines()) == 2, explicit.stderr
    agent_id = logged.state()["slaves"][0]["id"]
    out = corral(logged, "logs", "--agent", agent_id)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() and all(json.loads(line) for line in out.stdout.splitlines())
    out = corral(logged, "logs", "--agent", agent_id, "--lines", "1")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1
    out = corral(logged, "logs", "--agent", "no-such-agent")
    assert out.returncode == 2 and "--agent" in out.stderr
    out = corral(logged, "logs")
    assert out.returncode == 2 and "TASK_ID" in out.stderr


def test_status_update_round_trips_are_measured(logged: LocalCluster) -> None:
    out = corral(logged, "run", "--cpus", "0.1", "--mem", "32", "--", "true")
    assert out.returncode == 0, out.stderr

    def count() -> float:
        for line in get(f"{agent_url(logged)}/metrics")[1].splitlines():
            if line.startswith("corral_agent_status_update_round_trip_seconds_count"):
                return float(line.split()[-1])
        return 0.0

    wait_until(lambda: count() >= 2, 10, what="acknowledged updates (RUNNING, FINISHED)")


def test_without_log_dir_the_error_names_the_flag() -> None:
    with LocalCluster(1) as plain:
        status, body = get(f"{plain.url}/files/read?path=/master/log&offset=0")
        assert status == 404 and "--log-dir" in body
        out = corral(plain, "logs", "--master")
        assert out.returncode == 2 and "--log-dir" in out.stderr, out.stderr
        agent_id = plain.state()["slaves"][0]["id"]
        out = corral(plain, "logs", "--agent", agent_id)
        assert out.returncode == 2 and "--log-dir" in out.stderr, out.stderr


def test_follow_keeps_printing_what_is_written(logged: LocalCluster) -> None:
    import threading

    env = dict(os.environ, CORRAL_MASTER=logged.master)
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral", "logs", "--master", "--follow", "--lines", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        wait_until(lambda: seen, 15, what="the first line of `corral logs --follow`")
        assert get(f"{logged.url}/logging/toggle?level=0&duration=7777ms")[0] == 200
        wait_until(
            lambda: any("7.777s" in line for line in seen), 15, what="the new line, followed"
        )
    finally:
        proc.terminate()
        proc.wait(10)
        reader.join(10)
