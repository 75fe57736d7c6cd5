"""The master core: subscription, re-subscription, failover timeouts, pause, teardown."""

from __future__ import annotations

import pytest
from master_builders import Harness, closed, framework_info, subscribe

from corral.master.core import events as ev
from corral.master.core.effects import CancelTimer, CloseStream, SetTimer
from corral.master.errors import CallError
from corral.wire import agent as amsg


def test_subscribe_assigns_an_id_and_answers_on_the_stream() -> None:
    h = Harness()
    fid = h.framework("st1")
    assert fid == "M-0000"
    fw = h.state.frameworks[fid]
    assert fw.connected and fw.active and fw.stream_id == "st1"
    assert h.state.streams == {"st1": fid}
    assert h.allocation_asked


def test_resubscribe_on_a_new_stream_fails_the_old_one_over() -> None:
    h = Harness()
    fid = h.framework("st1", failover_timeout=60)
    agent_link = 7
    h.agent(agent_link)
    h.feed(subscribe("st2", framework_info(fid=fid, failover_timeout=60)))
    (err,) = h.events("st1", "ERROR")
    assert err.error is not None and err.error.message == "Framework failed over"
    assert closed(h.out) == ["st1"]
    assert h.events("st2", "SUBSCRIBED")
    # agents are told to resend the updates held for it
    assert h.to_agent(agent_link, amsg.FrameworkSubscribed)
    # the old stream ending later changes nothing
    h.feed(ev.StreamClosed("st1"))
    assert h.state.frameworks[fid].connected
    assert not h.of(SetTimer)


def test_resubscribe_within_failover_timeout_keeps_the_framework() -> None:
    h = Harness()
    fid = h.framework("st1", failover_timeout=30)
    h.feed(ev.StreamClosed("st1"))
    fw = h.state.frameworks[fid]
    assert not fw.connected and fw.unregistered_time == h.now
    (timer,) = h.of(SetTimer)
    assert timer.at == h.now + 30 and timer.event == ev.FailoverTimeout(fid)
    h.advance(20)
    h.feed(subscribe("st2", framework_info(fid=fid, failover_timeout=30)))
    assert any(isinstance(e, CancelTimer) for e in h.out)
    assert h.state.frameworks[fid].connected
    h.advance(20)  # the cancelled timer never fires
    assert fid in h.state.frameworks


def test_failover_timeout_expiry_removes_the_framework() -> None:
    h = Harness()
    fid = h.framework("st1", failover_timeout=5)
    h.feed(ev.StreamClosed("st1"))
    h.advance(5)
    assert fid not in h.state.frameworks
    assert fid in h.state.removed_framework_ids
    assert h.state.completed_frameworks[-1].id == fid
    # a removed framework may not come back
    h.feed(subscribe("st3", framework_info(fid=fid)))
    (err,) = h.events("st3", "ERROR")
    assert err.error is not None and err.error.message == "Framework has been removed"
    assert closed(h.out) == ["st3"]
    assert "st3" not in h.state.streams


def test_failover_timer_firing_while_paused_is_rearmed() -> None:
    h = Harness()
    fid = h.framework("st1", failover_timeout=5)
    h.feed(ev.StreamClosed("st1"))
    h.feed(ev.Paused())
    h.advance(5)
    assert fid in h.state.frameworks
    assert h.timers[("failover", fid)].at == h.now + 1.0
    h.feed(ev.Resumed())
    h.advance(1)
    assert fid not in h.state.frameworks


def test_calls_need_the_current_stream_id() -> None:
    h = Harness()
    fid = h.framework("st1")
    with pytest.raises(CallError) as e:
        h.call(fid, None, "REVIVE")
    assert e.value.status == 400 and "Mesos-Stream-Id" in e.value.message
    with pytest.raises(CallError) as e:
        h.call(fid, "other", "REVIVE")
    assert "didn't match" in e.value.message
    with pytest.raises(CallError) as e:
        h.call("nope", "st1", "REVIVE")
    assert e.value.message == "Framework cannot be found"
    h.feed(ev.StreamClosed("st1"))
    with pytest.raises(CallError) as e:
        h.call(fid, "st1", "REVIVE")
    assert e.value.status == 403


def test_teardown_closes_the_stream_and_removes_the_framework() -> None:
    h = Harness()
    fid = h.framework("st1")
    h.call(fid, "st1", "TEARDOWN")
    assert fid not in h.state.frameworks
    assert any(isinstance(e, CloseStream) and e.stream_id == "st1" for e in h.out)


def test_suppress_and_revive_name_only_subscribed_roles() -> None:
    from corral.wire import scheduler as s

    h = Harness()
    fid = h.framework("st1", roles=["a", "b"])
    with pytest.raises(CallError) as e:
        h.call(fid, "st1", "SUPPRESS", suppress=s.Roles(roles=["c"]))
    assert "'suppress.roles'" in e.value.message
    assert h.state.frameworks[fid].suppressed_roles == set()
    h.call(fid, "st1", "SUPPRESS", suppress=s.Roles(roles=["a"]))
    assert h.state.frameworks[fid].suppressed_roles == {"a"}
    h.call(fid, "st1", "REVIVE")
    assert h.state.frameworks[fid].suppressed_roles == set()


def test_calls_while_paused_are_refused_and_change_nothing() -> None:
    h = Harness()
    fid = h.framework("st1")
    h.feed(ev.Paused())
    with pytest.raises(CallError) as e:
        h.call(fid, "st1", "TEARDOWN")
    assert e.value.status == 503
    assert fid in h.state.frameworks
