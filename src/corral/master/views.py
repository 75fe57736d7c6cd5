"""Read-only views of the master: ``/master/state`` (legacy JSON), the v1 operator API,
``/metrics/snapshot``. Built from the master's state on demand."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from corral import MESOS_COMPAT_VERSION, __version__
from corral.master.core.state import AgentRecord, FrameworkRecord, MasterState, TaskRecord
from corral.resources import Resources
from corral.transport.http import error, json_response, read_call
from corral.wire.base import Message
from corral.wire.codec import encode, to_builtins

OPERATOR_CALLS = (
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
    "GET_MASTER",
    "GET_ROLES",
)


class OperatorCall(Message, kw_only=True):
    type: str


def _attrs(agent: AgentRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in agent.info.attributes:
        if a.scalar is not None:
            out[a.name] = a.scalar.value
        elif a.text is not None:
            out[a.name] = a.text.value
        elif a.ranges is not None:
            out[a.name] = "[" + ",".join(f"{r.begin}-{r.end}" for r in a.ranges.range) + "]"
    return out


R = TypeVar("R", TaskRecord, AgentRecord)


def _cached(obj: R, view: str, key: tuple[object, ...], render: Callable[[R], Any]) -> msgspec.Raw:
    """``render(obj)`` as JSON, encoded once and reused while every part of ``key`` is the
    same object as when it was encoded: with 100,000 tasks on 10,000 agents,
    ``/master/state`` and ``GET_TASKS`` mostly copy bytes."""
    hit = obj.rendered.get(view)
    if hit is not None and all(a is b for a, b in zip(hit[0], key, strict=True)):
        return msgspec.Raw(hit[1])
    data = encode(render(obj))
    obj.rendered[view] = (key, data)
    return msgspec.Raw(data)


def rendered(t: TaskRecord, view: str, render: Callable[[TaskRecord], Any]) -> msgspec.Raw:
    key = (t.state, t.statuses[-1] if t.statuses else None, t.status_update_state, t.statistics)
    return _cached(t, view, key, render)


def agent_rendered(a: AgentRecord, view: str, render: Callable[[AgentRecord], Any]) -> msgspec.Raw:
    # Resources and AgentInfo are replaced, never changed in place; the flags are interned.
    key = (a.total, a.used, a.offered, a.info, a.active, a.connected, a.reregistered_time, a.usage)
    return _cached(a, view, key, render)


def task_json(t: TaskRecord) -> dict[str, Any]:
    return {
        "id": t.task_id,
        "name": t.info.name,
        "framework_id": t.framework_id,
        "executor_id": t.executor_id or "",
        "slave_id": t.agent_id,
        "state": t.state,
        "resources": t.resources.to_legacy(),
        "role": t.role,
        "statuses": [
            {
                k: v
                for k, v in {
                    "state": st.state,
                    "timestamp": st.timestamp,
                    "healthy": st.healthy,
                }.items()
                if v is not None
            }
            for st in t.statuses
        ],
        **({"labels": to_builtins(t.info.labels)["labels"]} if t.info.labels else {}),
        **({"container": t.info.container} if t.info.container else {}),
        **({"statistics": t.statistics} if t.statistics is not None else {}),
    }


def agent_json(a: AgentRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "hostname": a.hostname,
        "port": a.port,
        "pid": f"slave(1)@{a.address}",
        "version": MESOS_COMPAT_VERSION,
        "corral_version": a.version,
        "attributes": _attrs(a),
        "registered_time": a.registered_time,
        **({"reregistered_time": a.reregistered_time} if a.reregistered_time else {}),
        "resources": a.total.to_legacy(),
        "used_resources": a.used.to_legacy(),
        "offered_resources": a.offered.to_legacy(),
        "unreserved_resources": a.total.for_role("\0").to_legacy(),
        "reserved_resources": {},
        "active": a.active and a.connected,
        "deactivated": not a.active,
        "capabilities": ["MULTI_ROLE", "TASK_KILLING_STATE"],
        **({"usage": a.usage} if a.usage is not None else {}),
    }


def framework_json(fw: FrameworkRecord) -> dict[str, Any]:
    info = fw.info
    used = fw.total_used()
    return {
        "id": fw.id,
        "name": info.name,
        "user": info.user,
        "hostname": info.hostname or "",
        "webui_url": info.webui_url or "",
        "principal": info.principal,
        "active": fw.active,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "capabilities": sorted(fw.capabilities),
        "role": fw.roles[0] if fw.roles else "*",
        "roles": list(fw.roles),
        "suppressed_roles": sorted(fw.suppressed_roles),
        "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time or 0,
        **({"reregistered_time": fw.reregistered_time} if fw.reregistered_time else {}),
        "resources": (used + fw.total_offered()).to_legacy(),
        "used_resources": used.to_legacy(),
        "offered_resources": fw.total_offered().to_legacy(),
        "tasks": [rendered(t, "legacy", task_json) for t in fw.tasks.values()],
        "unreachable_tasks": [
            rendered(t, "legacy", task_json) for t in fw.unreachable_tasks.values()
        ],
        "completed_tasks": [rendered(t, "legacy", task_json) for t in fw.completed_tasks],
        "offers": [
            {
                "id": o.id,
                "framework_id": o.framework_id,
                "slave_id": o.agent_id,
                "resources": o.resources.to_legacy(),
            }
            for o in fw.offers.values()
        ],
        "executors": [
            {
                "executor_id": eid,
                "name": ex.info.name or eid,
                "slave_id": aid,
                "framework_id": fw.id,
                "resources": ex.resources.to_legacy(),
            }
            for (aid, eid), ex in fw.executors.items()
        ],
        "labels": to_builtins(info.labels)["labels"] if info.labels else [],
    }


def flags(master: MasterState) -> dict[str, str]:
    c = master.config
    return {
        "port": str(c.port),
        "ip": c.ip,
        "hostname": c.hostname,
        "agent_ping_timeout": f"{c.agent_ping_timeout}secs",
        "max_agent_ping_timeouts": str(c.max_agent_ping_timeouts),
        "offer_timeout": f"{c.offer_timeout}secs" if c.offer_timeout else "",
        "framework_sorter": "drf",
        "version": __version__,
    }


def state_json(master: MasterState) -> dict[str, Any]:
    c = master.config
    pid = f"master@{c.ip}:{c.port}"
    return {
        "version": MESOS_COMPAT_VERSION,
        "corral_version": __version__,
        "build_date": "",
        "build_time": 0,
        "build_user": "corral",
        "start_time": master.start_time,
        "elected_time": master.elected_time,
        "id": master.id,
        "pid": pid,
        "hostname": c.hostname,
        "capabilities": ["AGENT_UPDATE"],
        "activated_slaves": sum(1 for a in master.agents.values() if a.active and a.connected),
        "deactivated_slaves": sum(
            1 for a in master.agents.values() if not (a.active and a.connected)
        ),
        "unreachable_slaves": len(master.unreachable_agents),
        "leader": pid,
        "leader_info": {"id": master.id, "pid": pid, "port": c.port, "hostname": c.hostname},
        "flags": flags(master),
        "slaves": [agent_rendered(a, "legacy", agent_json) for a in master.agents.values()],
        "recovered_slaves": [],
        "frameworks": [framework_json(f) for f in master.frameworks.values()],
        "completed_frameworks": [framework_json(f) for f in master.completed_frameworks],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


def metrics_snapshot(master: MasterState) -> dict[str, float]:
    kinds = ("cpus", "mem", "disk", "gpus")
    total = dict.fromkeys(kinds, 0.0)
    used = dict.fromkeys(kinds, 0.0)
    for a in master.agents.values():
        for kind in kinds:
            total[kind] += a.total.scalar(kind)
            used[kind] += a.used.scalar(kind)
    states: dict[str, int] = {}
    for fw in master.frameworks.values():
        for t in fw.tasks.values():
            states[t.state] = states.get(t.state, 0) + 1
    out: dict[str, float] = {
        "master/elected": 1,
        "master/uptime_secs": time.time() - master.start_time,
        "master/slaves_active": sum(1 for a in master.agents.values() if a.active),
        "master/slaves_connected": sum(1 for a in master.agents.values() if a.connected),
        "master/slaves_disconnected": sum(1 for a in master.agents.values() if not a.connected),
        "master/slaves_unreachable": len(master.unreachable_agents),
        "master/frameworks_active": sum(1 for f in master.frameworks.values() if f.active),
        "master/frameworks_connected": sum(1 for f in master.frameworks.values() if f.connected),
        "master/frameworks_disconnected": sum(
            1 for f in master.frameworks.values() if not f.connected
        ),
        "master/outstanding_offers": len(master.offers),
    }
    for st in ("staging", "starting", "running", "killing", "unreachable"):
        out[f"master/tasks_{st}"] = states.get(f"TASK_{st.upper()}", 0)
    for st in (
        "finished",
        "failed",
        "killed",
        "lost",
        "error",
        "dropped",
        "gone",
        "gone_by_operator",
    ):
        out[f"master/tasks_{st}"] = master.terminal_counts.get(f"TASK_{st.upper()}", 0)
    for kind in kinds:
        tot, use = round(total[kind], 3), round(used[kind], 3)
        out[f"master/{kind}_total"] = tot
        out[f"master/{kind}_used"] = use
        out[f"master/{kind}_percent"] = use / tot if tot else 0.0
    out.update({k: float(v) for k, v in master.metrics.items()})
    out.update(master.allocation_run_ms.summary("allocator/allocation_run_ms"))
    out.update(master.offer_accept_ms.summary("master/offer_accept_ms"))
    return out


# ---------------------------------------------------------------------- v1 operator API
def _v1_task(t: TaskRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.info.name,
        "task_id": {"value": t.task_id},
        "framework_id": {"value": t.framework_id},
        "agent_id": {"value": t.agent_id},
        "state": t.state,
        "resources": to_builtins(t.resources.to_wire(allocation_role=t.role)),
        "statuses": to_builtins(t.statuses),
    }
    if t.executor_id:
        out["executor_id"] = {"value": t.executor_id}
    if t.status_update_state:
        out["status_update_state"] = t.status_update_state
    return out


def _v1_agent(a: AgentRecord) -> dict[str, Any]:
    return {
        "agent_info": to_builtins(a.info),
        "active": a.active and a.connected,
        "deactivated": not a.active,
        "version": MESOS_COMPAT_VERSION,
        "pid": f"slave(1)@{a.address}",
        "registered_time": {"nanoseconds": int(a.registered_time * 1e9)},
        "total_resources": to_builtins(a.total.to_wire()),
        "allocated_resources": to_builtins(a.used.to_wire()),
        "offered_resources": to_builtins(a.offered.to_wire()),
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "TASK_KILLING_STATE"}],
    }


def _v1_framework(fw: FrameworkRecord) -> dict[str, Any]:
    return {
        "framework_info": to_builtins(fw.info),
        "active": fw.active,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "registered_time": {"nanoseconds": int(fw.registered_time * 1e9)},
        "allocated_resources": to_builtins(fw.total_used().to_wire()),
        "offered_resources": to_builtins(fw.total_offered().to_wire()),
    }


def _get_tasks(master: MasterState) -> dict[str, Any]:
    tasks, unreachable, completed = [], [], []
    for fw in [*master.frameworks.values(), *master.completed_frameworks]:
        tasks += [rendered(t, "v1", _v1_task) for t in fw.tasks.values()]
        unreachable += [rendered(t, "v1", _v1_task) for t in fw.unreachable_tasks.values()]
        completed += [rendered(t, "v1", _v1_task) for t in fw.completed_tasks]
    return {"tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed}


def _get_agents(master: MasterState) -> dict[str, Any]:
    agents = [agent_rendered(a, "v1", _v1_agent) for a in master.agents.values()]
    return {"agents": agents, "recovered_agents": []}


def _get_frameworks(master: MasterState) -> dict[str, Any]:
    return {
        "frameworks": [_v1_framework(f) for f in master.frameworks.values()],
        "completed_frameworks": [_v1_framework(f) for f in master.completed_frameworks],
    }


def _get_executors(master: MasterState) -> dict[str, Any]:
    return {
        "executors": [
            {"executor_info": to_builtins(ex.info), "agent_id": {"value": aid}}
            for fw in master.frameworks.values()
            for (aid, _), ex in fw.executors.items()
        ]
    }


def operator_response(master: MasterState, call_type: str) -> dict[str, Any]:
    key = call_type.lower()
    if call_type == "GET_HEALTH":
        body: dict[str, Any] = {"healthy": True}
    elif call_type == "GET_VERSION":
        body = {
            "version_info": {
                "version": MESOS_COMPAT_VERSION,
                "build_date": "",
                "build_time": 0,
                "build_user": "corral",
            }
        }
    elif call_type == "GET_FLAGS":
        body = {"flags": [{"name": k, "value": v} for k, v in flags(master).items()]}
    elif call_type == "GET_METRICS":
        body = {"metrics": [{"name": k, "value": v} for k, v in metrics_snapshot(master).items()]}
    elif call_type == "GET_STATE":
        body = {
            "get_tasks": _get_tasks(master),
            "get_executors": _get_executors(master),
            "get_frameworks": _get_frameworks(master),
            "get_agents": _get_agents(master),
        }
    elif call_type == "GET_AGENTS":
        body = _get_agents(master)
    elif call_type == "GET_FRAMEWORKS":
        body = _get_frameworks(master)
    elif call_type == "GET_EXECUTORS":
        body = _get_executors(master)
    elif call_type == "GET_TASKS":
        body = _get_tasks(master)
    elif call_type == "GET_ROLES":
        roles: dict[str, Resources] = {}
        for fw in master.frameworks.values():
            for role, r in fw.allocated().items():
                roles[role] = roles.get(role, Resources()) + r
        body = {
            "roles": [
                {
                    "name": r,
                    "weight": master.config.weights.get(r, 1.0),
                    "resources": to_builtins(res.to_wire()),
                }
                for r, res in roles.items()
            ]
        }
    else:  # GET_MASTER
        body = {
            "master_info": to_builtins(master.master_info()),
            "start_time": master.start_time,
            "elected_time": master.elected_time,
        }
    return {"type": call_type, key: body}


class OperatorAPI:
    def __init__(self, master: MasterState) -> None:
        self.master = master

    async def call(self, request: web.Request) -> web.Response:
        call = await read_call(request, OperatorCall, "master::Call")
        if isinstance(call, web.Response):
            return call
        if call.type not in OPERATOR_CALLS:
            return error(
                400,
                "Failed to validate master::Call: "
                f"unsupported call type '{call.type}' in field 'type'",
            )
        return json_response(operator_response(self.master, call.type))

    async def state(self, request: web.Request) -> web.Response:
        body = state_json(self.master)
        jsonp = request.query.get("jsonp")
        if jsonp:
            return web.Response(
                body=f"{jsonp}(".encode() + encode(body) + b");",
                content_type="text/javascript",
            )
        return json_response(body)

    async def metrics(self, request: web.Request) -> web.Response:
        return json_response(metrics_snapshot(self.master))

    async def slaves(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "slaves": [
                    agent_rendered(a, "legacy", agent_json) for a in self.master.agents.values()
                ],
                "recovered_slaves": [],
            }
        )

    async def frameworks(self, request: web.Request) -> web.Response:
        m = self.master
        return json_response(
            {
                "frameworks": [framework_json(f) for f in m.frameworks.values()],
                "completed_frameworks": [framework_json(f) for f in m.completed_frameworks],
                "unregistered_frameworks": [],
            }
        )

    async def tasks(self, request: web.Request) -> web.Response:
        out = []
        for fw in [*self.master.frameworks.values(), *self.master.completed_frameworks]:
            out += [
                rendered(t, "legacy", task_json)
                for t in [*fw.tasks.values(), *fw.unreachable_tasks.values(), *fw.completed_tasks]
            ]
        return json_response({"tasks": out})
