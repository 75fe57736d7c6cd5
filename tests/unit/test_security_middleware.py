"""The one middleware on a real aiohttp app: 401 with a challenge, the principal handed to
the handler, operator_writes ACL on write routes, a 403 naming the rule."""

from __future__ import annotations

import base64

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from corral.security.acls import ACLs, Entity, Rule
from corral.security.authn import AuthFlags
from corral.security.middleware import install, principal_of
from corral.security.settings import SecuritySettings

CREDS = {"ops": "o", "dev": "d"}


def auth(principal: str) -> dict[str, str]:
    return {
        "Authorization": "Basic "
        + base64.b64encode(f"{principal}:{CREDS[principal]}".encode()).decode()
    }


async def who(request: web.Request) -> web.Response:
    return web.Response(text=principal_of(request) or "-")


def app(settings: SecuritySettings) -> web.Application:
    a = web.Application()
    install(a, settings)
    a.router.add_get("/master/state", who)
    a.router.add_get("/health", who)
    a.router.add_post("/logging/toggle", who)
    return a


async def test_readonly_auth_and_the_principal_reaches_the_handler() -> None:
    s = SecuritySettings(flags=AuthFlags(http_readonly=True), credentials=CREDS)
    async with TestClient(TestServer(app(s))) as c:
        r = await c.get("/master/state")
        assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
        r = await c.get("/master/state", headers=auth("ops"))
        assert r.status == 200 and await r.text() == "ops"
        assert (await c.get("/health")).status == 200
        assert (await c.post("/logging/toggle")).status == 200  # readwrite not required


async def test_write_routes_follow_operator_writes_acls() -> None:
    acls = ACLs(operator_writes=[Rule(principals=Entity(values=["ops"]))])
    s = SecuritySettings(flags=AuthFlags(http_readwrite=True), credentials=CREDS, acls=acls)
    async with TestClient(TestServer(app(s))) as c:
        assert (await c.post("/logging/toggle")).status == 401
        r = await c.post("/logging/toggle", headers=auth("dev"))
        assert r.status == 403 and "operator_writes" in await r.text()
        r = await c.post("/logging/toggle", headers=auth("ops"))
        assert r.status == 200 and await r.text() == "ops"
