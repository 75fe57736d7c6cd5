"""Resource usage of the agent's isolated containers, read from their cgroups: served on the
agent's ``/containers`` and ``GET_CONTAINERS``, and reported to the master periodically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.agent.model import TaskEntry
from corral.wire.agent import ContainerUsage
from corral.wire.base import ID

if TYPE_CHECKING:
    from corral.agent.agent import Agent


async def container_usage(agent: Agent) -> list[ContainerUsage]:
    """Usage of every running container that its containerizer can measure: linux containers
    from their cgroups, docker ones from dockerd (process containers have nothing to read)."""
    containers = dict(agent.containers)
    measured = await agent.containerizers.usage(list(containers))
    out = []
    for cid, owner in containers.items():
        stats = measured.get(cid)
        if stats is None:
            continue
        executor_id = str(owner.executor_id or getattr(owner, "task_id", ""))
        out.append(
            ContainerUsage(
                container_id=cid,
                framework_id=ID(owner.framework_id),
                executor_id=ID(executor_id),
                statistics=stats,
                task_id=ID(owner.task_id) if isinstance(owner, TaskEntry) else None,
            )
        )
    return out
