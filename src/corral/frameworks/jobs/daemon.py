"""``corral jobs``: one instance of the jobs framework (API, page, scheduler)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from corral.frameworks.jobs.api import JobsApi, build_app
from corral.frameworks.jobs.framework import JobsShell
from corral.frameworks.serving import FrameworkServer
from corral.scheduler_client import Runner
from corral.security.settings import SecuritySettings

log = logging.getLogger("corral.frameworks.jobs")


async def run_jobs(
    master: str,
    state: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4400,
    lease_ttl: float = 5.0,
    session_timeout: float = 10.0,
    history: int = 100,
    security: SecuritySettings | None = None,
) -> bool:
    """Run until stopped (SIGINT/SIGTERM) or fenced; returns True when fenced."""
    shell = JobsShell(history=history)
    runner = Runner(
        shell.framework, master, state, lease_ttl=lease_ttl, session_timeout=session_timeout
    )
    api = JobsApi(shell)
    server = FrameworkServer(
        runner, build_app(api), host, port, local=("/ping",), security=security
    )
    await server.start()
    api.advertise = server.advertise
    shell.framework.webui_url = server.advertise.rstrip("/") + "/"  # linked from the master
    log.info("jobs API on %s", server.advertise)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runner.request_stop)
    shell.attach(runner)
    try:
        await runner.run()
    finally:
        await shell.close()
        await server.stop()
    return runner.fenced


__all__ = ["run_jobs"]
