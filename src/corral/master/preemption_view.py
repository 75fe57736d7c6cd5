"""``GET /master/preemptions``: every preemption the leading master decided (the newest
1,000), with its victims and their reasons, newest first. A pure view of the state, and its
route (docs/preemption.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from corral.master.core.preemption_records import Preemption
from corral.master.core.state import MasterState
from corral.master.shell import MasterShell
from corral.transport.http import json_response
from corral.wire.preemption import PreemptionsView, PreemptionView, VictimView

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Term(Protocol):
    shell: MasterShell


def victim_state(state: MasterState, framework_id: str, task_id: str) -> str:
    fw = state.frameworks.get(framework_id)
    if fw is None:
        return "TASK_UNKNOWN"
    live = fw.tasks.get(task_id)
    if live is not None:
        return live.state
    done = next((t for t in reversed(fw.completed_tasks) if t.task_id == task_id), None)
    return done.state if done is not None else "TASK_UNKNOWN"


def view_of(state: MasterState, rec: Preemption) -> PreemptionView:
    victims = [
        VictimView(
            task_id=v.task_id,
            framework_id=v.framework_id,
            role=v.role,
            tier=v.tier,
            priority=v.priority,
            resources=v.resources.to_legacy(),
            state=victim_state(state, v.framework_id, v.task_id),
            reason=v.reason,
        )
        for v in rec.victims
    ]
    live = any(state.frameworks.get(v.framework_id) and v.task_id in
               state.frameworks[v.framework_id].tasks for v in rec.victims)  # fmt: skip
    return PreemptionView(
        id=rec.id,
        time=rec.time,
        framework_id=rec.framework_id,
        framework_name=rec.framework_name,
        key=rec.key,
        name=rec.name,
        role=rec.role,
        tier=rec.tier,
        priority=rec.priority,
        agent_id=rec.agent_id,
        hostname=rec.hostname,
        resources=rec.resources.to_legacy(),
        kill_at=rec.kill_at,
        state=rec.state if live else "DONE",
        hold=rec.hold,
        victims=victims,
    )


def preemptions_view(state: MasterState) -> PreemptionsView:
    recs = list(state.preemptions.records.values())[::-1]
    return PreemptionsView(preemptions=[view_of(state, r) for r in recs])


def add_routes(app: web.Application, lead: Callable[[Callable[[Term], Handler]], Handler]) -> None:
    """``lead(pick)``: the master's leader-only route wrapper (a standby redirects)."""

    def pick(term: Term) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return json_response(preemptions_view(term.shell.state))

        return handler

    app.router.add_get("/master/preemptions", lead(pick))
