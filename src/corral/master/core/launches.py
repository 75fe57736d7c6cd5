"""ACCEPT: check every offer and resource first (a 400 changes nothing), then launch each
task or task group that is valid and fits, answering the rest with TASK_ERROR."""

from __future__ import annotations

from typing import Any

from corral.health.policy import validate as validate_checks
from corral.master.core.authz import launch_refusal
from corral.master.core.effects import Effects, Observe
from corral.master.core.offers import add_filter, consume_offer, take_offers
from corral.master.core.send import allocate_soon, to_agent, to_framework
from corral.master.core.state import AgentRecord, ExecutorRecord, FrameworkRecord, MasterState
from corral.master.core.tasks import add_executor, add_task
from corral.master.errors import CallError
from corral.resources import ResourceError, Resources, from_wire
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire import secrets
from corral.wire.base import ID
from corral.wire.preemption import tier_and_priority
from corral.wire.tasks import TaskInfo, TaskStatus


def accept(
    state: MasterState, now: float, out: Effects, fw: FrameworkRecord, accept: s.Accept
) -> None:
    offers = take_offers(state, fw, accept.offer_ids, "accept.offer_ids")
    if not offers:
        raise CallError(400, "'accept.offer_ids' must name at least one offer")
    parsed = parse_operations(accept)
    agent = state.agents[offers[0].agent_id]
    role = offers[0].role
    remaining = Resources()
    for offer in offers:
        remaining = remaining + offer.resources
        consume_offer(state, offer, out, back=False)
        state.offer_accept_ms.add((now - offer.created) * 1e3)
        out.append(Observe("offer_accept", now - offer.created))
    for op in accept.operations:
        if op.type == "LAUNCH":
            assert op.launch is not None
            for task in op.launch.task_infos:
                remaining = launch_one(state, now, out, fw, agent, role, task, parsed, remaining)
        else:
            assert op.launch_group is not None
            remaining = launch_group(
                state, now, out, fw, agent, role, op.launch_group, parsed, remaining
            )
    # What the offers held and the launches did not use is available again.
    agent.available = agent.available + remaining
    add_filter(state, now, out, fw, agent.id, remaining, accept.filters)
    allocate_soon(state, out)


def parse_operations(accept: s.Accept) -> dict[int, Resources]:
    """Parse every resource before changing anything: a malformed one is a 400."""
    parsed: dict[int, Resources] = {}
    for oi, op in enumerate(accept.operations):
        if op.type == "LAUNCH":
            if op.launch is None:
                raise CallError(400, f"'accept.operations[{oi}].launch' is missing")
            for ti, task in enumerate(op.launch.task_infos):
                where = f"accept.operations[{oi}].launch.task_infos[{ti}]"
                parsed[id(task)] = parse_resources(task.resources, where + ".resources")
                if task.executor is not None:
                    parsed[id(task.executor)] = parse_resources(
                        task.executor.resources, where + ".executor.resources"
                    )
        elif op.type == "LAUNCH_GROUP":
            if op.launch_group is None:
                raise CallError(400, f"'accept.operations[{oi}].launch_group' is missing")
            lg = op.launch_group
            parsed[id(lg.executor)] = parse_resources(
                lg.executor.resources,
                f"accept.operations[{oi}].launch_group.executor.resources",
            )
            for ti, task in enumerate(lg.task_group.tasks):
                parsed[id(task)] = parse_resources(
                    task.resources,
                    f"accept.operations[{oi}].launch_group.task_group.tasks[{ti}].resources",
                )
        elif op.type in ("RESERVE", "UNRESERVE", "CREATE", "DESTROY"):
            raise CallError(400, f"'accept.operations[{oi}].type' {op.type} is not supported yet")
        else:
            raise CallError(400, f"'accept.operations[{oi}].type': unknown operation {op.type!r}")
    return parsed


def parse_resources(resources: list[Any], where: str) -> Resources:
    try:
        return from_wire(resources, field_name=where)
    except ResourceError as exc:
        raise CallError(400, f"Invalid resources: {exc}") from None


def task_error(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    task: TaskInfo,
    message: str,
    reason: str = "REASON_TASK_INVALID",
) -> None:
    status = TaskStatus(
        task_id=task.task_id,
        state="TASK_ERROR",
        message=message,
        reason=reason,
        source="SOURCE_MASTER",
        agent_id=task.agent_id,
        timestamp=now,
    )
    state.terminal_counts["TASK_ERROR"] = state.terminal_counts.get("TASK_ERROR", 0) + 1
    to_framework(fw, s.Event(type="UPDATE", update=s.Update(status=status)), out)


def validate_task(
    fw: FrameworkRecord, agent: AgentRecord, task: TaskInfo, res: Resources
) -> str | None:
    if not task.task_id.value:
        return "Task ID must not be empty"
    if task.task_id.value in fw.tasks:
        return f"Task {task.task_id.value} already exists in this framework"
    if task.agent_id.value != agent.id:
        return f"Task uses agent {task.agent_id.value} but the offer is for agent {agent.id}"
    if (task.command is None) == (task.executor is None):
        return "Task must set exactly one of 'command' or 'executor'"
    if task.command is not None and not (task.command.value or task.command.arguments):
        return "Task's 'command.value' is empty"
    if res.is_empty():
        return "Task uses no resources"
    bad_secret = secrets.problem(task.command) or secrets.problem(
        task.executor.command if task.executor is not None else None
    )
    if bad_secret is not None:
        return bad_secret
    try:
        tier_and_priority(task.labels)  # corral.tier / corral.priority (docs/preemption.md)
    except ValueError as exc:
        return f"Task's {exc}"
    return validate_checks(task)


def launch_one(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    agent: AgentRecord,
    role: str,
    task: TaskInfo,
    parsed: dict[int, Resources],
    remaining: Resources,
) -> Resources:
    res = parsed[id(task)]
    problem = validate_task(fw, agent, task, res)
    reason = "REASON_TASK_INVALID"
    if problem is None:
        problem = launch_refusal(state, fw, task)
        if problem is not None:
            reason = "REASON_TASK_UNAUTHORIZED"
    needed = res
    new_executor = None
    if problem is None and task.executor is not None:
        ex = task.executor
        ex.framework_id = ID(fw.id)
        key = (agent.id, ex.executor_id.value)
        if key not in fw.executors:
            new_executor = ExecutorRecord(fw.id, agent.id, ex, role, parsed[id(ex)])
            needed = needed + new_executor.resources
    if problem is None and not remaining.contains(needed):
        problem = f"Task uses more resources ({needed}) than available in the offers ({remaining})"
    if problem is not None:
        task_error(state, now, out, fw, task, problem, reason)
        return remaining
    remaining = remaining - needed
    if new_executor is not None:
        add_executor(state, new_executor)
    add_task(state, out, fw, agent, task, role, res)
    to_agent(agent, amsg.RunTask(framework_info=fw.info, task=task), out)
    return remaining


def launch_group(
    state: MasterState,
    now: float,
    out: Effects,
    fw: FrameworkRecord,
    agent: AgentRecord,
    role: str,
    lg: s.LaunchGroup,
    parsed: dict[int, Resources],
    remaining: Resources,
) -> Resources:
    ex = lg.executor
    ex.framework_id = ID(fw.id)
    problem = None
    if not lg.task_group.tasks:
        problem = "Task group is empty"
    needed = Resources()
    ids = set()
    for task in lg.task_group.tasks:
        if task.executor is not None:
            problem = problem or "Tasks in a group must not set 'executor'"
        task.executor = None
        p = validate_task(fw, agent, task, parsed[id(task)]) or launch_refusal(
            state, fw, task, ex
        )
        if task.task_id.value in ids:
            p = f"Task {task.task_id.value} appears twice in the group"
        ids.add(task.task_id.value)
        problem = problem or p
        needed = needed + parsed[id(task)]
    key = (agent.id, ex.executor_id.value)
    new_executor = None
    if key not in fw.executors:
        new_executor = ExecutorRecord(fw.id, agent.id, ex, role, parsed[id(ex)])
        needed = needed + new_executor.resources
    if problem is None and not remaining.contains(needed):
        problem = (
            f"Task group uses more resources ({needed}) than available in the offers ({remaining})"
        )
    if problem is not None:
        for task in lg.task_group.tasks:
            task_error(state, now, out, fw, task, problem, "REASON_TASK_GROUP_INVALID")
        return remaining
    remaining = remaining - needed
    if new_executor is not None:
        add_executor(state, new_executor)
    for task in lg.task_group.tasks:
        add_task(
            state, out, fw, agent, task, role, parsed[id(task)], executor_id=ex.executor_id.value
        )
    to_agent(
        agent, amsg.RunTaskGroup(framework_info=fw.info, executor=ex, task_group=lg.task_group), out
    )
    return remaining
