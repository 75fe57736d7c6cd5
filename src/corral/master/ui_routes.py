"""The master's web UI over HTTP: the page at ``/``, its assets, its JSON data calls under
``/ui/api/``, the agents' sandboxes and container usage proxied under ``/ui/agents/<id>/``,
and the sampler that keeps an hour of utilization history.

``add_ui_routes(app, proc)`` is the one call ``master/server.py`` makes. Everything but the
static assets answers only on the leading master: a standby 307s ``/`` (and every data call)
to the leader, as it does the other APIs. The views are ``ui_views`` (pure, over the state);
this module owns the clock, the timer, the sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from corral.coordination import zk_health
from corral.coordination.url import parse_zk_url
from corral.master import ui_views
from corral.master.core.authz import may_view
from corral.master.core.state import MasterState
from corral.master.ui_sampler import SampleRing, add, series
from corral.master.ui_tasks import parse_query
from corral.security.client import ClientSecurity
from corral.security.middleware import principal_of
from corral.transport.http import error, json_response

if TYPE_CHECKING:
    from corral.master.server import MasterProcess, Term

log = logging.getLogger("corral.master.ui")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TICK = 2.0  # seconds between looks at the agents (their last ping)
ZK_PROBE_SECS = 5.0
PROXY_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=3)
FILE_OPS = ("browse", "read", "download")
ASSET_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def sample_interval() -> float:
    """``CORRAL_UI_SAMPLE_SECS`` (default 5): seconds between the dashboard's samples."""
    raw = os.environ.get("CORRAL_UI_SAMPLE_SECS", "")
    try:
        value = float(raw) if raw else 5.0
    except ValueError:
        value = 0.0
    if not 0.1 <= value <= 600:
        log.warning(
            "CORRAL_UI_SAMPLE_SECS=%r is not a number of seconds in [0.1, 600]; using 5", raw
        )
        value = 5.0
    return value


def assets() -> dict[str, tuple[bytes, str]]:
    """The page's files from the installed package: name -> (bytes, content type)."""
    out: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("corral.master").joinpath("page").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in ASSET_TYPES:
            out[entry.name] = (entry.read_bytes(), ASSET_TYPES[suffix])
    return out


class MasterUI:
    def __init__(self, proc: MasterProcess) -> None:
        self.proc = proc
        self.agents_client = ClientSecurity.from_env()
        self.ring = SampleRing(interval=sample_interval())
        self.seen: dict[str, tuple[str, str]] = {}  # agent id -> (hostname, address)
        self.last_ping: dict[str, float] = {}  # agent id -> when last seen answering
        self.zk_servers: dict[str, str] = {}  # host:port -> mode
        self.assets = assets()
        self._loop: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop().create_task(self.run())

    async def stop(self, app: web.Application) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._session is not None:
            await self._session.close()

    async def run(self) -> None:
        next_sample = next_probe = 0.0
        while True:
            now = time.time()
            try:
                term = self.proc.term
                if term is not None:
                    self.look(term, now)
                    if now >= next_sample:
                        add(self.ring, ui_views.sample(term.shell.state, now))
                        next_sample = now + self.ring.interval
                if self.proc.config.zk is not None and now >= next_probe:
                    next_probe = now + ZK_PROBE_SECS
                    await self.probe_zk()
            except Exception:
                log.exception("the web UI's sampler failed; trying again")
            await asyncio.sleep(min(TICK, self.ring.interval))

    def look(self, term: Term, now: float) -> None:
        for a in term.shell.state.agents.values():
            self.seen[a.id] = (a.hostname, a.address)
            if a.connected and a.missed_pings == 0:
                self.last_ping[a.id] = now
        if len(self.seen) > 2 * (len(term.shell.state.agents) + 1000):
            keep = set(term.shell.state.agents) | set(term.shell.state.unreachable_agents)
            self.seen = {k: v for k, v in self.seen.items() if k in keep}
            self.last_ping = {k: v for k, v in self.last_ping.items() if k in keep}

    async def probe_zk(self) -> None:
        zk = self.proc.config.zk
        assert zk is not None
        try:
            hosts = parse_zk_url(zk).hosts
        except ValueError:
            return
        quorum = await asyncio.to_thread(zk_health.ensemble, hosts, 1.0)
        self.zk_servers = {
            s.address: s.mode if s.mode != "unreachable" else f"unreachable ({s.detail})"
            for s in quorum.servers
        }

    def zookeeper(self) -> dict[str, Any]:
        proc = self.proc
        if proc.config.zk is None:
            return {"mode": "none", "text": "no ZooKeeper (single master)"}
        servers = dict(self.zk_servers)
        serving = sum(1 for m in servers.values() if m in ("leader", "follower", "standalone"))
        quorum = len(servers) // 2 + 1 if servers else 0
        return {
            "mode": "zookeeper",
            "session": proc.zk_state,
            "servers": servers,
            "serving": serving,
            "quorum": quorum,
            "healthy": proc.zk_state == "CONNECTED" and serving >= quorum,
        }

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # To the agents as any client of theirs: CORRAL_TLS_CA (https) and credentials.
            self._session = self.agents_client.session(PROXY_TIMEOUT)
        return self._session

    # ------------------------------------------------------------------ pages
    async def index(self, request: web.Request) -> web.StreamResponse:
        if self.proc.term is None:
            return self.proc.not_leader(request)
        body, ctype = self.assets["index.html"]
        return web.Response(body=body, content_type=ctype, headers={"Cache-Control": "no-cache"})

    async def asset(self, request: web.Request) -> web.StreamResponse:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            return error(404, f"no such asset: {request.match_info['name']}")
        body, ctype = found
        return web.Response(body=body, content_type=ctype, headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------------ data
    def dashboard(self, term: Term, request: web.Request) -> web.StreamResponse:
        state = term.shell.state
        return json_response(
            ui_views.dashboard(state, self.proc.address, self.zookeeper(), time.time())
        )

    def history(self, term: Term, request: web.Request) -> web.StreamResponse:
        window = request.query.get("window", "")
        try:
            secs = float(window) if window else None
        except ValueError:
            return error(400, f"'window' must be a number of seconds, not {window!r}")
        return json_response(series(self.ring, time.time(), secs))

    def agents(self, term: Term, request: web.Request) -> web.StreamResponse:
        paged = page_params(request.query, ui_views.MAX_AGENT_PAGE)
        if isinstance(paged, str):
            return error(400, paged)
        offset, limit = paged
        return json_response(
            ui_views.agents(
                term.shell.state,
                self.seen,
                self.last_ping,
                offset,
                limit,
                request.query.get("q", "").strip(),
            )
        )

    def agent(self, term: Term, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["agent_id"]
        out = ui_views.agent(term.shell.state, aid, self.seen, self.last_ping.get(aid))
        if out is None:
            return error(404, f"no agent {aid!r}")
        return json_response(out)

    def frameworks(self, term: Term, request: web.Request) -> web.StreamResponse:
        return json_response(ui_views.frameworks(term.shell.state))

    def tasks(self, term: Term, request: web.Request) -> web.StreamResponse:
        q = parse_query(request.query)
        if isinstance(q, str):
            return error(400, q)
        return json_response(ui_views.tasks(term.shell.state, q))

    def task(self, term: Term, request: web.Request) -> web.StreamResponse:
        fid, tid = request.match_info["framework_id"], request.match_info["task_id"]
        out = ui_views.task(term.shell.state, fid, tid)
        if out is None:
            return error(404, f"no task {tid!r} of framework {fid!r}")
        return json_response(out)

    def offers(self, term: Term, request: web.Request) -> web.StreamResponse:
        return json_response(ui_views.offers(term.shell.state))

    # ------------------------------------------------------------------ agent proxy
    async def proxy(self, term: Term, request: web.Request, path: str) -> web.StreamResponse:
        aid = request.match_info["agent_id"]
        a = term.shell.state.agents.get(aid)
        if a is None:
            return error(404, f"agent {aid!r} is not registered (unreachable or removed)")
        url = self.agents_client.url(a.address, path)
        try:
            async with self.session().get(url, params=request.query) as upstream:
                resp = web.StreamResponse(status=upstream.status)
                for h in ("Content-Type", "Content-Length", "Content-Disposition"):
                    if h in upstream.headers:
                        resp.headers[h] = upstream.headers[h]
                await resp.prepare(request)
                async for chunk in upstream.content.iter_chunked(1 << 16):
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
        except (aiohttp.ClientError, TimeoutError) as exc:
            return error(502, f"agent {aid} at {a.address} did not answer: {exc!r}")

    async def containers(self, term: Term, request: web.Request) -> web.StreamResponse:
        return await self.proxy(term, request, "/containers")

    async def files(self, term: Term, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        if op not in FILE_OPS:
            return error(404, f"no file operation {op!r} (one of {', '.join(FILE_OPS)})")
        return await self.proxy(term, request, f"/files/{op}")


def page_params(query: Mapping[str, str], most: int) -> tuple[int, int] | str:
    out = []
    for name, default, low, high in (("offset", 0, 0, 1 << 62), ("limit", 50, 1, most)):
        raw = query.get(name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            return f"'{name}' must be an integer, not {raw!r}"
        if not low <= value <= high:
            return f"'{name}' must be between {low} and {high}, not {value}"
        out.append(value)
    return out[0], out[1]


def hidden_framework(state: MasterState, principal: str | None) -> str | None:
    """The web UI shows every framework: with an ACL file, a principal that may not view one
    of them is refused its data calls (403 naming the framework) rather than shown it."""
    if state.config.security.acls is None:
        return None
    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        if not may_view(state, principal, fw):
            who = principal or "an anonymous caller"
            return (
                f"the web UI shows every framework, and {who} may not view framework {fw.id} "
                f"(user {fw.info.user!r}) by the view_frameworks / view_tasks ACLs"
            )
    return None


def add_ui_routes(app: web.Application, proc: MasterProcess) -> MasterUI:
    """Serve the web UI from ``app``: ``/``, ``/ui/static/*``, ``/ui/api/*``, ``/ui/agents/*``."""
    ui = MasterUI(proc)
    app.on_startup.append(ui.start)
    app.on_cleanup.append(ui.stop)

    def lead(
        fn: Callable[[Term, web.Request], Awaitable[web.StreamResponse] | web.StreamResponse],
    ) -> Handler:
        async def call(term: Term, request: web.Request) -> web.StreamResponse:
            hidden = hidden_framework(term.shell.state, principal_of(request))
            if hidden is not None:
                return error(403, hidden)
            out = fn(term, request)
            return out if isinstance(out, web.StreamResponse) else await out

        def pick(term: Term) -> Handler:
            return lambda request: call(term, request)

        return proc.leader_route(pick)

    r = app.router
    r.add_get("/", ui.index)
    r.add_get("/ui/static/{name}", ui.asset)
    r.add_get("/ui/api/dashboard", lead(ui.dashboard))
    r.add_get("/ui/api/history", lead(ui.history))
    r.add_get("/ui/api/agents", lead(ui.agents))
    r.add_get("/ui/api/agents/{agent_id}", lead(ui.agent))
    r.add_get("/ui/api/frameworks", lead(ui.frameworks))
    r.add_get("/ui/api/tasks", lead(ui.tasks))
    r.add_get("/ui/api/tasks/{framework_id}/{task_id}", lead(ui.task))
    r.add_get("/ui/api/offers", lead(ui.offers))
    r.add_get("/ui/agents/{agent_id}/containers", lead(ui.containers))
    r.add_get("/ui/agents/{agent_id}/files/{op}", lead(ui.files))
    return ui
