"""Two ``corral services`` processes on one store (a work dir, then ZooKeeper): the standby
proxies the API; the leader killed -9, the standby takes over with every instance kept
(checked at the master: none lost, none launched twice) and accepts changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_api_proc import ServicesProc, framework, running, running_at_master

from corral.testing import LocalCluster, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = pytest.mark.integration


@pytest.fixture
def procs() -> Iterator[list[ServicesProc]]:
    started: list[ServicesProc] = []
    yield started
    for p in started:
        p.stop()


def test_sqlite_leader_killed_standby_takes_over(
    cluster: LocalCluster, tmp_path: Path, procs: list[ServicesProc]
) -> None:
    failover(cluster, tmp_path, procs, [])


def test_zookeeper_leader_killed_standby_takes_over(
    zk: ZkEnsemble, cluster: LocalCluster, tmp_path: Path, procs: list[ServicesProc]
) -> None:
    failover(cluster, tmp_path, procs, ["--zk", zk.url(f"/services-{uuid.uuid4().hex[:8]}")])


def failover(
    cluster: LocalCluster, tmp_path: Path, procs: list[ServicesProc], extra: list[str]
) -> None:
    state = tmp_path / "state"
    first = ServicesProc(cluster.master_url, state, tmp_path / "first.log", extra)
    procs.append(first)
    first.wait_leading()
    second = ServicesProc(cluster.master_url, state, tmp_path / "second.log", extra)
    procs.append(second)
    # The standby answers once it has opened the store and read who leads there.
    wait_until(lambda: second.call("GET", "/v2/leader")[0] == 200, 20, 0.1, "the standby's API")
    assert not second.leading()

    # The standby proxies: a change through it lands on the leader.
    app = {"id": "/ha", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 3}
    status, doc = second.call("POST", "/v2/apps", app)
    assert status == 201, doc
    tasks = wait_until(lambda: running(first, "/ha", 3), 60, 0.2, "3 instances")
    ids = {t["id"] for t in tasks}
    fw = framework(cluster)
    assert fw is not None
    fw_id = fw["id"]
    _, info = second.call("GET", "/v2/info")
    assert info["frameworkId"] == fw_id and info["leader"] == f"127.0.0.1:{first.port}"

    first.kill9()
    second.wait_leading(30)
    wait_until(lambda: (f := framework(cluster)) and f["active"], 30, 0.2, "re-subscribed")
    again = wait_until(lambda: running(second, "/ha", 3), 30, 0.2, "3 instances after failover")
    assert {t["id"] for t in again} == ids
    fw = framework(cluster)
    assert fw is not None and fw["id"] == fw_id
    assert set(running_at_master(cluster)) == ids
    launched = [t["id"] for t in fw["tasks"]] + [t["id"] for t in fw["completed_tasks"]]
    assert sorted(launched) == sorted(ids), launched  # none launched twice, none lost

    # The new leader acts: scale to 4, exactly one more.
    assert second.call("PUT", "/v2/apps/ha", {"instances": 4})[0] == 200
    four = wait_until(lambda: running(second, "/ha", 4), 60, 0.2, "4 instances")
    assert ids < {t["id"] for t in four}
