"""Election between framework instances on one SQLite file, and fencing of the loser."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from corral.coordination.lease import Lease, LeaseElection, LeaseTable, claim
from corral.scheduler_client.driver import Fenced, Scheduler, SchedulerDriver
from corral.wire import scheduler as s
from corral.wire.common import FrameworkInfo


def test_claim_rules() -> None:
    first = claim(None, "a", now=0, ttl=5)
    assert first == Lease("a", 5, 1)
    assert claim(first, "b", now=4.9, ttl=5) is None  # held by a
    assert claim(first, "a", now=4, ttl=5) == Lease("a", 9, 1)  # renewed, same epoch
    assert claim(first, "b", now=5, ttl=5) == Lease("b", 10, 2)  # expired: b takes it
    # a, back from a pause after its expiry, gets a new epoch: it must notice it lost.
    assert claim(first, "a", now=6, ttl=5) == Lease("a", 11, 2)


def test_two_processes_worth_of_tables_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "fw.sqlite"
    a, b = LeaseTable(path), LeaseTable(path)
    try:
        assert a.try_claim("fw", "A", 5, now=100) == Lease("A", 105, 1)
        assert b.try_claim("fw", "B", 5, now=101) is None
        assert b.read("fw") == Lease("A", 105, 1)
        assert b.try_claim("fw", "B", 5, now=106) == Lease("B", 111, 2)
        assert a.try_claim("fw", "A", 5, now=107) is None  # A lost it
        b.release("fw", "B")
        assert a.try_claim("fw", "A", 5, now=108) == Lease("A", 113, 3)
    finally:
        a.close()
        b.close()


async def test_leader_that_loses_its_lease_is_fenced(tmp_path: Path) -> None:
    path = tmp_path / "fw.sqlite"
    leader = LeaseElection(path, "fw", "A", ttl=1.0)
    await leader.campaign()
    assert leader.lease is not None and leader.lease.holder == "A"
    standby = LeaseElection(path, "fw", "B", ttl=1.0)
    waiting = asyncio.create_task(standby.campaign())
    # Watching for something that must not happen takes time: over 2.5 leases, an unrenewed
    # lease would have gone to B.
    await asyncio.sleep(2.5)
    assert not waiting.done()  # A keeps renewing: B waits
    # A stalls (as if paused) and B takes over once A's lease is out of date:
    thief = LeaseTable(path)
    thief.try_claim("fw", "B", 0.6, now=time.time() + 60)
    thief.close()
    await asyncio.wait_for(leader.lost.wait(), 5)
    assert leader.lease is None
    waiting.cancel()
    await leader.stop()
    await standby.stop()


async def test_stopping_releases_the_lease_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fw.sqlite"
    leader = LeaseElection(path, "fw", "A", ttl=30)
    await leader.campaign()
    standby = LeaseElection(path, "fw", "B", ttl=30)
    waiting = asyncio.create_task(standby.campaign())
    await leader.stop()
    await asyncio.wait_for(waiting, 10)  # not 30 s: the lease was given up
    assert standby.lease is not None and standby.lease.holder == "B"
    await standby.stop()


async def test_fenced_driver_refuses_every_call() -> None:
    driver = SchedulerDriver("127.0.0.1:1", FrameworkInfo(user="u", name="n"), Scheduler())
    driver.framework_id = "f-1"
    driver.fence()
    assert driver.fenced and not driver.connected.is_set()
    with pytest.raises(Fenced):
        await driver.call(s.Call(type="REVIVE"))
    with pytest.raises(Fenced):
        await driver.kill("t", grace_period=1.0)
    await driver.run()  # returns at once: a fenced driver does not subscribe again
