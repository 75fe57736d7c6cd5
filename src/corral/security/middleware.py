"""The aiohttp side of ``authn.decide``: one middleware for every route of a server. It
puts the caller's principal in ``request[PRINCIPAL_KEY]`` (absent: anonymous) and answers a
refused request with 401, ``WWW-Authenticate`` and Mesos's style of body."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from corral.security.acls import Decision, authorize
from corral.security.authn import READWRITE, Allowed, decide
from corral.security.routes import classify
from corral.security.settings import SecuritySettings

log = logging.getLogger("corral.security")

SETTINGS_KEY = web.AppKey("corral_security", SecuritySettings)
PRINCIPAL_KEY = web.RequestKey("corral_principal", str)  # absent: anonymous
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_middleware(settings: SecuritySettings) -> Middleware:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route_class = classify(request.method, request.path)
        decision = decide(route_class, request.headers, settings.credentials, settings.flags)
        if isinstance(decision, Allowed):
            if decision.principal is not None:
                request[PRINCIPAL_KEY] = decision.principal
            if route_class == READWRITE and settings.acls is not None:
                # Writes outside the scheduler and operator APIs (e.g. /logging/toggle).
                denied = check(request, "operator_writes", None)
                if denied is not None:
                    return denied
            return await handler(request)
        log.warning(
            "refused %s %s from %s: %s",
            request.method,
            request.path,
            request.remote,
            decision.reason,
        )
        return web.Response(status=decision.status, text=decision.reason, headers=decision.headers)

    return authenticate


def install(app: web.Application, settings: SecuritySettings) -> None:
    """Check every request to ``app`` (``settings`` also kept at ``app[SETTINGS_KEY]``)."""
    app[SETTINGS_KEY] = settings
    app.middlewares.append(build_middleware(settings))


def settings_of(request: web.Request) -> SecuritySettings:
    return request.app.get(SETTINGS_KEY) or SecuritySettings()


def principal_of(request: web.Request) -> str | None:
    return request.get(PRINCIPAL_KEY)


def require_write(request: web.Request) -> web.Response | None:
    """For a write call on a route classed as a read (the v1 operator API): the same
    decision as a READWRITE route; a refusal to send back, or None."""
    settings = settings_of(request)
    decision = decide(READWRITE, request.headers, settings.credentials, settings.flags)
    if isinstance(decision, Allowed):
        return None
    return web.Response(status=decision.status, text=decision.reason, headers=decision.headers)


def forbid(decision: Decision, action: str, principal: str | None, obj: str | None) -> web.Response:
    message = decision.describe(action, principal, obj)
    log.warning("denied: %s", message)
    return web.Response(status=403, text=message)


def check(request: web.Request, action: str, obj: str | None) -> web.Response | None:
    """The ACL check for one request: a 403 to send back (logged), or None."""
    principal = principal_of(request)
    decision = authorize(settings_of(request).acls, principal, action, obj)
    return None if decision.allowed else forbid(decision, action, principal, obj)


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return ip == "localhost"


def warn_if_open(what: str, ip: str, flags_off: list[str]) -> None:
    """A daemon on a non-loopback address without authentication: say so, loudly."""
    if is_loopback(ip) or not flags_off:
        return
    banner = (
        f"WARNING: this {what} listens on {ip} (not loopback) without {', '.join(flags_off)}: "
        "anyone who reaches it may use those APIs unauthenticated. See docs/security.md."
    )
    log.warning(banner)
    print(banner, flush=True)
