"""No orphans, no floods: a launcher whose agent does not come back within --recovery-timeout
kills its tasks and exits; an agent that keeps losing its launcher backs off and says so once
in a while, not thousands of times a second."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from recorder import connected, sandbox_of, task

from corral.agent.launcher_client import LauncherClient
from corral.testing import LocalCluster, pid_alive, wait_until
from corral.testing.cluster import host_pid

pytestmark = pytest.mark.integration


async def test_a_launcher_without_its_agent_kills_its_tasks_and_exits(tmp_path: Path) -> None:
    with LocalCluster(1, work_dir=tmp_path, agent_flags=["--recovery-timeout", "2"]) as cluster:
        async with connected(cluster.master) as (driver, rec):
            offer = await rec.next_offer()
            await driver.launch(
                [offer.id.value], [task("orphan", offer, "echo $$ > pid; exec sleep 300")]
            )
            await rec.wait_state("orphan", "TASK_RUNNING")
            sandbox = Path(sandbox_of(cluster, "orphan"))
            pid = wait_until(
                lambda: (sandbox / "pid").exists()
                and host_pid(int((sandbox / "pid").read_text()), sandbox),
                10,
                what="the task's pid",
            )
            agent = cluster.agents[0]
            launcher = agent.launcher_pid
            assert launcher is not None and pid_alive(launcher) and pid_alive(pid)
            cluster.kill_agent(agent)  # gone, and not coming back
            wait_until(lambda: not pid_alive(pid), 20, what="the orphaned task killed")
            wait_until(lambda: not pid_alive(launcher), 20, what="the launcher to exit")
            log = (agent.work_dir / "launcher" / "launcher.log").read_text()
            assert "no agent for 2 s (--recovery-timeout): killing 1 container(s)" in log


async def test_launcher_clients_that_keep_kicking_each_other_back_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two agents on one launcher directory (what two `corral up` on one directory once did):
    each connection closes the other's. Each client backs off and logs the loss rarely."""
    caplog.set_level(logging.ERROR, logger="corral.agent")
    a = LauncherClient(tmp_path, lambda r: None, recovery_timeout=0)
    b = LauncherClient(tmp_path, lambda r: None, recovery_timeout=0)
    await a.connect()
    await b.connect()
    try:
        await asyncio.sleep(3)  # the flood, if any, happens in this window
    finally:
        pid = a.pid
        await a.close()
        await b.close()
        if pid is not None:
            import os
            import signal

            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not pid_alive(pid), 10, what="the launcher to stop")
    lost = [r for r in caplog.records if "lost the launcher" in r.getMessage()]
    assert 1 <= len(lost) <= 4, len(lost)  # at most once per 10 s per client
    assert a.attempts + b.attempts >= 4  # they backed off instead of retrying at once
