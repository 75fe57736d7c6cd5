"""``/metrics``: the master in Prometheus's exposition format (``prometheus_client``).

Gauges and counters are read from the state at scrape time by a custom collector (one pass
over ``metrics_snapshot``, nothing updated per event); only the latency histograms are fed as
things happen: the allocation pass (timed by the shell), offer -> ACCEPT and a forwarded
status update -> its ACKNOWLEDGE (durations the core computes from its ``now``s and returns as
``Observe`` effects). A standby serves the same families with ``corral_master_elected`` 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from corral.master.quota_views import QUOTA_METRICS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip
HISTOGRAMS = {
    "allocation": ("corral_master_allocation_seconds", "Duration of one allocation pass."),
    "offer_accept": (
        "corral_master_offer_accept_seconds",
        "Time from an offer being made to the ACCEPT that uses it.",
    ),
    "status_update_ack": (
        "corral_master_status_update_ack_seconds",
        "Time from a status update forwarded to its framework to the framework's ACKNOWLEDGE.",
    ),
}
TASK_STATES = ("staging", "starting", "running", "killing", "unreachable")
TERMINAL_STATES = (
    "finished", "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator"
)  # fmt: skip
RESOURCES = ("cpus", "mem", "disk", "gpus")
COUNTERS = {  # snapshot name -> (Prometheus name without _total, help)
    "master/tasks_launched": ("corral_master_tasks_launched", "Tasks launched."),
    "master/messages_launch_tasks": (
        "corral_master_launch_messages",
        "Launch messages sent to agents.",
    ),
    "master/slave_registrations": ("corral_master_agent_registrations", "Agents registered."),
    "master/slave_reregistrations": (
        "corral_master_agent_reregistrations",
        "Agents re-registered.",
    ),
    "master/slave_removals": ("corral_master_agent_removals", "Agents removed."),
    "master/preemptions": ("corral_master_preemptions", "Preemptions decided."),
    "master/tasks_preempted": ("corral_master_tasks_preempted", "Tasks chosen as victims."),
}

Snapshot = dict[str, float]


def families(snap: Snapshot, subscribers: int, dropped: int) -> Iterator[Metric]:
    """The Prometheus families of one ``/metrics/snapshot`` (Mesos's names)."""
    g = GaugeMetricFamily
    yield g("corral_master_elected", "1 if this master leads, else 0.", snap["master/elected"])
    yield g("corral_master_uptime_seconds", "Seconds since this master started.",
            snap["master/uptime_secs"])  # fmt: skip
    agents = g("corral_master_agents", "Agents by status.", labels=["status"])
    for st in ("active", "inactive", "connected", "disconnected", "unreachable"):
        agents.add_metric([st], snap[f"master/slaves_{st}"])
    yield agents
    fws = g("corral_master_frameworks", "Frameworks by status.", labels=["status"])
    for st in ("active", "inactive", "connected", "disconnected"):
        fws.add_metric([st], snap[f"master/frameworks_{st}"])
    yield fws
    tasks = g("corral_master_tasks", "Tasks now in each non-terminal state.", labels=["state"])
    for st in TASK_STATES:
        tasks.add_metric([st], snap[f"master/tasks_{st}"])
    yield tasks
    ended = CounterMetricFamily(
        "corral_master_tasks_terminal", "Tasks that ended, by terminal state.", labels=["state"]
    )
    for st in TERMINAL_STATES:
        ended.add_metric([st], snap[f"master/tasks_{st}"])
    yield ended
    yield g("corral_master_outstanding_offers", "Offers not yet accepted, declined or rescinded.",
            snap["master/outstanding_offers"])  # fmt: skip
    total = g("corral_master_resources_total", "Resources of the registered agents.",
              labels=["resource"])  # fmt: skip
    used = g("corral_master_resources_used", "Resources used by tasks and executors.",
             labels=["resource"])  # fmt: skip
    ratio = g("corral_master_resources_used_ratio", "Used / total (0 with no resources).",
              labels=["resource"])  # fmt: skip
    for r in RESOURCES:
        total.add_metric([r], snap[f"master/{r}_total"])
        used.add_metric([r], snap[f"master/{r}_used"])
        ratio.add_metric([r], snap[f"master/{r}_percent"])
    yield total
    yield used
    yield ratio
    quota = g("corral_master_quota", "Roles' quota: guarantee, limit and consumed (allocated + "
              "offered).", labels=["role", "resource", "kind"])  # fmt: skip
    for key, value in snap.items():
        if key.startswith(QUOTA_METRICS):
            role, _, resource, kind = key[len(QUOTA_METRICS) :].split("/")
            quota.add_metric([role, resource, kind], value)
    yield quota
    updates = CounterMetricFamily(
        "corral_master_status_updates", "Status updates from agents.", labels=["valid"]
    )
    updates.add_metric(["true"], snap["master/valid_status_updates"])
    updates.add_metric(["false"], snap["master/invalid_status_updates"])
    yield updates
    for key, (name, help_) in COUNTERS.items():
        yield CounterMetricFamily(name, help_, snap.get(key, 0.0))
    yield g("corral_master_operator_subscribers", "Open operator event streams (SUBSCRIBE).",
            subscribers)  # fmt: skip
    yield CounterMetricFamily(
        "corral_master_operator_subscribers_dropped",
        "Operator event streams closed for falling behind.",
        dropped,
    )


class StateCollector(Collector):
    """Reads the master's snapshot at scrape time."""

    def __init__(self, read: Callable[[], tuple[Snapshot, int, int]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        snap, subscribers, dropped = self.read()
        yield from families(snap, subscribers, dropped)


class MasterMetrics:
    """One master process's Prometheus registry: its histograms and its state collector."""

    def __init__(self, read: Callable[[], tuple[Snapshot, int, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.histograms = {
            key: Histogram(name, help_, registry=self.registry, buckets=LATENCY_BUCKETS)
            for key, (name, help_) in HISTOGRAMS.items()
        }
        self.registry.register(StateCollector(read))

    def observe(self, metric: str, seconds: float) -> None:
        h = self.histograms.get(metric)
        if h is not None:
            h.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
