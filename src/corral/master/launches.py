"""ACCEPT: check every offer and resource first (a 400 changes nothing), then launch each
task or task group that is valid and fits, answering the rest with TASK_ERROR."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from corral.health.policy import validate as validate_checks
from corral.master.errors import CallError
from corral.master.state import AgentRecord, ExecutorRecord, FrameworkRecord
from corral.resources import ResourceError, Resources, from_wire
from corral.wire import agent as amsg
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.tasks import TaskInfo, TaskStatus

if TYPE_CHECKING:
    from corral.master.master import Master


def accept(self: Master, fw: FrameworkRecord, accept: s.Accept) -> None:
    offers = self._take_offers(fw, accept.offer_ids, "accept.offer_ids")
    if not offers:
        raise CallError(400, "'accept.offer_ids' must name at least one offer")
    # Parse every resource before changing anything: a malformed one is a 400.
    parsed: dict[int, Resources] = {}
    for oi, op in enumerate(accept.operations):
        if op.type == "LAUNCH":
            if op.launch is None:
                raise CallError(400, f"'accept.operations[{oi}].launch' is missing")
            for ti, task in enumerate(op.launch.task_infos):
                where = f"accept.operations[{oi}].launch.task_infos[{ti}]"
                parsed[id(task)] = _parse_resources(self, task.resources, where + ".resources")
                if task.executor is not None:
                    parsed[id(task.executor)] = _parse_resources(
                        self, task.executor.resources, where + ".executor.resources"
                    )
        elif op.type == "LAUNCH_GROUP":
            if op.launch_group is None:
                raise CallError(400, f"'accept.operations[{oi}].launch_group' is missing")
            lg = op.launch_group
            parsed[id(lg.executor)] = _parse_resources(
                self,
                lg.executor.resources,
                f"accept.operations[{oi}].launch_group.executor.resources",
            )
            for ti, task in enumerate(lg.task_group.tasks):
                parsed[id(task)] = _parse_resources(
                    self,
                    task.resources,
                    f"accept.operations[{oi}].launch_group.task_group.tasks[{ti}].resources",
                )
        elif op.type in ("RESERVE", "UNRESERVE", "CREATE", "DESTROY"):
            raise CallError(400, f"'accept.operations[{oi}].type' {op.type} is not supported yet")
        else:
            raise CallError(400, f"'accept.operations[{oi}].type': unknown operation {op.type!r}")

    agent = self.agents[offers[0].agent_id]
    role = offers[0].role
    remaining = Resources()
    now = time.perf_counter()
    for offer in offers:
        remaining = remaining + offer.resources
        self._consume_offer(offer)
        self.offer_accept_ms.add((now - offer.created) * 1e3)
    for op in accept.operations:
        if op.type == "LAUNCH":
            assert op.launch is not None
            for task in op.launch.task_infos:
                remaining = _launch_one(self, fw, agent, role, task, parsed, remaining)
        else:
            assert op.launch_group is not None
            remaining = _launch_group(self, fw, agent, role, op.launch_group, parsed, remaining)
    self._add_filter(fw, agent.id, remaining, accept.filters)
    self.schedule_allocation()


def _parse_resources(self: Master, resources: list[Any], where: str) -> Resources:
    try:
        return from_wire(resources, field_name=where)
    except ResourceError as exc:
        raise CallError(400, f"Invalid resources: {exc}") from None


def _task_error(
    self: Master,
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
        timestamp=self._now(),
    )
    self.terminal_counts["TASK_ERROR"] = self.terminal_counts.get("TASK_ERROR", 0) + 1
    self.send_event(fw, s.Event(type="UPDATE", update=s.Update(status=status)))


def _validate_task(
    self: Master, fw: FrameworkRecord, agent: AgentRecord, task: TaskInfo, res: Resources
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
    return validate_checks(task)


def _launch_one(
    self: Master,
    fw: FrameworkRecord,
    agent: AgentRecord,
    role: str,
    task: TaskInfo,
    parsed: dict[int, Resources],
    remaining: Resources,
) -> Resources:
    res = parsed[id(task)]
    problem = _validate_task(self, fw, agent, task, res)
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
        _task_error(self, fw, task, problem)
        return remaining
    remaining = remaining - needed
    if new_executor is not None:
        self._add_executor(new_executor)
    self._add_task(fw, agent, task, role, res)
    if agent.send is not None:
        agent.send(amsg.RunTask(framework_info=fw.info, task=task))
    return remaining


def _launch_group(
    self: Master,
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
        p = _validate_task(self, fw, agent, task, parsed[id(task)])
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
            _task_error(self, fw, task, problem, "REASON_TASK_GROUP_INVALID")
        return remaining
    remaining = remaining - needed
    if new_executor is not None:
        self._add_executor(new_executor)
    for task in lg.task_group.tasks:
        self._add_task(fw, agent, task, role, parsed[id(task)], executor_id=ex.executor_id.value)
    if agent.send is not None:
        agent.send(amsg.RunTaskGroup(framework_info=fw.info, executor=ex, task_group=lg.task_group))
    return remaining
