"""The master process: HTTP server, timers, and the routes of every API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from corral.agent.api import version_info
from corral.master.api import SchedulerAPI
from corral.master.master import Master, MasterConfig
from corral.master.views import OperatorAPI
from corral.transport.http import json_response

log = logging.getLogger("corral.master")


def build_app(master: Master) -> web.Application:
    app = web.Application(client_max_size=64 << 20)
    sched = SchedulerAPI(master)
    op = OperatorAPI(master)

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def version(request: web.Request) -> web.Response:
        return json_response(version_info())

    async def redirect(request: web.Request) -> web.Response:
        c = master.config
        raise web.HTTPTemporaryRedirect(f"//{c.hostname}:{c.port}")

    async def index(request: web.Request) -> web.Response:
        c = master.config
        return web.Response(
            text=f"corral master {master.id} at {c.hostname}:{c.port}: see /master/state\n"
        )

    for prefix in ("", "/master"):
        app.router.add_post(prefix + "/api/v1/scheduler", sched.scheduler)
        app.router.add_post(prefix + "/api/v1", op.call)
        app.router.add_post(prefix + "/api/v1/operator", op.call)
        app.router.add_get(prefix + "/state", op.state)
        app.router.add_get(prefix + "/state.json", op.state)
        app.router.add_get(prefix + "/health", health)
        app.router.add_get(prefix + "/redirect", redirect)
        app.router.add_get(prefix + "/slaves", op.slaves)
        app.router.add_get(prefix + "/frameworks", op.frameworks)
        app.router.add_get(prefix + "/tasks", op.tasks)
    app.router.add_get("/master/agent", sched.agent_link)
    app.router.add_get("/version", version)
    app.router.add_get("/metrics/snapshot", op.metrics)
    app.router.add_get("/", index)
    return app


async def run_master(config: MasterConfig, ready: asyncio.Event | None = None) -> None:
    master = Master(config)
    runner = web.AppRunner(build_app(master), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.ip, config.port, reuse_address=True)
    await site.start()
    log.info("master %s listening on http://%s:%d", master.id, config.ip, config.port)
    print(f"corral master {master.id} listening on http://{config.ip}:{config.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()

    async def pinger() -> None:
        while True:
            await asyncio.sleep(config.agent_ping_timeout)
            master.ping_agents()

    ping_task = loop.create_task(pinger())
    try:
        await stop.wait()
    finally:
        ping_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ping_task
        for fw in master.frameworks.values():
            if fw.stream is not None:
                fw.stream.close()
        await runner.cleanup()
