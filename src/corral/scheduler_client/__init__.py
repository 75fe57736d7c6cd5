"""The public framework SDK: an async driver over the v1 scheduler API, and the framework
toolkit built on it (store, election, task tracker, placement, planner, fake master)."""

from corral.scheduler_client.driver import (
    CallbackErrors,
    CallbackFailed,
    CallFailed,
    Fenced,
    Scheduler,
    SchedulerDriver,
    new_task_id,
)
from corral.scheduler_client.matching import command_task, fit_count
from corral.scheduler_client.placement import Constraint, Placement, TaskSpec, place
from corral.scheduler_client.planner import Goal, Plan, plan
from corral.scheduler_client.store import Store, open_state
from corral.scheduler_client.toolkit import Framework, FrameworkCore, Runner, run_framework
from corral.scheduler_client.tracker import TrackedTask, Tracker, Unknown

__all__ = [
    "CallFailed",
    "CallbackErrors",
    "CallbackFailed",
    "Constraint",
    "Fenced",
    "Framework",
    "FrameworkCore",
    "Goal",
    "Placement",
    "Plan",
    "Runner",
    "Scheduler",
    "SchedulerDriver",
    "Store",
    "TaskSpec",
    "TrackedTask",
    "Tracker",
    "Unknown",
    "command_task",
    "fit_count",
    "new_task_id",
    "open_state",
    "place",
    "plan",
    "run_framework",
]
