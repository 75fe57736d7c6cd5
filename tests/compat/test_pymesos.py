"""Compatibility: unmodified pymesos 0.3.15 against a real corral master and agent.

pymesos uses threads and blocking sockets (and rewires SIGINT), so every scheduler runs in its
own Python subprocess (tests/compat/pymesos_scheduler.py) with a deadline; it prints a JSON
summary as its last stdout line and exits 0 only when its scenario completed. The custom
executor (tests/compat/pymesos_executor.py) is launched by corral's agent and journals what it
sees to a directory the test reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, pid_alive, wait_until

pymesos = pytest.importorskip("pymesos")

pytestmark = pytest.mark.compat

HERE = Path(__file__).resolve().parent
SCHEDULER_SCRIPT = HERE / "pymesos_scheduler.py"
EXECUTOR_SCRIPT = HERE / "pymesos_executor.py"
SCENARIO_DEADLINE = 20.0  # seconds the scheduler script gives itself
TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}


# ---------------------------------------------------------------------- helpers
def run_scheduler(
    scenario: str, cluster: LocalCluster, journal_dir: Path, *extra: str
) -> dict[str, Any]:
    """Run one scheduler scenario to completion; fail the test with its output otherwise."""
    argv = [
        sys.executable,
        str(SCHEDULER_SCRIPT),
        scenario,
        cluster.master,
        str(SCENARIO_DEADLINE),
        str(journal_dir),
        *extra,
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=SCENARIO_DEADLINE + 15)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    detail = f"\n--- stdout ---\n{stdout[-4000:]}\n--- stderr ---\n{stderr[-6000:]}"
    if timed_out:
        pytest.fail(f"pymesos scheduler {scenario!r} hung past its own deadline{detail}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(
            f"pymesos scheduler {scenario!r} printed no result (rc={proc.returncode}){detail}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["returncode"] = proc.returncode
    result["stderr"] = stderr
    if proc.returncode != 0 or not result["ok"]:
        pytest.fail(
            f"pymesos scheduler {scenario!r} failed (rc={proc.returncode}): {result['error']}"
            f"\nupdates: {json.dumps(result.get('updates'), indent=1)[-3000:]}{detail}"
        )
    return result


def task_updates(
    result: dict[str, Any], task_id: str, reconciliation: bool = False
) -> list[dict[str, Any]]:
    return [
        u
        for u in result["updates"]
        if u["task_id"] == task_id and (u["reason"] == "REASON_RECONCILIATION") == reconciliation
    ]


def final_state(result: dict[str, Any], task_id: str) -> str | None:
    ups = task_updates(result, task_id)
    return ups[-1]["state"] if ups else None


def assert_common(result: dict[str, Any]) -> None:
    """What every scenario must show regardless of its tasks."""
    assert result["framework_id"], result
    assert not result["errors"], f"scheduler got ERROR events: {result['errors']}"
    assert not result["callback_errors"], result["callback_errors"][0]
    # pymesos learnt the version from GET /version and therefore claims GPU_RESOURCES.
    assert result["version"] and re.fullmatch(r"\d+(\.\d+)+", result["version"])
    assert {"type": "GPU_RESOURCES"} in (result["capabilities"] or [])
    assert result["master_info"]["version"] == result["version"]
    # The driver was stopped (TEARDOWN) and its IO thread ended.
    assert result["joined"], "pymesos IO thread did not end after driver.stop()"
    # Implicit acknowledgement needs agent_id on every update that carries a uuid.
    for u in result["updates"]:
        if u["has_uuid"]:
            assert u["agent_id"], f"update with uuid but without agent_id: {u}"
    assert "Missing `" not in result["stderr"], "pymesos dropped an event lacking its payload"
    assert "Thread abort" not in result["stderr"], result["stderr"][-3000:]


def completed_framework(cluster: LocalCluster, framework_id: str) -> dict[str, Any]:
    """Wait until the master lists the framework as completed (torn down); return it."""

    def done() -> dict[str, Any] | None:
        state = cluster.state()
        for f in state["completed_frameworks"]:
            if f["id"] == framework_id and not any(
                g["id"] == framework_id for g in state["frameworks"]
            ):
                return dict(f)
        return None

    return wait_until(done, 10, what=f"framework {framework_id} torn down")


def read_journal(journal_dir: Path) -> dict[int, list[dict[str, Any]]]:
    journals: dict[int, list[dict[str, Any]]] = {}
    for path in journal_dir.glob("executor-*.jsonl"):
        pid = int(path.stem.split("-", 1)[1])
        journals[pid] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return journals


# ---------------------------------------------------------------------- tests
def test_command_tasks_and_reconciliation(cluster: LocalCluster, tmp_path: Path) -> None:
    """Plain command tasks (built-in command executor), implicit acknowledgements, implicit and
    explicit reconciliation, killTask and TEARDOWN, all through pymesos' MesosSchedulerDriver."""
    result = run_scheduler("command", cluster, tmp_path)
    assert_common(result)

    # 1. Terminal states of the short tasks, and the killed long one.
    assert final_state(result, "echo") == "TASK_FINISHED"
    assert final_state(result, "exit0") == "TASK_FINISHED"
    assert final_state(result, "exit3") == "TASK_FAILED"
    assert final_state(result, "long") == "TASK_KILLED"
    for tid in ("echo", "exit0", "exit3", "long"):
        states = [u["state"] for u in task_updates(result, tid)]
        assert "TASK_RUNNING" in states, (tid, states)
        assert [s for s in states if s in TERMINAL] == states[-1:], (tid, states)
        for u in task_updates(result, tid):
            assert u["has_uuid"] and u["source"] == "SOURCE_EXECUTOR", u
    assert "3" in (task_updates(result, "exit3")[-1]["message"] or ""), result["updates"]
    # Only one offer was used; the scheduler declined the rest.
    assert result["offers_seen"] >= 1 and result["offers_declined"] == result["offers_seen"] - 1

    # 2. Implicit reconciliation: the master reports the still-running task (and at most tasks
    #    whose terminal update was not yet acknowledged), from the master, without a uuid.
    implicit = result["implicit"]
    assert all(u["reason"] == "REASON_RECONCILIATION" for u in implicit), implicit
    assert {u["task_id"] for u in implicit} <= {"echo", "exit0", "exit3", "long"}, implicit
    long_implicit = [u for u in implicit if u["task_id"] == "long"]
    assert [u["state"] for u in long_implicit] == ["TASK_RUNNING"], implicit
    for u in implicit:
        assert u["source"] == "SOURCE_MASTER" and not u["has_uuid"], u

    # 3. Explicit reconciliation: the unknown task is TASK_LOST (not PARTITION_AWARE), the known
    #    running one is TASK_RUNNING.
    explicit = [u for u in result["explicit"] if u["reason"] == "REASON_RECONCILIATION"]
    by_task = {u["task_id"]: u for u in explicit}
    assert set(by_task) == {"no-such-task", "long"}, explicit
    assert by_task["no-such-task"]["state"] == "TASK_LOST", explicit
    assert by_task["long"]["state"] == "TASK_RUNNING", explicit
    for u in explicit:
        assert u["source"] == "SOURCE_MASTER" and not u["has_uuid"], u

    # 4. The master agrees: the framework is torn down and all its tasks are completed.
    fw = completed_framework(cluster, result["framework_id"])
    assert not fw["tasks"], fw["tasks"]
    completed = {t["id"]: t["state"] for t in fw["completed_tasks"]}
    assert completed == {
        "echo": "TASK_FINISHED",
        "exit0": "TASK_FINISHED",
        "exit3": "TASK_FAILED",
        "long": "TASK_KILLED",
    }
    wait_until(
        lambda: all(not s["used_resources"]["cpus"] for s in cluster.state()["slaves"]),
        10,
        what="agent resources freed",
    )


EXECUTOR_ID = "compat-pymesos-executor"
EXECUTOR_TASKS = ("exec-task-1", "exec-task-2")


def run_executor_scenario(
    cluster: LocalCluster, tmp_path: Path, cleanup_secs: float = 0.0
) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """Run the custom-executor scenario; return the scheduler's result, the executor's pid and
    its journal, after checking the executor process has ended. ``cleanup_secs``: how long the
    executor's shutdown() takes (it ends early on SIGTERM)."""
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    result = run_scheduler("executor", cluster, journal_dir, str(cleanup_secs))
    assert_common(result)

    pids = set()
    for tid in EXECUTOR_TASKS:
        ups = task_updates(result, tid)
        assert [u["state"] for u in ups] == ["TASK_RUNNING", "TASK_FINISHED"], ups
        data = json.loads(ups[-1]["data"])  # encode_data'd by the executor, relayed verbatim
        assert data["task"] == tid
        pids.add(data["pid"])
    assert len(pids) == 1, f"both tasks should run in one executor process: {pids}"
    pid = pids.pop()

    # TEARDOWN made the agent shut the executor down; the process must be gone.
    wait_until(lambda: not pid_alive(pid), 15, what=f"pymesos executor {pid} to exit")
    journals = read_journal(journal_dir)
    assert set(journals) == {pid}, f"expected exactly one executor process: {list(journals)}"
    return result, pid, journals[pid]


def test_custom_executor_messages_and_shutdown(cluster: LocalCluster, tmp_path: Path) -> None:
    """A pymesos MesosExecutorDriver executor running two tasks, framework messages both ways,
    and the executor's shutdown when the framework tears down."""
    result, _pid, journal = run_executor_scenario(cluster, tmp_path)

    for tid in EXECUTOR_TASKS:
        for u in task_updates(result, tid):
            # pymesos' executor never sets these; the agent must fill them in.
            assert u["executor_id"] == EXECUTOR_ID, u
            assert u["agent_id"], u
            assert u["source"] == "SOURCE_EXECUTOR" and u["has_uuid"], u
        assert task_updates(result, tid)[-1]["message"] == "done by pymesos executor"

    # The framework message went scheduler -> executor and the echo came back.
    agent_id = task_updates(result, EXECUTOR_TASKS[0])[-1]["agent_id"]
    assert result["messages"] == [
        {"executor_id": EXECUTOR_ID, "agent_id": agent_id, "data": "echo:ping-from-scheduler"}
    ]

    # The executor's own view: subscribed with matching ids, ran both tasks, got the message,
    # got SHUTDOWN (its shutdown() ran) and left driver.run() normally.
    events = [e["event"] for e in journal]
    assert events[:2] == ["start", "registered"], events
    assert events.count("launch") == 2 and events.count("message") == 1, events
    assert "shutdown" in events, f"executor never got SHUTDOWN: {events}"
    # (The agent signals the executor only if it outlives its shutdown grace period.)
    exits = [e for e in journal if e["event"] == "exit"]
    assert [e["how"] for e in exits] == ["driver stopped"], journal
    assert "error" not in events and "disconnected" not in events[: events.index("shutdown")], (
        events
    )
    start, registered = journal[0], journal[1]
    assert registered["executor_id"] == EXECUTOR_ID
    assert registered["framework_id"] == result["framework_id"]
    assert registered["agent_id"] == agent_id
    assert registered["env"]["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{cluster.agents[0].port}"
    assert registered["env"]["MESOS_FRAMEWORK_ID"] == result["framework_id"]
    assert registered["env"]["MESOS_EXECUTOR_ID"] == EXECUTOR_ID
    # pymesos' shutdown does os.killpg(0, SIGKILL) after the grace period: the executor must
    # not share a process group or session with the agent or its launcher.
    agent = cluster.agents[0]
    for other in (agent.pid, agent.launcher_pid):
        if other is not None and pid_alive(other):
            assert os.getsid(other) != start["sid"], "executor shares a session with the agent"
            assert os.getpgid(other) != start["pgid"], "executor shares a process group"
    assert agent.popen is not None and agent.popen.poll() is None, "agent died"

    # The master agrees: framework gone, tasks completed, the executor no longer listed.
    fw = completed_framework(cluster, result["framework_id"])
    assert {t["id"]: t["state"] for t in fw["completed_tasks"]} == {
        "exec-task-1": "TASK_FINISHED",
        "exec-task-2": "TASK_FINISHED",
    }
    assert not fw["tasks"]
    wait_until(
        lambda: not any(f["executors"] for f in cluster.state()["frameworks"]),
        10,
        what="no executors left on the master",
    )
    wait_until(
        lambda: all(not s["used_resources"]["cpus"] for s in cluster.state()["slaves"]),
        10,
        what="executor resources freed",
    )


def test_executor_shutdown_gets_its_grace_period(cluster: LocalCluster, tmp_path: Path) -> None:
    """On TEARDOWN the executor gets SHUTDOWN and may spend (part of) the 5 s grace period in
    shutdown() without being signalled."""
    _, _, journal = run_executor_scenario(cluster, tmp_path, cleanup_secs=1.0)
    events = [e["event"] for e in journal]
    assert "shutdown" in events and "cleanup_done" in events, events
    assert "sigterm" not in events, (
        f"agent SIGTERMed the executor within its grace period: {events}"
    )
    done = next(e for e in journal if e["event"] == "cleanup_done")
    assert not done["interrupted_by_sigterm"], journal


def test_version_endpoint_and_operator_api(cluster: LocalCluster, tmp_path: Path) -> None:
    """GET /version is purely dotted (pymesos int()-parses it); MesosOperatorMasterDriver's
    /api/v1 calls answer, before and after a pymesos framework ran."""
    with urllib.request.urlopen(f"{cluster.url}/version", timeout=5) as resp:
        assert resp.status == 200
        version = json.loads(resp.read())["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version

    # pymesos' own parsing: _get_version + the framework property (adds GPU_RESOURCES >= 1.0).
    from pymesos import MesosSchedulerDriver

    sched_driver = MesosSchedulerDriver(None, {"user": "x", "name": "n"}, cluster.master)
    assert sched_driver._get_version(cluster.master) == version
    sched_driver.version = version
    assert {"type": "GPU_RESOURCES"} in sched_driver.framework["capabilities"]

    op_cls = getattr(pymesos, "MesosOperatorMasterDriver", None)
    if op_cls is None:  # pragma: no cover - present in 0.3.15
        pytest.skip("pymesos has no MesosOperatorMasterDriver")
    op = op_cls(cluster.master)  # not started: its calls are plain blocking HTTP

    health = op.getHealth()
    assert health["type"] == "GET_HEALTH" and health["get_health"]["healthy"] is True

    agents = op.getAgents()
    assert agents["type"] == "GET_AGENTS"
    (agent,) = agents["get_agents"]["agents"]
    agent_id = agent["agent_info"]["id"]["value"]
    assert agent["agent_info"]["port"] == cluster.agents[0].port
    assert agent["active"] is True
    res = {r["name"]: r for r in agent["agent_info"]["resources"]}
    assert res["cpus"]["scalar"]["value"] == 4 and res["mem"]["scalar"]["value"] == 4096

    state = op.getState()
    assert state["type"] == "GET_STATE"
    gs = state["get_state"]
    assert {"get_tasks", "get_executors", "get_frameworks", "get_agents"} <= set(gs)
    assert [a["agent_info"]["id"]["value"] for a in gs["get_agents"]["agents"]] == [agent_id]

    assert op.getFrameworks()["get_frameworks"].get("frameworks", []) == []
    assert op.getTasks()["get_tasks"].get("tasks", []) == []

    # After a pymesos framework ran and tore down, the operator API shows its history.
    result = run_scheduler("command", cluster, tmp_path)
    fid = result["framework_id"]
    completed_framework(cluster, fid)

    fws = op.getFrameworks()
    assert fws["type"] == "GET_FRAMEWORKS"
    assert fid not in [
        f["framework_info"]["id"]["value"] for f in fws["get_frameworks"].get("frameworks", [])
    ]
    assert fid in [
        f["framework_info"]["id"]["value"]
        for f in fws["get_frameworks"].get("completed_frameworks", [])
    ], fws

    tasks = op.getTasks()
    assert tasks["type"] == "GET_TASKS"
    gt = tasks["get_tasks"]
    assert gt.get("tasks", []) == []
    completed = {
        t["task_id"]["value"]: t
        for t in gt.get("completed_tasks", [])
        if t["framework_id"]["value"] == fid
    }
    assert {k: v["state"] for k, v in completed.items()} == {
        "echo": "TASK_FINISHED",
        "exit0": "TASK_FINISHED",
        "exit3": "TASK_FAILED",
        "long": "TASK_KILLED",
    }, gt
    for t in completed.values():
        assert t["agent_id"]["value"] == agent_id
