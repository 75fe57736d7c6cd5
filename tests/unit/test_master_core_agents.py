"""The master core: agent registration, re-registration (after a master failover, with its
tasks reconciled), pings, removal, unreachable agents and the registry."""

from __future__ import annotations

from master_builders import (
    Harness,
    framework_info,
    launch,
    new_state,
    persisted,
    register,
    status,
    subscribe,
    task,
)

from corral.coordination.interfaces import RegistrySnapshot
from corral.master.core import events as ev
from corral.master.core.effects import AdmitAgent, MarkUnreachable, SendToAgent
from corral.wire import agent as amsg
from corral.wire.base import ID
from corral.wire.tasks import TaskInfo


def test_registration_admits_the_agent() -> None:
    h = Harness()
    aid = h.agent(1, "cpus:2;mem:1024")
    assert aid == "M-S0"
    agent = h.state.agents[aid]
    assert agent.link == 1 and agent.connected and agent.available == agent.total
    assert persisted(h.out) == [AdmitAgent(aid, {"hostname": "h", "address": "127.0.0.1:5052"})]
    assert h.state.metrics["master/slave_registrations"] == 1
    assert h.allocation_asked


def test_invalid_registration_is_shut_down() -> None:
    h = Harness()
    reg = register(1)
    reg.message.agent_info.resources[0].scalar = None  # type: ignore[union-attr]
    h.feed(reg)
    (shut,) = h.to_agent(1, amsg.ShutdownAgent)
    assert "agent_info.resources" in shut.message
    assert h.state.agents == {}


def test_messages_while_paused_are_dropped() -> None:
    h = Harness()
    h.feed(ev.Paused())
    h.feed(register(1))
    assert h.state.agents == {} and h.out == []


def test_reregistration_on_a_new_link_keeps_the_record() -> None:
    h = Harness()
    aid = h.agent(1)
    h.feed(ev.AgentDisconnected(1))
    assert not h.state.agents[aid].connected
    h.feed(register(2, agent_id=aid))
    agent = h.state.agents[aid]
    assert agent.link == 2 and agent.connected
    assert h.state.metrics["master/slave_reregistrations"] == 1
    h.feed(ev.AgentDisconnected(1))  # the old link closing late changes nothing
    assert h.state.agents[aid].connected


def test_reregistration_after_master_failover_reconciles_tasks() -> None:
    """A new master learns the tasks from the agent: reported ones are kept, frameworks
    known only from the agent are recovered, a terminal task is remembered as ended."""
    h = Harness()
    h.feed(ev.RegistryRecovered(RegistrySnapshot(agents={"A1": {"hostname": "h"}})))
    assert h.state.recovered_agents == {"A1": {"hostname": "h"}}
    fi = framework_info(fid="F1")

    def agent_task(tid: str, state: str) -> amsg.AgentTask:
        info: TaskInfo = task(tid, "A1")
        return amsg.AgentTask(framework_id=ID("F1"), task=info, state=state)

    h.feed(
        register(
            1,
            agent_id="A1",
            frameworks=[fi],
            tasks=[agent_task("t1", "TASK_RUNNING"), agent_task("t2", "TASK_FINISHED")],
        )
    )
    assert h.state.recovered_agents == {}
    fw = h.state.frameworks["F1"]
    assert fw.recovered
    assert fw.tasks["t1"].state == "TASK_RUNNING"
    assert [t.task_id for t in fw.completed_tasks] == ["t2"]
    agent = h.state.agents["A1"]
    assert agent.used.scalar("cpus") == 1 and agent.available == agent.total - agent.used
    assert h.state.metrics["master/tasks_launched"] == 0
    # the framework re-subscribes and finds its task
    h.feed(subscribe("st1", framework_info(fid="F1")))
    assert not h.state.frameworks["F1"].recovered or h.state.frameworks["F1"].connected
    assert "t1" in h.state.frameworks["F1"].tasks


def test_task_not_reported_on_reregistration_is_lost() -> None:
    h = Harness()
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    h.feed(register(2, agent_id=aid))  # reports no tasks
    (u,) = h.updates("st1")
    assert u.state == "TASK_LOST" and u.reason == "REASON_AGENT_REREGISTERED"
    assert h.state.agents[aid].used.is_empty()


def test_unknown_framework_task_on_registration_is_killed() -> None:
    h = Harness()
    at = amsg.AgentTask(framework_id=ID("F9"), task=task("t", "A1"), state="TASK_RUNNING")
    h.feed(register(1, agent_id="A1", tasks=[at]))
    assert h.to_agent(1, amsg.KillTask)


def test_agents_missing_pings_are_removed_and_marked_unreachable() -> None:
    h = Harness(state=new_state(max_agent_ping_timeouts=2))
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    h.feed(ev.PingDue())
    assert h.to_agent(1, amsg.Ping)
    h.feed(ev.AgentMessages(1, [amsg.Pong()]))
    assert not h.state.agents[aid].pong_pending
    h.feed(ev.PingDue())
    h.feed(ev.PingDue())  # one missed
    assert aid in h.state.agents
    h.feed(ev.PingDue())  # two missed: removed
    assert aid not in h.state.agents
    assert h.state.unreachable_agents[aid] == h.now
    assert persisted(h.out) == [MarkUnreachable(aid, h.now)]
    (lost,) = h.updates("st1")
    assert lost.state == "TASK_LOST" and lost.reason == "REASON_AGENT_REMOVED"
    assert h.events("st1", "FAILURE")
    assert h.to_agent(1, amsg.ShutdownAgent)
    assert h.state.metrics["master/slave_removals"] == 1


def test_removed_agent_tasks_of_partition_aware_frameworks_become_unreachable() -> None:
    h = Harness(state=new_state(max_agent_ping_timeouts=1))
    fid = h.framework("st1", partition_aware=True)
    aid = h.agent(1)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)))
    h.feed(ev.AgentDisconnected(1))
    h.feed(ev.PingDue())
    (u,) = h.updates("st1")
    assert u.state == "TASK_UNREACHABLE"
    fw = h.state.frameworks[fid]
    assert "t1" in fw.unreachable_tasks and "t1" not in fw.tasks
    # it comes back: the task is known again
    at = amsg.AgentTask(framework_id=ID(fid), task=task("t1", aid), state="TASK_RUNNING")
    h.feed(register(2, agent_id=aid, tasks=[at]))
    assert aid not in h.state.unreachable_agents
    assert "t1" in fw.tasks and "t1" not in fw.unreachable_tasks


def test_returning_agent_tasks_of_other_frameworks_are_killed() -> None:
    h = Harness(state=new_state(max_agent_ping_timeouts=1))
    fid = h.framework("st1")
    aid = h.agent(1)
    h.feed(ev.AgentDisconnected(1))
    h.feed(ev.PingDue())
    at = amsg.AgentTask(framework_id=ID(fid), task=task("t1", aid), state="TASK_RUNNING")
    h.feed(register(2, agent_id=aid, tasks=[at]))
    assert h.to_agent(2, amsg.KillTask)


def test_recovered_agents_that_do_not_return_become_unreachable() -> None:
    h = Harness(state=new_state(agent_reregister_timeout=60))
    h.feed(ev.RegistryRecovered(RegistrySnapshot(agents={"A1": {}}, unreachable={"A0": 5.0})))
    assert h.state.unreachable_agents == {"A0": 5.0}
    h.feed(ev.Paused())
    h.advance(60)
    assert "A1" in h.state.recovered_agents  # waits while paused
    h.feed(ev.Resumed())
    h.advance(1)
    assert h.state.recovered_agents == {}
    assert h.state.unreachable_agents["A1"] == h.now
    assert persisted(h.out) == [MarkUnreachable("A1", h.now)]


def test_executor_exit_frees_it_and_reports_failure_for_custom_executors() -> None:
    from master_builders import executor

    h = Harness()
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    ex = executor("e1")
    ex.type = "CUSTOM"
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid, command=None, executor=ex)))
    h.update(1, fid, status("t1", "TASK_FINISHED"))
    h.feed(
        ev.AgentMessages(
            1, [amsg.ExecutorExited(framework_id=ID(fid), executor_id=ID("e1"), status=0)]
        )
    )
    assert h.state.frameworks[fid].executors == {}
    assert h.state.agents[aid].used.is_empty()
    assert h.events("st1", "FAILURE")


def test_sends_go_to_the_agents_current_link() -> None:
    h = Harness()
    aid = h.agent(1)
    h.feed(register(5, agent_id=aid))
    assert all(e.link == 5 for e in h.of(SendToAgent))
