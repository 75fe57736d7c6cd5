"""ZooKeeper health from `srvr` answers (pure)."""

from __future__ import annotations

from corral.coordination.zk_health import Quorum, Server, parse_srvr, probe
from corral.testing import free_port

SRVR = """Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25
Latency min/avg/max: 0/0.4/12
Received: 120
Sent: 119
Connections: 2
Outstanding: 0
Zxid: 0x10000002a
Mode: follower
Node count: 12
"""


def test_a_srvr_answer_gives_mode_and_version() -> None:
    s = parse_srvr("h:2181", SRVR)
    assert (s.mode, s.detail) == ("follower", "3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f")
    assert parse_srvr("h:2181", "This ZooKeeper instance is not currently serving requests\n")\
        .mode == "not serving"  # fmt: skip


def test_a_quorum_is_a_majority_serving() -> None:
    up, down = Server("a", "leader"), Server("b", "unreachable")
    assert Quorum([up, Server("c", "follower"), down]).healthy
    assert not Quorum([up, down, Server("d", "not serving")]).healthy
    assert Quorum([Server("s", "standalone")]).summary() == "1 of 1 servers serving: quorum healthy"
    assert "NO QUORUM" in Quorum([down]).summary()


def test_an_unreachable_server_says_why() -> None:
    s = probe(f"127.0.0.1:{free_port()}", timeout=1)
    assert s.mode == "unreachable" and s.detail
