"""``corral spark``'s process: the framework, its poll of the Spark master, its API, and
signal handling."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import aiohttp

from corral.frameworks.serving import FrameworkServer
from corral.frameworks.spark.api import build_app
from corral.frameworks.spark.framework import SparkFramework, stop_poll
from corral.scheduler_client import Runner
from corral.scheduler_client.store import FRAMEWORK_ID

log = logging.getLogger("corral.spark")


def _wake(runner: Runner) -> None:
    if runner.core is not None:
        runner.core.revive_pending = True  # the next tick REVIVEs: offers come back now


async def _announce(
    fw: SparkFramework, server: FrameworkServer, url_file: Path | None, as_json: bool
) -> None:
    """Once per Spark master (it may move): say its URL, and write it to ``url_file``."""
    said: str | None = None
    while True:
        await asyncio.sleep(0.2)
        url = fw.status()["spark_url"]
        if not isinstance(url, str) or url == said:
            continue
        said = url
        if url_file is not None:
            tmp = url_file.with_name(url_file.name + ".tmp")
            tmp.write_text(url + "\n")
            tmp.replace(url_file)
        if as_json:
            line = {
                "spark_url": url,
                "master_ui": fw.master_ui(),
                "rest_url": fw.rest_url(),
                "api": server.advertise,
            }
            print(json.dumps(line), flush=True)
        else:
            print(f"spark master: {url} (web UI {fw.master_ui()})", flush=True)
        log.info("spark: the Spark master is up at %s", url)


async def run_spark(
    fw: SparkFramework,
    master: str,
    state: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5070,
    poll_interval: float = 1.0,
    url_file: Path | None = None,
    as_json: bool = False,
    teardown: bool = True,
    lease_ttl: float = 5.0,
) -> int:
    """Run until SIGTERM/SIGINT; then tear the framework down (its Spark daemons are
    killed) unless ``teardown`` is off (they keep running for the next instance). 1 when
    fenced."""
    runner = Runner(fw, master, state, lease_ttl=lease_ttl)
    fw.tracker = lambda: runner.core.tracker if runner.core is not None else None
    fw.wake = lambda: _wake(runner)
    server = FrameworkServer(runner, build_app(fw), host, port)
    await server.start()
    fw.webui_url = server.advertise.rstrip("/") + "/"
    log.info("spark: API on %s", server.advertise)
    session = aiohttp.ClientSession()
    poller = asyncio.create_task(fw.poll(session, poll_interval))
    announcer = asyncio.create_task(_announce(fw, server, url_file, as_json))
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    async def stop() -> None:
        driver = runner.driver
        if teardown and driver is not None and runner.leading.is_set():
            log.info("spark: stopping: tearing the framework down (its tasks are killed)")
            if runner.state is not None:  # the next start registers a new framework
                await runner.state.store.delete(FRAMEWORK_ID)
            await driver.stop(failover=False)
        else:
            await runner.stop()

    def on_signal() -> None:
        if not stopping:
            stopping.append(loop.create_task(stop()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await runner.run()
    finally:
        for t in (poller, announcer):
            await stop_poll(t)
        await session.close()
        await server.stop()
        if url_file is not None:
            url_file.unlink(missing_ok=True)
        sys.stdout.flush()
    return 1 if runner.fenced else 0


__all__ = ["run_spark"]
