"""`corral run` for real: the CLI against a LocalCluster (output, exit codes, detach, batch
progress, placement reasons, --timeout, Ctrl-C with a kill grace period)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from recorder import connected

from corral.testing import LocalCluster, free_port, http_json, wait_until
from corral.wire.base import ID

pytestmark = pytest.mark.integration
CORRAL = [sys.executable, "-m", "corral", "run"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(1, agent_flags=["--status-update-retry", "1"]) as c:
        yield c


def corral_run(
    cluster: LocalCluster, *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    return subprocess.run(
        [*CORRAL, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def master_tasks(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    state = http_json(f"http://{cluster.master}/master/state")
    out = {}
    for f in state["frameworks"] + state["completed_frameworks"]:
        for t in f["tasks"] + f["completed_tasks"]:
            out[t["id"]] = t
    return out


def test_output_is_streamed_and_the_exit_code_is_the_tasks(cluster: LocalCluster) -> None:
    p = corral_run(cluster, "--", "echo to-stdout; echo to-stderr >&2; exit 3")
    assert p.returncode == 3, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    starting = next(i for i, ln in enumerate(lines) if ln.endswith("TASK_STARTING"))
    failed = next(i for i, ln in enumerate(lines) if "TASK_FAILED" in ln)
    assert starting < lines.index("to-stdout") < failed  # the output, before the end
    assert lines[-1] == "exit code 3"
    assert "to-stderr" in p.stderr and "to-stdout" not in p.stderr


def test_quiet_prints_only_states(cluster: LocalCluster) -> None:
    p = corral_run(cluster, "--quiet", "--", "echo not-shown")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not-shown" not in p.stdout + p.stderr
    assert "TASK_FINISHED" in p.stdout and p.stdout.splitlines()[-1] == "exit code 0"


def test_detach_returns_once_running_with_the_task_id(cluster: LocalCluster) -> None:
    p = corral_run(cluster, "--detach", "--", "sleep 20")
    assert p.returncode == 0, p.stdout + p.stderr
    task_id = p.stdout.splitlines()[-1]
    assert task_id.startswith("corral-run-")
    task = master_tasks(cluster)[task_id]
    assert task["state"] == "TASK_RUNNING"  # outlives the CLI
    asyncio.run(teardown(cluster, task["framework_id"]))  # as the framework, come back
    wait_until(lambda: master_tasks(cluster)[task_id]["state"] == "TASK_KILLED", 30)


async def teardown(cluster: LocalCluster, framework_id: str) -> None:
    async with connected(cluster.master, id=ID(framework_id), name="corral-run"):
        pass


def test_batch_shows_progress_and_a_summary(cluster: LocalCluster) -> None:
    cmd = 'case "$MESOS_TASK_ID" in *-2) exit 5;; esac'
    p = corral_run(cluster, "--count", "4", "--", cmd)
    assert p.returncode == 5, p.stdout + p.stderr
    assert "4/4" in p.stderr and "1 failed" in p.stderr  # the progress bar
    summary, failed = p.stdout.splitlines()[-2:]
    assert summary.startswith("4 tasks in ") and summary.endswith(": 1 failed, 3 finished")
    assert failed.strip().endswith("-2 TASK_FAILED: exit code 5")


def test_a_task_that_cannot_be_placed_says_why_and_timeout_ends_the_wait(
    cluster: LocalCluster,
) -> None:
    started = time.monotonic()
    p = corral_run(cluster, "--cpus", "64", "--timeout", "6", "--", "true")
    assert p.returncode == 124, p.stdout + p.stderr
    assert "waiting to place 1 task: needs cpus 64, largest free on any agent is" in p.stderr
    assert "--timeout 6s: gave up waiting for 1 of 1 task(s)" in p.stderr
    assert "Traceback" not in p.stderr
    assert time.monotonic() - started < 60


def test_a_health_check_kills_a_task_that_turns_unhealthy(cluster: LocalCluster) -> None:
    p = corral_run(
        cluster,
        *("--health-cmd", "test ! -e sick", "--health-interval", "0.3"),
        *("--health-retries", "2", "--health-start-period", "0"),
        *("--quiet", "--", "sleep 3; touch sick; sleep 600"),
    )
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert any(ln.endswith("TASK_RUNNING (healthy)") for ln in lines), lines
    unhealthy = [ln for ln in lines if "TASK_RUNNING (unhealthy)" in ln]
    assert len(unhealthy) == 2 and "command exited with status 1" in unhealthy[0]
    assert "2 consecutive health check failures" in lines[-2] and "TASK_KILLED" in lines[-2]


def test_cannot_reach_the_master_is_its_own_exit_code() -> None:
    p = subprocess.run(
        [*CORRAL, "--master", f"127.0.0.1:{free_port()}", "--connect-timeout", "1", "--", "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 69, p.stdout + p.stderr
    assert "cannot reach the master at 127.0.0.1:" in p.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--timeout", "-1"], "--timeout"),
        (["--kill-grace", "-5"], "--kill-grace"),
        (["--connect-timeout", "0"], "--connect-timeout"),
        (["--detach", "--json"], "--detach"),
        (["--health-cmd", "true", "--health-retries", "0"], "--health-retries"),
    ],
)
def test_bad_usage_is_exit_code_2(args: list[str], flag: str) -> None:
    p = subprocess.run([*CORRAL, *args, "--", "true"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and flag in p.stderr and "Traceback" not in p.stderr


def test_ctrl_c_kills_what_it_launched_within_the_kill_grace(cluster: LocalCluster) -> None:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    # The task ignores SIGTERM: only the SIGKILL after the grace period ends it.
    proc = subprocess.Popen(
        [*CORRAL, "--kill-grace", "0.5", "--", "trap '' TERM; echo ready; sleep 600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # The output streams while the task runs.
        wait_until(lambda: "ready" in lines, 60, what=f"the task's output ({lines})")
        task_id = lines[0].split()[0]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert proc.stderr is not None
    assert "interrupted: killed 1 launched task(s)" in proc.stderr.read()
    assert any(ln.startswith(f"{task_id} TASK_KILLING") for ln in lines), lines
    assert master_tasks(cluster)[task_id]["state"] == "TASK_KILLED"


def test_a_cluster_that_goes_away_is_said_within_the_connect_timeout() -> None:
    with LocalCluster(1) as own:  # its own cluster: this test stops its master
        env = {**os.environ, "CORRAL_MASTER": own.master}
        proc = subprocess.Popen(
            [*CORRAL, "--connect-timeout", "2", "--", "echo ready; sleep 600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            seen = ""
            while "ready" not in seen:
                line = proc.stdout.readline()
                assert line, seen
                seen += line
            master = own.masters[0]
            assert master.popen is not None
            master.popen.kill()
            master.popen.wait(10)
            started = time.monotonic()
            assert proc.wait(60) == 69
            assert time.monotonic() - started < 30
            err = proc.stderr.read() if proc.stderr else ""
            assert f"lost the master at {own.master}" in err and "--connect-timeout 2s" in err
            assert "1 of 1 task(s) had not ended" in err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
