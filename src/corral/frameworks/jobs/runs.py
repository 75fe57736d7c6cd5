"""Runs: one record per run of a job, its attempts, and the job's counters (pure data).

A run belongs to a *cycle*: ``s<ms>`` for the scheduled instant ``ms`` (Unix milliseconds),
``m<ms>`` for a manual run. A dependent job's run takes the cycle of the parent runs that
triggered it. The run id is the cycle, so a job has at most one run per cycle: a scheduled
instant can never be run twice, and the record (written before its task is launched) says
after a failover whether an instant was already taken.

Store keys: ``job/<name>`` (the definition), ``jobstate/<name>`` (counters, the last
scheduled instant handled, the active runs), ``run/<name>/<id>`` (one per run).

A run's task is in the toolkit group ``ct:<id>:<attempt>:<job>`` (Chronos's task ids begin
``ct:<due>:<attempt>:<job>``), so a task names its run.
"""

from __future__ import annotations

import re

import msgspec

PENDING = "pending"  # waiting for an offer (first attempt: within epsilon)
RUNNING = "running"  # its task is launched
RETRYING = "retrying"  # an attempt failed; the next one waits for its backoff
SUCCEEDED = "succeeded"
FAILED = "failed"  # the last attempt failed
MISSED = "missed"  # could not start within epsilon of its instant
SKIPPED = "skipped"  # not run: concurrency policy, or a parent failed
KILLED = "killed"  # killed by a user
REPLACED = "replaced"  # killed by a newer run (concurrencyPolicy replace)

ACTIVE = frozenset({PENDING, RUNNING, RETRYING})
ENDED = frozenset({SUCCEEDED, FAILED, MISSED, SKIPPED, KILLED, REPLACED})

SCHEDULE, MANUAL, DEPENDENCY = "schedule", "manual", "dependency"


class Attempt(msgspec.Struct, kw_only=True, rename="camel"):
    attempt: int
    task_id: str = ""
    agent_id: str = ""
    host: str = ""
    launched: float | None = None
    started: float | None = None
    ended: float | None = None
    state: str = ""  # the task's last state
    exit_status: int | None = None
    message: str = ""
    timed_out: bool = False


class Run(msgspec.Struct, kw_only=True, rename="camel"):
    id: str
    job: str
    kind: str
    cycle: str
    scheduled: float  # the instant it was due (a manual run: when it was asked for)
    created: float
    state: str = PENDING
    reason: str = ""
    attempt: int = 1
    not_before: float = 0.0  # a retry waits until then
    deadline: float = 0.0  # epsilon: must be launched by then (0 = none)
    ended: float | None = None
    attempts: list[Attempt] = []
    kill_requested: str = ""  # why it is being killed ("" = it is not)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def group(self) -> str:
        return group_name(self.job, self.id, self.attempt)

    @property
    def current(self) -> Attempt | None:
        for a in self.attempts:
            if a.attempt == self.attempt:
                return a
        return None

    @property
    def started(self) -> float | None:
        for a in self.attempts:
            if a.started is not None or a.launched is not None:
                return a.started if a.started is not None else a.launched
        return None


class JobState(msgspec.Struct, kw_only=True, rename="camel"):
    """What the framework keeps about a job besides its definition."""

    success_count: int = 0
    error_count: int = 0
    errors_since_last_success: int = 0
    last_success: float | None = None
    last_error: float | None = None
    last_instant: float | None = None  # the newest scheduled instant handled (run or missed)
    active: list[str] = []  # ids of its active runs
    durations: list[float] = []  # seconds of the last successful runs (for job/stat)


def cycle_of_instant(at: float) -> str:
    return f"s{round(at * 1000):013d}"


def manual_cycle(at: float) -> str:
    return f"m{round(at * 1000):013d}"


def cycle_time(cycle: str) -> float:
    """The instant (s) or request time (m) a cycle names, in seconds."""
    return int(cycle[1:]) / 1000.0


def group_name(job: str, run_id: str, attempt: int) -> str:
    return f"ct:{run_id}:{attempt}:{job}"


def parse_group(group: str) -> tuple[str, str, int] | None:
    """(job, run id, attempt) from a group name, or None if it is not one of ours."""
    parts = group.split(":", 3)
    if len(parts) != 4 or parts[0] != "ct" or not parts[2].isdigit():
        return None
    return parts[3], parts[1], int(parts[2])


def run_key(job: str, run_id: str) -> str:
    return f"run/{job}/{run_id}"


def sort_key(run_id: str) -> str:
    """Run ids in time order (the letter of the cycle aside)."""
    return run_id[1:] + run_id[:1]


def encode_run(run: Run) -> bytes:
    return msgspec.json.encode(run)


def decode_run(data: bytes) -> Run:
    return msgspec.json.decode(data, type=Run)


def encode_state(st: JobState) -> bytes:
    return msgspec.json.encode(st)


def decode_state(data: bytes) -> JobState:
    return msgspec.json.decode(data, type=JobState)


def last_result(st: JobState) -> str:
    """Chronos's last result of a job: success, failure, or fresh (never ran)."""
    if st.last_success is None and st.last_error is None:
        return "fresh"
    return "failure" if (st.last_error or 0) > (st.last_success or 0) else "success"


def runs_state(active: list[Run]) -> str:
    """Chronos's state of a job from its active runs: idle, queued, or N running."""
    running = sum(1 for r in active if r.state == RUNNING)
    if running:
        return f"{running} running"
    return "queued" if active else "idle"


EXIT_RE = re.compile(r"exited with status (-?\d+)")


def exit_status(message: str | None) -> int | None:
    m = EXIT_RE.search(message or "")
    return int(m.group(1)) if m else None


__all__ = [
    "ACTIVE",
    "DEPENDENCY",
    "ENDED",
    "EXIT_RE",
    "FAILED",
    "KILLED",
    "MANUAL",
    "MISSED",
    "PENDING",
    "REPLACED",
    "RETRYING",
    "RUNNING",
    "SCHEDULE",
    "SKIPPED",
    "SUCCEEDED",
    "Attempt",
    "JobState",
    "Run",
    "cycle_of_instant",
    "cycle_time",
    "decode_run",
    "decode_state",
    "encode_run",
    "encode_state",
    "exit_status",
    "group_name",
    "last_result",
    "manual_cycle",
    "parse_group",
    "run_key",
    "runs_state",
    "sort_key",
]
