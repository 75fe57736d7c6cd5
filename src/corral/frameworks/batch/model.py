"""The batch queue's records as msgspec Structs: a job's request (the API's body), a job and
its elements as stored (one store record per job), and their states."""

from __future__ import annotations

import math

import msgspec

from corral.frameworks.batch.arrays import ArraySpec, parse_array

# An element's states.
QUEUED = "QUEUED"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
ELEMENT_DONE = frozenset({DONE, FAILED, CANCELLED})
TIERS = ("preferred", "preemptible")


class JobRequest(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /v1/jobs``: what to run. ``array`` is Torque's ``-t`` (``1-100%5``)."""

    command: str
    name: str = ""
    array: str | None = None
    priority: int = 0
    cpus: float = 1.0
    mem: float = 128.0
    tier: str = "preemptible"
    retries: int = 0
    env: dict[str, str] = msgspec.field(default_factory=dict)


def validate(req: JobRequest) -> ArraySpec | None:
    """The parsed array; ``ValueError("field: why")`` for the first bad field."""
    if not req.command.strip():
        raise ValueError("command: empty")
    if len(req.name) > 200 or any(c in req.name for c in "\n\r"):
        raise ValueError("name: at most 200 characters on one line")
    if not math.isfinite(req.cpus) or req.cpus <= 0:
        raise ValueError(f"cpus: must be above 0, got {req.cpus:g}")
    if not math.isfinite(req.mem) or req.mem <= 0:
        raise ValueError(f"mem: must be above 0, got {req.mem:g}")
    if req.tier not in TIERS:
        raise ValueError(f"tier: {req.tier!r} is not a tier (one of {', '.join(TIERS)})")
    if req.retries < 0:
        raise ValueError(f"retries: must be at least 0, got {req.retries}")
    for key in req.env:
        if not key or "=" in key:
            raise ValueError(f"env: {key!r} is not a variable name")
    if req.array is None:
        return None
    try:
        return parse_array(req.array)
    except ValueError as exc:
        raise ValueError(f"array: {exc}") from None


class Attempt(msgspec.Struct, omit_defaults=True):
    """One launch of an element: its task, where it ran, how it ended."""

    task_id: str
    started_at: float
    agent_id: str | None = None
    hostname: str | None = None
    container_id: str | None = None
    ended_at: float | None = None
    state: str | None = None  # the task's last state (TASK_FINISHED, TASK_FAILED, ...)
    exit_code: int | None = None
    message: str | None = None
    preempted: bool = False
    lost: bool = False  # the task never ran or its agent went away: not the command's doing


class Element(msgspec.Struct, omit_defaults=True):
    index: int
    state: str = QUEUED
    attempts: list[Attempt] = msgspec.field(default_factory=list)

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def failures(self) -> int:
        return sum(
            1 for a in self.attempts if a.ended_at is not None and not (a.preempted or a.lost)
        )

    @property
    def lost(self) -> int:
        return sum(1 for a in self.attempts if a.lost)


class Job(msgspec.Struct, omit_defaults=True):
    id: str
    seq: int  # submission order (the tie-break after priority)
    request: JobRequest
    submitted_at: float
    elements: list[Element]
    is_array: bool = False
    limit: int | None = None
    cancelled: bool = False
    ended_at: float | None = None

    @property
    def priority(self) -> int:
        return self.request.priority


def encode_job(job: Job) -> bytes:
    return msgspec.json.encode(job)


def decode_job(data: bytes) -> Job:
    return msgspec.json.decode(data, type=Job)


__all__ = [
    "CANCELLED",
    "DONE",
    "ELEMENT_DONE",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "Attempt",
    "Element",
    "Job",
    "JobRequest",
    "decode_job",
    "encode_job",
    "validate",
]
