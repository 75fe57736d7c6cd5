"""Priorities and preemption on the wire: the task labels that carry a tier and a priority,
corral's extension of the scheduler API's REQUEST call (what a framework cannot place), the
extension of an inverse offer that names the tasks to give up, and the
``GET /master/preemptions`` view. See docs/preemption.md."""

from __future__ import annotations

from corral.wire.base import ID, Message, View
from corral.wire.common import Labels, Resource

TIER_LABEL = "corral.tier"
PRIORITY_LABEL = "corral.priority"
PREFERRED = "preferred"
PREEMPTIBLE = "preemptible"
TIERS = (PREFERRED, PREEMPTIBLE)
DEFAULT_TIER = PREFERRED
DEFAULT_PRIORITY = 0
REASON_PREEMPTED = "REASON_CONTAINER_PREEMPTED"


def check_tier(value: str, field_name: str) -> str:
    """``value`` as a tier; ValueError naming ``field_name`` if it is not one."""
    if value not in TIERS:
        raise ValueError(f"{field_name}: {value!r} is not a tier (one of {', '.join(TIERS)})")
    return value


def parse_priority(value: str, field_name: str) -> int:
    """``value`` (a label's text) as a priority; ValueError naming ``field_name``."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{field_name}: {value!r} is not a whole number") from None


def tier_and_priority(labels: Labels | None, where: str = "labels") -> tuple[str, int]:
    """A task's tier and priority from its labels (defaults: preferred, 0). A bad value is
    a ValueError naming the label, e.g. ``labels.corral.priority: 'high' is not ...``."""
    tier, priority = DEFAULT_TIER, DEFAULT_PRIORITY
    for label in labels.labels if labels is not None else ():
        if label.key == TIER_LABEL:
            tier = check_tier((label.value or "").strip(), f"{where}.{TIER_LABEL}")
        elif label.key == PRIORITY_LABEL:
            priority = parse_priority(label.value or "", f"{where}.{PRIORITY_LABEL}")
    return tier, priority


# ---------------------------------------------------------------- the REQUEST call
class Demand(Message, kw_only=True):
    """corral's extension of a Mesos ``Request``: what the resources are for. Without it
    a REQUEST is accepted and ignored, as Mesos's built-in allocator does."""

    priority: int = DEFAULT_PRIORITY
    tier: str = DEFAULT_TIER
    role: str | None = None  # default: the framework's first role
    # The framework's name for what it asks for (e.g. ``web/0``): a repeat of a key whose
    # earlier request is still being served is ignored, so a framework may ask again freely.
    key: str | None = None
    name: str | None = None  # what it is for, in the preemption's reason (e.g. the task name)


class ResourceRequest(Message, kw_only=True):
    """Mesos's ``Request``: resources wanted, optionally on one agent."""

    agent_id: ID | None = None
    resources: list[Resource] = []
    corral: Demand | None = None


class Request(Message, kw_only=True):
    requests: list[ResourceRequest] = []


# ---------------------------------------------------------------- the inverse offer
class Notice(Message, kw_only=True):
    """In an inverse offer (field ``preemption``): the tasks the master takes back, and why.
    The inverse offer's ``resources`` are theirs; its ``unavailability.start`` is when the
    master kills what is left of them itself."""

    id: str
    task_ids: list[ID] = []
    reason: str = ""


# ---------------------------------------------------------------- GET /master/preemptions
class VictimView(View, kw_only=True):
    task_id: str
    framework_id: str
    role: str
    tier: str
    priority: int
    resources: dict[str, float | str]
    state: str  # its task's latest state
    reason: str  # "task X (priority 0, preemptible) preempted for framework F's task Y ..."


class PreemptionView(View, kw_only=True):
    id: str
    time: float  # seconds since the epoch, when it was decided
    framework_id: str  # who asked
    framework_name: str
    key: str | None
    name: str | None
    role: str
    tier: str
    priority: int
    agent_id: str
    hostname: str
    resources: dict[str, float | str]  # what was asked for
    kill_at: float  # the notice ends: the master kills what is left
    state: str  # NOTIFIED (notice running), KILLING (killed by the master), DONE
    hold: str  # HELD (freed resources kept for the asker), OFFERED, LAPSED
    victims: list[VictimView] = []


class PreemptionsView(View, kw_only=True):
    preemptions: list[PreemptionView] = []
