"""A small synchronous client of the services framework's REST API (Marathon's ``/v2``).

Used by ``corral app``. Every failure becomes an ``ApiError`` carrying what Marathon's error
bodies carry (``message``, the 422 ``details`` with their JSON paths, the 409 ``deployments``)
so the command can print it without a traceback.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from corral.security.client import ClientSecurity

DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass
class ApiError(Exception):
    """An answer other than 2xx, or no answer at all (``status`` 0)."""

    status: int
    message: str
    details: list[tuple[str, list[str]]] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    url: str = ""

    def __str__(self) -> str:
        return self.message


def error_from_body(status: int, body: bytes, url: str) -> ApiError:
    """Read Marathon's error shapes: ``{"message", "details": [{path, errors}], "deployments"}``."""
    text = body.decode(errors="replace").strip()
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    message = str(doc.get("message") or text or f"HTTP {status}")
    details: list[tuple[str, list[str]]] = []
    for d in doc.get("details") or []:
        if isinstance(d, dict):
            errors = d.get("errors") or []
            details.append(
                (
                    str(d.get("path", "/")),
                    [str(e) for e in errors] if isinstance(errors, list) else [str(errors)],
                )
            )
    deployments = [
        str(d.get("id"))
        for d in doc.get("deployments") or []
        if isinstance(d, dict) and d.get("id")
    ]
    return ApiError(status, message, details, deployments, url)


def app_path(app_id: str) -> str:
    """``web`` or ``/team/web`` -> ``team/web`` (quoted for a URL path)."""
    return urllib.parse.quote(app_id.strip("/"), safe="/")


def absolute_id(app_id: str) -> str:
    return "/" + app_id.strip("/")


class ServicesClient:
    def __init__(self, url: str, timeout: float = 10.0, unavailable_retry: float = 15.0) -> None:
        self.url = url.rstrip("/")
        if "://" not in self.url:
            self.url = "http://" + self.url
        self.timeout = timeout
        # A 503 (no leader yet, an election, a leader still reconciling) is retried this long.
        self.unavailable_retry = unavailable_retry

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """Send one request; returns (status, decoded JSON or None, headers). A 503 is tried
        again every 0.5 s for ``unavailable_retry`` seconds."""
        deadline = time.monotonic() + self.unavailable_retry
        while True:
            try:
                return self.request_once(method, path, body, query)
            except ApiError as exc:
                if exc.status != 503 or time.monotonic() >= deadline:
                    raise
            time.sleep(0.5)

    def request_once(
        self,
        method: str,
        path: str,
        body: object = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        for k, v in ClientSecurity.from_env().headers().items():  # CORRAL_PRINCIPAL/SECRET
            req.add_header(k, v)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                status = resp.status
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            raise error_from_body(exc.code, exc.read(), url) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(
                0,
                f"cannot reach {self.url}: {reason} (is `corral services` running? see --url)",
                url=url,
            ) from None
        try:
            doc = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ApiError(
                status, f"{url}: the answer is not JSON: {raw[:200]!r}", url=url
            ) from None
        return status, doc, headers

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, query=query)[1]

    # ---------------------------------------------------------------- the calls
    def apps(self, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        doc = self.get("/v2/apps", query)
        return list(doc.get("apps", [])) if isinstance(doc, dict) else []

    def app(self, app_id: str) -> dict[str, Any] | None:
        """The app with its tasks, or None when it does not exist."""
        try:
            doc = self.get(f"/v2/apps/{app_path(app_id)}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return (
            dict(doc["app"]) if isinstance(doc, dict) and isinstance(doc.get("app"), dict) else None
        )

    def deployments(self) -> list[dict[str, Any]]:
        doc = self.get("/v2/deployments", {"embed": "why"})
        return list(doc) if isinstance(doc, list) else []

    def queue(self) -> list[dict[str, Any]]:
        doc = self.get("/v2/queue", {"embed": "why"})
        return list(doc.get("queue", [])) if isinstance(doc, dict) else []

    def why(self, app_id: str) -> list[str]:
        doc = self.get(f"/v2/apps/{app_path(app_id)}/why")
        reasons = doc.get("reasons", []) if isinstance(doc, dict) else []
        return [str(r) for r in reasons]

    def versions(self, app_id: str) -> list[str]:
        doc = self.get(f"/v2/apps/{app_path(app_id)}/versions")
        return [str(v) for v in doc.get("versions", [])] if isinstance(doc, dict) else []

    def change(
        self, method: str, path: str, body: object = None, query: dict[str, str] | None = None
    ) -> tuple[int, str | None, str | None]:
        """A call that starts a deployment: (status, deployment id, version) from the body
        (``deploymentId`` or ``deployments[0].id``) or the ``Marathon-Deployment-Id`` header."""
        status, doc, headers = self.request(method, path, body, query)
        dep: str | None = headers.get("marathon-deployment-id")
        version: str | None = None
        if isinstance(doc, dict):
            dep = doc.get("deploymentId") or dep
            deps = doc.get("deployments")
            if not dep and isinstance(deps, list) and deps and isinstance(deps[0], dict):
                dep = deps[0].get("id")
            version = doc.get("version")
        return status, (str(dep) if dep else None), (str(version) if version else None)


def flag(value: bool) -> str:
    return "true" if value else "false"


__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "ServicesClient",
    "absolute_id",
    "app_path",
    "error_from_body",
    "flag",
]
