"""Preemption beside the other parts of the master core: an asker removed during the notice,
machines scheduled for maintenance, and quota limits."""

from __future__ import annotations

from master_builders import Harness
from test_master_core_preemption import ask, full_cluster
from test_master_core_quota import config, set_quota
from test_master_core_schedules import machine, schedule, window

from corral.master.core.preemption_records import CANCELLED, LAPSED
from corral.wire import agent as amsg


def test_an_asker_removed_during_the_notice_calls_it_off() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    ask(h, high, "st2")
    (rec,) = h.state.preemptions.records.values()
    h.call(high, "st2", "TEARDOWN")
    assert rec.state == CANCELLED and rec.hold == LAPSED
    assert h.state.preemptions.victims == {}
    assert h.events("st1", "RESCIND_INVERSE_OFFER")  # the victim's framework is told
    h.advance(30.0)  # past the notice: nobody is killed for a framework that is gone
    assert h.to_agent(1, amsg.KillTask) == []


def test_nothing_is_preempted_on_a_machine_scheduled_for_maintenance() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    schedule(h, window(machine(hostname="h")))
    ask(h, high, "st2")
    assert not h.state.preemptions.records


def test_a_role_at_its_quota_limit_preempts_nothing() -> None:
    h = Harness()
    _low, high, _aid = full_cluster(h)
    set_quota(h, config("*", cpus=2))
    ask(h, high, "st2")  # 1 cpu more in role "*", which holds its limit of 2 already
    assert not h.state.preemptions.records
