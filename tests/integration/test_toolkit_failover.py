"""Two instances of the example toolkit framework on one store; the leader killed -9.

The standby must take over with the same framework id, and keep exactly the tasks the
leader launched: none lost, none launched twice (checked in the master's /master/state).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.testing import LocalCluster, wait_until
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
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
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
