"""The HTTP side of an HA framework: every instance serves its API; standbys proxy to the leader.

A corral framework (services, jobs, ci) runs as one or more instances sharing a store (see
``corral.scheduler_client.Runner``). Each instance serves the same HTTP API on its own port.
The leader writes the address its API is reached at into the store (key ``api/leader``);
a standby answers every request by proxying it there, streams (server-sent events)
included, so a client may talk to any instance. Paths in ``local`` (for example ``/ping``)
are answered by the instance itself, and so is ``GET /version`` (``{"corral_version": ...,
"leading": ..., "ready": ...}``, which `corral upgrade` reads to know an instance was
restarted on a new wheel and, leading, is ready: ``ready`` is the framework's own test, by
default ``is_leading``).

``leader_address`` reads who leads; ``is_leading`` says whether this instance does. Handlers
on the leader run as usual. A request to a standby while no leader is known gets
``503 {"message": ...}`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

import aiohttp
from aiohttp import web

from corral.scheduler_client.store import Store
from corral.scheduler_client.toolkit import Runner
from corral.security.middleware import SETTINGS_KEY, build_middleware
from corral.security.settings import SecuritySettings

log = logging.getLogger("corral.frameworks.serving")

LEADER_KEY = "api/leader"
# Headers that belong to one hop, not to the request (RFC 9110 §7.6.1), plus the ones
# aiohttp computes itself.
HOP_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
PROXIED_BY = "X-Corral-Proxied-By"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FrameworkServer:
    """Serves ``app`` on ``host:port`` for the instance run by ``runner``.

    ``advertise`` is the base URL other instances and clients reach this one at (by default
    ``http://host:port``). Call ``start()`` before ``runner.run()``; ``stop()`` at the end.
    """

    def __init__(
        self,
        runner: Runner,
        app: web.Application,
        host: str,
        port: int,
        *,
        advertise: str | None = None,
        local: Iterable[str] = ("/ping",),
        security: SecuritySettings | None = None,
    ) -> None:
        """``security``: the API's authentication (``--authenticate-http-*`` with
        ``--credentials``), checked on every instance before a standby proxies."""
        self.runner = runner
        self.app = app
        self.host = host
        self.port = port
        self.advertise = advertise or f"http://{host}:{port}"
        self.local = frozenset(local) | {"/version"}
        self.ready: Callable[[], bool] | None = None  # leading and able to act (default: leading)
        app.router.add_get("/version", self._version)
        self._site_runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._publisher: asyncio.Task[None] | None = None
        if security is not None and security.flags.any:
            app[SETTINGS_KEY] = security
            app.middlewares.insert(0, build_middleware(security))
        app.middlewares.append(self._middleware)

    # ------------------------------------------------------------------ leadership
    @property
    def is_leading(self) -> bool:
        return self.runner.leading.is_set() and not self.runner.fenced

    @property
    def store(self) -> Store | None:
        return self.runner.state.store if self.runner.state is not None else None

    async def leader_address(self) -> str | None:
        """The leader's API base URL, as it published it; None while unknown."""
        if self.is_leading:
            return self.advertise
        store = self.store
        if store is None:
            return None
        value = await store.get(LEADER_KEY)
        return value.decode() if value else None

    async def _publish_when_leading(self) -> None:
        await self.runner.leading.wait()
        while self.store is None:  # the state opens before the campaign; never long
            await asyncio.sleep(0.05)
        await self.store.put(LEADER_KEY, self.advertise.encode())
        log.info("API leader is %s", self.advertise)

    async def _version(self, request: web.Request) -> web.Response:
        from corral import __version__

        ready = self.ready() if self.ready is not None else self.is_leading
        return web.json_response(
            {"corral_version": __version__, "leading": self.is_leading, "ready": bool(ready)}
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5)
        )
        self._site_runner = web.AppRunner(self.app, access_log=None)
        await self._site_runner.setup()
        site = web.TCPSite(self._site_runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # an ephemeral port: say the real one
            for address in self._site_runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    self.port = int(address[1])
                    self.advertise = f"http://{self.host}:{self.port}"
                    break
        self._publisher = asyncio.create_task(self._publish_when_leading())

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._publisher
        if self._site_runner is not None:
            await self._site_runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ proxying
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.is_leading or request.path in self.local or PROXIED_BY in request.headers:
            return await handler(request)
        leader = await self.leader_address()
        if leader is None or leader == self.advertise:
            return web.json_response(
                {
                    "message": "no leader is known yet: this instance is a standby, "
                    "and no instance has been elected"
                },
                status=503,
            )
        return await self._proxy(request, leader)

    async def _proxy(self, request: web.Request, leader: str) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers[PROXIED_BY] = self.advertise
        body = await request.read()
        url = leader.rstrip("/") + request.rel_url.raw_path_qs
        try:
            upstream = await self._session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError) as exc:
            return web.json_response(
                {"message": f"the leader at {leader} cannot be reached: {exc}"}, status=503
            )
        async with upstream:
            out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP_HEADERS:
                    out.headers.add(k, v)
            await out.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await out.write(chunk)
            except (aiohttp.ClientError, ConnectionResetError) as exc:
                log.info("proxied stream from %s ended: %s", leader, exc)
            await out.write_eof()
            return out


__all__ = ["LEADER_KEY", "FrameworkServer"]
