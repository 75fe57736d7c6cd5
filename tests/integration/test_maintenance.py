"""Agent maintenance on a real cluster, through the CLI: deactivate and reactivate, drain
(the framework is told, then its task is killed with the grace capped), mark gone."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration


def corral(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_MASTER": cluster.master}
    return subprocess.run(
        [sys.executable, "-m", "corral", *args], capture_output=True, text=True, timeout=60,
        env=env,
    )  # fmt: skip


def agent_view(cluster: LocalCluster) -> dict[str, Any]:
    (a,) = http_json(f"http://{cluster.master}/master/state")["slaves"]
    return dict(a)


def task_states(cluster: LocalCluster) -> dict[str, str]:
    state = http_json(f"http://{cluster.master}/master/state")
    return {
        t["name"]: t["state"]
        for f in state["frameworks"] + state["completed_frameworks"]
        for t in f["tasks"] + f["completed_tasks"]
    }


def test_deactivate_drain_reactivate_and_gone() -> None:
    with LocalCluster(1, master_flags=["--drain-notice", "1"]) as cluster:
        host = f"127.0.0.1:{cluster.agents[0].port}"
        r = corral(cluster, "agent", "deactivate", host)
        assert r.returncode == 0, r.stderr
        assert agent_view(cluster)["deactivated"] is True
        r = corral(cluster, "run", "--timeout", "3", "--", "true")
        assert r.returncode == 124 and "gave up waiting for 1 of 1" in r.stderr  # no offers
        r = corral(cluster, "agent", "reactivate", host)
        assert r.returncode == 0 and agent_view(cluster)["active"] is True
        # A task that ignores SIGTERM: the drain's kill grace (capped at 0.5 s) ends it.
        r = corral(cluster, "run", "--detach", "--name", "stubborn", "--kill-grace", "60", "--",
                   "trap '' TERM; sleep 600")  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = corral(cluster, "agent", "drain", host, "--max-grace", "0.5")
        assert r.returncode == 0 and "draining agent" in r.stdout, r.stderr
        assert agent_view(cluster)["drain_info"]["state"] == "DRAINING"
        wait_until(
            lambda: set(task_states(cluster).values()) == {"TASK_KILLED"}, 30,
            what="the drained task killed within the capped grace",
        )  # fmt: skip
        wait_until(lambda: agent_view(cluster)["drain_info"]["state"] == "DRAINED", 10,
                   what="the agent DRAINED")  # fmt: skip
        assert agent_view(cluster)["drain_info"]["config"] == {
            "mark_gone": False,
            "max_grace_period": {"nanoseconds": 500_000_000},
        }
        r = corral(cluster, "agent", "reactivate", host)
        assert r.returncode == 0 and "drain_info" not in agent_view(cluster)
        r = corral(cluster, "run", "--", "echo back")
        assert r.returncode == 0 and "back" in r.stdout
        # Bad input names what is wrong, and nothing changes.
        r = corral(cluster, "agent", "drain", "no-such-host")
        assert r.returncode == 1 and "no agent 'no-such-host'" in r.stderr
        # Gone for good.
        agent_id = agent_view(cluster)["id"]
        r = corral(cluster, "agent", "gone", agent_id)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: not http_json(f"http://{cluster.master}/master/state")["slaves"], 10,
                   what="the agent removed")  # fmt: skip


def test_draining_an_agent_moves_the_services_instances_first(tmp_path: Any) -> None:
    import json
    import time
    import urllib.request

    from corral.testing import free_port

    with LocalCluster(2, master_flags=["--drain-notice", "120"]) as cluster:
        port = free_port()
        cluster.start_framework("services", port, ["--work-dir", str(tmp_path / "services")])
        api = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_json(f"{api}/v2/info")["elected"], 30, what="services leading")
        app = {"id": "/web", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 2}
        req = urllib.request.Request(
            f"{api}/v2/apps",
            data=json.dumps(app).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201

        def running() -> dict[str, str]:
            tasks = http_json(f"{api}/v2/apps/web/tasks")["tasks"]
            return {t["id"]: t["slaveId"] for t in tasks if t["state"] == "TASK_RUNNING"}

        first = wait_until(lambda: len(running()) == 2 and running(), 60, what="2 instances")
        agent = sorted(first.values())[0]
        started = time.monotonic()
        r = corral(cluster, "agent", "drain", agent)
        assert r.returncode == 0, r.stderr
        moved = wait_until(
            lambda: (now := running()) and len(now) == 2 and agent not in now.values() and now,
            60,
            what="both instances running on the other agent",
        )
        assert not set(moved) & {t for t, a in first.items() if a == agent}

        def drained() -> bool:
            slaves = http_json(f"http://{cluster.master}/master/state")["slaves"]
            (view,) = [a for a in slaves if a["id"] == agent]
            return bool(view.get("drain_info", {}).get("state") == "DRAINED")

        wait_until(drained, 60, what="the agent DRAINED once services accepted")
        assert time.monotonic() - started < 120  # the framework answered: no notice waited out
        killed = [
            t for f in http_json(f"http://{cluster.master}/master/state")["frameworks"]
            for t in f["completed_tasks"] if t["slave_id"] == agent
        ]  # fmt: skip
        assert killed and all(t["state"] == "TASK_KILLED" for t in killed)


def test_teardown_kills_a_frameworks_tasks(cluster: LocalCluster) -> None:
    r = corral(cluster, "run", "--detach", "--name", "doomed", "--", "sleep 600")
    assert r.returncode == 0, r.stderr
    (fw,) = http_json(f"http://{cluster.master}/master/state")["frameworks"]
    r = corral(cluster, "teardown", "no-such-framework")
    assert r.returncode == 1 and "no framework 'no-such-framework'" in r.stderr
    r = corral(cluster, "teardown", fw["id"])
    assert r.returncode == 0 and f"tore down framework {fw['id']} (doomed)" in r.stdout
    state = http_json(f"http://{cluster.master}/master/state")
    assert not state["frameworks"]
    (done,) = state["completed_frameworks"]
    assert [t["state"] for t in done["completed_tasks"]] == ["TASK_KILLED"]
