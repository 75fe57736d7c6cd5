"""``/v2/tasks``, ``/v2/tasks/delete``, ``/v2/deployments``, ``/v2/queue`` and ``/v2/groups``."""

from __future__ import annotations

import msgspec
from aiohttp import web

from corral.frameworks.services import groups
from corral.frameworks.services.api_common import (
    BadRequest,
    deployment_response,
    embeds,
    flag,
    json_response,
    raw_json,
    read_json,
)
from corral.frameworks.services.api_context import Api, url_app_id
from corral.frameworks.services.api_render import (
    deployment_json,
    queue_item_json,
    task_json,
    tasks_bytes,
)
from corral.frameworks.services.errors import Invalid
from corral.frameworks.services.ids import normalize_group_id
from corral.frameworks.services.views import DeploymentResult, InstanceView, NotFound

STATUS = {
    "running": ("TASK_RUNNING",),
    "staging": ("TASK_STAGING", "TASK_STARTING"),
    "unreachable": ("TASK_UNREACHABLE",),
}


def _wants_text(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/plain" in accept and "application/json" not in accept


def text_tasks(tasks: list[InstanceView]) -> str:
    """Marathon's text/plain form: per app and port index, the app id, the service port (0:
    none) and every ``host:port``, tab-separated; apps without ports list their hosts."""
    by_app: dict[str, list[InstanceView]] = {}
    for t in tasks:
        by_app.setdefault(t.app_id, []).append(t)
    lines = []
    for app_id, ts in sorted(by_app.items()):
        width = max(len(t.ports) for t in ts)
        if width == 0:
            lines.append("\t".join([app_id, "0", *(t.host for t in ts)]))
        for i in range(width):
            hosts = [f"{t.host}:{t.ports[i]}" for t in ts if len(t.ports) > i]
            lines.append("\t".join([app_id, "0", *hosts]))
    return "".join(line + "\n" for line in lines)


def routes(api: Api) -> list[web.RouteDef]:
    async def list_tasks(request: web.Request) -> web.Response:
        wanted: set[str] = set()
        for value in request.query.getall("status", []) + request.query.getall("status[]", []):
            for part in value.split(","):
                name = part.strip().lower()
                if name not in STATUS:
                    raise BadRequest(
                        f"query parameter status: unknown status {part!r} "
                        f"(known: {', '.join(STATUS)})"
                    )
                wanted.update(STATUS[name])
        tasks = api.services.instances()
        if wanted:
            tasks = [t for t in tasks if t.state in wanted]
        if _wants_text(request):
            return web.Response(text=text_tasks(tasks), content_type="text/plain")
        return raw_json(b'{"tasks":' + tasks_bytes(tasks) + b"}")

    async def delete_tasks(request: web.Request) -> web.Response:
        doc = await read_json(request)
        ids = doc.get("ids") if isinstance(doc, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise Invalid.one("/ids", "expected a list of task ids")
        known = {t.task_id for t in api.services.instances()}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise BadRequest(f"unknown task ids: {', '.join(unknown)}")
        result = await api.services.kill(
            list(ids),
            scale=flag(request, "scale"),
            wipe=flag(request, "wipe"),
            force=flag(request, "force"),
        )
        if isinstance(result, DeploymentResult):
            return deployment_response(result.deployment_id, result.version)
        return raw_json(b'{"tasks":' + tasks_bytes(result) + b"}")

    async def list_deployments(request: web.Request) -> web.Response:
        why = "why" in embeds(request)
        return json_response([deployment_json(d, why=why) for d in api.services.deployments()])

    async def cancel_deployment(request: web.Request) -> web.Response:
        dep_id = request.match_info["id"]
        if not any(d.id == dep_id for d in api.services.deployments()):
            raise NotFound(f"DeploymentPlan {dep_id} does not exist")
        force = flag(request, "force")
        result = await api.services.cancel_deployment(dep_id, force=force)
        if result is None:
            return web.Response(status=202)
        return deployment_response(result.deployment_id, result.version)

    async def queue(request: web.Request) -> web.Response:
        why = "why" in embeds(request)
        items = []
        for item in api.services.queue():
            view = api.services.app(item.app_id)
            app_json = (
                api.renderer.app(view)
                if view is not None
                else b'{"id":"%s"}' % (item.app_id.encode())
            )
            items.append(queue_item_json(item, app_json, why=why))
        return raw_json(b'{"queue":[' + b",".join(items) + b"]}")

    async def queue_delay(request: web.Request) -> web.Response:
        rest = request.match_info["rest"]
        parts = [p for p in rest.split("/") if p]
        if len(parts) < 2 or parts[-1] != "delay":
            raise NotFound(f"no such path {request.path}")
        app_id = url_app_id("/".join(parts[:-1]))
        api.get_app(app_id)
        await api.services.reset_delay(app_id)
        return web.Response(status=204)

    return [
        web.get("/v2/tasks", list_tasks),
        web.post("/v2/tasks/delete", delete_tasks),
        web.get("/v2/deployments", list_deployments),
        web.delete("/v2/deployments/{id}", cancel_deployment),
        web.get("/v2/queue", queue),
        web.delete("/v2/queue{rest:/.+}", queue_delay),
        *group_routes(api),
    ]


# ---------------------------------------------------------------------- groups
def _group_id(raw: str) -> str:
    try:
        return normalize_group_id("/" + "/".join(p for p in raw.split("/") if p))
    except Invalid:
        raise NotFound(f"Group '{raw}' does not exist") from None


def group_json(api: Api, group_id: str, embed: frozenset[str]) -> dict[str, object]:
    base = group_id.rstrip("/") + "/"
    views = [v for v in api.services.apps() if v.definition.id.startswith(base)]
    if group_id != "/" and not views:
        raise NotFound(f"Group '{group_id}' does not exist")
    rendered = [api.renderer.render_app(v.definition) for v in views]
    if "tasks" in embed:
        for r, v in zip(rendered, views, strict=True):
            r["tasks"] = _task_dicts(v.instances)
    return groups.render_group(group_id, rendered)


def _task_dicts(instances: list[InstanceView]) -> list[object]:
    return [msgspec.to_builtins(task_json(t)) for t in instances]


def group_routes(api: Api) -> list[web.RouteDef]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        rest = request.match_info.get("rest", "")
        parts = [p for p in rest.split("/") if p]
        version = None
        if len(parts) >= 2 and parts[-2] == "versions":
            version, parts = parts[-1], parts[:-2]
        elif parts and parts[-1] == "versions" and request.method == "GET":
            _group_id("/".join(parts[:-1]))
            return json_response({"versions": []})
        gid = _group_id("/".join(parts))
        method = request.method
        if method == "GET":
            if version is not None:
                raise NotFound(f"Version '{version}' of group '{gid}' does not exist")
            return json_response(group_json(api, gid, embeds(request)))
        force = flag(request, "force")
        if method == "DELETE":
            base = gid.rstrip("/") + "/"
            ids = [v.definition.id for v in api.services.apps() if v.definition.id.startswith(base)]
            if not ids:
                raise NotFound(f"Group '{gid}' does not exist")
            result = await api.services.delete_apps(ids, force=force)
            return deployment_response(result.deployment_id, result.version)
        doc = await read_json(request)
        if method == "PUT" and isinstance(doc, dict) and "scaleBy" in doc:
            factor = doc["scaleBy"]
            if not isinstance(factor, int | float) or isinstance(factor, bool) or factor < 0:
                raise Invalid.one("/scaleBy", "expected a number, 0 or more")
            result = await api.services.scale_group(gid, float(factor), force=force)
            return deployment_response(result.deployment_id, result.version)
        parsed = groups.parse_group(doc, group_id=gid if parts or method != "POST" else None)
        if method == "POST":
            base = parsed.id.rstrip("/") + "/"
            if parsed.id != "/" and any(
                v.definition.id.startswith(base) for v in api.services.apps()
            ):
                return json_response(
                    {"message": f"A group with id [{parsed.id}] already exists."}, status=409
                )
        result = await api.services.put_apps(parsed.apps, force=force, create=True)
        status = 201 if method == "POST" else 200
        return deployment_response(result.deployment_id, result.version, status=status)

    return [web.route("*", "/v2/groups{rest:.*}", dispatch)]


__all__ = ["group_json", "routes", "text_tasks"]
