"""A job as Chronos defines it, with corral's extensions; decoding, validation, TOML (pure).

``decode_job(body)`` turns a request body (Chronos job JSON) into a ``Job`` or raises
``JobError`` naming the field. ``check_job`` validates what needs more than types (name,
schedule, time zone, epsilon, policies, constraints); the parents and cycles are checked
against the other jobs in ``graph.py``. ``load_job_file(path)`` reads a job from TOML (or
JSON) into the dict the API takes, for ``corral job add job.toml``.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from corral.frameworks.jobs.schedule import (
    ScheduleError,
    format_start,
    parse_duration,
    parse_schedule,
    parse_zone,
)

NAME_RE = re.compile(r"[\w.-]+")
POLICIES = ("allow", "forbid", "replace")
CONSTRAINT_OPS = ("EQUALS", "LIKE", "UNLIKE")
DEFAULT_CPUS, DEFAULT_MEM, DEFAULT_DISK = 0.1, 128.0, 256.0
DEFAULT_EPSILON = "PT60S"


class JobError(ValueError):
    """A job that cannot be accepted; the message names the field."""


class EnvVar(msgspec.Struct):
    name: str
    value: str = ""


class Job(msgspec.Struct, kw_only=True, rename="camel"):
    """Chronos's job fields (3.x, with 2.x's ``epsilon``) and corral's extensions."""

    name: str
    command: str = ""
    shell: bool = True
    arguments: list[str] = []
    description: str = ""
    schedule: str = ""
    schedule_time_zone: str = ""
    epsilon: str = DEFAULT_EPSILON
    parents: list[str] = []
    retries: int = 2
    owner: str = ""
    owner_name: str = ""
    disabled: bool = False
    soft_error: bool = False
    data_processing_job_type: bool = False
    high_priority: bool = False
    concurrent: bool = False
    concurrency_policy: str = ""  # "" = from ``concurrent``
    cpus: float = DEFAULT_CPUS
    mem: float = DEFAULT_MEM
    disk: float = DEFAULT_DISK
    container: dict[str, Any] | None = None
    environment_variables: list[EnvVar] = []
    constraints: list[list[str]] = []
    uris: list[str] = []
    fetch: list[dict[str, Any]] = []
    run_as_user: str = ""
    executor: str = ""
    executor_flags: str = ""
    task_info_data: str = ""
    max_completion_time: float = 0.0  # seconds; 0 = none
    timeout_seconds: float | None = None  # alias of max_completion_time
    retry_backoff_seconds: float = 10.0

    @property
    def policy(self) -> str:
        if self.concurrency_policy:
            return self.concurrency_policy
        return "allow" if self.concurrent else "forbid"

    @property
    def dependent(self) -> bool:
        return bool(self.parents)

    @property
    def timeout(self) -> float:
        return self.max_completion_time

    @property
    def epsilon_seconds(self) -> float:
        return parse_duration(self.epsilon) if self.epsilon else 60.0


def decode_job(body: bytes | dict[str, Any]) -> Job:
    """A job from a request body; ``null`` fields count as absent (clients send them)."""
    if isinstance(body, bytes | bytearray):
        try:
            raw = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise JobError(f"the body is not JSON: {exc}") from exc
    else:
        raw = body
    if not isinstance(raw, dict):
        raise JobError("the body must be a JSON object (a job)")
    clean = {k: v for k, v in raw.items() if v is not None}
    if "name" not in clean:
        raise JobError("name: a job needs a name")
    try:
        return msgspec.convert(clean, Job)
    except msgspec.ValidationError as exc:
        raise JobError(str(exc).replace("`$.", "`")) from exc


def check_job(job: Job, now: float) -> Job:
    """Validate ``job`` (not its parents) and return it normalised: defaults for zero
    resources, an empty schedule start filled with ``now``, ``timeoutSeconds`` folded into
    ``maxCompletionTime``. Raises ``JobError``."""
    if not NAME_RE.fullmatch(job.name):
        raise JobError(f"name: {job.name!r} must be letters, digits, '_', '.' or '-' only")
    if not job.command.strip() and not (job.container and job.container.get("image")):
        raise JobError("command: a job needs a command (or a container image)")
    if job.schedule and job.parents:
        raise JobError("schedule: a job has a schedule or parents, not both")
    if len(set(job.parents)) != len(job.parents):
        raise JobError("parents: a parent is named twice")
    if job.name in job.parents:
        raise JobError(f"parents: {job.name!r} cannot be its own parent")
    try:
        parse_zone(job.schedule_time_zone)
    except ScheduleError as exc:
        raise JobError(f"scheduleTimeZone: {exc}") from exc
    schedule = job.schedule
    if not schedule and not job.parents:
        schedule = f"R1/{format_start(now)}/PT24H"  # Chronos: run once, now
    if schedule:
        try:
            parse_schedule(schedule, job.schedule_time_zone, now=now)
        except ScheduleError as exc:
            raise JobError(f"schedule: {exc}") from exc
        parts = schedule.split("/")
        if len(parts) == 3 and parts[1] == "":
            schedule = f"{parts[0]}/{format_start(now)}/{parts[2]}"
    try:
        if job.epsilon and parse_duration(job.epsilon) < 0:
            raise JobError("epsilon: must not be negative")
    except ScheduleError as exc:
        raise JobError(f"epsilon: {exc}") from exc
    if job.retries < 0:
        raise JobError("retries: must be 0 or more")
    for field, value in (("cpus", job.cpus), ("mem", job.mem), ("disk", job.disk)):
        if value < 0:
            raise JobError(f"{field}: must not be negative")
    if job.concurrency_policy and job.concurrency_policy not in POLICIES:
        raise JobError(
            f"concurrencyPolicy: {job.concurrency_policy!r} is not one of {', '.join(POLICIES)}"
        )
    timeout = job.max_completion_time
    if job.timeout_seconds is not None:
        timeout = job.timeout_seconds
    if timeout < 0:
        raise JobError("maxCompletionTime: must be 0 (none) or more seconds")
    if job.retry_backoff_seconds < 0:
        raise JobError("retryBackoffSeconds: must not be negative")
    for i, c in enumerate(job.constraints):
        if len(c) != 3 or c[1] not in CONSTRAINT_OPS:
            raise JobError(
                f"constraints[{i}]: must be [attribute, EQUALS|LIKE|UNLIKE, value], got {c!r}"
            )
        if c[1] in ("LIKE", "UNLIKE"):
            try:
                re.compile(c[2])
            except re.error as exc:
                raise JobError(f"constraints[{i}]: {c[2]!r} is not a regex: {exc}") from exc
    if job.uris and job.fetch:
        raise JobError("uris: give uris or fetch, not both")
    if job.container is not None and not job.container.get("image"):
        raise JobError("container.image: a container needs an image")
    return msgspec.structs.replace(
        job,
        schedule=schedule,
        cpus=job.cpus or DEFAULT_CPUS,
        mem=job.mem or DEFAULT_MEM,
        disk=job.disk or DEFAULT_DISK,
        max_completion_time=timeout,
        timeout_seconds=None,
    )


def job_dict(job: Job) -> dict[str, Any]:
    """The job's own fields as Chronos JSON (camelCase); ``uris`` and ``fetch`` mirrored."""
    out: dict[str, Any] = msgspec.to_builtins(job)
    out.pop("timeoutSeconds", None)
    out["timeoutSeconds"] = job.max_completion_time
    out["concurrencyPolicy"] = job.policy
    if job.uris and not job.fetch:
        out["fetch"] = [
            {"uri": u, "executable": False, "cache": False, "extract": True} for u in job.uris
        ]
    elif job.fetch and not job.uris:
        out["uris"] = [str(f.get("uri", "")) for f in job.fetch]
    return out


def encode_job(job: Job) -> bytes:
    return msgspec.json.encode(job)


def stored_job(data: bytes) -> Job:
    return msgspec.json.decode(data, type=Job)


def load_job_file(path: str | Path) -> dict[str, Any]:
    """A job read from a TOML file (``.json`` files as JSON), as the dict to POST.

    TOML keys may be Chronos's camelCase or snake_case (``schedule_time_zone``); snake
    case is turned into camelCase. Raises ``JobError`` with the file and what is wrong."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise JobError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw: Any = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise JobError(f"{p}: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("job"), dict) and len(raw) == 1:
        raw = raw["job"]  # a [job] table
    if not isinstance(raw, dict):
        raise JobError(f"{p}: a job file holds one job (a table of its fields)")
    out = {_camel(k): v for k, v in raw.items()}
    try:
        decode_job(out)
    except JobError as exc:
        raise JobError(f"{p}: {exc}") from exc
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


class UnknownJob(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no job named {self.name!r}"


__all__ = [
    "CONSTRAINT_OPS",
    "POLICIES",
    "EnvVar",
    "Job",
    "JobError",
    "UnknownJob",
    "check_job",
    "decode_job",
    "encode_job",
    "job_dict",
    "load_job_file",
    "stored_job",
]
