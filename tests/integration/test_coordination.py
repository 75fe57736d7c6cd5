"""The coordination helpers frameworks use: state stores and leader election, for real."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from corral.coordination import parse_zk_url
from corral.coordination.embedded import SqliteKeyValueStore, SqliteRegistry
from corral.coordination.zookeeper import (
    FrameworkElection,
    ZkKeyValueStore,
    ZkRegistry,
    find_leader,
    make_client,
)
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


def exercise_store(store: SqliteKeyValueStore | ZkKeyValueStore) -> None:
    assert store.get("missing") is None
    store.put("app-a", b"one")
    store.put("app-b", b"two")
    store.put("job-x", b"three")
    store.put("app-a", b"uno")  # overwrite
    assert store.get("app-a") == b"uno"
    assert store.keys() == ["app-a", "app-b", "job-x"]
    assert store.keys("app-") == ["app-a", "app-b"]
    store.delete("app-b")
    store.delete("app-b")  # deleting twice is fine
    assert store.keys("app-") == ["app-a"]


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    store = SqliteKeyValueStore(tmp_path / "state.db")
    exercise_store(store)
    store.close()
    again = SqliteKeyValueStore(tmp_path / "state.db")
    assert again.get("job-x") == b"three"
    again.close()
    registry = SqliteRegistry(tmp_path / "registry.db")
    registry.admit_agent("a1", {"hostname": "h"})
    registry.admit_agent("a2", {"hostname": "g"})
    registry.mark_unreachable("a2", 12.5)
    snap = registry.load()
    assert snap.agents == {"a1": {"hostname": "h"}} and snap.unreachable == {"a2": 12.5}
    registry.admit_agent("a2", {"hostname": "g"})  # it came back
    assert set(registry.load().agents) == {"a1", "a2"} and registry.load().unreachable == {}
    exercise_quota(registry)
    assert registry.load().maintenance is None
    registry.save_maintenance({"windows": [], "down": [["h", "", 1.0]]})
    registry.close()
    again_registry = SqliteRegistry(tmp_path / "registry.db")
    assert again_registry.load().maintenance == {"windows": [], "down": [["h", "", 1.0]]}
    again_registry.close()


def exercise_quota(registry: SqliteRegistry | ZkRegistry) -> None:
    registry.put_quota("dev", {"guarantees": {"cpus": 1.0}, "limits": {}})
    registry.put_quota("*", {"guarantees": {}, "limits": {"mem": 64.0}})
    registry.put_weights({"dev": 2.5, "web": 3.0})
    registry.put_weights({"web": 0.5})
    snap = registry.load()
    assert snap.quotas == {
        "dev": {"guarantees": {"cpus": 1.0}, "limits": {}},
        "*": {"guarantees": {}, "limits": {"mem": 64.0}},
    }
    assert snap.weights == {"dev": 2.5, "web": 0.5}
    registry.put_quota("dev", None)
    assert set(registry.load().quotas) == {"*"}


def test_zookeeper_store_and_registry(zk: ZkEnsemble) -> None:
    path = f"/corral-{uuid.uuid4().hex[:8]}"
    client = make_client(parse_zk_url(zk.url(path)), 5.0)
    client.start(timeout=10)
    try:
        exercise_store(ZkKeyValueStore(client, path, "frameworks/demo/state"))
        with pytest.raises(ValueError, match="bad key"):
            ZkKeyValueStore(client, path, "x").put("a/b", b"")
        registry = ZkRegistry(client, path)
        registry.admit_agent("a1", {"hostname": "h"})
        registry.mark_unreachable("a1", 3.0)
        snap = registry.load()
        assert snap.agents == {} and snap.unreachable == {"a1": 3.0}
        exercise_quota(registry)
        assert snap.maintenance is None
        registry.save_maintenance({"windows": [{"machines": [["h", ""]], "start_ns": 5}]})
        assert ZkRegistry(client, path).load().maintenance == {
            "windows": [{"machines": [["h", ""]], "start_ns": 5}]
        }
        # Nothing but log_replicas sits beside the masters' json.info_ nodes.
        assert client.get_children(path) == ["log_replicas"]
        assert find_leader(zk.url(path)) is None
    finally:
        client.stop()
        client.close()


async def test_framework_election_hands_over(zk: ZkEnsemble) -> None:
    url = zk.url(f"/corral-{uuid.uuid4().hex[:8]}")
    first = FrameworkElection(url, "services", "instance-1", session_timeout=2.0)
    second = FrameworkElection(url, "services", "instance-2", session_timeout=2.0)
    try:
        await asyncio.wait_for(first.campaign(), 15)
        waiting = asyncio.get_running_loop().create_task(second.campaign())
        await asyncio.sleep(0)
        assert not waiting.done()
        assert first.contenders()[0] == "instance-1"
        first.store().put("leader", b"instance-1")
        await first.stop()  # the leader goes away; the standby takes over
        await asyncio.wait_for(waiting, 15)
        assert second.store().get("leader") == b"instance-1"
        assert not second.lost.is_set()
    finally:
        await second.stop()
        await first.stop()


def test_zk_url_parsing(tmp_path: Path) -> None:
    url = parse_zk_url("zk://u:p@h1:2181,h2:2182/mesos/corral/")
    assert url.hosts == "h1:2181,h2:2182" and url.path == "/mesos/corral" and url.auth == "u:p"
    f = tmp_path / "zk"
    f.write_text("zk://h:1/p\n")
    assert parse_zk_url(f"file://{f}").hosts == "h:1"
    for bad in ("h:2181/x", "zk://h:2181", "zk:///x", "zk://h/x", "zk://h:port/x", "file:///nope"):
        with pytest.raises(ValueError):
            parse_zk_url(bad)
