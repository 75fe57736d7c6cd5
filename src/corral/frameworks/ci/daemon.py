"""``corral ci``'s process: the framework, its API server and signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from corral.frameworks.ci.api import build_app
from corral.frameworks.ci.framework import CiFramework, CiRunner
from corral.frameworks.ci.templates import CiConfig
from corral.frameworks.serving import FrameworkServer
from corral.security.settings import SecuritySettings

log = logging.getLogger("corral.ci")


async def run_ci(
    config: CiConfig,
    master: str,
    state: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5060,
    advertise: str | None = None,
    unregister_after: float = 5.0,
    lease_ttl: float = 5.0,
    security: SecuritySettings | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; 1 when fenced (a supervisor restarts it as a standby)."""
    ci = CiFramework(config)
    runner = CiRunner(ci, master, state, unregister_after=unregister_after, lease_ttl=lease_ttl)
    server = FrameworkServer(
        runner, build_app(ci, runner), host, port, advertise=advertise, security=security
    )
    await server.start()
    ci.api_url = server.advertise
    runner.framework.webui_url = server.advertise.rstrip("/") + "/"  # linked from the master
    log.info("ci: API on %s, %d template(s)", server.advertise, len(config.templates))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    try:
        await runner.run()
    finally:
        await server.stop()
    return 1 if runner.fenced else 0


__all__ = ["run_ci"]
