"""The one leader link against HA masters: a fixed address that names a standby is followed
(307) to the leader, and clients following ZooKeeper move to the new leader after a failover,
simulated agents of one process sharing one ZooKeeper session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest
from recorder import connected

from corral.testing import LocalCluster, http_json
from corral.testing.simagents import SimAgentPool, SimConfig
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


@pytest.fixture
def ha(zk: ZkEnsemble) -> Iterator[LocalCluster]:
    with LocalCluster(
        0,
        masters=3,
        zk=zk.url(f"/corral-{uuid.uuid4().hex[:8]}"),
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
    ) as c:
        yield c


async def wait(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def agent_count(master: str) -> int:
    state = await asyncio.to_thread(http_json, f"http://{master}/master/state")
    return sum(1 for a in state["slaves"] if a.get("active", True))


def pool_of(master: str, agents: int) -> SimAgentPool:
    return SimAgentPool(SimConfig(master=master, agents=agents, resources="cpus:1;mem:512"))


async def test_a_standbys_address_is_followed_to_the_leader(ha: LocalCluster) -> None:
    leader = ha.master
    li = ha.leader_index()
    standby = next(f"{ha.ip}:{p}" for i, p in enumerate(ha.ports) if i != li)
    pool = pool_of(standby, 5)
    await pool.start()
    try:
        await wait(pool.all_registered, what="agents registered through a standby")
        # the link followed the 307 itself (aiohttp would have, leaving the standby's address)
        assert {a.link.address for a in pool.agents} == {leader}
        assert await agent_count(leader) == 5
        async with connected(standby) as (driver, _):
            assert driver.master == leader
    finally:
        await pool.stop()


async def test_zookeeper_followers_move_to_the_new_leader(ha: LocalCluster) -> None:
    assert ha.zk is not None
    old = ha.master
    pool = pool_of(ha.zk, 20)
    await pool.start()
    try:
        await wait(pool.all_registered, what="agents registered through ZooKeeper")
        assert all(a.link.source is pool.leader for a in pool.agents)  # one ZooKeeper session
        async with connected(ha.zk, failover_timeout=60) as (driver, rec):
            assert driver.master == old
            li = ha.leader_index()
            assert li is not None
            ha.kill_master(li)
            await wait(lambda: ha.leader() not in (None, old), what="a new leader")
            new = ha.master
            await wait(
                lambda: pool.all_registered() and {a.link.address for a in pool.agents} == {new},
                what="agents re-registered with the new leader",
            )
            assert pool.counters.reregistered >= 20
            await wait(lambda: driver.master == new and driver.connected.is_set(), what="SDK")
            assert len(rec.framework_ids) >= 2 and len(set(rec.framework_ids)) == 1
            assert await agent_count(new) == 20
    finally:
        await pool.stop()
