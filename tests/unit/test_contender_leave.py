"""MasterContender.leave: election results worked out before it are dropped on delivery, so a
resigning master is never made leader again by a stale evaluation (no ZooKeeper needed: the
client is made but never started)."""

from __future__ import annotations

from corral.coordination.zookeeper import MasterContender


def test_results_from_before_leave_are_dropped() -> None:
    seen: list[tuple[bool, str | None]] = []
    c = MasterContender("zk://127.0.0.1:1/corral", b"{}", lambda *a: seen.append(a))
    c.my_node = "json.info_0000000001"
    before = c._generation
    assert c.leave() == "json.info_0000000001"
    assert c.my_node is None
    c._deliver(before, True, "me:5050")  # computed before leave: dropped
    assert seen == []
    c._deliver(c._generation, False, "other:5050")
    assert seen == [(False, "other:5050")]
