"""Two instances of a framework on one store: the standby proxies its API to the leader.

No master is needed: the election runs on the SQLite store alone (the driver keeps trying
to reach the unreachable master meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from corral.frameworks.serving import FrameworkServer
from corral.scheduler_client import Runner
from corral.scheduler_client.toolkit import Framework
from corral.testing import free_port

pytestmark = pytest.mark.integration


class Quiet(Framework):
    name = "serving-test"


def make_app(who: str) -> web.Application:
    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"who": who, "body": (await request.text())})

    async def stream(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for i in range(3):
            await out.write(f"data: {who} {i}\n\n".encode())
        return out

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text=f"pong {who}")

    app = web.Application()
    app.router.add_route("*", "/who", whoami)
    app.router.add_get("/events", stream)
    app.router.add_get("/ping", ping)
    return app


async def test_standby_proxies_to_the_leader_and_answers_local_paths(tmp_path: Path) -> None:
    dead_master = f"127.0.0.1:{free_port()}"
    runners = [Runner(Quiet(), dead_master, tmp_path, lease_ttl=1.0) for _ in range(2)]
    servers = [FrameworkServer(r, make_app(f"i{n}"), "127.0.0.1", 0) for n, r in enumerate(runners)]
    tasks = []
    try:
        await servers[0].start()
        tasks.append(asyncio.create_task(runners[0].run()))
        await asyncio.wait_for(runners[0].leading.wait(), 10)
        await servers[1].start()
        tasks.append(asyncio.create_task(runners[1].run()))
        async with aiohttp.ClientSession() as http:
            standby = servers[1].advertise
            for _ in range(100):  # the leader publishes its address just after it leads
                if await servers[1].leader_address() == servers[0].advertise:
                    break
                await asyncio.sleep(0.05)
            async with http.post(standby + "/who?x=1", data="hello") as r:
                assert r.status == 200
                assert await r.json() == {"who": "i0", "body": "hello"}
            async with http.get(standby + "/ping") as r:
                assert await r.text() == "pong i1"
            async with http.get(standby + "/events") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                assert (await r.text()).count("data: i0") == 3
            # The leader goes away cleanly: the standby leads and answers itself.
            await runners[0].stop()
            await asyncio.wait_for(runners[1].leading.wait(), 10)
            async with http.get(standby + "/who") as r:
                assert (await r.json())["who"] == "i1"
    finally:
        for r in runners:
            await r.stop()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, 10)
        for s in servers:
            await s.stop()


async def test_a_standby_without_a_leader_says_so(tmp_path: Path) -> None:
    runner = Runner(Quiet(), f"127.0.0.1:{free_port()}", tmp_path)
    server = FrameworkServer(runner, make_app("only"), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.advertise + "/who") as r:
            assert r.status == 503
            assert "no leader" in (await r.json())["message"]
    finally:
        await server.stop()
