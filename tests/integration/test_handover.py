"""A planned leadership handover: POST /master/resign on the leader elects a standby at once
(the masters' ZooKeeper session timeout here is 20 s, far beyond the waits below), the
resigned master becomes a standby, and the agent follows the new leader."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from corral.testing import LocalCluster, http_json, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


@pytest.fixture(scope="module")
def ha(zk: ZkEnsemble) -> Iterator[LocalCluster]:
    with LocalCluster(
        1,
        masters=3,
        zk=zk.url(f"/corral-{uuid.uuid4().hex[:8]}"),
        zk_session_timeout=20.0,
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
    ) as c:
        yield c


def post(address: str, path: str) -> tuple[int, str, str]:
    req = urllib.request.Request(f"http://{address}{path}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location") or ""


def test_resign_hands_over_at_once(ha: LocalCluster) -> None:
    old = ha.master
    status, body, _ = post(old, "/master/resign")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["resigned"] is True
    # a new leader within a few seconds: no session (20 s) had to expire
    new = wait_until(lambda: (x := ha.leader()) != old and x, 5, interval=0.01,
                     what="a new leader")  # fmt: skip
    assert answer["leader"] in (None, new)

    def serving() -> bool:  # (the others may name it a moment before it has its term)
        try:
            return bool(http_json(f"http://{new}/master/state")["hostname"])
        except OSError:
            return False

    wait_until(serving, 5, interval=0.01, what=f"{new} serving as the leader")
    # the old leader is a standby now: it redirects to the new one
    status, _, location = post(old, "/master/resign")
    assert status == 307 and location == f"//{new}/master/resign"
    # the agent follows the new leader
    def agent_active() -> bool:
        slaves = http_json(f"http://{new}/master/state")["slaves"]
        return len(slaves) == 1 and bool(slaves[0]["active"])

    wait_until(agent_active, 15, what="the agent registered with the new leader")
    # and leadership can move again
    status, body, _ = post(new, "/master/resign")
    assert status == 200, body
    wait_until(lambda: ha.leader() not in (None, new), 5, interval=0.01, what="another leader")


def test_a_single_master_cannot_resign(cluster: LocalCluster) -> None:
    status, body, _ = post(cluster.master, "/master/resign")
    assert status == 409 and "without --zk" in body
