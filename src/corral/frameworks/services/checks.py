"""The rules of a valid app definition beyond its types (pure).

``check_app`` returns one ``Detail`` per broken rule, at the field's JSON path. The port
helpers (``networking``, ``host_ports``) are shared with ``taskinfo``: they say how many
ports an app takes from an offer and which of its ports a health check's ``portIndex`` means.
"""

from __future__ import annotations

from corral.frameworks.services.appdef import AppDefinition, HealthCheck
from corral.frameworks.services.errors import Detail, Invalid
from corral.frameworks.services.ids import normalize_id, parent_of
from corral.scheduler_client.constraints import Constraint
from corral.scheduler_client.priorities import spec_priority
from corral.wire.preemption import PRIORITY_LABEL, TIER_LABEL

KILL_SELECTIONS = ("YOUNGEST_FIRST", "OLDEST_FIRST")
CONTAINER_TYPES = ("DOCKER", "MESOS")
PROTOCOLS = ("tcp", "udp", "udp,tcp")
HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
NETWORK_MODES = ("host", "container/bridge", "container")
# legacy container.docker.network -> networks[].mode
DOCKER_NETWORKS = {
    "BRIDGE": "container/bridge",
    "HOST": "host",
    "USER": "container",
    "NONE": "none",
}
EXECUTORS = ("", "//cmd")

HOST = "host"
BRIDGE = "container/bridge"
NONE = "none"


def networking(app: AppDefinition) -> str:
    """``host``, ``container/bridge`` or ``none`` (docker's NONE, legacy only)."""
    return app.networks[0].mode if app.networks else HOST


def port_count(app: AppDefinition) -> int:
    """How many ports the task has (what ``portIndex`` counts): the port mappings under
    bridge networking, the port definitions otherwise."""
    if networking(app) == BRIDGE:
        return len((app.container.port_mappings or []) if app.container else [])
    return len(app.port_definitions)


def _nonneg(errors: list[Detail], path: str, v: float) -> None:
    if v < 0:
        errors.append(Detail(path, [f"got {v:g}, expected 0 or more"]))


def _unit(errors: list[Detail], path: str, v: float) -> None:
    if not 0 <= v <= 1:
        errors.append(Detail(path, [f"got {v:g}, expected a number between 0.0 and 1.0"]))


def _port(errors: list[Detail], path: str, v: int | None) -> None:
    if v is not None and not 0 <= v <= 65535:
        errors.append(Detail(path, [f"got {v}, expected a port number 0-65535"]))


def check_app(app: AppDefinition) -> list[Detail]:
    errors: list[Detail] = []
    has_cmd = app.cmd is not None and app.cmd != ""
    has_args = bool(app.args)
    image = app.container.docker.image if app.container and app.container.docker else ""
    if has_cmd and has_args:
        errors.append(Detail("/", ["cmd and args are mutually exclusive: give one of them"]))
    if not has_cmd and not has_args and not image:
        errors.append(
            Detail(
                "/",
                [
                    "AppDefinition must either contain one of 'cmd' or 'args', "
                    "and/or a 'container' with an image"
                ],
            )
        )
    for name in ("cpus", "mem", "disk"):
        _nonneg(errors, f"/{name}", getattr(app, name))
    if app.gpus < 0:
        errors.append(Detail("/gpus", [f"got {app.gpus}, expected 0 or more"]))
    if app.instances < 0:
        errors.append(Detail("/instances", [f"got {app.instances}, expected 0 or more"]))
    _nonneg(errors, "/backoffSeconds", app.backoff_seconds)
    _nonneg(errors, "/maxLaunchDelaySeconds", app.max_launch_delay_seconds)
    if app.backoff_factor < 1.0:
        errors.append(
            Detail("/backoffFactor", [f"got {app.backoff_factor:g}, expected 1.0 or more"])
        )
    _unit(
        errors,
        "/upgradeStrategy/minimumHealthCapacity",
        app.upgrade_strategy.minimum_health_capacity,
    )
    _unit(
        errors, "/upgradeStrategy/maximumOverCapacity", app.upgrade_strategy.maximum_over_capacity
    )
    if app.kill_selection not in KILL_SELECTIONS:
        errors.append(
            Detail(
                "/killSelection",
                [f"{app.kill_selection!r}: expected one of {', '.join(KILL_SELECTIONS)}"],
            )
        )
    if app.unreachable_strategy is not None:
        u = app.unreachable_strategy
        _nonneg(errors, "/unreachableStrategy/inactiveAfterSeconds", u.inactive_after_seconds)
        _nonneg(errors, "/unreachableStrategy/expungeAfterSeconds", u.expunge_after_seconds)
        if u.expunge_after_seconds < u.inactive_after_seconds:
            errors.append(
                Detail(
                    "/unreachableStrategy/expungeAfterSeconds",
                    ["must be at least inactiveAfterSeconds"],
                )
            )
    if app.task_kill_grace_period_seconds is not None:
        _nonneg(errors, "/taskKillGracePeriodSeconds", app.task_kill_grace_period_seconds)
    if app.executor not in EXECUTORS:
        errors.append(
            Detail(
                "/executor",
                [f'{app.executor!r}: custom executors are not supported (use "" or "//cmd")'],
            )
        )
    roles = [r for r in app.accepted_resource_roles or [] if r != "*"]
    if len(roles) > 1:
        errors.append(
            Detail(
                "/acceptedResourceRoles",
                ["corral places an app in one role: give at most one role besides '*'"],
            )
        )
    if app.accepted_resource_roles == []:
        errors.append(Detail("/acceptedResourceRoles", ["must not be empty (leave it out)"]))
    for i, f in enumerate(app.fetch):
        if not f.uri:
            errors.append(Detail(f"/fetch/{i}/uri", ["must not be empty"]))
    errors.extend(_check_networks(app))
    errors.extend(_check_container(app))
    errors.extend(_check_ports(app))
    for i, c in enumerate(app.constraints):
        try:
            Constraint.parse(c)
        except ValueError as exc:
            errors.append(Detail(f"/constraints/{i}", [str(exc)]))
    for key in (TIER_LABEL, PRIORITY_LABEL):  # preemption (docs/preemption.md)
        if key in app.labels:
            try:
                spec_priority({key: app.labels[key]})
            except ValueError as exc:
                errors.append(Detail(f"/labels/{key}", [str(exc)]))
    if len(app.health_checks) > 1:
        errors.append(
            Detail(
                "/healthChecks", ["corral's agents run one health check per task: give at most one"]
            )
        )
    for i, hc in enumerate(app.health_checks):
        errors.extend(_check_health(app, hc, f"/healthChecks/{i}"))
    for i, dep in enumerate(app.dependencies):
        try:
            normalize_id(dep, parent_of(app.id), path=f"/dependencies/{i}")
        except Invalid as exc:
            errors.extend(exc.details)
    return errors


def resolved_dependencies(app: AppDefinition) -> list[str]:
    """``app.dependencies`` as absolute ids (relative ones against the app's group)."""
    return [normalize_id(d, parent_of(app.id)) for d in app.dependencies]


def _check_networks(app: AppDefinition) -> list[Detail]:
    errors: list[Detail] = []
    if len(app.networks) > 1:
        errors.append(Detail("/networks", ["corral supports one network per app"]))
    for i, n in enumerate(app.networks):
        if n.mode == "container":
            errors.append(
                Detail(
                    f"/networks/{i}/mode",
                    [
                        "container (user-defined) networks are not supported: "
                        "use host or container/bridge"
                    ],
                )
            )
        elif n.mode not in NETWORK_MODES and n.mode != NONE:
            errors.append(
                Detail(
                    f"/networks/{i}/mode", [f"{n.mode!r}: expected one of host, container/bridge"]
                )
            )
    if networking(app) in (BRIDGE, NONE) and (
        app.container is None or app.container.type != "DOCKER"
    ):
        errors.append(
            Detail("/networks", [f"{networking(app)} networking needs a DOCKER container"])
        )
    return errors


def _check_container(app: AppDefinition) -> list[Detail]:
    c = app.container
    if c is None:
        return []
    errors: list[Detail] = []
    if c.type not in CONTAINER_TYPES:
        errors.append(Detail("/container/type", [f"{c.type!r}: expected DOCKER or MESOS"]))
    if c.type == "DOCKER" and (c.docker is None or not c.docker.image):
        errors.append(Detail("/container/docker/image", ["a DOCKER container needs an image"]))
    if c.docker is not None and c.type == "MESOS" and (c.docker.privileged or c.docker.parameters):
        errors.append(
            Detail("/container/docker", ["privileged and parameters need a DOCKER container"])
        )
    if c.docker is not None and c.docker.parameters:
        keys = ", ".join(p.key for p in c.docker.parameters)
        errors.append(
            Detail(
                "/container/docker/parameters",
                [f"arbitrary docker parameters are not supported by corral's agents (got {keys})"],
            )
        )
    if c.port_mappings and networking(app) != BRIDGE:
        errors.append(
            Detail(
                "/container/portMappings",
                [
                    "port mappings need bridge networking "
                    "(networks: [{mode: container/bridge}] or docker.network BRIDGE)"
                ],
            )
        )
    names: set[str] = set()
    for i, pm in enumerate(c.port_mappings or []):
        where = f"/container/portMappings/{i}"
        _port(errors, f"{where}/containerPort", pm.container_port)
        _port(errors, f"{where}/hostPort", pm.host_port)
        _port(errors, f"{where}/servicePort", pm.service_port)
        if pm.protocol not in PROTOCOLS:
            errors.append(
                Detail(f"{where}/protocol", [f"{pm.protocol!r}: expected tcp, udp or udp,tcp"])
            )
        if pm.name is not None:
            if pm.name in names:
                errors.append(Detail(f"{where}/name", [f"{pm.name!r} is used twice"]))
            names.add(pm.name)
    for i, v in enumerate(c.volumes):
        where = f"/container/volumes/{i}"
        if not v.container_path:
            errors.append(Detail(f"{where}/containerPath", ["must not be empty"]))
        if not v.host_path:
            errors.append(
                Detail(
                    f"{where}/hostPath",
                    ["is required (persistent and external volumes are not supported)"],
                )
            )
        if v.mode not in ("RO", "RW"):
            errors.append(Detail(f"{where}/mode", [f"{v.mode!r}: expected RO or RW"]))
    return errors


def _check_ports(app: AppDefinition) -> list[Detail]:
    errors: list[Detail] = []
    if app.port_definitions and networking(app) != HOST:
        errors.append(
            Detail(
                "/portDefinitions",
                [
                    "port definitions are for host networking; "
                    "use container.portMappings with bridge networking"
                ],
            )
        )
    names: set[str] = set()
    seen: set[int] = set()
    for i, pd in enumerate(app.port_definitions):
        where = f"/portDefinitions/{i}"
        _port(errors, f"{where}/port", pd.port)
        if pd.protocol not in PROTOCOLS:
            errors.append(
                Detail(f"{where}/protocol", [f"{pd.protocol!r}: expected tcp, udp or udp,tcp"])
            )
        if pd.name is not None:
            if pd.name in names:
                errors.append(Detail(f"{where}/name", [f"{pd.name!r} is used twice"]))
            names.add(pd.name)
        if pd.port != 0:
            if pd.port in seen:
                errors.append(Detail(f"{where}/port", [f"port {pd.port} is given twice"]))
            seen.add(pd.port)
    return errors


def _check_health(app: AppDefinition, hc: HealthCheck, where: str) -> list[Detail]:
    errors: list[Detail] = []
    if hc.protocol not in HEALTH_PROTOCOLS:
        errors.append(
            Detail(
                f"{where}/protocol",
                [f"{hc.protocol!r}: expected one of {', '.join(HEALTH_PROTOCOLS)}"],
            )
        )
        return errors
    for name in ("grace_period_seconds", "interval_seconds", "timeout_seconds", "delay_seconds"):
        camel = "".join(w if i == 0 else w.title() for i, w in enumerate(name.split("_")))
        _nonneg(errors, f"{where}/{camel}", getattr(hc, name))
    if hc.interval_seconds <= 0:
        errors.append(Detail(f"{where}/intervalSeconds", ["must be more than 0"]))
    if hc.max_consecutive_failures < 0:
        errors.append(
            Detail(
                f"{where}/maxConsecutiveFailures",
                [f"got {hc.max_consecutive_failures}, expected 0 or more"],
            )
        )
    if hc.protocol == "COMMAND":
        if hc.command is None or not hc.command.value:
            errors.append(Detail(f"{where}/command", ["a COMMAND health check needs a command"]))
        return errors
    if hc.port is not None:
        if not 1 <= hc.port <= 65535:
            errors.append(Detail(f"{where}/port", [f"got {hc.port}, expected 1-65535"]))
        return errors
    index = hc.port_index if hc.port_index is not None else 0
    count = port_count(app)
    if index < 0 or index >= count:
        have = f"{count} port{'s' if count != 1 else ''}"
        errors.append(
            Detail(
                f"{where}/portIndex",
                [
                    f"is {index}, but the app has {have}"
                    + (f" (indexes 0-{count - 1})" if count else "")
                ],
            )
        )
    return errors


__all__ = [
    "BRIDGE",
    "CONTAINER_TYPES",
    "DOCKER_NETWORKS",
    "HEALTH_PROTOCOLS",
    "HOST",
    "KILL_SELECTIONS",
    "NONE",
    "check_app",
    "networking",
    "port_count",
    "resolved_dependencies",
]
