"""Scheduler API calls and events (mesos/v1/scheduler/scheduler.proto)."""

from __future__ import annotations

from typing import Any

from corral.wire.base import ID, Message
from corral.wire.common import (
    DurationInfo,
    Filters,
    FrameworkInfo,
    MasterInfo,
    Resource,
    TimeInfo,
)
from corral.wire.preemption import Notice, Request
from corral.wire.tasks import ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus

CALL_TYPES = (
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "REVIVE",
    "SUPPRESS",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "ACKNOWLEDGE_OPERATION_STATUS",
    "RECONCILE",
    "RECONCILE_OPERATIONS",
    "MESSAGE",
    "REQUEST",
    "UPDATE_FRAMEWORK",
)


class Subscribe(Message, kw_only=True):
    framework_info: FrameworkInfo
    suppressed_roles: list[str] = []
    force: bool | None = None


class Launch(Message, kw_only=True):
    task_infos: list[TaskInfo] = []


class LaunchGroup(Message, kw_only=True):
    executor: ExecutorInfo
    task_group: TaskGroupInfo


class Operation(Message, kw_only=True):
    type: str
    id: ID | None = None
    launch: Launch | None = None
    launch_group: LaunchGroup | None = None


class Accept(Message, kw_only=True):
    offer_ids: list[ID] = []
    operations: list[Operation] = []
    filters: Filters | None = None


class Decline(Message, kw_only=True):
    offer_ids: list[ID] = []
    filters: Filters | None = None


class InverseOffers(Message, kw_only=True):
    inverse_offer_ids: list[ID] = []
    filters: Filters | None = None


class Roles(Message, kw_only=True):
    roles: list[str] = []


class Kill(Message, kw_only=True):
    task_id: ID
    agent_id: ID | None = None
    kill_policy: KillPolicy | None = None


class Shutdown(Message, kw_only=True):
    executor_id: ID
    agent_id: ID


class Acknowledge(Message, kw_only=True):
    agent_id: ID
    task_id: ID
    uuid: bytes


class ReconcileTask(Message, kw_only=True):
    task_id: ID
    agent_id: ID | None = None


class Reconcile(Message, kw_only=True):
    tasks: list[ReconcileTask] = []


class SchedulerMessage(Message, kw_only=True):
    agent_id: ID
    executor_id: ID
    data: bytes


class UpdateFramework(Message, kw_only=True):
    framework_info: FrameworkInfo
    suppressed_roles: list[str] = []


class Call(Message, kw_only=True):
    type: str
    framework_id: ID | None = None
    subscribe: Subscribe | None = None
    accept: Accept | None = None
    decline: Decline | None = None
    accept_inverse_offers: InverseOffers | None = None
    decline_inverse_offers: InverseOffers | None = None
    revive: Roles | None = None
    suppress: Roles | None = None
    kill: Kill | None = None
    shutdown: Shutdown | None = None
    acknowledge: Acknowledge | None = None
    acknowledge_operation_status: dict[str, Any] | None = None
    reconcile: Reconcile | None = None
    reconcile_operations: dict[str, Any] | None = None
    message: SchedulerMessage | None = None
    request: Request | None = None  # Mesos's Request, with corral's ``corral`` extension
    update_framework: UpdateFramework | None = None


# ----------------------------------------------------------------------------- events


class Offer(Message, kw_only=True):
    id: ID
    framework_id: ID
    agent_id: ID
    hostname: str
    url: dict[str, Any] | None = None
    resources: list[Resource] = []
    attributes: list[Any] = []
    executor_ids: list[ID] = []
    allocation_info: dict[str, Any] | None = None
    unavailability: Unavailability | None = None  # its machine is in a maintenance window


class Subscribed(Message, kw_only=True):
    framework_id: ID
    heartbeat_interval_seconds: float = 15.0
    master_info: MasterInfo | None = None


class Unavailability(Message, kw_only=True):
    """When a machine goes away: from ``start``, for ``duration`` (none: indefinitely)."""

    start: TimeInfo
    duration: DurationInfo | None = None


class InverseOffer(Message, kw_only=True):
    """The master asks for an agent back (it is being drained or goes into maintenance):
    the framework should move what it runs there, then ACCEPT_INVERSE_OFFERS."""

    id: ID
    framework_id: ID
    agent_id: ID | None = None
    url: dict[str, Any] | None = None
    unavailability: Unavailability
    resources: list[Resource] = []
    preemption: Notice | None = None  # corral: the tasks taken back (docs/preemption.md)


class Offers(Message, kw_only=True):
    offers: list[Offer] = []
    inverse_offers: list[InverseOffer] = []


class RescindInverseOffer(Message, kw_only=True):
    inverse_offer_id: ID


class Rescind(Message, kw_only=True):
    offer_id: ID


class Update(Message, kw_only=True):
    status: TaskStatus


class EventMessage(Message, kw_only=True):
    agent_id: ID
    executor_id: ID
    data: bytes


class Failure(Message, kw_only=True):
    agent_id: ID | None = None
    executor_id: ID | None = None
    status: int | None = None


class Error(Message, kw_only=True):
    message: str


class Event(Message, kw_only=True):
    type: str
    subscribed: Subscribed | None = None
    offers: Offers | None = None
    rescind: Rescind | None = None
    rescind_inverse_offer: RescindInverseOffer | None = None
    update: Update | None = None
    message: EventMessage | None = None
    failure: Failure | None = None
    error: Error | None = None
