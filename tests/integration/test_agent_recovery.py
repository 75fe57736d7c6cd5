"""An agent killed and restarted with the same work dir loses no task and no exit code."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from recorder import connected, task

from corral.testing import LocalCluster, http_json, pid_alive, wait_until
from corral.testing.cluster import host_pid

pytestmark = pytest.mark.integration


def agent_task_dirs(cluster: LocalCluster) -> dict[str, str]:
    state = http_json(f"http://127.0.0.1:{cluster.agents[0].port}/state")
    return {
        t["id"]: ex["directory"]
        for f in state["frameworks"] + state["completed_frameworks"]
        for ex in f["executors"]
        for t in ex["tasks"] + ex["completed_tasks"]
    }


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_agent_restart_keeps_tasks_and_reports_exits(cluster: LocalCluster, sig: int) -> None:
    async with connected(cluster.master, failover_timeout=60) as (driver, rec):
        offer = await rec.next_offer()
        waiter = "while [ ! -f go ]; do sleep 0.02; done; exit 7"
        await driver.launch(
            [offer.id.value],
            [
                task("long", offer, "echo $$ > pid; sleep 300"),
                task("ends-while-down", offer, waiter),
            ],
        )
        await rec.wait_state("long", "TASK_RUNNING")
        await rec.wait_state("ends-while-down", "TASK_RUNNING")
        dirs = agent_task_dirs(cluster)
        ns_pid = wait_until(lambda: int(Path(dirs["long"], "pid").read_text()), 10, what="pid file")
        # $$ is a namespace pid under the linux containerizer: find the task on the host.
        pid = wait_until(lambda: host_pid(ns_pid, dirs["long"]), 10, what="the task's host pid")
        agent_id = cluster.state()["slaves"][0]["id"]

        agent = cluster.agents[0]
        cluster.kill_agent(agent, sig)
        # While the agent is down, one task ends; the launcher keeps its exit status.
        Path(dirs["ends-while-down"], "go").touch()
        assert pid_alive(pid)
        cluster.restart_agent(agent)

        failed = await rec.wait_state("ends-while-down", "TASK_FAILED", timeout=20)
        assert failed.message == "Command exited with status 7"
        state = cluster.state()
        assert [s["id"] for s in state["slaves"]] == [agent_id]
        running = [t["id"] for f in state["frameworks"] for t in f["tasks"]]
        assert running == ["long"]
        assert pid_alive(pid)
        assert "TASK_LOST" not in rec.states("long") + rec.states("ends-while-down")
        # The adopted task is still under the agent's control.
        await driver.kill("long")
        await rec.wait_state("long", "TASK_KILLED")
        wait_until(lambda: not pid_alive(pid), 10, what="the adopted task to be killed")


async def test_recover_cleanup_kills_what_was_left(cluster: LocalCluster) -> None:
    async with connected(cluster.master, failover_timeout=60) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("orphan", offer, "echo $$ > pid; sleep 300")])
        await rec.wait_state("orphan", "TASK_RUNNING")
        directory = agent_task_dirs(cluster)["orphan"]
        ns_pid = wait_until(lambda: int(Path(directory, "pid").read_text()), 10, what="pid file")
        pid = wait_until(lambda: host_pid(ns_pid, directory), 10, what="the task's host pid")
        agent = cluster.agents[0]
        cluster.kill_agent(agent)
        cluster.restart_agent(agent, ["--recover", "cleanup"])
        wait_until(lambda: not pid_alive(pid), 15, what="cleanup to kill the old task")
        # A new identity; the old agent's task is reported gone once the old agent times out.
        lost = await rec.wait_state("orphan", "TASK_UNREACHABLE", timeout=20)
        assert lost.reason == "REASON_AGENT_REMOVED"
