"""The web UI with HA masters: a standby's page redirects the browser to the leader's, whose
dashboard shows the ZooKeeper ensemble's health (each server's mode, the session)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from browser import browser_page
from corral.testing import LocalCluster, http_json, wait_until
from corral.testing.zookeeper import ZkEnsemble

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.zookeeper]


@pytest.fixture
def ha(zk: ZkEnsemble) -> Iterator[LocalCluster]:
    with LocalCluster(1, masters=2, zk=zk.url(f"/corral-ui-{uuid.uuid4().hex[:8]}")) as c:
        yield c


def test_standby_sends_the_browser_to_the_leader_whose_dashboard_shows_zookeeper(
    ha: LocalCluster,
) -> None:
    wait_until(lambda: ha.leader() is not None, 30, what="a leading master")
    leader = ha.leader()
    assert leader is not None
    standby = next(f"{ha.ip}:{p}" for p in ha.ports if f"{ha.ip}:{p}" != leader)

    def zk_known() -> bool:
        z = http_json(f"http://{leader}/ui/api/dashboard")["zookeeper"]
        return bool(z.get("healthy")) and len(z["servers"]) == 3

    wait_until(zk_known, 30, what="the leader's probe of the ZooKeeper servers")
    with browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"http://{standby}/")
        assert page.url == f"http://{leader}/"
        page.wait_for_selector("#zookeeper")
        text = page.locator("#zookeeper").inner_text()
        assert text.startswith("healthy: session CONNECTED, 3 of 3 servers serving (quorum 2)")
        assert "leader" in text and "follower" in text
        assert page.locator("#leader").inner_text() == leader
        assert errors == []
