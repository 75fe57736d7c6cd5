"""Values, resources, attributes, labels and addresses (mesos.proto)."""

from __future__ import annotations

from typing import Any

from corral.wire.base import ID, Message


class Scalar(Message, kw_only=True):
    value: float


class Range(Message, kw_only=True):
    begin: int
    end: int


class Ranges(Message, kw_only=True):
    range: list[Range] = []


class ValueSet(Message, kw_only=True):
    item: list[str] = []


class Text(Message, kw_only=True):
    value: str


class ReservationInfo(Message, kw_only=True):
    type: str | None = None
    role: str | None = None
    principal: str | None = None
    labels: dict[str, Any] | None = None


class AllocationInfo(Message, kw_only=True):
    role: str | None = None


class Resource(Message, kw_only=True):
    name: str
    type: str = ""  # SCALAR | RANGES | SET; inferred from the payload when omitted
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    role: str | None = None
    allocation_info: AllocationInfo | None = None
    reservations: list[ReservationInfo] = []
    disk: dict[str, Any] | None = None
    revocable: dict[str, Any] | None = None
    shared: dict[str, Any] | None = None


class Attribute(Message, kw_only=True):
    name: str
    type: str
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    text: Text | None = None


class Label(Message, kw_only=True):
    key: str
    value: str | None = None


class Labels(Message, kw_only=True):
    labels: list[Label] = []


class Address(Message, kw_only=True):
    hostname: str | None = None
    ip: str | None = None
    port: int


class URL(Message, kw_only=True):
    scheme: str
    address: Address
    path: str | None = None


class DurationInfo(Message, kw_only=True):
    nanoseconds: int


class TimeInfo(Message, kw_only=True):
    nanoseconds: int


class Filters(Message, kw_only=True):
    refuse_seconds: float | None = None


class MasterInfo(Message, kw_only=True):
    id: str
    ip: int
    port: int = 5050
    pid: str | None = None
    hostname: str | None = None
    version: str | None = None
    address: Address | None = None
    capabilities: list[dict[str, Any]] = []


class Capability(Message, kw_only=True):
    type: str


class FrameworkInfo(Message, kw_only=True):
    user: str
    name: str
    id: ID | None = None
    failover_timeout: float = 0.0
    checkpoint: bool = False
    role: str | None = None
    roles: list[str] = []
    hostname: str | None = None
    principal: str | None = None
    webui_url: str | None = None
    capabilities: list[Capability] = []
    labels: Labels | None = None
    offer_filters: dict[str, Any] | None = None

    def capability_set(self) -> set[str]:
        return {c.type for c in self.capabilities}

    def role_list(self) -> list[str]:
        """The roles this framework subscribes with (MULTI_ROLE ``roles`` or legacy ``role``)."""
        if "MULTI_ROLE" in self.capability_set() and self.roles:
            return list(self.roles)
        return [self.role or "*"]


class AgentInfo(Message, kw_only=True):
    hostname: str
    port: int = 5051
    resources: list[Resource] = []
    attributes: list[Attribute] = []
    id: ID | None = None
