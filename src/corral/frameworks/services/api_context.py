"""What the services API's routes share: the facade, the renderer, the instance's identity.

``Api`` is built once per process by the daemon (or a test) and handed to every route
module (``api_apps``, ``api_tasks``, ``api_groups``, ``api_misc``); ``corral...api.make_app``
puts them together into one aiohttp application.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.frameworks.services import codec
from corral.frameworks.services.api_render import AppRenderer
from corral.frameworks.services.ids import normalize_id
from corral.frameworks.services.service import Services
from corral.frameworks.services.views import AppView, NotFound

PAGE_DIR = Path(__file__).resolve().parent / "page"


@dataclass
class InstanceInfo:
    """What ``/v2/info`` says about this instance and its configuration."""

    framework_name: str = "services"
    master: str = ""
    zk: str | None = None
    zk_session_timeout: float = 10.0
    hostname: str = "127.0.0.1"
    http_port: int = 8080
    webui_url: str | None = None
    user: str = ""
    role: str = "*"
    failover_timeout: float = 7 * 24 * 3600.0
    ha: bool = True
    version: str = "0"


@dataclass
class Api:
    services: Services
    info: InstanceInfo = field(default_factory=InstanceInfo)
    # The leader's API base URL (``http://host:port``); None while unknown.
    leader: Callable[[], Awaitable[str | None]] | None = None
    leading: Callable[[], bool] = lambda: True  # elected, loaded and reconciled
    elected: Callable[[], bool] = lambda: True  # holds the election (may still reconcile)
    settle_seconds: float = 10.0  # how long a command waits for a fresh leader to reconcile
    page_dir: Path = PAGE_DIR
    renderer: AppRenderer = field(default_factory=lambda: AppRenderer(codec.render_app))
    started: float = field(default_factory=time.time)
    requests: Counter[str] = field(default_factory=Counter)

    def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        publish = getattr(self.services, "publish", None)
        if publish is None:
            return
        try:
            publish(event_type, payload)
        except NotImplementedError:
            pass

    def get_app(self, app_id: str) -> AppView:
        view = self.services.app(app_id)
        if view is None:
            raise NotFound.app(app_id)
        return view


def url_app_id(raw: str) -> str:
    """An app id as it comes in a URL (``foo``, ``/foo``, ``//foo``, ``team/web/``) in its
    absolute form; an id that breaks the rule is reported as not existing (404)."""
    cleaned = "/" + "/".join(p for p in raw.split("/") if p)
    try:
        return normalize_id(cleaned)
    except ValueError:
        raise NotFound.app(cleaned) from None


__all__ = ["PAGE_DIR", "Api", "InstanceInfo", "url_app_id"]
