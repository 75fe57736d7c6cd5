"""The ci framework's HTTP API (aiohttp) and its page.

* ``POST /v1/demand`` ``{"labels": [...], "count": N, "source": "jenkins"}``: N builds of
  that source now wait for an agent with those labels (a level; 0 clears it).
* ``GET /v1/demand``; ``GET /v1/agents``; ``GET /v1/agents/{name}`` (404 says how it ended).
* ``POST /v1/agents`` ``{"name", "template", "env"}``: an agent of its own (Buildbot).
* ``DELETE /v1/agents/{name}``: release it (removed, or drained first when busy).
* ``POST /v1/agents/{name}/report`` ``{"busy": N}``: N executors busy (0: idle).
* ``GET /v1/decisions?limit=N``; ``GET /v1/status`` (everything the page shows); ``GET /``.
"""

from __future__ import annotations

from importlib import resources

import msgspec
from aiohttp import web

from corral.frameworks.ci import provisioning as p
from corral.frameworks.ci.framework import CiFramework, CiRunner
from corral.frameworks.ci.model import STATES


class DemandBody(msgspec.Struct, forbid_unknown_fields=False):
    count: int
    labels: list[str] = []
    source: str = "default"


class AgentBody(msgspec.Struct):
    name: str
    template: str
    env: dict[str, str] = {}


class ReportBody(msgspec.Struct):
    busy: int


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


async def _body(request: web.Request, type_: type[msgspec.Struct]) -> msgspec.Struct:
    raw = await request.read()
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise web.HTTPUnprocessableEntity(
            text=msgspec.json.encode({"message": str(exc)}).decode(),
            content_type="application/json",
        ) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise web.HTTPBadRequest(
            text=msgspec.json.encode({"message": f"not JSON: {exc}"}).decode(),
            content_type="application/json",
        ) from None


def agent_view(a: p.Agent) -> dict[str, object]:
    return {
        "name": a.name,
        "template": a.template,
        "state": a.state,
        "busy": a.busy,
        "named": a.named,
        "task_id": a.task_id,
        "agent_id": a.agent_id,
        "hostname": a.hostname,
        "created_at": a.created_at,
        "idle_since": a.idle_since,
        "reason": a.reason,
        "note": a.note,
    }


def decision_view(d: p.Decision) -> dict[str, object]:
    return {
        "at": d.at,
        "kind": d.kind,
        "template": d.template,
        "agent": d.agent,
        "reason": d.reason,
    }


def build_app(ci: CiFramework, runner: CiRunner | None = None) -> web.Application:
    app = web.Application()

    async def submit(event: p.Event) -> web.Response | None:
        try:
            await ci.submit(event)
        except p.Refused as exc:
            return _error(exc.status, exc.message)
        return None

    async def post_demand(request: web.Request) -> web.Response:
        body = await _body(request, DemandBody)
        assert isinstance(body, DemandBody)
        refused = await submit(p.SetDemand(frozenset(body.labels), body.count, body.source))
        return refused or web.json_response(demand_view())

    def demand_view() -> list[dict[str, object]]:
        return [
            {
                "source": src,
                "labels": sorted(labels),
                "count": len(d.units),
                "oldest": min(d.units) if d.units else None,
            }
            for (src, labels), d in sorted(ci.state.demand.items(), key=lambda kv: kv[0][0])
        ]

    async def get_demand(request: web.Request) -> web.Response:
        return web.json_response(demand_view())

    async def get_agents(request: web.Request) -> web.Response:
        agents = sorted(ci.state.agents.values(), key=p.agent_sort_key)
        return web.json_response([agent_view(a) for a in agents])

    async def get_agent(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        a = ci.state.agents.get(name)
        if a is not None:
            return web.json_response(agent_view(a))
        r = ci.state.requests.get(name)
        if r is not None:
            return web.json_response({"name": name, "template": r.template, "state": "requested"})
        ended = ci.state.ended.get(name)
        why = f"agent {name!r} ended: {ended}" if ended else f"no agent {name!r}"
        return web.json_response({"message": why, "ended": ended}, status=404)

    async def post_agent(request: web.Request) -> web.Response:
        body = await _body(request, AgentBody)
        assert isinstance(body, AgentBody)
        refused = await submit(p.RequestAgent(body.name, body.template, dict(body.env)))
        if refused:
            return refused
        return await get_agent_named(body.name, 201)

    async def get_agent_named(name: str, status: int) -> web.Response:
        a = ci.state.agents.get(name)
        view = agent_view(a) if a else {"name": name, "state": "requested"}
        return web.json_response(view, status=status)

    async def delete_agent(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        refused = await submit(p.ReleaseAgent(name, request.query.get("why", "released")))
        if refused:
            return refused
        a = ci.state.agents.get(name)
        return web.json_response({"name": name, "state": a.state if a else "gone"})

    async def report(request: web.Request) -> web.Response:
        body = await _body(request, ReportBody)
        assert isinstance(body, ReportBody)
        name = request.match_info["name"]
        refused = await submit(p.Report(name, body.busy))
        return refused or await get_agent_named(name, 200)

    async def decisions(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            return _error(400, "limit: must be a whole number")
        items = list(ci.state.log)[-limit:] if limit > 0 else []
        return web.json_response([decision_view(d) for d in reversed(items)])

    async def status(request: web.Request) -> web.Response:
        templates = []
        for t in ci.config.templates:
            agents = ci.state.of_template(t.name)
            counts = {st: sum(1 for a in agents if a.state == st) for st in STATES}
            templates.append(
                {
                    "name": t.name,
                    "labels": list(t.labels),
                    "min": t.min,
                    "max": t.max,
                    "executors": t.executors,
                    "provision_delay": t.provision_delay,
                    "idle_termination": t.idle_termination,
                    "agents": counts,
                    "unplaced": ci.state.unplaced.get(t.name),
                }
            )
        agents = sorted(ci.state.agents.values(), key=p.agent_sort_key)
        return web.json_response(
            {
                "name": ci.config.name,
                "registered": bool(runner and runner.registered and ci.sink is not None),
                "framework_id": ci.framework_id,
                "on_demand": ci.config.on_demand,
                "demand": demand_view(),
                "requests": [
                    {"name": r.name, "template": r.template, "since": r.since}
                    for r in ci.state.requests.values()
                ],
                "templates": templates,
                "agents": [agent_view(a) for a in agents],
                "decisions": [decision_view(d) for d in reversed(list(ci.state.log)[-100:])],
                "now": ci.clock(),
            }
        )

    async def page(request: web.Request) -> web.Response:
        html = resources.files("corral.frameworks.ci").joinpath("page/index.html").read_text()
        return web.Response(text=html, content_type="text/html")

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="pong")

    app.router.add_post("/v1/demand", post_demand)
    app.router.add_get("/v1/demand", get_demand)
    app.router.add_get("/v1/agents", get_agents)
    app.router.add_post("/v1/agents", post_agent)
    app.router.add_get("/v1/agents/{name}", get_agent)
    app.router.add_delete("/v1/agents/{name}", delete_agent)
    app.router.add_post("/v1/agents/{name}/report", report)
    app.router.add_get("/v1/decisions", decisions)
    app.router.add_get("/v1/status", status)
    app.router.add_get("/", page)
    app.router.add_get("/ping", ping)
    return app


__all__ = ["build_app"]
