"""Maintenance schedules on a real cluster, through the CLI and the legacy routes: a window
makes the agent's machine DRAINING (its framework gets an inverse offer), START takes it DOWN
(the task ends, the agent is refused, across a master restart), STOP brings it UP (the agent
registers again); bad calls exit 1 naming the problem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration


def corral(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    return subprocess.run(
        [sys.executable, "-m", "corral", *args], capture_output=True, text=True, timeout=60,
        env=env,
    )  # fmt: skip


def test_schedule_drain_down_and_up(tmp_path: Path) -> None:
    with LocalCluster(1, master_flags=["--agent-reregister-timeout", "30"]) as cluster:
        master = f"http://{cluster.master}"
        r = corral(cluster, "run", "--detach", "--name", "long", "--", "sleep 600")
        assert r.returncode == 0, r.stderr
        start_ns = int((time.time() + 3600) * 1e9)
        schedule = {
            "windows": [
                {
                    "machine_ids": [{"hostname": "127.0.0.1", "ip": "127.0.0.1"}],
                    "unavailability": {
                        "start": {"nanoseconds": start_ns},
                        "duration": {"nanoseconds": 3600 * 10**9},
                    },
                }
            ]
        }
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"windows": [schedule["windows"][0]] * 2}))
        r = corral(cluster, "maintenance", "schedule", "set", str(bad))
        assert r.returncode == 1 and "is already in window 0" in r.stderr, r.stderr
        good = tmp_path / "schedule.json"
        good.write_text(json.dumps(schedule))
        r = corral(cluster, "maintenance", "schedule", "set", str(good))
        assert r.returncode == 0, r.stderr
        r = corral(cluster, "maintenance", "schedule", "show", "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == schedule, r.stdout
        assert http_json(f"{master}/maintenance/schedule") == schedule
        r = corral(cluster, "maintenance", "status", "--json")
        (draining,) = json.loads(r.stdout)["draining_machines"]
        assert draining["id"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1"}
        assert [s["status"] for s in draining["statuses"]] == ["UNKNOWN"]  # the inverse offer
        r = corral(cluster, "maintenance", "stop", "127.0.0.1")
        assert r.returncode == 1 and "is not DOWN and cannot be brought up" in r.stderr
        agent = f"http://127.0.0.1:{cluster.agents[0].port}"

        def agent_running() -> list[str]:
            state = http_json(f"{agent}/state")
            return [t["state"] for f in state["frameworks"] for e in f["executors"]
                    for t in e["tasks"] if t["state"] == "TASK_RUNNING"]  # fmt: skip

        assert agent_running() == ["TASK_RUNNING"]
        r = corral(cluster, "maintenance", "start", "127.0.0.1")
        assert r.returncode == 0, r.stderr

        def tasks() -> list[dict[str, object]]:
            state = http_json(f"{master}/master/state")
            return [t for f in state["frameworks"] + state["completed_frameworks"]
                    for t in f["tasks"] + f["completed_tasks"]]  # fmt: skip

        wait_until(lambda: [t["state"] for t in tasks()] == ["TASK_GONE_BY_OPERATOR"], 10,
                   what="the task ended")  # fmt: skip
        assert http_json(f"{master}/master/state")["slaves"] == []

        wait_until(lambda: not agent_running(), 20, what="the agent killed the task")
        status = http_json(f"{master}/maintenance/status")
        assert status == {"down_machines": [{"hostname": "127.0.0.1", "ip": "127.0.0.1"}]}
        # A new master term (restart) has the schedule from the registry; the agent stays out.
        cluster.kill_master(0, signal.SIGTERM)
        cluster.start_master_index(0)
        assert http_json(f"{master}/maintenance/status") == status
        assert http_json(f"{master}/maintenance/schedule") == schedule
        r = corral(cluster, "maintenance", "stop", "127.0.0.1")
        assert r.returncode == 0, r.stderr
        assert http_json(f"{master}/maintenance/schedule") == {}
        cluster.wait_for_agents(1, timeout=60)
        r = corral(cluster, "maintenance", "status")
        assert r.returncode == 0 and "no machine is draining or down" in r.stdout
        # The legacy write routes: the same checks, the same outcome.
        assert legacy_post(f"{master}/machine/down", [{"hostname": "nowhere"}]) == (
            400, "'start_maintenance.machines[0]': machine nowhere is not part of a maintenance "
            "schedule")  # fmt: skip
        status_, text = legacy_post(f"{master}/maintenance/schedule", {"windows": [{}]})
        assert status_ == 400 and "unavailability" in text
        assert legacy_post(f"{master}/maintenance/schedule", schedule) == (200, "")
        assert legacy_post(
            f"{master}/machine/down", [{"hostname": "127.0.0.1", "ip": "127.0.0.1"}]
        ) == (200, "")
        assert http_json(f"{master}/master/state")["slaves"] == []
        assert legacy_post(
            f"{master}/machine/up", [{"ip": "127.0.0.1", "hostname": "127.0.0.1"}]
        ) == (200, "")
        cluster.wait_for_agents(1, timeout=60)


def legacy_post(url: str, body: object) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
