"""``Services``: the services framework as the API and the page see it (Seam 2).

Construction (the daemon)::

    services = Services.create(master="127.0.0.1:5050", state="/var/lib/corral-services")
    server = FrameworkServer(services.runner, app, host, port)   # the api helper's app
    await server.start()
    await services.run()          # runs the Runner and the services shell until stopped
    ...
    await services.stop()         # from a signal handler: services.request_stop()

or, with a ``Runner`` built elsewhere (its framework must be a ``ServicesFramework``)::

    framework = ServicesFramework()
    runner = Runner(framework, master, state)
    services = Services(runner)
    await services.run()

Queries are synchronous and read in-memory indexes. Commands are async: they validate
against the current state, persist, then act; they raise ``NotFound``, ``AlreadyExists``,
``Locked``, ``BadRequest`` or ``NotLeader`` (see ``views``).
"""

from __future__ import annotations

from pathlib import Path

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.views import (
    AlreadyExists,
    AppView,
    BadRequest,
    DeploymentResult,
    DeploymentView,
    EventQueue,
    InstanceView,
    Locked,
    NotFound,
    NotLeader,
    QueueItem,
)
from corral.scheduler_client.toolkit import Runner


class Services:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.framework_id: str | None = None

    @classmethod
    def create(
        cls, master: str, state: str | Path, *, name: str = "services", lease_ttl: float = 5.0
    ) -> Services:
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    @property
    def leading(self) -> bool:
        """Leading, with its state loaded (commands are accepted)."""
        raise NotImplementedError

    async def run(self) -> None:
        """Run the Runner (election, driver) and the services shell until stopped/fenced."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def request_stop(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ queries
    def apps(self) -> list[AppView]:
        raise NotImplementedError

    def app(self, app_id: str) -> AppView | None:
        raise NotImplementedError

    def versions(self, app_id: str) -> list[str]:
        """Newest first."""
        raise NotImplementedError

    def version(self, app_id: str, version: str) -> AppDefinition | None:
        raise NotImplementedError

    def instances(self, app_id: str | None = None) -> list[InstanceView]:
        raise NotImplementedError

    def deployments(self) -> list[DeploymentView]:
        raise NotImplementedError

    def queue(self) -> list[QueueItem]:
        raise NotImplementedError

    def why(self, app_id: str) -> list[str]:
        """Every reason the app's instances are not all running (and healthy)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ commands
    async def put_apps(
        self, apps: list[AppDefinition], *, force: bool = False, create: bool = True
    ) -> DeploymentResult:
        """Create and/or update apps (one deployment). ``create=False``: every app must
        exist (NotFound otherwise). Creating through POST is ``put_apps([a])`` after the
        API checked ``app(a.id) is None`` (AlreadyExists is raised for POST semantics by
        ``create_app``)."""
        raise NotImplementedError

    async def create_app(self, app: AppDefinition, *, force: bool = False) -> DeploymentResult:
        """POST /v2/apps: AlreadyExists if the id is taken."""
        raise NotImplementedError

    async def delete_apps(self, app_ids: list[str], *, force: bool = False) -> DeploymentResult:
        raise NotImplementedError

    async def restart(self, app_id: str, *, force: bool = False) -> DeploymentResult:
        raise NotImplementedError

    async def scale_group(
        self, group_id: str, factor: float, *, force: bool = False
    ) -> DeploymentResult:
        raise NotImplementedError

    async def kill(
        self,
        task_ids: list[str],
        *,
        scale: bool = False,
        wipe: bool = False,
        force: bool = False,
    ) -> list[InstanceView] | DeploymentResult:
        """Kill these instances. ``scale=False``: they are replaced, the killed ones are
        returned; ``scale=True``: a deployment lowers ``instances`` by as many."""
        raise NotImplementedError

    async def cancel_deployment(
        self, deployment_id: str, *, force: bool = False
    ) -> DeploymentResult | None:
        """Rollback (a new deployment back to the previous definitions), or with ``force``
        stop it where it is (None). NotFound if there is no such deployment."""
        raise NotImplementedError

    async def reset_delay(self, app_id: str) -> None:
        raise NotImplementedError

    def subscribe(self) -> EventQueue:
        """Events with Marathon's types (status_update_event, deployment_info, ...)."""
        raise NotImplementedError

    def publish(self, event_type: str, payload: dict[str, object]) -> None:
        """For events the API emits itself (api_post_event); adds eventType/timestamp."""
        raise NotImplementedError


__all__ = [
    "AlreadyExists",
    "AppView",
    "BadRequest",
    "DeploymentResult",
    "DeploymentView",
    "EventQueue",
    "InstanceView",
    "Locked",
    "NotFound",
    "NotLeader",
    "QueueItem",
    "Services",
]
