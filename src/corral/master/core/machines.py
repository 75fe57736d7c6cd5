"""Maintenance schedules as plain data (pure): machines, windows of unavailability, which
machines are DOWN, and the checks Mesos makes of a schedule and of START / STOP_MAINTENANCE.

A machine is a hostname, an IP, or both (Mesos's ``MachineID``); an agent is on a machine when
every part the machine names matches the agent's (hostname case-insensitively, the IP of its
address exactly). A machine in the schedule is DRAINING until START_MAINTENANCE makes it DOWN;
STOP_MAINTENANCE brings it UP and takes it out of the schedule."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from corral.master.errors import CallError
from corral.wire import maintenance as wm
from corral.wire.common import DurationInfo, TimeInfo
from corral.wire.scheduler import Unavailability


@dataclass(frozen=True, slots=True)
class Machine:
    hostname: str = ""  # lower-cased; "" when not given
    ip: str = ""

    def label(self) -> str:
        if self.hostname and self.ip:
            return f"{self.hostname} ({self.ip})"
        return self.hostname or self.ip

    def matches(self, hostname: str, ip: str) -> bool:
        return (not self.hostname or self.hostname == hostname.lower()) and (
            not self.ip or self.ip == ip
        )

    def to_wire(self) -> wm.MachineID:
        return wm.MachineID(hostname=self.hostname or None, ip=self.ip or None)


@dataclass(frozen=True, slots=True)
class Window:
    machines: tuple[Machine, ...]
    start_ns: int
    duration_ns: int | None = None

    def unavailability(self) -> Unavailability:
        return Unavailability(
            start=TimeInfo(nanoseconds=self.start_ns),
            duration=None
            if self.duration_ns is None
            else DurationInfo(nanoseconds=self.duration_ns),
        )


@dataclass
class Maintenance:
    """The schedule (its windows, in the operator's order) and the machines now DOWN."""

    windows: list[Window] = field(default_factory=list)
    down: dict[Machine, float] = field(default_factory=dict)  # machine -> DOWN since (now)
    inverse_offers: dict[str, float] = field(default_factory=dict)  # the schedule's: id -> sent

    def scheduled(self) -> dict[Machine, Window]:
        return {m: w for w in self.windows for m in w.machines}

    def window_for(self, hostname: str, ip: str) -> tuple[Machine, Window] | None:
        """The scheduled machine an agent at ``hostname``/``ip`` is on, and its window."""
        for w in self.windows:
            for m in w.machines:
                if m.matches(hostname, ip):
                    return m, w
        return None

    def unavailability(self, hostname: str, ip: str) -> Unavailability | None:
        """What an offer of an agent at ``hostname``/``ip`` carries while it is DRAINING."""
        if not self.windows:
            return None
        found = self.window_for(hostname, ip)
        return None if found is None else found[1].unavailability()

    def down_machine(self, hostname: str, ip: str) -> Machine | None:
        for m in self.down:
            if m.matches(hostname, ip):
                return m
        return None

    def draining(self) -> list[Machine]:
        return [m for w in self.windows for m in w.machines if m not in self.down]

    def schedule_wire(self) -> wm.Schedule:
        return wm.Schedule(
            windows=[
                wm.Window(
                    machine_ids=[m.to_wire() for m in w.machines],
                    unavailability=w.unavailability(),
                )
                for w in self.windows
            ]
        )

    # ------------------------------------------------------------------ the registry's form
    def to_registry(self) -> dict[str, Any]:
        return {
            "windows": [
                {
                    "machines": [[m.hostname, m.ip] for m in w.machines],
                    "start_ns": w.start_ns,
                    "duration_ns": w.duration_ns,
                }
                for w in self.windows
            ],
            "down": [[m.hostname, m.ip, since] for m, since in self.down.items()],
        }


def from_registry(data: dict[str, Any] | None) -> Maintenance:
    out = Maintenance()
    if not data:
        return out
    for w in data.get("windows", []):
        machines = tuple(Machine(str(h), str(i)) for h, i in w.get("machines", []))
        duration = w.get("duration_ns")
        out.windows.append(
            Window(machines, int(w.get("start_ns", 0)), None if duration is None else int(duration))
        )
    for h, i, since in data.get("down", []):
        out.down[Machine(str(h), str(i))] = float(since)
    return out


# ---------------------------------------------------------------------- checks
def machine_from_wire(mid: wm.MachineID, where: str) -> Machine:
    """A machine named in a call; CallError(400) naming the field if it is not one."""
    hostname = (mid.hostname or "").strip().lower()
    ip = (mid.ip or "").strip()
    if not hostname and not ip:
        raise CallError(400, f"'{where}': neither 'hostname' nor 'ip' is given")
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise CallError(400, f"'{where}.ip': {mid.ip!r} is not an IP address") from None
    return Machine(hostname, ip)


def windows_from_wire(schedule: wm.Schedule, current: Maintenance, where: str) -> list[Window]:
    """Check a new schedule as Mesos does: every window names at least one machine, no machine
    is in two windows (or twice in one), durations are not negative, and no DOWN machine is
    left out (bring it UP first)."""
    seen: dict[Machine, str] = {}
    windows: list[Window] = []
    for i, w in enumerate(schedule.windows):
        at = f"{where}.windows[{i}]"
        if not w.machine_ids:
            raise CallError(400, f"'{at}.machine_ids' is empty: a window names its machines")
        machines: list[Machine] = []
        for j, mid in enumerate(w.machine_ids):
            m = machine_from_wire(mid, f"{at}.machine_ids[{j}]")
            if m in seen:
                raise CallError(
                    400,
                    f"'{at}.machine_ids[{j}]': machine {m.label()} is already in {seen[m]}; "
                    "a machine may be in one window only",
                )
            seen[m] = f"window {i}"
            machines.append(m)
        u = w.unavailability
        duration = None if u.duration is None else u.duration.nanoseconds
        if duration is not None and duration < 0:
            raise CallError(400, f"'{at}.unavailability.duration' must not be negative")
        windows.append(Window(tuple(machines), u.start.nanoseconds, duration))
    for m in current.down:
        if m not in seen:
            raise CallError(
                400,
                f"machine {m.label()} is DOWN and cannot be removed from the schedule "
                "(STOP_MAINTENANCE brings it up first)",
            )
    return windows


def machines_from_wire(
    machines: list[wm.MachineID], current: Maintenance, where: str, *, starting: bool
) -> list[Machine]:
    """The machines of START_MAINTENANCE (each DRAINING: in the schedule, not DOWN) or of
    STOP_MAINTENANCE (each DOWN)."""
    if not machines:
        raise CallError(400, f"'{where}.machines' is empty")
    scheduled = current.scheduled()
    out: list[Machine] = []
    for j, mid in enumerate(machines):
        at = f"{where}.machines[{j}]"
        m = machine_from_wire(mid, at)
        if m in out:
            raise CallError(400, f"'{at}': machine {m.label()} is listed twice")
        if starting:
            if m not in scheduled:
                raise CallError(
                    400, f"'{at}': machine {m.label()} is not part of a maintenance schedule"
                )
            if m in current.down:
                raise CallError(
                    400, f"'{at}': machine {m.label()} is not DRAINING (it is already DOWN)"
                )
        elif m not in current.down:
            raise CallError(
                400, f"'{at}': machine {m.label()} is not DOWN and cannot be brought up"
            )
        out.append(m)
    return out
