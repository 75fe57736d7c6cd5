"""The public framework SDK: an async driver over the v1 scheduler API, and offer matching."""

from corral.scheduler_client.driver import CallFailed, Scheduler, SchedulerDriver, new_task_id
from corral.scheduler_client.matching import command_task, fit_count

__all__ = [
    "CallFailed",
    "Scheduler",
    "SchedulerDriver",
    "command_task",
    "fit_count",
    "new_task_id",
]
