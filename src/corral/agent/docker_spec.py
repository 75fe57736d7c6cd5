"""How a DOCKER task becomes a container: the pure part of the docker containerizer.

Reads a TaskInfo's ``ContainerInfo`` and turns it into the arguments of the docker SDK's
``containers.create``, the way Mesos's docker containerizer runs a CommandInfo; everything a
task can get wrong is a ``LaunchError`` whose message names the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from corral.resources import Resources, from_wire
from corral.wire.tasks import ContainerInfo, DockerInfo, TaskInfo

SANDBOX = "/mnt/mesos/sandbox"  # where a docker task sees its sandbox, as in Mesos
NETWORKS = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}


class LaunchError(Exception):
    """A docker task cannot be launched; ``str()`` is the message for its TASK_FAILED."""


def default_endpoint() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def normalize_endpoint(value: str) -> str:
    """``--docker-socket``: a unix socket path, ``unix://PATH`` or ``tcp://HOST:PORT``;
    empty means ``$DOCKER_HOST`` or ``unix:///var/run/docker.sock``."""
    value = value.strip() or default_endpoint()
    if value.startswith("/"):
        return "unix://" + value
    if value.startswith("unix://") and len(value) > len("unix://"):
        return value
    if value.startswith("tcp://") and ":" in value[len("tcp://") :]:
        return value
    raise ValueError(f"expected a socket path, unix://PATH or tcp://HOST:PORT, got {value!r}")


def is_docker(info: TaskInfo) -> bool:
    return info.container is not None and info.container.kind == "DOCKER"


def container_info(info: TaskInfo) -> tuple[ContainerInfo, DockerInfo]:
    """A DOCKER task's ContainerInfo and its DockerInfo, with the fields Mesos requires."""
    ci = info.container
    if ci is None or ci.docker is None:
        raise LaunchError("TaskInfo.container.docker is required when container.type is DOCKER")
    if ci.docker.image is None:
        raise LaunchError("TaskInfo.container: Missing required field 'docker.image'")
    if not ci.docker.image.strip():
        raise LaunchError("TaskInfo.container.docker.image must not be empty")
    for i, v in enumerate(ci.volumes):
        if v.container_path is None:
            raise LaunchError(
                f"TaskInfo.container: Missing required field 'volumes[{i}].container_path'"
            )
    return ci, ci.docker


def command_of(info: TaskInfo) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command) as Mesos runs a CommandInfo in docker: ``shell`` overrides the
    entrypoint with ``/bin/sh -c value``; otherwise the image's entrypoint is kept and
    ``value`` (when set) then ``arguments`` are its arguments. No command: the image's own."""
    cmd = info.command
    if cmd is None:
        return None, None
    if cmd.shell:
        if not cmd.value:
            return None, None
        return ["/bin/sh"], ["-c", cmd.value]
    args = ([cmd.value] if cmd.value else []) + list(cmd.arguments)
    return None, args or None


def create_kwargs(
    *,
    info: TaskInfo,
    ci: ContainerInfo,
    docker: DockerInfo,
    env: dict[str, str],
    sandbox: Path,
    name: str,
    labels: dict[str, str],
    hard_cpu_limit: bool = False,
    user: str | None = None,
) -> dict[str, Any]:
    """The arguments of ``containers.create`` for a task (pure; raises LaunchError).
    ``user``: run the container's process as this user (``uid:gid``, as docker's ``--user``
    takes it; the sandbox mounted at /mnt/mesos/sandbox is owned by it)."""
    res: Resources = from_wire(info.resources)
    network = NETWORKS.get((docker.network or "HOST").upper())
    if network is None:
        raise LaunchError(
            f"TaskInfo.container.docker.network: {docker.network!r} is not supported "
            "(HOST, BRIDGE or NONE)"
        )
    if docker.parameters:
        names = ", ".join(p.key for p in docker.parameters)
        raise LaunchError(
            f"TaskInfo.container.docker.parameters: arbitrary docker parameters are not "
            f"supported (got {names})"
        )
    ports: dict[str, int] = {}
    if docker.port_mappings:
        if network != "bridge":
            raise LaunchError(
                "TaskInfo.container.docker.port_mappings: only BRIDGE networking maps ports "
                f"(network is {docker.network or 'HOST'})"
            )
        ranges = res.port_ranges()
        for i, pm in enumerate(docker.port_mappings):
            proto = (pm.protocol or "tcp").lower()
            if proto not in ("tcp", "udp"):
                raise LaunchError(
                    f"TaskInfo.container.docker.port_mappings[{i}].protocol: {pm.protocol!r} "
                    "is not tcp or udp"
                )
            if not any(b <= pm.host_port <= e for b, e in ranges):
                raise LaunchError(
                    f"TaskInfo.container.docker.port_mappings[{i}].host_port: {pm.host_port} "
                    "is not among the task's ports resources"
                )
            ports[f"{pm.container_port}/{proto}"] = pm.host_port
    volumes: dict[str, dict[str, str]] = {str(sandbox): {"bind": SANDBOX, "mode": "rw"}}
    for i, v in enumerate(ci.volumes):
        where = f"TaskInfo.container.volumes[{i}]"
        if not v.host_path:
            raise LaunchError(f"{where}.host_path: only host path volumes are supported")
        mode = (v.mode or "RW").upper()
        if mode not in ("RW", "RO"):
            raise LaunchError(f"{where}.mode: {v.mode!r} is not RW or RO")
        host = v.host_path if v.host_path.startswith("/") else str(sandbox / v.host_path)
        target = v.container_path
        if not target:
            raise LaunchError(f"{where}.container_path must not be empty")
        if not target.startswith("/"):
            target = f"{SANDBOX}/{target}"
        volumes[host] = {"bind": target, "mode": mode.lower()}
    entrypoint, command = command_of(info)
    kwargs: dict[str, Any] = {
        "image": docker.image,
        "name": name,
        "labels": labels,
        "environment": env,
        "network_mode": network,
        "volumes": volumes,
        "working_dir": SANDBOX,
        "detach": True,
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if command is not None:
        kwargs["command"] = command
    if ports:
        kwargs["ports"] = ports
    if user:
        kwargs["user"] = user
    if docker.privileged:
        kwargs["privileged"] = True
    if ci.hostname:
        kwargs["hostname"] = ci.hostname
    cpus, mem = res.scalar("cpus"), res.scalar("mem")
    if cpus > 0:
        # Shares proportional to cpus, as the linux containerizer; a hard quota only with
        # --cgroups-enable-cfs (Mesos's docker containerizer does the same).
        kwargs["cpu_shares"] = max(2, int(cpus * 1024))
        if hard_cpu_limit:
            kwargs["nano_cpus"] = int(cpus * 1e9)
    if mem > 0:
        kwargs["mem_limit"] = int(mem * (1 << 20))
        kwargs["memswap_limit"] = kwargs["mem_limit"]  # no swap beyond the limit
    return kwargs


def docker_statistics(raw: dict[str, Any]) -> dict[str, int]:
    """dockerd's container stats, in the field names of Mesos's ResourceStatistics."""
    out: dict[str, int] = {}
    mem = raw.get("memory_stats") or {}
    for src, dst in (("usage", "mem_rss_bytes"), ("max_usage", "mem_max_bytes")):
        if src in mem:
            out[dst] = int(mem[src])
    if "limit" in mem:
        out["mem_limit_bytes"] = int(mem["limit"])
    cpu = raw.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    if "total_usage" in usage:
        out["cpus_time_ns"] = int(usage["total_usage"])
    throttling = cpu.get("throttling_data") or {}
    for src, dst in (
        ("periods", "cpus_nr_periods"),
        ("throttled_periods", "cpus_nr_throttled"),
        ("throttled_time", "cpus_throttled_time_ns"),
    ):
        if src in throttling:
            out[dst] = int(throttling[src])
    pids = raw.get("pids_stats") or {}
    if "current" in pids:
        out["processes"] = int(pids["current"])
    return out
