"""Preemption on a real cluster: one small agent, full with a low-priority preemptible
services app; a high-priority app preempts it. The low app's task is killed with
REASON_CONTAINER_PREEMPTED, the high one runs, and /master/preemptions and
`corral preemptions` say what happened and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, free_port, http_json, wait_until

pytestmark = pytest.mark.integration


def post(url: str, doc: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(doc).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def running(api: str, app: str) -> list[str]:
    tasks = http_json(f"{api}/v2/apps/{app}/tasks")["tasks"]
    return [t["id"] for t in tasks if t["state"] == "TASK_RUNNING"]


def completed(master: str) -> dict[str, dict[str, Any]]:
    """Every completed task at the master (operator API), by id."""
    _, doc = post(f"http://{master}/api/v1", {"type": "GET_TASKS"})
    return {t["task_id"]["value"]: t for t in doc["get_tasks"].get("completed_tasks", [])}


def test_a_high_priority_app_preempts_a_low_priority_preemptible_one(tmp_path: Path) -> None:
    flags = ["--preemption-notice", "1", "--preemption-hold", "10"]
    with LocalCluster(
        1, agent_resources="cpus:1;mem:256;disk:1000;ports:[31000-31010]", master_flags=flags
    ) as cluster:
        port = free_port()
        cluster.start_framework("services", port, ["--work-dir", str(tmp_path / "services")])
        api = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_json(f"{api}/v2/info")["elected"], 30, what="services leading")
        low = {
            "id": "/low", "cmd": "sleep 600", "cpus": 0.6, "mem": 64, "instances": 1,
            "labels": {"corral.tier": "preemptible", "corral.priority": "0"},
        }  # fmt: skip
        status, _ = post(f"{api}/v2/apps", low)
        assert status == 201
        (victim,) = wait_until(lambda: running(api, "low"), 60, what="the low app running")
        # A bad priority is refused, naming the label.
        status, doc = post(f"{api}/v2/apps", {**low, "id": "/bad",
                                              "labels": {"corral.priority": "urgent"}})  # fmt: skip
        assert status == 422 and "corral.priority" in json.dumps(doc)
        high = {"id": "/high", "cmd": "sleep 600", "cpus": 0.6, "mem": 64, "instances": 1,
                "labels": {"corral.priority": "10"}}  # fmt: skip
        status, _ = post(f"{api}/v2/apps", high)
        assert status == 201
        wait_until(lambda: running(api, "high"), 90, what="the high app running (preempting)")
        gone = wait_until(lambda: completed(cluster.master).get(victim), 30,
                          what="the low task completed at the master")  # fmt: skip
        assert gone["state"] == "TASK_KILLED"
        assert [s.get("reason") for s in gone["statuses"]][-1] == "REASON_CONTAINER_PREEMPTED"
        assert running(api, "low") == []  # no room: it waits, and cannot preempt the high one
        (p,) = http_json(f"http://{cluster.master}/master/preemptions")["preemptions"]
        assert p["framework_name"] == "services" and p["priority"] == 10
        (v,) = p["victims"]
        assert v["task_id"] == victim and v["tier"] == "preemptible"
        assert v["reason"].startswith(f"task {victim} (priority 0, preemptible) preempted for")
        assert p["hold"] == "OFFERED"
        env = {**os.environ, "CORRAL_MASTER": cluster.master, "COLUMNS": "250"}
        r = subprocess.run([sys.executable, "-m", "corral", "preemptions"], capture_output=True,
                           text=True, timeout=30, env=env)  # fmt: skip
        assert r.returncode == 0 and victim in r.stdout and "preempted for" in r.stdout, r.stderr
        r = subprocess.run([sys.executable, "-m", "corral", "preemptions", "--json"],
                           capture_output=True, text=True, timeout=30, env=env)  # fmt: skip
        assert json.loads(r.stdout)["preemptions"][0]["victims"][0]["task_id"] == victim
        # The low app's instance comes back once there is room again.
        req = urllib.request.Request(f"{api}/v2/apps/high?force=true", method="DELETE")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        wait_until(lambda: running(api, "low"), 60, what="the low app running again")
