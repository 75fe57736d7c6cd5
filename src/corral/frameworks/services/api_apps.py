"""``/v2/apps``: list, create, show, update (PUT/PATCH), delete, restart, versions, tasks,
task kills, and corral's ``/why``.

App ids contain slashes, so the routes under ``/v2/apps`` are one catch-all that splits the
path itself: ``/v2/apps/team/web/tasks/<task>`` is app ``/team/web``, task ``<task>``.
Double slashes (``/v2/apps//foo``, sent by the marathon client's ``scale_app``) are fine.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from corral.frameworks.services import codec, labels
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
from corral.frameworks.services.api_render import tasks_bytes
from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.errors import Detail, Invalid
from corral.frameworks.services.ids import normalize_id
from corral.frameworks.services.views import DeploymentResult, InstanceView, NotFound

SUFFIXES = ("restart", "tasks", "versions", "why")


def split(rest: str) -> tuple[str, str, str]:
    """``/team/web/tasks/t1`` -> (``team/web``, ``tasks``, ``t1``); ``/team/web`` ->
    (``team/web``, "", "")."""
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return "", "", ""
    for i in range(len(parts) - 1, 0, -1):  # the last known suffix (an app may be ".../tasks")
        if parts[i] in SUFFIXES and len(parts) - i <= 2:
            if parts[i] in ("restart", "why") and i != len(parts) - 1:
                continue
            return "/".join(parts[:i]), parts[i], "/".join(parts[i + 1 :])
    return "/".join(parts), "", ""


def routes(api: Api) -> list[web.RouteDef]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        rest = request.match_info.get("rest", "")
        app_part, suffix, arg = split(rest)
        method = request.method
        if not app_part:
            if method == "GET":
                return list_apps(api, request)
            if method == "POST":
                return await create_app(api, request)
            if method in ("PUT", "PATCH"):
                return await bulk_update(api, request)
            raise web.HTTPMethodNotAllowed(method, ["GET", "POST", "PUT", "PATCH"])
        if not suffix and app_part.endswith("*") and method == "GET":
            return group_listing(api, request, app_part)
        app_id = url_app_id(app_part)
        if suffix == "":
            if method == "GET":
                return show_app(api, request, app_id)
            if method in ("PUT", "PATCH"):
                return await update_app(api, request, app_id)
            if method == "DELETE":
                result = await api.services.delete_apps(
                    [api.get_app(app_id).definition.id], force=flag(request, "force", True)
                )
                return deployment_response(result.deployment_id, result.version)
            raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE"])
        if suffix == "restart" and method == "POST":
            api.get_app(app_id)
            result = await api.services.restart(app_id, force=flag(request, "force"))
            return deployment_response(result.deployment_id, result.version)
        if suffix == "why" and method == "GET":
            api.get_app(app_id)
            return json_response({"app": app_id, "reasons": api.services.why(app_id)})
        if suffix == "versions" and method == "GET":
            api.get_app(app_id)
            if not arg:
                return json_response({"versions": api.services.versions(app_id)})
            definition = api.services.version(app_id, arg)
            if definition is None:
                raise NotFound(f"Version '{arg}' of app '{app_id}' does not exist")
            return raw_json(api.renderer.definition_json(definition))
        if suffix == "tasks":
            if method == "GET" and not arg:
                return app_tasks(api, request, app_id)
            if method == "DELETE":
                return await kill_app_tasks(api, request, app_id, arg)
        raise web.HTTPMethodNotAllowed(method, [])

    return [web.route("*", "/v2/apps{rest:.*}", dispatch)]


# ---------------------------------------------------------------------- reads
def list_apps(api: Api, request: web.Request) -> web.Response:
    views = api.services.apps()
    cmd = request.query.get("cmd")
    if cmd:
        needle = cmd.lower()
        views = [v for v in views if v.definition.cmd and needle in v.definition.cmd.lower()]
    wanted = request.query.get("id")
    if wanted:
        needle = wanted.lower()
        views = [v for v in views if needle in v.definition.id.lower()]
    selector_text = request.query.get("label")
    if selector_text:
        try:
            selector = labels.parse_selector(selector_text)
        except ValueError as exc:
            raise BadRequest(f"query parameter label: {exc}") from None
        views = [v for v in views if selector.matches(v.definition.labels)]
    return raw_json(api.renderer.apps(views, embeds(request)))


ALL_EMBEDS = frozenset({"tasks", "deployments", "counts", "lastTaskFailure"})


def show_app(api: Api, request: web.Request, app_id: str) -> web.Response:
    """The single-app GET embeds counts, tasks, lastTaskFailure and deployments always (the
    marathon client's ``kill_tasks`` reads ``get_app().tasks`` without asking)."""
    view = api.get_app(app_id)
    return raw_json(b'{"app":' + api.renderer.app(view, ALL_EMBEDS | embeds(request)) + b"}")


def group_listing(api: Api, request: web.Request, app_part: str) -> web.Response:
    """``GET /v2/apps/team/*``: every app under ``/team`` as ``{"*": [..]}``."""
    prefix = app_part[:-1].strip("/")
    base = "/" + prefix + "/" if prefix else "/"
    views = [v for v in api.services.apps() if v.definition.id.startswith(base)]
    body = b",".join(api.renderer.app(v, ALL_EMBEDS | embeds(request)) for v in views)
    return raw_json(b'{"*":[' + body + b"]}")


def app_tasks(api: Api, request: web.Request, app_id: str) -> web.Response:
    api.get_app(app_id)
    return raw_json(b'{"tasks":' + tasks_bytes(api.services.instances(app_id)) + b"}")


# ---------------------------------------------------------------------- writes
def _with_id(doc: object, app_id: str) -> object:
    """The body of ``PUT /v2/apps/{id}``: its ``id`` must name the app of the URL."""
    if not isinstance(doc, dict):
        return doc
    given = doc.get("id")
    if given is not None:
        try:
            same = normalize_id(given) == app_id if isinstance(given, str) else False
        except Invalid:
            same = False
        if not same:
            raise Invalid.one("/id", f"the id {given!r} does not match the app {app_id} of the URL")
    return {**doc, "id": app_id}


def _rollback_version(doc: object) -> str | None:
    """``{"version": v}`` (and nothing but the id) asks for a rollback to version v."""
    if isinstance(doc, dict) and set(doc) - {"id"} == {"version"}:
        v = doc["version"]
        if isinstance(v, str):
            return v
        raise Invalid.one("/version", "expected a version string")
    return None


def _definition(
    api: Api, doc: object, app_id: str, *, partial: bool, path: str = ""
) -> tuple[AppDefinition, bool]:
    """The new definition of ``app_id`` from ``doc`` and whether the app exists."""
    existing = api.services.app(app_id)
    base = existing.definition if existing is not None else None
    version = _rollback_version(doc)
    if version is not None:
        if base is None:
            raise NotFound.app(app_id)
        old = api.services.version(app_id, version)
        if old is None:
            raise NotFound(f"Version '{version}' of app '{app_id}' does not exist")
        return old, True
    try:
        return codec.parse_app(
            _with_id(doc, app_id), base=base, partial=partial and base is not None
        ), base is not None
    except Invalid as exc:
        if not path:
            raise
        raise Invalid(
            [Detail(path + d.path if d.path != "/" else path, d.errors) for d in exc.details],
            exc.message,
        ) from None


async def create_app(api: Api, request: web.Request) -> web.Response:
    doc = await read_json(request)
    app = codec.parse_app(doc)
    result = await api.services.create_app(app, force=flag(request, "force"))
    api.publish("api_post_event", _post_event(request, app))
    view = api.services.app(app.id)
    if view is not None:
        body = api.renderer.app(view, frozenset({"tasks"}))
    else:
        body = api.renderer.definition_json(app)
    return raw_json(
        body,
        status=201,
        headers={
            "Location": f"/v2/apps{app.id}",
            "Marathon-Deployment-Id": result.deployment_id,
        },
    )


async def update_app(api: Api, request: web.Request, app_id: str) -> web.Response:
    patch = request.method == "PATCH"
    partial = True if patch else flag(request, "partialUpdate", True)
    doc = await read_json(request)
    app, exists = _definition(api, doc, app_id, partial=partial)
    if patch and not exists:
        raise NotFound.app(app_id)
    result = await api.services.put_apps([app], force=flag(request, "force"), create=not patch)
    api.publish("api_post_event", _post_event(request, app))
    status = 200 if exists else 201
    response = deployment_response(result.deployment_id, result.version, status=status)
    if not exists:
        response.headers["Location"] = f"/v2/apps{app.id}"
    return response


async def bulk_update(api: Api, request: web.Request) -> web.Response:
    patch = request.method == "PATCH"
    partial = True if patch else flag(request, "partialUpdate", True)
    doc = await read_json(request)
    if not isinstance(doc, list):
        raise Invalid.one("/", "expected a JSON array of app definitions")
    apps: list[AppDefinition] = []
    details: list[Detail] = []
    for i, item in enumerate(doc):
        raw = item.get("id") if isinstance(item, dict) else None
        if not isinstance(raw, str):
            details.append(Detail(f"/{i}/id", ["is required"]))
            continue
        try:
            app_id = normalize_id(raw)
            app, exists = _definition(api, item, app_id, partial=partial, path=f"/{i}")
        except Invalid as exc:
            details.extend(
                Detail(f"/{i}{d.path}" if not d.path.startswith(f"/{i}") else d.path, d.errors)
                for d in exc.details
            )
            continue
        if patch and not exists:
            raise NotFound.app(app_id)
        apps.append(app)
    if details:
        raise Invalid(details)
    result = await api.services.put_apps(apps, force=flag(request, "force"), create=not patch)
    return deployment_response(result.deployment_id, result.version)


async def kill_app_tasks(api: Api, request: web.Request, app_id: str, task_id: str) -> web.Response:
    api.get_app(app_id)
    scale = flag(request, "scale")
    wipe = flag(request, "wipe")
    force = flag(request, "force")
    instances = api.services.instances(app_id)
    if task_id:
        if not any(t.task_id == task_id for t in instances):
            raise NotFound(f"Task '{task_id}' does not exist")
        ids = [task_id]
    else:
        host = request.query.get("host")
        ids = [t.task_id for t in instances if not host or t.host == host]
    result = await api.services.kill(ids, scale=scale, wipe=wipe, force=force)
    if isinstance(result, DeploymentResult):
        return deployment_response(result.deployment_id, result.version)
    if task_id:
        killed: list[InstanceView] = result or [t for t in instances if t.task_id == task_id]
        return raw_json(b'{"task":' + tasks_bytes(killed[:1])[1:-1] + b"}")
    return raw_json(b'{"tasks":' + tasks_bytes(result) + b"}")


def _post_event(request: web.Request, app: AppDefinition) -> dict[str, Any]:
    return {
        "clientIp": request.remote or "",
        "uri": request.path,
        "appDefinition": codec.render_app(app),
    }


__all__ = ["routes", "split"]
