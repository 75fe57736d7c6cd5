"""Maintenance schedules in the master core (no I/O, a controlled clock): DRAINING machines
get inverse offers and offers with their unavailability, START_MAINTENANCE takes machines DOWN
(agents removed, tasks killed, refused while down), STOP_MAINTENANCE brings them UP, Mesos's
validation, and the registry's form of the schedule."""

from __future__ import annotations

import pytest
from master_builders import Harness, launch, persisted, register, status, task

from corral.coordination.interfaces import RegistrySnapshot
from corral.master.core import events as ev
from corral.master.core import machines as mx
from corral.master.core import schedules
from corral.master.core.effects import MarkUnreachable, SaveMaintenance
from corral.master.errors import CallError
from corral.wire import agent as amsg
from corral.wire import maintenance as wm
from corral.wire import scheduler as s
from corral.wire.base import ID
from corral.wire.common import DurationInfo, TimeInfo

HOUR_NS = 3600 * 10**9


def machine(hostname: str | None = None, ip: str | None = None) -> wm.MachineID:
    return wm.MachineID(hostname=hostname, ip=ip)


def window(*machines: wm.MachineID, start: int = 2000, hours: int | None = 1) -> wm.Window:
    return wm.Window(
        machine_ids=list(machines),
        unavailability=s.Unavailability(
            start=TimeInfo(nanoseconds=start * 10**9),
            duration=None if hours is None else DurationInfo(nanoseconds=hours * HOUR_NS),
        ),
    )


def schedule(h: Harness, *windows: wm.Window) -> None:
    h.feed(
        ev.MachineMaintenance(
            "UPDATE_MAINTENANCE_SCHEDULE", schedule=wm.Schedule(windows=list(windows))
        )
    )


def machines_call(h: Harness, kind: str, *ms: wm.MachineID) -> None:
    h.feed(ev.MachineMaintenance(kind, machines=tuple(ms)))


def running(h: Harness, hostname: str = "h1") -> tuple[str, str]:
    fid = h.framework()
    aid = h.agent(hostname=hostname)
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)), refuse=0)
    h.update(1, fid, status("t1", "TASK_RUNNING", agent_id=aid))
    return fid, aid


def test_a_scheduled_machine_drains_with_inverse_offers_and_unavailable_offers() -> None:
    h = Harness()
    fid, aid = running(h)
    schedule(h, window(machine("H1", "127.0.0.1")))
    (event,) = h.events("st1", "OFFERS")
    assert event.offers is not None
    (inverse,) = event.offers.inverse_offers
    assert inverse.agent_id == ID(aid)
    assert inverse.unavailability.start.nanoseconds == 2000 * 10**9
    assert inverse.unavailability.duration == DurationInfo(nanoseconds=HOUR_NS)
    (op,) = persisted(h.out)
    assert isinstance(op, SaveMaintenance) and op.data["windows"][0]["machines"] == [
        ["h1", "127.0.0.1"]
    ]
    (offer,) = h.allocate()  # the agent's remaining resources carry the window
    assert offer.unavailability is not None
    assert offer.unavailability.start.nanoseconds == 2000 * 10**9
    assert h.events("st1", "OFFERS")[0].offers.inverse_offers == []  # type: ignore[union-attr]
    st = schedules.status(h.state)
    (draining,) = st.draining_machines
    assert draining.id == machine("h1", "127.0.0.1")
    assert [(x.status, x.framework_id.value) for x in draining.statuses] == [("UNKNOWN", fid)]
    h.now += 5
    h.call(
        fid,
        "st1",
        "ACCEPT_INVERSE_OFFERS",
        accept_inverse_offers=s.InverseOffers(inverse_offer_ids=[inverse.id]),
    )
    (answer,) = schedules.status(h.state).draining_machines[0].statuses
    assert answer.status == "ACCEPT" and answer.timestamp.nanoseconds == int(h.now * 1e9)
    assert h.state.agents[aid].tasks  # accepting does not kill: START_MAINTENANCE does


def test_an_agent_off_the_schedule_is_offered_without_unavailability() -> None:
    h = Harness()
    h.framework()
    h.agent(hostname="other")
    schedule(h, window(machine("h1")))
    (offer,) = h.allocate()
    assert offer.unavailability is None
    assert schedules.status(h.state).draining_machines[0].statuses == []


def test_changing_the_window_rescinds_offers_and_inverse_offers() -> None:
    h = Harness()
    running(h)
    schedule(h, window(machine("h1")))
    (first,) = h.events("st1", "OFFERS")[0].offers.inverse_offers  # type: ignore[union-attr]
    h.allocate()
    assert h.state.offers
    schedule(h, window(machine("h1"), start=5000))
    assert h.events("st1", "RESCIND") and h.events("st1", "RESCIND_INVERSE_OFFER")
    (second,) = h.events("st1", "OFFERS")[0].offers.inverse_offers  # type: ignore[union-attr]
    assert second.id != first.id and second.unavailability.start.nanoseconds == 5000 * 10**9
    schedule(h)  # an empty schedule: the machine is UP, no unavailability any more
    assert h.events("st1", "RESCIND_INVERSE_OFFER")
    assert schedules.status(h.state).draining_machines == []
    (offer,) = h.allocate()
    assert offer.unavailability is None


def test_start_maintenance_takes_the_machine_down_and_stop_brings_it_up() -> None:
    h = Harness()
    _, aid = running(h)
    schedule(h, window(machine("h1")))
    h.now += 10
    machines_call(h, "START_MAINTENANCE", machine("h1"))
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.task_id == ID("t1")
    assert h.to_agent(1, amsg.ShutdownAgent)
    assert aid not in h.state.agents
    (update,) = h.updates("st1")
    assert update.state == "TASK_LOST" and update.reason == "REASON_AGENT_REMOVED_BY_OPERATOR"
    st = schedules.status(h.state)
    assert st.draining_machines == [] and st.down_machines == [machine("h1")]
    ops = persisted(h.out)
    assert isinstance(ops[0], MarkUnreachable) and ops[0].agent_id == aid
    assert isinstance(ops[-1], SaveMaintenance)
    # While DOWN, the agent is refused (by id or as a new one).
    h.feed(register(2, agent_id=aid, hostname="h1"))
    assert h.to_agent(2, amsg.ShutdownAgent) and not h.to_agent(2, amsg.Registered)
    h.feed(register(3, hostname="H1"))
    assert h.to_agent(3, amsg.ShutdownAgent)
    machines_call(h, "STOP_MAINTENANCE", machine("h1"))
    assert h.state.maintenance.windows == [] and h.state.maintenance.down == {}
    h.feed(register(4, agent_id=aid, hostname="h1"))
    assert h.to_agent(4, amsg.Registered)


def test_stop_keeps_the_other_machines_of_the_window() -> None:
    h = Harness()
    schedule(h, window(machine("a"), machine("b")))
    machines_call(h, "START_MAINTENANCE", machine("a"))
    machines_call(h, "STOP_MAINTENANCE", machine("a"))
    (w,) = h.state.maintenance.windows
    assert w.machines == (mx.Machine("b"),)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([window(machine("a")), window(machine("a"))], "machine a is already in window 0"),
        ([window(machine("a"), machine("a"))], "machine a is already in window 0"),
        ([window()], "'update_maintenance_schedule.schedule.windows[0].machine_ids' is empty"),
        ([window(machine())], "neither 'hostname' nor 'ip' is given"),
        ([window(machine(ip="300.1.1.1"))], "machine_ids[0].ip': '300.1.1.1' is not an IP"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_problem(
    windows: list[wm.Window], message: str
) -> None:
    h = Harness()
    schedule(h, window(machine("z")))
    with pytest.raises(CallError) as err:
        schedule(h, *windows)
    assert err.value.status == 400 and message in err.value.message
    assert [w.machines for w in h.state.maintenance.windows] == [(mx.Machine("z"),)]


def test_a_negative_duration_is_refused() -> None:
    h = Harness()
    w = window(machine("a"))
    w.unavailability.duration = DurationInfo(nanoseconds=-1)
    with pytest.raises(CallError, match="duration' must not be negative"):
        schedule(h, w)


def test_start_and_stop_are_checked() -> None:
    h = Harness()
    schedule(h, window(machine("a")))
    with pytest.raises(CallError, match="machine b is not part of a maintenance schedule"):
        machines_call(h, "START_MAINTENANCE", machine("b"))
    with pytest.raises(CallError, match=r"'start_maintenance\.machines' is empty"):
        machines_call(h, "START_MAINTENANCE")
    with pytest.raises(CallError, match="machine a is not DOWN and cannot be brought up"):
        machines_call(h, "STOP_MAINTENANCE", machine("a"))
    machines_call(h, "START_MAINTENANCE", machine("a"))
    with pytest.raises(CallError, match="not DRAINING"):
        machines_call(h, "START_MAINTENANCE", machine("a"))
    with pytest.raises(CallError, match="machine a is DOWN and cannot be removed"):
        schedule(h, window(machine("b")))


def test_the_schedule_survives_a_failover_through_the_registry() -> None:
    h = Harness()
    schedule(h, window(machine("a", "10.0.0.1"), hours=None), window(machine("b")))
    machines_call(h, "START_MAINTENANCE", machine("b"))
    data = h.state.maintenance.to_registry()
    h2 = Harness()
    h2.feed(ev.RegistryRecovered(RegistrySnapshot(maintenance=data)))
    assert h2.state.maintenance.schedule_wire() == h.state.maintenance.schedule_wire()
    assert schedules.status(h2.state) == schedules.status(h.state)
    assert h2.state.maintenance.windows[0].duration_ns is None


def test_a_drain_called_off_keeps_the_schedules_inverse_offer_and_its_answer() -> None:
    h = Harness()
    fid, aid = running(h)
    schedule(h, window(machine("H1", "127.0.0.1")))
    (event,) = h.events("st1", "OFFERS")
    (inverse,) = event.offers.inverse_offers  # type: ignore[union-attr]
    h.call(
        fid,
        "st1",
        "ACCEPT_INVERSE_OFFERS",
        accept_inverse_offers=s.InverseOffers(inverse_offer_ids=[inverse.id]),
    )
    h.feed(ev.AgentMaintenance("DRAIN_AGENT", aid))
    h.feed(ev.AgentMaintenance("REACTIVATE_AGENT", aid))  # the drain's own offers go back
    (answer,) = schedules.status(h.state).draining_machines[0].statuses
    assert answer.status == "ACCEPT"
    assert inverse.id.value in h.state.inverse_offers
