"""Small helpers over aiohttp for JSON APIs in Mesos's style."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web

from corral.wire.codec import WireError, decode, encode

T = TypeVar("T")


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=encode(obj), status=status, content_type="application/json", headers=headers
    )


def error(status: int, message: str) -> web.Response:
    """A plain-text error body, as Mesos sends (pymesos shows it verbatim)."""
    return web.Response(status=status, text=message)


def check_json_content_type(request: web.Request) -> web.Response | None:
    """Mesos: a missing Content-Type is 400, anything but JSON is 415."""
    if "Content-Type" not in request.headers:
        return error(400, "Expected a 'Content-Type' header of 'application/json'")
    if request.content_type != "application/json":
        return error(
            415, f"Unsupported 'Content-Type' {request.content_type!r}; expected 'application/json'"
        )
    return None


def accepts_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    if not accept:
        return True
    for part in accept.split(","):
        mime = part.split(";")[0].strip().lower()
        if mime in ("application/json", "*/*", "application/*"):
            return True
    return False


async def read_call(request: web.Request, type_: type[T], what: str) -> T | web.Response:
    """Check the Content-Type and decode the body into ``type_``; or the 4xx to answer with."""
    bad = check_json_content_type(request)
    if bad is not None:
        return bad
    try:
        return decode(await request.read(), type_)
    except WireError as exc:
        return error(400, f"Failed to validate {what}: {exc}")
