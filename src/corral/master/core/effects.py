"""What the master core asks its shell to do. Effects are carried out in list order."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from corral.master.core.events import TimerEvent
from corral.wire import agent as amsg
from corral.wire import scheduler as s


@dataclass(frozen=True, slots=True)
class SendToFramework:
    stream_id: str
    event: s.Event


@dataclass(frozen=True, slots=True)
class CloseStream:
    stream_id: str


@dataclass(frozen=True, slots=True)
class SendToAgent:
    link: int
    message: amsg.MasterToAgent


@dataclass(frozen=True, slots=True)
class AdmitAgent:
    agent_id: str
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MarkUnreachable:
    agent_id: str
    when: float


RegistryOp = AdmitAgent | MarkUnreachable


@dataclass(frozen=True, slots=True)
class Persist:
    """Apply ``op`` to the registry, after every earlier Persist and off the event loop."""

    op: RegistryOp


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Deliver ``event`` at ``at`` (the clock ``now`` comes from); replaces a timer of ``key``."""

    key: Hashable
    at: float
    event: TimerEvent


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: Hashable


@dataclass(frozen=True, slots=True)
class AllocateSoon:
    """Feed ``AllocationDue`` after ``allocation_delay``."""


Effect = (
    SendToFramework | CloseStream | SendToAgent | Persist | SetTimer | CancelTimer | AllocateSoon
)
Effects = list[Effect]
