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
