"""What the services framework shows the API and the page: read-only views, the errors its
commands raise, and the queue of events a subscriber reads (Seam 2 of the contract).

Views are plain dataclasses built from the in-memory state on each query; nothing here
touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.frameworks.services.appdef import AppDefinition

# (StartApplication | StopApplication | ScaleApplication | RestartApplication, app id)
Action = tuple[str, str]


class NotFound(LookupError):
    """An app (or task, or deployment) that does not exist; the message is Marathon's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @classmethod
    def app(cls, app_id: str) -> NotFound:
        return cls(f"App '{app_id}' does not exist")


class AlreadyExists(Exception):
    def __init__(self, app_id: str) -> None:
        self.message = f"An app with id [{app_id}] already exists."
        super().__init__(self.message)


class Locked(Exception):
    """A deployment in the way (409). ``deployments``: the ids of the deployments."""

    def __init__(self, app_ids: list[str], deployments: list[str]) -> None:
        self.app_ids = app_ids
        self.deployments = deployments
        where = ", ".join(f"/v2/deployments/{d}" for d in deployments)
        self.message = (
            f"App is locked by one or more deployments ({', '.join(app_ids)}). "
            f"Override with the option '?force=true'. View details at {where}."
        )
        super().__init__(self.message)


class NotLeader(Exception):
    """This instance does not lead (or has not finished loading its state yet)."""

    def __init__(self, message: str = "this instance is not the leader") -> None:
        self.message = message
        super().__init__(message)


class BadRequest(ValueError):
    """A command that cannot be carried out as asked (400), e.g. unknown task ids."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class InstanceView:
    task_id: str
    app_id: str
    version: str
    agent_id: str | None
    host: str
    ports: list[int]
    state: str  # a Mesos task state name (TASK_RUNNING, ...; TASK_UNREACHABLE)
    staged_at: str | None  # ISO timestamps
    started_at: str | None
    healthy: bool | None
    health_message: str | None


@dataclass
class DeploymentView:
    id: str
    version: str
    affected_apps: list[str]
    steps: list[list[Action]]
    current_step: int  # 1-based
    current_actions: list[Action]
    waiting: str | None  # why the current step is not done yet (None: progressing)
    total_steps: int = 0


@dataclass
class AppView:
    definition: AppDefinition
    staged: int
    running: int
    healthy: int
    unhealthy: int
    deployments: list[str]
    instances: list[InstanceView]
    last_task_failure: dict[str, object] | None
    waiting: str | None  # why it has fewer instances than it should (None: it has them)


@dataclass
class QueueItem:
    app_id: str
    count: int  # instances still to launch
    delay_left: float  # seconds of backoff left
    overdue: bool
    since: str  # ISO timestamp: since when it waits
    reason: str  # why they are not launched yet


@dataclass
class DeploymentResult:
    deployment_id: str
    version: str


__all__ = [
    "Action",
    "AlreadyExists",
    "AppView",
    "BadRequest",
    "DeploymentResult",
    "DeploymentView",
    "InstanceView",
    "Locked",
    "NotFound",
    "NotLeader",
    "QueueItem",
]
