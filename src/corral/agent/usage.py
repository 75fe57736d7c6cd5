"""Resource usage of the agent's isolated containers, read from their cgroups: served on the
agent's ``/containers`` and ``GET_CONTAINERS``, and reported to the master periodically."""

from __future__ import annotations

from corral.agent.containerizer.router import Router
from corral.agent.core.state import AgentState, TaskEntry
from corral.wire.agent import ContainerUsage
from corral.wire.base import ID


async def container_usage(state: AgentState, containerizers: Router) -> list[ContainerUsage]:
    """Usage of every running container that its containerizer can measure: linux containers
    from their cgroups, docker ones from dockerd (process containers have nothing to read)."""
    containers = dict(state.containers)
    measured = await containerizers.usage(list(containers))
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
