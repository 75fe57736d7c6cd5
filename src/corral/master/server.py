"""The master process: HTTP server, leadership, timers, and the routes of every API.

One process serves HTTP all the time. While it leads, a ``Term`` (a fresh ``MasterShell`` with
its core state, API objects and timers) answers the APIs; while it does not, every API call
gets a 307 to the leader (or 503 while there is none), as Mesos does. Without ``--zk`` the one
master leads from the start, with its registry in SQLite under ``--work-dir``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from corral.agent.api import version_info
from corral.coordination.embedded import SqliteRegistry
from corral.coordination.interfaces import Registry
from corral.logs import http as logs_http
from corral.master import handover, schedule_api
from corral.master.api import SchedulerAPI
from corral.master.core import events as ev
from corral.master.core.config import MasterConfig, make_master_info
from corral.master.core.state import MasterState
from corral.master.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from corral.master.metrics import MasterMetrics
from corral.master.operator_api import OperatorAPI
from corral.master.preemption_view import add_routes as add_preemption_routes
from corral.master.shell import MasterShell
from corral.master.ui_routes import add_ui_routes
from corral.master.views import metrics_snapshot
from corral.security import middleware as security
from corral.security.settings import master_flags_off
from corral.security.tls import server_context
from corral.transport.http import json_response
from corral.wire.codec import to_builtins

log = logging.getLogger("corral.master")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Term:
    """One period of leadership: the master's state lives and dies with it."""

    def __init__(
        self, config: MasterConfig, registry: Registry | None, metrics: MasterMetrics
    ) -> None:
        self.shell = MasterShell(config, registry, metrics.observe)
        self.scheduler = SchedulerAPI(self.shell)
        self.operator = OperatorAPI(
            self.shell.state,
            self.shell.subscribers,
            feed=self.shell.feed,
            persisted=self.shell.persisted,
        )
        self._pinger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.shell.recover()
        self._pinger = asyncio.get_running_loop().create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.shell.state.config.agent_ping_timeout)
            self.shell.feed(ev.PingDue())

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        self.shell.shutdown()
        await self.scheduler.close_agent_links()


class MasterProcess:
    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        self.term: Term | None = None
        self.leader_address: str | None = None
        self.zk_state = "CONNECTED" if config.zk is None else "CONNECTING"
        self._changes: asyncio.Queue[tuple[bool, str | None]] = asyncio.Queue()
        self._registry: Registry | None = None
        self.contender: object | None = None
        self._follower: asyncio.Task[None] | None = None
        # What a standby reports: the same names, nothing in them, elected 0.
        self._standby = MasterState(config=config, id="", start_time=time.time())
        self.metrics = MasterMetrics(self.metrics_now)

    def snapshot(self) -> dict[str, float]:
        """``/metrics/snapshot``: the term's, or a standby's (elected 0)."""
        if self.term is not None:
            return metrics_snapshot(self.term.shell.state)
        snap = metrics_snapshot(self._standby)
        snap["master/elected"] = 0
        return snap

    def metrics_now(self) -> tuple[dict[str, float], int, int]:
        subs = self.term.shell.subscribers if self.term is not None else None
        return (
            self.snapshot(),
            len(subs.streams) if subs is not None else 0,
            subs.dropped if subs is not None else 0,
        )

    @property
    def address(self) -> str:
        return f"{self.config.hostname}:{self.config.port}"

    def master_info_json(self) -> bytes:
        """What this master publishes in ZooKeeper: MasterInfo as one line of JSON (as Mesos)."""
        info = to_builtins(make_master_info(self.config, str(uuid.uuid4())))
        return json.dumps(info, separators=(",", ":")).encode()

    def on_zk_state(self, state: str) -> None:
        self.zk_state = state
        if state != "CONNECTED" and self.term is not None:
            self.term.shell.pause()  # at once: no offers, no answers, until we know more
        if state != "CONNECTED":
            log.error(
                "ZooKeeper connection %s: no election or registry write is possible until a "
                "quorum of the ensemble answers; running tasks are not affected",
                state,
            )
        else:
            log.info("ZooKeeper connection restored")

    def health(self) -> tuple[int, str]:
        if self.config.zk is not None and self.zk_state != "CONNECTED":
            return 503, (
                f"ZooKeeper connection {self.zk_state}: this master cannot lead or follow "
                "until a quorum of the ZooKeeper ensemble answers\n"
            )
        if self.config.zk is not None and self.term is None and self.leader_address is None:
            return 503, "No leader elected\n"
        return 200, ""

    # ------------------------------------------------------------------ leadership
    def on_change(self, leading: bool, leader: str | None) -> None:
        """From the contender (on the loop): apply in order in ``_follow``."""
        self._changes.put_nowait((leading, leader))

    async def follow(self) -> None:
        while True:
            leading, leader = await self._changes.get()
            try:
                await self._apply(leading, leader)
            except Exception:
                log.exception("applying a leadership change failed; trying again in 1 s")
                await asyncio.sleep(1.0)
                if self._changes.empty():
                    self._changes.put_nowait((leading, leader))

    async def _apply(self, leading: bool, leader: str | None) -> None:
        self.leader_address = leader
        if leading and self.term is not None and self.term.shell.state.paused:
            log.info("same ZooKeeper session reconnected: resuming as leader")
            self.term.shell.resume()
        elif leading and self.term is None:
            term = Term(self.config, self._registry, self.metrics)
            await term.start()
            self.term = term
            log.info("elected leading master (id %s)", term.shell.state.id)
            print(f"corral master {term.shell.state.id} is the leader", flush=True)
        elif not leading and self.term is not None:
            term, self.term = self.term, None
            log.warning("no longer the leader; dropping the in-memory state")
            await term.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.zk is None:
            self._registry = SqliteRegistry(Path(self.config.work_dir) / "registry.db")
            self._follower = loop.create_task(self.follow())
            self.on_change(True, self.address)
            return
        from corral.coordination.zookeeper import MasterContender, ZkRegistry

        contender = MasterContender(
            self.config.zk,
            self.master_info_json(),
            self.on_change,
            self.config.zk_session_timeout,
            on_state=self.on_zk_state,
        )
        self.contender = contender
        await contender.start()
        self.zk_state = "CONNECTED"
        self._registry = await loop.run_in_executor(
            None, ZkRegistry, contender.client, contender.url.path
        )
        # Leadership changes queued meanwhile are applied from here on, with the registry.
        self._follower = loop.create_task(self.follow())

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        if self.term is not None:
            await self.term.stop()
            self.term = None
        from corral.coordination.zookeeper import MasterContender

        if isinstance(self.contender, MasterContender):
            await self.contender.stop()

    # ------------------------------------------------------------------ routing
    def not_leader(self, request: web.Request) -> web.Response:
        if self.leader_address and self.leader_address != self.address:
            location = f"//{self.leader_address}{request.path_qs}"
            return web.Response(status=307, headers={"Location": location})
        return web.Response(status=503, text="No leader elected")

    def leader_route(self, pick: Callable[[Term], Handler]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            term = self.term
            if term is None:
                return self.not_leader(request)
            if term.shell.state.paused:
                return web.Response(
                    status=503, text="ZooKeeper connection suspended: not acting as leader\n"
                )
            return await pick(term)(request)

        return handler


def build_app(proc: MasterProcess) -> web.Application:
    app = web.Application(client_max_size=64 << 20)
    security.install(app, proc.config.security)
    lead = proc.leader_route

    async def health(request: web.Request) -> web.Response:
        status, text = proc.health()
        return web.Response(status=status, text=text)

    async def version(request: web.Request) -> web.Response:
        return json_response(version_info())

    async def redirect(request: web.Request) -> web.Response:
        if proc.term is not None and proc.term.shell.state.paused:
            return web.Response(status=503, text="ZooKeeper connection suspended\n")
        leader = proc.address if proc.term is not None else proc.leader_address
        if not leader:
            return web.Response(status=503, text="No leader elected")
        return web.Response(status=307, headers={"Location": f"//{leader}"})

    async def metrics_snapshot(request: web.Request) -> web.StreamResponse:
        return json_response(proc.snapshot())

    async def prometheus(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=proc.metrics.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )

    for prefix in ("", "/master"):
        app.router.add_post(prefix + "/api/v1/scheduler", lead(lambda t: t.scheduler.scheduler))
        operator = logs_http.with_logging_calls(lead(lambda t: t.operator.call))
        app.router.add_post(prefix + "/api/v1", operator)
        app.router.add_post(prefix + "/api/v1/operator", operator)
        for name in ("/state", "/state.json"):
            app.router.add_get(prefix + name, lead(lambda t: t.operator.state))
        app.router.add_get(prefix + "/slaves", lead(lambda t: t.operator.slaves))
        app.router.add_get(prefix + "/frameworks", lead(lambda t: t.operator.frameworks))
        app.router.add_get(prefix + "/tasks", lead(lambda t: t.operator.tasks))
        for name in ("/roles", "/roles.json"):
            app.router.add_get(prefix + name, lead(lambda t: t.operator.roles))
        app.router.add_get(prefix + "/health", health)
        app.router.add_get(prefix + "/redirect", redirect)
    app.router.add_post("/master/resign", lambda request: handover.resign(proc, request))
    app.router.add_get("/master/agent", lead(lambda t: t.scheduler.agent_link))
    app.router.add_get("/version", version)
    app.router.add_get("/metrics/snapshot", metrics_snapshot)
    app.router.add_get("/metrics", prometheus)
    add_preemption_routes(app, lead)  # GET /master/preemptions
    add_ui_routes(app, proc)  # the web UI at /, its data calls under /ui/
    logs_http.add_routes(app, master=True)
    schedule_api.add_routes(app, lead)
    return app


# The master keeps millions of long-lived objects (a record per task and agent). Python's
# default gen-0 threshold (700 allocations) makes the collector walk the young generation
# thousands of times while 100,000 tasks are placed or rendered; a larger one does the same
# work in far fewer passes (bench/RESULTS.md, "Scale": 2.6 s -> 1.0 s for a first render).
GC_THRESHOLDS = (100_000, 50, 100)


async def run_master(config: MasterConfig) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    proc = MasterProcess(config)
    runner = web.AppRunner(build_app(proc), handler_cancellation=True, access_log=None)
    await runner.setup()
    # A deep accept queue: thousands of agents (re)connect at once after a failover.
    sec = config.security
    ssl = server_context(sec.tls_cert, sec.tls_key or sec.tls_cert) if sec.tls_cert else None
    site = web.TCPSite(
        runner, config.ip, config.port, reuse_address=True, backlog=4096, ssl_context=ssl
    )
    await site.start()
    security.warn_if_open("master", config.ip, master_flags_off(sec))
    log.info("master listening on %s://%s:%d", sec.scheme, config.ip, config.port)
    print(f"corral master listening on {sec.scheme}://{config.ip}:{config.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await proc.start()
        await stop.wait()
    finally:
        await proc.stop()
        await runner.cleanup()
