"""The simulated agents against a real master: they follow the agent protocol, and the tasks
they pretend to run reach the right states, as seen by a framework on the public SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from recorder import connected, task

from corral.resources import scalars
from corral.testing import LocalCluster, http_json
from corral.testing.simagents import SimAgentPool, SimConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def master() -> LocalCluster:
    with LocalCluster(
        0, master_flags=["--agent-ping-timeout", "0.5", "--max-agent-ping-timeouts", "3"]
    ) as c:
        yield c  # type: ignore[misc]


@pytest.fixture
async def pool(master: LocalCluster) -> AsyncIterator[SimAgentPool]:
    p = SimAgentPool(
        SimConfig(
            master=master.master,
            agents=40,
            resources="cpus:4;mem:8192;disk:1000;ports:[31000-31009]",
            attributes={"zone": "a"},
            racks=4,
            task_duration=0.3,
            report_starting=True,
            update_retry=0.5,
        )
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def wait(predicate: object, timeout: float = 15.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_agents_register_like_real_ones(master: LocalCluster, pool: SimAgentPool) -> None:
    await wait(pool.all_registered, what="40 simulated agents registered")
    state = await asyncio.to_thread(http_json, f"{master.url}/master/state")
    agents = state["slaves"]
    assert len(agents) == 40
    assert len({a["id"] for a in agents}) == 40
    assert len({a["hostname"] for a in agents}) == 40
    one = agents[0]
    assert one["resources"]["cpus"] == 4 and one["resources"]["mem"] == 8192
    assert one["attributes"]["zone"] == "a" and one["attributes"]["rack"].startswith("r")
    # They answer the master's pings: after several ping periods all are still there.
    await wait(lambda: pool.counters.pings >= 80, what="pings answered")
    state = await asyncio.to_thread(http_json, f"{master.url}/master/state")
    assert len(state["slaves"]) == 40 and pool.counters.disconnects == 0


async def test_tasks_reach_the_right_states(master: LocalCluster, pool: SimAgentPool) -> None:
    await wait(pool.all_registered, what="simulated agents registered")
    async with connected(master.master) as (driver, rec):
        launched: list[str] = []
        while len(launched) < 60:
            offer = await rec.next_offer()
            batch = [
                task(f"t{len(launched) + i}", offer, "true", scalars(cpus=0.5, mem=64))
                for i in range(3)
            ]
            launched += [t.task_id.value for t in batch]
            await driver.launch([offer.id.value], batch)
        for tid in launched:
            await rec.wait_state(tid, "TASK_FINISHED")
        for tid in launched:
            assert rec.states(tid) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        for u in rec.updates:
            assert u.uuid is not None and u.agent_id is not None and u.timestamp is not None
        # Every update was acknowledged through the master: nothing is left pending.
        await wait(lambda: pool.counters.acks == 3 * len(launched), what="all acks")
        assert sum(len(a.tasks) for a in pool.agents) == 0
        state = await asyncio.to_thread(http_json, f"{master.url}/master/state")
        fw = state["frameworks"][0]
        assert len(fw["completed_tasks"]) == len(launched) and not fw["tasks"]
        for a in state["slaves"]:
            assert a["used_resources"]["cpus"] == 0


async def test_kill_and_unacknowledged_updates_are_resent(
    master: LocalCluster, pool: SimAgentPool
) -> None:
    await wait(pool.all_registered, what="simulated agents registered")
    pool.config.task_duration = 0  # run until killed
    async with connected(master.master, implicit_acknowledgements=False) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("long", offer, "sleep 1000")])
        await rec.wait_state("long", "TASK_STARTING")
        # Not acknowledged: the agent resends STARTING (one update in flight per task).
        await wait(lambda: len(rec.states("long")) >= 2, what="a resent update")
        assert set(rec.states("long")) == {"TASK_STARTING"}
        # The master forwards the resend but records the task's STARTING once.
        state = await asyncio.to_thread(http_json, f"{master.url}/master/state")
        (t,) = state["frameworks"][0]["tasks"]
        assert [s["state"] for s in t["statuses"]] == ["TASK_STARTING"]
        await driver.acknowledge(rec.updates[0])
        await driver.acknowledge(await rec.wait_state("long", "TASK_RUNNING"))
        await driver.kill("long")
        await driver.acknowledge(await rec.wait_state("long", "TASK_KILLED"))
        await wait(lambda: sum(len(a.tasks) for a in pool.agents) == 0, what="task forgotten")


async def test_one_decline_may_name_offers_on_many_agents(
    master: LocalCluster, pool: SimAgentPool
) -> None:
    await wait(pool.all_registered, what="simulated agents registered")
    async with connected(master.master) as (driver, rec):
        offers = [await rec.next_offer() for _ in range(2)]
        assert offers[0].agent_id != offers[1].agent_id
        await driver.decline([o.id.value for o in offers], refuse_seconds=30)
        state = await asyncio.to_thread(http_json, f"{master.url}/master/state")
        outstanding = {o["id"] for f in state["frameworks"] for o in f["offers"]}
        assert not outstanding & {o.id.value for o in offers}


async def test_a_message_the_master_does_not_know_costs_only_itself(master: LocalCluster) -> None:
    """A newer agent may send a message type this master lacks: the rest of its frame (here a
    status update, which the master acknowledges for a framework it does not know) still counts."""
    import uuid

    import aiohttp

    from corral.resources import parse
    from corral.wire import agent as msg
    from corral.wire.base import ID
    from corral.wire.codec import encode
    from corral.wire.common import AgentInfo
    from corral.wire.tasks import TaskStatus

    res = parse("cpus:1;mem:1024").to_wire()
    register = msg.RegisterAgent(
        agent_info=AgentInfo(hostname="future", port=5051, resources=res),
        address="127.0.0.1:5051",
        version="99.0",
    )
    u = uuid.uuid4().bytes
    update = msg.StatusUpdate(
        framework_id=ID("no-such-framework"),
        status=TaskStatus(task_id=ID("t"), state="TASK_RUNNING", uuid=u),
    )
    url = f"http://{master.master}/master/agent"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_bytes(encode([register]))
        first = msg.master_to_agent_decoder.decode((await ws.receive(timeout=10)).data)
        assert isinstance(first[0], msg.Registered)
        frame = b'[{"type":"FROM_THE_FUTURE","x":1},' + encode(update) + b"]"
        await ws.send_bytes(frame)
        async with asyncio.timeout(10):  # pings keep coming; the acknowledgement must too
            while True:
                got = msg.master_to_agent_decoder.decode((await ws.receive()).data)
                acks = [m for m in got if isinstance(m, msg.AcknowledgeUpdate)]
                if acks:
                    assert acks[0].uuid == u
                    break
