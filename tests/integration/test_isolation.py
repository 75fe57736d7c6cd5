"""The linux containerizer for real: cgroup v1 limits, OOM reason, pid namespaces, cleanup."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder import connected, task

from corral.agent.cgroups import CONTROLLERS, ROOT, own_cgroups, unavailable
from corral.resources import scalars
from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration

WHY = unavailable()
if WHY:
    pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=f"no cgroups here: {WHY}")]


def container_dirs() -> list[Path]:
    """Every container cgroup corral could have left under this process's cgroups."""
    own = own_cgroups()
    out: list[Path] = []
    for c in CONTROLLERS:
        parent = ROOT / c / own.get(c, "/").lstrip("/") / "corral"
        if parent.is_dir():
            out += [p for p in parent.iterdir() if p.is_dir()]
    return out


@pytest.fixture
def linux() -> Iterator[LocalCluster]:
    before = set(container_dirs())
    with LocalCluster(
        1,
        agent_flags=[
            "--containerizers",
            "linux",
            "--cgroups-enable-cfs",
            "--cgroups-pids-max",
            "64",
        ],
    ) as c:
        yield c
    # Nothing left behind once the agent (and its launcher) stopped.
    assert set(container_dirs()) - before == set()


def stdout_of(c: LocalCluster, task_id: str, name: str = "stdout") -> str:
    state = http_json(f"http://127.0.0.1:{c.agents[0].port}/state")
    for f in state["frameworks"] + state["completed_frameworks"]:
        for ex in f["executors"]:
            for t in ex["tasks"] + ex["completed_tasks"]:
                if t["id"] == task_id:
                    q = urllib.parse.urlencode({"path": ex["directory"] + "/" + name, "offset": 0})
                    return str(
                        http_json(f"http://127.0.0.1:{c.agents[0].port}/files/read?{q}")["data"]
                    )
    raise AssertionError(task_id)


async def test_memory_limit_ends_the_task_with_the_memory_reason(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        hog = task("hog", offer, "python3 -c 'x = bytearray(200 << 20)'", scalars(cpus=0.2, mem=64))
        await driver.launch([offer.id.value], [hog])
        failed = await rec.wait_state("hog", "TASK_FAILED", timeout=30)
        assert failed.reason == "REASON_CONTAINER_LIMITATION_MEMORY"
        assert "Memory limit exceeded" in (failed.message or "")


async def test_tasks_see_only_their_own_processes(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch(
            [offer.id.value], [task("neighbour", offer, "sleep 300")], refuse_seconds=0
        )
        await rec.wait_state("neighbour", "TASK_RUNNING")
        offer = await rec.next_offer()
        looker = task("looker", offer, "echo $$; ps -eo comm | grep -c sleep || true")
        await driver.launch([offer.id.value], [looker])
        await rec.wait_state("looker", "TASK_FINISHED")
        pid, sleeps = stdout_of(linux, "looker").split()
        assert pid == "1"  # the task is pid 1 of its own namespace
        assert sleeps == "0"  # and cannot see the neighbour's sleep
        containers = http_json(f"http://127.0.0.1:{linux.agents[0].port}/containers")
        stats = containers[0]["statistics"]
        assert containers[0]["containerizer"] == "linux"
        assert stats["mem_limit_bytes"] == 32 << 20 and stats["processes"] >= 1
        await driver.kill("neighbour")
        await rec.wait_state("neighbour", "TASK_KILLED")


async def test_cpu_quota_throttles_and_pids_limit_stops_a_fork_bomb(linux: LocalCluster) -> None:
    async with connected(linux.master) as (driver, rec):
        offer = await rec.next_offer()
        spin = task("spin", offer, "while :; do :; done", scalars(cpus=0.1, mem=32))
        bomb_cmd = "i=0; while [ $i -lt 200 ]; do sleep 60 & i=$((i+1)); done; echo done"
        bomb = task("bomb", offer, bomb_cmd, scalars(cpus=0.1, mem=64))
        await driver.launch([offer.id.value], [spin, bomb])
        await rec.wait_state("spin", "TASK_RUNNING")
        # The shell cannot fork past --cgroups-pids-max and gives up.
        ended = await rec.wait_for(
            lambda: [
                u for u in rec.updates if u.task_id.value == "bomb" and u.state == "TASK_FAILED"
            ],
            30,
            "the fork bomb to be stopped",
        )
        assert ended[-1].message == "Command exited with status 2"
        assert "fork" in stdout_of(linux, "bomb", "stderr").lower()

        def throttled() -> bool:
            for ctr in http_json(f"http://127.0.0.1:{linux.agents[0].port}/containers"):
                if ctr["executor_id"]["value"] == "spin":
                    return bool(ctr["statistics"].get("cpus_nr_throttled", 0) > 0)
            return False

        wait_until(throttled, 15, what="the CFS quota to throttle the spinning task")
        await driver.kill("spin")
        await rec.wait_state("spin", "TASK_KILLED")
