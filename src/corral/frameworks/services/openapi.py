"""The OpenAPI 3.1 document of the services framework's Marathon-style API (pure).

The app definition's schema comes from the msgspec types (``schema_components``), so it
cannot drift from what ``parse_app`` accepts; the paths are Marathon's ``/v2`` endpoints
that corral serves. Served at ``/openapi.json`` and ``/v2/openapi.json``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.frameworks.services.appdef import AppDefinition

REF = "#/components/schemas/{name}"

_FORCE = {
    "name": "force",
    "in": "query",
    "schema": {"type": "boolean"},
    "description": "cancel deployments in the way (case-insensitive true/false)",
}
_PARTIAL = {
    "name": "partialUpdate",
    "in": "query",
    "schema": {"type": "boolean"},
    "description": "fields not given keep their values (default true)",
}
_EMBED = {
    "name": "embed",
    "in": "query",
    "schema": {"type": "string"},
    "explode": True,
    "description": "app.tasks, app.counts, app.deployments, app.lastTaskFailure, ...",
}
_SCALE = {"name": "scale", "in": "query", "schema": {"type": "boolean"}}
_WIPE = {"name": "wipe", "in": "query", "schema": {"type": "boolean"}}
_HOST = {"name": "host", "in": "query", "schema": {"type": "string"}}


def _id(name: str = "appId") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


# path -> method -> (summary, parameters, request body schema ref or None)
PATHS: dict[str, dict[str, tuple[str, list[dict[str, Any]], str | None]]] = {
    "/v2/apps": {
        "get": (
            "List apps (filters cmd, id, label selector; embed)",
            [
                {"name": "cmd", "in": "query", "schema": {"type": "string"}},
                {"name": "id", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "label",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "k, k==v, k!=v, k in (a,b), k notin (a,b); comma = AND",
                },
                _EMBED,
            ],
            None,
        ),
        "post": ("Create an app (201)", [_FORCE], "AppDefinition"),
        "put": ("Create or update many apps", [_FORCE, _PARTIAL], "AppList"),
        "patch": ("Update many apps (partial)", [_FORCE], "AppList"),
    },
    "/v2/apps/{appId}": {
        "get": (
            "One app with counts, tasks, deployments, last task failure",
            [_id(), _EMBED],
            None,
        ),
        "put": (
            'Update (or create) an app; {"version": v} rolls back',
            [_id(), _FORCE, _PARTIAL],
            "AppDefinition",
        ),
        "patch": ("Partial update of an app", [_id(), _FORCE], "AppDefinition"),
        "delete": ("Destroy an app", [_id(), _FORCE], None),
    },
    "/v2/apps/{groupId}/*": {
        "get": ('Every app of a group, as {"*": [...]}', [_id("groupId"), _EMBED], None),
    },
    "/v2/apps/{appId}/why": {
        "get": ("corral: every reason instances of the app are not running", [_id()], None),
    },
    "/v2/apps/{appId}/restart": {
        "post": ("Replace every instance, following upgradeStrategy", [_id(), _FORCE], None),
    },
    "/v2/apps/{appId}/tasks": {
        "get": ("The app's tasks", [_id()], None),
        "delete": ("Kill the app's tasks", [_id(), _HOST, _SCALE, _WIPE, _FORCE], None),
    },
    "/v2/apps/{appId}/tasks/{taskId}": {
        "delete": ("Kill one task", [_id(), _id("taskId"), _SCALE, _WIPE, _FORCE], None),
    },
    "/v2/apps/{appId}/versions": {"get": ("The app's versions, newest first", [_id()], None)},
    "/v2/apps/{appId}/versions/{version}": {
        "get": ("The app's definition at a version", [_id(), _id("version")], None),
    },
    "/v2/tasks": {
        "get": (
            "Every task (status=running|staging)",
            [{"name": "status", "in": "query", "schema": {"type": "string"}}],
            None,
        ),
    },
    "/v2/tasks/delete": {
        "post": ('Kill tasks by id ({"ids": [...]})', [_SCALE, _WIPE, _FORCE], "TaskIds"),
    },
    "/v2/deployments": {"get": ("Running deployments (a bare array)", [], None)},
    "/v2/deployments/{deploymentId}": {
        "delete": (
            "Roll back a deployment; force=true just stops it (202)",
            [_id("deploymentId"), _FORCE],
            None,
        ),
    },
    "/v2/groups": {
        "get": ("The root group", [_EMBED], None),
        "post": ("Create a group (201)", [_FORCE], "Group"),
        "put": ("Update the root group", [_FORCE], "Group"),
        "patch": ("Update the root group", [_FORCE], "Group"),
        "delete": ("Destroy every app", [_FORCE], None),
    },
    "/v2/groups/{groupId}": {
        "get": ("A group", [_id("groupId"), _EMBED], None),
        "post": ("Create a group inside this one (201)", [_id("groupId"), _FORCE], "Group"),
        "put": (
            'Update a group; {"scaleBy": f} scales it, {"version": v} rolls back',
            [_id("groupId"), _FORCE],
            "Group",
        ),
        "patch": ("Update a group", [_id("groupId"), _FORCE], "Group"),
        "delete": ("Destroy a group", [_id("groupId"), _FORCE], None),
    },
    "/v2/groups/{groupId}/versions": {
        "get": ("The group's versions", [_id("groupId")], None),
    },
    "/v2/queue": {"get": ("Apps waiting to launch, with their delay", [_EMBED], None)},
    "/v2/queue/{appId}/delay": {
        "delete": ("Reset an app's launch backoff (204)", [_id()], None),
    },
    "/v2/info": {"get": ("Framework and leader information", [], None)},
    "/v2/leader": {"get": ("The leader's address", [], None)},
    "/v2/events": {
        "get": (
            "Server-Sent Events (Accept: text/event-stream)",
            [{"name": "event_type", "in": "query", "schema": {"type": "string"}, "explode": True}],
            None,
        ),
    },
    "/v2/eventSubscriptions": {
        "get": ("HTTP callback subscriptions (legacy)", [], None),
        "post": (
            "Add a callback subscription",
            [{"name": "callbackUrl", "in": "query", "schema": {"type": "string"}}],
            None,
        ),
        "delete": (
            "Remove a callback subscription",
            [{"name": "callbackUrl", "in": "query", "schema": {"type": "string"}}],
            None,
        ),
    },
    "/v2/openapi.json": {"get": ("This document", [], None)},
    "/openapi.json": {"get": ("This document", [], None)},
    "/ping": {"get": ("pong (text/plain)", [], None)},
    "/version": {"get": ("This instance's corral version and whether it leads", [], None)},
    "/metrics": {"get": ("Metrics (JSON)", [], None)},
}

_ERROR = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["path", "errors"],
            },
        },
    },
    "required": ["message"],
}


def _responses(method: str) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK"}}
    if method == "post":
        out["201"] = {"description": "Created"}
    if method in ("post", "put", "patch"):
        err = {"content": {"application/json": {"schema": {"$ref": REF.format(name="Error")}}}}
        out["400"] = {"description": "Invalid JSON", **err}
        out["422"] = {"description": "Object is not valid (details name every field)", **err}
    out["404"] = {"description": "Unknown app, group, task or deployment"}
    out["409"] = {"description": "Locked by a deployment (use force=true) or exists already"}
    return out


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (plain JSON data)."""
    (_, components) = msgspec.json.schema_components((AppDefinition,), ref_template=REF)
    schemas: dict[str, Any] = dict(components)
    props = schemas["AppDefinition"]["properties"]
    props["unreachableStrategy"] = {
        "anyOf": [{"$ref": REF.format(name="UnreachableStrategy")}, {"const": "disabled"}],
        "default": "disabled",
    }
    schemas["AppList"] = {"type": "array", "items": {"$ref": REF.format(name="AppDefinition")}}
    schemas["TaskIds"] = {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
        "required": ["ids"],
    }
    schemas["Group"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "apps": {"type": "array", "items": {"$ref": REF.format(name="AppDefinition")}},
            "groups": {"type": "array", "items": {"$ref": REF.format(name="Group")}},
            "dependencies": {"type": "array", "items": {"type": "string"}},
            "scaleBy": {"type": "number"},
            "version": {"type": "string"},
        },
    }
    schemas["Error"] = _ERROR
    paths: dict[str, Any] = {}
    for path, methods in PATHS.items():
        entry: dict[str, Any] = {}
        for method, (summary, params, body) in methods.items():
            op: dict[str, Any] = {"summary": summary, "responses": _responses(method)}
            if params:
                op["parameters"] = params
            if body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": REF.format(name=body)}}},
                }
            entry[method] = op
        paths[path] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "corral services (Marathon /v2 API)",
            "version": "1",
            "description": "Long-running apps on corral, with Marathon's REST API. "
            "Errors: 400 {message: 'Invalid JSON'}, 422 {message: 'Object is not valid', "
            "details: [{path, errors}]}.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


__all__ = ["PATHS", "openapi_document"]
