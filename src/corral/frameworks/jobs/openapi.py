"""The OpenAPI 3 description of the jobs API, with the job schema generated from ``Job``."""

from __future__ import annotations

from typing import Any

import msgspec

from corral.frameworks.jobs.model import Job
from corral.frameworks.jobs.runs import Attempt, Run

_CHRONOS = [
    ("get", "/jobs", "every job (Chronos job JSON)", "JobList"),
    (
        "get",
        "/jobs/search",
        "jobs whose name/command contain the query (name, command, any, limit, offset)",
        "JobList",
    ),
    ("get", "/jobs/summary", "name, status, state, schedule, parents, disabled of every job", None),
    ("post", "/iso8601", "create or replace a scheduled job (204)", None),
    ("post", "/dependency", "create or replace a dependent job (204)", None),
    ("get", "/job/{name}", "one job", "Job"),
    ("put", "/job/{name}", "run the job now (204)", None),
    ("delete", "/job/{name}", "delete the job; children re-wired as Chronos does (204)", None),
    ("delete", "/task/kill/{name}", "kill the job's active runs (204)", None),
    ("get", "/job/stat/{name}", "duration histogram and recent runs", None),
    ("get", "/graph/csv", "node and link rows (text/plain)", None),
    ("get", "/graph/dot", "Graphviz (text/plain)", None),
    ("get", "/stats/{which}", "per-job duration statistic", None),
]
_EXTRA = [
    ("get", "/v1/jobs/{name}", "job, nextRun, nextRuns, state, lastRun, activeRuns, blocked", None),
    ("post", "/v1/jobs/{name}/disable", "disable the job (204)", None),
    ("post", "/v1/jobs/{name}/enable", "enable the job (204)", None),
    ("get", "/v1/runs", "run history, newest first (job, limit, state)", None),
    ("get", "/v1/runs/{name}/{id}", "one run", None),
    ("get", "/v1/runs/{name}/{id}/logs/{file}", "the run's stdout or stderr (text)", None),
    ("get", "/v1/graph", "nodes and edges as JSON", None),
    ("get", "/leader", "the leading instance", None),
    ("get", "/metrics", "Dropwizard-style metrics", None),
    ("get", "/ping", "pong", None),
    ("get", "/version", "this instance's corral version and whether it leads", None),
]


def openapi_document() -> dict[str, Any]:
    (job, run, attempt), components = msgspec.json.schema_components(
        [Job, Run, Attempt], ref_template="#/components/schemas/{name}"
    )
    components["JobList"] = {"type": "array", "items": job}
    components["Error"] = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "message": {"type": "string"}},
    }
    paths: dict[str, Any] = {}

    def add(method: str, path: str, summary: str, schema: str | None) -> None:
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if method in ("post", "put") and path.endswith(("iso8601", "dependency")):
            op["requestBody"] = {"content": {"application/json": {"schema": job}}}
        ok: dict[str, Any] = {"description": "OK"}
        if schema:
            ok["content"] = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
            }
        op["responses"]["200" if schema or method == "get" else "204"] = ok
        op["responses"]["400"] = {
            "description": "bad input, naming the field",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        paths.setdefault(path, {})[method] = op

    for prefix in ("/scheduler", "/v1/scheduler"):
        for method, path, summary, schema in _CHRONOS:
            add(method, prefix + path, summary, schema)
    for method, path, summary, schema in _EXTRA:
        add(method, path, summary, schema)
    _ = (run, attempt)
    return {
        "openapi": "3.0.3",
        "info": {"title": "corral jobs (Chronos-compatible)", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }


__all__ = ["openapi_document"]
