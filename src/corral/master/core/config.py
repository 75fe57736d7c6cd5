"""The master's configuration and identity (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from corral import MESOS_COMPAT_VERSION
from corral.security.settings import SecuritySettings
from corral.wire.common import Address, MasterInfo

HEARTBEAT_INTERVAL = 15.0


@dataclass
class MasterConfig:
    ip: str = "127.0.0.1"
    port: int = 5050
    hostname: str = "localhost"
    offer_timeout: float | None = None
    agent_ping_timeout: float = 15.0
    max_agent_ping_timeouts: int = 5
    allocation_delay: float = 0.001
    weights: dict[str, float] = field(default_factory=dict)
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    work_dir: str = ""
    zk: str | None = None  # zk://h1:2181,h2:2181/corral for HA; None: one embedded master
    zk_session_timeout: float = 10.0
    quorum: int | None = None
    agent_reregister_timeout: float = 600.0
    drain_notice: float = 10.0  # DRAIN_AGENT: seconds frameworks have to move their tasks
    # Preemption (docs/preemption.md): seconds the victims' frameworks get before the master
    # kills them, and how long after that the freed resources are kept for the asker.
    preemption_notice: float = 10.0
    preemption_hold: float = 10.0
    security: SecuritySettings = field(default_factory=SecuritySettings)


def make_master_info(c: MasterConfig, master_id: str) -> MasterInfo:
    return MasterInfo(
        id=master_id,
        ip=ip_to_int(c.ip),
        port=c.port,
        pid=f"master@{c.ip}:{c.port}",
        hostname=c.hostname,
        version=MESOS_COMPAT_VERSION,
        address=Address(hostname=c.hostname, ip=c.ip, port=c.port),
        capabilities=[{"type": "AGENT_UPDATE"}, {"type": "QUOTA_V2"}],
    )


def ip_to_int(ip: str) -> int:
    """MasterInfo.ip: IPv4 in network byte order as a uint32."""
    try:
        a, b, c, d = (int(x) for x in ip.split("."))
    except ValueError:
        return 0
    return a + (b << 8) + (c << 16) + (d << 24)
