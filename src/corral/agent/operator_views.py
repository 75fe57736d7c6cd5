"""The agent's v1 operator API reads (``POST /api/v1``), in Mesos's ``agent::Response``
shape: GET_HEALTH, GET_VERSION, GET_AGENT, GET_FLAGS, GET_TASKS, GET_EXECUTORS,
GET_FRAMEWORKS, GET_CONTAINERS and GET_STATE (tasks, executors and frameworks)."""

from __future__ import annotations

import msgspec

from corral.agent.agent import Agent
from corral.agent.core.state import TaskEntry
from corral.agent.usage import container_usage
from corral.wire import operator as op
from corral.wire import secrets
from corral.wire import state_views as sv
from corral.wire.base import ID
from corral.wire.tasks import is_terminal


async def operator_response(
    agent: Agent, call_type: str, flags: dict[str, str], version: sv.VersionInfo
) -> op.AgentResponse:
    """The answer to a call of ``op.AGENT_CALLS``."""
    out = op.AgentResponse(type=call_type)
    if call_type == "GET_HEALTH":
        out.get_health = op.GetHealth(healthy=True)
    elif call_type == "GET_VERSION":
        out.get_version = op.GetVersion(version_info=version)
    elif call_type == "GET_AGENT":
        out.get_agent = op.GetAgent(agent_info=agent.agent_info())
    elif call_type == "GET_FLAGS":
        out.get_flags = op.GetFlags(flags=[op.Flag(name=k, value=v) for k, v in flags.items()])
    elif call_type == "GET_TASKS":
        out.get_tasks = get_tasks(agent)
    elif call_type == "GET_EXECUTORS":
        out.get_executors = get_executors(agent)
    elif call_type == "GET_FRAMEWORKS":
        out.get_frameworks = get_frameworks(agent)
    elif call_type == "GET_STATE":
        out.get_state = op.AgentGetState(
            get_tasks=get_tasks(agent),
            get_executors=get_executors(agent),
            get_frameworks=get_frameworks(agent),
            get_agent=op.GetAgent(agent_info=agent.agent_info()),
        )
    else:  # GET_CONTAINERS
        out.get_containers = op.GetContainers(containers=await containers(agent))
    return out


def get_tasks(agent: Agent) -> op.AgentGetTasks:
    launched: list[op.Task] = []
    terminated: list[op.Task] = []
    completed: list[op.Task] = []
    for fw in agent.frameworks.values():
        for t in fw.tasks.values():
            (terminated if is_terminal(t.state) else launched).append(v1_task(t, agent))
        completed += [v1_task(t, agent) for t in fw.completed]
    for fw in agent.completed_frameworks:
        completed += [v1_task(t, agent) for t in fw.completed]
    return op.AgentGetTasks(
        launched_tasks=launched, terminated_tasks=terminated, completed_tasks=completed
    )


def get_executors(agent: Agent) -> op.AgentGetExecutors:
    return op.AgentGetExecutors(
        executors=[
            op.AgentExecutor(executor_info=secrets.redact_executor(ex.info))
            for fw in agent.frameworks.values()
            for ex in fw.executors.values()
        ],
        completed_executors=[],
    )


def get_frameworks(agent: Agent) -> op.AgentGetFrameworks:
    return op.AgentGetFrameworks(
        frameworks=[op.AgentFramework(framework_info=fw.info) for fw in agent.frameworks.values()],
        completed_frameworks=[
            op.AgentFramework(framework_info=fw.info) for fw in agent.completed_frameworks
        ],
    )


async def containers(agent: Agent) -> list[op.Container]:
    """Running containers with their resource usage (cgroups, or dockerd's stats)."""
    usage = {
        u.container_id: u.statistics
        for u in await container_usage(agent.state, agent.containerizers)
    }
    out = []
    for cid, owner in agent.containers.items():
        executor_id = str(owner.executor_id or getattr(owner, "task_id", ""))
        stats = usage.get(cid, msgspec.UNSET)
        info = getattr(owner, "info", None)
        name = getattr(info, "name", None) if info is not None else None
        out.append(
            op.Container(
                container_id=ID(cid),
                framework_id=ID(owner.framework_id),
                executor_id=ID(executor_id),
                executor_name=name or msgspec.UNSET,
                containerizer=agent.containerizers.name_of(cid),
                statistics=stats,
                resource_statistics=stats,
            )
        )
    return out


def v1_task(t: TaskEntry, agent: Agent) -> op.Task:
    return op.Task(
        name=t.info.name,
        task_id=t.info.task_id,
        framework_id=ID(t.framework_id),
        agent_id=ID(agent.agent_id or ""),
        state=t.state,
        resources=t.info.resources,
        executor_id=ID(t.executor_id) if t.executor_id else msgspec.UNSET,
    )
