"""Shared fixtures: real local clusters, and a check that no test leaves processes behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psutil
import pytest

from corral.testing import LocalCluster, pid_alive, wait_until
from corral.testing.zookeeper import ZkEnsemble, zookeeper_available


def _descendants() -> set[int]:
    try:
        return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    except psutil.Error:
        return set()


# Every process this test run starts inherits this mark, launchers included: they outlive
# their agents by design (so are not our children), and a user's own `corral up` or another
# test run on the same machine must not fail our leak check.
_RUN_MARK = "CORRAL_TEST_RUN"
os.environ[_RUN_MARK] = f"{os.getpid()}-{uuid.uuid4().hex}"


def _launchers() -> set[int]:
    """corral launchers that this test run started, wherever they are in the process tree."""
    mark = os.environ[_RUN_MARK]
    out = set()
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "corral.agent.launcher" not in cmd:
            continue
        try:
            if p.environ().get(_RUN_MARK) == mark:
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves a child process of the test run, or a launcher, alive."""
    before = _descendants()
    launchers_before = _launchers()
    yield
    try:
        wait_until(
            lambda: not {pid for pid in _launchers() - launchers_before if pid_alive(pid)}, 5
        )
    except TimeoutError:
        pass
    left = {pid for pid in _launchers() - launchers_before if pid_alive(pid)}
    assert not left, f"test left corral launchers running: {sorted(left)}"
    def leaked_now() -> list[str]:
        out = []
        for pid in _descendants() - before:
            try:
                p = psutil.Process(pid)
                if p.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                    out.append(f"{pid} {' '.join(p.cmdline())[:120]}")
            except psutil.Error:
                pass
        return out

    # A process killed at the end of the test may still be exiting (its cmdline already
    # empty): give it a moment, as the launchers above.
    try:
        wait_until(lambda: not leaked_now(), 5)
    except TimeoutError:
        pass
    leaked = leaked_now()
    assert not leaked, f"test left processes running: {leaked}"


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A master and one agent (4 cpus, 4 GB), fast pings and status-update retries."""
    with LocalCluster(
        1,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        yield c


@pytest.fixture
def cluster2() -> Iterator[LocalCluster]:
    """A master and two agents."""
    with LocalCluster(
        2,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
        agent_flags=["--status-update-retry", "1"],
    ) as c:
        yield c


@pytest.fixture(scope="module")
def zk() -> Iterator[ZkEnsemble]:
    """A real 3-node ZooKeeper ensemble on 127.0.0.1 (tickTime 500 ms: 1 s minimum sessions)."""
    why = zookeeper_available()
    if why:
        pytest.skip(why)
    with ZkEnsemble(3) as ensemble:
        yield ensemble
