"""The master core says what happened (``Publish``) for the operator event stream, and
returns the durations it measures (``Observe``); the shell's fan-out and the metric names."""

from __future__ import annotations

import uuid

from master_builders import Harness, launch, status, task
from prometheus_client.parser import text_string_to_metric_families

from corral.master.core import effects as fx
from corral.master.core import events as ev
from corral.master.core.state import MasterState
from corral.master.metrics import MasterMetrics
from corral.master.subscribers import Subscribers, render
from corral.master.views import metrics_snapshot
from corral.wire import operator as op
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.codec import decode


def happened(h: Harness) -> list[fx.Happened]:
    return [e.happened for e in h.of(fx.Publish)]


def observed(h: Harness) -> list[tuple[str, float]]:
    return [(e.metric, e.seconds) for e in h.of(fx.Observe)]


def test_agent_and_framework_added() -> None:
    h = Harness()
    h.agent(1)
    (added,) = happened(h)
    assert isinstance(added, fx.AgentAdded) and added.agent.link == 1
    fid = h.framework("st1")
    (fa,) = happened(h)
    assert isinstance(fa, fx.FrameworkAdded) and fa.framework.id == fid


def test_task_added_then_updated_then_finished_and_ack_timed() -> None:
    h = Harness()
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.now += 0.25
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    (added,) = [x for x in happened(h) if isinstance(x, fx.TaskAdded)]
    assert added.task.task_id == "t1" and added.task.state == "TASK_STAGING"
    assert observed(h) == [("offer_accept", 0.25)]
    uid = uuid.uuid4().bytes
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))
    (up,) = happened(h)
    assert isinstance(up, fx.TaskUpdated)
    assert (up.framework_id, up.state, up.status.state) == (fid, "TASK_RUNNING", "TASK_RUNNING")
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uid))  # the resend in flight
    assert happened(h) == []
    h.now += 0.5
    h.call(
        fid,
        "st1",
        "ACKNOWLEDGE",
        acknowledge=s.Acknowledge(agent_id=ID(aid), task_id=ID("t1"), uuid=uid),
    )
    assert observed(h) == [("status_update_ack", 0.5)]
    h.update(1, fid, status("t1", "TASK_FINISHED", uid=uuid.uuid4().bytes))
    (done,) = happened(h)
    assert isinstance(done, fx.TaskUpdated) and done.state == "TASK_FINISHED"


def test_framework_updated_on_disconnect_and_removed_on_teardown() -> None:
    h = Harness()
    fid = h.framework("st1", failover_timeout=60.0)
    h.feed(ev.StreamClosed("st1"))
    (up,) = happened(h)
    assert isinstance(up, fx.FrameworkUpdated) and not up.framework.connected
    h.advance(61.0)
    (gone,) = [x for x in happened(h) if isinstance(x, fx.FrameworkRemoved)]
    assert gone.info.id == ID(fid)
    h2 = Harness()
    fid = h2.framework("st1")
    h2.call(fid, "st1", "TEARDOWN")
    (rm,) = happened(h2)
    assert isinstance(rm, fx.FrameworkRemoved) and rm.info.id == ID(fid)


def test_agent_removed_loses_its_tasks_with_updates() -> None:
    h = Harness()
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    h.feed(ev.AgentDisconnected(1))
    for _ in range(h.state.config.max_agent_ping_timeouts):
        h.feed(ev.PingDue())
    kinds = [type(x) for x in happened(h)]
    assert fx.AgentRemoved in kinds and fx.TaskUpdated in kinds
    (lost,) = [x for x in happened(h) if isinstance(x, fx.TaskUpdated)]
    assert lost.state == "TASK_LOST"


def test_rendered_events_have_mesos_shapes() -> None:
    h = Harness()
    h.agent(1)
    (added,) = happened(h)
    rendered = render(added)
    assert rendered.type == "AGENT_ADDED" and isinstance(rendered.agent_added, op.AgentAdded)
    fid = h.framework("st1")
    h.call(fid, "st1", "TEARDOWN")
    (rm,) = happened(h)
    out = render(rm)
    assert out.type == "FRAMEWORK_REMOVED"
    assert isinstance(out.framework_removed, op.FrameworkRemoved)
    assert out.framework_removed.framework_info.id == ID(fid)


class FakeStream:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    @property
    def backlog(self) -> int:
        return len(self.sent)

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True


def test_a_subscriber_that_falls_behind_is_dropped() -> None:
    subs = Subscribers(max_backlog=3)
    slow, fine = FakeStream(), FakeStream()
    subs.add(slow)  # type: ignore[arg-type]
    subs.add(fine)  # type: ignore[arg-type]
    for i in range(5):
        subs.publish(fx.AgentRemoved(f"a{i}"))
        fine.sent.clear()  # this one keeps up
    assert slow.closed and len(slow.sent) == 3 and subs.dropped == 1
    assert not fine.closed and len(subs.streams) == 1
    got = decode(slow.sent[0], op.OperatorEvent)
    assert got.type == "AGENT_REMOVED" and got.agent_removed.agent_id == ID("a0")  # type: ignore[union-attr]


MESOS_MASTER_NAMES = [
    "master/elected",
    "master/uptime_secs",
    *(f"master/slaves_{k}" for k in ("active", "inactive", "connected", "disconnected")),
    "master/slaves_unreachable",
    *(f"master/frameworks_{k}" for k in ("active", "inactive", "connected", "disconnected")),
    *(
        f"master/tasks_{k}"
        for k in [
            "staging",
            "starting",
            "running",
            "killing",
            "finished",
            "failed",
            "killed",
            "lost",
            "error",
            "dropped",
            "unreachable",
            "gone",
            "gone_by_operator",
        ]
    ),
    "master/outstanding_offers",
    *(
        f"master/{r}_{k}"
        for r in ("cpus", "mem", "disk", "gpus")
        for k in ("total", "used", "percent")
    ),
    "master/valid_status_updates",
    "master/invalid_status_updates",
    *(f"master/slave_{k}" for k in ("registrations", "reregistrations", "removals")),
]


def test_snapshot_has_mesos_names_and_prometheus_families_parse() -> None:
    h = Harness()
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    h.update(1, fid, status("t1", "TASK_RUNNING", uid=uuid.uuid4().bytes))
    snap = metrics_snapshot(h.state)
    missing = [n for n in MESOS_MASTER_NAMES if n not in snap]
    assert missing == []
    assert snap["master/tasks_running"] == 1 and snap["master/cpus_total"] == 4
    state: MasterState = h.state
    metrics = MasterMetrics(lambda: (metrics_snapshot(state), 2, 0))
    metrics.observe("offer_accept", 0.003)
    fams = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    tasks = {s.labels["state"]: s.value for s in fams["corral_master_tasks"].samples}
    assert tasks["running"] == 1
    cpus = [
        s for s in fams["corral_master_resources_total"].samples if s.labels["resource"] == "cpus"
    ]
    assert cpus[0].value == 4
    assert fams["corral_master_operator_subscribers"].samples[0].value == 2
    count = [
        s for s in fams["corral_master_offer_accept_seconds"].samples if s.name.endswith("_count")
    ]
    assert count[0].value == 1
    assert all(f.documentation for f in fams.values())


def test_a_standby_serves_the_full_snapshot_with_elected_0() -> None:
    from corral.master.core.config import MasterConfig
    from corral.master.server import MasterProcess

    proc = MasterProcess(MasterConfig())
    snap = proc.snapshot()
    assert snap["master/elected"] == 0
    assert [n for n in MESOS_MASTER_NAMES if n not in snap] == []
    text = proc.metrics.exposition().decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["corral_master_elected"].samples[0].value == 0
