"""The operator calls on a real cluster (one shared): LIST_FILES / READ_FILE on the master
(its log) and the agent (a task's sandbox, nothing outside it), GET_FLAGS with every flag,
the agent's GET_STATE in Mesos's shape, and `corral kill` (KILL_TASK)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(1, log_dirs=True, master_flags=["--drain-notice", "7"]) as c:
        yield c


def corral(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    return subprocess.run(
        [sys.executable, "-m", "corral", *args], capture_output=True, text=True, timeout=60,
        env=env,
    )  # fmt: skip


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"{url}/api/v1", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def agent_url(cluster: LocalCluster) -> str:
    return f"http://127.0.0.1:{cluster.agents[0].port}"


def running_task(cluster: LocalCluster, name: str, command: str) -> tuple[str, str]:
    """A detached task's id and its sandbox directory (from the agent's /state)."""
    r = corral(cluster, "run", "--detach", "--name", name, "--", command)
    assert r.returncode == 0, r.stderr

    def found() -> tuple[str, str] | None:
        for f in http_json(f"{agent_url(cluster)}/state")["frameworks"]:
            for ex in f["executors"]:
                for t in ex["tasks"]:
                    if t["name"].startswith(name) and t["state"] == "TASK_RUNNING":
                        return t["id"], ex["directory"]
        return None

    return wait_until(found, 20, what=f"task {name} running")


def task_state(cluster: LocalCluster, task_id: str) -> str:
    """The task's state as its agent has it (the master learns of a kill when the framework
    acknowledged the earlier update, and `corral run --detach` does not stay to)."""
    state = http_json(f"{agent_url(cluster)}/state")
    for f in state["frameworks"] + state["completed_frameworks"]:
        for ex in f["executors"]:
            for t in ex["tasks"] + ex["completed_tasks"]:
                if t["id"] == task_id:
                    return str(t["state"])
    return ""


def kill(cluster: LocalCluster, task_id: str, grace: float = 0.3) -> None:
    """KILL_TASK, then wait for TASK_KILLED (each test ends the tasks it started)."""
    r = corral(cluster, "kill", task_id, "--grace", str(grace))
    assert r.returncode == 0, r.stderr
    wait_until(lambda: task_state(cluster, task_id) == "TASK_KILLED", 20, what="task killed")


def test_master_list_and_read_its_log(cluster: LocalCluster) -> None:
    m = f"http://{cluster.master}"
    status, body = post(m, {"type": "LIST_FILES", "list_files": {"path": "/master/log"}})
    assert status == 200, body
    (info,) = body["list_files"]["file_infos"]
    assert info["path"] == "/master/log" and info["size"] > 0
    call = {"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0}}
    status, body = post(m, call)
    assert status == 200 and body["read_file"]["size"] >= info["size"]
    assert b"master" in base64.b64decode(body["read_file"]["data"])
    status, body = post(m, {"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}})
    assert status == 404 and "File not found" in body


def test_agent_list_and_read_a_sandbox(cluster: LocalCluster) -> None:
    task_id, sandbox = running_task(cluster, "files", "echo sandbox-marker; sleep 600")
    a = agent_url(cluster)
    status, body = post(a, {"type": "LIST_FILES", "list_files": {"path": sandbox}})
    assert status == 200, body
    names = {i["path"] for i in body["list_files"]["file_infos"]}
    assert f"{sandbox}/stdout" in names
    call = {"type": "READ_FILE", "read_file": {"path": f"{sandbox}/stdout", "offset": 0}}
    data = wait_until(
        lambda: (b := post(a, call)[1]) and b"sandbox-marker" in base64.b64decode(
            b["read_file"]["data"]),
        10, what="the task's stdout",
    )  # fmt: skip
    assert data
    for outside in (f"{sandbox}/../../../etc/passwd", "/etc/passwd"):
        call = {"type": "READ_FILE", "read_file": {"path": outside, "offset": 0}}
        assert post(a, call)[0] == 404
    kill(cluster, task_id)


def test_get_flags_has_every_flag(cluster: LocalCluster) -> None:
    status, body = post(f"http://{cluster.master}", {"type": "GET_FLAGS"})
    assert status == 200
    flags = {f["name"]: f["value"] for f in body["get_flags"]["flags"]}
    assert flags["drain_notice"] == "7.0" and flags["work_dir"].endswith("master0")
    assert "log_dir" in flags and "authenticate_frameworks" in flags
    status, body = post(agent_url(cluster), {"type": "GET_FLAGS"})
    flags = {f["name"]: f["value"] for f in body["get_flags"]["flags"]}
    assert flags["master"] == cluster.master_url and "resources" in flags
    assert "recovery_timeout" in flags and "credential" in flags


def test_agent_get_state_as_mesos(cluster: LocalCluster) -> None:
    task_id, _ = running_task(cluster, "state", "sleep 600")
    status, body = post(agent_url(cluster), {"type": "GET_STATE"})
    assert status == 200, body
    state = body["get_state"]
    assert set(state) >= {"get_tasks", "get_executors", "get_frameworks"}
    tasks = state["get_tasks"]
    assert set(tasks) >= {"launched_tasks", "completed_tasks", "terminated_tasks"}
    (mine,) = [t for t in tasks["launched_tasks"] if t["task_id"]["value"] == task_id]
    frameworks = {f["framework_info"]["id"]["value"] for f in state["get_frameworks"]["frameworks"]}
    assert mine["framework_id"]["value"] in frameworks
    status, body = post(agent_url(cluster), {"type": "GET_CONTAINERS"})
    assert status == 200 and body["get_containers"]["containers"]
    kill(cluster, task_id)


def test_corral_kill(cluster: LocalCluster) -> None:
    r = corral(cluster, "kill", "no-such-task")
    assert r.returncode == 1 and "Task no-such-task is not running" in r.stderr
    task_id, _ = running_task(cluster, "victim", "trap '' TERM; sleep 600")
    kill(cluster, task_id)  # it ignores SIGTERM: SIGKILL after the 0.3 s grace
