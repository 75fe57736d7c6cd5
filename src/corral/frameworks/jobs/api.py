"""The jobs framework's HTTP API: Chronos's ``/scheduler`` family (at the root and under
``/v1``), corral's additions under ``/v1``, the page, and ``/openapi.json``.

Handlers read the core's in-memory index (jobs, graph, active runs) and feed it; a change
is answered once its effects are written to the store. The run history beyond the active
runs is read from the store (one record per run).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from corral.frameworks.jobs import runs as R
from corral.frameworks.jobs.framework import JobsShell
from corral.frameworks.jobs.logs import LogUnavailable, sandbox_file
from corral.frameworks.jobs.model import JobError, UnknownJob, decode_job, job_dict
from corral.frameworks.jobs.openapi import openapi_document
from corral.frameworks.jobs.schedule import iso

PAGE = Path(__file__).resolve().parent / "page"
PERCENTILES = {
    "99thPercentile": 0.99,
    "98thPercentile": 0.98,
    "95thPercentile": 0.95,
    "75thPercentile": 0.75,
    "median": 0.5,
}


def error(status: int, message: str) -> web.Response:
    reason = {400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}.get(status, "")
    return web.json_response({"status": reason, "message": message}, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


class JobsApi:
    def __init__(self, shell: JobsShell, advertise: str = "") -> None:
        self.shell = shell
        self.core = shell.core
        self.advertise = advertise
        self._cache: dict[str, tuple[int, bytes]] = {}

    # ------------------------------------------------------------------ views
    def job_json(self, name: str) -> bytes:
        e = self.core.entry(name)
        hit = self._cache.get(name)
        if hit is not None and hit[0] == e.version:
            return hit[1]
        data = msgspec.json.encode(self.job_view(name))
        self._cache[name] = (e.version, data)
        return data

    def job_view(self, name: str) -> dict[str, Any]:
        e = self.core.entry(name)
        out = job_dict(e.job)
        st = e.state
        last, state = self.core.job_status(name)
        out.update(
            successCount=st.success_count,
            errorCount=st.error_count,
            errorsSinceLastSuccess=st.errors_since_last_success,
            lastSuccess=iso(st.last_success),
            lastError=iso(st.last_error),
            nextRun=iso(e.next_due) or None,
            lastResult=last,
            state=state,
        )
        return out

    def run_view(self, r: R.Run) -> dict[str, Any]:
        cur = r.current or (r.attempts[-1] if r.attempts else None)
        fid = self.shell.framework_id() or ""
        out: dict[str, Any] = {
            "id": r.id,
            "job": r.job,
            "kind": r.kind,
            "cycle": r.cycle,
            "scheduled": iso(r.scheduled),
            "state": r.state,
            "reason": r.reason or None,
            "started": iso(r.started) or None,
            "ended": iso(r.ended) or None,
            "exitStatus": cur.exit_status if cur else None,
            "attempt": r.attempt,
            "taskId": cur.task_id if cur else "",
            "agentId": cur.agent_id if cur else "",
            "host": cur.host if cur else "",
            "sandbox": None,
            "attempts": [
                {
                    "attempt": a.attempt,
                    "taskId": a.task_id,
                    "agentId": a.agent_id,
                    "host": a.host,
                    "started": iso(a.started or a.launched) or None,
                    "ended": iso(a.ended) or None,
                    "state": a.state,
                    "exitStatus": a.exit_status,
                    "message": a.message,
                }
                for a in r.attempts
            ],
        }
        if cur is not None and cur.task_id:
            out["sandbox"] = {
                "agentId": cur.agent_id,
                "frameworkId": fid,
                "path": f"/frameworks/{fid}/executors/{cur.task_id}/runs/latest",
            }
            base = f"/v1/runs/{r.job}/{r.id}/logs"
            out["logs"] = {"stdout": base + "/stdout", "stderr": base + "/stderr"}
        return out

    async def history(self, name: str, limit: int) -> list[R.Run]:
        store = self.shell.store
        keys = await store.keys(f"run/{name}/")
        ids = sorted((k.rsplit("/", 1)[1] for k in keys), key=R.sort_key, reverse=True)
        active = {r.id: r for r in self.core.active_runs(name)}
        out = []
        for rid in ids[:limit]:
            if rid in active:
                out.append(active[rid])
                continue
            data = await store.get(R.run_key(name, rid))
            if data is not None:
                out.append(R.decode_run(data))
        return out

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        needs_core = path.startswith(("/scheduler", "/v1")) or path == "/metrics"
        runner = self.shell.runner
        leading = runner is not None and runner.leading.is_set() and not runner.fenced
        if not leading:
            proxied: web.StreamResponse = await handler(request)  # the serving layer proxies
            return proxied
        if needs_core and not self.shell.ready.is_set():
            return error(503, "the jobs framework is loading its state; try again shortly")
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except JobError as exc:
            return error(400, str(exc))
        except UnknownJob as exc:
            return error(404, str(exc))

    # ------------------------------------------------------------------ Chronos
    async def list_jobs(self, request: web.Request) -> web.Response:
        body = b"[" + b",".join(self.job_json(n) for n in self.core.jobs) + b"]"
        return web.Response(body=body, content_type="application/json")

    async def search(self, request: web.Request) -> web.Response:
        q = request.query
        name, command, anyq = (q.get(k, "").lower() for k in ("name", "command", "any"))
        try:
            limit = int(q.get("limit", "10"))
            offset = int(q.get("offset", "0"))
        except ValueError:
            return error(400, "limit and offset must be whole numbers")
        hits = []
        for n, e in self.core.jobs.items():
            ln, lc = n.lower(), e.job.command.lower()
            if name and name not in ln:
                continue
            if command and command not in lc:
                continue
            if anyq and anyq not in ln and anyq not in lc:
                continue
            hits.append(n)
        page = hits[offset : offset + limit]
        body = b"[" + b",".join(self.job_json(n) for n in page) + b"]"
        return web.Response(body=body, content_type="application/json")

    async def summary(self, request: web.Request) -> web.Response:
        out = []
        for n, e in self.core.jobs.items():
            last, state = self.core.job_status(n)
            out.append(
                {
                    "name": n,
                    "status": last,
                    "state": state,
                    "schedule": e.job.schedule,
                    "parents": e.job.parents,
                    "disabled": e.job.disabled,
                }
            )
        return web.json_response({"jobs": out})

    async def add(self, request: web.Request) -> web.Response:
        job = decode_job(await request.read())
        await self.shell.feed(self.core.add_job(job, self.shell.now()))
        return no_content()

    async def get_job(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.job_json(request.match_info["name"]), content_type="application/json"
        )

    async def run_job(self, request: web.Request) -> web.Response:
        await self.shell.feed(self.core.run_now(request.match_info["name"], self.shell.now()))
        return no_content()

    async def delete_job(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.shell.feed(self.core.delete_job(name, self.shell.now()))
        self._cache.pop(name, None)
        return no_content()

    async def kill_tasks(self, request: web.Request) -> web.Response:
        await self.shell.feed(self.core.kill_runs(request.match_info["name"], self.shell.now()))
        return no_content()

    async def job_stat(self, request: web.Request) -> web.Response:
        e = self.core.entry(request.match_info["name"])
        d = sorted(e.state.durations)
        hist: dict[str, float] = {"count": len(d)}
        for key, q in PERCENTILES.items():
            hist[key] = d[min(len(d) - 1, int(q * len(d)))] if d else 0.0
        hist["mean"] = statistics.fmean(d) if d else 0.0
        runs = await self.history(e.job.name, 20)
        return web.json_response(
            {"histogram": hist, "taskStatHistory": [self.run_view(r) for r in runs]}
        )

    async def stats(self, request: web.Request) -> web.Response:
        which = request.match_info["which"]
        out = []
        for n, e in self.core.jobs.items():
            d = sorted(e.state.durations)
            if not d:
                continue
            if which == "mean":
                t = statistics.fmean(d)
            elif which in PERCENTILES:
                t = d[min(len(d) - 1, int(PERCENTILES[which] * len(d)))]
            else:
                return error(400, f"unknown statistic {which!r}")
            out.append({"jobNameLabel": n, "time": t})
        return web.json_response(out)

    async def graph_csv(self, request: web.Request) -> web.Response:
        lines = []
        for n in self.core.jobs:
            last, state = self.core.job_status(n)
            lines.append(f"node,{n},{last},{state}")
        lines += [f"link,{p},{c}" for p, c in self.core.graph.edges()]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def graph_dot(self, request: web.Request) -> web.Response:
        lines = ["digraph G {"]
        lines += [f'  "{n}";' for n in self.core.jobs]
        lines += [f'  "{p}" -> "{c}";' for p, c in self.core.graph.edges()]
        lines.append("}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    # ------------------------------------------------------------------ corral's additions
    async def job_detail(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        e = self.core.entry(name)
        _, state = self.core.job_status(name)
        nxt = e.schedule.upcoming(self.shell.now(), 5) if e.schedule and e.next_due else []
        last = await self.history(name, 1)
        return web.json_response(
            {
                "job": self.job_view(name),
                "nextRun": iso(e.next_due) or None,
                "nextRuns": [iso(t) for t in nxt],
                "state": state,
                "lastRun": self.run_view(last[0]) if last else None,
                "activeRuns": [self.run_view(r) for r in self.core.active_runs(name)],
                "blocked": self.core.blocked(name),
            }
        )

    async def disable(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.shell.feed(self.core.set_disabled(name, True, self.shell.now()))
        return no_content()

    async def enable(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.shell.feed(self.core.set_disabled(name, False, self.shell.now()))
        return no_content()

    async def runs(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = max(1, min(1000, int(q.get("limit", "50"))))
        except ValueError:
            return error(400, "limit: must be a whole number")
        name = request.match_info.get("name") or q.get("job", "")
        state = q.get("state", "")
        if name:
            self.core.entry(name)
            found = await self.history(name, limit if not state else 1000)
        else:
            merged: dict[tuple[str, str], R.Run] = {}
            for e in self.core.jobs.values():
                for r in e.recent:
                    merged[(r.job, r.id)] = r
            for r in self.core.active_runs():
                merged[(r.job, r.id)] = r
            found = sorted(merged.values(), key=lambda r: r.created, reverse=True)
        if state:
            found = [r for r in found if r.state == state]
        return web.json_response({"runs": [self.run_view(r) for r in found[:limit]]})

    async def one_run(self, request: web.Request) -> web.Response:
        name, rid = request.match_info["name"], request.match_info["id"]
        self.core.entry(name)
        r = self.core.runs.get((name, rid))
        if r is None:
            data = await self.shell.store.get(R.run_key(name, rid))
            if data is None:
                return error(404, f"job {name!r} has no run {rid!r}")
            r = R.decode_run(data)
        return web.json_response({"run": self.run_view(r)})

    async def run_log(self, request: web.Request) -> web.StreamResponse:
        """The run's stdout or stderr (its latest attempt), read from its agent's ``/files``
        through the master's list of agents; the last ``LOG_LIMIT`` bytes at most."""
        name, rid, which = (request.match_info[k] for k in ("name", "id", "file"))
        if which not in ("stdout", "stderr"):
            return error(404, f"a run has stdout and stderr, not {which!r}")
        r = self.core.runs.get((name, rid))
        if r is None:
            data = await self.shell.store.get(R.run_key(name, rid))
            if data is None:
                return error(404, f"job {name!r} has no run {rid!r}")
            r = R.decode_run(data)
        cur = r.attempts[-1] if r.attempts else None
        if cur is None or not cur.task_id or not cur.agent_id:
            return error(404, f"run {rid!r} of {name!r} has not started a task yet")
        fid = self.shell.framework_id() or ""
        path = f"/frameworks/{fid}/executors/{cur.task_id}/runs/latest/{which}"
        text = await sandbox_file(self.master_address(), cur.agent_id, path)
        if isinstance(text, LogUnavailable):
            return error(404, f"{which} of run {rid!r}: {text.why}")
        return web.Response(text=text, content_type="text/plain")

    def master_address(self) -> str | None:
        runner = self.shell.runner
        driver = runner.driver if runner is not None else None
        return driver.master if driver is not None else None

    async def graph(self, request: web.Request) -> web.Response:
        nodes = []
        for n, e in self.core.jobs.items():
            last, state = self.core.job_status(n)
            nodes.append(
                {
                    "name": n,
                    "schedule": e.job.schedule,
                    "parents": e.job.parents,
                    "disabled": e.job.disabled,
                    "lastResult": last,
                    "state": state,
                    "nextRun": iso(e.next_due) or None,
                }
            )
        edges = [{"from": p, "to": c} for p, c in self.core.graph.edges()]
        return web.json_response({"nodes": nodes, "edges": edges})

    # ------------------------------------------------------------------ misc
    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def leader(self, request: web.Request) -> web.Response:
        return web.json_response({"leader": self.advertise.split("://", 1)[-1]})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": "3.0.0-corral",
                "gauges": {
                    "jobs.count": {"value": len(self.core.jobs)},
                    "runs.active": {"value": len(self.core.runs)},
                },
                "counters": {},
                "histograms": {},
                "meters": {},
                "timers": {},
            }
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def index(self, request: web.Request) -> web.StreamResponse:
        page = PAGE / "index.html"
        if not page.exists():
            return web.Response(text="<!doctype html><title>corral jobs</title><p>corral jobs")
        return web.FileResponse(page)

    async def page_file(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        target = (PAGE / rel).resolve()
        if PAGE.resolve() not in target.parents or not target.is_file():
            return error(404, f"no page file {rel!r}")
        return web.FileResponse(target)


def build_app(api: JobsApi) -> web.Application:
    app = web.Application(middlewares=[api.guard])
    r = app.router
    for p in ("", "/v1"):
        s = p + "/scheduler"
        r.add_get(s + "/jobs", api.list_jobs)
        r.add_get(s + "/jobs/search", api.search)
        r.add_get(s + "/jobs/summary", api.summary)
        r.add_post(s + "/iso8601", api.add)
        r.add_put(s + "/iso8601", api.add)
        r.add_post(s + "/dependency", api.add)
        r.add_put(s + "/dependency", api.add)
        r.add_get(s + "/job/stat/{name}", api.job_stat)
        r.add_get(s + "/job/{name}", api.get_job)
        r.add_put(s + "/job/{name}", api.run_job)
        r.add_delete(s + "/job/{name}", api.delete_job)
        r.add_put(s + "/job/{name}/disable", api.disable)
        r.add_put(s + "/job/{name}/enable", api.enable)
        r.add_get(s + "/job/{name}/runs", api.runs)
        r.add_get(s + "/runs", api.runs)
        r.add_delete(s + "/task/kill/{name}", api.kill_tasks)
        r.add_get(s + "/graph/csv", api.graph_csv)
        r.add_get(s + "/graph/dot", api.graph_dot)
        r.add_get(s + "/stats/{which}", api.stats)
    r.add_get("/v1/jobs/{name}", api.job_detail)
    r.add_post("/v1/jobs/{name}/disable", api.disable)
    r.add_post("/v1/jobs/{name}/enable", api.enable)
    r.add_get("/v1/runs", api.runs)
    r.add_get("/v1/runs/{name}/{id}", api.one_run)
    r.add_get("/v1/runs/{name}/{id}/logs/{file}", api.run_log)
    r.add_get("/v1/graph", api.graph)
    r.add_get("/ping", api.ping)
    r.add_get("/leader", api.leader)
    r.add_get("/metrics", api.metrics)
    r.add_get("/openapi.json", api.openapi)
    r.add_get("/", api.index)
    r.add_get("/page/{path:.+}", api.page_file)
    return app


__all__ = ["JobsApi", "build_app", "error"]
