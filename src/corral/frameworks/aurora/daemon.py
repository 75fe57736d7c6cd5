"""The ``corral aurora`` process: the front end's API and its poll loop, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from corral.frameworks.aurora.api import make_app
from corral.frameworks.aurora.frontend import FrontEnd

log = logging.getLogger("corral.frameworks.aurora")


async def run_aurora(
    *,
    master: str,
    services_url: str,
    jobs_url: str,
    work_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8081,
    poll_interval: float = 1.0,
) -> int:
    front = FrontEnd(
        services_url=services_url,
        jobs_url=jobs_url,
        master=master,
        work_dir=work_dir,
        poll_interval=poll_interval,
    )
    await front.start()
    runner = web.AppRunner(make_app(front), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"corral aurora: listening at http://{host}:{port}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, front.stopping.set)
    try:
        await front.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await runner.cleanup()
        await front.close()
    return 0


__all__ = ["run_aurora"]
