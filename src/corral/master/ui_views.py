"""The web UI's data: small JSON views of the leading master's state, one per page.

Pure functions over ``MasterState`` (read, never changed) returning plain dicts; the HTTP
side (``ui_routes``) encodes them. The Tasks page's filtering and paging is ``ui_tasks``;
the dashboard's history is ``ui_sampler``. Nothing here returns every task: lists of tasks
are pages of at most ``ui_tasks.MAX_LIMIT`` rows."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from corral.master.core.state import AgentRecord, FrameworkRecord, MasterState, TaskRecord
from corral.master.ui_sampler import KINDS, Sample
from corral.master.ui_tasks import Page, TaskQuery, select
from corral.master.views import attributes
from corral.resources import Resources
from corral.wire.codec import to_builtins

MAX_AGENT_PAGE = 500


def amounts(r: Resources) -> dict[str, float]:
    return {k: round(r.scalar(k), 3) for k in KINDS}


def sample(state: MasterState, now: float) -> Sample:
    """The dashboard's history point: used and total over the agents, running tasks."""
    used = dict.fromkeys(KINDS, 0.0)
    total = dict.fromkeys(KINDS, 0.0)
    for a in state.agents.values():
        for k in KINDS:
            used[k] += a.used.scalar(k)
            total[k] += a.total.scalar(k)
    running = sum(
        1
        for fw in state.frameworks.values()
        for t in fw.tasks.values()
        if t.state == "TASK_RUNNING"
    )
    return Sample(time=now, used=used, total=total, tasks_running=running, agents=len(state.agents))


def dashboard(
    state: MasterState, address: str, zk: Mapping[str, Any], now: float
) -> dict[str, Any]:
    totals = {k: dict.fromkeys(("total", "used", "offered", "idle"), 0.0) for k in KINDS}
    active = disconnected = inactive = 0
    for a in state.agents.values():
        if a.active and a.connected:
            active += 1
        elif not a.connected:
            disconnected += 1
        else:
            inactive += 1
        for k in KINDS:
            tot, u, o = a.total.scalar(k), a.used.scalar(k), a.offered.scalar(k)
            row = totals[k]
            row["total"] += tot
            row["used"] += u
            row["offered"] += o
            row["idle"] += max(0.0, tot - u - o)
    for row in totals.values():
        for key in row:
            row[key] = round(row[key], 3)
    states: dict[str, int] = {}
    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        for t in fw.tasks.values():
            states[t.state] = states.get(t.state, 0) + 1
        for t in fw.unreachable_tasks.values():
            states[t.state] = states.get(t.state, 0) + 1
    terminal = dict(state.terminal_counts)
    return {
        "master": {
            "id": state.id,
            "leader": address,
            "start_time": state.start_time,
            "elected_time": state.elected_time,
            "uptime_secs": round(now - state.start_time, 1),
            "paused": state.paused,
        },
        "zookeeper": dict(zk),
        "resources": totals,
        "tasks": {"active": states, "terminal": terminal},
        "agents": {
            "active": active,
            "disconnected": disconnected,
            "inactive": inactive,
            "unreachable": len(state.unreachable_agents),
        },
        "frameworks": {
            "active": sum(1 for f in state.frameworks.values() if f.active),
            "inactive": sum(1 for f in state.frameworks.values() if not f.active),
            "completed": len(state.completed_frameworks),
        },
        "offers": len(state.offers),
    }


def agent_status(a: AgentRecord) -> str:
    if not a.connected:
        return "disconnected"
    return "active" if a.active else "inactive"


def agent_row(a: AgentRecord, last_ping: float | None) -> dict[str, Any]:
    return {
        "id": a.id,
        "hostname": a.hostname,
        "address": a.address,
        "status": agent_status(a),
        "attributes": attributes(a),
        "total": amounts(a.total),
        "used": amounts(a.used),
        "offered": amounts(a.offered),
        "tasks": len(a.tasks),
        "registered_time": a.registered_time,
        "last_ping": last_ping,
        "missed_pings": a.missed_pings,
        "version": a.version,
    }


def agents(
    state: MasterState,
    seen: Mapping[str, tuple[str, str]],
    last_ping: Mapping[str, float],
    offset: int,
    limit: int,
    filter_text: str = "",
) -> dict[str, Any]:
    """A page of agents (registered ones first, then unreachable ones, most recent first);
    ``seen``: agent id -> (hostname, address) remembered by the shell for unreachable ones."""
    text = filter_text.lower()

    def rows() -> Iterator[tuple[str, AgentRecord | str]]:
        for a in state.agents.values():
            if not text or text in a.hostname.lower() or text in a.id.lower():
                yield "registered", a
        for aid, _t in sorted(state.unreachable_agents.items(), key=lambda kv: -kv[1]):
            host = seen.get(aid, ("", ""))[0]
            if not text or text in host.lower() or text in aid.lower():
                yield "unreachable", aid

    out: list[dict[str, Any]] = []
    total = 0
    for _kind, item in rows():
        if offset <= total < offset + limit:
            if isinstance(item, AgentRecord):
                out.append(agent_row(item, last_ping.get(item.id)))
            else:
                host, address = seen.get(item, ("", ""))
                out.append(
                    {
                        "id": item,
                        "hostname": host,
                        "address": address,
                        "status": "unreachable",
                        "unreachable_time": state.unreachable_agents[item],
                        "last_ping": last_ping.get(item),
                        "tasks": 0,
                    }
                )
        total += 1
    return {"total": total, "offset": offset, "limit": limit, "agents": out}


def agent(
    state: MasterState, aid: str, seen: Mapping[str, tuple[str, str]], last_ping: float | None
) -> dict[str, Any] | None:
    a = state.agents.get(aid)
    if a is None:
        if aid not in state.unreachable_agents:
            return None
        host, address = seen.get(aid, ("", ""))
        return {
            "id": aid,
            "hostname": host,
            "address": address,
            "status": "unreachable",
            "unreachable_time": state.unreachable_agents[aid],
            "last_ping": last_ping,
            "tasks": 0,
            "task_list": [],
        }
    row = agent_row(a, last_ping)
    row["usage"] = a.usage
    row["task_list"] = [task_row("active", t, state) for t in list(a.tasks.values())[:200]]
    return row


def framework_row(fw: FrameworkRecord, completed: bool) -> dict[str, Any]:
    info = fw.info
    used, offered = fw.total_used(), fw.total_offered()
    return {
        "id": fw.id,
        "name": info.name,
        "user": info.user,
        "roles": list(fw.roles),
        "principal": info.principal or "",
        "hostname": info.hostname or "",
        "webui_url": info.webui_url or "",
        "active": fw.active,
        "connected": fw.connected,
        "completed": completed,
        "tasks": len(fw.tasks),
        "unreachable_tasks": len(fw.unreachable_tasks),
        "completed_tasks": len(fw.completed_tasks),
        "used": amounts(used),
        "offered": amounts(offered),
        "offers": len(fw.offers),
        "registered_time": fw.registered_time,
    }


def frameworks(state: MasterState) -> dict[str, Any]:
    return {
        "frameworks": [framework_row(f, False) for f in state.frameworks.values()],
        "completed_frameworks": [framework_row(f, True) for f in state.completed_frameworks],
    }


def task_row(group: str, t: TaskRecord, state: MasterState) -> dict[str, Any]:
    latest = t.latest
    a = state.agents.get(t.agent_id)
    fw = state.frameworks.get(t.framework_id)
    return {
        "id": t.task_id,
        "name": t.info.name,
        "framework_id": t.framework_id,
        "framework": fw.info.name if fw is not None else "",
        "agent_id": t.agent_id,
        "hostname": a.hostname if a is not None else "",
        "state": t.state,
        "group": group,
        "resources": amounts(t.resources),
        "updated": latest.timestamp if latest is not None else None,
        "message": (latest.message or "") if latest is not None else "",
    }


def task_groups(
    state: MasterState, q: TaskQuery
) -> Iterator[tuple[str, Iterable[TaskRecord], int]]:
    """The records ``q`` can match, by group: one framework's when it names one, one agent's
    active tasks when it asks for an agent's active tasks, else every framework's."""
    fws: list[FrameworkRecord]
    if q.framework:
        one = state.frameworks.get(q.framework)
        fws = (
            [one]
            if one is not None
            else [f for f in state.completed_frameworks if f.id == q.framework]
        )
    else:
        fws = [*state.frameworks.values(), *state.completed_frameworks]
    if q.agent and q.group == "active":
        a = state.agents.get(q.agent)
        if a is not None:
            yield "active", a.tasks.values(), len(a.tasks)
        return
    for fw in fws:
        yield "active", fw.tasks.values(), len(fw.tasks)
    for fw in fws:
        yield "unreachable", fw.unreachable_tasks.values(), len(fw.unreachable_tasks)
    for fw in fws:
        yield "completed", reversed(fw.completed_tasks), len(fw.completed_tasks)


def tasks(state: MasterState, q: TaskQuery) -> dict[str, Any]:
    page: Page = select(task_groups(state, q), q)
    return {
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "tasks": [task_row(g, t, state) for g, t in page.rows],  # type: ignore[arg-type]
    }


def find_task(state: MasterState, fid: str, tid: str) -> tuple[str, TaskRecord] | None:
    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        if fw.id != fid:
            continue
        if tid in fw.tasks:
            return "active", fw.tasks[tid]
        if tid in fw.unreachable_tasks:
            return "unreachable", fw.unreachable_tasks[tid]
        for t in reversed(fw.completed_tasks):
            if t.task_id == tid:
                return "completed", t
    return None


def task(state: MasterState, fid: str, tid: str) -> dict[str, Any] | None:
    found = find_task(state, fid, tid)
    if found is None:
        return None
    group, t = found
    row = task_row(group, t, state)
    a = state.agents.get(t.agent_id)
    info = t.info
    executor = t.executor_id or t.task_id
    row.update(
        {
            "executor_id": t.executor_id or "",
            "role": t.role,
            "agent_address": a.address if a is not None else "",
            "agent_status": agent_status(a) if a is not None else "unreachable",
            "command": info.command.value if info.command and info.command.value else "",
            "container": to_builtins(info.container) if info.container else None,
            "labels": to_builtins(info.labels.labels) if info.labels else [],
            "statistics": t.statistics,
            "resources_all": t.resources.to_legacy(),
            "statuses": [
                {
                    "state": s.state,
                    "timestamp": s.timestamp,
                    "reason": s.reason or "",
                    "message": s.message or "",
                    "source": s.source or "",
                    "healthy": s.healthy,
                }
                for s in t.statuses
            ],
            "sandbox": f"/frameworks/{t.framework_id}/executors/{executor}/runs/latest",
        }
    )
    return row


def offers(state: MasterState, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    by_fw: dict[str, int] = {}
    rows = []
    for o in list(state.offers.values())[:MAX_AGENT_PAGE]:
        fw = state.frameworks.get(o.framework_id)
        a = state.agents.get(o.agent_id)
        rows.append(
            {
                "id": o.id,
                "framework_id": o.framework_id,
                "framework": fw.info.name if fw is not None else "",
                "agent_id": o.agent_id,
                "hostname": a.hostname if a is not None else "",
                "role": o.role,
                "resources": amounts(o.resources),
                "age_secs": round(max(0.0, now - o.created), 1) if o.created else None,
            }
        )
    for o in state.offers.values():
        by_fw[o.framework_id] = by_fw.get(o.framework_id, 0) + 1
    return {"total": len(state.offers), "by_framework": by_fw, "offers": rows}
