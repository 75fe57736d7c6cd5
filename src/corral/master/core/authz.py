"""The master's security checks over its state (pure): who may subscribe a framework in
which roles, run a task as which OS user, tear down whose framework. The ACLs and the
authentication flags are part of ``state.config.security``."""

from __future__ import annotations

import logging

from corral.master.core.state import FrameworkRecord, MasterState
from corral.master.errors import CallError
from corral.security.acls import authorize
from corral.wire import scheduler as s
from corral.wire.tasks import ExecutorInfo, TaskInfo

log = logging.getLogger("corral.master")


def check_subscribe(state: MasterState, principal: str | None, call: s.Call) -> None:
    """Raise CallError (401/403) if ``principal`` may not subscribe this framework."""
    security = state.config.security
    assert call.subscribe is not None
    info = call.subscribe.framework_info
    if security.flags.frameworks:
        if principal is None:
            raise CallError(401, "Unauthorized: framework authentication is required")
        if info.principal != principal:
            raise CallError(
                403,
                f"Framework principal '{info.principal}' does not match the authenticated "
                f"principal '{principal}' (field 'subscribe.framework_info.principal')",
            )
        known = state.frameworks.get(info.id.value) if info.id is not None else None
        if known is not None and known.info.principal != principal:
            raise CallError(
                403,
                f"Framework {known.id} belongs to principal '{known.info.principal}', "
                f"not '{principal}'",
            )
    if security.acls is None:
        return
    for role in info.role_list():
        decision = authorize(security.acls, principal, "register_frameworks", role)
        if not decision.allowed:
            raise CallError(403, decision.describe("register_frameworks", principal, role))


def check_call(state: MasterState, principal: str | None, call: s.Call) -> None:
    """With framework authentication, a non-SUBSCRIBE call must come from the framework's
    own principal (raise CallError 403); the stream id alone does not prove it."""
    if not state.config.security.flags.frameworks or call.framework_id is None:
        return
    fw = state.frameworks.get(call.framework_id.value)
    if fw is not None and fw.info.principal != principal:
        raise CallError(
            403, f"Framework {fw.id} belongs to principal '{fw.info.principal}', not '{principal}'"
        )


def task_user(fw: FrameworkRecord, task: TaskInfo, executor: ExecutorInfo | None = None) -> str:
    """The OS user a task runs as: its command's, its executor's, or its framework's."""
    if task.command is not None and task.command.user:
        return task.command.user
    ex = executor or task.executor
    if ex is not None and ex.command is not None and ex.command.user:
        return ex.command.user
    return fw.info.user


def launch_refusal(
    state: MasterState, fw: FrameworkRecord, task: TaskInfo, executor: ExecutorInfo | None = None
) -> str | None:
    """Why the ACLs forbid running ``task`` (a TASK_ERROR message naming the rule), or None."""
    acls = state.config.security.acls
    if acls is None:
        return None
    user = task_user(fw, task, executor)
    principal = fw.info.principal
    decision = authorize(acls, principal, "run_tasks", user)
    if decision.allowed:
        return None
    message = decision.describe("run_tasks", principal, user)
    log.warning("denied task %s of framework %s: %s", task.task_id.value, fw.id, message)
    return message


def check_teardown(state: MasterState, principal: str | None, fw: FrameworkRecord) -> None:
    """Raise CallError(403) if ``principal`` may not tear down ``fw`` (an operator call)."""
    decision = authorize(
        state.config.security.acls, principal, "teardown_frameworks", fw.info.principal
    )
    if not decision.allowed:
        raise CallError(
            403,
            decision.describe(
                "teardown_frameworks", principal, fw.info.principal or f"framework {fw.id}"
            ),
        )


def may_view(state: MasterState, principal: str | None, fw: FrameworkRecord) -> bool:
    """Whether ``principal`` sees ``fw`` (and its tasks) in the read views."""
    acls = state.config.security.acls
    if acls is None:
        return True
    return (
        authorize(acls, principal, "view_frameworks", fw.info.user).allowed
        and authorize(acls, principal, "view_tasks", fw.info.user).allowed
    )
