"""The agent's metrics: ``/metrics/snapshot`` in Mesos's ``slave/…`` names (a pure function
of the agent's state) and ``/metrics`` in Prometheus's format (``corral_agent_…``), both read
at request time; nothing is counted on the hot path."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from corral.agent import update_latency
from corral.agent.core.state import AgentState
from corral.resources import ResourceError, Resources, from_wire
from corral.wire.common import Resource

LIVE = ("staging", "starting", "running", "killing")
ENDED = ("finished", "failed", "killed", "lost", "error", "dropped", "gone")
RESOURCES = ("cpus", "mem", "disk")
CONTENT_TYPE = CONTENT_TYPE_LATEST


def task_resources(resources: list[Resource]) -> Resources:
    try:
        return from_wire(resources)
    except ResourceError:
        return Resources()


def snapshot(state: AgentState, start_time: float, now: float) -> dict[str, float]:
    """``/metrics/snapshot`` of the agent, in Mesos's names."""
    live: dict[str, int] = {}
    ended: dict[str, int] = {}
    used = Resources()
    executors = {"registering": 0, "running": 0, "terminating": 0}
    for fw in state.frameworks.values():
        for t in fw.tasks.values():
            live[t.state] = live.get(t.state, 0) + 1
            used = used + task_resources(t.info.resources)
        for ex in fw.executors.values():
            if ex.shutting_down:
                executors["terminating"] += 1
            elif ex.subscribed or ex.kind == "group":
                executors["running"] += 1
            else:
                executors["registering"] += 1
    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        for t in fw.completed:
            ended[t.state] = ended.get(t.state, 0) + 1
    total = task_resources(state.settings.info.resources)
    out: dict[str, float] = {
        "slave/registered": 1.0 if state.registered else 0.0,
        "slave/uptime_secs": now - start_time,
        "slave/frameworks_active": float(len(state.frameworks)),
        "slave/containers_running": float(len(state.containers)),
    }
    for st in LIVE:
        out[f"slave/tasks_{st}"] = float(live.get(f"TASK_{st.upper()}", 0))
    for st in ENDED:
        out[f"slave/tasks_{st}"] = float(ended.get(f"TASK_{st.upper()}", 0))
    for k, v in executors.items():
        out[f"slave/executors_{k}"] = float(v)
    for r in RESOURCES:
        tot, use = round(total.scalar(r), 3), round(used.scalar(r), 3)
        out[f"slave/{r}_total"] = tot
        out[f"slave/{r}_used"] = use
        out[f"slave/{r}_percent"] = use / tot if tot else 0.0
    return out


def families(snap: dict[str, float]) -> Iterator[Metric]:
    g = GaugeMetricFamily
    yield g("corral_agent_registered", "1 if registered with a master.", snap["slave/registered"])
    yield g("corral_agent_uptime_seconds", "Seconds since the agent started.",
            snap["slave/uptime_secs"])  # fmt: skip
    yield g("corral_agent_frameworks", "Frameworks with tasks or executors here.",
            snap["slave/frameworks_active"])  # fmt: skip
    yield g("corral_agent_containers", "Containers the agent runs.",
            snap["slave/containers_running"])  # fmt: skip
    tasks = g("corral_agent_tasks", "Tasks now in each non-terminal state.", labels=["state"])
    for st in LIVE:
        tasks.add_metric([st], snap[f"slave/tasks_{st}"])
    yield tasks
    ended = g(
        "corral_agent_tasks_completed",
        "Ended tasks the agent remembers (bounded per framework), by terminal state.",
        labels=["state"],
    )
    for st in ENDED:
        ended.add_metric([st], snap[f"slave/tasks_{st}"])
    yield ended
    exe = g("corral_agent_executors", "Executors by status.", labels=["status"])
    for st in ("registering", "running", "terminating"):
        exe.add_metric([st], snap[f"slave/executors_{st}"])
    yield exe
    total = g("corral_agent_resources_total", "The agent's resources.", labels=["resource"])
    used = g("corral_agent_resources_used", "Resources of its tasks.", labels=["resource"])
    ratio = g("corral_agent_resources_used_ratio", "Used / total.", labels=["resource"])
    for r in RESOURCES:
        total.add_metric([r], snap[f"slave/{r}_total"])
        used.add_metric([r], snap[f"slave/{r}_used"])
        ratio.add_metric([r], snap[f"slave/{r}_percent"])
    yield total
    yield used
    yield ratio


def exposition(state: AgentState, start_time: float, now: float) -> bytes:
    """The agent's Prometheus exposition, from its state now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FixedCollector(snapshot(state, start_time, now), state.updates.round_trips))
    return generate_latest(registry)


class FixedCollector(Collector):
    def __init__(
        self, snap: dict[str, float], round_trips: update_latency.LatencyHistogram | None = None
    ) -> None:
        self.snap = snap
        self.round_trips = round_trips

    def collect(self) -> Iterator[Metric]:
        yield from families(self.snap)
        if self.round_trips is not None:
            yield update_latency.family(self.round_trips)
