"""The scheduler API's contract: errors, filters, suppression, failover, reliability."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import aiohttp
import pytest
from recorder import Recorder, connected, framework_info, task

from corral.resources import from_wire, scalars
from corral.scheduler_client import SchedulerDriver
from corral.testing import LocalCluster, http_json, wait_until

pytestmark = pytest.mark.integration


async def post(
    master: str, body: Any, headers: dict[str, str] | None = None, path: str = "/api/v1/scheduler"
) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if headers is None else headers
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{master}{path}", data=data, headers=hdrs) as resp,
    ):
        return resp.status, await resp.text()


def launch_with(fid: dict[str, Any], offer: Any, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """An ACCEPT launching one command task with the given (raw JSON) resources."""
    info = {
        "name": "t",
        "task_id": {"value": "t1"},
        "agent_id": {"value": offer.agent_id.value},
        "command": {"value": "true"},
        "resources": resources,
    }
    return {
        "type": "ACCEPT",
        "framework_id": fid,
        "accept": {
            "offer_ids": [{"value": offer.id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}],
        },
    }


def durable_state(cluster: LocalCluster) -> Any:
    """The parts of /master/state a bad call must not change."""
    st = cluster.state()
    return (
        [(a["id"], a["used_resources"], a["offered_resources"]) for a in st["slaves"]],
        [
            (f["id"], len(f["tasks"]), len(f["offers"]), f["used_resources"])
            for f in st["frameworks"]
        ],
    )


async def test_bad_input_gets_a_clear_error_and_changes_nothing(cluster: LocalCluster) -> None:
    m = cluster.master
    async with connected(m) as (driver, rec):
        offer = await rec.next_offer()
        fid = {"value": driver.framework_id}
        sid = {"Content-Type": "application/json", "Mesos-Stream-Id": driver.stream_id or ""}
        before = durable_state(cluster)

        cases: list[tuple[Any, dict[str, str] | None, int, str]] = [
            (b"{not json", sid, 400, "Malformed JSON"),
            ({"type": "FROBNICATE", "framework_id": fid}, sid, 400, "FROBNICATE"),
            ({"type": "ACCEPT", "framework_id": fid}, sid, 400, "'accept'"),
            ({"type": "DECLINE", "decline": {"offer_ids": []}}, sid, 400, "framework_id"),
            (
                {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "x"}}},
                None,
                400,
                "subscribe.framework_info.name",
            ),
            ({"type": "KILL", "framework_id": fid, "kill": {}}, sid, 400, "kill.task_id"),
            (
                {"type": "REVIVE", "framework_id": fid},
                {"Content-Type": "application/json", "Mesos-Stream-Id": "wrong"},
                400,
                "stream ID",
            ),
            (
                {"type": "REVIVE", "framework_id": fid},
                {"Content-Type": "application/json"},
                400,
                "Mesos-Stream-Id",
            ),
            ({"type": "REVIVE", "framework_id": {"value": "nope"}}, sid, 400, "cannot be found"),
            (
                {"type": "REVIVE", "framework_id": fid},
                {"Content-Type": "text/plain", "Mesos-Stream-Id": driver.stream_id or ""},
                415,
                "Content-Type",
            ),
            (
                {
                    "type": "ACKNOWLEDGE",
                    "framework_id": fid,
                    "acknowledge": {
                        "agent_id": {"value": offer.agent_id.value},
                        "task_id": {"value": "t"},
                        "uuid": "AAAA",
                    },
                },
                sid,
                400,
                "16 bytes",
            ),
            (
                {
                    "type": "ACCEPT",
                    "framework_id": fid,
                    "accept": {"offer_ids": [{"value": "no-such-offer"}], "operations": []},
                },
                sid,
                400,
                "no-such-offer",
            ),
            (
                {
                    "type": "ACCEPT",
                    "framework_id": fid,
                    "accept": {"offer_ids": [{"value": offer.id.value}, {"value": offer.id.value}]},
                },
                sid,
                400,
                "listed twice",
            ),
            (
                launch_with(
                    fid, offer, [{"name": "cpus", "type": "SCALAR", "scalar": {"value": "x"}}]
                ),
                sid,
                400,
                "resources[0].scalar.value",
            ),
            (
                launch_with(fid, offer, [{"name": "cpus", "type": "RANGES"}]),
                sid,
                400,
                "task_infos[0].resources[0]",
            ),
        ]
        for body, headers, status, needle in cases:
            code, text = await post(m, body, headers)
            assert code == status, (body, code, text)
            assert needle in text, (body, text)
        assert durable_state(cluster) == before
        # The offer survived all of that and can still be used, once.
        await driver.launch([offer.id.value], [task("after", offer, "true")])
        await rec.wait_state("after", "TASK_FINISHED")
        with pytest.raises(Exception, match="no longer valid"):
            await driver.decline([offer.id.value])


async def test_subscribe_rules(cluster: LocalCluster) -> None:
    m = cluster.master
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=10)
    conn.request("POST", "/api/v1/scheduler", body=b"{}")  # no Content-Type at all
    resp = conn.getresponse()
    assert resp.status == 400 and b"Content-Type" in resp.read()
    conn.close()
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    code, text = await post(m, sub, {"Content-Type": "application/json", "Mesos-Stream-Id": "x"})
    assert code == 400 and "Mesos-Stream-Id" in text
    code, text = await post(m, sub, {"Content-Type": "application/json", "Accept": "text/html"})
    assert code == 406
    code, text = await post(m, {**sub, "framework_id": {"value": "other"}})
    assert code == 400 and "framework_id" in text
    # A non-subscribe call from a known but disconnected framework is 403.
    async with connected(m, failover_timeout=60, teardown=False) as (driver, _rec):
        fid = driver.framework_id
        sid = driver.stream_id
    wait_until(lambda: not cluster.state()["frameworks"][0]["connected"], 10, what="disconnect")
    code, text = await post(
        m,
        {"type": "REVIVE", "framework_id": {"value": fid}},
        {"Content-Type": "application/json", "Mesos-Stream-Id": sid or ""},
    )
    assert code == 403 and "not subscribed" in text


async def test_stream_framing_and_headers(cluster: LocalCluster) -> None:
    body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "raw"}}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{cluster.master}/api/v1/scheduler", json=body) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert len(resp.headers["Mesos-Stream-Id"]) > 10
        buf = b""
        while (
            b"\n" not in buf
            or len(buf) < int(buf.split(b"\n", 1)[0]) + len(buf.split(b"\n", 1)[0]) + 1
        ):
            buf += await asyncio.wait_for(resp.content.readany(), 10)
        length, rest = buf.split(b"\n", 1)
        event = json.loads(rest[: int(length)])
        assert event["type"] == "SUBSCRIBED"
        assert event["subscribed"]["framework_id"]["value"].endswith("-0000")
        assert event["subscribed"]["heartbeat_interval_seconds"] == 15.0
        assert event["subscribed"]["master_info"]["version"] == "1.11.0"


async def test_decline_filters_then_revive(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.decline([offer.id.value], refuse_seconds=3600)
        await asyncio.sleep(0)  # let the event loop run; no offer may come while filtered
        state = cluster.state()
        assert state["frameworks"][0]["offers"] == []
        await driver.revive()
        again = await rec.next_offer()
        assert again.agent_id == offer.agent_id and again.id != offer.id


async def test_suppress_stops_new_offers_but_keeps_outstanding_ones(cluster: LocalCluster) -> None:
    async with connected(cluster.master, name="a") as (driver, rec):
        offer = await rec.next_offer()
        await driver.suppress()
        assert cluster.state()["frameworks"][0]["suppressed_roles"] == ["*"]
        # The outstanding offer is still good (Mesos does not rescind on SUPPRESS).
        await driver.decline([offer.id.value], refuse_seconds=0)
        # With A suppressed, a newcomer gets the whole agent.
        async with connected(cluster.master, name="b") as (driver_b, rec_b):
            offer_b = await rec_b.next_offer()
            assert from_wire(offer_b.resources) == from_wire(offer.resources)
            await driver_b.decline([offer_b.id.value], refuse_seconds=3600)
            await driver.revive()
            again = await rec.next_offer()
            assert again.agent_id == offer.agent_id
            assert rec.rescinded == []
            assert cluster.state()["frameworks"][0]["suppressed_roles"] == []


async def test_unused_resources_of_an_accept_come_back(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        total = from_wire(offer.resources)
        await driver.launch(
            [offer.id.value],
            [task("a", offer, "sleep 300", scalars(cpus=1, mem=100))],
            refuse_seconds=0,
        )
        again = await rec.next_offer()
        assert from_wire(again.resources).scalar("cpus") == pytest.approx(total.scalar("cpus") - 1)
        await driver.kill("a")
        await rec.wait_state("a", "TASK_KILLED")


async def test_framework_failover_keeps_tasks(cluster: LocalCluster) -> None:
    m = cluster.master
    async with connected(m, failover_timeout=60, teardown=False) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("keep", offer, "sleep 300")])
        await rec.wait_state("keep", "TASK_RUNNING")
        fid = driver.framework_id
    assert fid is not None
    wait_until(lambda: not cluster.state()["frameworks"][0]["connected"], 10, what="disconnect")
    rec2 = Recorder()
    info = framework_info(failover_timeout=60)
    from corral.wire.base import ID

    info.id = ID(fid)
    driver2 = SchedulerDriver(m, info, rec2)
    runner = asyncio.get_running_loop().create_task(driver2.run())
    try:
        await asyncio.wait_for(driver2.connected.wait(), 10)
        assert driver2.framework_id == fid
        await driver2.reconcile()
        status = await rec2.wait_state("keep", "TASK_RUNNING")
        assert status.reason == "REASON_RECONCILIATION" and status.uuid is None
        await driver2.reconcile([("ghost", None)])
        await rec2.wait_state("ghost", "TASK_UNKNOWN")
    finally:
        await driver2.stop()  # teardown kills the task
        await asyncio.wait_for(runner, 10)
    wait_until(
        lambda: cluster.state()["slaves"][0]["used_resources"]["cpus"] == 0,
        10,
        what="resources freed by teardown",
    )


async def test_failover_timeout_expiry_kills_tasks(cluster: LocalCluster) -> None:
    async with connected(cluster.master, failover_timeout=0.5, teardown=False) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("doomed", offer, "sleep 300")])
        await rec.wait_state("doomed", "TASK_RUNNING")
    state = wait_until(
        lambda: (s := cluster.state())["completed_frameworks"] and s, 10, what="framework removal"
    )
    assert state["frameworks"] == []
    wait_until(
        lambda: (
            not [
                t
                for f in http_json(f"http://127.0.0.1:{cluster.agents[0].port}/state")["frameworks"]
                for e in f["executors"]
                for t in e["tasks"]
            ]
        ),
        10,
        what="the agent to kill the task",
    )


async def test_updates_are_resent_until_acknowledged(cluster: LocalCluster) -> None:
    async with connected(cluster.master, implicit_acknowledgements=False) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("acky", offer, "true")])
        first = await rec.wait_state("acky", "TASK_STARTING")
        # Not acknowledged: the agent sends the same update (same uuid) again, and nothing newer.
        await rec.wait_for(lambda: len(rec.states("acky")) >= 2, 10, "a resend")
        assert rec.states("acky")[:2] == ["TASK_STARTING", "TASK_STARTING"]
        assert {u.uuid for u in rec.updates if u.task_id.value == "acky"} == {first.uuid}
        # The task has ended on the agent: the master frees its resources already, though
        # the framework has not acknowledged the updates in front of the terminal one.
        wait_until(
            lambda: cluster.state()["slaves"][0]["used_resources"]["cpus"] == 0,
            10,
            what="resources freed by latest_state",
        )
        await driver.acknowledge(first)
        running = await rec.wait_state("acky", "TASK_RUNNING")
        await driver.acknowledge(running)
        finished = await rec.wait_state("acky", "TASK_FINISHED")
        await driver.acknowledge(finished)
        assert rec.states("acky")[-1] == "TASK_FINISHED"


async def test_lost_agent_makes_tasks_unreachable(cluster: LocalCluster) -> None:
    async with connected(cluster.master) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("stranded", offer, "sleep 300")])
        await rec.wait_state("stranded", "TASK_RUNNING")
        agent = cluster.agents[0]
        assert agent.popen is not None
        os.kill(agent.pid, signal.SIGSTOP)  # silent, as a partitioned host is
        try:
            status = await rec.wait_state("stranded", "TASK_UNREACHABLE", timeout=20)
            assert status.reason == "REASON_AGENT_REMOVED" and status.uuid is None
            await rec.wait_for(lambda: rec.failures, what="FAILURE for the agent")
            assert rec.failures[0].agent_id == offer.agent_id
            assert cluster.state()["slaves"] == []
        finally:
            os.kill(agent.pid, signal.SIGCONT)


async def test_operator_api(cluster: LocalCluster) -> None:
    m = cluster.master
    async with connected(m) as (driver, rec):
        offer = await rec.next_offer()
        await driver.launch([offer.id.value], [task("op", offer, "sleep 300")])
        await rec.wait_state("op", "TASK_RUNNING")
        replies = {}
        for call in (
            "GET_HEALTH",
            "GET_VERSION",
            "GET_STATE",
            "GET_AGENTS",
            "GET_FRAMEWORKS",
            "GET_TASKS",
        ):
            code, text = await post(m, {"type": call}, path="/api/v1")
            assert code == 200, text
            replies[call] = json.loads(text)
            assert replies[call]["type"] == call
        assert replies["GET_HEALTH"]["get_health"]["healthy"] is True
        assert replies["GET_VERSION"]["get_version"]["version_info"]["version"] == "1.11.0"
        tasks = replies["GET_TASKS"]["get_tasks"]["tasks"]
        assert tasks[0]["task_id"] == {"value": "op"} and tasks[0]["state"] == "TASK_RUNNING"
        agents = replies["GET_AGENTS"]["get_agents"]["agents"]
        assert agents[0]["agent_info"]["id"] == {"value": offer.agent_id.value}
        fws = replies["GET_FRAMEWORKS"]["get_frameworks"]["frameworks"]
        assert fws[0]["framework_info"]["id"] == {"value": driver.framework_id}
        state = replies["GET_STATE"]["get_state"]
        assert set(state) == {"get_tasks", "get_executors", "get_frameworks", "get_agents"}
        code, text = await post(m, {"type": "FROB"}, path="/api/v1")
        assert code == 400 and "FROB" in text
        assert http_json(f"http://{m}/state")["id"] == http_json(f"http://{m}/master/state")["id"]
        st = cluster.state()
        assert st["slaves"][0]["used_resources"]["cpus"] == pytest.approx(0.1)
        assert st["frameworks"][0]["tasks"][0]["slave_id"] == offer.agent_id.value
        snap = http_json(f"http://{m}/metrics/snapshot")
        assert snap["master/tasks_running"] == 1 and snap["master/elected"] == 1
        version = http_json(f"http://{m}/version")
        assert all(p.isdigit() for p in version["version"].split("."))
        await driver.kill("op")
        await rec.wait_state("op", "TASK_KILLED")
