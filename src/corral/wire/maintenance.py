"""Maintenance schedules on the wire (``mesos/v1/maintenance/maintenance.proto`` and the
master calls that carry them): machines, windows of unavailability, the schedule, the
cluster's maintenance status, and the payloads of UPDATE_MAINTENANCE_SCHEDULE,
START_MAINTENANCE / STOP_MAINTENANCE. The same JSON is the body of the legacy
``/maintenance/schedule``, ``/maintenance/status`` and ``/machine/down|up`` routes."""

from __future__ import annotations

from corral.wire.base import ID, Message
from corral.wire.common import TimeInfo
from corral.wire.scheduler import Unavailability


class MachineID(Message, kw_only=True):
    """A machine: its hostname, its IP, or both (what an agent on it reports)."""

    hostname: str | None = None
    ip: str | None = None


class Window(Message, kw_only=True):
    """Machines that go away together: from ``unavailability.start`` for its duration."""

    machine_ids: list[MachineID] = []
    unavailability: Unavailability


class Schedule(Message, kw_only=True):
    windows: list[Window] = []


class UpdateMaintenanceSchedule(Message, kw_only=True):
    schedule: Schedule


class Machines(Message, kw_only=True):
    """The payload of START_MAINTENANCE and STOP_MAINTENANCE."""

    machines: list[MachineID] = []


class InverseOfferStatus(Message, kw_only=True):
    """A framework's last answer to the inverse offers for a draining machine."""

    status: str  # UNKNOWN | ACCEPT | DECLINE
    framework_id: ID
    timestamp: TimeInfo


class DrainingMachine(Message, kw_only=True):
    id: MachineID
    statuses: list[InverseOfferStatus] = []


class ClusterStatus(Message, kw_only=True):
    draining_machines: list[DrainingMachine] = []
    down_machines: list[MachineID] = []


class GetMaintenanceStatus(Message, kw_only=True):
    status: ClusterStatus


class GetMaintenanceSchedule(Message, kw_only=True):
    schedule: Schedule


class MaintenanceResponse(Message, kw_only=True):
    """``master::Response`` of GET_MAINTENANCE_SCHEDULE and GET_MAINTENANCE_STATUS."""

    type: str
    get_maintenance_schedule: GetMaintenanceSchedule | None = None
    get_maintenance_status: GetMaintenanceStatus | None = None
