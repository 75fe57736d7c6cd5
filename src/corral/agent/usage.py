"""Resource usage of the agent's isolated containers, read from their cgroups: served on the
agent's ``/containers`` and ``GET_CONTAINERS``, and reported to the master periodically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.agent.cgroups import Cgroups
from corral.agent.model import TaskEntry
from corral.wire.agent import ContainerUsage
from corral.wire.base import ID

if TYPE_CHECKING:
    from corral.agent.agent import Agent


def container_usage(agent: Agent) -> list[ContainerUsage]:
    """Usage of every running container in the linux containerizer (docker and process
    containers have no cgroups of the agent's to read)."""
    if not agent.linux:
        return []
    out = []
    for cid, owner in agent.containers.items():
        if agent.docker is not None and agent.docker.owns(cid):
            continue
        executor_id = str(owner.executor_id or getattr(owner, "task_id", ""))
        out.append(
            ContainerUsage(
                container_id=cid,
                framework_id=ID(owner.framework_id),
                executor_id=ID(executor_id),
                statistics=Cgroups(cid).stats(),
                task_id=ID(owner.task_id) if isinstance(owner, TaskEntry) else None,
            )
        )
    return out
