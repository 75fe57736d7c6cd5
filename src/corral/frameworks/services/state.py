"""The services framework's in-memory state (plain data), indexed for the queries: apps by
id, each with its versions and its instances; deployments by id; task id -> app id."""

from __future__ import annotations

from dataclasses import dataclass, field

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.backoff import Backoff
from corral.frameworks.services.records import AppHead, Deployment


@dataclass
class Instance:
    task_id: str
    app_id: str
    version: str  # the config version it was launched with
    agent_id: str | None = None
    host: str = ""
    ports: list[int] = field(default_factory=list)
    state: str = "TASK_STAGING"
    staged_at: float = 0.0
    started_at: float | None = None
    healthy: bool | None = None
    message: str | None = None
    killing: bool = False
    unreachable_since: float | None = None
    tracked: bool = True  # False: a placeholder for an instance on a lost agent


@dataclass
class App:
    app_id: str
    definition: AppDefinition  # latest (what users see)
    goal: AppDefinition | None  # what the instances are driven toward
    defs: dict[str, AppDefinition] = field(default_factory=dict)  # version -> definition
    versions: list[str] = field(default_factory=list)  # newest first
    instances: dict[str, Instance] = field(default_factory=dict)
    deleting: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    last_task_failure: dict[str, object] | None = None
    unplaced: str | None = None  # the placement's reason, when instances wait for room
    launch: int = 0  # instances to launch now (read by the goals)
    waiting: str | None = None
    waiting_since: float | None = None
    demand_since: float | None = None  # since when launches wait for an offer

    def head(self) -> AppHead:
        return AppHead(
            app_id=self.app_id,
            latest=self.definition.version or "",
            goal=self.goal.version if self.goal else None,
            deleting=self.deleting,
            versions=list(self.versions),
            backoff=self.backoff,
            last_task_failure=self.last_task_failure,
        )

    def config_def(self, config_version: str) -> AppDefinition | None:
        for d in self.defs.values():
            if config_of(d) == config_version:
                return d
        return None


@dataclass
class State:
    apps: dict[str, App] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    task_app: dict[str, str] = field(default_factory=dict)
    group_app: dict[str, str] = field(default_factory=dict)
    totals: dict[str, dict[str, float]] = field(default_factory=dict)  # agent -> scalars
    dirty: set[str] = field(default_factory=set)  # apps whose goal changed
    watch: set[str] = field(default_factory=set)  # apps with timers (backoff, unreachable)
    # Agents the master wants back (inverse offers): agent id -> inverse offer id. Their
    # instances are replaced elsewhere first, then the inverse offer is accepted.
    draining: dict[str, str] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)  # inverse offers accepted already
    ready: bool = False

    def locks(self, app_id: str) -> list[str]:
        return [d.id for d in self.deployments.values() if app_id in d.target]


def config_of(d: AppDefinition) -> str:
    """The config version: instances launched at it are current (scaling keeps it)."""
    if d.version_info is not None:
        return d.version_info.last_config_change_at
    return d.version or ""


def counts(d: AppDefinition | None, i: Instance) -> bool:
    """Healthy if the definition has health checks, running otherwise."""
    if i.killing or not i.tracked or i.unreachable_since is not None:
        return False
    if i.state != "TASK_RUNNING":
        return False
    if d is not None and d.health_checks:
        return i.healthy is True
    return True


__all__ = ["App", "Instance", "State", "config_of", "counts"]
