"""``corral batch serve``'s process: the framework, its API, and signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from corral.frameworks.batch.api import build_app
from corral.frameworks.batch.framework import BatchShell
from corral.frameworks.serving import FrameworkServer
from corral.scheduler_client import Runner

log = logging.getLogger("corral.batch")


async def run_batch(
    master: str,
    state: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5090,
    lease_ttl: float = 5.0,
    preemption: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT. The framework stays registered on exit (its running
    elements go on; the next start adopts them and the queue). 1 when fenced."""
    shell = BatchShell()
    if not preemption:
        shell.framework.preemption_delay = None
    runner = Runner(shell.framework, master, state, lease_ttl=lease_ttl)
    server = FrameworkServer(runner, build_app(shell), host, port)
    await server.start()
    shell.framework.webui_url = server.advertise.rstrip("/") + "/"
    log.info("batch: API on %s", server.advertise)
    shell.attach(lambda: runner.core)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    try:
        await runner.run()
    finally:
        await server.stop()
    return 1 if runner.fenced else 0


__all__ = ["run_batch"]
