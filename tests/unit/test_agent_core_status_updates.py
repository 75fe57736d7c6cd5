"""The agent core's reliable status updates: held until registered, one in flight per task,
resent with backoff until acknowledged, resent at once to a re-subscribed framework."""

from __future__ import annotations

from agent_core_world import FID, Agent, command_task, journaled, make_state, sent_updates, states

from corral.agent.core import effects as fx
from corral.agent.core import events as ev
from corral.wire import agent as msg
from corral.wire.base import ID


def test_updates_wait_for_registration_and_are_timestamped_with_now() -> None:
    a = Agent(now=500.0)
    a.run(command_task("t1"))
    a.start("t1")
    assert states(a.log) == [] and journaled(a.log) == [
        ("t1", "TASK_STARTING"),
        ("t1", "TASK_RUNNING"),
    ]
    out = a.register()
    assert out[0] == fx.SaveAgentId("agent-1") and fx.Registered("agent-1") in out
    (update,) = sent_updates(out)  # the head of the task's queue only
    assert update.status.state == "TASK_STARTING" and update.status.timestamp == 500.0
    assert update.status.agent_id == ID("") and update.latest_state == "TASK_RUNNING"
    assert a.register() == [fx.Registered("agent-1"), fx.SendToMaster(update)]  # same id


def test_an_unacknowledged_update_is_resent_with_doubling_backoff() -> None:
    a = Agent(make_state(status_update_retry=10.0), now=0.0)
    a.register()
    a.run(command_task("t1"))
    a.feed(ev.SandboxReady("c1"))
    assert states(a.log) == [("t1", "TASK_STARTING")]
    sent_at = []
    for now in range(1, 80):
        a.now = float(now)
        if sent_updates(a.feed(ev.Tick())):
            sent_at.append(now)
    assert sent_at == [10, 30, 70]


def test_acknowledging_the_head_sends_the_next_and_a_stale_uuid_changes_nothing() -> None:
    a = Agent()
    a.register()
    a.run(command_task("t1"))
    a.start("t1")
    starting = sent_updates(a.log)[0]
    stale = msg.AcknowledgeUpdate(framework_id=ID(FID), task_id=ID("t1"), uuid=b"\0" * 16)
    assert a.master(stale) == []
    out = a.ack(starting)
    assert [type(e) for e in out] == [fx.WriteUpdateJournal, fx.SendToMaster]
    assert states(out) == [("t1", "TASK_RUNNING")]
    assert a.ack(starting) == []  # acknowledged twice: nothing more


def test_no_update_goes_out_while_disconnected_and_all_heads_go_on_reregistration() -> None:
    a = Agent()
    a.register()
    a.run(command_task("t1"))
    a.run(command_task("t2"))
    a.feed(ev.MasterDisconnected())
    a.start("t1")
    a.start("t2")
    a.now += 1000
    assert states(a.feed(ev.Tick())) == []
    assert sorted(states(a.register())) == [("t1", "TASK_STARTING"), ("t2", "TASK_STARTING")]


def test_a_resubscribed_framework_gets_its_pending_updates_at_once() -> None:
    a = Agent()
    a.register()
    a.run(command_task("t1"))
    a.run(command_task("t2"), fw=None)
    a.feed(ev.SandboxReady("c1"))
    a.now += 1.0  # well inside the backoff
    out = a.master(msg.FrameworkSubscribed(framework_id=ID(FID)))
    assert states(out) == [("t1", "TASK_STARTING")]
    assert states(a.master(msg.FrameworkSubscribed(framework_id=ID("other")))) == []


def test_a_ping_is_answered_and_shutdown_agent_reconnects() -> None:
    a = Agent()
    assert a.master(msg.Ping()) == [fx.SendToMaster(msg.Pong())]
    assert a.master(msg.ShutdownAgent(message="missed pings")) == [fx.Reconnect("missed pings")]
