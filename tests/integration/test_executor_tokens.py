"""--authenticate-http-executors: each custom executor speaks to its agent with its own
token; another executor's token, or none, is refused; tokens outlive an agent restart."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from recorder import Recorder, connected

from corral.resources import scalars
from corral.testing import LocalCluster, wait_until
from corral.wire.base import ID
from corral.wire.tasks import CommandInfo, ExecutorInfo, TaskInfo

pytestmark = pytest.mark.integration

EXECUTOR = Path(__file__).with_name("token_executor.py")


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    # Per test: the test restarts the agent, a child of the test itself then.
    flags = ["--containerizers", "process", "--authenticate-http-executors"]
    with LocalCluster(1, agent_flags=flags) as c:
        yield c


def executor_task(tid: str, executor_id: str, agent_id: ID) -> TaskInfo:
    executor = ExecutorInfo(
        executor_id=ID(executor_id),
        command=CommandInfo(value=f"exec {sys.executable} {EXECUTOR}"),
        resources=scalars(cpus=0.1, mem=32).to_wire(),
    )
    return TaskInfo(
        name=tid,
        task_id=ID(tid),
        agent_id=agent_id,
        resources=scalars(cpus=0.1, mem=32).to_wire(),
        executor=executor,
    )


def tokens(cluster: LocalCluster) -> dict[str, str]:
    """executor id -> the token it found in MESOS_EXECUTOR_AUTHENTICATION_TOKEN."""
    out = {}
    for path in cluster.work_dir.rglob("token.json"):
        try:
            seen = json.loads(path.read_text())
        except ValueError:
            continue  # being written
        out[seen["executor_id"]] = seen["token"]
    return out


async def heartbeat(cluster: LocalCluster, fid: str, executor_id: str, token: str | None) -> int:
    """A HEARTBEAT call claiming to be ``executor_id``, with ``token`` (None: no header)."""
    body = {
        "type": "HEARTBEAT",
        "framework_id": {"value": fid},
        "executor_id": {"value": executor_id},
    }
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{cluster.agents[0].port}/api/v1/executor"
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as resp:
        return resp.status


async def launch(driver: Any, rec: Recorder, tid: str, executor_id: str) -> None:
    offer = await rec.next_offer()
    await driver.launch([offer.id.value], [executor_task(tid, executor_id, offer.agent_id)])
    await rec.wait_state(tid, "TASK_FINISHED", timeout=30)


async def test_an_executor_speaks_only_with_its_own_token_even_after_an_agent_restart(
    cluster: LocalCluster,
) -> None:
    async with connected(cluster.master, checkpoint=True, failover_timeout=60) as (driver, rec):
        # Each executor subscribes and sends its updates with its own token.
        await launch(driver, rec, "a1", "exec-a")
        await launch(driver, rec, "b1", "exec-b")
        fid = driver.framework_id
        assert fid is not None
        seen = wait_until(lambda: len(tokens(cluster)) == 2 and tokens(cluster), 10, what="tokens")
        a, b = seen["exec-a"], seen["exec-b"]
        assert a and b and a != b
        assert await heartbeat(cluster, fid, "exec-a", a) == 202
        assert await heartbeat(cluster, fid, "exec-a", b) == 403  # another executor's token
        assert await heartbeat(cluster, fid, "exec-a", None) == 401
        assert await heartbeat(cluster, fid, "exec-a", "0" * 64) == 403
        assert await heartbeat(cluster, fid, "no-such-executor", a) == 403

        # The agent restarts and recovers: the executors it launched before keep their tokens.
        agent = cluster.agents[0]
        cluster.kill_agent(agent)
        cluster.restart_agent(agent)
        await launch(driver, rec, "a2", "exec-a")  # re-subscribed, updates accepted
        assert await heartbeat(cluster, fid, "exec-a", a) == 202
        assert await heartbeat(cluster, fid, "exec-a", b) == 403
