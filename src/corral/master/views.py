"""Read-only views of the master: ``/master/state`` (legacy JSON), the v1 operator API,
``/metrics/snapshot``. Built from the master's state on demand, as the types of
``corral.wire.state_views`` and ``corral.wire.operator``; each task's and agent's JSON is
encoded once and cached here (``RenderCache``), not in the records."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import msgspec

from corral import MESOS_COMPAT_VERSION, __version__, daemon_flags
from corral.master import quota_views
from corral.master.core import maintenance
from corral.master.core.authz import may_view
from corral.master.core.state import (
    AgentRecord,
    DrainRecord,
    FrameworkRecord,
    MasterState,
    TaskRecord,
)
from corral.master.render_cache import RenderCache
from corral.wire import operator as op
from corral.wire import secrets
from corral.wire import state_views as sv
from corral.wire.base import ID
from corral.wire.codec import encode
from corral.wire.common import Capability, TimeInfo

if TYPE_CHECKING:
    pass

log = logging.getLogger("corral.master")
Raw = msgspec.Raw
HEARTBEAT = encode(op.OperatorEvent(type="HEARTBEAT"))
OPERATOR_CALLS = (*op.MASTER_CALLS, "SUBSCRIBE", *maintenance.CALLS)
AGENT_CAPABILITIES = ("MULTI_ROLE", "TASK_KILLING_STATE")


def attributes(agent: AgentRecord) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for a in agent.info.attributes:
        if a.scalar is not None:
            out[a.name] = a.scalar.value
        elif a.text is not None:
            out[a.name] = a.text.value
        elif a.ranges is not None:
            out[a.name] = "[" + ",".join(f"{r.begin}-{r.end}" for r in a.ranges.range) + "]"
    return out


def task_change_key(t: TaskRecord) -> tuple[object, ...]:
    return (
        t.info,
        t.state,
        t.statuses[-1] if t.statuses else None,
        t.status_update_state,
        t.statistics,
    )


def agent_change_key(a: AgentRecord) -> tuple[object, ...]:
    # Resources and AgentInfo are replaced, never changed in place; the flags are interned.
    return (
        a.total,
        a.used,
        a.offered,
        a.info,
        a.address,
        a.active,
        a.connected,
        a.reregistered_time,
        a.usage,
        a.deactivated,
        a.drain.state if a.drain is not None else None,
    )


# ---------------------------------------------------------------------- legacy JSON
def state_task(t: TaskRecord) -> sv.StateTask:
    view = sv.StateTask(
        id=t.task_id,
        name=t.info.name,
        framework_id=t.framework_id,
        executor_id=t.executor_id or "",
        slave_id=t.agent_id,
        state=t.state,
        resources=t.resources.to_legacy(),
        role=t.role,
        statuses=[
            sv.StateStatus(
                state=st.state,
                timestamp=msgspec.UNSET if st.timestamp is None else st.timestamp,
                healthy=msgspec.UNSET if st.healthy is None else st.healthy,
            )
            for st in t.statuses
        ],
    )
    if t.info.labels:
        view.labels = t.info.labels.labels
    if t.info.container:
        view.container = t.info.container
    if t.statistics is not None:
        view.statistics = t.statistics
    return view


def state_agent(a: AgentRecord) -> sv.StateAgent:
    return sv.StateAgent(
        id=a.id,
        hostname=a.hostname,
        port=a.port,
        pid=f"slave(1)@{a.address}",
        version=MESOS_COMPAT_VERSION,
        corral_version=a.version,
        attributes=attributes(a),
        registered_time=a.registered_time,
        reregistered_time=a.reregistered_time or msgspec.UNSET,
        resources=a.total.to_legacy(),
        used_resources=a.used.to_legacy(),
        offered_resources=a.offered.to_legacy(),
        unreserved_resources=a.total.for_role("\0").to_legacy(),
        reserved_resources={},
        active=a.active and a.connected,
        deactivated=not a.active,
        capabilities=list(AGENT_CAPABILITIES),
        usage=msgspec.UNSET if a.usage is None else a.usage,
        drain_info=msgspec.UNSET if a.drain is None else drain_info(a.drain),
    )


def drain_info(d: DrainRecord) -> dict[str, object]:
    config: dict[str, object] = {"mark_gone": d.mark_gone}
    if d.max_grace is not None:
        config["max_grace_period"] = {"nanoseconds": int(d.max_grace * 1e9)}
    return {"state": d.state, "config": config}


def state_framework(
    fw: FrameworkRecord, tasks: RenderCache[TaskRecord]
) -> sv.StateFrameworkOf[Raw]:
    info = fw.info
    used = fw.total_used()
    offered = fw.total_offered()
    return sv.StateFrameworkOf(
        id=fw.id,
        name=info.name,
        user=info.user,
        hostname=info.hostname or "",
        webui_url=info.webui_url or "",
        principal=info.principal,
        active=fw.active,
        connected=fw.connected,
        recovered=fw.recovered,
        failover_timeout=info.failover_timeout,
        checkpoint=info.checkpoint,
        capabilities=sorted(fw.capabilities),
        role=fw.roles[0] if fw.roles else "*",
        roles=list(fw.roles),
        suppressed_roles=sorted(fw.suppressed_roles),
        registered_time=fw.registered_time,
        unregistered_time=fw.unregistered_time or 0,
        reregistered_time=fw.reregistered_time or msgspec.UNSET,
        resources=(used + offered).to_legacy(),
        used_resources=used.to_legacy(),
        offered_resources=offered.to_legacy(),
        tasks=tasks.get_many(fw.tasks.values()),
        unreachable_tasks=tasks.get_many(fw.unreachable_tasks.values()),
        completed_tasks=tasks.get_many(fw.completed_tasks),
        offers=[
            sv.StateOffer(
                id=o.id,
                framework_id=o.framework_id,
                slave_id=o.agent_id,
                resources=o.resources.to_legacy(),
            )
            for o in fw.offers.values()
        ],
        executors=[
            sv.StateExecutor(
                executor_id=eid,
                name=ex.info.name or eid,
                slave_id=aid,
                framework_id=fw.id,
                resources=ex.resources.to_legacy(),
            )
            for (aid, eid), ex in fw.executors.items()
        ],
        labels=info.labels.labels if info.labels else [],
    )


def flags(master: MasterState) -> dict[str, str]:
    c = master.config
    return {
        **daemon_flags.recorded(),  # every flag the master was started with; then its config
        "port": str(c.port),
        "ip": c.ip,
        "hostname": c.hostname,
        "agent_ping_timeout": f"{c.agent_ping_timeout}secs",
        "max_agent_ping_timeouts": str(c.max_agent_ping_timeouts),
        "offer_timeout": f"{c.offer_timeout}secs" if c.offer_timeout else "",
        "framework_sorter": "drf",
        "version": __version__,
    }


def metrics_snapshot(master: MasterState) -> sv.MetricsSnapshot:
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
        "master/slaves_inactive": sum(1 for a in master.agents.values() if not a.active),
        "master/slaves_connected": sum(1 for a in master.agents.values() if a.connected),
        "master/slaves_disconnected": sum(1 for a in master.agents.values() if not a.connected),
        "master/slaves_unreachable": len(master.unreachable_agents),
        "master/frameworks_active": sum(1 for f in master.frameworks.values() if f.active),
        "master/frameworks_inactive": sum(1 for f in master.frameworks.values() if not f.active),
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
    out.update(quota_views.quota_metrics(master))
    return out


# ---------------------------------------------------------------------- v1 operator API
def v1_task(t: TaskRecord) -> op.Task:
    view = op.Task(
        name=t.info.name,
        task_id=t.info.task_id,
        framework_id=ID(t.framework_id),
        agent_id=ID(t.agent_id),
        state=t.state,
        resources=t.resources.to_wire(allocation_role=t.role),
        statuses=list(t.statuses),
    )
    if t.executor_id:
        view.executor_id = ID(t.executor_id)
    if t.status_update_state:
        view.status_update_state = t.status_update_state
    return view


def v1_agent(a: AgentRecord) -> op.Agent:
    return op.Agent(
        agent_info=a.info,
        active=a.active and a.connected,
        deactivated=not a.active,
        version=MESOS_COMPAT_VERSION,
        pid=f"slave(1)@{a.address}",
        registered_time=TimeInfo(nanoseconds=int(a.registered_time * 1e9)),
        total_resources=a.total.to_wire(),
        allocated_resources=a.used.to_wire(),
        offered_resources=a.offered.to_wire(),
        capabilities=[Capability(type=c) for c in AGENT_CAPABILITIES],
        drain_info=msgspec.UNSET if a.drain is None else drain_info(a.drain),
    )


def v1_framework(fw: FrameworkRecord) -> op.Framework:
    return op.Framework(
        framework_info=fw.info,
        active=fw.active,
        connected=fw.connected,
        recovered=fw.recovered,
        registered_time=TimeInfo(nanoseconds=int(fw.registered_time * 1e9)),
        allocated_resources=fw.total_used().to_wire(),
        offered_resources=fw.total_offered().to_wire(),
    )


class MasterViews:
    """The master's read views, with the caches of each task's and agent's JSON."""

    def __init__(self, master: MasterState) -> None:
        self.master = master
        self.legacy_tasks = RenderCache(state_task, task_change_key)
        self.legacy_agents = RenderCache(state_agent, agent_change_key)
        self.v1_tasks = RenderCache(v1_task, task_change_key)
        self.v1_agents = RenderCache(v1_agent, agent_change_key)
        # Whose view is rendered (set by ``viewing`` around a render; the ACLs'
        # view_frameworks/view_tasks filter what it sees). None outside: anonymous.
        self.viewer: str | None = None

    @contextlib.contextmanager
    def viewing(self, principal: str | None) -> Iterator[None]:
        """Render as ``principal`` (no await may happen inside)."""
        self.viewer = principal
        try:
            yield
        finally:
            self.viewer = None

    def all_frameworks(self) -> list[FrameworkRecord]:
        """Current and completed frameworks the viewer may see."""
        return self.visible([*self.master.frameworks.values(), *self.master.completed_frameworks])

    def visible(self, fws: Iterable[FrameworkRecord]) -> list[FrameworkRecord]:
        if self.master.config.security.acls is None:
            return list(fws)
        return [f for f in fws if may_view(self.master, self.viewer, f)]

    # ------------------------------------------------------------------ legacy JSON
    def state(self) -> sv.MasterStateOf[Raw, Raw]:
        master = self.master
        c = master.config
        pid = f"master@{c.ip}:{c.port}"
        agents = master.agents.values()
        with self.legacy_tasks.full_pass(), self.legacy_agents.full_pass():
            return sv.MasterStateOf(
                version=MESOS_COMPAT_VERSION,
                corral_version=__version__,
                build_date="",
                build_time=0,
                build_user="corral",
                start_time=master.start_time,
                elected_time=master.elected_time,
                id=master.id,
                pid=pid,
                hostname=c.hostname,
                capabilities=["AGENT_UPDATE", "QUOTA_V2"],
                activated_slaves=sum(1 for a in agents if a.active and a.connected),
                deactivated_slaves=sum(1 for a in agents if not (a.active and a.connected)),
                unreachable_slaves=len(master.unreachable_agents),
                leader=pid,
                leader_info=sv.LeaderInfo(id=master.id, pid=pid, port=c.port, hostname=c.hostname),
                flags=flags(master),
                slaves=self.legacy_agents.get_many(agents),
                recovered_slaves=[],
                frameworks=self._frameworks(self.visible(master.frameworks.values())),
                completed_frameworks=self._frameworks(self.visible(master.completed_frameworks)),
                orphan_tasks=[],
                unregistered_frameworks=[],
            )

    def _frameworks(self, fws: Iterable[FrameworkRecord]) -> list[sv.StateFrameworkOf[Raw]]:
        return [state_framework(f, self.legacy_tasks) for f in fws]

    def slaves(self) -> sv.SlavesOf[Raw]:
        with self.legacy_agents.full_pass():
            agents = self.legacy_agents.get_many(self.master.agents.values())
        return sv.SlavesOf(slaves=agents, recovered_slaves=[])

    def frameworks(self) -> sv.FrameworksOf[Raw]:
        m = self.master
        with self.legacy_tasks.full_pass():
            return sv.FrameworksOf(
                frameworks=self._frameworks(self.visible(m.frameworks.values())),
                completed_frameworks=self._frameworks(self.visible(m.completed_frameworks)),
                unregistered_frameworks=[],
            )

    def tasks(self) -> sv.TasksOf[Raw]:
        out: list[Raw] = []
        with self.legacy_tasks.full_pass():
            for fw in self.all_frameworks():
                out += self.legacy_tasks.get_many(fw.tasks.values())
                out += self.legacy_tasks.get_many(fw.unreachable_tasks.values())
                out += self.legacy_tasks.get_many(fw.completed_tasks)
        return sv.TasksOf(tasks=out)

    # ------------------------------------------------------------------ v1 operator API
    def get_tasks(self) -> op.GetTasksOf[Raw]:
        tasks: list[Raw] = []
        unreachable: list[Raw] = []
        completed: list[Raw] = []
        get_many = self.v1_tasks.get_many
        with self.v1_tasks.full_pass():
            for fw in self.all_frameworks():
                tasks += get_many(fw.tasks.values())
                unreachable += get_many(fw.unreachable_tasks.values())
                completed += get_many(fw.completed_tasks)
        return op.GetTasksOf(tasks=tasks, unreachable_tasks=unreachable, completed_tasks=completed)

    def get_agents(self) -> op.GetAgentsOf[Raw]:
        with self.v1_agents.full_pass():
            agents = self.v1_agents.get_many(self.master.agents.values())
        return op.GetAgentsOf(agents=agents, recovered_agents=[])

    def get_frameworks(self) -> op.GetFrameworks:
        m = self.master
        return op.GetFrameworks(
            frameworks=[v1_framework(f) for f in self.visible(m.frameworks.values())],
            completed_frameworks=[v1_framework(f) for f in self.visible(m.completed_frameworks)],
        )

    def get_executors(self) -> op.GetExecutors:
        return op.GetExecutors(
            executors=[
                op.Executor(executor_info=secrets.redact_executor(ex.info), agent_id=ID(aid))
                for fw in self.visible(self.master.frameworks.values())
                for (aid, _), ex in fw.executors.items()
            ]
        )

    def get_roles(self) -> op.GetRoles:
        return quota_views.get_roles(self.master, self.visible(self.master.frameworks.values()))

    def response(self, call_type: str) -> op.MasterResponseOf[Raw, Raw]:
        """The answer to a call of ``OPERATOR_CALLS``."""
        master = self.master
        out: op.MasterResponseOf[Raw, Raw] = op.MasterResponseOf(type=call_type)
        if call_type == "GET_HEALTH":
            out.get_health = op.GetHealth(healthy=True)
        elif call_type == "GET_VERSION":
            out.get_version = op.GetVersion(
                version_info=sv.VersionInfo(version=MESOS_COMPAT_VERSION)
            )
        elif call_type == "GET_FLAGS":
            out.get_flags = op.GetFlags(
                flags=[op.Flag(name=k, value=v) for k, v in flags(master).items()]
            )
        elif call_type == "GET_METRICS":
            out.get_metrics = op.GetMetrics(
                metrics=[op.Metric(name=k, value=v) for k, v in metrics_snapshot(master).items()]
            )
        elif call_type == "GET_STATE":
            out.get_state = op.GetStateOf(
                get_tasks=self.get_tasks(),
                get_executors=self.get_executors(),
                get_frameworks=self.get_frameworks(),
                get_agents=self.get_agents(),
            )
        elif call_type == "GET_AGENTS":
            out.get_agents = self.get_agents()
        elif call_type == "GET_FRAMEWORKS":
            out.get_frameworks = self.get_frameworks()
        elif call_type == "GET_EXECUTORS":
            out.get_executors = self.get_executors()
        elif call_type == "GET_TASKS":
            out.get_tasks = self.get_tasks()
        elif call_type == "GET_ROLES":
            out.get_roles = self.get_roles()
        elif call_type == "GET_QUOTA":
            out.get_quota = quota_views.get_quota(master)
        elif call_type == "GET_WEIGHTS":
            out.get_weights = quota_views.get_weights(master)
        else:  # GET_MASTER
            out.get_master = op.GetMaster(
                master_info=master.master_info(),
                start_time=master.start_time,
                elected_time=master.elected_time,
            )
        return out
