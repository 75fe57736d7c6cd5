"""The ``corral services`` process: the framework (``Services`` on the toolkit's Runner), its
API and page on ``FrameworkServer`` (every instance serves; standbys proxy to the leader).

Two or more processes on one store (a ``--work-dir`` shared on one host, or ``--zk``)
elect a leader; ``kill -9`` of the leader hands over to a standby within the lease
(SQLite) or session (ZooKeeper) timeout. A fenced leader exits with status 1, so that a
supervisor restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from corral.frameworks.services.api import make_app
from corral.frameworks.services.api_context import Api, InstanceInfo
from corral.frameworks.services.service import Services
from corral.frameworks.serving import FrameworkServer
from corral.security.settings import SecuritySettings

log = logging.getLogger("corral.frameworks.services.daemon")


@dataclass
class DaemonConfig:
    master: str
    state: str | Path  # a directory (SQLite) or a zk:// URL
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (it is logged)
    advertise: str | None = None  # the base URL others reach this instance at
    name: str = "services"
    lease_ttl: float = 5.0
    zk_session_timeout: float = 10.0
    security: SecuritySettings | None = None  # the API's authentication


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("corral")
    except Exception:
        return "0"


async def run_services(config: DaemonConfig) -> int:
    """Run until SIGTERM/SIGINT (0) or until fenced (1)."""
    services = Services.create(
        config.master, config.state, name=config.name, lease_ttl=config.lease_ttl
    )
    runner = services.runner
    assert runner is not None  # Services.create always builds one
    runner.session_timeout = config.zk_session_timeout
    zk = str(config.state) if str(config.state).startswith("zk://") else None
    info = InstanceInfo(
        framework_name=config.name,
        master=config.master,
        zk=zk,
        zk_session_timeout=config.zk_session_timeout,
        hostname=config.host,
        http_port=config.port,
        user=getpass.getuser(),
        role=runner.framework.role,
        failover_timeout=runner.framework.failover_timeout,
        version=_version(),
    )
    api = Api(services, info)
    server = FrameworkServer(
        runner,
        make_app(api),
        config.host,
        config.port,
        advertise=config.advertise,
        local=("/ping", "/metrics"),
        security=config.security,
    )
    api.leader = server.leader_address
    api.elected = lambda: server.is_leading
    # Leading in earnest: elected, state loaded and tasks reconciled (commands accepted).
    api.leading = lambda: (
        server.is_leading
        and bool(getattr(services, "leading", True))
        and bool(getattr(services, "indexed", True))
    )
    server.ready = api.leading  # /version: reconciled, commands accepted
    await server.start()
    info.http_port = server.port
    info.webui_url = server.advertise.rstrip("/") + "/"
    runner.framework.webui_url = info.webui_url  # the Runner subscribes with it
    log.info("corral services: API and page at %s (state %s)", server.advertise, config.state)
    print(f"corral services: listening at {server.advertise}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, services.request_stop)
    try:
        await services.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
    return 1 if runner.fenced else 0


__all__ = ["DaemonConfig", "run_services"]
