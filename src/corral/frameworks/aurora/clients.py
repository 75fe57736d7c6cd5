"""The front end's HTTP clients of the public APIs it is built on: the services framework
(Marathon's ``/v2``), the jobs framework (Chronos's ``/v1/scheduler``) and the master's
operator API (``GET_QUOTA``). Nothing here decides anything."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp

from corral.frameworks.aurora.quota import QuotaConfig, parse_get_quota
from corral.security.client import ClientSecurity


class ApiError(Exception):
    """An answer the front end passes on: ``status`` (HTTP) and the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _message(status: int, text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip() or f"HTTP {status}"
    if isinstance(data, dict) and data.get("message"):
        out = str(data["message"])
        details = data.get("details")
        if isinstance(details, list) and details:
            parts = [
                f"{d.get('path', '')} {', '.join(map(str, d.get('errors') or []))}".strip()
                for d in details
                if isinstance(d, dict)
            ]
            out += ": " + "; ".join(parts)
        return out
    return text.strip()


class Http:
    """JSON over one aiohttp session, with the client credentials of the environment."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.security = ClientSecurity.from_env()
        self.session: aiohttp.ClientSession | None = None
        self.timeout = timeout

    async def start(self) -> None:
        connector = None
        if self.security.tls_ca:  # a master serving HTTPS with a private CA ($CORRAL_TLS_CA)
            context = ssl.create_default_context(cafile=self.security.tls_ca)
            connector = aiohttp.TCPConnector(ssl=context)
        self.session = aiohttp.ClientSession(
            headers=self.security.headers(),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=connector,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(
        self, what: str, method: str, url: str, body: Any = None, *, ok404: bool = False
    ) -> Any:
        """The decoded JSON answer (None if empty). ApiError for an error answer (502 when
        ``what`` cannot be reached, naming it)."""
        assert self.session is not None
        try:
            async with self.session.request(
                method, url, json=body, headers={"Accept": "application/json"}
            ) as resp:
                text = await resp.text()
                if resp.status == 404 and ok404:
                    return None
                if resp.status >= 400:
                    raise ApiError(resp.status, f"{what}: {_message(resp.status, text)}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            why = str(exc) or type(exc).__name__
            raise ApiError(502, f"cannot reach {what} at {url}: {why}") from None
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text


class Services:
    def __init__(self, http: Http, url: str) -> None:
        self.http, self.url = http, url.rstrip("/")

    async def put_apps(self, apps: list[dict[str, Any]]) -> None:
        """Create or replace (whole definitions) these apps, over any deployment in the way."""
        await self.http.call(
            "the services framework",
            "PUT",
            f"{self.url}/v2/apps?force=true&partialUpdate=false",
            apps,
        )

    async def scale(self, app_id: str, instances: int) -> None:
        await self.http.call(
            "the services framework",
            "PUT",
            f"{self.url}/v2/apps{app_id}?force=true",
            {"instances": instances},
        )

    async def delete_app(self, app_id: str) -> None:
        await self.http.call(
            "the services framework", "DELETE", f"{self.url}/v2/apps{app_id}?force=true", ok404=True
        )

    async def delete_group(self, group: str) -> None:
        await self.http.call(
            "the services framework",
            "DELETE",
            f"{self.url}/v2/groups{group}?force=true",
            ok404=True,
        )

    async def apps_under(self, group: str) -> list[dict[str, Any]]:
        """The apps of ``group`` with their tasks and last failure."""
        data = await self.http.call(
            "the services framework",
            "GET",
            f"{self.url}/v2/apps?id={group}/&embed=apps.tasks&embed=apps.lastTaskFailure",
        )
        apps = data.get("apps", []) if isinstance(data, dict) else []
        return [a for a in apps if str(a.get("id", "")).startswith(group + "/")]


class Jobs:
    def __init__(self, http: Http, url: str) -> None:
        self.http, self.url = http, url.rstrip("/")

    async def put(self, job: dict[str, Any]) -> None:
        await self.http.call("the jobs framework", "POST", f"{self.url}/v1/scheduler/iso8601", job)

    async def delete(self, name: str) -> None:
        await self.http.call(
            "the jobs framework", "DELETE", f"{self.url}/v1/scheduler/job/{name}", ok404=True
        )

    async def view(self, name: str) -> Any:
        return await self.http.call("the jobs framework", "GET", f"{self.url}/v1/jobs/{name}")


class Master:
    """The operator API; ``master`` is ``host:port`` or a ``zk://`` URL of HA masters."""

    def __init__(self, http: Http, master: str) -> None:
        self.http, self.master = http, master

    async def _address(self) -> str:
        if not self.master.startswith("zk://"):
            return self.master
        from corral.coordination.zookeeper import find_leader

        leader = await asyncio.to_thread(find_leader, self.master, 5.0)
        if leader is None:
            raise ApiError(502, f"no leading master in {self.master}")
        return leader

    async def quotas(self) -> dict[str, QuotaConfig]:
        """The quota of every role; none when the master does not implement GET_QUOTA (501)."""
        url = self.http.security.url(await self._address(), "/api/v1")
        try:
            body = await self.http.call("the master", "POST", url, {"type": "GET_QUOTA"})
        except ApiError as exc:
            if exc.status == 501:
                return {}
            raise
        return parse_get_quota(body)
