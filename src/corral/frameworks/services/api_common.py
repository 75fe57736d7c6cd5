"""What every route of the services API shares: query flags, JSON bodies, error shapes.

Marathon's conventions (reference §1.1, §1.10): booleans in the query are read without
regard to case (the marathon client sends ``force=False``); every error is JSON with a
``message`` (and ``details`` for 400/422); a state change answers
``{"deploymentId", "version"}`` with the ``Marathon-Deployment-Id`` header.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from corral.frameworks.services.errors import INVALID_JSON, Detail, Invalid

JSON = "application/json"
DEPLOYMENT_HEADER = "Marathon-Deployment-Id"

_encoder = msgspec.json.Encoder()
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class BadRequest(Exception):
    """A 400 with Marathon's shape; ``details`` optional."""

    def __init__(self, message: str, details: list[Detail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """The boolean query parameter ``name``: ``true``/``True``/``TRUE`` and so on (Java's
    rule, which the marathon client relies on); a bare ``?force`` counts as true."""
    values = request.query.getall(name, [])
    if not values:
        return default
    raw = values[-1].strip().lower()
    if raw == "" or raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadRequest(f"query parameter {name}: expected true or false, got {values[-1]!r}")


def number(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name}: expected a number, got {raw!r}") from None


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``obj`` (plain data or msgspec Structs) as JSON, encoded by msgspec."""
    return web.Response(
        body=_encoder.encode(obj), status=status, content_type=JSON, headers=headers
    )


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON the caller has already encoded."""
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"message": message, **extra}, status=status)


def invalid_response(exc: Invalid) -> web.Response:
    """422 for an invalid definition; 400 when the body was not JSON at all."""
    status = 400 if exc.message == INVALID_JSON else 422
    return json_response(exc.body(), status=status)


def bad_request_response(exc: BadRequest) -> web.Response:
    body: dict[str, Any] = {"message": exc.message}
    if exc.details is not None:
        body["details"] = [{"path": d.path, "errors": list(d.errors)} for d in exc.details]
    return json_response(body, status=400)


def deployment_response(deployment_id: str, version: str, status: int = 200) -> web.Response:
    """Marathon's answer to a state change."""
    return json_response(
        {"deploymentId": deployment_id, "version": version},
        status=status,
        headers={DEPLOYMENT_HEADER: deployment_id},
    )


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The request body decoded as JSON; Invalid("Invalid JSON") (a 400) when it is not.
    An empty body is None when not ``required``."""
    body = await request.read()
    if not body.strip():
        if required:
            raise Invalid.one("/", "the request needs a JSON body", message=INVALID_JSON)
        return None
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Invalid.one("/", f"not valid JSON: {exc}", message=INVALID_JSON) from None


def embeds(request: web.Request) -> frozenset[str]:
    """The ``embed`` values with Marathon's prefixes (``app.``, ``apps.``, ``group.apps.``)
    stripped; ``failures`` means tasks + lastTaskFailure + deployments, ``tasks`` also
    turns on deployments. Unknown values are ignored, as Marathon does."""
    out: set[str] = set()
    for value in request.query.getall("embed", []):
        for part in value.split(","):
            name = part.strip()
            for prefix in ("group.apps.", "apps.", "app."):
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    break
            if name == "failures":
                out.update(("tasks", "lastTaskFailure", "deployments"))
            elif name == "tasks":
                out.update(("tasks", "deployments"))
            elif name:
                out.add(name)
    return frozenset(out)


__all__ = [
    "DEPLOYMENT_HEADER",
    "JSON",
    "BadRequest",
    "bad_request_response",
    "deployment_response",
    "embeds",
    "encode",
    "error",
    "flag",
    "invalid_response",
    "json_response",
    "number",
    "raw_json",
    "read_json",
]
