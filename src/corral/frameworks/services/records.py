"""The store layout: one record per app version, per app head, per deployment and per
instance version, so no record grows with the number of apps or instances.

* ``app/<id>/<version>``: an ``AppDefinition`` (the last ``MAX_VERSIONS`` per app are kept);
* ``apphead/<id>``: the app's current version, goal, history list, backoff;
* ``deployment/<id>``: a ``Deployment`` with its steps and the definitions before and after;
* ``instance/<task id>``: the config version an instance was launched with (the toolkit's
  ``task/<task id>`` record holds the rest).
"""

from __future__ import annotations

import msgspec

from corral.frameworks.services.appdef import AppDefinition
from corral.frameworks.services.backoff import Backoff

MAX_VERSIONS = 50


class AppHead(msgspec.Struct, kw_only=True):
    app_id: str
    latest: str  # the version shown
    goal: str | None  # the version instances are driven toward (None: none)
    deleting: bool = False
    versions: list[str] = []  # newest first
    backoff: Backoff = msgspec.field(default_factory=Backoff)
    last_task_failure: dict[str, object] | None = None


class Deployment(msgspec.Struct, kw_only=True):
    id: str
    version: str
    steps: list[list[tuple[str, str]]]
    current: int = 0  # 0-based index of the current step
    original: dict[str, AppDefinition | None] = {}
    target: dict[str, AppDefinition | None] = {}
    kill_first: list[str] = []
    started_at: float = 0.0
    step_started_at: float = 0.0

    @property
    def affected(self) -> list[str]:
        return sorted(self.target)


class InstanceVersion(msgspec.Struct, kw_only=True):
    app_id: str
    version: str


def app_key(app_id: str, version: str) -> str:
    return f"app/{app_id}/{version}"


def head_key(app_id: str) -> str:
    return f"apphead/{app_id}"


def deployment_key(dep_id: str) -> str:
    return f"deployment/{dep_id}"


def instance_key(task_id: str) -> str:
    return f"instance/{task_id}"


def group_of_app(app_id: str) -> str:
    """The toolkit group (and task id prefix) of an app's instances: Marathon's form."""
    return app_id.strip("/").replace("/", "_")


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def decode_definition(data: bytes) -> AppDefinition:
    return msgspec.json.decode(data, type=AppDefinition)


def decode_head(data: bytes) -> AppHead:
    return msgspec.json.decode(data, type=AppHead)


def decode_deployment(data: bytes) -> Deployment:
    return msgspec.json.decode(data, type=Deployment)


def decode_instance(data: bytes) -> InstanceVersion:
    return msgspec.json.decode(data, type=InstanceVersion)


__all__ = [
    "MAX_VERSIONS",
    "AppHead",
    "Deployment",
    "InstanceVersion",
    "app_key",
    "decode_definition",
    "decode_deployment",
    "decode_head",
    "decode_instance",
    "deployment_key",
    "encode",
    "group_of_app",
    "head_key",
    "instance_key",
]
