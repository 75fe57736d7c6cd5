"""A Chronos job's ``container`` as a Mesos ``ContainerInfo`` (pure)."""

from __future__ import annotations

from typing import Any

from corral.frameworks.jobs.model import JobError
from corral.wire.tasks import (
    ContainerInfo,
    DockerInfo,
    Image,
    ImageDocker,
    MesosInfo,
    Parameter,
    PortMapping,
    Volume,
)


def container_info(c: dict[str, Any]) -> ContainerInfo:
    """Chronos's ``{type: DOCKER|MESOS, image, network, volumes, forcePullImage, parameters,
    portMappings}``; raises JobError naming the field."""
    kind = str(c.get("type") or "DOCKER").upper()
    image = c.get("image")
    if not isinstance(image, str) or not image:
        raise JobError("container.image: a container needs an image")
    try:
        volumes = [
            Volume(
                container_path=str(v["containerPath"]),
                host_path=v.get("hostPath"),
                mode=str(v.get("mode", "RW")).upper(),
            )
            for v in c.get("volumes") or []
        ]
    except (KeyError, TypeError) as exc:
        raise JobError(f"container.volumes: each volume needs a containerPath ({exc})") from exc
    if kind == "DOCKER":
        try:
            docker = DockerInfo(
                image=image,
                network=str(c["network"]).upper() if c.get("network") else None,
                force_pull_image=bool(c.get("forcePullImage", False)),
                parameters=[
                    Parameter(key=str(p["key"]), value=str(p["value"]))
                    for p in c.get("parameters") or []
                ],
                port_mappings=[
                    PortMapping(
                        host_port=int(p["hostPort"]),
                        container_port=int(p["containerPort"]),
                        protocol=p.get("protocol"),
                    )
                    for p in c.get("portMappings") or []
                ],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JobError(f"container: bad parameters or portMappings ({exc})") from exc
        return ContainerInfo(type="DOCKER", docker=docker, volumes=volumes)
    if kind == "MESOS":
        mesos = MesosInfo(image=Image(type="DOCKER", docker=ImageDocker(name=image)))
        return ContainerInfo(type="MESOS", mesos=mesos, volumes=volumes)
    raise JobError(f"container.type: {kind!r} is not DOCKER or MESOS")


__all__ = ["container_info"]
