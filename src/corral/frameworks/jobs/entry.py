"""A job as the jobs core indexes it: its definition, parsed schedule, durable counters,
next due instant, and the results kept in memory for listing and dependencies."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from corral.frameworks.jobs.model import Job
from corral.frameworks.jobs.runs import JobState, Run
from corral.frameworks.jobs.schedule import Schedule

RECENT = 20  # ended runs kept in memory per job


@dataclass
class Entry:
    job: Job
    schedule: Schedule | None
    state: JobState
    next_due: float | None = None
    version: int = 0
    recent: deque[Run] = field(default_factory=lambda: deque(maxlen=RECENT))
    cycles: dict[str, str] = field(default_factory=dict)  # cycle -> final state
    ended_since_trim: int = 0


__all__ = ["RECENT", "Entry"]
