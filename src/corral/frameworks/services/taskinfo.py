"""An app's instance as the toolkit places it (``TaskSpec``) and launches it (``TaskInfo``).

Pure. ``task_spec`` says what one instance needs from an offer (resources, ports, role,
constraints); ``task_info`` turns a placement into the wire TaskInfo: the command (``cmd``
through the shell, ``args`` as argv), the DOCKER or MESOS container, Marathon's environment
variables (``PORT0``, ``PORTS``, ``HOST``, ``MARATHON_APP_*``...), fetched URIs, labels, the
agent-run health check and the kill policy. Task ids have Marathon's form,
``team_web.<uuid>`` for ``/team/web``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from corral.frameworks.services import checks
from corral.frameworks.services.appdef import AppDefinition, HealthCheck
from corral.resources import UNRESERVED, scalars
from corral.scheduler_client.constraints import Constraint
from corral.scheduler_client.placement import Assignment, TaskSpec
from corral.scheduler_client.priorities import spec_priority
from corral.wire.base import ID
from corral.wire.common import DurationInfo, Label, Labels
from corral.wire.tasks import (
    URI,
    CommandInfo,
    ContainerInfo,
    DockerInfo,
    Environment,
    EnvironmentVariable,
    HTTPCheckInfo,
    Image,
    ImageDocker,
    KillPolicy,
    MesosInfo,
    Parameter,
    PortMapping,
    TaskInfo,
    TCPCheckInfo,
    Volume,
)
from corral.wire.tasks import HealthCheck as WireHealthCheck

NEVER = 2**31 - 1  # maxConsecutiveFailures 0 on a Marathon-level check: never kill
DOCKER_NETWORK = {checks.HOST: "HOST", checks.BRIDGE: "BRIDGE", checks.NONE: "NONE"}


# ---------------------------------------------------------------------- ids
def new_task_id(app_id: str) -> str:
    """Marathon's task id: the app path with ``/`` as ``_`` (no leading one), ``.``, a uuid."""
    return f"{app_id.strip('/').replace('/', '_')}.{uuid.uuid4()}"


def app_id_of_task(task_id: str) -> str:
    """The app id in a task id of ``new_task_id``'s form; ValueError if it has none."""
    head, dot, tail = task_id.rpartition(".")
    if not dot or not head or not tail:
        raise ValueError(f"{task_id!r} is not a task id of this framework (<app>.<uuid>)")
    return "/" + head.replace("_", "/")


def task_name(app_id: str) -> str:
    """The Mesos task name: the app path reversed, dot-separated (``/team/web`` -> ``web.team``)."""
    return ".".join(reversed([p for p in app_id.split("/") if p]))


# ---------------------------------------------------------------------- placement
def _port_slots(app: AppDefinition) -> list[int | None]:
    """Each of the task's ports as the offer must give it: 0 any port, N exactly port N,
    None no host port (a bridge mapping without one). Aligned with ``port_count``."""
    if checks.networking(app) == checks.BRIDGE:
        mappings = app.container.port_mappings if app.container else None
        return [pm.host_port for pm in mappings or []]
    return [pd.port if app.require_ports else 0 for pd in app.port_definitions]


def task_spec(app: AppDefinition, group: str = "") -> TaskSpec:
    """What one instance of ``app`` needs from an offer. ``group`` names the instances the
    constraints count together (the core passes the app id, or id + version)."""
    slots = _port_slots(app)
    reserved = [r for r in app.accepted_resource_roles or [] if r != UNRESERVED]
    role = reserved[0] if reserved else (app.role or UNRESERVED)
    reserved_only = (
        app.accepted_resource_roles is not None
        and UNRESERVED not in app.accepted_resource_roles
        and role != UNRESERVED
    )
    tier, priority = spec_priority(app.labels)  # corral.tier / corral.priority (checked)
    return TaskSpec(
        name=app.id,
        resources=scalars(cpus=app.cpus, mem=app.mem, disk=app.disk, gpus=app.gpus),
        group=group,
        ports=sum(1 for s in slots if s == 0),
        named_ports=tuple(s for s in slots if s),
        role=role,
        reserved_only=reserved_only,
        constraints=tuple(Constraint.parse(c) for c in app.constraints),
        tier=tier,
        priority=priority,
    )


def host_ports(app: AppDefinition, assigned: tuple[int, ...]) -> list[int | None]:
    """The host port of each of the task's ports (``portIndex`` order), from the ports the
    placement chose (named ones first, then the others, as ``place`` gives them)."""
    slots = _port_slots(app)
    named = sum(1 for s in slots if s)
    need = named + sum(1 for s in slots if s == 0)
    if len(assigned) < need:
        raise ValueError(
            f"{app.id}: the assignment has {len(assigned)} ports, the app needs {need}"
        )
    fixed: Iterator[int] = iter(assigned[:named])
    chosen: Iterator[int] = iter(assigned[named:])
    return [None if s is None else next(fixed) if s else next(chosen) for s in slots]


# ---------------------------------------------------------------------- environment
def _env_name(text: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())


def _number(v: float) -> str:
    return repr(float(v))  # Marathon prints doubles: 1.0, 128.0


def environment(
    app: AppDefinition, task_id: str, hostname: str, ports: list[int | None]
) -> dict[str, str]:
    """Marathon's variables for a task, with the app's ``env`` on top (a user's value wins)."""
    env: dict[str, str] = {}
    bridged = checks.networking(app) == checks.BRIDGE
    mappings = (app.container.port_mappings or []) if app.container else []
    declared: list[tuple[int, str | None]] = (
        [(pm.container_port, pm.name) for pm in mappings]
        if bridged
        else [(pd.port, pd.name) for pd in app.port_definitions]
    )
    numbers: list[str] = []
    for i, ((port, name), host) in enumerate(zip(declared, ports, strict=True)):
        value = str(host if host is not None else port)
        numbers.append(value)
        env[f"PORT{i}"] = value
        if port:
            env[f"PORT_{port}"] = value
        if name:
            env[f"PORT_{_env_name(name)}"] = value
    if numbers:
        env["PORT"] = numbers[0]
        env["PORTS"] = ",".join(numbers)
    env["HOST"] = hostname
    env["MESOS_TASK_ID"] = task_id
    env["MARATHON_APP_ID"] = app.id
    env["MARATHON_APP_VERSION"] = app.version or ""
    image = app.container.docker.image if app.container and app.container.docker else ""
    env["MARATHON_APP_DOCKER_IMAGE"] = image
    env["MARATHON_APP_RESOURCE_CPUS"] = _number(app.cpus)
    env["MARATHON_APP_RESOURCE_MEM"] = _number(app.mem)
    env["MARATHON_APP_RESOURCE_DISK"] = _number(app.disk)
    env["MARATHON_APP_RESOURCE_GPUS"] = str(app.gpus)
    label_names = []
    for key, value in sorted(app.labels.items()):
        name = _env_name(key)
        if len(value) > 512:  # as Marathon: long values are left out
            continue
        label_names.append(name)
        env[f"MARATHON_APP_LABEL_{name}"] = value
    env["MARATHON_APP_LABELS"] = " ".join(label_names)
    env.update(app.env)
    return env


# ---------------------------------------------------------------------- task info
def _container(app: AppDefinition, ports: list[int | None]) -> ContainerInfo | None:
    c = app.container
    if c is None:
        return None
    volumes = [
        Volume(container_path=v.container_path, host_path=v.host_path, mode=v.mode)
        for v in c.volumes
    ]
    docker = c.docker
    if c.type == "DOCKER" and docker is not None:
        mappings: list[PortMapping] = []
        for pm, host in zip(c.port_mappings or [], ports, strict=False):
            if host is None or checks.networking(app) != checks.BRIDGE:
                continue
            for proto in pm.protocol.split(","):
                mappings.append(
                    PortMapping(
                        host_port=host, container_port=pm.container_port or host, protocol=proto
                    )
                )
        return ContainerInfo(
            type="DOCKER",
            volumes=volumes,
            docker=DockerInfo(
                image=docker.image,
                network=DOCKER_NETWORK.get(checks.networking(app), "HOST"),
                port_mappings=mappings,
                privileged=docker.privileged,
                parameters=[Parameter(key=p.key, value=p.value) for p in docker.parameters],
                force_pull_image=docker.force_pull_image,
            ),
        )
    mesos = None
    if docker is not None and docker.image:
        mesos = MesosInfo(
            image=Image(
                type="DOCKER",
                docker=ImageDocker(name=docker.image),
                cached=not docker.force_pull_image,
            )
        )
    if mesos is None and not volumes:
        return None
    return ContainerInfo(type="MESOS", volumes=volumes, mesos=mesos)


def _command(app: AppDefinition, env: dict[str, str]) -> CommandInfo:
    environment = Environment(
        variables=[EnvironmentVariable(name=k, value=v) for k, v in sorted(env.items())]
    )
    uris = [
        URI(
            value=f.uri,
            extract=f.extract,
            executable=f.executable,
            cache=f.cache,
            output_file=f.dest_path,
        )
        for f in app.fetch
    ]
    docker = app.container is not None and app.container.type == "DOCKER"
    if app.cmd:
        return CommandInfo(
            value=app.cmd, shell=True, environment=environment, uris=uris, user=app.user
        )
    args = list(app.args or [])
    return CommandInfo(
        value=None if docker or not args else args[0],
        shell=False,
        arguments=args,
        environment=environment,
        uris=uris,
        user=app.user,
    )


def health_check(app: AppDefinition, hc: HealthCheck, ports: list[int | None]) -> WireHealthCheck:
    """A definition's health check as the agent runs it. The port is ``port``, else the
    task's port at ``portIndex``: its host port, or under bridge networking its container
    port (the agent probes the mapped host port). Marathon-level checks (HTTP, HTTPS, TCP)
    start probing at once and with ``maxConsecutiveFailures: 0`` never kill; Mesos-level
    ones wait ``delaySeconds`` and with 0 kill at the first failure."""
    mesos_level = hc.protocol.startswith("MESOS_") or hc.protocol == "COMMAND"
    failures = hc.max_consecutive_failures or (1 if mesos_level else NEVER)
    out = WireHealthCheck(
        delay_seconds=hc.delay_seconds if mesos_level else 0.0,
        interval_seconds=hc.interval_seconds,
        timeout_seconds=hc.timeout_seconds,
        consecutive_failures=failures,
        grace_period_seconds=hc.grace_period_seconds,
    )
    if hc.protocol == "COMMAND":
        value = hc.command.value if hc.command else "true"
        out.type = "COMMAND"
        out.command = CommandInfo(value=value, shell=True)
        return out
    port = hc.port if hc.port is not None else _indexed_port(app, hc.port_index or 0, ports)
    if hc.protocol in ("TCP", "MESOS_TCP"):
        out.type = "TCP"
        out.tcp = TCPCheckInfo(port=port)
        return out
    out.type = "HTTP"
    scheme = "https" if hc.protocol.endswith("HTTPS") else "http"
    out.http = HTTPCheckInfo(port=port, path=hc.path, scheme=scheme)
    return out


def _indexed_port(app: AppDefinition, index: int, ports: list[int | None]) -> int:
    if checks.networking(app) == checks.BRIDGE and app.container is not None:
        pm = (app.container.port_mappings or [])[index]
        return pm.container_port or (ports[index] or 0)
    host = ports[index]
    return host if host is not None else app.port_definitions[index].port


def task_info(
    app: AppDefinition,
    task_id: str,
    assignment: Assignment,
    *,
    framework_name: str,
    allocation_role: str | None = None,
) -> TaskInfo:
    """The TaskInfo that launches one instance of ``app`` where ``assignment`` placed it.
    ``allocation_role``: the role the offer was made to (for the resources' allocation info)."""
    ports = host_ports(app, assignment.ports)
    env = environment(app, task_id, assignment.hostname, ports)
    grace = app.task_kill_grace_period_seconds
    name = task_name(app.id)
    return TaskInfo(
        name=name,
        task_id=ID(task_id),
        agent_id=ID(assignment.agent_id),
        resources=assignment.resources.to_wire(allocation_role=allocation_role),
        command=_command(app, env),
        container=_container(app, ports),
        health_check=health_check(app, app.health_checks[0], ports) if app.health_checks else None,
        kill_policy=(
            KillPolicy(grace_period=DurationInfo(nanoseconds=int(grace * 1e9)))
            if grace is not None
            else None
        ),
        labels=(
            Labels(labels=[Label(key=k, value=v) for k, v in sorted(app.labels.items())])
            if app.labels
            else None
        ),
        discovery={
            "visibility": "FRAMEWORK",
            "name": name,
            "labels": {"labels": [{"key": "framework", "value": framework_name}]},
            "ports": {
                "ports": [
                    {"number": host, "name": pname or f"port{i}", "protocol": proto}
                    for i, ((pname, proto), host) in enumerate(
                        zip(_port_names(app), ports, strict=True)
                    )
                    if host is not None
                ]
            },
        },
    )


def _port_names(app: AppDefinition) -> list[tuple[str | None, str]]:
    if checks.networking(app) == checks.BRIDGE and app.container is not None:
        return [(pm.name, pm.protocol) for pm in app.container.port_mappings or []]
    return [(pd.name, pd.protocol) for pd in app.port_definitions]


__all__ = [
    "app_id_of_task",
    "environment",
    "health_check",
    "host_ports",
    "new_task_id",
    "task_info",
    "task_name",
    "task_spec",
]
