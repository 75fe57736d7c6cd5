"""Fitting task requests into offers (pure)."""

from __future__ import annotations

from corral.resources import Resources
from corral.wire.base import ID
from corral.wire.common import Labels
from corral.wire.tasks import URI, CommandInfo, Environment, EnvironmentVariable, TaskInfo


def fit_count(available: Resources, need: Resources, limit: int) -> int:
    """How many copies of ``need`` fit into ``available`` (at most ``limit``)."""
    n = 0
    while n < limit and available.contains(need):
        available = available - need
        n += 1
    return n


def command_task(
    task_id: str,
    name: str,
    agent_id: str,
    command: str,
    resources: Resources,
    *,
    role: str | None = None,
    shell: bool = True,
    arguments: list[str] | None = None,
    env: dict[str, str] | None = None,
    uris: list[str] | None = None,
    labels: Labels | None = None,
) -> TaskInfo:
    """A TaskInfo running ``command`` with ``resources``, ready for LAUNCH."""
    environment = None
    if env:
        environment = Environment(
            variables=[EnvironmentVariable(name=k, value=v) for k, v in sorted(env.items())]
        )
    return TaskInfo(
        name=name,
        task_id=ID(task_id),
        agent_id=ID(agent_id),
        resources=resources.to_wire(allocation_role=role),
        command=CommandInfo(
            value=command,
            shell=shell,
            arguments=arguments or [],
            environment=environment,
            uris=[URI(value=u) for u in (uris or [])],
        ),
        labels=labels,
    )
