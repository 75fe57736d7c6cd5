"""Quota and weights on HA masters (a real ZooKeeper ensemble): set through the CLI, kept
across a leader failover (the registry holds them), and a limit visibly enforced on offers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from recorder import connected

from corral.testing import LocalCluster, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]


@pytest.fixture(scope="module")
def ha(zk: ZkEnsemble) -> Iterator[LocalCluster]:
    with LocalCluster(
        1,
        masters=3,
        zk=zk.url(f"/corral-{uuid.uuid4().hex[:8]}"),
        master_flags=["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"],
    ) as c:
        yield c


def cli(ha: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    assert ha.zk is not None
    env = {**os.environ, "CORRAL_MASTER": ha.zk}
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def quota_of(ha: LocalCluster, role: str) -> list[dict[str, object]]:
    r = cli(ha, "quota", "show", role, "--json")
    assert r.returncode == 0, r.stderr
    rows: list[dict[str, object]] = json.loads(r.stdout)
    return rows


def cpus(offer: object) -> float:
    return sum(
        r.scalar.value
        for r in offer.resources  # type: ignore[attr-defined]
        if r.name == "cpus" and r.scalar is not None
    )


async def test_quota_survives_failover_and_limits_offers(ha: LocalCluster) -> None:
    # Refusals: a guarantee above the cluster (exit 1, the field named), bad usage (exit 2).
    r = cli(ha, "quota", "set", "dev", "--cpus", "100")
    assert r.returncode == 1 and "update_quota.force" in r.stderr, r.stderr
    assert cli(ha, "quota", "set", "dev", "--cpus", "-1").returncode == 2
    r = cli(ha, "quota", "set", "dev", "--cpus", "1", "--limit-cpus", "2", "--limit-mem", "4096")
    assert r.returncode == 0, r.stderr
    r = cli(ha, "weights", "set", "dev=3", "web=0.5")
    assert r.returncode == 0, r.stderr

    old = ha.leader_index()
    assert old is not None
    ha.kill_master(old)

    def new_leader() -> bool:
        i = ha.leader_index()
        return i is not None and i != old

    wait_until(new_leader, 20, what="a new leader")
    (row,) = quota_of(ha, "dev")
    assert row["guarantees"] == {"cpus": {"value": 1.0}}
    assert row["limits"] == {"cpus": {"value": 2.0}, "mem": {"value": 4096.0}}
    r = cli(ha, "weights", "show", "--json")
    assert r.returncode == 0, r.stderr
    assert {w["role"]: w["weight"] for w in json.loads(r.stdout)} == {"dev": 3.0, "web": 0.5}
    ha.wait_for_agents(1)

    # The agent has 4 cpus; a framework in role dev is offered 2 of them, never more.
    assert ha.zk is not None
    async with connected(ha.zk, role="dev") as (_driver, rec):
        offer = await rec.next_offer()
        assert cpus(offer) == 2
        rows = quota_of(ha, "dev")
        assert str(rows[0]["reason"]).startswith("at its limit (cpus 2 of 2"), rows
        assert all(cpus(o) == 0 for o in rec.drain_offers())
        roles = ha_roles(ha)
        assert roles["dev"]["quota"]["limit"] == {"cpus": 2.0, "mem": 4096.0}
        assert roles["dev"]["weight"] == 3.0 and len(roles["dev"]["frameworks"]) == 1

    r = cli(ha, "quota", "remove", "dev")
    assert r.returncode == 0, r.stderr
    assert quota_of(ha, "dev") == []
    assert cli(ha, "quota", "remove", "dev").returncode == 1


def ha_roles(ha: LocalCluster) -> dict[str, dict[str, object]]:
    from corral.testing import http_json

    leader = ha.leader()
    assert leader is not None
    body = http_json(f"http://{leader}/master/roles")
    return {r["name"]: r for r in body["roles"]}
