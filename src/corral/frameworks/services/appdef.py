"""An app definition as the services framework's users write it: Marathon's fields.

These are the typed forms, with Marathon's defaults. Attributes are snake_case; on the wire
(JSON and TOML) every name is Marathon's camelCase (``rename="camel"``), so
``port_definitions`` is ``portDefinitions``. Parsing a user's document with its errors
named field by field, and rendering for clients, live in ``corral.frameworks.services.codec``.
"""

from __future__ import annotations

import msgspec


class Struct(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=False):
    """Base of every definition type: camelCase on the wire."""


class DockerParameter(Struct):
    key: str
    value: str


class Docker(Struct):
    image: str
    force_pull_image: bool = False
    privileged: bool = False
    parameters: list[DockerParameter] = []
    network: str | None = None  # legacy: BRIDGE | HOST | USER | NONE


class PortMapping(Struct):
    container_port: int = 0
    host_port: int | None = 0  # 0: any port from the offer; None: no host port
    service_port: int = 0
    protocol: str = "tcp"  # tcp | udp | udp,tcp
    name: str | None = None
    labels: dict[str, str] = {}


class Volume(Struct):
    container_path: str
    host_path: str | None = None
    mode: str = "RW"  # RO | RW


class Container(Struct):
    type: str = "DOCKER"  # DOCKER | MESOS (the marathon client assumes DOCKER when unset)
    docker: Docker | None = None
    port_mappings: list[PortMapping] | None = None
    volumes: list[Volume] = []


class Network(Struct):
    mode: str = "host"  # host | container/bridge | container
    name: str | None = None


class PortDefinition(Struct):
    port: int = 0  # 0: a service port is assigned
    protocol: str = "tcp"
    name: str | None = None
    labels: dict[str, str] = {}


class CommandSpec(Struct):
    value: str


class HealthCheck(Struct):
    protocol: str = "HTTP"  # HTTP | HTTPS | TCP | COMMAND | MESOS_HTTP | MESOS_HTTPS | MESOS_TCP
    path: str = "/"
    port_index: int | None = None  # default 0 when neither port nor portIndex is given
    port: int | None = None
    command: CommandSpec | None = None
    grace_period_seconds: float = 300
    interval_seconds: float = 60
    timeout_seconds: float = 20
    max_consecutive_failures: int = 3
    delay_seconds: float = 15
    ignore_http1xx: bool = msgspec.field(default=False, name="ignoreHttp1xx")


class UpgradeStrategy(Struct):
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0


class UnreachableStrategy(Struct):
    inactive_after_seconds: float = 0
    expunge_after_seconds: float = 0


class FetchUri(Struct):
    uri: str
    extract: bool = True
    executable: bool = False
    cache: bool = False
    dest_path: str | None = None


class VersionInfo(Struct):
    last_scaling_at: str
    last_config_change_at: str


class AppDefinition(Struct):
    """One version of an app. ``id`` is absolute (``/team/web``); ``version`` is the ISO
    timestamp of this version (read-only for users)."""

    id: str
    cmd: str | None = None
    args: list[str] | None = None
    container: Container | None = None
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    instances: int = 1
    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    fetch: list[FetchUri] = []
    port_definitions: list[PortDefinition] = []
    require_ports: bool = False
    networks: list[Network] = []
    constraints: list[list[str]] = []
    health_checks: list[HealthCheck] = []
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 300.0
    upgrade_strategy: UpgradeStrategy = msgspec.field(default_factory=UpgradeStrategy)
    kill_selection: str = "YOUNGEST_FIRST"  # YOUNGEST_FIRST | OLDEST_FIRST
    dependencies: list[str] = []
    unreachable_strategy: UnreachableStrategy | None = None  # None: "disabled"
    task_kill_grace_period_seconds: float | None = None
    user: str | None = None
    accepted_resource_roles: list[str] | None = None
    role: str | None = None
    executor: str = ""
    version: str | None = None
    version_info: VersionInfo | None = None


__all__ = [
    "AppDefinition",
    "CommandSpec",
    "Container",
    "Docker",
    "DockerParameter",
    "FetchUri",
    "HealthCheck",
    "Network",
    "PortDefinition",
    "PortMapping",
    "Struct",
    "UnreachableStrategy",
    "UpgradeStrategy",
    "VersionInfo",
    "Volume",
]
