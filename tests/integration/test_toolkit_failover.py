"""Two instances of the example toolkit framework on one store; the leader killed -9.

The standby must take over with the same framework id, and keep exactly the tasks the
leader launched: none lost, none launched twice (checked in the master's /master/state).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.coordination.lease import LeaseTable
from corral.resources import scalars
from corral.scheduler_client import Fenced, Runner
from corral.scheduler_client.placement import TaskSpec
from corral.scheduler_client.planner import Goal
from corral.scheduler_client.toolkit import Framework
from corral.testing import LocalCluster, stop_process, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sleepers.py"


class Instance:
    def __init__(self, master: str, state: str, log: Path, count: int) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE),
                "--master",
                master,
                "--state",
                state,
                "--count",
                str(count),
                "--lease-ttl",
                "1.5",
                "--zk-session-timeout",
                "2",
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def leading(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"instance exited with {self.popen.returncode}:\n{self.text()}")
        return "leading (framework id" in self.text()

    def stop(self) -> None:
        stop_process(self.popen, grace=10)
        self._out.close()


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    started: list[Instance] = []
    yield started
    for inst in started:
        inst.stop()


def sleepers(cluster: LocalCluster) -> list[dict[str, Any]]:
    return [f for f in cluster.state()["frameworks"] if f["name"] == "sleepers"]


def running_ids(cluster: LocalCluster) -> set[str] | None:
    fws = sleepers(cluster)
    if len(fws) != 1 or not fws[0]["active"]:
        return None
    return {t["id"] for t in fws[0]["tasks"] if t["state"] == "TASK_RUNNING"}


def failover(
    cluster: LocalCluster, master: str, state: str, tmp_path: Path, instances: list[Instance]
) -> None:
    first = Instance(master, state, tmp_path / "first.log", 3)
    instances.append(first)
    wait_until(first.leading, 30, what="the first instance to lead")
    second = Instance(master, state, tmp_path / "second.log", 3)
    instances.append(second)
    ids = wait_until(lambda: (r := running_ids(cluster)) and len(r) == 3 and r, 60, what="3 tasks")
    framework_id = sleepers(cluster)[0]["id"]
    assert not second.leading(), second.text()

    os.kill(first.popen.pid, signal.SIGKILL)  # the leader dies without a word
    first.popen.wait(10)
    wait_until(second.leading, 30, what="the standby to take over")
    wait_until(lambda: sleepers(cluster)[0]["active"], 30, what="re-subscription")
    assert f"framework id {framework_id}" in second.text()

    fws = sleepers(cluster)
    assert len(fws) == 1 and fws[0]["id"] == framework_id
    # It reconciled: the same three tasks, none lost and none launched again.
    wait_until(lambda: "subscribed as" in second.text(), 20, what="the standby subscribed")
    assert running_ids(cluster) == ids
    launched = [t["id"] for t in fws[0]["tasks"]] + [t["id"] for t in fws[0]["completed_tasks"]]
    assert sorted(launched) == sorted(ids), launched

    # The new leader keeps them alive: kill one, and exactly one replacement appears.
    victim = sorted(ids)[0]
    agent = cluster.agents[0]
    os.kill(task_pid(cluster, victim), signal.SIGKILL)
    new_ids = wait_until(
        lambda: (r := running_ids(cluster)) and len(r) == 3 and victim not in r and r,
        60,
        what="a replacement task",
    )
    assert len(new_ids - ids) == 1
    assert agent is cluster.agents[0]


def task_pid(cluster: LocalCluster, task_id: str) -> int:
    import psutil

    for p in psutil.process_iter(["environ", "cmdline"]):
        try:
            env = p.info["environ"] or {}
        except (psutil.Error, KeyError):
            continue
        if env.get("MESOS_TASK_ID") == task_id and "sleep" in " ".join(p.info["cmdline"] or []):
            return int(p.pid)
    raise LookupError(f"no process for task {task_id}")


def test_sqlite_standby_takes_over(
    cluster: LocalCluster, tmp_path: Path, instances: list[Instance]
) -> None:
    failover(cluster, cluster.master, str(tmp_path / "state"), tmp_path, instances)


def test_zookeeper_standby_takes_over(
    zk: ZkEnsemble, cluster: LocalCluster, tmp_path: Path, instances: list[Instance]
) -> None:
    state = zk.url(f"/sleepers-{uuid.uuid4().hex[:8]}")
    failover(cluster, cluster.master, state, tmp_path, instances)


async def test_a_leader_that_loses_its_lease_is_fenced_at_once(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """In one process: the leader's lease is taken; it stops making calls and run() returns,
    leaving the framework and its tasks to the next leader (no TEARDOWN)."""

    class One(Framework):
        name = "sleepers"

        def desired(self) -> list[Goal]:
            spec = TaskSpec("sleeper", scalars(cpus=0.1, mem=32), group="sleeper")
            return [Goal(spec, 1, command="sleep 600")]

    state = tmp_path / "state"
    runner = Runner(One(), cluster.master, state, lease_ttl=1.5)
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.leading.wait(), 15)

        def one_running() -> bool:
            ids = running_ids(cluster)
            return ids is not None and len(ids) == 1

        await asyncio.to_thread(wait_until, one_running, 30, 0.1, "one task")
        thief = LeaseTable(state / "sleepers.sqlite")
        thief.try_claim("sleepers", "thief", 60, now=time.time() + 60)
        thief.close()
        await asyncio.wait_for(running, 10)
        assert runner.fenced and runner.driver is not None and runner.driver.fenced
        with pytest.raises(Fenced):
            await runner.driver.revive()
        fws = sleepers(cluster)
        assert len(fws) == 1 and len(fws[0]["tasks"]) == 1  # not torn down: tasks kept
        await asyncio.to_thread(
            wait_until, lambda: not sleepers(cluster)[0]["active"], 10, 0.1, "disconnected"
        )
    finally:
        if not running.done():
            running.cancel()
